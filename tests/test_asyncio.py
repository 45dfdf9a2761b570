"""asyncio task chains in dumps (issue 17): for each thread running an event
loop, its tasks, their state and their await chains, read in C without
running Python.  Each hung program (scripts/asyncio_hang.py) first prints
what asyncio itself says about its tasks (asyncio.all_tasks(), cr_await),
and the dump must say the same: that proves the task and coroutine layouts
the core assumes (src/core/taskcompat.h) on this interpreter."""
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from dumps import (RETURNCODES, check_well_formed, json_dumps, line_of, only_dump, read_text,
                   script, spawn, split_dumps, wait_for)

HANG = script("asyncio_hang.py")
P = "PYTHONFAULTHANDLER"
# the thread of each loop the script describes
THREAD_NAMES = {"main": "MainThread", "side": "side-loop"}
# generous bounds for a loaded machine; a pass never waits for them
WAIT = 120


def expected_and_rest(stdout):
    """The script's JSON line (what asyncio says) and what follows "ready"."""
    first, ready, rest = stdout.partition("\nready\n")
    assert ready, stdout
    return json.loads(first), rest


def type_name(tp_name):
    """A type's tp_name as asyncio's type(x).__name__ has it."""
    return tp_name.rsplit(".", 1)[-1]


def text_tasks(loop):
    return {t.name: {"state": t.state,
                     "frames": [list(f) for f in t.chain.frames],
                     "awaiting": type_name(t.awaiting) if t.awaiting else None,
                     "awaiting_task": t.awaiting_task}
            for t in loop.tasks}


def json_tasks(loop):
    return {t["name"]: {"state": t["state"],
                        "frames": [[f["file"], f["line"], f["function"]] for f in t["frames"]],
                        "awaiting": type_name(t["awaiting"]["type"]) if t["awaiting"] else None,
                        "awaiting_task": t["awaiting"]["task"] if t["awaiting"] else None}
            for t in loop["tasks"]}


def check_text(dump, expected):
    check_well_formed(dump)
    assert {loop.name for loop in dump.loops} == {THREAD_NAMES[k] for k in expected}, dump.text
    by_name = {loop.name: loop for loop in dump.loops}
    for key, tasks in expected.items():
        loop = by_name[THREAD_NAMES[key]]
        assert loop.total == len(tasks), dump.text
        assert loop.tasks_omitted is None
        assert text_tasks(loop) == tasks, dump.text
        thread = dump.thread_named(THREAD_NAMES[key])
        assert loop.ident == thread.ident
        assert not any(t.running for t in loop.tasks), dump.text
    return by_name


def check_json(dump, expected):
    by_name = {loop["thread_name"]: loop for loop in dump["asyncio"]}
    assert set(by_name) == {THREAD_NAMES[k] for k in expected}, dump
    threads = {t["name"]: t["id"] for t in dump["threads"]}
    for key, tasks in expected.items():
        loop = by_name[THREAD_NAMES[key]]
        assert loop["thread"] == threads[THREAD_NAMES[key]]
        assert loop["tasks_total"] == len(tasks)
        assert loop["tasks_omitted"] == 0
        assert json_tasks(loop) == tasks, loop
        assert all(t["frames_omitted"] == 0 and not t["running"] for t in loop["tasks"])
    return by_name


def check_service(tasks):
    """What someone debugging the README's service reads in the dump."""
    assert tasks["holder"]["frames"][0] == [HANG, line_of(HANG, "hold"), "hold"]
    for user in ("user-0", "user-1"):
        chain = tasks[user]["frames"]
        assert chain[0] == [HANG, line_of(HANG, "use"), "use"]
        assert chain[-1][2] == "acquire" and chain[-1][0].endswith(os.sep + "locks.py"), chain
        assert tasks[user]["awaiting"] == "Future"
    assert tasks["gatherer"]["frames"] == [[HANG, line_of(HANG, "gather"), "gatherer"]]
    assert tasks["gatherer"]["awaiting"] == "_GatheringFuture"
    # the cancelled task, hung in its cleanup: 3.11+ count the cancellation
    assert tasks["doomed"]["frames"][0] == [HANG, line_of(HANG, "cleanup"), "stubborn"]
    assert tasks["doomed"]["state"] == ("cancelling" if sys.version_info >= (3, 11) else "pending")
    if sys.version_info >= (3, 11):
        assert tasks["group"]["frames"][0] == [HANG, line_of(HANG, "group"), "in_group"]
        assert tasks["grouped"]["frames"][0] == [HANG, line_of(HANG, "leaf"), "leaf"]
    main = [t for name, t in tasks.items() if t["frames"][0][2] == "main"]
    assert len(main) == 1 and main[0]["frames"][0] == [HANG, line_of(HANG, "main"), "main"]


