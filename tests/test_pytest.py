"""Under pytest, ours is the dump people see (issue 14).

Each test runs a real ``python -m pytest`` from a venv where the wheel is
installed, against a small project written into a temporary directory, and
checks what the user sees: exactly one dump -- ours, with the Signal line,
thread names and the C stack -- on the terminal whatever the capture mode,
naming the test and its phase; hangs dumped and, with EXIT, ended; pytest's
``faulthandler_timeout`` served by our watchdog; pytest-timeout and
pytest-xdist beside us; dump files listed in the terminal summary.
"""
import importlib.util
import json
import os
import re
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import clean_environ, site_packages
from dumps import count_fatal, split_dumps

HAVE_XDIST = importlib.util.find_spec("xdist") is not None
HAVE_TIMEOUT = importlib.util.find_spec("pytest_timeout") is not None

CRASH_TESTS = """\
import ctypes
import faulthandler

import pytest


def crash():
    # CPython's promise under PYTHONFAULTHANDLER=1, kept with ours in charge
    assert faulthandler.is_enabled()
    ctypes.string_at(0)


@pytest.fixture
def broken_setup():
    crash()


@pytest.fixture
def broken_teardown():
    yield
    crash()


def test_passes():
    pass


@pytest.mark.parametrize("kind", ["null"])
def test_crash(kind):
    crash()


def test_setup(broken_setup):
    pass


def test_teardown(broken_teardown):
    pass
"""

HANG_TESTS = """\
import os
import threading
import time


def test_quick():
    pass


def test_hang():
    threading.Event().wait()


def test_slow():
    # returns once a timeout dump is in the dump directory, then waits two
    # more periods: time enough for a second dump, if there were one
    directory = os.environ["DUMP_DIR"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for name in os.listdir(directory):
            with open(os.path.join(directory, name)) as f:
                if "Timeout (" in f.read():
                    time.sleep(2 * float(os.environ["PERIOD"]))
                    return
        time.sleep(0.05)
    raise AssertionError("no timeout dump")
"""

NESTED_TESTS = """\
import ctypes
import faulthandler

import pytest


def test_run_inside_then_crash(tmp_path):
    # pytest.main() inside a test (as pytester does) leaves ours alone
    (tmp_path / "test_inner.py").write_text("def test_inner():\\n    pass\\n")
    assert pytest.main(["-q", "-p", "no:cacheprovider", str(tmp_path)]) == 0
    assert faulthandler.is_enabled()
    ctypes.string_at(0)
"""

CRASH = "tests/test_crash.py::test_crash[null]"


@pytest.fixture(scope="module")
def pytest_python(tmp_path_factory, wheel_path, new_venv, venv_pip):
    """A venv with the wheel installed that finds pytest and its plugins
    where this interpreter has them (tox installs them), without a network."""
    python = new_venv(tmp_path_factory.mktemp("pytest-venv") / "venv")
    venv_pip(python, "install", "--no-deps", "--no-index", wheel_path)
    add_outer_pytest(python)
    return python


def add_outer_pytest(python):
    """Let the venv of `python` import pytest and its plugins from here."""
    dirs = []
    for module in ("pytest", "xdist", "pytest_timeout"):
        spec = importlib.util.find_spec(module)
        if spec is None:
            continue
        where = os.path.dirname(spec.origin)
        if spec.submodule_search_locations:
            where = os.path.dirname(where)
        if where not in dirs:
            dirs.append(where)
    # path lines come after the venv's own site-packages: our wheel wins
    (site_packages(python) / "zz-outer-packages.pth").write_text("\n".join(dirs) + "\n")


def make_project(root, ini=""):
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_crash.py").write_text(CRASH_TESTS)
    (root / "tests" / "test_hang.py").write_text(HANG_TESTS)
    (root / "tests" / "test_nested.py").write_text(NESTED_TESTS)
    (root / "pytest.ini").write_text("[pytest]\n" + textwrap.dedent(ini))
    return root


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "project")


