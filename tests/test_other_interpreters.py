"""On an interpreter the core does not support (PyPy), the package installs
without the C core, start-up never breaks, and the variables are served in
fallback mode by the interpreter's own faulthandler."""
import shutil
import subprocess

import pytest

from conftest import clean_environ, interpreter_independent
from test_packaging import copy_project

PYPY = shutil.which("pypy3")
pytestmark = [
    interpreter_independent,
    pytest.mark.skipif(PYPY is None, reason="no pypy3 on PATH (Debian: apt-get install pypy3 pypy3-venv)"),
]


@pytest.fixture(scope="module")
def pypy_python(tmp_path_factory):
    venv = tmp_path_factory.mktemp("pypy") / "venv"
    subprocess.run([PYPY, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    tree = copy_project(tmp_path_factory.mktemp("pypy-source") / "faulthandler-auto")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(tree)], check=True,
                   env=clean_environ())
    return python


def run(python, env=None, code="print('ok')"):
    return subprocess.run([str(python), "-c", code], env=clean_environ(env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=120)


def test_silent_without_variables(pypy_python):
    proc = run(pypy_python)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")


def test_crash_dump_from_the_fallback(pypy_python, tmp_path):
    log = tmp_path / "crash.log"
    proc = run(pypy_python, {"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": str(log)},
               code="import os; os.kill(os.getpid(), 11)")
    assert (proc.returncode, proc.stdout, proc.stderr) == (-11, "", "")
    text = log.read_text()
    assert text.startswith("Fatal Python error: Segmentation fault\n"), text
    assert '  File "<string>", line 1 in <module>\n' in text


def test_timeout_dump_from_the_fallback(pypy_python):
    proc = run(pypy_python, {"PYTHONFAULTHANDLER_TIMEOUT": "0.5", "PYTHONFAULTHANDLER_EXIT": "1"},
               code="import time; time.sleep(60)")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith("Timeout (0:00:00.500000)!\n"), proc.stderr


def test_status_names_the_fallback(pypy_python):
    proc = run(pypy_python, {"PYTHONFAULTHANDLER": "1"},
               code="import sys; from faulthandler_auto.cli import main; sys.exit(main(['status']))")
    assert proc.returncode == 0, proc
    assert "  core:        fallback mode: the C core supports CPython only, this is pypy\n" in proc.stdout
