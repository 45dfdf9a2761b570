"""The hook files reach the root of site-packages from a wheel, an sdist and an editable
install, are listed in RECORD, and leave with `pip uninstall`."""
import csv
import io
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import HOOK_FILES, ROOT, run, site_packages


def record_of(zf):
    """{path: hash} from the RECORD of an open wheel."""
    name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
    rows = csv.reader(io.StringIO(zf.read(name).decode("utf-8")))
    return {row[0]: row[1] for row in rows}


def assert_hook_at_root(wheel):
    with zipfile.ZipFile(wheel) as zf:
        record = record_of(zf)
        for name in HOOK_FILES:
            assert zf.read(name) == (ROOT / name).read_bytes()
            assert record[name].startswith("sha256="), record
        return zf.namelist()


def backend(tree, hook, out):
    """Call one PEP 517/660 hook of setuptools in `tree`, as a front end would, offline."""
    run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
         "getattr(b, sys.argv[1])(sys.argv[2])", hook, out], cwd=tree)
    return next(Path(out).iterdir())


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory):
    """A copy of the project, so builds do not write into the work tree."""
    tree = tmp_path_factory.mktemp("source") / "faulthandler-auto"
    tree.mkdir()
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "tox.ini") + HOOK_FILES:
        shutil.copy2(ROOT / name, tree / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info")
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, tree / name, ignore=ignore)
    return tree


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
    for name in HOOK_FILES:
        assert (packages / name).read_bytes() == (ROOT / name).read_bytes()


def test_uninstall_removes_the_hook(tmp_path, wheel_path, new_venv, venv_pip):
    python = new_venv(tmp_path / "venv")
    venv_pip(python, "install", "--no-deps", "--no-index", wheel_path)
    packages = site_packages(python)
    assert all((packages / name).exists() for name in HOOK_FILES)
    venv_pip(python, "uninstall", "--yes", "faulthandler-auto")
    assert not [name for name in HOOK_FILES if (packages / name).exists()]
    assert not (packages / "faulthandler_auto").exists()


def test_editable_install(source_tree, tmp_path, new_venv, venv_pip, run_py):
    """pip install -e . builds this PEP 660 wheel: the hook is in it, runs, and uninstalls."""
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
    for name in HOOK_FILES + ("src/faulthandler_auto/_native/module.c", "src/faulthandler_auto/_native/pycompat.h",
                              "src/_faulthandler_auto_startup.py", "tests/native/corrupt_frames.c",
                              "setup.py", "setup.cfg", "README.md", "tests/conftest.py"):
        assert name in names
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
