"""On-demand dumps (issue 3): PYTHONFAULTHANDLER_SIGNAL / register().  A
running process gets a signal from this (another) process, writes one whole
dump and carries on."""
import os
import signal
import subprocess

import pytest

from dumps import (check_well_formed, json_dumps, line_of, only_dump, script, spawn,
                   split_dumps)

WAITER = script("waiter.py")
UID = os.getuid()
# where the main thread of waiter.py can be when a signal arrives
MAIN_FRAMES = [(WAITER, line_of(WAITER, marker), "<module>") for marker in ("pid", "loop", "readline", "ack")]


class Waiter:
    """scripts/waiter.py running in the venv: signal it, then sync() to know
    the handler has run (the main thread takes a signal sent to the process
    before its blocked read returns the next line)."""

    def __init__(self, python, env, **kwargs):
        self.proc = spawn(python, WAITER, env, **kwargs)
        self.pid = int(self.proc.stdout.readline())
        self.n = 0

    def kill(self, signum):
        os.kill(self.pid, signum)

    def sync(self):
        self.n += 1
        self.proc.stdin.write("%d\n" % self.n)
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line == "ok %d\n" % self.n, line

    def quit(self):
        out, err = self.proc.communicate("quit\n", timeout=30)
        return self.proc.returncode, out, err

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def waiter(venv_python):
    started = []

    def start(env, **kwargs):
        w = Waiter(venv_python, env, **kwargs)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def check_signal_dump(dump, name, pid):
    check_well_formed(dump)
    assert dump.header[0] == "Signal: %s, SI_USER (sent by kill), from pid %d uid %d" % (
        name, os.getpid(), UID), dump.header
    assert dump.header[1].startswith("Process: pid %d, " % pid), dump.header
    assert len(dump.header) == 2
    assert dump.fatal_error is None and dump.c_stack is None
    first = dump.threads[0]
    assert first.current and first.name == "MainThread", dump.text
    assert first.frames[-1] in MAIN_FRAMES, dump.text
    assert [t.name for t in dump.threads] == ["MainThread", "helper"]


@pytest.mark.parametrize("value", ["USR1", "SIGUSR1", "usr1", str(int(signal.SIGUSR1))])
def test_dump_on_signal_and_go_on(waiter, value):
    w = waiter({"PYTHONFAULTHANDLER_SIGNAL": value})
    w.kill(signal.SIGUSR1)
    w.sync()
    code, out, err = w.quit()
    assert code == 0 and out == "bye\n", (code, out, err)
    check_signal_dump(only_dump(err), "SIGUSR1", w.pid)


def test_ten_signals_ten_whole_dumps(waiter):
    w = waiter({"PYTHONFAULTHANDLER_SIGNAL": "USR1"})
    for _ in range(10):
        w.kill(signal.SIGUSR1)
        w.sync()
    code, out, err = w.quit()
    assert code == 0
    dumps = split_dumps(err)
    assert len(dumps) == 10, err
    for dump in dumps:
        check_signal_dump(dump, "SIGUSR1", w.pid)
    # nothing but the dumps in stderr
    assert sum(len(d.lines) for d in dumps) == len(err.splitlines()), err


def test_ten_signals_json(waiter):
    w = waiter({"PYTHONFAULTHANDLER_SIGNAL": "USR1", "PYTHONFAULTHANDLER_FORMAT": "json"})
    for _ in range(10):
        w.kill(signal.SIGUSR1)
        w.sync()
    code, out, err = w.quit()
    assert code == 0
    lines = err.splitlines()
    dumps = json_dumps(err)
    assert len(dumps) == len(lines) == 10, err
    for dump in dumps:
        assert dump["event"] == "signal"
        assert dump["signal"] == "SIGUSR1"
        assert dump["sender_pid"] == os.getpid() and dump["sender_uid"] == UID
        assert dump["pid"] == w.pid
        assert dump["si_code"].startswith("SI_USER")
        assert [t["name"] for t in dump["threads"]] == ["MainThread", "helper"]
        assert dump["threads"][0]["current"] is True
        assert tuple(dump["threads"][0]["frames"][-1].values()) in MAIN_FRAMES
        assert "c_stack" not in dump or dump["c_stack"] is None


