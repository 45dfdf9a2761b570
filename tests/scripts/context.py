"""Crash-context scenarios for test_context.py; FA_MODE picks one.
Lines that tests look up end with a "# marker" comment (dumps.line_of)."""
import ctypes
import importlib.util
import os
import sys
import threading
import time
import traceback

MODE = os.environ["FA_MODE"]
IDLE = int(os.environ.get("FA_IDLE", "300"))
DEPTH = int(os.environ.get("FA_DEPTH", "2000"))


def load_third_party_extension():
    """A stdlib extension loaded under a package name that is not stdlib:
    the "Extension modules" line must list it (as CPython 3.10+ does)."""
    import _uuid
    spec = importlib.util.spec_from_file_location("fa_testext._uuid", _uuid.__file__)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


def idle(event):
    event.wait()  # idle


def deep(n):
    if n:
        return deep(n - 1)  # recurse
    # the frames the dump will show: these, plus string_at
    print("frames", len(traceback.extract_stack()) + 1, flush=True)
    ctypes.string_at(0)  # crash


def big():
    """ingest-worker-7 crashes DEPTH frames deep while IDLE threads wait."""
    sys.setrecursionlimit(DEPTH + 1000)
    load_third_party_extension()
    event = threading.Event()
    for i in range(IDLE):
        threading.Thread(target=idle, args=(event,), name="idle-%d" % i, daemon=True).start()
    worker = threading.Thread(target=deep, args=(DEPTH,), name="ingest-worker-7")
    worker.start()  # start
    worker.join()  # join


WEIRD_FILE = 'we"ird\\\na\x01\xe9\u20ac\U0001f600.py'
WEIRD_NAME = 'fu"n\\c\t\x7f\xe9\u20ac\U0001f600'
LONG_NAME = "long_" + "x" * 600
SOURCE = """
def weird():
    long()
def long():
    import ctypes
    ctypes.string_at(0)
"""


def escape():
    """Frames whose file and function names need escaping: quotes,
    backslashes, control characters, non-ASCII, and a name over 500
    characters (CPython cuts it with "...")."""
    namespace = {}
    exec(compile(SOURCE, WEIRD_FILE, "exec"), namespace)
    weird, long = namespace["weird"], namespace["long"]
    weird.__code__ = weird.__code__.replace(co_name=WEIRD_NAME)
    long.__code__ = long.__code__.replace(co_name=LONG_NAME)
    namespace["long"] = long
    weird()


def load_corrupt_frames():
    """The test-only extension tests/native/corrupt_frames.c, built by the test."""
    spec = importlib.util.spec_from_file_location("corrupt_frames", os.environ["FA_CORRUPT_FRAMES"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def victim(corrupt_frames, seconds):
    corrupt_frames.corrupt_frames_for(seconds)  # corrupt


def wait_until_sleeping(thread):
    """Return once ``thread`` sleeps in the kernel (nanosleep or
    clock_nanosleep, x86-64 numbers): corrupt_frames_for() breaks the link
    right before it sleeps, so from then on the link stays broken."""
    path = "/proc/self/task/%d/syscall" % thread.native_id
    while True:
        with open(path) as f:
            if f.read().split()[0] in ("35", "230"):
                return
        time.sleep(0.001)


def corrupt():
    """While "corrupter" has a frame link pointing at unmapped memory, dump
    (FA_DUMP: explicit, timeout or fatal)."""
    import faulthandler_auto
    event = threading.Event()
    bystander = threading.Thread(target=idle, args=(event,), name="bystander", daemon=True)
    bystander.start()
    # broken for 3 s: the dump starts right after the link is broken and
    # has all that time (only "explicit" waits for the rest of it)
    corrupter = threading.Thread(target=victim, args=(load_corrupt_frames(), 3.0), name="corrupter")
    corrupter.start()
    wait_until_sleeping(corrupter)
    how = os.environ["FA_DUMP"]
    if how == "explicit":
        faulthandler_auto.dump_traceback()  # explicit
    elif how == "timeout":
        # one line: the dump cannot come before the main thread sleeps
        faulthandler_auto.dump_traceback_later(0.1, exit=True); time.sleep(60)  # timeout
    else:
        ctypes.string_at(0)  # fatal
    print("dumped", flush=True)
    corrupter.join()
    event.set()


def names():
    """Thread names: MainThread, threading names (also non-ASCII ones and
    one with a newline and a quote), a name changed before start, the
    default Thread-N name."""
    import faulthandler_auto
    event = threading.Event()
    threads = [
        threading.Thread(target=idle, args=(event,), name="ingest-worker-7"),
        threading.Thread(target=idle, args=(event,), name="caf\xe9-\u20ac"),
        threading.Thread(target=idle, args=(event,), name='new\nline"q\\'),
        threading.Thread(target=idle, args=(event,)),
    ]
    threads[0].name = "renamed-before-start"
    for t in threads:
        t.start()
    print("default", threads[-1].name, flush=True)
    faulthandler_auto.dump_traceback()  # names
    event.set()


def many():
    """FA_IDLE threads wait, the main thread sleeps until the watchdog
    dumps and exits."""
    import faulthandler_auto
    event = threading.Event()
    for i in range(IDLE):
        threading.Thread(target=idle, args=(event,), name="idle-%d" % i, daemon=True).start()
    # one line: the dump cannot come before the main thread sleeps
    faulthandler_auto.dump_traceback_later(0.2, exit=True); time.sleep(60)  # many


def raw():
    """A thread started with _thread, not threading: it has no name."""
    import _thread
    import faulthandler_auto
    started = threading.Event()
    event = threading.Event()

    def body():
        started.set()
        event.wait()  # raw-thread

    _thread.start_new_thread(body, ())
    started.wait()
    faulthandler_auto.dump_traceback()  # raw
    event.set()


if __name__ == "__main__":
    print(os.getpid(), flush=True)
    globals()[MODE]()  # main
