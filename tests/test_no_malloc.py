"""A dump must not allocate: prove it with an LD_PRELOAD shim that ends the
process with status 99 on any malloc-family call once armed.

Each child arms the trap right before the dump is triggered; if the dump
completes and the process ends the way it should (its signal, status 1 for a
timeout with EXIT, 0 after a signal dump), nothing allocated in between.
"""
import datetime
import os
import sys

import pytest

from conftest import SANITIZER_PRELOAD
from dumps import json_dumps, only_dump

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
        reason="the shim forwards to glibc's __libc_malloc",
    ),
    pytest.mark.skipif(bool(SANITIZER_PRELOAD), reason="ASan has its own malloc"),
]

# the disarm function is looked up before arming: ctypes allocates for that
ARM = ("import ctypes; trap = ctypes.CDLL(None); disarm = trap.malloc_trap_disarm\n"
       "trap.malloc_trap_arm()\n")
THREADS = (
    "import threading\n"
    "ev = threading.Event()\n"
    "for i in range(20):\n"
    "    threading.Thread(target=ev.wait, name='waiter-%d' % i, daemon=True).start()\n"
)


@pytest.fixture(scope="module")
def trap_env(shared_library):
    return {"LD_PRELOAD": str(shared_library("malloc_trap"))}


def test_the_trap_catches_an_allocation(run_py, trap_env):
    proc = run_py(ARM + "bytearray(1 << 22)", env=trap_env)
    assert proc.returncode == 99
    assert "malloc_trap: malloc called while armed" in proc.stderr


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_fatal_dump_with_c_stack_does_not_allocate(run_py, trap_env, tmp_path, fmt):
    env = dict(trap_env, PYTHONFAULTHANDLER="1", PYTHONFAULTHANDLER_FORMAT=fmt,
               PYTHONFAULTHANDLER_PATH=str(tmp_path / "new-dir" / "{prog}-{pid}.log"))
    proc = run_py(THREADS + ARM + "import faulthandler_auto; faulthandler_auto.sigsegv()", env=env)
    assert proc.returncode == -11, proc.stderr
    assert "malloc_trap" not in proc.stderr
    (dump_file,) = (tmp_path / "new-dir").iterdir()
    text = dump_file.read_text()
    if fmt == "json":
        (dump,) = json_dumps(text)
        assert dump["event"] == "fatal_signal"
        assert len(dump["threads"]) == 21
        assert dump["c_stack"]
    else:
        dump = only_dump(text)
        assert dump.fatal_error == "Segmentation fault"
        assert len(dump.threads) == 21
        assert "Current thread's C stack trace (most recent call first):" in text


def test_timeout_dump_does_not_allocate(run_py, trap_env):
    # The timer starts at start-up, so on a busy machine it may fire before
    # the threads are up and the trap armed: "armed" on stderr (written after
    # arming, without allocating) must precede the dump, else the run proved
    # nothing and runs again with twice the timeout.
    code = "import os, time\n" + THREADS + ARM + "os.write(2, b'armed\\n')\ntime.sleep(60)"
    timeout = 0.5
    while True:
        env = dict(trap_env, PYTHONFAULTHANDLER_TIMEOUT=str(timeout), PYTHONFAULTHANDLER_EXIT="1")
        proc = run_py(code, env=env, timeout=120)
        assert "malloc_trap" not in proc.stderr
        assert proc.returncode == 1, proc.stderr
        if proc.stderr.startswith("armed\n") or timeout >= 32:
            break
        timeout *= 2
    header = "Timeout (%s)!\n" % datetime.timedelta(seconds=timeout)
    assert proc.stderr.startswith("armed\n" + header), proc.stderr
    assert len(only_dump(proc.stderr).threads) == 21


def test_signal_dump_does_not_allocate(run_py, trap_env):
    env = dict(trap_env, PYTHONFAULTHANDLER_SIGNAL="USR1")
    # everything imported before arming: an import allocates
    code = ("import os, signal\n" + THREADS + ARM + "os.kill(os.getpid(), signal.SIGUSR1)\n"
            "disarm(); print('alive')")
    proc = run_py(code, env=env)
    assert "malloc_trap" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "alive\n"
    assert len(only_dump(proc.stderr).threads) == 21