def run_pytest(python, project, *args, env=None, timeout=180):
    environ = {k: v for k, v in clean_environ().items() if not k.startswith(b"PYTEST_")}
    environ.update(clean_environ(env))
    return subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=str(project), env=environ, timeout=timeout, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, universal_newlines=True, errors="backslashreplace")


def ours(dump, text):
    """A dump is ours: process and (for a crash) signal lines, thread names,
    the C stack of a crash."""
    assert dump.process, text
    assert dump.threads and dump.threads[0].name == "MainThread", text
    if dump.fatal_error:
        assert dump.signal and dump.c_stack, text


def one_fatal_dump(proc):
    """The only fatal dump of a run, on stderr, and ours."""
    everything = proc.stdout + "\n" + proc.stderr
    assert count_fatal(everything) == 1, everything
    dumps = [d for d in split_dumps(proc.stderr) if d.fatal_error]
    assert len(dumps) == 1, proc.stderr
    ours(dumps[0], proc.stderr)
    return dumps[0]


def timeout_dumps(text):
    return [d for d in split_dumps(text) if d.timeout]


# --- crashes ------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    [], ["-s"], ["--capture=sys"], ["--capture=fd"], ["-p", "no:faulthandler"], ["-x"],
], ids=lambda args: " ".join(args) or "default")
def test_crash_one_dump_ours_naming_the_test(pytest_python, project, args):
    proc = run_pytest(pytest_python, project, *args,
                      "tests/test_crash.py::test_passes", CRASH,
                      env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == -signal.SIGSEGV, proc
    dump = one_fatal_dump(proc)
    assert dump.fatal_error == "Segmentation fault"
    assert dump.context == CRASH + " (call)"
    assert "test_crash" in [f.function for f in dump.current.frames]


@pytest.mark.parametrize("test, phase", [("test_setup", "setup"), ("test_teardown", "teardown")])
def test_crash_names_the_phase(pytest_python, project, test, phase):
    node = "tests/test_crash.py::" + test
    proc = run_pytest(pytest_python, project, node, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == -signal.SIGSEGV, proc
    assert one_fatal_dump(proc).context == "%s (%s)" % (node, phase)


def test_pytest_run_inside_a_test_leaves_ours_alone(pytest_python, project):
    node = "tests/test_nested.py::test_run_inside_then_crash"
    proc = run_pytest(pytest_python, project, node, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == -signal.SIGSEGV, proc
    assert one_fatal_dump(proc).context == node + " (call)"


def test_json_dump_names_the_test(pytest_python, project):
    proc = run_pytest(pytest_python, project, CRASH,
                      env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == -signal.SIGSEGV, proc
    lines = [line for line in proc.stderr.splitlines() if line.startswith("{")]
    assert len(lines) == 1, proc.stderr
    dump = json.loads(lines[0])
    assert (dump["event"], dump["context"]) == ("fatal_signal", CRASH + " (call)")


def test_without_variables_pytest_is_unchanged(pytest_python, project):
    """Installed but not configured: pytest's own faulthandler plugin and
    CPython's dump, exactly as without faulthandler-auto."""
    proc = run_pytest(pytest_python, project, CRASH)
    assert proc.returncode == -signal.SIGSEGV, proc
    assert count_fatal(proc.stderr) == 1, proc.stderr
    assert "Process: pid" not in proc.stderr and "Context:" not in proc.stderr


# --- CPython's promise, outside pytest ---------------------------------------

@pytest.mark.parametrize("args", [[], ["-X", "faulthandler"]], ids=["env", "env+X"])
def test_stdlib_is_enabled_and_one_dump(run_py, args):
    """PYTHONFAULTHANDLER=1: faulthandler.is_enabled() is True, a later
    faulthandler.enable() (as pytest's plugin does) adds no second
    handler, and faulthandler.disable() switches the one handler off."""
    code = ("import faulthandler, faulthandler_auto\n"
            "print(faulthandler.is_enabled())\n"
            "faulthandler.enable()\n"
            "print(faulthandler.is_enabled(), faulthandler_auto.is_enabled(), flush=True)\n"
            "faulthandler_auto.sigsegv()\n")
    proc = run_py(code, *args, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == -signal.SIGSEGV
    assert proc.stdout == "True\nTrue True\n"
    assert count_fatal(proc.stderr) == 1, proc.stderr
    ours(split_dumps(proc.stderr)[0], proc.stderr)
    proc = run_py("import faulthandler, faulthandler_auto\n"
                  "faulthandler.disable()\n"
                  "print(faulthandler.is_enabled(), flush=True)\n"
                  "faulthandler_auto.sigsegv()\n", *args, env={"PYTHONFAULTHANDLER": "1"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (-signal.SIGSEGV, "False\n", "")


# --- hangs --------------------------------------------------------------------

@pytest.fixture(scope="module")
def start_up(pytest_python, tmp_path_factory):
    """Seconds a pytest run of one quick test takes here, measured: a
    process-wide timeout must fall after the hanging test has started."""
    root = make_project(tmp_path_factory.mktemp("baseline"))
    began = time.monotonic()
    proc = run_pytest(pytest_python, root, "tests/test_hang.py::test_quick",
                      env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 0, proc
    return time.monotonic() - began


@pytest.mark.parametrize("args", [[], ["-s"], ["--capture=sys"], ["-p", "no:faulthandler"]],
                         ids=lambda args: " ".join(args) or "default")
def test_process_timeout_dump_reaches_terminal_and_exits(pytest_python, project, start_up, args):
    period = "%.1f" % (3 * start_up + 1)
    proc = run_pytest(pytest_python, project, *args, "tests/test_hang.py::test_hang",
                      env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_TIMEOUT": period,
                           "PYTHONFAULTHANDLER_EXIT": "1"})
    assert proc.returncode == 1, proc
    assert "Timeout (" not in proc.stdout
    dumps = timeout_dumps(proc.stderr)
    assert len(dumps) == 1, proc
    ours(dumps[0], proc.stderr)
    assert dumps[0].context == "tests/test_hang.py::test_hang (call)"
    assert "threading.py" in dumps[0].threads[0].frames[0].file  # Event.wait


@pytest.mark.parametrize("args", [[], ["-p", "no:faulthandler"]],
                         ids=lambda args: " ".join(args) or "default")
def test_faulthandler_timeout_ini_one_dump_per_hung_test(pytest_python, tmp_path, args):
    """pytest's ini option, served by our watchdog: one dump for the slow
    test (none from CPython on stderr), in the dump directory, named in the
    terminal summary; the test then passes."""
    dump_dir = tmp_path / "dumps"
    dump_dir.mkdir()
    root = make_project(tmp_path / "project", "faulthandler_timeout = 1\n")
    proc = run_pytest(pytest_python, root, *args, "tests/test_hang.py::test_quick",
                      "tests/test_hang.py::test_slow",
                      env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": str(dump_dir),
                           "DUMP_DIR": str(dump_dir), "PERIOD": "1"})
    assert proc.returncode == 0, proc
    assert "Timeout (" not in proc.stderr + proc.stdout.split("faulthandler-auto dumps")[0]
    files = list(dump_dir.iterdir())
    assert len(files) == 1
    dumps = timeout_dumps(files[0].read_text())
    assert len(dumps) == 1
    ours(dumps[0], files[0].read_text())
    assert dumps[0].timeout == "0:00:01"
    assert dumps[0].context == "tests/test_hang.py::test_slow (call)"
    summary = proc.stdout.split("faulthandler-auto dumps")[1]
    assert "%s: Timeout (0:00:01)!; Context: tests/test_hang.py::test_slow (call)" % files[0] \
        in summary, proc.stdout


def test_faulthandler_timeout_beside_process_timeout(pytest_python, tmp_path, start_up):
    """Both timers run: the test's dump at 1 s, then the process-wide
    TIMEOUT's, which ends the run (EXIT) although a test still hangs."""
    period = int(3 * start_up + 2)
    root = make_project(tmp_path / "project", "faulthandler_timeout = 1\n")
    proc = run_pytest(pytest_python, root, "tests/test_hang.py::test_hang",
                      env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_TIMEOUT": str(period),
                           "PYTHONFAULTHANDLER_EXIT": "1"})
    assert proc.returncode == 1, proc
    dumps = timeout_dumps(proc.stderr)
    process = "%d:%02d:%02d" % (period // 3600, period // 60 % 60, period % 60)
    assert [d.timeout for d in dumps] == ["0:00:01", process], proc.stderr
    assert [d.context for d in dumps] == ["tests/test_hang.py::test_hang (call)"] * 2


def test_task_timeout_api(run_py, tmp_path):
    """task_timeout() and dump_traceback_later() are two timers; None cancels."""
    path = tmp_path / "dumps.log"
    proc = run_py("import os, time, faulthandler_auto as f\n"
                  "path = %r\n"
                  "f.dump_traceback_later(0.4, file=path)\n"
                  "f.task_timeout(0.2, file=path)\n"
                  "deadline = time.monotonic() + 60\n"
                  "while time.monotonic() < deadline:\n"
                  "    if os.path.exists(path) and open(path).read().count('Timeout (') == 2:\n"
                  "        break\n"
                  "    time.sleep(0.01)\n"
                  "f.task_timeout(0.2, file=path)\n"
                  "f.task_timeout(None)\n"
                  "time.sleep(0.5)\n" % str(path))
    assert proc.returncode == 0, proc.stderr
    assert sorted(d.timeout for d in timeout_dumps(path.read_text())) == [
        "0:00:00.200000", "0:00:00.400000"]


def test_faulthandler_exit_on_timeout(pytest_python, tmp_path):
    root = make_project(tmp_path / "project",
                        "faulthandler_timeout = 1\nfaulthandler_exit_on_timeout = true\n")
    proc = run_pytest(pytest_python, root, "tests/test_hang.py::test_hang",
                      env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 1, proc
    dumps = timeout_dumps(proc.stderr)
    assert len(dumps) == 1 and proc.stderr.count("Timeout (") == 1, proc.stderr
    ours(dumps[0], proc.stderr)
    assert dumps[0].context == "tests/test_hang.py::test_hang (call)"


@pytest.mark.skipif(not HAVE_TIMEOUT, reason="pytest-timeout is not installed")
@pytest.mark.parametrize("method", ["signal", "thread"])
def test_pytest_timeout_works_beside_us(pytest_python, project, method):
    """pytest-timeout's report, and no dump of ours added to it."""
    proc = run_pytest(pytest_python, project, "--timeout=1", "--timeout-method=" + method,
                      "tests/test_hang.py::test_hang",
                      env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_TIMEOUT": "10m"})
    assert proc.returncode == 1, proc
    everything = proc.stdout + "\n" + proc.stderr
    report = {"signal": r"Failed: Timeout \(>1\.0s\) from pytest-timeout",
              "thread": r"\+{10,} Timeout \+{10,}"}[method]
    assert len(re.findall(report, everything)) >= 1, everything
    assert "Process: pid" not in everything and count_fatal(everything) == 0, everything


# --- pytest-xdist -------------------------------------------------------------

@pytest.mark.skipif(not HAVE_XDIST, reason="pytest-xdist is not installed")
def test_xdist_worker_dump_names_worker_and_test(pytest_python, project):
    proc = run_pytest(pytest_python, project, "-n", "2", "tests/test_crash.py::test_passes",
                      CRASH, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 1, proc
    dump = one_fatal_dump(proc)
    assert re.match(r"^\[gw[01]\] %s \(call\)$" % re.escape(CRASH), dump.context), dump.context
    assert "crashed while running '%s'" % CRASH in proc.stdout


@pytest.mark.skipif(not HAVE_XDIST, reason="pytest-xdist is not installed")
def test_xdist_dump_file_named_in_summary(pytest_python, project, tmp_path):
    dump_dir = tmp_path / "dumps"
    proc = run_pytest(pytest_python, project, "-n", "2", "tests/test_crash.py::test_passes",
                      CRASH, env={"PYTHONFAULTHANDLER": "1",
                                  "PYTHONFAULTHANDLER_PATH": str(dump_dir) + "/"})
    assert proc.returncode == 1, proc
    assert count_fatal(proc.stdout + "\n" + proc.stderr) == 0
    files = list(dump_dir.iterdir())
    assert len(files) == 1
    dump, = split_dumps(files[0].read_text())
    ours(dump, files[0].read_text())
    summary = proc.stdout.split("faulthandler-auto dumps")[1]
    assert "%s: Fatal Python error: Segmentation fault; Context: %s" % (files[0], dump.context) \
        in summary, proc.stdout


@pytest.mark.skipif(not HAVE_XDIST, reason="pytest-xdist is not installed")
def test_xdist_worker_path_field(pytest_python, project, tmp_path):
    """{worker} is the worker id in a worker, main in the controller."""
    dump_dir = tmp_path / "dumps"
    proc = run_pytest(pytest_python, project, "-n", "2", CRASH,
                      env={"PYTHONFAULTHANDLER": "1",
                           "PYTHONFAULTHANDLER_PATH": str(dump_dir / "{worker}-{pid}.log")})
    assert proc.returncode == 1, proc
    dump_file, = dump_dir.iterdir()
    assert re.match(r"^gw[01]-\d+\.log$", dump_file.name), dump_file.name
    dump, = split_dumps(dump_file.read_text())
    assert dump.context.startswith("[%s] " % dump_file.name.split("-")[0])


@pytest.mark.skipif(not HAVE_XDIST, reason="pytest-xdist is not installed")
def test_xdist_process_timeout_dumps_the_hung_worker_not_the_controller(pytest_python, project, start_up):
    """The controller starts first and only waits; its TIMEOUT is cancelled,
    so the worker's fires, names the test, and the run reports it.  One
    worker: a second one, idle, would have its own TIMEOUT fire if its
    shutdown took longer than that on a busy machine."""
    period = "%.1f" % (3 * start_up + 1)
    proc = run_pytest(pytest_python, project, "-n", "1", "tests/test_hang.py::test_hang",
                      env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_TIMEOUT": period,
                           "PYTHONFAULTHANDLER_EXIT": "1"})
    assert proc.returncode == 1, proc
    dumps = timeout_dumps(proc.stderr)
    assert len(dumps) == 1, proc
    assert dumps[0].context == "[gw0] tests/test_hang.py::test_hang (call)", proc.stderr
    # the controller lived to report the worker that ended
    assert "test_hang" in proc.stdout and "failed" in proc.stdout, proc.stdout


# --- bad input ------------------------------------------------------------------

def test_bad_ini_values_one_line_each_and_run_goes_on(pytest_python, tmp_path):
    root = make_project(tmp_path / "project",
                        "faulthandler_timeout = soon\nfaulthandler_exit_on_timeout = maybe\n")
    proc = run_pytest(pytest_python, root, "tests/test_hang.py::test_quick",
                      env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 0, proc
    lines = proc.stderr.splitlines()
    assert lines == [
        "faulthandler-auto: faulthandler_timeout='soon' ignored: not a number; accepted: "
        "seconds from 0 (off) to 8640000",
        "faulthandler-auto: faulthandler_exit_on_timeout='maybe' ignored: not a boolean; accepted: "
        "1/0, true/false, yes/no, on/off, t/f, y/n",
    ], proc.stderr
