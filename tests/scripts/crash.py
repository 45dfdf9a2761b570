"""Crash scenarios for test_crash.py; FA_MODE in the environment picks one.

Lines that tests look up end with a "# marker" comment (dumps.line_of).
The same script runs under CPython's own faulthandler (-X faulthandler) and
under ours, so that both dumps can be compared frame for frame.
"""
import os
import threading

MODE = os.environ["FA_MODE"]


def sigbus():
    import mmap
    import tempfile

    with tempfile.TemporaryFile() as f:
        f.write(b"x" * mmap.PAGESIZE * 2)
        f.flush()
        m = mmap.mmap(f.fileno(), mmap.PAGESIZE * 2)
        f.truncate(0)
        return m[mmap.PAGESIZE]  # sigbus


def crash():
    if MODE == "null":
        import ctypes
        ctypes.string_at(0)  # null
    elif MODE == "abort":
        os.abort()  # abort
    elif MODE == "sigbus":
        sigbus()  # call-sigbus
    elif MODE == "sigfpe":
        import faulthandler_auto
        faulthandler_auto.sigfpe()  # sigfpe
    elif MODE == "sigill":
        import faulthandler_auto
        faulthandler_auto.sigill()  # sigill
    elif MODE == "overflow":
        import faulthandler_auto
        faulthandler_auto.stack_overflow()  # overflow
    raise SystemExit("unknown FA_MODE %r" % MODE)


def outer():
    crash()  # outer


def idle(event):
    event.wait()  # idle


def main():
    print(os.getpid(), flush=True)
    where = os.environ.get("FA_WHERE", "main")
    event = threading.Event()
    helper = threading.Thread(target=idle, args=(event,), name="idler", daemon=True)
    helper.start()
    if where == "thread":
        t = threading.Thread(target=outer, name="crasher")
        t.start()  # start
        t.join()  # join
    elif where == "atexit":
        import atexit
        atexit.register(outer)
    elif where == "fork":
        pid = os.fork()
        if pid == 0:
            print("child", os.getpid(), flush=True)
            outer()
        _, status = os.waitpid(pid, 0)
        print("child-signal", os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, flush=True)
    elif where == "clean":
        pass
    else:
        outer()  # main


if __name__ == "__main__":
    main()  # module
