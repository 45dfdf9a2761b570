"""Hangs (issue 3): PYTHONFAULTHANDLER_TIMEOUT / _REPEAT / _EXIT and
dump_traceback_later() -- the dump names where each thread waits, EXIT ends
the process with status 1, cancel never blocks, fork children re-arm."""
import datetime
import os

import pytest

from dumps import (check_well_formed, line_of, only_dump, read_text, script, split_dumps,
                   json_dumps)

HANG = script("hang.py")


def hang(run_py, mode, env=None, args=(), timeout=60):
    environ = {"FA_MODE": mode}
    environ.update(env or {})
    return run_py(HANG, *args, env=environ, timeout=timeout)


READY = "ready\n"
# Timeouts tried in turn until the scenario was ready before its first dump
# (hang.py): a busy machine may take longer to set it up than the first.
TIMEOUTS = (0.5, 1, 2, 4, 8)


def header(seconds):
    """The "Timeout (...)!" text of a timeout in seconds, as CPython writes it."""
    return str(datetime.timedelta(seconds=seconds))


def after_ready(text):
    """``text`` from hang.py's "ready" on, or None if a dump came first."""
    before, found, after = text.partition(READY)
    if not found or split_dumps(before):
        return None
    return after


def until_ready(attempt, timeouts=TIMEOUTS):
    """attempt(timeout) returns None when the scenario was not ready before
    the dump; try longer timeouts.  Returns (its result, timeout)."""
    for timeout in timeouts:
        result = attempt(timeout)
        if result is not None:
            return result, timeout
    pytest.fail("the scenario was never ready before its dump, even with a %s s timeout" % timeout)


def hang_to_stderr(run_py, mode, env, timeouts=TIMEOUTS):
    """Run a scenario that writes "ready" to stderr and ends by EXIT; returns
    (process, the dump after "ready", the timeout used)."""
    def attempt(timeout):
        environ = dict(env, PYTHONFAULTHANDLER_TIMEOUT=str(timeout))
        proc = hang(run_py, mode, environ)
        after = after_ready(proc.stderr)
        return None if after is None else (proc, only_dump(after))

    (proc, dump), timeout = until_ready(attempt, timeouts)
    return proc, dump, timeout


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


@pytest.mark.parametrize("value, text", [
    ("1", "0:00:01"),
    ("2.5", "0:00:02.500000"),
    ("0.03m", "0:00:01.800000"),
])
def test_sleeping_main_thread_exit(run_py, value, text):
    # the value is what is tested: it is tried again, not made longer
    def attempt(_):
        proc = hang(run_py, "sleep", {"PYTHONFAULTHANDLER_TIMEOUT": value,
                                      "PYTHONFAULTHANDLER_EXIT": "1"})
        after = after_ready(proc.stderr)
        return None if after is None else (proc, only_dump(after))

    (proc, dump), _ = until_ready(attempt, (value,) * 3)
    assert proc.returncode == 1, proc
    check_timeout_dump(dump, text)
    assert dump.pid == int(proc.stdout.split()[0])
    assert dump.threads[0].frames == [
        (HANG, line_of(HANG, "sleep"), "sleep"),
        (HANG, line_of(HANG, "main"), "<module>"),
    ]


def test_timeout_without_exit_goes_on(run_py, tmp_path):
    def attempt(timeout):
        out = tmp_path / ("%s.log" % timeout)
        proc = hang(run_py, "once", {"PYTHONFAULTHANDLER_TIMEOUT": str(timeout),
                                     "PYTHONFAULTHANDLER_PATH": str(out)})
        assert proc.returncode == 0, proc
        after = after_ready(read_text(out))
        return None if after is None else only_dump(after)

    dump, timeout = until_ready(attempt)
    check_timeout_dump(dump, header(timeout))
    assert dump.threads[0].frames[:2] == [(HANG, line_of(HANG, "wait-for-dump"), "wait_for_dump"),
                                          (HANG, line_of(HANG, "once"), "once")]


def test_deadlock_shows_both_threads(run_py):
    proc, dump, timeout = hang_to_stderr(run_py, "deadlock", {"PYTHONFAULTHANDLER_EXIT": "1"})
    assert proc.returncode == 1, proc
    check_timeout_dump(dump, header(timeout))
    assert sorted(t.name for t in dump.threads) == ["MainThread", "locker-a", "locker-b"]
    assert dump.thread_named("locker-a").frames[0] == (HANG, line_of(HANG, "one"), "one")
    assert dump.thread_named("locker-b").frames[0] == (HANG, line_of(HANG, "two"), "two")
    assert (HANG, line_of(HANG, "deadlock-join"), "deadlock") in dump.threads[0].frames


