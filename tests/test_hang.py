"""Hangs (issue 3): PYTHONFAULTHANDLER_TIMEOUT / _REPEAT / _EXIT and
dump_traceback_later() -- the dump names where each thread waits, EXIT ends
the process with status 1, cancel never blocks, fork children re-arm."""
import os
import time

import pytest

from dumps import (check_well_formed, line_of, only_dump, read_text, script, split_dumps,
                   json_dumps)

HANG = script("hang.py")


def hang(run_py, mode, env=None, args=(), timeout=60):
    environ = {"FA_MODE": mode}
    environ.update(env or {})
    return run_py(HANG, *args, env=environ, timeout=timeout)


def check_timeout_dump(dump, header):
    """CPython's first line, then our Process line, then the threads with the
    main thread first and no "Current thread"."""
    check_well_formed(dump)
    assert dump.header[0] == "Timeout (%s)!" % header, dump.header
    assert dump.header[1].startswith("Process: pid "), dump.header
    assert len(dump.header) == 2, dump.header
    assert dump.threads[0].name == "MainThread", dump.text
    assert dump.threads[0].header.startswith("Thread 0x")
    assert not any(t.current for t in dump.threads), dump.text
    assert "Current thread" not in dump.text
    assert dump.c_stack is None
    assert dump.fatal_error is None


@pytest.mark.parametrize("value, header", [
    ("1", "0:00:01"),
    ("0.5", "0:00:00.500000"),
    ("0.01m", "0:00:00.600000"),
])
def test_sleeping_main_thread_exit(run_py, value, header):
    start = time.monotonic()
    proc = hang(run_py, "sleep", {"PYTHONFAULTHANDLER_TIMEOUT": value,
                                  "PYTHONFAULTHANDLER_EXIT": "1"})
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc
    assert elapsed < 30
    dump = only_dump(proc.stderr)
    check_timeout_dump(dump, header)
    assert dump.pid == int(proc.stdout.split()[0])
    assert dump.threads[0].frames == [
        (HANG, line_of(HANG, "sleep"), "sleep"),
        (HANG, line_of(HANG, "main"), "<module>"),
    ]


def test_timeout_without_exit_goes_on(run_py):
    proc = hang(run_py, "repeat", {"PYTHONFAULTHANDLER_TIMEOUT": "0.3"})
    assert proc.returncode == 0, proc
    dump = only_dump(proc.stderr)
    check_timeout_dump(dump, "0:00:00.300000")
    assert dump.threads[0].frames[0] == (HANG, line_of(HANG, "repeat"), "repeat")


def test_deadlock_shows_both_threads(run_py):
    proc = hang(run_py, "deadlock", {"PYTHONFAULTHANDLER_TIMEOUT": "1",
                                     "PYTHONFAULTHANDLER_EXIT": "1"})
    assert proc.returncode == 1, proc
    dump = only_dump(proc.stderr)
    check_timeout_dump(dump, "0:00:01")
    assert sorted(t.name for t in dump.threads) == ["MainThread", "locker-a", "locker-b"]
    assert dump.thread_named("locker-a").frames[0] == (HANG, line_of(HANG, "one"), "one")
    assert dump.thread_named("locker-b").frames[0] == (HANG, line_of(HANG, "two"), "two")
    assert (HANG, line_of(HANG, "deadlock-join"), "deadlock") in dump.threads[0].frames


def test_thread_blocked_in_c_without_gil(run_py):
    proc = hang(run_py, "blocked_in_c", {"PYTHONFAULTHANDLER_TIMEOUT": "0.5",
                                         "PYTHONFAULTHANDLER_EXIT": "yes"})
    assert proc.returncode == 1, proc
    dump = only_dump(proc.stderr)
    check_timeout_dump(dump, "0:00:00.500000")
    assert dump.thread_named("reader").frames[0] == (HANG, line_of(HANG, "read"), "reader")


def test_exit_while_main_thread_holds_gil_in_c(run_py):
    """The watchdog needs no GIL: it dumps and exits while the main thread
    sits in a C call that keeps the GIL."""
    start = time.monotonic()
    proc = hang(run_py, "gil_held", {"PYTHONFAULTHANDLER_TIMEOUT": "0.5",
                                     "PYTHONFAULTHANDLER_EXIT": "on"})
    assert proc.returncode == 1, proc
    assert time.monotonic() - start < 30
    dump = only_dump(proc.stderr)
    check_timeout_dump(dump, "0:00:00.500000")
    assert dump.threads[0].frames[0] == (HANG, line_of(HANG, "gil"), "gil_held")