def run_hang(run_py, scenario, trigger, env=None):
    environ = {"FA_SCENARIO": scenario, "FA_TRIGGER": trigger}
    environ.update(env or {})
    return run_py(HANG, env=environ, timeout=WAIT)


def test_service_timeout_text(run_py):
    proc = run_hang(run_py, "service", "timeout")
    assert proc.returncode == 1, proc
    expected, _ = expected_and_rest(proc.stdout)
    dump = only_dump(proc.stderr)
    assert dump.timeout is not None
    loops = check_text(dump, expected)
    check_service(text_tasks(loops["MainThread"]))
    # newest thread first, as the interpreter lists them
    assert [loop.name for loop in dump.loops] == ["side-loop", "MainThread"]


def test_service_timeout_json(run_py):
    proc = run_hang(run_py, "service", "timeout", {P + "_FORMAT": "json"})
    assert proc.returncode == 1, proc
    expected, _ = expected_and_rest(proc.stdout)
    (dump,) = json_dumps(proc.stderr)
    assert dump["event"] == "timeout"
    loops = check_json(dump, expected)
    check_service(json_tasks(loops["MainThread"]))


def read_lines(proc, count):
    """The next `count` lines of proc's stdout; a script that never writes
    them fails the test after WAIT seconds instead of hanging it."""
    lines = []

    def read():
        for _ in range(count):
            lines.append(proc.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(WAIT)
    assert len(lines) == count, "the script wrote %r, then nothing for %d s: %s" % (
        lines, WAIT, proc.stderr.read() if proc.poll() is not None else "still running")
    return lines


@pytest.fixture
def signalled(venv_python, tmp_path):
    """start(scenario, env): the script waiting for USR1 and USR2 (which
    dump to a file) once every loop is parked; returns (process, what
    asyncio said, the dump file)."""
    procs = []

    def start(scenario, env=None):
        out = tmp_path / "dumps.log"
        environ = {"FA_SCENARIO": scenario, "FA_TRIGGER": "signal", P + "_PATH": str(out),
                   P + "_SIGNAL": "USR1,USR2"}
        environ.update(env or {})
        proc = spawn(str(venv_python), HANG, environ, stdin=subprocess.DEVNULL)
        procs.append(proc)
        first, ready = read_lines(proc, 2)
        assert ready == "ready\n", (first, ready)
        return proc, json.loads(first), out

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_service_sigusr1_json(signalled):
    proc, expected, out = signalled("service", {P + "_FORMAT": "json"})
    os.kill(proc.pid, signal.SIGUSR1)
    # a JSON dump is one line: whole once its newline is there
    assert wait_for(lambda: read_text(out).endswith("}\n"), WAIT), read_text(out)
    (dump,) = json_dumps(read_text(out))
    assert dump["event"] == "signal" and dump["signal"] == "SIGUSR1"
    loops = check_json(dump, expected)
    check_service(json_tasks(loops["MainThread"]))


def test_service_sigusr1_text(signalled):
    proc, expected, out = signalled("service")
    os.kill(proc.pid, signal.SIGUSR1)
    assert wait_for(lambda: "Process: pid" in read_text(out), WAIT), read_text(out)
    # dumps never interleave: once SIGUSR2's has begun, SIGUSR1's is whole
    os.kill(proc.pid, signal.SIGUSR2)
    assert wait_for(lambda: read_text(out).count("Process: pid") == 2, WAIT), read_text(out)
    first = split_dumps(read_text(out))[0]
    assert first.signal.group(1) == "SIGUSR1", first.text
    loops = check_text(first, expected)
    check_service(text_tasks(loops["MainThread"]))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_thousand_tasks_capped_like_frames(run_py, fmt):
    """1,000 tasks: max_frames of them shown, the rest counted exactly."""
    proc = run_hang(run_py, "many", "timeout", {P + "_MAX_FRAMES": "40", P + "_FORMAT": fmt})
    assert proc.returncode == 1, proc
    expected, _ = expected_and_rest(proc.stdout)
    tasks = expected["main"]
    assert len(tasks) == 1001
    if fmt == "json":
        (dump,) = json_dumps(proc.stderr)
        (loop,) = dump["asyncio"]
        shown = json_tasks(loop)
        assert (loop["tasks_total"], loop["tasks_omitted"]) == (1001, 961)
    else:
        dump = only_dump(proc.stderr)
        (loop,) = dump.loops
        shown = text_tasks(loop)
        assert (loop.total, loop.tasks_omitted) == (1001, 961)
    assert len(shown) == 40
    for name, task in shown.items():
        assert task == tasks[name]


def test_await_chain_capped(run_py):
    """A chain longer than max_frames: its outermost coroutines, then how
    many were left out."""
    proc = run_hang(run_py, "many", "timeout", {P + "_MAX_FRAMES": "2", "FA_TASKS": "3"})
    assert proc.returncode == 1, proc
    expected, _ = expected_and_rest(proc.stdout)
    (loop,) = only_dump(proc.stderr).loops
    assert loop.total == 4 and loop.tasks_omitted == 2
    for task in loop.tasks:
        full = expected["main"][task.name]["frames"]
        assert [list(f) for f in task.chain.frames] == full[:2]
        assert len(full) == 3 or task.name == "Task-1"
        assert (task.chain.frames_omitted or 0) == len(full) - 2


@pytest.mark.parametrize("value", [None, "1"])
def test_crash_in_coroutine(run_py, value):
    """Fatal dumps list no tasks unless PYTHONFAULTHANDLER_ASYNCIO=1."""
    env = {P: "1"}
    if value:
        env[P + "_ASYNCIO"] = value
    proc = run_hang(run_py, "crash", "crash", env)
    assert proc.returncode == RETURNCODES["SIGSEGV"], proc
    dump = only_dump(proc.stderr)
    assert dump.fatal_error == "Segmentation fault"
    assert dump.current.frames[0].function == "string_at"
    assert dump.current.frames[1:3] == [(HANG, line_of(HANG, "crash"), "crash"),
                                        (HANG, line_of(HANG, "crashing"), "crashing")]
    if value is None:
        assert dump.loops == [] and "Asyncio" not in proc.stderr
        return
    (loop,) = dump.loops
    assert loop.name == "MainThread"
    tasks = {t.name: t for t in loop.tasks}
    crasher = tasks["crasher"]
    assert crasher.running and crasher.state == "pending"
    assert crasher.chain.frames == [(HANG, line_of(HANG, "crashing"), "crashing")]
    (main,) = [t for t in loop.tasks if t.name != "crasher"]
    assert main.awaiting == "_asyncio.Task" and main.awaiting_task == "crasher"
    assert main.chain.frames[0] == (HANG, line_of(HANG, "await-crasher"), "main")


@pytest.mark.parametrize("env", [{P + "_ASYNCIO": "0"}, {P + "_FORMAT": "cpython"}])
def test_no_section(run_py, env):
    """PYTHONFAULTHANDLER_ASYNCIO=0, and CPython's format, list no tasks."""
    proc = run_hang(run_py, "service", "timeout", env)
    assert proc.returncode == 1, proc
    assert "Asyncio tasks" not in proc.stderr
    assert split_dumps(proc.stderr)[0].loops == []


def test_bad_value_is_ignored(run_py):
    proc = run_hang(run_py, "many", "timeout", {P + "_ASYNCIO": "maybe", "FA_TASKS": "1"})
    assert proc.returncode == 1, proc
    assert proc.stderr.startswith("faulthandler-auto: %s_ASYNCIO='maybe' ignored: " % P)
    (loop,) = only_dump(proc.stderr.split("\n", 1)[1]).loops
    assert loop.total == 2
