"""The path template fields of issue #18: {env:NAME} (a variable's value,
read once when the destination is set, made safe for a file name) and
{worker}/{prog} in multiprocessing children.  Hostile values go through the
core's expander, the fallback's, and real interpreters at start-up."""
import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faulthandler_auto import _facts, _fallback, _native
from faulthandler_auto.config import parse

from conftest import clean_environ

P = "PYTHONFAULTHANDLER"
CRASH = "import ctypes; ctypes.string_at(0)"

# value of the variable (bytes) -> the file name part the core makes of it
HOSTILE_VALUES = [
    (b"job-42", b"job-42"),
    (b"../../etc/passwd", b"_._.._etc_passwd"),
    (b".", b"_"),
    (b"..", b"_."),
    (b"/", b"_"),
    (b"a\nb\x01c\x7fd\te", b"a_b_c_d_e"),
    (b"{pid}", b"_pid_"),
    (b"}{", b"__"),
    (b" spaced out ", b" spaced out "),
    (b"x" * 300, b"x" * _facts.ENV_VALUE_MAX),
    # a cut inside a two-byte character leaves the whole character out
    (b"a" + "\u00e9".encode() * 100, b"a" + "\u00e9".encode() * 63),
    (b"\xff\xfe", b"\xff\xfe"),
    (b"", _facts.ENV_UNSET.encode()),
]


def test_env_facts_agree_with_the_core():
    assert (_native.ENV_FIELD, _native.ENV_NAME_MAX, _native.ENV_VALUE_MAX, _native.ENV_UNSET) == (
        _facts.ENV_FIELD, _facts.ENV_NAME_MAX, _facts.ENV_VALUE_MAX, _facts.ENV_UNSET)


@pytest.mark.parametrize("value, expected", HOSTILE_VALUES)
def test_core_and_fallback_make_the_same_safe_name(monkeypatch, value, expected):
    """What a dump would open (the CLI's view: the core's expander) and what
    the fallback opens, for the same hostile value."""
    monkeypatch.setitem(os.environb, b"FA_TEST_JOB", value)
    template = b"/d/{env:FA_TEST_JOB}.log"
    assert _native.expand_path(template, 1, 1, b"p", 0) == b"/d/" + expected + b".log"
    assert _fallback.expand_path(template, 1, 1, b"p", 0) == b"/d/" + expected + b".log"


def test_unset_variable_gives_the_placeholder(monkeypatch):
    monkeypatch.delitem(os.environ, "FA_TEST_NOPE", raising=False)
    assert _native.expand_path(b"/d/{env:FA_TEST_NOPE}-{pid}", 7, 1, b"p", 0) == b"/d/unset-7"


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=400).filter(lambda b: b"\0" not in b))
def test_any_value_stays_one_file_name_in_the_directory(value):
    """Whatever the value: one path component, never '.' or '..', no
    control byte, no brace, at most ENV_VALUE_MAX bytes; core and fallback
    agree."""
    os.environb[b"FA_TEST_ANY"] = value
    try:
        core = _native.expand_path(b"/d/{env:FA_TEST_ANY}", 1, 1, b"p", 0)
        assert _fallback.expand_path(b"/d/{env:FA_TEST_ANY}", 1, 1, b"p", 0) == core
    finally:
        del os.environb[b"FA_TEST_ANY"]
    name = core[len(b"/d/"):]
    assert 0 < len(name) <= _facts.ENV_VALUE_MAX
    assert b"/" not in name and not name.startswith(b".")
    assert not any(c < 0x20 or c == 0x7F or c in b"{}" for c in name)


