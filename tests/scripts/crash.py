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

# -I leaves the script's directory off sys.path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parking import wait_until_at  # noqa: E402

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


def crasher(main_thread, lock):
    wait_until_at(main_thread, blocked, "blocked")
    try:
        outer()
    finally:
        lock.release()  # only reached if the crash did not happen


def fork_and_crash_the_child():
    pid = os.fork()
    if pid == 0:
        print("child", os.getpid(), flush=True)
        outer()
    _, status = os.waitpid(pid, 0)
    print("child-signal", os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, flush=True)


def main():
    print(os.getpid(), flush=True)
    where = os.environ.get("FA_WHERE", "main")
    never = threading.Lock()
    never.acquire()
    helper = threading.Thread(target=idle, args=(never,), name="idler", daemon=True)
    helper.start()
    wait_until_at(helper, idle, "idle")
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
        fork_and_crash_the_child()
    elif where == "fork-in-thread":
        # threading makes the forking thread the child's main thread, keeping its name
        t = threading.Thread(target=fork_and_crash_the_child, name="forker")
        t.start()
        t.join()
    elif where == "clean":
        pass
    else:
        outer()  # main


if __name__ == "__main__":
    main()  # module
