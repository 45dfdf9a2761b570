"""The start-up fast path (src/core/start.c): the core reads and applies the
variables without the package when it is sure of every one, and config.py,
the owner of their meaning, agrees with whatever it accepted."""
import os
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import faulthandler_auto
from faulthandler_auto import _facts
from faulthandler_auto.config import Config, parse

pytestmark = pytest.mark.skipif(faulthandler_auto.fallback_reason is not None,
                                reason="fallback mode: no C core, no fast path")

P = "PYTHONFAULTHANDLER"
native = faulthandler_auto._native

HOSTILE = ["", " ", "\t", "\n1", "1\n", " 1 ", "\u00a01", "\u3000", "１", "٣", "\x00", "1\x00",
           "nan", "NaN", "inf", "-inf", "+1", "-1", "-0", "0", "1e3", "1E3", "1_0", "0x10", "1.",
           ".5", "1..5", "1.5.", "+.5", "99999999999999999999999999", "9" * 400, "1" * 30 + "s",
           "\udcff", "caf\u00e9", "ON", "Yes", "tRuE", "off ", "2", "y", "t"]
VALUES = {
    "": HOSTILE + ["x", "0"],
    "_TIMEOUT": HOSTILE + ["1", "30", "30s", "10m", "2h", "2.5", "0.001", "0.0009", "8640000",
                           "8640001", "2400h", "2401h", "1S", "1M", "1H", "s", "m", "1ms", "1 s",
                           "1d", "600", "0.5m"],
    "_MAX_FRAMES": HOSTILE + ["1", "100", "100000", "100001", "007", "0"],
    "_MAX_THREADS": ["5", "0", "1000000"],
    "_RATE": HOSTILE + ["0", "20", "100000", "100001"],
    "_RATE_BYTES": HOSTILE + ["0", "64M", "64m", "1k", "1G", "4294967296g", "4294967297g",
                              "4611686018427387904", "4611686018427387905", "1T", "k"],
    "_FORMAT": HOSTILE + ["text", "JSON", "cpython", " Json ", "xml"],
    "_SIGNAL": HOSTILE + ["USR1", "usr1", "SIGUSR2", "sigusr1", "10", "12", "USR1,USR2", "USR1,,USR2",
                          "USR1, USR2", "USR1,USR1", "10,USR1", "INT", "TERM", "HUP", "SIGINT",
                          "SEGV", "11", "KILL", "9", "STOP", "19", "RTMIN", "SIGRTMAX", "34", "64",
                          "65", "999", "1000", "QUIT", "WINCH", "sig", "SIG", "SIGSIGUSR1", "IOT",
                          "CLD", "POLL", "PWR", "SYS", "URG,PROF,VTALRM", "TRAP", "PIPE", "CHLD"],
    "_PATH": HOSTILE + ["stderr", "STDOUT", " stdout ", "relative.log", "~/x.log", "{pid}.log"],
    "_UNKNOWN": ["1"],
    "_path": ["stderr"],
}
for suffix in ("_REPEAT", "_EXIT", "_CHAIN", "_ALL_THREADS", "_C_STACK", "_ASYNCIO", "_TREE"):
    VALUES[suffix] = HOSTILE + ["1", "0", "true", "FALSE", "yes", "No", "on", "OFF", " on "]


def paths(tmp_path):
    """Path values around an existing directory, a symbolic link to one, and missing ones."""
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    (real / "file.log").write_text("")
    base = str(tmp_path)
    return [base, base + "/", base + "/real", base + "/link", base + "/link/", base + "/link/{pid}.log",
            base + "/real/{pid}-{prog}-{time}-{host}-{ppid}-{worker}.log", base + "/real/file.log",
            base + "/real/file.log/x", base + "/missing/{pid}.log", base + "/real/{pid}/x.log",
            base + "/real/{bogus}.log", base + "/real/{pid.log", base + "/real/pid}.log",
            base + "/real/{env:HOME}.log", base + "/real/{env:1X}.log", base + "/real/{env:}.log",
            base + "/real/{env:A_B}{env:a1}.log", base + "/real//x.log", base + "/real/./x.log",
            base + "/real/../x.log", base + "/real/.hidden", base + "/real/..x", base + "/real/x.log ",
            base + "/real/\tx.log", base + "/real/" + "x" * 5000, "/", "/{pid}.log", "/tmp",
            base + "/real/sub/", base + "/link/sub/{pid}"]


