"""Per-thread state (issue 17): each thread's kernel id, scheduler state,
CPU time and whether it holds the GIL, in text ("State of thread" lines
after the frames) and JSON (members of each thread), and "GC running" in
the dump's header.  Scenarios in scripts/thread_state.py park each thread
where its state is certain before the dump."""
import json
import signal
import sys

import pytest

from dumps import check_well_formed, json_dumps, line_of, only_dump, script, split_dumps

SCRIPT = script("thread_state.py")
PARKED = ("deadlock-a", "deadlock-b", "sleeper")
# timeouts tried in turn until the main thread was parked before the dump
TIMEOUTS = (0.5, 1, 2, 4, 8)


def run(run_py, mode, env=None, spin=False):
    """The scenario with the hook started (PYTHONFAULTHANDLER=1), so that
    before 3.11 the thread registry notes each thread's id as it starts.

    A parked thread stands on its blocking call's line a moment before it
    blocks, and may still wait for the GIL there; a thread waiting for the
    GIL wakes every 5 ms (the switch interval) and may then show R.  A dump
    that caught a parked thread so is not what the test looks at: the
    scenario runs again, up to 5 times."""
    environ = {"FA_MODE": mode, "FA_SPIN": "1" if spin else "0", "PYTHONFAULTHANDLER": "1"}
    environ.update(env or {})
    for _ in range(5):
        proc = run_py(SCRIPT, env=environ, timeout=120)
        if mode == "timeout" or parked_asleep(proc.stderr):
            break
    return proc


def parked_asleep(text):
    """Every parked thread of the dump in `text` sleeps (or its state is unknown)."""
    if text.startswith("{"):
        states = [t.get("state") for d in json_dumps(text) for t in d["threads"]
                  if t["name"] in PARKED]
    else:
        states = [d.states[t.ident].state for d in split_dumps(text) for t in d.threads
                  if t.name in PARKED and t.ident in d.states]
    return all(state in ("S", None) for state in states)


def native_ids(proc):
    """The kernel thread ids the program printed, by thread name."""
    return json.loads(proc.stdout.splitlines()[0])


def text_states(dump):
    """name -> (Thread, its ThreadState) of a text dump, every thread having one."""
    found = {}
    for thread in dump.threads:
        assert thread.ident in dump.states, "no state line for %s:\n%s" % (thread.header, dump.text)
        found[thread.name] = (thread, dump.states[thread.ident])
    return found


def check_parked(states, ids):
    """The deadlocked threads and the sleeper: sleeping in C, the GIL released."""
    for name in PARKED:
        thread, st = states[name]
        assert st.tid == ids[name], (name, st)
        assert st.state == "S", (name, st)
        assert st.gil is False, (name, st)
        assert st.cpu is not None and st.cpu >= 0, (name, st)
    for name in ("deadlock-a", "deadlock-b"):
        assert states[name][0].frames[0].line == line_of(SCRIPT, "deadlocked"), states[name][0].lines
    assert states["sleeper"][0].frames[0].line == line_of(SCRIPT, "sleeping")


def test_explicit_text(run_py):
    """dump_traceback() from the main thread: it runs and holds the GIL;
    every other thread sleeps without it; each tid is the one
    threading.get_native_id() gave that thread (the main thread's is the pid)."""
    proc = run(run_py, "explicit")
    assert proc.returncode == 0, proc
    ids = native_ids(proc)
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    states = text_states(dump)
    assert sorted(states) == sorted(ids), proc.stderr
    main, st = states["MainThread"]
    assert main.current
    assert st.tid == ids["MainThread"] == dump.pid, st
    assert st.state == "R", st
    assert st.gil is True, st
    check_parked(states, ids)
    assert not dump.gc_running
    # after every frame and our trailer, where CPython's parsers do not look
    lines = proc.stderr.splitlines()
    first_state = min(i for i, line in enumerate(lines) if line.startswith("State of thread "))
    assert first_state > max(i for i, line in enumerate(lines) if line.startswith("  File "))
    assert first_state > lines.index(next(line for line in lines if line.startswith("Process: pid ")))


