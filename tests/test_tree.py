"""Process-tree dumps (issue 17): with PYTHONFAULTHANDLER_TREE=1 a timeout dump
first asks every descendant that runs the hook to dump, each to its own
destination, and lists every descendant with what became of it.  Real hung
trees from the installed wheel; every descendant says it is ready before
the top process arms its timeout (tests/scripts/tree.py)."""
import json
import os
import re
import signal
import shutil
import subprocess
import tempfile

import pytest

from conftest import clean_environ
from dumps import alive, json_dumps, script, split_dumps, wait_for
from test_fallback import fallback_python, no_compiler_build  # noqa: F401 (fixtures)
from test_pytest import HAVE_XDIST, pytest_python, project, run_pytest, start_up  # noqa: F401 (fixtures)

TREE = script("tree.py")
ENTRY_RE = re.compile(r"^  pid (\d+) \(parent (\d+), (\S)\) (.*): (dumped to .*|no hook|no answer in [\d.]+ s"
                      r"|stopped, not asked|zombie, not asked|exited before answering"
                      r"|not asked: the total wait was spent)$")


@pytest.fixture
def tree(venv_python, tmp_path):
    """run(mode, env) runs tests/scripts/tree.py as the top of a tree, its
    stdout and stderr in files (its orphans keep them open); every process
    it started is killed afterwards, by pid."""
    started = []
    scratch = tempfile.mkdtemp(prefix="fa-tree-")

    def run(mode, env=None):
        # TMPDIR: the forkserver's socket directory, which a tree ended by
        # its watchdog leaves behind, goes where it is removed afterwards
        # (short: a socket's path has at most 107 bytes)
        environ = {"PYTHONFAULTHANDLER_TREE": "1", "FA_MODE": mode, "FA_DIR": str(tmp_path),
                   "TMPDIR": scratch}
        environ.update(env or {})
        with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
            proc = subprocess.Popen([str(venv_python), TREE], env=clean_environ(environ),
                                    stdout=out, stderr=err, start_new_session=True)
        started.append(proc.pid)
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr = (tmp_path / "stderr").read_text(errors="replace")
        pids = json.loads((tmp_path / "pids.json").read_text()) if (tmp_path / "pids.json").exists() else {}
        return proc, stderr, pids

    yield run
    # the session of each top process holds its whole tree (setsid: none of them leaves it)
    for sid in started:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getsid(int(entry)) == sid:
                        os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
    shutil.rmtree(scratch, ignore_errors=True)


def tree_lines(text):
    """The descendant lines of the dump's "Process tree" section, by pid."""
    head = "Process tree (PYTHONFAULTHANDLER_TREE): "
    assert head in text, text
    lines = text.split(head, 1)[1].splitlines()[1:]
    entries = {}
    for line in lines:
        m = ENTRY_RE.match(line)
        if not m:
            break
        entries[int(m.group(1))] = (int(m.group(2)), m.group(4), m.group(5))
    return entries


def asked_by(dump, pid):
    return "Timeout (process tree: asked by pid %d)!" % pid in dump.header


def dump_of(dumps, pid):
    found = [d for d in dumps if d.pid == pid]
    assert len(found) == 1, (pid, dumps)
    return found[0]


def function_names(dump):
    return {f[2] for t in dump.threads for f in t.frames}


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_with_a_stuck_worker(tree, tmp_path, method, run_py):
    """Each process dumps to its own file ({pid}); the top's dump says where."""
    logs = tmp_path / "logs"
    logs.mkdir()
    proc, stderr, pids = tree("pool-" + method, {"PYTHONFAULTHANDLER_PATH": str(logs / "{pid}.log")})
    assert proc.returncode == 1, stderr
    top = (logs / ("%d.log" % proc.pid)).read_text()
    top_dump, = split_dumps(top)
    assert top_dump.timeout == "0:00:00.500000"
    entries = tree_lines(top)
    worker = pids["worker"]
    assert worker in entries, top
    worker_log = logs / ("%d.log" % worker)
    assert entries[worker][2] == "dumped to %s" % worker_log, top
    worker_dump, = split_dumps(worker_log.read_text())
    assert asked_by(worker_dump, proc.pid), worker_dump.header
    assert {"stuck_worker", "deadlock"} <= function_names(worker_dump), worker_dump.text
    # every other descendant (the idle workers, forkserver, resource tracker)
    # runs the hook too, and dumped to its own file
    for pid, (ppid, command, result) in entries.items():
        assert result == "dumped to %s" % (logs / ("%d.log" % pid)), top
    if method == "forkserver":
        assert entries[worker][0] != proc.pid      # a grandchild: the forkserver's child
    assert stderr == "", stderr
    # `faulthandler-auto report` counts every one of them as a timeout dump
    proc = run_py("import sys; from faulthandler_auto.cli import main; "
                  "sys.exit(main(['report', '--json', %r]))" % str(logs))
    report = json.loads(proc.stdout)
    assert report["dumps"] == len(entries) + 1, proc.stdout
    assert {g["event"] for g in report["groups"]} == {"timeout"}, proc.stdout


