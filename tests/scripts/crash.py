"""Crash scenarios for test_crash.py; FA_MODE in the environment picks one.

Lines that tests look up end with a "# marker" comment (dumps.line_of).
The same script runs under CPython's own faulthandler (-X faulthandler) and
under ours, so that both dumps can be compared frame for frame: every thread
other than the crashing one is parked in a lock's acquire() before the crash,
where its Python frames no longer change, so both runs see the same frames.
"""
import os
import sys
import threading
import time

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


def idle(lock):
    lock.acquire()  # idle


def blocked(lock):
    lock.acquire()  # blocked


def wait_until_parked(thread, function):
    """Return once `thread` is in `function`, a one-line function blocking in
    a C call: from then on its Python frames stay as they are."""
    while True:
        frame = sys._current_frames().get(thread.ident)
        if (frame is not None and frame.f_code is function.__code__
                and frame.f_lineno > function.__code__.co_firstlineno):
            return
        time.sleep(0.001)


def crasher(main_thread, lock):
    wait_until_parked(main_thread, blocked)
    try:
        outer()
    finally:
        lock.release()  # only reached if the crash did not happen


def main():
    print(os.getpid(), flush=True)
    where = os.environ.get("FA_WHERE", "main")
    never = threading.Lock()
    never.acquire()
    helper = threading.Thread(target=idle, args=(never,), name="idler", daemon=True)
    helper.start()
    wait_until_parked(helper, idle)
    if where == "thread":
        lock = threading.Lock()
        lock.acquire()
        t = threading.Thread(target=crasher, args=(threading.current_thread(), lock), name="crasher")
        t.start()
        blocked(lock)  # join
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
