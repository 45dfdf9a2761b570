"""The hook file of this interpreter (the .pth up to 3.14, the PEP 829 .start
from 3.15 on) reaches the root of site-packages from a wheel, an sdist and an
editable install, is listed in RECORD, and leaves with `pip uninstall`; the
release wheels are manylinux2014 wheels."""
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import HOOK_FILES, ROOT, interpreter_independent, run, site_packages

# each wheel holds the one hook its interpreter runs
HOOK = "faulthandler_auto.start" if sys.version_info >= (3, 15) else "faulthandler_auto.pth"
(OTHER_HOOK,) = set(HOOK_FILES) - {HOOK}


def record_of(zf):
    """{path: hash} from the RECORD of an open wheel."""
    name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
    rows = csv.reader(io.StringIO(zf.read(name).decode("utf-8")))
    return {row[0]: row[1] for row in rows}


def assert_hook_at_root(wheel):
    with zipfile.ZipFile(wheel) as zf:
        record = record_of(zf)
        assert zf.read(HOOK) == (ROOT / HOOK).read_bytes()
        assert record[HOOK].startswith("sha256="), record
        assert OTHER_HOOK not in zf.namelist()
        return zf.namelist()


def backend(tree, hook, out):
    """Call one PEP 517/660 hook of setuptools in `tree`, as a front end would, offline."""
    run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
         "getattr(b, sys.argv[1])(sys.argv[2])", hook, out], cwd=tree)
    return next(Path(out).iterdir())


# Left out of a copy of the project: what builds and test runs leave behind.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".tox", ".ci-venv", ".sid-root*", "build", "dist", "wheelhouse", "__pycache__",
    "*.so", "*.egg-info", ".hypothesis", ".pytest_cache")


def copy_project(dest):
    """A copy of the project's sources, so builds do not write into the work tree."""
    shutil.copytree(ROOT, dest, ignore=_NOT_SOURCE, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("source") / "faulthandler-auto")


def test_wheel_contents(wheel_path):
    names = assert_hook_at_root(wheel_path)
    for module in ("_faulthandler_auto_startup.py", "faulthandler_auto/__init__.py", "faulthandler_auto/config.py"):
        assert module in names
    assert any(n.startswith("faulthandler_auto/_native.") and n.endswith(".so") for n in names)
    assert "-cp%d%d-" % sys.version_info[:2] in wheel_path.name
    with zipfile.ZipFile(wheel_path) as zf:
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "faulthandler-auto = faulthandler_auto.cli:main" in zf.read(entry_points).decode()