def test_repeat(run_py):
    proc = hang(run_py, "repeat", {"PYTHONFAULTHANDLER_TIMEOUT": "0.3",
                                   "PYTHONFAULTHANDLER_REPEAT": "true"})
    assert proc.returncode == 0, proc
    dumps = split_dumps(proc.stderr)
    # 1.6 s / 0.3 s = 5 on an idle machine; leave room for a slow start
    assert 3 <= len(dumps) <= 6, proc.stderr
    for dump in dumps:
        check_timeout_dump(dump, "0:00:00.300000")
        assert dump.threads[0].frames[0] == (HANG, line_of(HANG, "repeat"), "repeat")


def test_repeat_json(run_py):
    proc = hang(run_py, "repeat", {"PYTHONFAULTHANDLER_TIMEOUT": "0.3",
                                   "PYTHONFAULTHANDLER_REPEAT": "1",
                                   "PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == 0, proc
    dumps = json_dumps(proc.stderr)
    assert 3 <= len(dumps) <= 6, proc.stderr
    assert len(dumps) == len(proc.stderr.splitlines())
    for dump in dumps:
        assert dump["event"] == "timeout"
        assert dump["signal"] is None
        assert dump["pid"] == int(proc.stdout.split()[0])
        main = dump["threads"][0]
        assert main["name"] == "MainThread" and main["current"] is False
        assert main["frames"][0] == {"file": HANG, "line": line_of(HANG, "repeat"),
                                     "function": "repeat"}


def test_second_call_replaces_first(run_py):
    proc = hang(run_py, "replace")
    assert proc.returncode == 0, proc
    dump = only_dump(proc.stderr)
    check_timeout_dump(dump, "0:00:00.600000")
    assert dump.threads[0].frames[0] == (HANG, line_of(HANG, "replace"), "replace")


@pytest.mark.parametrize("reader", ["none", "slow"])
def test_cancel_while_dump_in_flight(run_py, reader):
    """CPython 3.12 has field reports of cancel deadlocking against a
    watchdog mid-dump; here the writer is stuck on a full pipe, or paced by
    a reader that would need some 5 s for the rest of the dump."""
    proc = hang(run_py, "cancel_in_flight", {"FA_READER": reader}, timeout=60)
    out = proc.stdout.splitlines()
    assert out[1].startswith("in flight ") and int(out[1].split()[2]) > 0, out
    assert proc.returncode == 0, proc
    took = float(out[2].split()[2])
    assert took < 3.0, out
    assert out[-1] == "done"
    # the re-armed watchdog still dumps
    dump = only_dump(proc.stderr)
    check_timeout_dump(dump, "0:00:00.200000")
    assert dump.threads[0].frames[0] == (HANG, line_of(HANG, "after-cancel"), "cancel_in_flight")


def test_fork_child_rearms(run_py, tmp_path):
    proc = hang(run_py, "fork", {"PYTHONFAULTHANDLER_TIMEOUT": "0.6",
                                 "PYTHONFAULTHANDLER_PATH": str(tmp_path / "{pid}.log")})
    assert proc.returncode == 0, proc
    out = proc.stdout.split()
    parent, child = int(out[0]), int(out[out.index("child") + 1])
    assert sorted(os.listdir(tmp_path)) == sorted(["%d.log" % parent, "%d.log" % child])
    parent_dump = only_dump(read_text(tmp_path / ("%d.log" % parent)))
    child_dump = only_dump(read_text(tmp_path / ("%d.log" % child)))  # never two
    check_timeout_dump(parent_dump, "0:00:00.600000")
    check_timeout_dump(child_dump, "0:00:00.600000")
    assert parent_dump.pid == parent and child_dump.pid == child
    assert parent_dump.threads[0].frames[0] == (HANG, line_of(HANG, "parent"), "fork")
    assert child_dump.threads[0].frames[0] == (HANG, line_of(HANG, "child"), "fork")


@pytest.mark.parametrize("context", ["fork", "forkserver"])
def test_multiprocessing_child_dumps(run_py, tmp_path, context):
    proc = hang(run_py, "mp", {"FA_CONTEXT": context,
                               "PYTHONFAULTHANDLER_TIMEOUT": "0.5",
                               "PYTHONFAULTHANDLER_PATH": str(tmp_path / "{pid}.log")})
    assert proc.returncode == 0, proc
    out = proc.stdout.split()
    child = int(out[out.index("child") + 1])
    assert out[-1] == "0", proc.stdout
    dump = only_dump(read_text(tmp_path / ("%d.log" % child)))
    check_timeout_dump(dump, "0:00:00.500000")
    assert dump.pid == child
    assert dump.threads[0].frames[0] == (HANG, line_of(HANG, "worker"), "hang_worker")


@pytest.mark.parametrize("flag", ["-I", "-E"])
def test_isolated_mode_has_no_watchdog(run_py, flag):
    proc = hang(run_py, "repeat", {"PYTHONFAULTHANDLER_TIMEOUT": "0.2",
                                   "PYTHONFAULTHANDLER_EXIT": "1"}, args=(flag,))
    assert proc.returncode == 0, proc
    assert proc.stderr == ""
