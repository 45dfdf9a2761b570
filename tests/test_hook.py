"""The start-up hook in a fresh venv: free when unused, silent under -E/-I/-S, unbreakable, run once."""
import sys

import pytest

from conftest import HOOK_FILES, ROOT, site_packages

P = "PYTHONFAULTHANDLER"
BOGUS = {P + "_FORMAT": "bogus"}
BOGUS_LINE = "faulthandler-auto: %s_FORMAT='bogus' ignored: unknown format; accepted: text, json, cpython (any case)\n" % P
MODULES = "import sys; print(sorted(sys.modules))"
# What the config path must not pull in at start-up.
HEAVY = {"re", "dataclasses", "enum", "typing", "argparse", "signal", "inspect", "contextlib"}
# PEP 829 (3.15+): site imports the module a .start file names in every
# interpreter, before anything can look at the environment; ours is that
# tiny module, and nothing else of ours may load.
PEP829 = sys.version_info >= (3, 15)
EVERY_START = {"_faulthandler_auto_startup"} if PEP829 else set()
BASELINE_START = {"_baseline_start"} if PEP829 else set()


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory, new_venv):
    """A venv without faulthandler-auto: the baseline start-up. It holds a .pth file
    too, since reading one costs imports of its own (_bootlocale on 3.9), and on
    3.15 a .start entry point, since resolving one does as well."""
    python = new_venv(tmp_path_factory.mktemp("bare") / "venv")
    site = site_packages(python)
    (site / "baseline.pth").write_text("# not ours\n")
    if PEP829:
        (site / "_baseline_start.py").write_text("def start():\n    pass\n")
        (site / "baseline.start").write_text("_baseline_start:start\n")
    return python


def modules(run_py, *args, **kwargs):
    proc = run_py(MODULES, *args, **kwargs)
    assert proc.returncode == 0, proc.stderr
    return set(eval(proc.stdout))


def test_hook_file_is_one_cheap_line():
    text = (ROOT / "faulthandler_auto.pth").read_text(encoding="utf-8")
    assert text.count("\n") == 1 and text.startswith("import ")
    # scanners flag .pth files that run code from a string
    assert "exec" not in text and "eval" not in text and "compile" not in text
    assert (ROOT / "faulthandler_auto.start").read_text(encoding="utf-8") == "_faulthandler_auto_startup:start\n"


def ours(loaded):
    return {m for m in loaded if "faulthandler_auto" in m}


def test_no_variable_imports_nothing_new(run_py, bare_python):
    with_hook = modules(run_py)
    assert ours(with_hook) == EVERY_START
    assert with_hook - EVERY_START == modules(run_py, python=bare_python) - BASELINE_START


def test_importtime_shows_nothing_of_ours(run_py):
    proc = run_py("pass", "-X", "importtime")
    assert proc.returncode == 0
    assert "import time:" in proc.stderr
    assert "faulthandler" not in proc.stderr


def test_variable_loads_the_core_alone(run_py, bare_python):
    """Values the core is sure of (the fast path, start.c): no Python module
    of the package at all."""
    env = {P: "1", P + "_TIMEOUT": "1h", P + "_PATH": "/tmp/{pid}", P + "_FORMAT": "json"}
    loaded = modules(run_py, env=env) - (modules(run_py, python=bare_python, env=env) - BASELINE_START)
    assert loaded == {"_faulthandler_auto_startup", "faulthandler_auto._native"}


def test_variable_loads_config_without_heavy_imports(run_py, bare_python):
    # 1e3: a form config.py reads and the core leaves to it
    env = {P: "1", P + "_TIMEOUT": "1e3", P + "_PATH": "/tmp/{pid}", P + "_FORMAT": "json"}
    loaded = modules(run_py, env=env) - (modules(run_py, python=bare_python, env=env) - BASELINE_START)
    assert {"_faulthandler_auto_startup", "faulthandler_auto", "faulthandler_auto.config",
            "faulthandler_auto._native"} <= loaded
    assert not loaded & HEAVY, sorted(loaded)


@pytest.mark.parametrize("flags", [["-X", "faulthandler"], ["-X", "dev"], ["-E", "-X", "faulthandler"]])
def test_x_options_turn_fatal_dumps_on(run_py, flags):
    """-X faulthandler and -X dev turn our fatal dumps on as PYTHONFAULTHANDLER
    does (and, as for CPython, -E does not turn -X faulthandler off)."""
    proc = run_py("import faulthandler, faulthandler_auto as f; print(f.is_enabled(), faulthandler.is_enabled())",
                  *flags)
    # ours holds the signals; the stdlib module reports it (CPython's promise)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "True True\n", "")