def test_thread_blocked_in_c_without_gil(run_py):
    proc, dump, timeout = hang_to_stderr(run_py, "blocked_in_c", {"PYTHONFAULTHANDLER_EXIT": "yes"})
    assert proc.returncode == 1, proc
    check_timeout_dump(dump, header(timeout))
    assert dump.thread_named("reader").frames[0] == (HANG, line_of(HANG, "read"), "reader")


def test_exit_while_main_thread_holds_gil_in_c(run_py):
    """The watchdog needs no GIL: it dumps and exits while the main thread
    sits in a C call that keeps the GIL (for 60 s, so the exit is the
    watchdog's)."""
    proc, dump, timeout = hang_to_stderr(run_py, "gil_held", {"PYTHONFAULTHANDLER_EXIT": "on"})
    assert proc.returncode == 1, proc
    check_timeout_dump(dump, header(timeout))
    assert dump.threads[0].frames[0] == (HANG, line_of(HANG, "gil"), "gil_held")


def repeated(run_py, tmp_path, env):
    """The repeated dumps after "ready" (hang.py waits for four to start; the
    last may be cut short by the exit, so three are returned)."""
    out = tmp_path / "repeat.log"
    proc = hang(run_py, "repeat", dict(env, PYTHONFAULTHANDLER_TIMEOUT="0.3",
                                       PYTHONFAULTHANDLER_REPEAT="1",
                                       PYTHONFAULTHANDLER_PATH=str(out)))
    assert proc.returncode == 0, proc
    after = read_text(out).partition(READY)[2]
    return proc, after


def test_repeat(run_py, tmp_path):
    _, after = repeated(run_py, tmp_path, {})
    # from the first dump that started after "ready"
    dumps = split_dumps(after[after.index("Timeout ("):])[:3]
    assert len(dumps) == 3, after
    for dump in dumps:
        check_timeout_dump(dump, "0:00:00.300000")
        assert dump.threads[0].frames[:2] == [
            (HANG, line_of(HANG, "wait-for-dumps"), "wait_for_dumps"),
            (HANG, line_of(HANG, "repeat"), "repeat")]


def test_repeat_json(run_py, tmp_path):
    proc, after = repeated(run_py, tmp_path, {"PYTHONFAULTHANDLER_FORMAT": "json"})
    dumps = json_dumps("".join(after.splitlines(True)[:3]))
    assert len(dumps) == 3, after
    for dump in dumps:
        assert dump["event"] == "timeout"
        assert dump["signal"] is None
        assert dump["pid"] == int(proc.stdout.split()[0])
        main = dump["threads"][0]
        assert main["name"] == "MainThread" and main["current"] is False
        assert main["frames"][:2] == [
            {"file": HANG, "line": line_of(HANG, "wait-for-dumps"), "function": "wait_for_dumps"},
            {"file": HANG, "line": line_of(HANG, "repeat"), "function": "repeat"}]


def test_second_call_replaces_first(run_py, tmp_path):
    out = tmp_path / "later.log"
    # the timers start in the script, so "ready" before the dump is certain
    # but for a stall of 0.6 s between two lines
    proc = hang(run_py, "replace", {"FA_OUT": str(out)})
    assert proc.returncode == 0, proc
    assert proc.stderr == "", proc.stderr  # the first timer never fired
    dump = only_dump(after_ready(read_text(out)))
    check_timeout_dump(dump, "0:00:00.600000")
    assert dump.threads[0].frames[1] == (HANG, line_of(HANG, "replace"), "replace")


@pytest.mark.parametrize("reader", ["none", "slow"])
def test_cancel_while_dump_in_flight(run_py, tmp_path, reader):
    """CPython 3.12 has field reports of cancel deadlocking against a
    watchdog mid-dump; here the writer is stuck on a full pipe, or paced by
    a reader that would need some 5 s for the rest of the dump.  Without a
    reader the dump never ends: a cancel that returns did not wait for it."""
    out = tmp_path / "after.log"
    proc = hang(run_py, "cancel_in_flight", {"FA_READER": reader, "FA_OUT": str(out)}, timeout=120)
    out_lines = proc.stdout.splitlines()
    assert out_lines[1].startswith("in flight ") and int(out_lines[1].split()[2]) > 0, out_lines
    assert proc.returncode == 0, proc
    assert out_lines[2].startswith("cancel took "), out_lines
    assert out_lines[-1] == "done"
    # the re-armed watchdog still dumps
    dump = only_dump(read_text(out))
    check_timeout_dump(dump, "0:00:00.200000")
    assert dump.threads[0].frames[1] == (HANG, line_of(HANG, "after-cancel"), "cancel_in_flight")