def test_burst_of_signals_never_interleaves(waiter):
    """Signals sent back to back may merge (they are not queued) but every
    dump that is written is whole."""
    w = waiter({"PYTHONFAULTHANDLER_SIGNAL": "USR1,USR2", "PYTHONFAULTHANDLER_FORMAT": "json"})
    for i in range(20):
        w.kill(signal.SIGUSR1 if i % 2 else signal.SIGUSR2)
    w.sync()
    code, out, err = w.quit()
    assert code == 0
    dumps = json_dumps(err)
    assert 2 <= len(dumps) <= 20 and len(dumps) == len(err.splitlines()), err
    assert {d["signal"] for d in dumps} == {"SIGUSR1", "SIGUSR2"}


def test_two_signals(waiter):
    w = waiter({"PYTHONFAULTHANDLER_SIGNAL": "USR1, SIGUSR2"})
    w.kill(signal.SIGUSR2)
    w.sync()
    w.kill(signal.SIGUSR1)
    w.sync()
    code, out, err = w.quit()
    assert code == 0
    first, second = split_dumps(err)
    check_signal_dump(first, "SIGUSR2", w.pid)
    check_signal_dump(second, "SIGUSR1", w.pid)


def test_all_threads_off(waiter):
    w = waiter({"PYTHONFAULTHANDLER_SIGNAL": "USR1", "PYTHONFAULTHANDLER_ALL_THREADS": "0"})
    w.kill(signal.SIGUSR1)
    w.sync()
    code, out, err = w.quit()
    dump = only_dump(err)
    assert not dump.threads and dump.stack is not None, err
    assert len(dump.stack.frames) == 1 and dump.stack.frames[0] in MAIN_FRAMES


def test_signal_to_file(waiter, tmp_path):
    w = waiter({"PYTHONFAULTHANDLER_SIGNAL": "USR1",
                "PYTHONFAULTHANDLER_PATH": str(tmp_path / "{prog}.{pid}.log")})
    w.kill(signal.SIGUSR1)
    w.sync()
    code, out, err = w.quit()
    assert code == 0 and err == "", (code, err)
    check_signal_dump(only_dump((tmp_path / ("waiter.py.%d.log" % w.pid)).read_text()),
                      "SIGUSR1", w.pid)


def test_chain_with_inherited_ignore(waiter):
    """CHAIN calls the disposition that was there before ours: here SIG_IGN,
    inherited from the parent, so the process goes on."""
    def ignore():
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)

    w = waiter({"PYTHONFAULTHANDLER_SIGNAL": "USR1", "PYTHONFAULTHANDLER_CHAIN": "1"},
               preexec_fn=ignore)
    w.kill(signal.SIGUSR1)
    w.sync()
    code, out, err = w.quit()
    assert code == 0, err
    check_signal_dump(only_dump(err), "SIGUSR1", w.pid)


# SIG_IGN installed with SA_SIGINFO (sa_handler and sa_sigaction share their
# storage, so the flag does not make (void *)1 a function to call)
CHAIN_IGNORE_SIGINFO = """
import ctypes, os, signal, faulthandler_auto
class Sigaction(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]
SA_SIGINFO = 4
act = Sigaction(1, (ctypes.c_ulong * 16)(), SA_SIGINFO, None)   # 1: SIG_IGN
libc = ctypes.CDLL(None, use_errno=True)
assert libc.sigaction(signal.SIGUSR1, ctypes.byref(act), None) == 0, ctypes.get_errno()
faulthandler_auto.register(signal.SIGUSR1, chain=True)
os.kill(os.getpid(), signal.SIGUSR1)
print("survived", flush=True)
"""


def test_chain_to_ignore_with_siginfo_flag(run_py):
    proc = run_py(CHAIN_IGNORE_SIGINFO)
    assert (proc.returncode, proc.stdout) == (0, "survived\n"), proc.stderr
    assert only_dump(proc.stderr).header[0].startswith("Signal: SIGUSR1, ")


CHAIN_DEFAULT = """
import os, signal, sys
{enable}
os.kill(os.getpid(), signal.SIGUSR1)
print("survived", flush=True)
"""


