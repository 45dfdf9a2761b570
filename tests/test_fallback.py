"""Fallback mode (issue 15): the sdist installs on a machine with no compiler,
says so in one line at build time, and the same variables then give crash,
timeout and signal dumps through the interpreter's own faulthandler;
`faulthandler-auto status` names the fallback and what it loses."""
import stat
import sys
import tarfile
import time
import zipfile

import pytest

from conftest import ROOT, clean_environ, run
from dumps import only_dump, split_dumps
from test_packaging import copy_project
from test_pytest import add_outer_pytest, make_project, run_pytest, timeout_dumps

CRASH = "import ctypes; ctypes.string_at(0)"


def build_sdist(tmp_path):
    """The sdist of a clean copy of the project, as a release would make it."""
    tree = copy_project(tmp_path / "source")
    out = tmp_path / "sdist"
    run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
         "b.build_sdist(sys.argv[1])", out], cwd=tree)
    (sdist,) = out.glob("*.tar.gz")
    return sdist


def no_compiler_environ(tmp):
    """An environment where no C compiler can be found: PATH holds nothing
    and CC names a file that does not exist."""
    empty = tmp / "empty-path"
    empty.mkdir()
    env = clean_environ({"PATH": str(empty), "CC": "/nonexistent/cc", "LDSHARED": "/nonexistent/cc -shared"})
    env.pop(b"FAULTHANDLER_AUTO_CFLAGS", None)
    env.pop(b"FAULTHANDLER_AUTO_NATIVE", None)
    return env


@pytest.fixture(scope="module")
def no_compiler_build(tmp_path_factory):
    """(wheel, build log) from the sdist, built with no compiler."""
    tmp = tmp_path_factory.mktemp("fallback")
    sdist = build_sdist(tmp)
    log = run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
               "--no-index", "-w", tmp / "wheel", sdist], env=no_compiler_environ(tmp), cwd=tmp)
    (wheel,) = (tmp / "wheel").glob("*.whl")
    return wheel, log


@pytest.fixture(scope="module")
def fallback_python(tmp_path_factory, no_compiler_build, new_venv, venv_pip):
    python = new_venv(tmp_path_factory.mktemp("fallback-venv") / "venv")
    venv_pip(python, "install", "--no-deps", "--no-index", no_compiler_build[0])
    return python


def test_build_says_it_in_one_line(no_compiler_build):
    wheel, log = no_compiler_build
    notes = [line.strip() for line in log.splitlines() if "faulthandler-auto:" in line]
    assert notes, log
    assert notes[0].startswith("faulthandler-auto: the C core could not be built ("), notes
    assert notes[0].endswith("installing the fallback mode, served by the interpreter's own "
                             "faulthandler (see README: Fallback mode)"), notes
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "faulthandler_auto/_fallback.py" in names
    assert not [n for n in names if "_native" in n], names