def test_other_x_options_load_nothing(run_py):
    assert ours(modules(run_py, "-X", "utf8")) == EVERY_START


@pytest.mark.parametrize("flags", [["-E"], ["-I"], ["-S"], ["-I", "-S"]])
def test_flags_turn_the_hook_off(run_py, flags):
    env = dict(BOGUS, **{P: "1", P + "_SIGNAL": "USR1"})
    proc = run_py(MODULES, *flags, env=env)
    assert (proc.returncode, proc.stderr) == (0, "")
    # The .pth line leaves -E to the tiny start-up module: one test fewer
    # compiled in every interpreter; it goes no further.
    assert ours(eval(proc.stdout)) <= (set() if "-S" in flags else {"_faulthandler_auto_startup"})


def test_warning_appears_once_per_process(run_py):
    proc = run_py("print('ok')", env=BOGUS)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", BOGUS_LINE)


def test_site_packages_twice_runs_the_hook_once(run_py, venv_python, tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(site_packages(venv_python), target_is_directory=True)
    code = (
        "import site, sys\n"
        "site.addsitedir(%r)\n"  # a second spelling of site-packages: its .pth files run again
        "assert %r in sys.path\n"
        "import _faulthandler_auto_startup as s; s.start()\n"
        "print('ok')\n"
    ) % (str(alias), str(alias))
    proc = run_py(code, env=BOGUS)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", BOGUS_LINE)


HOSTILE = [
    {P: "x" * 100000, P + "_PATH": "/" + "p" * 100000},
    {P + "_" + "K" * 100000: "1"},
    {P + "_SIGNAL": "USR1," * 20000, P + "_TIMEOUT": "9" * 100000, P + "_MAX_FRAMES": "9" * 100000},
    {P + "\x01\x7f": "\x01", P + "_PATH": "\t\r\x0b\x0c", P + "_FORMAT": "\u20ac\U0001f600"},
    {b"PYTHONFAULTHANDLER_PATH": b"/tmp/\xff\xfe{pid}", b"PYTHONFAULTHANDLER_\xff": b"\xff",
     b"PYTHONFAULTHANDLER": b"\xff", b"PYTHONFAULTHANDLER_SIGNAL": b"USR\xff"},
    {P + "_PATH": "{pid}" * 3000, P + "_TIMEOUT": "-0", P + "_SIGNAL": ",,,"},
    {P + "_PATH": "/proc/self/mem", P + "_TIMEOUT": "1e-320", P + "_SIGNAL": "RTMIN"},
    {P + "_PATH": "~nosuchuser/{pid}", "HOME": ""},
]


@pytest.mark.parametrize("env", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_environment_never_breaks_start_up(run_py, env):
    proc = run_py("print('ok')", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
    assert "Error processing line" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(line.startswith("faulthandler-auto: ") for line in proc.stderr.splitlines()), proc.stderr
    assert all(len(line) < 1000 for line in proc.stderr.splitlines())


def test_hook_survives_a_broken_start_module(run_py, tmp_path):
    """A shadowing module that fails to import: the .pth line is a plain import
    (no code from a string, issue #15), so site reports it as it reports the
    .start entry point on 3.15 -- and the interpreter still starts."""
    (tmp_path / "_faulthandler_auto_startup.py").write_text("raise RuntimeError('boom')\n")
    proc = run_py("print('ok')", env={P: "1", "PYTHONPATH": str(tmp_path)})
    assert (proc.returncode, proc.stdout) == (0, "ok\n")
    assert "RuntimeError: boom" in proc.stderr


@pytest.mark.parametrize("config", ["raise KeyError('kaput')\n", "def configure():\n    raise KeyError('kaput')\n"])
def test_start_survives_a_broken_package(run_py, tmp_path, config):
    pkg = tmp_path / "faulthandler_auto"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "config.py").write_text(config)
    # a value the core leaves to config.py (the fast path imports no package)
    proc = run_py("print('ok')", env={P: "1", P + "_TIMEOUT": "1e3", "PYTHONPATH": str(tmp_path)})
    assert (proc.returncode, proc.stdout) == (0, "ok\n")
    assert proc.stderr == "faulthandler-auto: internal error while starting: KeyError('kaput')\n"


@pytest.mark.parametrize("env, err", [({}, ""), (BOGUS, BOGUS_LINE)])
def test_start_entry_point_alone_does_the_job(run_py, venv_python, env, err):
    """What PEP 829 does on 3.15+: import the .start entry point and call it, with no .pth line.
    Without a variable it must cost one tiny module, not the package and its C core."""
    packages = site_packages(venv_python)
    # (the wheel holds the .start only for 3.15+: the entry point is the project's)
    entry = (ROOT / HOOK_FILES[1]).read_text().strip()
    code = (
        "import sys; sys.path.append(%r)\n"
        "import pkgutil; pkgutil.resolve_name(%r)()\n"
        "print(sorted(m for m in sys.modules if 'faulthandler' in m))\n"
    ) % (str(packages), entry)
    proc = run_py(code, "-S", env=env)
    assert (proc.returncode, proc.stderr) == (0, err)
    loaded = eval(proc.stdout)
    assert "_faulthandler_auto_startup" in loaded
    assert ("faulthandler_auto._native" in loaded) == bool(env)


@pytest.mark.skipif(sys.version_info >= (3, 15), reason="3.15+ starts through the .start file")
def test_pth_line_starts_it_before_3_15(run_py):
    proc = run_py("import _faulthandler_auto_startup as s; print(s._started)", env=BOGUS)
    assert (proc.stdout, proc.stderr) == ("True\n", BOGUS_LINE)


def test_no_variable_start_is_a_no_op(run_py):
    proc = run_py("import _faulthandler_auto_startup as s, sys; s.start(); print(s._started, "
                  "'faulthandler_auto' in sys.modules)")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "False False\n", "")


def test_environ_is_not_touched(run_py):
    env = dict(BOGUS, **{P: "1"})
    proc = run_py("import os; print(sorted(k for k in os.environ if k.startswith('PYTHON')))", env=env)
    assert proc.stdout == "%r\n" % sorted(env)


def test_warnings_never_raise_without_a_usable_stderr(run_py):
    code = (
        "import os, sys\n"
        "import faulthandler_auto.config as c\n"
        "sys.stderr = None\n"
        "c.configure({'PYTHONFAULTHANDLER_FORMAT': 'x'})\n"
        "sys.stderr = open(os.devnull)\n"  # read-only: write() raises
        "c.configure({'PYTHONFAULTHANDLER_FORMAT': 'x'})\n"
        "sys.stderr.close()\n"  # or a debug build warns of an unclosed file
        "print('ok')\n"
    )
    proc = run_py(code)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")


def test_exactly_one_of_pth_and_start_runs(tmp_path, new_venv, run_py):
    """Our two hook files, pointed at a probe that says who called it: one call
    per interpreter, from the .pth line before 3.15 and the .start entry point
    (PEP 829, which then skips the .pth import line) from 3.15 on."""
    python = new_venv(tmp_path / "venv")
    site = site_packages(python)
    for name in HOOK_FILES:
        text = (ROOT / name).read_text(encoding="utf-8")
        (site / name.replace("faulthandler_auto", "probe")).write_text(
            text.replace("_faulthandler_auto_startup", "_probe"), encoding="utf-8")
    (site / "_probe.py").write_text(
        "import sys\n"
        "def start():\n"
        "    caller = sys._getframe(1).f_code.co_filename\n"
        "    print('start() from', 'pth' if caller == '<string>' else 'entry point')\n")
    proc = run_py("pass", python=python, env={P: "1"})
    assert proc.returncode == 0, proc.stderr
    # site may read a venv's site-packages twice (lib and lib64): start()
    # guards against that itself; what matters is that one mechanism calls it
    assert set(proc.stdout.splitlines()) == {"start() from %s" % ("entry point" if PEP829 else "pth")}


@pytest.mark.skipif(not PEP829, reason="PEP 829 notes about .pth import lines come with 3.15")
def test_no_pth_deprecation_note_on_3_15(run_py):
    proc = run_py("pass", "-v", env={P: "1"})
    assert proc.returncode == 0
    notes = [line for line in proc.stderr.splitlines()
             if "faulthandler_auto.pth" in line and "deprecat" in line.lower()]
    assert notes == []