@pytest.mark.parametrize("module", ["faulthandler", "faulthandler_auto"])
def test_chain_to_default_action(run_py, module):
    """chain=True with SIG_DFL before: the dump, then the default action
    (termination by SIGUSR1), as CPython's faulthandler does."""
    if module == "faulthandler":
        code = CHAIN_DEFAULT.format(
            enable="import faulthandler; faulthandler.register(signal.SIGUSR1, chain=True)")
        env = None
    else:
        code = CHAIN_DEFAULT.format(enable="")
        env = {"PYTHONFAULTHANDLER_SIGNAL": "USR1", "PYTHONFAULTHANDLER_CHAIN": "1"}
    try:
        proc = run_py(code, env=env, timeout=10)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr or b""
        dumps = (err.encode() if isinstance(err, str) else err).count(b"\nProcess: pid ")
        pytest.fail("still running after 10 s, %d dumps written (the chained default "
                    "action never ends the process)" % dumps)
    assert proc.returncode == -signal.SIGUSR1, proc
    assert proc.stdout == ""
    dump = only_dump(proc.stderr)
    assert dump.threads[0].frames == [("<string>", 4, "<module>")]


CHAIN_PYTHON = """
import os, signal, sys
import {module} as fh
calls = []
signal.signal(signal.SIGUSR1, lambda *a: calls.append(1))
fh.register(signal.SIGUSR1, chain={chain})
os.kill(os.getpid(), signal.SIGUSR1)
for _ in range(100):
    if calls:
        break
print("python handler calls", len(calls), flush=True)
print("unregister", fh.unregister(signal.SIGUSR1), fh.unregister(signal.SIGUSR1))
os.kill(os.getpid(), signal.SIGUSR1)
for _ in range(100):
    if len(calls) > 1:
        break
print("after unregister", len(calls), flush=True)
"""


@pytest.mark.parametrize("chain", [True, False])
@pytest.mark.parametrize("module", ["faulthandler", "faulthandler_auto"])
def test_chain_to_python_handler_and_unregister(run_py, module, chain):
    """register(chain=True) over a signal.signal() handler calls it after
    the dump; unregister() gives the signal back to it: same as CPython."""
    proc = run_py(CHAIN_PYTHON.format(module=module, chain=chain))
    assert proc.returncode == 0, proc
    assert proc.stdout.splitlines() == [
        "python handler calls %d" % (1 if chain else 0),
        "unregister True False",
        "after unregister %d" % (2 if chain else 1),
    ], proc
    dump = only_dump(proc.stderr)
    assert dump.threads[0].frames == [("<string>", 7, "<module>")]
    if module == "faulthandler_auto":
        assert dump.header[0] == "Signal: SIGUSR1, SI_USER (sent by kill), from pid %d uid %d" % (
            dump.pid, UID)


def test_python_handler_installed_later_replaces_ours(run_py):
    """signal.signal() after the hook replaces our handler (documented)."""
    proc = run_py("import os, signal\n"
                  "calls = []\n"
                  "signal.signal(signal.SIGUSR1, lambda *a: calls.append(1))\n"
                  "os.kill(os.getpid(), signal.SIGUSR1)\n"
                  "print(calls)\n",
                  env={"PYTHONFAULTHANDLER_SIGNAL": "USR1"})
    assert proc.returncode == 0, proc
    assert proc.stdout == "[1]\n"
    assert proc.stderr == ""


def test_unregister_restores_default(run_py):
    proc = run_py("import os, signal, faulthandler_auto\n"
                  "print(faulthandler_auto.unregister(signal.SIGUSR1), flush=True)\n"
                  "os.kill(os.getpid(), signal.SIGUSR1)\n"
                  "print('survived')\n",
                  env={"PYTHONFAULTHANDLER_SIGNAL": "USR1"})
    assert proc.returncode == -signal.SIGUSR1, proc
    assert proc.stdout == "True\n"
    assert proc.stderr == ""


def test_register_api_with_file_template(run_py, tmp_path):
    template = str(tmp_path / "sig-{pid}.log")
    proc = run_py("import os, signal, faulthandler_auto\n"
                  "faulthandler_auto.register(signal.SIGUSR2, file=%r, all_threads=False)\n"
                  "os.kill(os.getpid(), signal.SIGUSR2)\n"
                  "print(os.getpid())\n" % template)
    assert proc.returncode == 0, proc
    pid = int(proc.stdout)
    dump = only_dump((tmp_path / ("sig-%d.log" % pid)).read_text())
    assert dump.header[0] == "Signal: SIGUSR2, SI_USER (sent by kill), from pid %d uid %d" % (pid, UID)
    assert dump.stack.frames == [("<string>", 3, "<module>")]
