"""Fixtures shared by every test file.

The product is a start-up hook, so it is tested the way a user meets it: the
wheel is installed into a fresh venv whose interpreter runs in a subprocess
with a clean environment.

- wheel_path: the wheel under test, built once per session for this
  interpreter, or taken from FAULTHANDLER_AUTO_WHEEL (a wheel, or a directory
  holding wheels: the newest one for this interpreter is used; tox.ini points
  it at the wheel tox built).
- new_venv(directory): creates a venv without pip and returns its python.
- venv_pip(python, *args): runs this interpreter's pip against that venv.
- venv_python: a fresh venv with wheel_path installed.
- run_py(code, *args, env=None, timeout=60, input=None, cwd=None, python=None):
  runs `python [args...] -c code` (or the script `code`) in a subprocess.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOK_FILES = ("faulthandler_auto.pth", "faulthandler_auto.start")

# Tests whose subject does not depend on the interpreter that runs them (the
# install on PyPy, the aarch64 wheel under qemu, the editable layout, the
# report over 10,000 files) run once in a tox matrix: in the env tox.ini
# names in FAULTHANDLER_AUTO_ONCE_ENV.  Outside tox they run.
_ONCE_ENV = os.environ.get("FAULTHANDLER_AUTO_ONCE_ENV")
interpreter_independent = pytest.mark.skipif(
    bool(_ONCE_ENV) and os.environ.get("TOX_ENV_NAME") != _ONCE_ENV,
    reason="independent of the interpreter: runs in the %s env only" % _ONCE_ENV)


def run(cmd, **kwargs):
    """Run a helper command; fail the test with its output if it fails."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        errors="backslashreplace",
        **kwargs,
    )
    if proc.returncode:
        pytest.fail("%s failed (%d):\n%s" % (" ".join(map(str, cmd)), proc.returncode, proc.stdout))
    return proc.stdout


def site_packages(python):
    """The purelib directory of the venv of `python` (which is also platlib on POSIX)."""
    out = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    return Path(out.strip())


@pytest.fixture(scope="session")
def wheel_path(tmp_path_factory):
    given = os.environ.get("FAULTHANDLER_AUTO_WHEEL")
    if given:
        path = Path(given)
        if path.is_dir():
            tag = "cp%d%d" % sys.version_info[:2]
            # a debug interpreter (3.14d) needs the cp314-cp314d wheel
            abi = tag + sys.abiflags
            wheels = sorted(path.glob("faulthandler_auto-*-%s-%s-*.whl" % (tag, abi)), key=os.path.getmtime)
            if not wheels:
                pytest.fail("FAULTHANDLER_AUTO_WHEEL=%s holds no %s wheel" % (given, tag))
            path = wheels[-1]
        return path
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, ROOT]
    # Offline when this interpreter can build by itself (tox installs both).
    if all(importlib.util.find_spec(name) for name in ("setuptools", "wheel")):
        cmd.insert(4, "--no-build-isolation")
    # its own build directory (setup.py): pytest-xdist workers build at once
    run(cmd, env=dict(os.environ, FAULTHANDLER_AUTO_BUILD_DIR=str(out / "build")))
    return next(out.glob("*.whl"))


def _base_python():
    """The interpreter this one was made from: a venv made from a venv is not
    reliable on every version, one made from the base interpreter is."""
    name = "python%d.%d%s" % (sys.version_info[0], sys.version_info[1], sys.abiflags)
    base = Path(sysconfig.get_config_var("BINDIR") or "", name)
    return base if base.exists() else Path(sys.executable)


def _pip_has_python_option():
    try:
        import pip
    except ImportError:
        return False
    return tuple(int(p) for p in pip.__version__.split(".")[:2]) >= (22, 3)


@pytest.fixture(scope="session")
def new_venv():
    def make(directory):
        flags = ["--without-pip"] if _pip_has_python_option() else []
        run([_base_python(), "-m", "venv", *flags, directory])
        return Path(directory, "bin", "python")

    return make


@pytest.fixture(scope="session")
def venv_pip():
    def pip(python, *args):
        if _pip_has_python_option():
            return run([sys.executable, "-m", "pip", "--python", python, *args])
        return run([python, "-m", "pip", *args])

    return pip


@pytest.fixture(scope="session")
def venv_python(tmp_path_factory, wheel_path, new_venv, venv_pip):
    python = new_venv(tmp_path_factory.mktemp("venv") / "venv")
    venv_pip(python, "install", "--no-deps", "--no-index", wheel_path)
    return python


# The sanitizer run (tox -e asan) builds the core with ASan/UBSan, whose
# runtime must be loaded first into every interpreter that imports it.
SANITIZER_PRELOAD = os.environ.get("FAULTHANDLER_AUTO_TEST_PRELOAD", "")


def clean_environ(env=None):
    """os.environ without any PYTHON* or PYTEST_* variable, plus `env` (str or bytes
    items); LD_PRELOAD starts with the sanitizer runtime when there is one."""
    # PYTEST_*: this suite runs under xdist, whose worker variables would make
    # a pytest run in a child believe it is a worker
    environ = {k: v for k, v in os.environb.items() if not k.startswith((b"PYTHON", b"PYTEST_"))}
    if SANITIZER_PRELOAD:
        environ[b"LD_PRELOAD"] = os.fsencode(SANITIZER_PRELOAD)
    for key, value in (env or {}).items():
        environ[os.fsencode(key)] = os.fsencode(value)
    return environ


@pytest.fixture(scope="session")
def run_py(venv_python):
    def run_py(code, *args, env=None, timeout=60, input=None, cwd=None, python=None):
        code = str(code)
        target = [code] if code.endswith(".py") and os.path.exists(code) else ["-c", code]
        return subprocess.run(
            [str(python or venv_python), *map(str, args), *target],
            env=clean_environ(env),
            input=input,
            cwd=cwd,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            errors="backslashreplace",
        )

    return run_py


@pytest.fixture(scope="session")
def run_stock(run_py, venv_python):
    """run_py with CPython's own faulthandler (-X faulthandler) and ours not
    started: -S keeps site from running our hook (-X faulthandler alone now
    starts ours), PYTHONPATH still lets a script import the package for its
    crash helpers.  The reference every "same as CPython" test compares with."""
    site = str(site_packages(venv_python))

    def run_stock(code, *args, env=None, **kwargs):
        environ = dict(env or {}, PYTHONPATH=site)
        proc = run_py(code, "-S", "-X", "faulthandler", *args, env=environ, **kwargs)
        assert "\nProcess: pid " not in "\n" + proc.stderr, "ours dumped in the reference run:\n" + proc.stderr
        return proc

    return run_stock


@pytest.fixture(scope="session")
def shared_library(tmp_path_factory):
    """build(name) compiles tests/native/<name>.c into a shared library for
    a test to load (ctypes) or preload (LD_PRELOAD); skips without a compiler.
    build(name, extension=True) makes it an extension module of the Python
    under test instead, compiled against the core's headers."""
    def build(name, extension=False):
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            pytest.skip("no C compiler to build tests/native/%s.c" % name)
        flags, suffix = [], ".so"
        if extension:
            flags = ["-I", sysconfig.get_paths()["include"], "-I", ROOT / "src" / "core"]
            suffix = sysconfig.get_config_var("EXT_SUFFIX")
        lib = tmp_path_factory.mktemp(name) / (name + suffix)
        run([cc, "-shared", "-fPIC", "-O1", *flags, "-o", lib, ROOT / "tests" / "native" / (name + ".c")])
        return lib

    return build
