"""Dumps while everything moves: threads start and end by the hundred, frames
churn, a thousand SIGUSR1 arrive, REPEAT dumps every 10 ms, and another
thread cancels, re-arms, unregisters, re-registers, enables and disables at
random.  The process must neither crash nor hang, and every dump must be
whole."""
import json
import os
import signal
import subprocess
import time

from conftest import clean_environ
from dumps import json_dumps

CHILD = r"""
import os, random, signal, sys, threading, time
import faulthandler_auto as fa
import faulthandler  # CPython's, to show where this child hangs if it does
faulthandler.dump_traceback_later(90, exit=True)

out = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
signal.signal(signal.SIGUSR1, lambda *a: None)  # what unregister gives back
fa.set_output("json", max_frames=20, max_threads=20)
fa.register(signal.SIGUSR1, out)
fa.dump_traceback_later(0.01, repeat=True, file=out)
stop = threading.Event()

def recurse(n):
    if n:
        return recurse(n - 1)
    time.sleep(random.random() / 1000)

def churn():
    while not stop.is_set():
        batch = [threading.Thread(target=recurse, args=(random.randrange(30),))
                 for _ in range(200)]
        for t in batch:
            t.start()
        for t in batch:
            t.join()

def meddle():
    rng = random.Random(1)
    while not stop.is_set():
        action = rng.randrange(6)
        if action == 0:
            fa.cancel_dump_traceback_later()
        elif action == 1:
            fa.dump_traceback_later(0.01, repeat=True, file=out)
        elif action == 2:
            fa.unregister(signal.SIGUSR1)
        elif action == 3:
            fa.register(signal.SIGUSR1, out)
        elif action == 4:
            fa.enable(file=out)
        else:
            fa.disable()
        time.sleep(rng.random() / 100)

workers = [threading.Thread(target=churn) for _ in range(2)] + [threading.Thread(target=meddle)]
for t in workers:
    t.start()
print("ready", flush=True)
sys.stdin.readline()   # the parent has sent its signals
stop.set()
for t in workers:
    t.join()
fa.cancel_dump_traceback_later()
fa.unregister(signal.SIGUSR1)
print("done", flush=True)
"""


def _parses(line):
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_dumps_under_churn_signals_and_meddling(venv_python, tmp_path):
    out = tmp_path / "dumps.jsonl"
    out.write_text("")
    script = tmp_path / "stress.py"
    script.write_text(CHILD)
    child = subprocess.Popen([str(venv_python), str(script), str(out)], env=clean_environ(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
    assert child.stdout.readline() == "ready\n"
    sent = 0
    while sent < 1000 and child.poll() is None:
        os.kill(child.pid, signal.SIGUSR1)
        sent += 1
        time.sleep(0.002)
    stdout, stderr = child.communicate("stop\n", timeout=120)
    assert child.returncode == 0, stderr
    assert stdout == "done\n"
    assert sent == 1000
    lines = out.read_text().splitlines()
    broken = [line for line in lines if not _parses(line)]
    assert not broken, "%d of %d dumps are not whole JSON, the first:\n%s" % (
        len(broken), len(lines), broken[0])
    dumps = json_dumps("\n".join(lines))
    # both kinds came through the meddling (how many depends on timing)
    assert {d["event"] for d in dumps} == {"signal", "timeout"}
    for dump in dumps:
        assert dump["pid"] == child.pid
        assert 1 <= len(dump["threads"]) <= 20
        for thread in dump["threads"]:
            assert len(thread["frames"]) <= 20
