"""CPython's own test_faulthandler, run against this package.

The suite each interpreter ships (test.test_faulthandler; on Debian in
libpython3.X-testsuite) is run three times with this interpreter:

- stock: in a venv without this package, CPython's faulthandler as it is;
- cpython: in a venv with the wheel and a .pth shim that puts this package in
  sys.modules['faulthandler'] and selects the "cpython" format, in the test
  process and in every child it spawns (the children run with -E, so the
  shim, not a variable, chooses the format);
- text: the same with the default "text" format.

In cpython format nothing may fail that does not fail for the stock module.
In text format a test may also fail when the README lists it as a deliberate
extension, with its reason.
"""
import json
import re
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, clean_environ, site_packages
from dumps import only_dump

RUNNER = ROOT / "tests" / "scripts" / "cpython_suite.py"
SHIM = "zz_faulthandler_auto_alias"
# The whole suite takes about 20 s unloaded; this only stops a hung run.
SUITE_TIMEOUT = 900


def _has_suite(python):
    probe = "import importlib.util as u; print(u.find_spec('test.test_faulthandler') is not None)"
    out = subprocess.run([str(python), "-c", probe], env=clean_environ(),
                         stdout=subprocess.PIPE, universal_newlines=True)
    return out.stdout.strip() == "True"


def run_suite(python, tmp_path, name):
    out = tmp_path / (name + ".json")
    proc = subprocess.run(
        [str(python), str(RUNNER), str(out)],
        env=clean_environ(), timeout=SUITE_TIMEOUT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, errors="backslashreplace",
    )
    if proc.returncode or not out.exists():
        pytest.fail("the %s run of test_faulthandler did not finish (%d):\n%s"
                    % (name, proc.returncode, proc.stdout[-4000:]))
    result = json.loads(out.read_text())
    assert result["run"] > 20, result["log"][-4000:]
    return result


def short_id(test_id):
    """The test's name: "test.test_faulthandler.C.test_x (line='...')" -> "test_x"."""
    return test_id.split(" ", 1)[0].rsplit(".", 1)[-1]


def documented_extensions():
    """The test names of the README's table of deliberate differences."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## CPython's own test suite\n", 1)
    assert len(section) == 2, "README.md lost its section \"CPython's own test suite\""
    body = section[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(test_\w+)` \|", body, re.M))


@pytest.fixture(scope="module")
def stock(tmp_path_factory, new_venv):
    tmp = tmp_path_factory.mktemp("stock")
    python = new_venv(tmp / "venv")
    if not _has_suite(python):
        pytest.skip("this interpreter ships no test.test_faulthandler")
    return run_suite(python, tmp, "stock")


SHIM_MODULE = """\
import sys


def start():
    import faulthandler_auto
    sys.modules["faulthandler"] = faulthandler_auto
    faulthandler_auto.set_format(%r)
