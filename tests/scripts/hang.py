"""Hang scenarios for test_hang.py; FA_MODE in the environment picks one.
Lines that tests look up end with a "# marker" comment (dumps.line_of)."""
import os
import sys
import threading
import time

MODE = os.environ["FA_MODE"]


def sleep():
    time.sleep(60)  # sleep


def deadlock():
    a, b = threading.Lock(), threading.Lock()
    barrier = threading.Barrier(2)

    def one():
        with a:
            barrier.wait()
            b.acquire()  # one

    def two():
        with b:
            barrier.wait()
            a.acquire()  # two

    t1 = threading.Thread(target=one, name="locker-a", daemon=True)
    t2 = threading.Thread(target=two, name="locker-b", daemon=True)
    t1.start()
    t2.start()
    t1.join()  # deadlock-join


def blocked_in_c():
    r, w = os.pipe()

    def reader():
        os.read(r, 1)  # read

    t = threading.Thread(target=reader, name="reader", daemon=True)
    t.start()
    t.join()  # blocked-join


def gil_held():
    import ctypes
    # PyDLL calls keep the GIL: the main thread sits in C with the GIL held
    ctypes.PyDLL(None).sleep(60)  # gil


def repeat():
    time.sleep(1.6)  # repeat


def replace():
    import faulthandler_auto
    faulthandler_auto.dump_traceback_later(0.3)
    faulthandler_auto.dump_traceback_later(0.6)
    time.sleep(1.5)  # replace


def deep(n, started, event):
    if n:
        return deep(n - 1, started, event)
    started.release()
    event.wait()


def cancel_in_flight():
    """Cancel while the watchdog writes 100 threads x 100 frames to a pipe
    that nobody reads (FA_READER=none) or that a slow reader drains."""
    import fcntl
    import struct
    import termios

    import faulthandler_auto

    sys.setrecursionlimit(1000)
    event = threading.Event()
    started = threading.Semaphore(0)
    for i in range(99):
        threading.Thread(target=deep, args=(95, started, event), daemon=True).start()
    for i in range(99):
        started.acquire()
    r, w = os.pipe()
    if os.environ.get("FA_READER") == "slow":
        # about 100 kB/s: a page of the pipe frees up every 40 ms or so,
        # well within the writer's 100 ms poll, yet the rest of the dump
        # (some 600 kB) would take about 5 s to drain
        def drain():
            while True:
                os.read(r, 1024)
                time.sleep(0.01)
        threading.Thread(target=drain, daemon=True).start()

    def queued():
        buf = fcntl.ioctl(r, termios.FIONREAD, struct.pack("i", 0))
        return struct.unpack("i", buf)[0]

    faulthandler_auto.dump_traceback_later(0.1, file=w)
    # wait until the dump is being written
    deadline = time.monotonic() + 10
    while queued() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    print("in flight", queued(), flush=True)
    cancelled = threading.Event()

    def cancel():
        faulthandler_auto.cancel_dump_traceback_later()
        cancelled.set()

    t0 = time.monotonic()
    threading.Thread(target=cancel, daemon=True).start()
    if not cancelled.wait(5):
        print("cancel took more than 5 s", flush=True)
        os._exit(3)
    print("cancel took %.3f" % (time.monotonic() - t0), flush=True)
    # the watchdog still works afterwards
    faulthandler_auto.dump_traceback_later(0.2, file=sys.stderr)
    time.sleep(1.0)  # after-cancel
    print("done", flush=True)
    event.set()


def fork():
    # the parent dumps at TIMEOUT; the child, forked later, at TIMEOUT after
    # the fork, into its own {pid} file
    time.sleep(0.2)
    pid = os.fork()
    if pid == 0:
        print("child", os.getpid(), flush=True)
        time.sleep(1.2)  # child
        os._exit(0)
    os.waitpid(pid, 0)  # parent
    print("parent done", flush=True)


def hang_worker():
    time.sleep(1.5)  # worker


def mp():
    import multiprocessing
    ctx = multiprocessing.get_context(os.environ["FA_CONTEXT"])
    p = ctx.Process(target=hang_worker, name="hanging-worker")
    p.start()
    print("child", p.pid, flush=True)
    p.join(30)
    print("exitcode", p.exitcode, flush=True)


if __name__ == "__main__":
    print(os.getpid(), flush=True)
    globals()[MODE]()  # main