def test_subprocess_tree_three_levels(tree):
    """A grandchild that hangs is dumped; `sleep` and `python -S` are listed
    as having no hook and left alone; every dump comes before the top's."""
    proc, stderr, pids = tree("subprocess")
    assert proc.returncode == 1, stderr
    dumps = split_dumps(stderr)
    top = dump_of(dumps, proc.pid)
    assert dumps[-1] is top, stderr
    entries = tree_lines(top.text + stderr.split(top.text, 1)[1])
    middle, leaf, sleep, bare = pids["middle"], pids["leaf"], pids["sleep"], pids["bare"]
    assert entries[middle][0] == proc.pid and entries[middle][2].startswith("dumped to stderr"), stderr
    assert entries[leaf][0] == middle and entries[leaf][2].startswith("dumped to stderr"), stderr
    assert entries[sleep] == (proc.pid, "sleep 3600", "no hook"), stderr
    assert entries[bare][0] == proc.pid and entries[bare][2] == "no hook", stderr
    assert " -S -c " in entries[bare][1]
    assert set(entries) == {middle, leaf, sleep, bare}, stderr
    leaf_dump = dump_of(dumps, leaf)
    assert asked_by(leaf_dump, proc.pid)
    assert {"leaf_hangs", "deadlock"} <= function_names(leaf_dump), leaf_dump.text
    assert "middle_waits" in function_names(dump_of(dumps, middle))
    # breadth first: the children, then the grandchild
    assert dumps.index(dump_of(dumps, middle)) < dumps.index(leaf_dump)
    # left alone: neither was sent anything
    assert alive(sleep) and alive(bare)