def test_explicit_json(run_py):
    proc = run(run_py, "explicit", {"PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == 0, proc
    ids = native_ids(proc)
    (dump,) = json_dumps(proc.stderr)
    threads = {t["name"]: t for t in dump["threads"]}
    assert sorted(threads) == sorted(ids)
    for name, t in threads.items():
        assert t["tid"] == ids[name], t
        assert isinstance(t["cpu_ms"], int) and t["cpu_ms"] >= 0, t
    main = threads["MainThread"]
    assert main["current"] and main["tid"] == dump["pid"]
    assert (main["state"], main["gil"]) == ("R", True), main
    for name in PARKED:
        assert (threads[name]["state"], threads[name]["gil"]) == ("S", False), threads[name]
    if sys.version_info >= (3, 10):
        assert dump["gc_running"] is False
    else:
        assert "gc_running" not in dump     # 3.9 does not note it


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_signal_dump(run_py, fmt):
    """A dump on a registered signal: each thread's id, and the parked ones
    asleep without the GIL, whichever thread the handler ran on."""
    proc = run(run_py, "signal", {"PYTHONFAULTHANDLER_FORMAT": fmt})
    assert proc.returncode == 0, proc
    ids = native_ids(proc)
    if fmt == "json":
        (dump,) = json_dumps(proc.stderr)
        threads = {t["name"]: t for t in dump["threads"]}
        assert {name: t["tid"] for name, t in threads.items()} == ids
        for name in PARKED:
            assert (threads[name]["state"], threads[name]["gil"]) == ("S", False), threads[name]
        return
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert dump.signal.group(1) == "SIGUSR1"
    states = text_states(dump)
    assert {name: st.tid for name, (t, st) in states.items()} == ids
    check_parked(states, ids)


def test_cpython_format_prints_nothing_new(run_py):
    proc = run(run_py, "explicit", {"PYTHONFAULTHANDLER_FORMAT": "cpython"})
    assert proc.returncode == 0, proc
    assert "State of thread" not in proc.stderr
    assert "Garbage collector" not in proc.stderr
    assert "tid" not in proc.stderr


def timeout_dump(run_py, fmt):
    """A timeout dump taken once the main thread is parked in acquire()
    and the spinner, the one thread left that wants the GIL, holds it."""
    for timeout in TIMEOUTS:
        proc = run(run_py, "timeout", {"FA_TIMEOUT": str(timeout), "PYTHONFAULTHANDLER_FORMAT": fmt},
                   spin=True)
        assert proc.returncode == 1, proc       # exit=True
        if fmt == "json":
            (dump,) = json_dumps(proc.stderr)
            main = dump["threads"][0]
            ready = (main["frames"][0]["line"] == line_of(SCRIPT, "parked") and main["state"] == "S"
                     and any(t["gil"] for t in dump["threads"]))
        else:
            dump = only_dump(proc.stderr)
            main = dump.threads[0]
            st = dump.states.get(main.ident)
            ready = (main.frames[0].line == line_of(SCRIPT, "parked") and st is not None
                     and st.state == "S" and any(s.gil for s in dump.states.values()))
        if ready and parked_asleep(proc.stderr):
            return proc, dump
    pytest.fail("the main thread was never parked (or the spinner never had the GIL) "
                "before the dump, even with a %s s timeout:\n%s" % (timeout, proc.stderr))


def test_timeout_text(run_py):
    """A timeout dump (written by the watchdog, which holds no GIL): the
    spinner runs and holds the GIL and has used the CPU it measured
    itself; the parked threads sleep without it."""
    proc, dump = timeout_dump(run_py, "text")
    check_well_formed(dump)
    ids = native_ids(proc)
    states = text_states(dump)
    assert sorted(states) == sorted(ids)
    thread, st = states["spinner"]
    assert st.tid == ids["spinner"]
    assert (st.state, st.gil) == ("R", True), st
    # /proc counts whole clock ticks: allow one (10 ms at most) less
    assert st.cpu >= 0.3 - 0.01, st
    main, st = states["MainThread"]
    assert (st.tid, st.state, st.gil) == (dump.pid, "S", False), st
    check_parked(states, ids)
    assert sum(1 for s in dump.states.values() if s.gil) == 1


def test_timeout_json(run_py):
    proc, dump = timeout_dump(run_py, "json")
    ids = native_ids(proc)
    threads = {t["name"]: t for t in dump["threads"]}
    assert {name: t["tid"] for name, t in threads.items()} == ids
    spinner = threads["spinner"]
    assert (spinner["state"], spinner["gil"]) == ("R", True), spinner
    assert spinner["cpu_ms"] >= 300 - 10
    for name in PARKED + ("MainThread",):
        assert (threads[name]["state"], threads[name]["gil"]) == ("S", False), threads[name]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_gc_running_in_header(run_py, fmt):
    """A crash inside a gc callback: the collector runs (3.10+; 3.9 does
    not note it), and the crashing thread holds the GIL."""
    proc = run(run_py, "gc", {"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_FORMAT": fmt})
    assert proc.returncode == -signal.SIGSEGV, proc
    ids = native_ids(proc)
    if fmt == "json":
        (dump,) = json_dumps(proc.stderr)
        if sys.version_info >= (3, 10):
            assert dump["gc_running"] is True
        else:
            assert "gc_running" not in dump
        current = [t for t in dump["threads"] if t["current"]]
        assert [(t["name"], t["tid"], t["gil"]) for t in current] == [
            ("MainThread", ids["MainThread"], True)]
        return
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert dump.gc_running == (sys.version_info >= (3, 10)), dump.text
    if dump.gc_running:
        # ours, after the Process line
        index = dump.header.index("Garbage collector: running")
        assert dump.header[index - 1].startswith("Process: pid ")
    states = text_states(dump)
    assert states["MainThread"][1].gil is True
    check_parked(states, ids)


def test_unknown_tid_is_omitted(run_py):
    """Without the hook, the first dump prepares the package after the
    threads started: before 3.11 nothing noted their ids, so their lines say
    what is known (the GIL) and no tid, state or CPU time; 3.11+ read the id
    from each thread state.  The main thread's id is the pid either way."""
    proc = run(run_py, "explicit", {"PYTHONFAULTHANDLER": ""})
    assert proc.returncode == 0, proc
    ids = native_ids(proc)
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    states = text_states(dump)
    assert states["MainThread"][1].tid == ids["MainThread"]
    for name in PARKED:
        st = states[name][1]
        if sys.version_info >= (3, 11):
            assert (st.tid, st.state) == (ids[name], "S"), st
        else:
            assert (st.tid, st.state, st.cpu, st.gil) == (None, None, None, False), st


def test_one_thread_dump(run_py):
    """all_threads=False (the "Stack" block): the calling thread's state only."""
    code = ("import sys, threading, faulthandler_auto\n"
            "print(threading.get_native_id(), flush=True)\n"
            "faulthandler_auto.dump_traceback(sys.stderr, all_threads=False)\n")
    proc = run_py(code)
    assert proc.returncode == 0, proc
    dump = only_dump(proc.stderr)
    assert dump.stack is not None and not dump.threads
    (st,) = dump.states.values()
    assert (st.tid, st.state, st.gil) == (int(proc.stdout), "R", True)
    assert not split_dumps(proc.stdout)