"""


def run_ours(venv_python, tmp_path, format):
    """The shim module's start() runs from a .pth import line (3.9-3.14) or,
    on 3.15, from a .start entry point, which site calls after the .pth
    import lines: after our own hook's entry point either way (the name
    sorts after ours), so a start-up configure() (-X faulthandler) does not
    undo its format."""
    site = site_packages(venv_python)
    files = {
        SHIM + ".py": SHIM_MODULE % format,
        SHIM + ".pth": "import %s; %s.start()\n" % (SHIM, SHIM),
        SHIM + ".start": "%s:start\n" % SHIM,
    }
    for name, text in files.items():
        (site / name).write_text(text)
    try:
        # the children of the suite run with -E: the shim must work there too
        probe = subprocess.run(
            [str(venv_python), "-E", "-X", "faulthandler", "-c",
             "import faulthandler; print(faulthandler.__name__, faulthandler.is_enabled())"],
            env=clean_environ(), stdout=subprocess.PIPE, universal_newlines=True)
        assert probe.stdout.split() == ["faulthandler_auto", "True"], probe
        return run_suite(venv_python, tmp_path, format)
    finally:
        for name in files:
            (site / name).unlink()


def report(result, names):
    return "\n".join("===== %s\n%s" % (k, v[-2500:])
                     for k, v in sorted(result["failed"].items()) if short_id(k) in names)


@pytest.mark.parametrize("format", ["cpython", "text"])
def test_cpython_suite(stock, venv_python, tmp_path, format):
    ours = run_ours(venv_python, tmp_path, format)
    allowed = {short_id(k) for k in stock["failed"]}
    if format == "text":
        allowed |= documented_extensions()
    failed = {short_id(k) for k in ours["failed"]}
    unexpected = failed - allowed
    assert not unexpected, "%d failures beyond %s:\n%s" % (
        len(unexpected), "the stock module's" if format == "cpython" else
        "the stock module's and the README's", report(ours, unexpected))
    assert ours["run"] == stock["run"], (ours["run"], stock["run"])
    assert len(ours["skipped"]) <= len(stock["skipped"]), ours["skipped"]


ENABLE_TWICE = """\
import sys, faulthandler_auto
if sys.argv[1:] == ["alias"]:
    sys.modules["faulthandler"] = faulthandler_auto
import faulthandler
ours = sys.modules["faulthandler_auto"]
print(ours.is_enabled(), end=" ")
faulthandler.enable()
faulthandler.enable()
print(faulthandler.disable(), ours.is_enabled())
"""


@pytest.mark.parametrize("env", [{}, {"PYTHONFAULTHANDLER": "1"}])
@pytest.mark.parametrize("shim", [None, "aaa_alias.pth", "zz_alias.pth"])
def test_aliasing(venv_python, tmp_path, shim, env):
    """sys.modules['faulthandler'] = faulthandler_auto, in a .pth before our
    hook, after it, or in the program, means what importing us by name means."""
    script = tmp_path / "enable_twice.py"
    script.write_text(ENABLE_TWICE)

    def outcome(*args):
        proc = subprocess.run([str(venv_python), str(script), *args], env=clean_environ(env),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        assert proc.returncode == 0 and proc.stderr == "", proc
        return proc.stdout.split()

    by_name = ["True" if env else "False", "True", "False"]
    if shim is None:
        assert outcome("alias") == by_name
        return
    pth = site_packages(venv_python) / shim
    pth.write_text("import sys, faulthandler_auto; "
                   "sys.modules['faulthandler'] = faulthandler_auto\n")
    try:
        assert outcome() == by_name
    finally:
        pth.unlink()


# One program, run once with CPython's faulthandler and once with ours in the
# cpython format: the outputs must be equal but for thread ids and C frames
# (CPython's C stack starts in its own handler, ours at the fault).  This
# also covers 3.14 and 3.15, where the sid root may lack the test suite.
SAME_PROGRAM = """\
import os, signal, sys, threading, time
import faulthandler, faulthandler_auto
ours = sys.argv[1] == "ours"
if ours:
    faulthandler_auto.set_format("cpython")
fh = faulthandler_auto if ours else faulthandler
ready, stop = threading.Event(), threading.Event()
def waiter():
    ready.set()
    stop.wait()
threading.Thread(target=waiter, name="waiter").start()
ready.wait()
def inner(what):
    if what == "explicit":
        fh.dump_traceback()
        fh.dump_traceback(all_threads=False)
    elif what == "signal":
        fh.register(signal.SIGUSR1, all_threads=True)
        os.kill(os.getpid(), signal.SIGUSR1)
        fh.register(signal.SIGUSR1, all_threads=False)
        os.kill(os.getpid(), signal.SIGUSR1)
    elif what == "timeout":
        fh.dump_traceback_later(0.05, exit=True)
        time.sleep(60)
    else:
        fh.enable(all_threads=what == "fatal")
        (faulthandler_auto.sigsegv if ours else faulthandler._sigsegv)()
def outer(what):
    inner(what)
try:
    outer(sys.argv[2])