def test_fork_child_rearms(run_py, tmp_path):
    def attempt(timeout):
        directory = tmp_path / str(timeout)
        directory.mkdir()
        proc = hang(run_py, "fork", {"PYTHONFAULTHANDLER_TIMEOUT": str(timeout),
                                     "PYTHONFAULTHANDLER_PATH": str(directory / "{pid}.log")})
        assert proc.returncode == 0, proc
        out = proc.stdout.split()
        parent, child = int(out[0]), int(out[out.index("child") + 1])
        assert sorted(os.listdir(directory)) == sorted(["%d.log" % parent, "%d.log" % child])
        texts = [after_ready(read_text(directory / ("%d.log" % pid))) for pid in (parent, child)]
        if None in texts:
            return None
        return parent, child, [only_dump(text) for text in texts]  # never two

    (parent, child, (parent_dump, child_dump)), timeout = until_ready(attempt)
    check_timeout_dump(parent_dump, header(timeout))
    check_timeout_dump(child_dump, header(timeout))
    assert parent_dump.pid == parent and child_dump.pid == child
    assert parent_dump.threads[0].frames[1] == (HANG, line_of(HANG, "parent"), "fork")
    assert child_dump.threads[0].frames[1] == (HANG, line_of(HANG, "child"), "fork")


@pytest.mark.parametrize("context", ["fork", "forkserver"])
def test_multiprocessing_child_dumps(run_py, tmp_path, context):
    def attempt(timeout):
        directory = tmp_path / str(timeout)
        directory.mkdir()
        proc = hang(run_py, "mp", {"FA_CONTEXT": context,
                                   "PYTHONFAULTHANDLER_TIMEOUT": str(timeout),
                                   "PYTHONFAULTHANDLER_PATH": str(directory / "{pid}.log")}, timeout=180)
        assert proc.returncode == 0, proc
        out = proc.stdout.split()
        child = int(out[out.index("child") + 1])
        if out[-1] != "0":
            # killed after waiting: only right if the timer of the process it
            # was forked from (the parent, or the forkserver) had already
            # fired when it forked
            forked_from = [p for p in directory.glob("*.log") if p.name != "%d.log" % child]
            assert any(split_dumps(read_text(p)) for p in forked_from), proc.stdout
            return None
        after = after_ready(read_text(directory / ("%d.log" % child)))
        return None if after is None else (child, only_dump(after))

    (child, dump), timeout = until_ready(attempt)
    check_timeout_dump(dump, header(timeout))
    assert dump.pid == child
    assert dump.threads[0].frames[1] == (HANG, line_of(HANG, "worker"), "hang_worker")


@pytest.mark.parametrize("flag", ["-I", "-E"])
def test_isolated_mode_has_no_watchdog(run_py, flag):
    proc = hang(run_py, "nap", {"PYTHONFAULTHANDLER_TIMEOUT": "0.2",
                                "PYTHONFAULTHANDLER_EXIT": "1"}, args=(flag,))
    assert proc.returncode == 0, proc
    assert proc.stdout.split("\n")[1] == "[]", proc.stdout
    assert proc.stderr == ""


# Signal dumps spend the whole byte budget (RATE_BYTES=1: the first dump
# spends it, the next are skipped), then a timeout that ends the process
# fires: the process timer or a named watchdog, with exit.
BUDGET_SPENT_THEN_EXIT = """
import signal, threading, time
import faulthandler_auto
for _ in range(3):
    signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
{arm}
time.sleep(60)
"""


@pytest.mark.parametrize("arm", [
    "faulthandler_auto.dump_traceback_later(0.2, exit=True)",
    "faulthandler_auto.watchdog('job', 0.2, exit=True).start()",
], ids=["timer", "watchdog"])
def test_exit_dump_is_written_over_the_budget(run_py, arm):
    """A dump that ends the process is its last word: the byte budget the
    signal dumps used up does not skip it."""
    proc = run_py(BUDGET_SPENT_THEN_EXIT.format(arm=arm),
                  env={"PYTHONFAULTHANDLER_SIGNAL": "USR1", "PYTHONFAULTHANDLER_RATE_BYTES": "1"})
    assert proc.returncode == 1, proc
    signal_dump, exit_dump = split_dumps(proc.stderr)
    assert signal_dump.timeout is None, proc.stderr
    assert exit_dump.timeout == "0:00:00.200000", proc.stderr
    assert exit_dump.threads[0].frames[0][2] == "<module>", proc.stderr