def test_editable_install_without_a_compiler(tmp_path, new_venv, venv_pip, run_py):
    """pip install -e . with no compiler: the editable wheel is made without
    the core (not an error about a missing .so), and a crash is dumped."""
    tree = copy_project(tmp_path / "source")
    log = run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
               "print(b.build_editable(sys.argv[1]))", tmp_path / "dist"], cwd=tree, env=no_compiler_environ(tmp_path))
    assert "faulthandler-auto: the C core could not be built (" in log, log
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    python = new_venv(tmp_path / "venv")
    venv_pip(python, "install", "--no-deps", "--no-index", wheel)
    proc = run_py("import faulthandler_auto; print(faulthandler_auto.__file__, flush=True); " + CRASH,
                  python=python, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == -11, proc.stderr
    assert proc.stdout == "%s\n" % (tree / "src" / "faulthandler_auto" / "__init__.py")
    assert proc.stderr.startswith("Fatal Python error: Segmentation fault\n"), proc.stderr
    assert not list((tree / "src" / "faulthandler_auto").glob("_native*")), "no core was built"


def test_crash_dump_in_a_private_file(run_py, fallback_python, tmp_path):
    logs = tmp_path / "logs"
    proc = run_py(CRASH, python=fallback_python,
                  env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": str(logs / "{prog}-{pid}.log")})
    assert (proc.returncode, proc.stdout, proc.stderr) == (-11, "", "")
    (dump_file,) = logs.iterdir()
    assert dump_file.name.startswith("python-") and dump_file.name.endswith(".log")
    assert stat.S_IMODE(dump_file.stat().st_mode) == 0o600
    text = dump_file.read_text()
    assert text.startswith("Fatal Python error: Segmentation fault\n\n"), text
    assert '  File "<string>", line 1 in <module>\n' in text, text
    # CPython 3.14+ has the C stack to give
    assert ("Current thread's C stack trace" in text) == (sys.version_info >= (3, 14)), text


def test_no_dump_leaves_no_file(run_py, fallback_python, tmp_path):
    """The file is opened at start-up; a process that never dumps removes it."""
    logs = tmp_path / "logs"
    proc = run_py("print('ok')", python=fallback_python,
                  env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": str(logs / "{pid}.log")})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")
    assert list(logs.iterdir()) == []


# A forked child shares its parent's file (it was opened at start-up).
FORKS = {
    # the child's normal exit leaves the file to the parent's later crash
    "child exits, parent crashes": ("import os, sys, ctypes\n"
                                    "if os.fork() == 0:\n"
                                    "    sys.exit(0)\n"
                                    "os.wait()\n"
                                    "ctypes.string_at(0)\n", -11),
    # the daemon pattern: the parent's exit leaves the file to the child's
    # later crash.  The child waits for the parent's end on a pipe whose
    # only writer is the parent; the run ends when the child, crashing, has
    # closed the output pipes.
    "parent exits, child crashes": ("import os, sys, ctypes\n"
                                    "r, w = os.pipe()\n"
                                    "if os.fork() == 0:\n"
                                    "    os.close(w)\n"
                                    "    os.read(r, 1)\n"
                                    "    ctypes.string_at(0)\n"
                                    "sys.exit(0)\n", 0),
}


@pytest.mark.parametrize("case", sorted(FORKS))
def test_a_forked_process_exit_keeps_the_file_the_other_dumps_to(run_py, fallback_python,
                                                                  tmp_path, case):
    code, status = FORKS[case]
    logs = tmp_path / "logs"
    proc = run_py(code, python=fallback_python,
                  env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": str(logs / "{prog}-{pid}.log")})
    assert proc.returncode == status, proc
    (dump_file,) = logs.iterdir()
    assert stat.S_IMODE(dump_file.stat().st_mode) == 0o600
    assert dump_file.read_text().startswith("Fatal Python error: Segmentation fault\n\n")


def test_timeout_dump_then_exit(run_py, fallback_python):
    proc = run_py("import time; time.sleep(60)", python=fallback_python,
                  env={"PYTHONFAULTHANDLER_TIMEOUT": "0.5", "PYTHONFAULTHANDLER_EXIT": "1"})
    assert proc.returncode == 1, proc
    dump = only_dump(proc.stderr)
    assert dump.header[0] == "Timeout (0:00:00.500000)!", proc.stderr
    assert proc.stderr.rstrip("\n").endswith('  File "<string>", line 1 in <module>'), proc.stderr


def test_signal_dump_and_the_process_goes_on(run_py, fallback_python):
    code = "import os, signal; os.kill(os.getpid(), signal.SIGUSR1); print('alive')"
    proc = run_py(code, python=fallback_python, env={"PYTHONFAULTHANDLER_SIGNAL": "USR1"})
    assert (proc.returncode, proc.stdout) == (0, "alive\n"), proc
    (dump,) = split_dumps(proc.stderr)
    assert '  File "<string>", line 1 in <module>' in dump.text, proc.stderr


def test_what_it_cannot_do_is_one_line(run_py, fallback_python):
    proc = run_py("print('ok')", python=fallback_python,
                  env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_FORMAT": "json"})
    assert (proc.returncode, proc.stdout) == (0, "ok\n")
    assert proc.stderr.startswith("faulthandler-auto: output settings not applied: fallback mode ("), proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


def test_status_names_the_fallback(run_py, fallback_python):
    proc = run_py("import sys; from faulthandler_auto.cli import main; sys.exit(main(['status']))",
                  python=fallback_python, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 0, proc
    lines = proc.stdout.splitlines()
    core = [line for line in lines if line.startswith("  core:")]
    assert core == ["  core:        fallback mode: the C core was not built when this copy was "
                    "installed (no compiler?); once a compiler is there: pip install --no-cache-dir "
                    "--force-reinstall faulthandler-auto"], proc.stdout
    if sys.version_info < (3, 14):
        assert "    on a crash (SIGSEGV, SIGFPE, SIGBUS, SIGILL, SIGABRT): dump" in lines, proc.stdout
    assert "                 - thread names" in lines
    assert "  status:      active" in lines


@pytest.fixture(scope="module")
def fallback_pytest(fallback_python):
    add_outer_pytest(fallback_python)
    return fallback_python


@pytest.fixture(scope="module")
def fallback_start_up(fallback_pytest, tmp_path_factory):
    """Seconds a pytest run of one quick test takes here, measured: the
    process timer must fall after the hanging test has started."""
    root = make_project(tmp_path_factory.mktemp("baseline"))
    began = time.monotonic()
    proc = run_pytest(fallback_pytest, root, "tests/test_hang.py::test_quick",
                      env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 0, proc
    return time.monotonic() - began


@pytest.mark.parametrize("args", [[], ["-p", "no:faulthandler"], ["--capture=sys"]],
                         ids=lambda args: " ".join(args) or "default")
def test_pytest_hang_dump_reaches_the_terminal(fallback_pytest, fallback_start_up, tmp_path, args):
    """pytest's capture takes fd 2; the plugin points the interpreter's
    timer at the terminal's copy, so the hung test is dumped, once."""
    root = make_project(tmp_path / "project")
    proc = run_pytest(fallback_pytest, root, *args, "tests/test_hang.py::test_hang",
                      env={"PYTHONFAULTHANDLER": "1",
                           "PYTHONFAULTHANDLER_TIMEOUT": "%.1f" % (3 * fallback_start_up + 1),
                           "PYTHONFAULTHANDLER_EXIT": "1"})
    assert proc.returncode == 1, proc
    dumps = timeout_dumps(proc.stderr)
    assert len(dumps) == 1, proc
    assert "Timeout (" not in proc.stdout
    assert 'tests/test_hang.py", line ' in proc.stderr.split("Timeout (")[1], proc.stderr


def test_pytest_crash_one_dump(fallback_pytest, tmp_path):
    root = make_project(tmp_path / "project")
    proc = run_pytest(fallback_pytest, root, "tests/test_crash.py::test_crash[null]",
                      env={"PYTHONFAULTHANDLER": "1"})
    everything = proc.stdout + proc.stderr
    assert everything.count("Fatal Python error: Segmentation fault") == 1, proc
    assert "Fatal Python error" in proc.stderr


def test_pytest_faulthandler_timeout_ini(fallback_pytest, tmp_path):
    """The ini option, served by the interpreter's timer: one dump, in
    the configured file."""
    dump_dir = tmp_path / "dumps"
    dump_dir.mkdir()
    root = make_project(tmp_path / "project", "faulthandler_timeout = 1\n")
    proc = run_pytest(fallback_pytest, root, "tests/test_hang.py::test_slow",
                      env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": str(dump_dir / "d.log"),
                           "DUMP_DIR": str(dump_dir), "PERIOD": "1"})
    assert proc.returncode == 0, proc
    text = (dump_dir / "d.log").read_text()
    assert [d.timeout for d in timeout_dumps(text)] == ["0:00:01"], text


def test_status_says_format_is_not_applied(run_py, fallback_python):
    proc = run_py("import sys; from faulthandler_auto.cli import main; sys.exit(main(['status']))",
                  python=fallback_python, env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == 1, proc
    assert "    - fallback mode: PYTHONFAULTHANDLER_FORMAT, _MAX_FRAMES and _MAX_THREADS are not applied " \
        "(CPython's text format and fixed limits)" in proc.stdout.splitlines(), proc.stdout


def test_path_that_cannot_be_created_names_the_variable_and_dumps_to_stderr(run_py, fallback_python):
    proc = run_py(CRASH, python=fallback_python,
                  env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": "/proc/nope/x.log"})
    assert proc.returncode == -11, proc
    first, rest = proc.stderr.split("\n", 1)
    assert first == ("faulthandler-auto: dump file /proc/nope/x.log cannot be created (No such file or "
                     "directory): dumps go to stderr (PYTHONFAULTHANDLER_PATH)"), proc.stderr
    assert rest.startswith("Fatal Python error: Segmentation fault"), proc.stderr


def test_status_checks_the_destination_as_the_fallback_opens_it(run_py, fallback_python, tmp_path):
    (tmp_path / "target").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    link = str(tmp_path / "link")
    proc = run_py("import sys; from faulthandler_auto.cli import main; sys.exit(main(['status']))",
                  python=fallback_python, env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": link})
    assert proc.returncode == 1, proc
    assert ("dumps cannot be written to %s now: %s: refusing to follow a symbolic link" % (link, link)
            in proc.stdout), proc.stdout


def test_sdist_has_what_the_tests_need(tmp_path):
    sdist = build_sdist(tmp_path)
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
        pkg_info = tf.extractfile("%s/PKG-INFO" % sdist.name[:-len(".tar.gz")]).read().decode()
    needed = {"LICENSE", "tox.ini", "docs/recipes.md", "tools/build-wheels.sh", "tools/test-all.sh",
              "benchmarks/run.py", "src/faulthandler_auto/_fallback.py"}
    needed.update(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.[ch]"))
    needed.update(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py"))
    assert not needed - names
    assert not [n for n in names if n.endswith((".so", ".pyc")) or n.startswith(("build/", ".tox/"))]
    assert "License-Expression: BSD-2-Clause\n" in pkg_info
    assert "License-File: LICENSE\n" in pkg_info
    for minor in range(9, 16):
        assert "Classifier: Programming Language :: Python :: 3.%d\n" % minor in pkg_info
