"""Named-watchdog scenarios for test_watchdog.py; FA_MODE picks one.  Dumps
go to FA_OUT (a file), which the scenarios read to wait for a dump instead
of waiting for a time."""
import os
import sys
import threading
import time

import faulthandler_auto
from faulthandler_auto import watchdog

MODE = os.environ["FA_MODE"]
OUT = os.environ.get("FA_OUT")
# the end of a whole dump: a text dump's Process line follows its frames, a
# JSON dump is one line
WHOLE = "}\n" if os.environ.get("PYTHONFAULTHANDLER_FORMAT") == "json" else "\nProcess: pid "


def dumped(count=1, mark=WHOLE):
    """Wait until FA_OUT holds `count` whole dumps."""
    while True:
        with open(OUT) as f:
            if f.read().count(mark) >= count:
                return
        time.sleep(0.01)


def nested():
    # the outer one never falls due; the inner one fires, once
    with watchdog("outer", 3600, file=OUT):
        with watchdog("inner", 0.2, file=OUT):
            dumped()  # inner
    print("done", flush=True)


def quiet():
    with watchdog("quick", 3600, file=OUT):
        pass

    @watchdog("decorated", 3600, file=OUT)
    def work(x):
        return x * 2

    print(work(21), flush=True)


def beside_timeout():
    # PYTHONFAULTHANDLER_TIMEOUT (to PYTHONFAULTHANDLER_PATH = FA_OUT) fires
    # while a watchdog runs, which stays armed and fires later on its own
    with watchdog("long", 3600, file=OUT):
        dumped(1)  # env-timeout
    with watchdog("short", 0.2, file=OUT):
        dumped(2)  # watchdog
    print("done", flush=True)


def exits():
    with watchdog("stuck job", 0.2, file=OUT, exit=True):
        threading.Event().wait()  # stuck
    print("not reached", flush=True)


def full():
    running = []
    try:
        while True:
            running.append(watchdog("w%d" % len(running), 3600, file=OUT).start())
    except RuntimeError as e:
        print("full after", len(running), flush=True)
        print("error", e, flush=True)
    stale = running[0]
    stale.cancel()
    again = watchdog("again", 0.2, file=OUT).start()   # the freed slot
    stale.cancel()          # a stale handle: must not cancel "again"
    dumped()  # again
    for w in running:
        w.cancel()
    again.cancel()
    print("done", flush=True)


def threads():
    # one watchdog per thread, at once: only the ones that overstay fire
    barrier = threading.Barrier(8)

    def job(i):
        with watchdog("job %d" % i, 0.2 if i % 2 else 3600, file=OUT):
            barrier.wait()
            if i % 2:
                dumped(4)  # job

    ts = [threading.Thread(target=job, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("done", flush=True)


def cancel_in_flight():
    """Cancel while the watchdog writes a big dump to a pipe nobody reads."""
    import fcntl
    import struct
    import termios

    sys.setrecursionlimit(1000)
    stop = threading.Event()
    started = threading.Semaphore(0)

    def deep(n):
        if n:
            return deep(n - 1)
        started.release()
        stop.wait()

    for _ in range(50):
        threading.Thread(target=deep, args=(90,), daemon=True).start()
    for _ in range(50):
        started.acquire()
    r, w = os.pipe()

    def queued():
        buf = fcntl.ioctl(r, termios.FIONREAD, struct.pack("i", 0))
        return struct.unpack("i", buf)[0]

    wd = watchdog("slow reader", 0.1, file=w).start()
    while queued() == 0:
        time.sleep(0.01)
    # half a pipe: the dump is in flight, and the rest cannot drain
    while queued() < 32768:
        time.sleep(0.01)
    print("in flight", flush=True)
    cancelled = threading.Event()

    def cancel():
        wd.cancel()
        cancelled.set()

    threading.Thread(target=cancel, daemon=True).start()
    # a cancel that waited for the dump would wait forever: nobody reads
    if not cancelled.wait(60):
        print("cancel never returned", flush=True)
        os._exit(3)
    # the table still works afterwards
    with watchdog("after", 0.1, file=OUT):
        dumped()  # after
    print("done", flush=True)
    stop.set()


globals()[MODE]()