def test_subprocess_tree_json(tree):
    proc, stderr, pids = tree("subprocess", {"PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == 1, stderr
    dumps = json_dumps(stderr)
    by_pid = {d["pid"]: d for d in dumps}
    assert set(by_pid) == {proc.pid, pids["middle"], pids["leaf"]}, stderr
    assert dumps[-1]["pid"] == proc.pid
    assert by_pid[pids["leaf"]]["timeout"] == "Timeout (process tree: asked by pid %d)!" % proc.pid
    assert "tree" not in by_pid[pids["leaf"]]
    descendants = {d["pid"]: d for d in dumps[-1]["tree"]["descendants"]}
    assert dumps[-1]["tree"]["omitted"] == 0
    assert descendants[pids["sleep"]]["result"] == "no_hook"
    assert descendants[pids["sleep"]]["command"] == "sleep 3600"
    assert descendants[pids["sleep"]]["where"] is None
    assert descendants[pids["bare"]]["result"] == "no_hook"
    for name in ("middle", "leaf"):
        entry = descendants[pids[name]]
        assert entry["result"] == "dumped" and entry["where"].startswith("stderr"), entry
        assert entry["state"] in ("S", "D", "R"), entry
    assert descendants[pids["leaf"]]["ppid"] == pids["middle"]


def test_stopped_and_zombie_children_are_listed_not_asked(tree, tmp_path):
    """A stopped child that runs the hook is listed, not asked: continued
    after the top has gone, it never dumps.  A zombie is listed too."""
    proc, stderr, pids = tree("stopped")
    assert proc.returncode == 1, stderr
    stopped = pids["stopped"]
    dumps = split_dumps(stderr)
    assert [d.pid for d in dumps] == [proc.pid], stderr
    entries = tree_lines(stderr)
    assert entries[stopped][2] == "stopped, not asked", stderr
    ppid, command, result = entries[pids["zombie"]]
    # a zombie has no command line left: its name, in brackets
    assert (ppid, command[:7], result) == (proc.pid, "[python", "zombie, not asked"), stderr
    os.kill(stopped, signal.SIGCONT)
    assert wait_for(lambda: not alive(stopped), timeout=60), "the continued child did not end"
    stderr = (tmp_path / "stderr").read_text()
    assert stderr.endswith("continued\n"), stderr
    assert [d.pid for d in split_dumps(stderr)] == [proc.pid], stderr


def test_child_that_never_answers_is_waited_for_a_bounded_time(tree):
    """The wait for one answer is TREE_WAIT (5 s); the top then goes on to
    its own dump and its EXIT."""
    proc, stderr, pids = tree("blocked")
    assert proc.returncode == 1, stderr
    assert [d.pid for d in split_dumps(stderr)] == [proc.pid], stderr
    result = tree_lines(stderr)[pids["blocked"]][2]
    m = re.match(r"^no answer in (\d+\.\d) s$", result)
    assert m and float(m.group(1)) >= 5.0, result
    assert alive(pids["blocked"])


def test_status_says_tree_is_on(run_py):
    code = "from faulthandler_auto.cli import main; main(['status'])"
    proc = run_py(code, env={"PYTHONFAULTHANDLER_TREE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert ("process tree: a timeout dump first has each descendant that runs the hook dump, "
            "and this process dumps when an ancestor's timeout asks it") in proc.stdout
    assert "process tree" not in run_py(code).stdout


def test_signal_without_cookie_is_ignored_not_fatal(run_py):
    """SIGRTMAX-3 not sent as a request (kill, no cookie) neither dumps nor
    ends a process with TREE; without TREE its default action is back."""
    code = ("import os, signal\n"
            "os.kill(os.getpid(), signal.SIGRTMAX - 3)\n"
            "print('alive')\n")
    proc = run_py(code, env={"PYTHONFAULTHANDLER_TREE": "1"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "alive\n", "")
    proc = run_py(code)
    assert proc.returncode == -(signal.SIGRTMAX - 3), proc


TREE_SIGNAL_LINE = ("faulthandler-auto: PYTHONFAULTHANDLER_SIGNAL entry %d ignored: with "
                    "PYTHONFAULTHANDLER_TREE on, SIGRTMAX-3 is the process-tree request signal"
                    % (signal.SIGRTMAX - 3))


@pytest.mark.parametrize("value", [str(signal.SIGRTMAX - 3), "USR1,%d" % (signal.SIGRTMAX - 3)])
def test_signal_naming_the_tree_signal_is_dropped(run_py, value):
    """SIGNAL may not take the tree's request signal from TREE: one line
    says so, the other entries still apply, and the signal stays the
    tree's (sent without a request's cookie it neither dumps nor kills)."""
    code = ("import os, signal\n"
            "os.kill(os.getpid(), signal.SIGRTMAX - 3)\n"
            "print('alive')\n")
    proc = run_py(code, env={"PYTHONFAULTHANDLER_TREE": "1", "PYTHONFAULTHANDLER_SIGNAL": value})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "alive\n", TREE_SIGNAL_LINE + "\n"), proc
    if value.startswith("USR1"):
        proc = run_py("import os, signal; os.kill(os.getpid(), signal.SIGUSR1); print('alive')",
                      env={"PYTHONFAULTHANDLER_TREE": "1", "PYTHONFAULTHANDLER_SIGNAL": value})
        assert (proc.returncode, proc.stdout) == (0, "alive\n"), proc
        assert proc.stderr.startswith(TREE_SIGNAL_LINE + "\n"), proc.stderr
        (dump,) = split_dumps(proc.stderr[len(TREE_SIGNAL_LINE) + 1:])
        assert dump.threads[0].frames[-1][2] == "<module>", proc.stderr


def test_status_reports_the_tree_signal_in_signal(run_py):
    code = "from faulthandler_auto.cli import main; main(['status'])"
    proc = run_py(code, env={"PYTHONFAULTHANDLER_TREE": "1",
                             "PYTHONFAULTHANDLER_SIGNAL": str(signal.SIGRTMAX - 3)})
    assert TREE_SIGNAL_LINE[len("faulthandler-auto: "):] in proc.stdout, proc
    assert "on demand: nothing" in proc.stdout, proc.stdout
    # without TREE the signal is an ordinary one to dump on
    proc = run_py(code, env={"PYTHONFAULTHANDLER_SIGNAL": str(signal.SIGRTMAX - 3)})
    assert "process-tree request signal" not in proc.stdout, proc
    assert "on demand: dump on " in proc.stdout, proc.stdout


API_TREE_SIGNAL = """
import signal
import faulthandler_auto as f
tree = signal.SIGRTMAX - 3
f.{first}
try:
    f.{second}
except RuntimeError as exc:
    print(exc)
else:
    print("accepted")
f.{undo}
f.{second}
print("after undo: accepted")
"""


@pytest.mark.parametrize("first,second,undo,refusal", [
    ("set_tree(True)", "register(tree)", "set_tree(False)",
     "signal %d is the process-tree request signal (SIGRTMAX-3) while set_tree() is on: "
     "it cannot be registered"),
    ("register(tree)", "set_tree(True)", "unregister(tree)",
     "set_tree() asks with signal %d (SIGRTMAX-3), which is registered: unregister() it first"),
], ids=["register-while-tree", "tree-while-registered"])
def test_api_refuses_the_tree_signal_while_tree_is_on(run_py, first, second, undo, refusal):
    """As CPython refuses to register a fatal signal: RuntimeError, and the
    call is accepted once the other is undone."""
    proc = run_py(API_TREE_SIGNAL.format(first=first, second=second, undo=undo))
    assert proc.returncode == 0 and proc.stderr == "", proc
    assert proc.stdout == refusal % (signal.SIGRTMAX - 3) + "\nafter undo: accepted\n", proc.stdout


def test_fallback_mode_says_tree_is_not_applied(run_py, fallback_python):
    proc = run_py("print('ran')", python=fallback_python, env={"PYTHONFAULTHANDLER_TREE": "1"})
    assert proc.returncode == 0 and proc.stdout == "ran\n", proc
    line, = proc.stderr.splitlines()
    assert line.startswith("faulthandler-auto: PYTHONFAULTHANDLER_TREE not applied: fallback mode ("), line
    assert line.endswith("): the interpreter's faulthandler cannot dump a process tree"), line


# --- pytest-xdist -------------------------------------------------------------

@pytest.mark.skipif(not HAVE_XDIST, reason="pytest-xdist is not installed")
def test_xdist_controller_timeout_dumps_the_hung_worker(pytest_python, project, start_up):
    """With TREE the controller keeps its TIMEOUT (the workers cancel
    theirs): its dump first has each worker dump, the hung one naming its
    test, then lists them; EXIT ends the run."""
    period = "%.1f" % (3 * start_up + 1)
    proc = run_pytest(pytest_python, project, "-n", "2", "tests/test_hang.py::test_hang",
                      env={"PYTHONFAULTHANDLER_TIMEOUT": period, "PYTHONFAULTHANDLER_EXIT": "1",
                           "PYTHONFAULTHANDLER_TREE": "1"})
    try:
        assert proc.returncode == 1, proc
        dumps = split_dumps(proc.stderr)
        controller = dumps[-1]
        assert controller.timeout is not None, proc.stderr
        entries = tree_lines(proc.stderr.split("Timeout (%s)!" % controller.timeout, 1)[1])
        workers = {d.pid: d for d in dumps[:-1]}
        assert len(workers) == 2 and set(workers) <= set(entries), proc.stderr
        hung = [d for d in workers.values()
                if re.match(r"^\[gw[01]\] tests/test_hang.py::test_hang \(call\)$", d.context or "")]
        assert len(hung) == 1, proc.stderr
        assert asked_by(hung[0], controller.pid)
        assert "test_hang" in function_names(hung[0])
        for pid in workers:
            assert entries[pid][0] == controller.pid and entries[pid][2].startswith("dumped to stderr")
    finally:
        # the hung worker outlives its controller (EXIT): end it, by pid
        for pid in re.findall(r"^  pid (\d+) \(parent ", proc.stderr, re.M):
            if alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)
