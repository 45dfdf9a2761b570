"""Hang scenarios for test_hang.py; FA_MODE in the environment picks one.
Lines that tests look up end with a "# marker" comment (dumps.line_of).

The watchdog's timer starts at start-up, while the scenario is still being
set up, so each scenario writes "ready" (to stderr, or to its dump file when
the dumps go to one) once every thread is where the test expects it -- on the
same line as the wait, so that no dump can see a frame in between.  A dump
before "ready" proved nothing: the test runs again with a longer timeout.
Scenarios whose dumps go to a file wait for them there, not for a time.
"""
import os
import sys
import threading
import time

# -I leaves the script's directory off sys.path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parking import wait_until_at  # noqa: E402

MODE = os.environ["FA_MODE"]
READY = b"ready\n"


def dump_file():
    """This process's dump file (FA_OUT, or PYTHONFAULTHANDLER_PATH with its
    pid): a descriptor appending to it and one reading it (os.pread in the
    waits below: no file object, nothing for a debug build to warn about)."""
    path = os.environ.get("FA_OUT") or os.environ["PYTHONFAULTHANDLER_PATH"]
    path = path.replace("{pid}", str(os.getpid()))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return fd, os.open(path, os.O_RDONLY)


# Dumps in a file are counted by their first line, or by lines in JSON; a
# text dump is whole once its Process: line (after the frames) is there.
JSON = os.environ.get("PYTHONFAULTHANDLER_FORMAT") == "json"
MARK = b"\n" if JSON else b"Timeout ("
WHOLE_MARK = b"\n" if JSON else b"\nProcess: pid "
WHOLE = 1 << 20  # more than any dump file here


def wait_for_dump():
    """Write "ready" to the dump file, then wait until a whole dump is there
    (one before "ready" ends the wait too: the test then runs again)."""
    fd, rfd = dump_file()
    ready = 0
    while (ready or (ready := os.write(fd, READY))) and WHOLE_MARK not in os.pread(rfd, WHOLE, 0): time.sleep(0.01)  # wait-for-dump


def wait_for_dumps(count):
    """Write "ready" to the dump file, then wait until ``count`` repeated
    dumps have started after it."""
    fd, rfd = dump_file()
    ready = 0
    while (ready or (ready := os.write(fd, READY))) and os.pread(rfd, WHOLE, 0).partition(READY)[2].count(MARK) < count: time.sleep(0.01)  # wait-for-dumps


def sleep():
    os.write(2, READY); time.sleep(60)  # sleep


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
    wait_until_at(t1, one, "one")
    wait_until_at(t2, two, "two")
    os.write(2, READY); t1.join()  # deadlock-join


def blocked_in_c():
    r, w = os.pipe()

    def reader():
        os.read(r, 1)  # read

    t = threading.Thread(target=reader, name="reader", daemon=True)
    t.start()
    wait_until_at(t, reader, "read")
    os.write(2, READY); t.join()  # blocked-join


def gil_held():
    import ctypes
    # PyDLL calls keep the GIL: the main thread sits in C with the GIL held
    c_sleep = ctypes.PyDLL(None).sleep
    os.write(2, READY); c_sleep(60)  # gil


def repeat():
    wait_for_dumps(4)  # repeat


def nap():
    # the hook loaded nothing: no watchdog can run (and none dumps meanwhile)
    print(sorted(m for m in sys.modules if m.startswith("faulthandler_auto")), flush=True)
    time.sleep(1.6)  # nap


def once():
    wait_for_dump()  # once


def replace():
    """The first timer (to stderr) is replaced by the second (to a file)."""
    import faulthandler_auto
    faulthandler_auto.dump_traceback_later(0.3)
    faulthandler_auto.dump_traceback_later(0.6, file=dump_file()[0])
    wait_for_dump()  # replace


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
    # a cancel that waits for the dump would wait forever without a reader
    if not cancelled.wait(30):
        print("cancel took more than 30 s", flush=True)
        os._exit(3)
    print("cancel took %.3f" % (time.monotonic() - t0), flush=True)
    # the watchdog still works afterwards
    faulthandler_auto.dump_traceback_later(0.2, file=dump_file()[0])
    wait_for_dump()  # after-cancel
    print("done", flush=True)
    event.set()


def fork():
    # the parent dumps at TIMEOUT, the child at TIMEOUT after the fork, into
    # its own {pid} file; each waits for its own dump
    pid = os.fork()
    if pid == 0:
        print("child", os.getpid(), flush=True)
        wait_for_dump()  # child
        os._exit(0)
    wait_for_dump()  # parent
    os.waitpid(pid, 0)
    print("parent done", flush=True)


def hang_worker():
    wait_for_dump()  # worker


def mp():
    import multiprocessing
    ctx = multiprocessing.get_context(os.environ["FA_CONTEXT"])
    p = ctx.Process(target=hang_worker, name="hanging-worker")
    p.start()
    print("child", p.pid, flush=True)
    p.join(90)
    if p.exitcode is None:
        # no dump came: the parent's one-shot timer fired before the fork,
        # so the child has none (the test then tries a longer timeout)
        p.kill()
        p.join()
    print("exitcode", p.exitcode, flush=True)


if __name__ == "__main__":
    print(os.getpid(), flush=True)
    globals()[MODE]()  # main