def check(environ):
    """Whenever the core accepts `environ`, config.parse() reads the same
    Config from it, without a warning.  Returns whether the core accepted."""
    fields = native.parse_environment(environ)
    config, warnings = parse(environ)
    if fields is None:
        return False
    assert (Config(**fields), warnings) == (config, []), environ
    return True


def test_core_agrees_with_config_on_every_value(tmp_path):
    accepted = 0
    cases = [(suffix, value) for suffix, values in VALUES.items() for value in values]
    cases += [("_PATH", value) for value in paths(tmp_path)]
    for suffix, value in cases:
        accepted += check({P + suffix: value})
        # the dependent options, with and without what they need
        accepted += check({P + suffix: value, P + "_TIMEOUT": "5", P + "_REPEAT": "1", P + "_EXIT": "on"})
        accepted += check({P + suffix: value, P + "_SIGNAL": "USR1", P + "_CHAIN": "1"})
        accepted += check({P + suffix: value, P + "_CHAIN": "1"})
        accepted += check({P + suffix: value, "OTHER": "x"})
    assert accepted > len(cases)   # it accepts, so the comparison was made


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([P + s for s in VALUES] + [P + "_SIGNAL", P + "_TIMEOUT"]),
                       st.one_of(st.text(max_size=12),
                                 st.text(alphabet="0123456789.,smhkgSIGUSRINTerm _-+eE", max_size=12)),
                       max_size=4))
def test_core_agrees_with_config_on_generated_values(environ):
    check(environ)


COMMON = [
    {P: "1"},
    {P: "1", P + "_TIMEOUT": "600"},
    {P: "1", P + "_TIMEOUT": "10m", P + "_REPEAT": "1", P + "_EXIT": "true"},
    {P: "1", P + "_SIGNAL": "USR1"},
    {P + "_SIGNAL": "SIGUSR1,SIGUSR2", P + "_CHAIN": "1"},
    {P + "_SIGNAL": "INT,TERM", P + "_CHAIN": "yes"},
    {P: "1", P + "_PATH": "stdout", P + "_FORMAT": "json", P + "_MAX_FRAMES": "50"},
    {P: "1", P + "_C_STACK": "0", P + "_ALL_THREADS": "off", P + "_ASYNCIO": "1"},
    {P + "_RATE": "0", P + "_RATE_BYTES": "1G", P + "_TREE": "1", P + "_MAX_THREADS": "8"},
]


@pytest.mark.parametrize("environ", COMMON, ids=range(len(COMMON)))
def test_core_accepts_the_common_forms(environ):
    assert check(environ)


def test_core_accepts_a_path_template_in_an_existing_directory(tmp_path):
    environ = {P: "1", P + "_PATH": str(tmp_path / "{pid}.log")}
    assert check(environ)
    assert native.parse_environment(environ)["path"] == os.path.realpath(tmp_path) + "/{pid}.log"


def test_core_numbers_are_facts_numbers():
    facts = dict(native.START_FACTS)
    assert facts.pop("DIRECTORY_FILE_NAME") == _facts.DIRECTORY_FILE_NAME
    assert facts == {name: getattr(_facts, name) for name in facts}


FAST_CHILD = """
import sys
print("package at start-up:", "faulthandler_auto" in sys.modules)
import faulthandler, faulthandler_auto
print("enabled:", faulthandler_auto.is_enabled(), faulthandler.is_enabled())
print("same core:", faulthandler_auto._native is sys.modules["faulthandler_auto._native"])
"""


def test_fast_path_starts_without_the_package(run_py):
    proc = run_py(FAST_CHILD, env={P: "1"})
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "package at start-up: False\nenabled: True True\nsame core: True\n"


