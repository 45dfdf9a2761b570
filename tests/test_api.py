"""The Python API: CPython's faulthandler names, signatures, errors and
return values, plus what it adds (path templates, c_stack, JSON), the 1.x
aliases and the version numbers.  Everything runs in the installed venv."""
import json
import os
import signal
import stat

import pytest

from dumps import check_well_formed, cpython_frames_equal, json_dumps, only_dump, read_text, script

SIGNATURES = {
    "enable": "(file=None, all_threads=True, c_stack=True, *, max_threads=None)",
    "disable": "()",
    "is_enabled": "()",
    "dump_traceback": "(file=None, all_threads=True, *, max_threads=None)",
    "dump_c_stack": "(file=None)",
    "dump_traceback_later": "(timeout, repeat=False, file=None, exit=False, *, max_threads=None)",
    "cancel_dump_traceback_later": "()",
    "register": "(signum, file=None, all_threads=True, chain=False, *, max_threads=None)",
    "unregister": "(signum)",
}

# The keyword names CPython's faulthandler accepts (3.9-3.13; c_stack is 3.14+).
CPYTHON_KEYWORDS = """
import faulthandler, os, signal, sys
fd = os.open(os.devnull, os.O_WRONLY)
faulthandler.enable(file=fd, all_threads=True)
faulthandler.disable()
faulthandler.dump_traceback(file=fd, all_threads=False)
faulthandler.dump_traceback_later(timeout=60, repeat=False, file=fd, exit=False)
faulthandler.cancel_dump_traceback_later()
faulthandler.register(signum=signal.SIGUSR1, file=fd, all_threads=True, chain=False)
print(faulthandler.unregister(signal.SIGUSR1))
"""


def test_signatures(run_py):
    proc = run_py("import inspect, json, faulthandler_auto as f\n"
                  "print(json.dumps({n: str(inspect.signature(getattr(f, n))) for n in %r}))"
                  % sorted(SIGNATURES))
    assert proc.returncode == 0, proc
    assert json.loads(proc.stdout) == SIGNATURES


def test_cpython_accepts_the_same_keywords(run_py):
    """Our keyword names are CPython's: the same calls work on both."""
    for module in ("faulthandler", "faulthandler_auto"):
        code = CPYTHON_KEYWORDS.replace("faulthandler.", module + ".")
        code = code.replace("import faulthandler,", "import %s," % module)
        proc = run_py(code)
        assert proc.returncode == 0 and proc.stdout == "True\n", (module, proc)


def test_errors_match_cpython(run_py):
    proc = run_py(script("api_errors.py"))
    assert proc.returncode == 0, proc
    results = json.loads(proc.stdout)
    different = {case: pair for case, pair in results.items() if pair[0] != pair[1]}
    assert not different, "faulthandler_auto vs CPython's faulthandler:\n" + "\n".join(
        "  %s: %s vs %s" % (case, ours, theirs) for case, (ours, theirs) in different.items())


def test_enable_disable_is_enabled(run_py):
    proc = run_py("import faulthandler_auto as f\n"
                  "print(f.is_enabled(), f.isenabled())\n"
                  "print(f.enable())\n"
                  "print(f.is_enabled(), f.isenabled())\n"
                  "print(f.disable(), f.disable(), f.is_enabled())\n")
    assert proc.returncode == 0, proc
    assert proc.stdout.splitlines() == ["False False", "None", "True True",
                                        "True False False"]


def test_enable_takes_over_cpython_handler_and_gives_it_back(run_py):
    # (-X faulthandler would now start ours at start-up: see test_hook.py)
    proc = run_py("import faulthandler, faulthandler_auto as f\n"
                  "faulthandler.enable()\n"
                  "print(faulthandler.is_enabled())\n"
                  "f.enable()\n"
                  "print(faulthandler.is_enabled(), f.is_enabled())\n"
                  "f.disable()\n"
                  "print(faulthandler.is_enabled(), f.is_enabled())\n")
    assert proc.returncode == 0, proc
    # while ours is on, the stdlib module reports ours (CPython's own is off)
    assert proc.stdout.splitlines() == ["True", "True True", "True False"]