def test_hook_is_a_single_import_line():
    lines = (ROOT / HOOK_FILES[0]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("import ")
    compile(lines[0], HOOK_FILES[0], "exec")


def test_installed_at_the_root_of_site_packages(venv_python):
    packages = site_packages(venv_python)
    assert (packages / HOOK).read_bytes() == (ROOT / HOOK).read_bytes()
    assert not (packages / OTHER_HOOK).exists()


def test_uninstall_removes_the_hook(tmp_path, wheel_path, new_venv, venv_pip):
    python = new_venv(tmp_path / "venv")
    venv_pip(python, "install", "--no-deps", "--no-index", wheel_path)
    packages = site_packages(python)
    assert (packages / HOOK).exists()
    venv_pip(python, "uninstall", "--yes", "faulthandler-auto")
    assert not [name for name in HOOK_FILES if (packages / name).exists()]
    assert not (packages / "faulthandler_auto").exists()


@interpreter_independent
def test_editable_install(source_tree, tmp_path, new_venv, venv_pip, run_py):
    """pip install -e . builds this PEP 660 wheel: the hook is in it, runs, and uninstalls.
    Once per matrix: setuptools' editable layout is the same on every
    version, and the sdist test below compiles the core with gcc on each."""
    wheel = backend(source_tree, "build_editable", tmp_path / "dist")
    names = assert_hook_at_root(wheel)
    assert not any(n.startswith(("faulthandler_auto/", "_faulthandler_auto_startup")) for n in names)
    python = new_venv(tmp_path / "venv")
    venv_pip(python, "install", "--no-deps", "--no-index", wheel)
    proc = run_py("import faulthandler_auto; print(faulthandler_auto.__file__)", python=python,
                  env={"PYTHONFAULTHANDLER_FORMAT": "bogus"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "%s\n" % (source_tree / "src" / "faulthandler_auto" / "__init__.py")
    assert proc.stderr.startswith("faulthandler-auto: PYTHONFAULTHANDLER_FORMAT='bogus' ignored")
    packages = site_packages(python)
    venv_pip(python, "uninstall", "--yes", "faulthandler-auto")
    assert not [name for name in HOOK_FILES if (packages / name).exists()]


def test_sdist_builds_a_wheel_with_the_hook(source_tree, tmp_path):
    sdist = backend(source_tree, "build_sdist", tmp_path / "sdist")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    # both hooks: the building interpreter picks its own
    for name in HOOK_FILES + ("src/core/module.c", "src/core/pycompat.h",
                              "src/_faulthandler_auto_startup.py", "tests/native/corrupt_frames.c", "LICENSE",
                              "setup.py", "setup.cfg", "README.md", "tests/conftest.py"):
        assert name in names
    assert [n for n in names if n.startswith("src/core/") and n.endswith(".c")]
    out = tmp_path / "wheel"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", out, sdist])
    assert_hook_at_root(next(out.glob("*.whl")))


def test_readme_quick_start(run_py, tmp_path):
    """The README's first command, against the venv: a crash leaves its dump in a new directory."""
    crash = tmp_path / "crash"
    proc = run_py("import ctypes; ctypes.string_at(0)",
                  env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": str(crash / "{prog}-{pid}.log")})
    assert (proc.returncode, proc.stdout, proc.stderr) == (-11, "", "")
    (dump,) = crash.iterdir()
    assert dump.name.startswith("python-")
    text = dump.read_text()
    assert text.startswith("Fatal Python error: Segmentation fault\n")
    assert '  File "<string>", line 1 in <module>\n' in text


# manylinux2014's libraries (PEP 599) that the core may link against
MANYLINUX2014_LIBS = {"libc.so.6", "libpthread.so.0", "libdl.so.2", "libm.so.6", "librt.so.1",
                      "libgcc_s.so.1", "libutil.so.1"}


def test_release_wheel_is_manylinux2014(wheel_path, tmp_path):
    """The wheel tox installed (tools/build-wheels.sh, zig for glibc 2.17):
    tagged manylinux, and its core needs no symbol newer than glibc 2.17 and
    no library outside the policy, so it installs on any glibc >= 2.17."""
    if "manylinux" not in wheel_path.name:
        pytest.skip("%s is a local build, not a release wheel" % wheel_path.name)
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("no objdump to read the core's ELF headers")
    tag = "cp%d%d-cp%d%d%s" % (sys.version_info[:2] * 2 + (sys.abiflags,))
    assert wheel_path.name.endswith("-%s-manylinux_2_17_x86_64.manylinux2014_x86_64.whl" % tag)
    with zipfile.ZipFile(wheel_path) as zf:
        wheel_meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))).decode()
        (core,) = [n for n in zf.namelist() if n.startswith("faulthandler_auto/_native.")]
        zf.extract(core, tmp_path)
    assert "Root-Is-Purelib: false\n" in wheel_meta
    assert "Tag: %s-manylinux_2_17_x86_64\n" % tag in wheel_meta
    so = str(tmp_path / core)
    needed = set(re.findall(r"NEEDED\s+(\S+)", subprocess.check_output([objdump, "-p", so], text=True)))
    assert needed and needed <= MANYLINUX2014_LIBS, needed
    versions = set(re.findall(r"GLIBC_(\d+)\.(\d+)", subprocess.check_output([objdump, "-T", so], text=True)))
    assert versions and max((int(a), int(b)) for a, b in versions) <= (2, 17), versions


ARM64_ROOT = os.environ.get("ARM64_ROOT", "/var/tmp/faulthandler-auto/arm64-root")
QEMU = shutil.which("qemu-aarch64-static")


@interpreter_independent
@pytest.mark.skipif(QEMU is None or not os.path.exists(os.path.join(ARM64_ROOT, "usr/bin/python3.11")),
                    reason="needs qemu-aarch64-static and an arm64 root (see tools/build-wheels.sh)")
def test_aarch64_wheel_under_qemu(tmp_path):
    """tools/build-wheels.sh cp311-aarch64 gives a manylinux2014 aarch64 wheel
    whose core, run by Debian's arm64 python3.11 under qemu, dumps a crash
    through the hook."""
    run(["bash", ROOT / "tools" / "build-wheels.sh", "-o", tmp_path / "wh", "cp311-aarch64"])
    (wheel,) = (tmp_path / "wh").glob("*.whl")
    assert wheel.name.endswith("-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "site")
    python = os.path.join(ARM64_ROOT, "usr/bin/python3.11")
    proc = subprocess.run(
        [QEMU, "-L", ARM64_ROOT, python, "-c",
         "import site, sys; site.addsitedir(sys.argv[1]); import ctypes; ctypes.string_at(0)",
         str(tmp_path / "site")],
        env={"PATH": "/usr/bin:/bin", "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert proc.returncode == -11, proc
    assert proc.stderr.startswith("Fatal Python error: Segmentation fault\n\n"), proc.stderr
    assert ("\nSignal: SIGSEGV, SEGV_MAPERR (address not mapped to object), fault address 0x0\n"
            in proc.stderr), proc.stderr
    assert '  File "<string>", line 1 in <module>\n' in proc.stderr
