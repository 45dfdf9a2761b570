"""Thread-state scenarios for test_thread_state.py; FA_MODE picks one.

Every scenario starts the same threads and waits until each is where the
test expects it, then prints the kernel thread ids (threading.get_native_id)
as one JSON line on stdout, then makes its dump:
  - "deadlock-a" and "deadlock-b": each holds one lock and waits for the
    other's (sleeping, without the GIL);
  - "sleeper": in time.sleep (blocked in C, the GIL released);
  - "spinner" (FA_SPIN=1): a pure-Python loop that has used at least
    SPIN_CPU seconds of CPU before the dump.
Modes: "explicit" (dump_traceback from the main thread, which holds the
GIL), "signal" (register(SIGUSR1), then the process signals itself),
"timeout" (dump_traceback_later(FA_TIMEOUT, exit=True), the main
thread parked in a lock's acquire), "gc" (a gc callback that crashes
during a collection).
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parking import wait_until_at  # noqa: E402

import faulthandler_auto  # noqa: E402

MODE = os.environ["FA_MODE"]
SPIN = os.environ.get("FA_SPIN") == "1"
SPIN_CPU = 0.3

ids = {"MainThread": threading.get_native_id()}
ids_lock = threading.Lock()
first = threading.Lock()
second = threading.Lock()
holding = threading.Barrier(2)
spun = threading.Event()
# cleared at the end; a list item, so that the spinning loop calls nothing
spinning = [True]


def note_id():
    with ids_lock:
        ids[threading.current_thread().name] = threading.get_native_id()


def deadlock(mine, theirs):
    note_id()
    mine.acquire()
    holding.wait()
    theirs.acquire()  # deadlocked


def sleeper():
    note_id()
    time.sleep(3600)  # sleeping


def spinner():
    note_id()
    start = time.thread_time()
    while time.thread_time() - start < SPIN_CPU:
        pass
    spun.set()
    # No call from here on: a timeout dump reads this thread's frames while
    # it runs, and a Python call pushing or popping a frame meanwhile would
    # make the top frame unreadable ("File ???"), which is right for a dump
    # but not what this test is about.
    n = 0
    while spinning[0]:
        n += 1


def start(name, target, *args):
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    t.start()
    return t


def crash_in_gc(phase, info):
    if phase == "start":
        import ctypes
        ctypes.string_at(0)  # in-gc


def main():
    a = start("deadlock-a", deadlock, first, second)
    b = start("deadlock-b", deadlock, second, first)
    s = start("sleeper", sleeper)
    wait_until_at(a, deadlock, "deadlocked")
    wait_until_at(b, deadlock, "deadlocked")
    wait_until_at(s, sleeper, "sleeping")
    if SPIN:
        start("spinner", spinner)
        spun.wait()
    print(json.dumps(ids), flush=True)
    if MODE == "explicit":
        faulthandler_auto.dump_traceback(sys.stderr)
    elif MODE == "timeout":
        faulthandler_auto.dump_traceback_later(float(os.environ["FA_TIMEOUT"]), exit=True)
        parked = threading.Lock()
        parked.acquire()
        parked.acquire()  # parked
    elif MODE == "signal":
        import signal
        faulthandler_auto.register(signal.SIGUSR1, sys.stderr)
        # the handler dumps at once (no other dump is being written), on
        # the calling thread, before kill() returns
        os.kill(os.getpid(), signal.SIGUSR1)
        faulthandler_auto.unregister(signal.SIGUSR1)
    elif MODE == "gc":
        import gc
        gc.callbacks.append(crash_in_gc)
        gc.collect()
    spinning[0] = False


main()
