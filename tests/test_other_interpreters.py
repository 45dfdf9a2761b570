"""On an interpreter the core does not support (PyPy), the package installs
without the C core, start-up never breaks, and the hook says once, only when
a variable asks for something, that it is inactive."""
import shutil
import subprocess

import pytest

from conftest import ROOT, clean_environ

PYPY = shutil.which("pypy3")
pytestmark = pytest.mark.skipif(PYPY is None, reason="no pypy3 on PATH (Debian: apt-get install pypy3 pypy3-venv)")


@pytest.fixture(scope="module")
def pypy_python(tmp_path_factory):
    venv = tmp_path_factory.mktemp("pypy") / "venv"
    subprocess.run([PYPY, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(ROOT)], check=True,
                   env=clean_environ())
    return python


def run(python, env=None):
    return subprocess.run([str(python), "-c", "print('ok')"], env=clean_environ(env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=120)


def test_silent_without_variables(pypy_python):
    proc = run(pypy_python)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")


def test_one_line_when_a_variable_asks(pypy_python):
    proc = run(pypy_python, {"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_SIGNAL": "USR1",
                             "PYTHONFAULTHANDLER_TIMEOUT": "1"})
    assert (proc.returncode, proc.stdout) == (0, "ok\n")
    assert proc.stderr == ("faulthandler-auto: inactive on pypy/linux: "
                           "only CPython on Linux and macOS is supported\n")
