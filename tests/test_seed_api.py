"""faulthandler 1.4's documented calls, made with 1.4's defaults, against the
installed package: its names keep its signatures and meanings (README, "The
names of faulthandler 1.x and 2.x"), and 2.x's names are there too."""
import pytest

from dumps import RETURNCODES, only_dump, split_dumps

# faulthandler 1.4's README, name by name; None: not a Python function here.
SEED_SIGNATURES = {
    "isenabled": "()",
    "dumpbacktrace": "(file=None, all_threads=False)",
    "dumpbacktrace_later": "(delay, repeat=False, file=None, all_threads=False)",
    "cancel_dumpbacktrace_later": "()",
}

# A thread that waits, so that "all threads" and "the current one" differ.
PRELUDE = """\
import os, sys, threading, time
import faulthandler_auto as faulthandler
ready, stop = threading.Event(), threading.Event()
def waiter():
    ready.set()
    stop.wait()
threading.Thread(target=waiter, name="waiter", daemon=True).start()
ready.wait()
"""
FIRST = PRELUDE.count("\n") + 1  # the line number of the code after it


def test_signatures(run_py):
    proc = run_py(
        "import inspect, faulthandler_auto as f\n"
        "for name, signature in %r.items():\n"
        "    assert str(inspect.signature(getattr(f, name))) == signature, name\n"
        "assert f.dump_tracebacks_later is f.dump_traceback_later\n"
        "assert f.cancel_dump_tracebacks_later is f.cancel_dump_traceback_later\n"
        "assert f.isenabled is f.is_enabled\n" % (SEED_SIGNATURES,))
    assert proc.returncode == 0, proc


def test_version(run_py):
    proc = run_py("import faulthandler_auto as f; print(type(f.version).__name__, "
                  "f.version >> 8, f.version & 255, f.__version__)")
    assert proc.returncode == 0, proc
    kind, major, minor, text = proc.stdout.split()
    assert kind == "int"
    assert text.split(".")[:2] == [major, minor]


def test_isenabled(run_py):
    proc = run_py("import faulthandler_auto as f\n"
                  "print(f.isenabled()); f.enable(); print(f.isenabled())\n"
                  "f.disable(); print(f.isenabled())\n")
    assert proc.returncode == 0, proc
    assert proc.stdout.split() == ["False", "True", "False"]


def test_dumpbacktrace_current_thread_by_default(run_py):
    proc = run_py(PRELUDE + "def call():\n    faulthandler.dumpbacktrace()\ncall()\n")
    assert proc.returncode == 0, proc
    dump = only_dump(proc.stderr)
    assert dump.threads == []
    assert dump.stack.frames == [("<string>", FIRST + 1, "call"), ("<string>", FIRST + 2, "<module>")]


def test_dumpbacktrace_all_threads(run_py):
    proc = run_py(PRELUDE + "faulthandler.dumpbacktrace(all_threads=True)\n")
    assert proc.returncode == 0, proc
    dump = only_dump(proc.stderr)
    assert dump.stack is None
    assert dump.current.frames == [("<string>", FIRST, "<module>")]
    others = [t for t in dump.threads if not t.current]
    assert len(others) == 1 and ("<string>", 6, "waiter") in others[0].frames


# The main thread waits for the dump file to fill; `repeat` gives two dumps.
LATER = PRELUDE + """\
path = {path!r}
with open(path, "w") as f:
    faulthandler.dumpbacktrace_later(0.1, repeat={repeat}, file=f{all_threads})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(path) as r:
            if r.read().count("Timeout (") >= {count}:
                break
        time.sleep(0.01)
    faulthandler.cancel_dumpbacktrace_later()
"""


@pytest.mark.parametrize("repeat", [False, True])
def test_dumpbacktrace_later_main_thread_by_default(run_py, tmp_path, repeat):
    path = tmp_path / "dump.txt"
    code = LATER.format(path=str(path), repeat=repeat, all_threads="", count=2 if repeat else 1)
    proc = run_py(code)
    assert proc.returncode == 0 and proc.stderr == "", proc
    dumps = split_dumps(path.read_text())
    assert len(dumps) >= (2 if repeat else 1)
    for dump in dumps:
        assert dump.timeout == "0:00:00.100000"
        assert dump.threads == []
        # the main thread, somewhere in its wait loop (every call there is C)
        [frame] = dump.stack.frames
        assert frame.function == "<module>" and FIRST + 5 <= frame.line <= FIRST + 8, frame


def test_dumpbacktrace_later_all_threads(run_py, tmp_path):
    path = tmp_path / "dump.txt"
    code = LATER.format(path=str(path), repeat=False, all_threads=", all_threads=True", count=1)
    proc = run_py(code)
    assert proc.returncode == 0 and proc.stderr == "", proc
    dump = only_dump(path.read_text())
    assert dump.stack is None and len(dump.threads) == 2
    assert {t.frames[-1].function for t in dump.threads} == {"<module>", "_bootstrap"}


@pytest.mark.parametrize("call, signame", [
    ("sigsegv()", "SIGSEGV"),
    ("sigsegv(release_gil=False)", "SIGSEGV"),
    ("sigsegv(True)", "SIGSEGV"),
    ("sigfpe()", "SIGFPE"),
    ("sigbus()", "SIGBUS"),
    ("sigill()", "SIGILL"),
])
def test_crash_helpers(run_py, call, signame):
    proc = run_py(PRELUDE + "faulthandler.enable(all_threads=False)\nfaulthandler.%s\n" % call)
    assert proc.returncode == RETURNCODES[signame], proc
    dump = only_dump(proc.stderr)
    assert dump.signal.group(1) == signame
    # the helper is C: the caller's line is the innermost frame
    assert dump.stack.frames == [("<string>", FIRST + 1, "<module>")]
