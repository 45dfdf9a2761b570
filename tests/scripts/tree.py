"""Process trees for tests/test_tree.py (PYTHONFAULTHANDLER_TREE=1 comes from
the environment).  The top process starts its descendants and waits until
each one has said it is ready (a file, or a line on a pipe), writes their
pids to FA_DIR/pids.json, and only then arms its timeout (EXIT) and hangs.

FA_MODE: pool-fork, pool-spawn, pool-forkserver (a multiprocessing pool with
one stuck worker), subprocess (a Python child whose Python grandchild hangs,
a `sleep` child, a `python -S` child; middle and leaf are its inner levels),
stopped (a Python child that stopped itself, and a zombie), blocked (a Python child that
blocks the request's signal).
"""
import json
import os
import subprocess
import sys
import threading
import time

import faulthandler_auto
from faulthandler_auto._facts import TREE_SIGNAL

MODE = os.environ["FA_MODE"]
DIR = os.environ["FA_DIR"]
with open("/proc/self/cmdline", "rb") as _f:
    OWN_CMDLINE = _f.read()


def ready(name):
    """Say this process is ready: FA_DIR/<name> holds its pid."""
    path = os.path.join(DIR, name)
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(path + ".tmp", path)


def wait_ready(name):
    """The pid a descendant wrote once ready."""
    path = os.path.join(DIR, name)
    while not os.path.exists(path):
        time.sleep(0.01)
    with open(path) as f:
        return int(f.read())


def deadlock():
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()


def stuck_worker():
    ready("worker")
    deadlock()


def leaf_hangs():
    ready("leaf")
    deadlock()


def arm_and_hang(pids):
    with open(os.path.join(DIR, "pids.json"), "w") as f:
        json.dump(pids, f)
    faulthandler_auto.dump_traceback_later(
        0.5, exit=True, file=os.environ.get("PYTHONFAULTHANDLER_PATH"))
    deadlock()


def stat_fields(pid):
    """/proc/PID/stat after the command name: state, parent pid, ..."""
    with open("/proc/%s/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def descendants():
    """The pids of every live descendant of this process (from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            parents[int(entry)] = int(stat_fields(entry)[1])
        except (ValueError, OSError):
            continue
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def runs_the_hook(pid):
    """Whether `pid` has exec'd its own program (between fork and exec a
    child shows our mask) and catches the tree signal, as the hook makes it."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if f.read() == OWN_CMDLINE:
                return False
        with open("/proc/%d/status" % pid) as f:
            mask = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    except (OSError, StopIteration):
        return True     # gone: nothing to wait for
    return bool(int(mask, 16) >> (TREE_SIGNAL - 1) & 1)


def worker_started():
    ready("started-%d" % os.getpid())


def pool(method):
    import multiprocessing
    with multiprocessing.get_context(method).Pool(2, initializer=worker_started) as workers:
        result = workers.apply_async(stuck_worker)
        pids = {"worker": wait_ready("worker")}
        # The idle worker and the helpers (resource tracker, forkserver) may
        # still be starting: a timeout now would rightly find them without
        # the hook, which is not what this tree tests.  Workers say so once
        # started (a fork worker has our command line); the helpers are
        # looked at.  After 60 s the test goes on and reports what it finds.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = {int(name.split("-", 1)[1]) for name in os.listdir(DIR) if name.startswith("started-")
                       and not name.endswith(".tmp")}
            if len(started) >= 2 and all(runs_the_hook(pid) for pid in descendants() - started):
                break
            time.sleep(0.05)
        arm_and_hang(pids)
        result.get()


def subprocess_tree():
    env = dict(os.environ, FA_MODE="middle")
    middle = subprocess.Popen([sys.executable, __file__], env=env)
    # Popen returns once sleep has been exec'd
    sleep = subprocess.Popen(["sleep", "3600"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    bare = subprocess.Popen(
        [sys.executable, "-S", "-c", "import sys, time; print('ready', flush=True); time.sleep(3600)"],
        stdout=subprocess.PIPE, text=True)
    assert bare.stdout.readline() == "ready\n"
    arm_and_hang({"middle": middle.pid, "leaf": wait_ready("leaf"), "sleep": sleep.pid,
                  "bare": bare.pid})


def wait_state(pid, state):
    while stat_fields(pid)[0] != state:
        time.sleep(0.01)


def stopped_child():
    """A child that stopped itself, and one that ended and is not reaped
    (its Popen is kept and never polled)."""
    child = subprocess.Popen([sys.executable, "-c", "import os, signal, sys; "
                              "os.kill(os.getpid(), signal.SIGSTOP); sys.stderr.write('continued\\n')"])
    wait_state(child.pid, "T")
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_state(zombie.pid, "Z")
    arm_and_hang({"stopped": child.pid, "zombie": zombie.pid})


def blocked_child():
    """A child that runs the hook but blocks the request's signal in its
    only thread: it never answers."""
    child = subprocess.Popen([sys.executable, "-c", "import signal, sys, time; "
                              "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGRTMAX - 3}); "
                              "print('ready', flush=True); time.sleep(3600)"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    arm_and_hang({"blocked": child.pid})


def middle_waits():
    leaf = subprocess.Popen([sys.executable, __file__], env=dict(os.environ, FA_MODE="leaf"))
    leaf.wait()


if __name__ == "__main__":
    if MODE.startswith("pool-"):
        pool(MODE[len("pool-"):])
    elif MODE == "subprocess":
        subprocess_tree()
    elif MODE == "stopped":
        stopped_child()
    elif MODE == "blocked":
        blocked_child()
    elif MODE == "middle":
        middle_waits()
    elif MODE == "leaf":
        leaf_hangs()