def test_fast_path_crash_dumps_without_the_package(run_py):
    code = ("import sys, threading\n"
            "assert 'faulthandler_auto' not in sys.modules\n"
            "import faulthandler\n"
            "t = threading.Thread(target=faulthandler._sigsegv, name='worker-7')\n"
            "t.start(); t.join()\n")
    proc = run_py(code, env={P: "1", P + "_SIGNAL": "USR1"})
    assert proc.returncode == -signal.SIGSEGV
    lines = proc.stderr.splitlines()
    assert lines[0] == "Fatal Python error: Segmentation fault"
    assert any(line.startswith("Current thread 0x") and line.endswith(" [worker-7] (most recent call first):")
               for line in lines), proc.stderr
    assert sum(line.startswith("Process: pid ") for line in lines) == 1
    assert 'program "python"' in proc.stderr


def test_stdlib_enable_after_a_fast_start_writes_to_its_file(run_py, tmp_path):
    """faulthandler.enable(file) is ours while the fast path holds it: it
    imports the package, which takes over, and the crash goes to that file."""
    log = tmp_path / "crash.log"
    code = ("import faulthandler, sys\n"
            "f = open(%r, 'w')\n"
            "faulthandler.enable(f)\n"
            "assert faulthandler.is_enabled() and 'faulthandler_auto' in sys.modules\n"
            "faulthandler._sigsegv()\n") % str(log)
    proc = run_py(code, env={P: "1"})
    assert proc.returncode == -signal.SIGSEGV
    assert proc.stderr == ""
    text = log.read_text()
    assert text.startswith("Fatal Python error: Segmentation fault\n")
    assert text.count("Fatal Python error") == 1


def test_disable_gives_cpython_its_handler_back_after_a_fast_start(run_py):
    code = ("import faulthandler, faulthandler_auto\n"
            "print(faulthandler_auto.disable(), faulthandler_auto.is_enabled(), faulthandler.is_enabled())\n"
            "print(faulthandler.enable.__module__ if hasattr(faulthandler.enable, '__module__') else '')\n")
    proc = run_py(code, env={P: "1"})
    assert proc.returncode == 0, proc.stderr
    # ours is off; CPython's, on under PYTHONFAULTHANDLER before ours took over, is back
    assert proc.stdout.splitlines()[0] == "True False True"


@pytest.mark.parametrize("environ, message", [
    ({P: "1", P + "_SIGNAL": "INT"},
     "PYTHONFAULTHANDLER_SIGNAL: SIGINT only dumps (Ctrl-C no longer raises KeyboardInterrupt); "
     "set PYTHONFAULTHANDLER_CHAIN=1 to keep the normal action after the dump"),
    ({P: "1", P + "_TIMEOUT": "soon"},
     "PYTHONFAULTHANDLER_TIMEOUT='soon' ignored: not a duration; accepted: seconds from 0.001 to "
     "8640000 (100 days), optionally with unit s, m or h, e.g. 2.5, 30s, 10m, 2h"),
    ({P: "1", P + "_REPEAT": "1"},
     "PYTHONFAULTHANDLER_REPEAT='1' has no effect without a valid PYTHONFAULTHANDLER_TIMEOUT"),
])
def test_deferred_value_gets_configs_message(run_py, environ, message):
    proc = run_py("import sys; print('faulthandler_auto.config' in sys.modules)", env=environ)
    assert (proc.returncode, proc.stdout) == (0, "True\n")
    assert proc.stderr == "faulthandler-auto: %s\n" % message
    assert parse(environ)[1] == [message]


def test_deferred_silent_value_is_applied_by_config(run_py):
    """A form config.py accepts that the core is not sure of (1e3 seconds)."""
    code = ("import sys, faulthandler_auto\n"
            "print('faulthandler_auto.config' in sys.modules, faulthandler_auto.is_enabled())\n")
    proc = run_py(code, env={P: "1", P + "_TIMEOUT": "1e3"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "True True\n", "")