def test_aliases_and_version(run_py):
    proc = run_py(
        "import faulthandler_auto as f\n"
        "assert f.isenabled is f.is_enabled\n"
        "assert f.cancel_dumpbacktrace_later is f.cancel_dump_traceback_later\n"
        "for name in ('sigsegv', 'sigfpe', 'sigbus', 'sigill', 'sigabrt', 'stack_overflow'):\n"
        "    assert callable(getattr(f, name)), name\n"
        "assert type(f.version) is int and type(f.__version__) is str\n"
        "from importlib.metadata import version\n"
        "assert version('faulthandler-auto') == f.__version__, version('faulthandler-auto')\n"
        "print(f.version >> 8, f.version & 255, f.__version__)\n")
    assert proc.returncode == 0, proc
    major, minor, text = proc.stdout.split()
    assert text.split(".")[:2] == [major, minor]


def test_import_changes_nothing_until_first_use(run_py):
    """Importing the package (the CLI does) leaves _thread alone; the first
    enable() wraps its thread starters so threads are named in dumps."""
    proc = run_py(
        "import _thread, faulthandler_auto as f\n"
        "before = _thread.start_new_thread\n"
        "print(before.__module__ == 'faulthandler_auto._native')\n"
        "f.enable()\n"
        "print(_thread.start_new_thread.__module__ == 'faulthandler_auto._native')\n")
    assert (proc.returncode, proc.stdout.split(), proc.stderr) == (0, ["False", "True"], "")


def caught_signals():
    """Code printing the signals this process catches, from the kernel's view."""
    return (
        "def caught():\n"
        "    with open('/proc/self/status') as status:\n"
        "        mask = int(next(l for l in status if l.startswith('SigCgt:')).split()[1], 16)\n"
        "    return {n for n in range(1, 65) if mask >> (n - 1) & 1}\n")


def test_core_fatal_signals_are_the_facts(run_py):
    """The C core's table of fatal signals is the one _facts states."""
    proc = run_py(
        caught_signals() +
        "import faulthandler_auto as f\n"
        "from faulthandler_auto import _facts\n"
        "before = caught()\n"
        "f.enable()\n"
        # 32 and 33 are the C library's own (its first thread besides main:
        # ours, the give-up of a stuck fatal dump)
        "ours = sorted(caught() - before - {32, 33})\n"
        "print(ours == sorted(_facts.FATAL_SIGNALS.values()), ours)\n")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("True "), proc.stdout


def test_core_limits_are_the_facts(run_py, tmp_path):
    """The longest template _facts accepts fits the core's buffer; one byte
    more is refused before the core sees it; the frame limit is one number."""
    proc = run_py(
        "import faulthandler_auto as f\n"
        "from faulthandler_auto import _facts\n"
        "base = %r + '/'\n"
        "longest = base + 'x' * (_facts.PATH_MAX - len(base))\n"
        "f.enable(file=longest)\n"
        "try:\n"
        "    f.enable(file=longest + 'x')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
        "f.set_output(max_frames=_facts.MAX_LIMIT, max_threads=_facts.MAX_LIMIT)\n"
        "try:\n"
        "    f.set_output(max_frames=_facts.MAX_LIMIT + 1)\n"
        "except ValueError as e:\n"
        "    print(e)\n" % str(tmp_path))
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout.splitlines() == ["path template longer than 4095 bytes",
                                        "max_frames must be between 1 and 100000"]