def test_a_dump_uses_the_value_of_when_the_destination_was_set(run_py, tmp_path):
    """Read once: the process changes the variable after start-up and
    crashes; the dump file still has the start-up value."""
    code = "import os; os.environ['FA_JOB'] = 'later'; " + CRASH
    proc = run_py(code, env={P: "1", P + "_PATH": str(tmp_path / "{env:FA_JOB}-{env:FA_NONE}.log"),
                             "FA_JOB": "../nightly"})
    assert proc.returncode == -11, proc.stderr
    (written,) = tmp_path.iterdir()
    assert written.name == "_._nightly-unset.log"
    assert written.read_text().startswith("Fatal Python error: Segmentation fault")
    assert proc.stderr == ""


def test_the_api_reads_the_variable_at_each_call(run_py, tmp_path):
    code = ("import os, faulthandler_auto as f\n"
            "os.environ['FA_STEP'] = 'one'\n"
            "f.dump_traceback(%r)\n"
            "os.environ['FA_STEP'] = 'two'\n"
            "f.dump_traceback(%r)\n" % ((str(tmp_path / "{env:FA_STEP}.log"),) * 2))
    proc = run_py(code)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.log", "two.log"]


BAD_NAMES = ["", "1JOB", "A-B", "A B", "A.B", "\u00e9", "A" * (_facts.ENV_NAME_MAX + 1), "A{B", "A:B"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_name_is_one_line(name):
    value = "/tmp/{env:%s}.log" % name
    _, warnings = parse({P + "_PATH": value})
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(P + "_PATH=")
    assert ("bad variable name" in warnings[0] or "unbalanced" in warnings[0]
            or "unknown field" in warnings[0]), warnings[0]


@pytest.mark.parametrize("name", ["A", "_", "job_ID9", "A" * _facts.ENV_NAME_MAX])
def test_good_names(name, tmp_path):
    cfg, warnings = parse({P + "_PATH": str(tmp_path / ("{env:%s}.log" % name))})
    assert warnings == [] and cfg.path.endswith("{env:%s}.log" % name)


def test_bad_names_at_start_up(run_py, tmp_path):
    """Each bad NAME: the interpreter starts and runs, one line, no traceback,
    and the crash dump goes to stderr as without a PATH."""
    for name in ("1JOB", "A-B", "\u00e9t\u00e9", "A" * 5000):
        proc = run_py(CRASH, env={P: "1", P + "_PATH": str(tmp_path / ("{env:%s}.log" % name))})
        assert proc.returncode == -11
        lines = proc.stderr.splitlines()
        assert lines[0].startswith("faulthandler-auto: %s_PATH=" % P) and "bad variable name" in lines[0]
        assert lines[1] == "Fatal Python error: Segmentation fault", proc.stderr
        assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_too_long_once_bound_is_not_applied(run_py, tmp_path):
    """A template that fits but not with its value: one line, the dump goes
    to stderr."""
    template = str(tmp_path / ("d" * 200) / ("x" * (_facts.PATH_MAX - 300 - len(str(tmp_path)))))
    template += "{env:FA_BIG}{env:FA_BIG}"
    proc = run_py(CRASH, env={P: "1", P + "_PATH": template, "FA_BIG": "y" * 100})
    assert proc.returncode == -11
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("faulthandler-auto: %s not applied: path template longer than" % P), lines[0]
    assert "Traceback" not in proc.stderr


# ---- {worker} and {prog} in multiprocessing children ----

MP_JOB = """
import multiprocessing as mp, os, signal, sys

def dump(_=None):
    os.kill(os.getpid(), signal.SIGUSR1)  # dumps to PATH at once, then goes on
    return mp.current_process().name, os.getpid()

def report(queue):
    queue.put(dump())

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    if sys.argv[2] == "pool":
        with ctx.Pool(1) as pool:
            name, pid = pool.apply(dump, (1,))
    else:
        queue = ctx.Queue()
        child = ctx.Process(target=report, args=(queue,))
        child.start()
        name, pid = queue.get()
        child.join()
    print(name, pid)
"""
KINDS = {("fork", "process"): "ForkProcess-", ("fork", "pool"): "ForkPoolWorker-",
         ("spawn", "process"): "SpawnProcess-", ("spawn", "pool"): "SpawnPoolWorker-",
         ("forkserver", "process"): "ForkServerProcess-", ("forkserver", "pool"): "ForkServerPoolWorker-"}


def mp_env(out):
    return {P + "_SIGNAL": "USR1", P + "_PATH": str(out / "{prog}-{worker}-{pid}.log")}


def run_job(python, args, out, cwd):
    """`python ARGS` in `cwd`, dumping to `out`; returns (child's name, its pid)."""
    proc = subprocess.run([str(python), *args], cwd=str(cwd), env=clean_environ(mp_env(out)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    name, pid = proc.stdout.split()
    return name, pid


@pytest.mark.parametrize("method, kind", sorted(KINDS))
def test_multiprocessing_children_name_their_dump_files(venv_python, tmp_path, method, kind):
    """Every start method, a Process and a Pool worker: {worker} is the
    child's multiprocessing name, {prog} the parent's script (spawn and
    forkserver children start as `python -c`)."""
    script = tmp_path / "job.py"
    script.write_text(MP_JOB)
    out = tmp_path / "out"
    name, pid = run_job(venv_python, [script, method, kind], out, tmp_path)
    assert name.startswith(KINDS[method, kind])
    (written,) = out.iterdir()
    assert written.name == "job.py-%s-%s.log" % (name, pid)
    assert 'File "%s", line 5 in dump' % script in written.read_text()


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawned_children_of_a_module_take_its_name(venv_python, tmp_path, method):
    """A parent run as `python -m pkg.job`: its spawn and forkserver
    children write `pkg.job-...` files, as it would."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "job.py").write_text(MP_JOB)
    out = tmp_path / "out"
    name, pid = run_job(venv_python, ["-m", "pkg.job", method, "process"], out, tmp_path)
    (written,) = out.iterdir()
    assert written.name == "pkg.job-%s-%s.log" % (name, pid)


def test_a_plain_fork_keeps_main_and_no_process_imports_multiprocessing(run_py, tmp_path):
    """A child of os.fork() in a process that imported multiprocessing is
    no multiprocessing child: {worker} stays "main".  And the hook, set up
    with every dump armed, imports no multiprocessing module."""
    code = ("import os, signal, sys\n"
            "print(sorted(m for m in sys.modules if m.startswith('multiprocessing')))\n"
            "import multiprocessing\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.kill(os.getpid(), signal.SIGUSR1)\n"
            "    os._exit(0)\n"
            "os.waitpid(pid, 0)\n"
            "print(pid)\n")
    out = tmp_path / "out"
    env = dict(mp_env(out), **{P: "1", P + "_TIMEOUT": "600"})
    proc = run_py(code, "-W", "ignore::DeprecationWarning", env=env)
    assert proc.returncode == 0, proc.stderr
    imported, pid = proc.stdout.splitlines()
    assert imported == "[]"
    (written,) = out.iterdir()
    assert written.name == "python-main-%s.log" % pid


LATE_JOB = """
import multiprocessing as mp, os, sys

def dump(out):
    import faulthandler_auto
    faulthandler_auto.dump_traceback(os.path.join(out, "{prog}-{worker}-{pid}.log"))
    print(mp.current_process().name, os.getpid(), flush=True)

if __name__ == "__main__":
    child = mp.get_context(sys.argv[1]).Process(target=dump, args=(sys.argv[2],))
    child.start()
    child.join()
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_child_that_arms_its_first_dump_itself_is_named(venv_python, tmp_path, method):
    """No variable set: the child's own code makes the first dump, after
    multiprocessing started it; it is named all the same."""
    script = tmp_path / "late.py"
    script.write_text(LATE_JOB)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([str(venv_python), str(script), method, str(out)], cwd=str(tmp_path),
                          env=clean_environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    name, pid = proc.stdout.split()
    (written,) = out.iterdir()
    assert written.name == "late.py-%s-%s.log" % (name, pid)