finally:
    stop.set()
"""


def normalized(text):
    text = re.sub(r"0x[0-9a-f]+", "0x?", text)
    return [line for line in text.splitlines() if not line.startswith("  Binary file ")]


@pytest.mark.parametrize("what", ["explicit", "signal", "timeout", "fatal", "fatal_single"])
def test_cpython_format_is_cpythons_output(venv_python, tmp_path, what):
    script = tmp_path / "same.py"
    script.write_text(SAME_PROGRAM)
    outputs = {}
    for who in ("cpython", "ours"):
        proc = subprocess.run(
            [str(venv_python), str(script), who, what], env=clean_environ(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
            errors="backslashreplace", timeout=120)
        expected = {"fatal": -signal.SIGSEGV, "fatal_single": -signal.SIGSEGV, "timeout": 1}
        assert proc.returncode == expected.get(what, 0), proc
        outputs[who] = proc.stderr
    assert "File " in outputs["cpython"], outputs
    assert normalized(outputs["ours"]) == normalized(outputs["cpython"]), outputs


GC_CRASH = """\
import gc, sys, faulthandler_auto
faulthandler_auto.enable()
class Cycle:
    def __del__(self):
        faulthandler_auto.sigsegv()
a, b = Cycle(), Cycle()
a.b, b.a = b, a
a = b = None
gc.collect()
"""


@pytest.mark.skipif(sys.version_info < (3, 10), reason="CPython notes the GC from 3.10")
def test_text_notes_garbage_collecting(run_py):
    proc = run_py(GC_CRASH)
    assert proc.returncode == -signal.SIGSEGV, proc
    dump = only_dump(proc.stderr)
    assert dump.current.lines[:2] == ["  Garbage-collecting", '  File "<string>", line 5 in __del__']


EXTENSIONS = """\
import sys, faulthandler_auto
{names}
faulthandler_auto.enable()
faulthandler_auto.sigsegv()
"""


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is 3.10+")
@pytest.mark.parametrize("format", ["text", "cpython"])
def test_stdlib_names_read_at_dump_time(run_py, format):
    """As CPython: a program that empties sys.stdlib_module_names sees the
    standard library's extension modules listed."""
    proc = run_py(EXTENSIONS.format(names="sys.stdlib_module_names = frozenset()"),
                  env={"PYTHONFAULTHANDLER_FORMAT": format})
    assert proc.returncode == -signal.SIGSEGV, proc
    names = only_dump(proc.stderr).extensions[0]
    assert "sys" in names and "_signal" in names
    # our own core only where CPython would list it
    assert ("faulthandler_auto._native" in names) == (format == "cpython")
    proc = run_py(EXTENSIONS.format(names=""), env={"PYTHONFAULTHANDLER_FORMAT": format})
    assert "Extension modules: sys" not in proc.stderr, proc.stderr


MAX_THREADS = """\
import sys, threading, faulthandler_auto
faulthandler_auto.set_format(sys.argv[1])
ready, stop = threading.Barrier(4), threading.Event()
def worker():
    ready.wait()
    stop.wait()
threads = [threading.Thread(target=worker) for _ in range(3)]
for t in threads:
    t.start()
ready.wait()
faulthandler_auto.dump_traceback(max_threads=2)
stop.set()
"""


@pytest.mark.parametrize("format, marker", [("cpython", "\n...\n"), ("text", "\n... (2 threads omitted)\n")])
def test_max_threads_keyword(venv_python, format, marker):
    """CPython 3.15's keyword-only max_threads, accepted on every version."""
    proc = subprocess.run([str(venv_python), "-c", MAX_THREADS, format], env=clean_environ(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc
    assert marker in proc.stderr, proc.stderr
    # thread headers only (the text format's "State of thread 0x..." lines name them too)
    headers = [line for line in proc.stderr.lower().splitlines()
               if line.startswith(("thread 0x", "current thread 0x"))]
    assert len(headers) == 2, proc.stderr