@pytest.mark.parametrize("helper, name", [
    ("sigsegv", "SIGSEGV"), ("sigbus", "SIGBUS"), ("sigabrt", "SIGABRT"),
    ("sigfpe", "SIGFPE"), ("sigill", "SIGILL"),
])
def test_crash_helpers(run_py, helper, name):
    proc = run_py("import faulthandler_auto as f\nf.%s()\n" % helper,
                  env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_C_STACK": "0"})
    assert proc.returncode == -getattr(signal, name), proc
    dump = only_dump(proc.stderr)
    assert dump.signal.group(1) == name
    assert dump.threads[0].frames == [("<string>", 2, "<module>")]


EXPLICIT = """
import faulthandler, os, sys, threading, time
import faulthandler_auto
done = threading.Lock()
done.acquire()
def waiter():
    done.acquire()
t = threading.Thread(target=waiter, name="waiter")
t.start()
# until the waiter blocks in acquire(): both dumps then see the same frames
while not ((f := sys._current_frames().get(t.ident)) and f.f_code is waiter.__code__
           and f.f_lineno > waiter.__code__.co_firstlineno):
    time.sleep(0.001)
def dump(function, fd, all_threads):
    function(file=fd, all_threads=all_threads)
def nested(all_threads):
    for function, path in ((faulthandler_auto.dump_traceback, sys.argv[1]),
                           (faulthandler.dump_traceback, sys.argv[2])):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        dump(function, fd, all_threads)
        os.close(fd)
nested({all_threads})
done.release()
t.join()
"""


@pytest.mark.parametrize("all_threads", [True, False])
def test_explicit_dump_matches_cpython(run_py, tmp_path, all_threads):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    code = EXPLICIT.format(all_threads=all_threads)
    proc = run_py("import sys; sys.argv[1:] = [%r, %r]\n" % (str(ours), str(theirs)) + code)
    assert proc.returncode == 0, proc
    dump, cpython = only_dump(ours.read_text()), only_dump(theirs.read_text())
    check_well_formed(dump)
    assert dump.header == [dump.header[0]] and dump.header[0].startswith("Process: pid ")
    # CPython's lines first, then a blank line and ours, last: the Process
    # line, then each thread's state
    states = [line for line in dump.lines if line.startswith("State of thread ")]
    assert len(states) == len(dump.states) == (2 if all_threads else 1)
    ours = len(states) + 2
    assert dump.lines[-ours:] == ["", dump.header[0]] + states
    if all_threads:
        assert dump.threads[0].current and dump.threads[0].name == "MainThread"
        assert [t.name for t in dump.threads] == ["MainThread", "waiter"]
        assert dump.stack is None
    else:
        assert not dump.threads and dump.stack is not None
        assert dump.lines[:-ours] == cpython.lines
    cpython_frames_equal(dump, cpython)


def test_file_objects_are_kept_alive(run_py, tmp_path):
    """A file object given to enable/register/dump_traceback_later is kept
    referenced, so its descriptor stays open until it is used."""
    paths = [str(tmp_path / name) for name in ("later", "signal", "fatal")]
    proc = run_py(
        "import gc, os, signal, sys, time, ctypes, faulthandler_auto as f\n"
        "later, sig, fatal = %r\n"
        "f.dump_traceback_later(0.2, file=open(later, 'w'))\n"
        "f.register(signal.SIGUSR1, file=open(sig, 'w'))\n"
        "f.enable(file=open(fatal, 'w'), c_stack=False)\n"
        "gc.collect()\n"
        "os.open(os.devnull, os.O_RDONLY); os.open(os.devnull, os.O_RDONLY)\n"
        # until the timeout dump is complete: its last line is the main frame
        "while ' in <module>\\n' not in open(later).read(): time.sleep(0.01)\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "ctypes.string_at(0)\n" % (paths,))
    assert proc.returncode == -signal.SIGSEGV, proc
    later, sig, fatal = (only_dump(read_text(p)) for p in paths)
    assert later.timeout == "0:00:00.200000"
    assert sig.signal.group(1) == "SIGUSR1"
    assert fatal.fatal_error == "Segmentation fault"


def test_fd_and_path_templates(run_py, tmp_path):
    fd_path = tmp_path / "fd.log"
    proc = run_py(
        "import os, pathlib, sys, faulthandler_auto as f\n"
        "argv = [None] + %r\n"
        "fd = os.open(argv[1], os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "f.dump_traceback(fd)\n"
        "f.dump_traceback(file=argv[2])\n"
        "f.dump_traceback(file=os.fsencode(argv[3]), all_threads=False)\n"
        "f.dump_traceback(file=pathlib.Path(argv[4]))\n"
        "f.dump_traceback(file=argv[5])\n"
        "print(os.getpid())\n" % ([
            str(fd_path), str(tmp_path / "str-{pid}.log"), str(tmp_path / "bytes-{pid}.log"),
            str(tmp_path / "path-{pid}.log"), str(tmp_path / "sub" / "dir") + "/"],))
    assert proc.returncode == 0, proc
    pid = int(proc.stdout)
    assert only_dump(fd_path.read_text()).pid == pid
    for name in ("str-%d.log" % pid, "bytes-%d.log" % pid, "path-%d.log" % pid,
                 "sub/dir/python-%s-%d.log" % (os.uname().nodename, pid)):
        path = tmp_path / name
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
        dump = only_dump(path.read_text())
        assert dump.pid == pid
    assert only_dump((tmp_path / ("bytes-%d.log" % pid)).read_text()).stack is not None
    assert stat.S_IMODE(os.stat(tmp_path / "sub").st_mode) == 0o700


def test_bad_path_template(run_py):
    proc = run_py("import faulthandler_auto as f\n"
                  "for bad in ('', '/tmp/{nope}.log', '/tmp/{pid.log', 'a\\0b'):\n"
                  "    try:\n"
                  "        f.dump_traceback(file=bad)\n"
                  "    except ValueError:\n"
                  "        print('ValueError')\n")
    assert proc.returncode == 0, proc
    assert proc.stdout.split() == ["ValueError"] * 4


def test_dump_c_stack(run_py):
    proc = run_py("import faulthandler_auto as f\nf.dump_c_stack()\n")
    assert proc.returncode == 0, proc
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert dump.c_stack and not dump.threads
    assert any(frame.symbol and frame.symbol.startswith("Py") for frame in dump.c_stack)


def test_c_stack_false(run_py):
    proc = run_py("import faulthandler_auto as f\nf.enable(c_stack=False)\nf.sigsegv()\n")
    assert proc.returncode == -signal.SIGSEGV
    assert only_dump(proc.stderr).c_stack is None


def test_explicit_json(run_py):
    proc = run_py("import os, faulthandler_auto as f\n"
                  "f.set_output('json')\n"
                  "def g():\n"
                  "    f.dump_traceback()\n"
                  "g()\n"
                  "f.dump_c_stack()\n"
                  "print(os.getpid())\n")
    assert proc.returncode == 0, proc
    explicit, c_stack = json_dumps(proc.stderr)
    assert len(proc.stderr.splitlines()) == 2
    assert explicit["event"] == "explicit" and explicit["signal"] is None
    assert explicit["pid"] == int(proc.stdout)
    assert explicit["threads"][0]["frames"] == [
        {"file": "<string>", "line": 4, "function": "g"},
        {"file": "<string>", "line": 5, "function": "<module>"},
    ]
    assert explicit["threads"][0]["current"] is True
    assert c_stack["c_stack"] and all(
        set(frame) == {"binary", "symbol", "offset", "address", "build_id", "module_offset"}
        for frame in c_stack["c_stack"])


# More module names than the writer's buffer holds, then a key that passes
# for a str but whose characters are unmapped: the dump must flush part of
# the list and then fault on the last name.
MODULE_LIST_FAULT = r"""
import ctypes, sys, os, faulthandler_auto as f
import faulthandler_auto._native as native
f.set_output('json')
for i in range(100):
    sys.modules["m%03d_" % i + "x" * 400] = native
fake = (ctypes.c_uint64 * 8)()
fake[0] = 1 << 40          # refcount: never freed
fake[1] = id(str)          # ob_type
fake[2] = 10               # length
fake[3] = 0x1234567        # hash
fake[4] = 1 << 2           # state: 1-byte kind, not compact
fake[7] = 0x10000          # data: unmapped
ctypes.pythonapi.PyDict_SetItem.argtypes = [ctypes.py_object] * 3
ctypes.pythonapi.PyDict_SetItem(sys.modules, ctypes.cast(fake, ctypes.py_object), native)
f.dump_traceback()
os._exit(0)
"""


def test_json_module_list_survives_a_fault_after_a_flush(run_py):
    proc = run_py(MODULE_LIST_FAULT)
    assert proc.returncode == 0, proc
    (dump,) = json_dumps(proc.stderr)
    names = [name for name in dump["extension_modules"] if name.startswith("m0")]
    assert names == ["m%03d_" % i + "x" * 400 for i in range(100)]


def test_cancel_without_dump_traceback_later(run_py):
    proc = run_py("import faulthandler_auto as f\n"
                  "print(f.cancel_dump_traceback_later(), f.cancel_dump_traceback_later())\n")
    assert proc.returncode == 0 and proc.stdout == "None None\n", proc


def test_exit_true_from_api(run_py):
    proc = run_py("import time, faulthandler_auto as f\n"
                  "f.dump_traceback_later(0.3, exit=True)\n"
                  "time.sleep(30)\n")
    assert proc.returncode == 1, proc
    assert only_dump(proc.stderr).threads[0].frames == [("<string>", 3, "<module>")]
