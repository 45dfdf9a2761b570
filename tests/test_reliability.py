"""Reliability in hostile processes (issue 13): never kill, hang or mislabel a
process that would otherwise have lived or died cleanly.  One test (or one
parametrised group) per numbered finding of the issue, each from the
installed wheel in a real interpreter."""
import json
import os
import re
import select
import signal
import shutil
import subprocess
import sys
import time

import pytest

from conftest import clean_environ
from dumps import (PY, RETURNCODES, check_schema, count_fatal, json_dumps, only_dump, read_text,
                   split_dumps, wait_for)
from reliability_helpers import (GIVE_UP_SECONDS, SUBINTERPRETERS, blocked_in_write, gone_or_sleeping,
                                 main_thread_sleeping, main_thread_syscall, read_until, shrink_pipe,
                                 wait_blocked_in_write, x86_64_only)

SIGSEGV_RC = RETURNCODES["SIGSEGV"]
SIGABRT_RC = RETURNCODES["SIGABRT"]


@pytest.fixture(scope="module")
def foreign(shared_library):
    return shared_library("foreign_runtime")


def run_script(venv_python, tmp_path, code, *args, env=None, timeout=120, preload=None):
    """Run `code` as a script file with argv `args`; returns the process."""
    path = tmp_path / "child.py"
    path.write_text(code)
    environ = clean_environ(env)
    if preload:
        old = environ.get(b"LD_PRELOAD", b"")
        environ[b"LD_PRELOAD"] = os.fsencode(preload) + (b" " + old if old else b"")
    return subprocess.run([str(venv_python), str(path), *map(str, args)], env=environ,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, errors="backslashreplace", timeout=timeout)


def popen_script(venv_python, tmp_path, code, *args, env=None, small=None, pass_fds=()):
    """The script `code` running with pipes for its standard streams;
    `small` ("stdout" or "stderr") names one made a page big before it runs;
    `pass_fds` are left open in it."""
    path = tmp_path / "child.py"
    path.write_text(code)
    fd = {None: None, "stdout": 1, "stderr": 2}[small]
    return subprocess.Popen([str(venv_python), str(path), *map(str, args)],
                            env=clean_environ(env), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds,
                            preexec_fn=None if fd is None else lambda: shrink_pipe(fd))


def finish(proc, timeout):
    """communicate() with a timeout that kills the child instead of leaving it."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("the child was still running after %d s; stderr:\n%s"
                    % (timeout, err.decode(errors="replace")[-3000:]))
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# ---------------------------------------------------------------------------
# 1. A runtime that owns SIGSEGV keeps working during our dumps
# ---------------------------------------------------------------------------

FOREIGN_FAULTS = r"""
import ctypes, sys, threading
lib = ctypes.CDLL(sys.argv[1])
lib.foreign_install()    # after our start-up, as a JVM started by the program
for name in ("foreign_faults", "foreign_mismatches"):
    getattr(lib, name).restype = ctypes.c_long
sys.setrecursionlimit(10000)

def deep(n):    # a timeout dump far bigger than the stderr pipe
    if n:
        return deep(n - 1)
    sys.stdin.readline()     # the parent has seen a timeout dump held in write()
    done = {}
    runtime = threading.Thread(target=lambda: done.update(n=lib.foreign_faults(20000)),
                               name="runtime")
    runtime.start()
    runtime.join()
    print(done["n"], lib.foreign_mismatches(), flush=True)
    sys.stdin.readline()

deep(2000)
"""


@pytest.mark.parametrize("fatal", [False, True], ids=["timeout", "timeout+fatal"])
def test_foreign_runtime_recovers_its_faults_during_our_dumps(venv_python, tmp_path, foreign,
                                                               fatal):
    """A runtime faults and recovers 20,000 times in one thread while a
    timeout dump is in flight (held in write() by a full stderr pipe):
    every fault reaches the runtime with its own siginfo, the process
    lives, and no dump claims a fatal signal."""
    env = {"PYTHONFAULTHANDLER_TIMEOUT": "0.05", "PYTHONFAULTHANDLER_REPEAT": "1",
           "PYTHONFAULTHANDLER_MAX_FRAMES": "100000"}
    if fatal:
        env["PYTHONFAULTHANDLER"] = "1"
    proc = popen_script(venv_python, tmp_path, FOREIGN_FAULTS, foreign, env=env, small="stderr")
    head = read_until(proc.stderr, b"Timeout (")
    wait_blocked_in_write(proc, 2)
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    # the runtime's faults need a moment; a process that cannot answer
    # (killed, or stuck in a dump of its own) gets the give-up's time
    ready = select.select([proc.stdout], [], [], GIVE_UP_SECONDS / 2)[0]
    line = proc.stdout.readline().decode() if ready else ""
    rc, out, err = finish(proc, GIVE_UP_SECONDS + 60)
    err = head.decode(errors="replace") + err
    assert rc == 0, (rc, err[-3000:])
    recovered, mismatches = map(int, line.split())
    assert (recovered, mismatches) == (20000, 0)
    assert "Fatal Python error" not in err
    assert err.count("Timeout (") >= 1


DISPOSITIONS = r"""
import ctypes, os, signal, sys, threading, time
import faulthandler_auto
lib = ctypes.CDLL(sys.argv[1])
log = sys.argv[2]
lib.foreign_install()    # not ours: a dump that takes it over for a moment shows
lib.foreign_watch.restype = ctypes.c_long
done = {}
watcher = threading.Thread(target=lambda: done.update(changed=lib.foreign_watch()))
watcher.start()
time.sleep(0.05)
for i in range(50):
    faulthandler_auto.dump_traceback(file=log)     # explicit, to a file
    os.kill(os.getpid(), signal.SIGUSR1)           # a signal dump, to the same file
while open(log).read().count("Timeout (") < 20:    # and timeout dumps
    time.sleep(0.01)
lib.foreign_stop()
watcher.join()
print(done["changed"])
"""


@pytest.mark.parametrize("fatal", [False, True], ids=["on-demand", "on-demand+fatal"])
def test_dumps_never_change_a_disposition(venv_python, tmp_path, foreign, fatal):
    """SIGSEGV, SIGBUS and SIGXFSZ, as another thread sees them without
    pause, stay what the program set while explicit, signal and timeout
    dumps are written to a file."""
    log = tmp_path / "dumps.log"
    env = {"PYTHONFAULTHANDLER_TIMEOUT": "0.05", "PYTHONFAULTHANDLER_REPEAT": "1",
           "PYTHONFAULTHANDLER_SIGNAL": "USR1", "PYTHONFAULTHANDLER_PATH": str(log)}
    if fatal:
        env["PYTHONFAULTHANDLER"] = "1"
    proc = run_script(venv_python, tmp_path, DISPOSITIONS, foreign, log, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout) == 0, "a disposition changed %s times" % proc.stdout.strip()


# ---------------------------------------------------------------------------
# 2. A signal dump nested in an explicit dump
# ---------------------------------------------------------------------------

# A thread named "broken" whose frames every dump faults on reading;
# SIGUSR1 is blocked there so that a process-directed one lands elsewhere.
BROKEN_THREAD = r"""
import importlib.util, signal, sys, threading, time
import faulthandler_auto as fa
spec = importlib.util.spec_from_file_location("corrupt_frames", sys.argv[1])
corrupt_frames = importlib.util.module_from_spec(spec)
spec.loader.exec_module(corrupt_frames)
sys.setrecursionlimit(10000)
ready = threading.Event()

def broken():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    ready.set()
    corrupt_frames.corrupt_frames_for(120)

threading.Thread(target=broken, name="broken", daemon=True).start()
ready.wait()
"""

NESTED = BROKEN_THREAD + r"""
sys.stdout.write("go\n")
sys.stdout.flush()

def deep(n):
    if n:
        return deep(n - 1)
    fa.dump_traceback(file=sys.stdout)

deep(1000)
sys.stdout.write("survived\n")
"""


def test_signal_dump_inside_an_explicit_dump(venv_python, tmp_path, shared_library):
    """The explicit dump is held in write() by a full pipe when SIGUSR1
    arrives on the same thread; the rest of it, which faults reading a
    broken thread, must still be caught by its probes; the signal's dump
    comes whole, after it."""
    log = tmp_path / "signal.log"
    corrupt_frames = shared_library("corrupt_frames", extension=True)
    proc = popen_script(venv_python, tmp_path, NESTED, corrupt_frames,
                        env={"PYTHONFAULTHANDLER_SIGNAL": "USR1",
                             "PYTHONFAULTHANDLER_PATH": str(log),
                             "PYTHONFAULTHANDLER_MAX_FRAMES": "100000"}, small="stdout")
    # the dump's first bytes may come in the same read as the marker
    head = read_until(proc.stdout, b"go\n").split(b"go\n", 1)[1].decode()
    wait_blocked_in_write(proc, 1)   # the explicit dump is blocked in write()
    os.kill(proc.pid, signal.SIGUSR1)
    rc, out, err = finish(proc, 120)
    out = head + out
    assert rc == 0, (rc, err[-3000:])
    assert out.endswith("survived\n")
    explicit = only_dump(out)
    assert [t.name for t in explicit.threads] == ["MainThread", "broken"]
    assert explicit.threads[1].other == ["  <unreadable frame>"]
    signal_dump = only_dump(read_text(log))
    assert signal_dump.signal.group(1) == "SIGUSR1"


DISABLED_MID_DUMP = BROKEN_THREAD + r"""
def deep(n):    # its own frames, listed first, fill the pipe
    if n:
        return deep(n - 1)
    time.sleep(3600)

dumper = threading.Thread(target=deep, args=(300,), name="dumper", daemon=True)
dumper.start()
fa.enable()
fa.register(signal.SIGUSR1, sys.stdout.fileno())
signal.pthread_kill(dumper.ident, signal.SIGUSR1)
sys.stderr.write("sent\n")
sys.stderr.flush()
sys.stdin.readline()
fa.unregister(signal.SIGUSR1)
fa.disable()                  # the dump in flight still needs its probes
sys.stderr.write("disabled\n")
sys.stderr.flush()
sys.stdin.readline()
sys.stderr.write("survived\n")
"""


def test_disable_while_a_signal_dump_is_in_flight(venv_python, tmp_path, shared_library):
    """unregister() and disable() while the last registered signal's dump
    is held in write(): the rest of that dump, which faults reading a
    broken thread, is still caught by its probes (disable() once gave
    SIGSEGV back to SIG_DFL here, and the process died)."""
    corrupt_frames = shared_library("corrupt_frames", extension=True)
    proc = popen_script(venv_python, tmp_path, DISABLED_MID_DUMP, corrupt_frames,
                        env={"PYTHONFAULTHANDLER_FORMAT": "json",
                             "PYTHONFAULTHANDLER_MAX_FRAMES": "100000"}, small="stdout")
    assert read_until(proc.stderr, b"sent\n") == b"sent\n"
    wait_blocked_in_write(proc, 1)
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    assert read_until(proc.stderr, b"disabled\n") == b"disabled\n"
    dump = read_until(proc.stdout, b"}\n")    # one JSON line: the dump is over
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    rc, out, err = finish(proc, 120)
    assert (rc, out, err) == (0, "", "survived\n")
    (parsed,) = json_dumps(dump.decode())
    assert [t["name"] for t in parsed["threads"]] == ["dumper", "broken", "MainThread"]
    assert parsed["threads"][1]["unreadable"] is True


# ---------------------------------------------------------------------------
# 3. The give-up of a stuck fatal dump
# ---------------------------------------------------------------------------

STUCK_FATAL = r"""
import signal, sys, threading
import faulthandler_auto as fa
sys.setrecursionlimit(10000)
if "block-alarm" in sys.argv:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})   # in every thread
if "exit-later" in sys.argv:
    fa.dump_traceback_later(0.2, exit=True, file=sys.argv[1])

def deep(n):    # a dump far bigger than the pipe
    if n:
        return deep(n - 1)
    fa.sigsegv()

deep(2000)
"""


@pytest.mark.parametrize("threads", ["a thread", "no thread"])
def test_give_up_fires_with_sigalrm_blocked_and_stderr_unread(venv_python, tmp_path,
                                                              shared_library, threads):
    """The fatal dump blocks on a stderr pipe nobody reads, in a program
    that blocks SIGALRM everywhere: the give-up still ends the process, by
    the crash's own signal, without blocking on its own message; also
    where its thread cannot be made (clone() refused: a timer stands in)."""
    env = {"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_MAX_FRAMES": "100000"}
    mark = tmp_path / "clone-refused"
    if threads == "no thread":
        env.update(LD_PRELOAD=str(shared_library("no_clone")), NO_CLONE_MARK=str(mark))
    proc = popen_script(venv_python, tmp_path, STUCK_FATAL, tmp_path / "unused", "block-alarm",
                        env=env, small="stderr")
    try:
        rc = proc.wait(timeout=GIVE_UP_SECONDS + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("still running %d s after the crash" % (GIVE_UP_SECONDS + 60))
    err = proc.communicate()[1].decode(errors="replace")
    assert rc == SIGSEGV_RC, (rc, err[-2000:])
    assert err.startswith("Fatal Python error: Segmentation fault\n")
    assert mark.exists() == (threads == "no thread")


FORK_IN_ONE_THREAD = r"""
import os, signal
import faulthandler_auto as fa
fa.register(signal.SIGUSR1)     # a signal dump armed too
# 3.12+ warns (DeprecationWarning, shown in __main__) at a fork() in a
# multi-threaded process
print(len(os.listdir("/proc/self/task")))
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("forked")
"""


def test_armed_fatal_dumps_start_no_thread(run_py):
    """The give-up thread exists only while a fatal dump runs: a program
    with fatal and signal dumps armed has one thread, and fork() gives no
    "multi-threaded" DeprecationWarning (a failure under pytest's
    filterwarnings = error)."""
    proc = run_py(FORK_IN_ONE_THREAD, env={"PYTHONFAULTHANDLER": "1"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "1\nforked\n", "")


# ---------------------------------------------------------------------------
# 4. The watchdog's EXIT during a stuck fatal dump
# ---------------------------------------------------------------------------

def test_watchdog_exit_keeps_the_crash_signal(venv_python, tmp_path):
    """A crash whose dump is stuck (stderr unread) while dump_traceback_later
    (exit=True) comes due: the process still dies by SIGSEGV, not with the
    watchdog's status 1."""
    later = tmp_path / "later.log"
    proc = popen_script(venv_python, tmp_path, STUCK_FATAL, later, "exit-later",
                        env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_MAX_FRAMES": "100000"},
                        small="stderr")
    try:
        rc = proc.wait(timeout=GIVE_UP_SECONDS + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("still running %d s after the crash" % (GIVE_UP_SECONDS + 60))
    err = proc.communicate()[1].decode(errors="replace")
    assert rc == SIGSEGV_RC, (rc, err[-2000:], read_text(later)[:2000])
    assert err.startswith("Fatal Python error: Segmentation fault\n")


# ---------------------------------------------------------------------------
# 5. Dumps never interleave
# ---------------------------------------------------------------------------

EXPLICIT_LOOP = r"""
import select, sys, threading
import faulthandler_auto as fa
sys.setrecursionlimit(10000)
log = sys.argv[1]
stop = threading.Event()

def deep(n):    # explicit dumps of several buffers each
    if n:
        return deep(n - 1)
    stop.wait()

t = threading.Thread(target=deep, args=(600,), name="deep")
t.start()
print("ready", flush=True)
count = 0
while not select.select([sys.stdin], [], [], 0)[0]:
    fa.dump_traceback(file=log)
    count += 1
stop.set()
t.join()
print(count, flush=True)
"""


def test_signal_dumps_never_land_inside_explicit_dumps(venv_python, tmp_path):
    """300 SIGUSR1 while the main thread writes explicit JSON dumps of
    ~100 KiB in a loop, all to one file: every line is one whole dump."""
    log = tmp_path / "dumps.jsonl"
    path = tmp_path / "child.py"
    path.write_text(EXPLICIT_LOOP)
    child = subprocess.Popen(
        [str(venv_python), str(path), str(log)],
        env=clean_environ({"PYTHONFAULTHANDLER_SIGNAL": "USR1", "PYTHONFAULTHANDLER_PATH": str(log),
                           "PYTHONFAULTHANDLER_FORMAT": "json",
                           "PYTHONFAULTHANDLER_MAX_FRAMES": "100000"}),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True)
    assert child.stdout.readline() == "ready\n"
    for _ in range(300):
        os.kill(child.pid, signal.SIGUSR1)
        time.sleep(0.002)
    out, err = child.communicate("stop\n", timeout=120)
    assert child.returncode == 0, err[-3000:]
    explicit_count = int(out)
    lines = read_text(log).splitlines()
    dumps = [_parsed(line) for line in lines]
    broken = [line[:200] for line, dump in zip(lines, dumps) if dump is None]
    assert not broken, "%d of %d lines are not one whole dump" % (len(broken), len(lines))
    events = [d["event"] for d in dumps]
    assert events.count("explicit") == explicit_count
    assert 1 <= events.count("signal") <= 300
    # the schema, for one dump of each kind: checking all ~2,000 (600
    # frames each) took 30 s of CPU, and the subject here is whole lines
    for kind in ("explicit", "signal"):
        check_schema(dumps[events.index(kind)])


def _parsed(line):
    try:
        return json.loads(line)
    except ValueError:
        return None


FATAL_UNDER_SIGNALS = r"""
import sys, threading
import faulthandler_auto as fa
sys.setrecursionlimit(10000)
ev = threading.Event()
helper = threading.Thread(target=ev.wait, name="helper", daemon=True)
helper.start()

def deep(n):
    if n:
        return deep(n - 1)
    fa.sigsegv()

deep(2000)
"""


def test_fatal_dump_is_whole_under_a_signal_stream(venv_python, tmp_path):
    """SIGUSR1 after SIGUSR1 while the fatal dump is held by a full stderr
    pipe: the fatal dump comes out whole, nothing inside it, and ends the
    process by SIGSEGV."""
    proc = popen_script(venv_python, tmp_path, FATAL_UNDER_SIGNALS,
                        env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_SIGNAL": "USR1",
                             "PYTHONFAULTHANDLER_MAX_FRAMES": "100000"}, small="stderr")
    head = read_until(proc.stderr, b"Fatal Python error")
    wait_blocked_in_write(proc, 2)
    for _ in range(50):
        os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(0.002)
    rc, out, err = finish(proc, GIVE_UP_SECONDS + 60)
    err = head.decode(errors="replace") + err
    assert rc == SIGSEGV_RC, (rc, err[-3000:])
    assert "Signal: SIGUSR1" not in err
    dump = only_dump(err)
    assert dump.fatal_error == "Segmentation fault"
    assert [t.name for t in dump.threads] == ["MainThread", "helper"]
    assert dump.threads[0].frames[0].function == "deep"
    assert dump.extensions is not None or PY < (3, 10) or "Extension modules" not in err


# ---------------------------------------------------------------------------
# 6. Subinterpreters
# ---------------------------------------------------------------------------

def _needs_subinterpreters(kind):
    code = SUBINTERPRETERS + "\nprint(%s() is not None)\n" % kind
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    if proc.returncode or proc.stdout.strip() != "True":
        pytest.skip("no %s subinterpreters here: %s" % (kind, proc.stderr.strip()[-300:]))


SUB_THEN_CRASH = SUBINTERPRETERS + r"""
import faulthandler_auto as fa
run, interp_id, close = legacy()
run("x = 1")
close()

def crash_here():
    fa.sigsegv()

crash_here()
"""


def test_crash_in_main_after_a_subinterpreter_came_and_went(venv_python, tmp_path):
    _needs_subinterpreters("legacy")
    proc = run_script(venv_python, tmp_path, SUB_THEN_CRASH, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == SIGSEGV_RC, proc.stderr[-3000:]
    dump = only_dump(proc.stderr)
    assert dump.threads[0].name == "MainThread"
    assert [f.function for f in dump.threads[0].frames] == ["crash_here", "<module>"]


SUB_THREAD_CRASH = SUBINTERPRETERS + r"""
import threading
run, interp_id, close = legacy()
print(interp_id, flush=True)
code = '''
def in_sub():
    import ctypes
    ctypes.string_at(0)
in_sub()
'''
t = threading.Thread(target=run, args=(code,), name="sub-runner")

def main_waits():
    t.start()
    t.join()

main_waits()
"""


@pytest.mark.skipif(PY < (3, 12), reason="before 3.12 the running thread of a "
                    "subinterpreter cannot be told from its thread state")
def test_crash_in_a_subinterpreter_thread(venv_python, tmp_path):
    """The crashing thread runs a legacy subinterpreter: it is shown as the
    current thread with its interpreter id, and the main thread is there
    too, with its own frames."""
    _needs_subinterpreters("legacy")
    proc = run_script(venv_python, tmp_path, SUB_THREAD_CRASH, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == SIGSEGV_RC, proc.stderr[-3000:]
    interp_id = int(proc.stdout.split()[0])
    dump = only_dump(proc.stderr)
    current = dump.threads[0]
    assert current.current
    assert current.name == "sub-runner, interpreter %d" % interp_id
    assert "in_sub" in [f.function for f in current.frames]
    main = [t for t in dump.threads if t.name == "MainThread"]
    assert len(main) == 1 and not main[0].current
    assert "main_waits" in [f.function for f in main[0].frames]


SUB_LOOP = SUBINTERPRETERS + r"""
import time
while True:
    run, interp_id, close = legacy()
    close()
    time.sleep(0.2)
"""


def test_subinterpreters_do_not_rearm_the_timeout(venv_python, tmp_path):
    """TIMEOUT=1 with EXIT: a program that makes a subinterpreter every
    0.2 s still gets its timeout dump and exit after one second."""
    _needs_subinterpreters("legacy")
    proc = run_script(venv_python, tmp_path, SUB_LOOP, timeout=120,
                      env={"PYTHONFAULTHANDLER_TIMEOUT": "1", "PYTHONFAULTHANDLER_EXIT": "1"})
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert only_dump(proc.stderr).timeout == "0:00:01"


ISOLATED = SUBINTERPRETERS + r"""
import faulthandler_auto as fa
run, interp_id, close = isolated()
run("x = 1")
close()

def crash_here():
    fa.sigsegv()

crash_here()
"""


def test_isolated_subinterpreter_is_left_alone(venv_python, tmp_path):
    """The hook in an isolated subinterpreter says nothing and changes
    nothing: the main interpreter's crash is dumped as ever."""
    _needs_subinterpreters("isolated")
    proc = run_script(venv_python, tmp_path, ISOLATED,
                      env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_SIGNAL": "USR1"})
    assert proc.returncode == SIGSEGV_RC, proc.stderr[-3000:]
    assert "faulthandler-auto:" not in proc.stderr
    dump = only_dump(proc.stderr)
    assert [f.function for f in dump.threads[0].frames] == ["crash_here", "<module>"]


def test_native_module_imports_in_an_isolated_subinterpreter(venv_python, tmp_path):
    """Multi-phase init declared for subinterpreters: importing the package
    there works, and its calls that would re-point the core refuse."""
    _needs_subinterpreters("isolated")
    code = SUBINTERPRETERS + r"""
run, interp_id, close = isolated()
run('''
import faulthandler_auto
try:
    faulthandler_auto.enable()
except RuntimeError as exc:
    assert "main interpreter" in str(exc), exc
else:
    raise AssertionError("enable() in a subinterpreter")
''')
close()
print("ok")
"""
    proc = run_script(venv_python, tmp_path, code)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")


# ---------------------------------------------------------------------------
# 7. No thread cap
# ---------------------------------------------------------------------------

MANY_THREADS = r"""
import threading
import faulthandler_auto as fa
threading.stack_size(1 << 20)
ev = threading.Event()
waiters = [threading.Thread(target=ev.wait, daemon=True) for _ in range(1100)]
for t in waiters:
    t.start()
last = threading.Thread(target=fa.stack_overflow, name="overflower")
last.start()
last.join()
"""


def test_stack_overflow_in_thread_1101(venv_python, tmp_path):
    proc = run_script(venv_python, tmp_path, MANY_THREADS, env={"PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == SIGSEGV_RC, proc.stderr[-2000:]
    dump = only_dump(proc.stderr)
    assert dump.fatal_error == "Segmentation fault"
    assert dump.threads[0].current and dump.threads[0].name == "overflower"
    assert dump.threads_omitted == 1102 - 100


# ---------------------------------------------------------------------------
# 8. Py_FatalError
# ---------------------------------------------------------------------------

FATAL_ERROR = r"""
import ctypes
def call_fatal():
    ctypes.pythonapi.Py_FatalError(b"reliability test")
call_fatal()
"""


def test_py_fatal_error_gives_one_python_dump(run_py):
    """CPython prints its own fatal error with the Python frames, then
    aborts: our handler may add the C stack, never a second Python dump."""
    plain = run_py(FATAL_ERROR)
    ours = run_py(FATAL_ERROR, env={"PYTHONFAULTHANDLER": "1"})
    assert ours.returncode == plain.returncode == SIGABRT_RC, ours.stderr
    assert count_fatal(ours.stderr) == count_fatal(plain.stderr) == 1, ours.stderr
    assert "Fatal Python error: Aborted" not in ours.stderr
    frame_lines = [line for line in ours.stderr.splitlines() if line.startswith("  File ")]
    plain_lines = [line for line in plain.stderr.splitlines() if line.startswith("  File ")]
    assert frame_lines == plain_lines


# ---------------------------------------------------------------------------
# 9. Files and names
# ---------------------------------------------------------------------------

def test_hard_linked_dump_file_is_refused(run_py, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = tmp_path / "dump.log"
    os.link(str(victim), str(path))
    proc = run_py("import faulthandler_auto as fa; fa.dump_traceback(file=%r)" % str(path))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"
    first, rest = proc.stderr.split("\n", 1)
    assert first == ('faulthandler-auto: cannot write dump file "%s": a hard link; '
                     "writing the dump to stderr" % path)
    assert only_dump(rest).threads[0].name == "MainThread"


SET_HOSTNAME = "import os, socket, sys; socket.sethostname('..'); os.execv(sys.argv[1], sys.argv[1:])"


def _can_set_hostname():
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    return subprocess.run([unshare, "-u", sys.executable, "-c", SET_HOSTNAME, "/bin/true"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


@pytest.mark.parametrize("field", ["prog", "host"])
def test_dot_dot_names_stay_inside_the_directory(venv_python, tmp_path, field):
    """{prog} of a program run as `app/sub/..` (a directory with
    __main__.py), or {host} of a host named `..`, is not a way out of the
    configured directory."""
    app = tmp_path / "app"
    (app / "sub").mkdir(parents=True)
    (app / "__main__.py").write_text(
        "import os, faulthandler_auto as fa\nfa.dump_traceback(file=os.environ['DUMP_TO'])\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    env = clean_environ({"DUMP_TO": str(logs / ("{%s}" % field) / "dump.log")})
    cmd = [str(venv_python), str(app / "sub" / "..")]
    if field == "host":
        if not _can_set_hostname():
            pytest.skip("cannot make a UTS namespace here (unshare -u)")
        cmd = ["unshare", "-u", sys.executable, "-c", SET_HOSTNAME] + cmd
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "dump.log").exists()
    written = [p for p in logs.rglob("*") if p.is_file()]
    assert len(written) == 1, written
    assert only_dump(written[0].read_text()).threads[0].name == "MainThread"


FORGED_NAME = ('evil\n\nThread 0x0000000000000001 [forged] (most recent call first):\n'
               '  File "forged.py", line 1 in forged\n.py')


def test_program_name_cannot_forge_dump_lines(venv_python, tmp_path):
    script = tmp_path / FORGED_NAME
    script.write_text("import faulthandler_auto as fa\nfa.dump_traceback()\n")
    proc = subprocess.run([str(venv_python), str(script)], env=clean_environ(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    dump = only_dump(proc.stderr)
    assert [t.name for t in dump.threads] == ["MainThread"]
    assert dump.process.group(2) == FORGED_NAME.replace("\n", "\\x0a")


NAMED_THREAD = r"""
import sys, threading
import faulthandler_auto as fa
fa.set_output(sys.argv[1])
ev = threading.Event()
t = threading.Thread(target=ev.wait, name=sys.argv[2].encode().decode("unicode_escape"))
t.start()
fa.dump_traceback()
ev.set()
t.join()
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("name,shown", [
    # 63 bytes of a name are kept: 31 two-byte characters, not half of the 32nd
    ("\\xe9" * 40, "\xe9" * 31),
    # a NUL does not end the name
    ("left\\x00right", "left\x00right"),
], ids=["utf8-cut", "nul"])
def test_thread_names_whole_characters_and_nul(venv_python, tmp_path, fmt, name, shown):
    proc = run_script(venv_python, tmp_path, NAMED_THREAD, fmt, name)
    assert proc.returncode == 0, proc.stderr
    if fmt == "json":
        names = [t["name"] for t in json_dumps(proc.stderr)[0]["threads"]]
        assert names == ["MainThread", shown]
    else:
        escaped = "".join(c if " " <= c < "\x7f" else "\\x%02x" % ord(c) for c in shown)
        assert [t.name for t in only_dump(proc.stderr).threads] == ["MainThread", escaped]


# (fake CLOCK_REALTIME seconds, Process line time, {time} in a file name)
YEARS = [
    (253402300800, "+10000-01-01T00:00:00Z", "+100000101T000000Z"),
    (-62167219201, "-0001-12-31T23:59:59Z", "-00011231T235959Z"),
    (-62167219200, "0000-01-01T00:00:00Z", "00000101T000000Z"),
    (253402300799, "9999-12-31T23:59:59Z", "99991231T235959Z"),
]


@pytest.mark.parametrize("seconds,iso,compact", YEARS, ids=["10000", "-1", "0", "9999"])
def test_years_outside_0_to_9999(venv_python, tmp_path, shared_library, seconds, iso, compact):
    clock = shared_library("fake_clock")
    logs = tmp_path / "logs"
    proc = run_script(venv_python, tmp_path,
                      "import ctypes, faulthandler_auto as fa\n"
                      "ctypes.CDLL(None).fake_clock_set(ctypes.c_longlong(%d))\n"
                      "fa.dump_traceback(file=%r)\n" % (seconds, str(logs / "{time}.log")),
                      preload=clock)
    assert proc.returncode == 0, proc.stderr
    files = list(logs.iterdir())
    assert [p.name for p in files] == [compact + ".log"]
    lines = files[0].read_text().splitlines()
    process = [line for line in lines if line.startswith("Process: pid ")]
    assert len(process) == 1 and re.search(", time %s(,|$)" % re.escape(iso), process[0]), lines[:3]


AFTER_FINALIZE = r"""
import ctypes, signal, sys
ctypes.CDLL(sys.argv[1]).raise_at_exit(signal.SIGUSR1)
"""


def test_signal_dump_after_finalization(venv_python, tmp_path, shared_library):
    """A signal that comes after Py_Finalize (from a C atexit handler) gets
    a dump that says there is no Python state left, not garbage."""
    late = shared_library("exit_signal")
    proc = run_script(venv_python, tmp_path, AFTER_FINALIZE, late,
                      env={"PYTHONFAULTHANDLER_SIGNAL": "USR1"})
    assert proc.returncode == 0, proc.stderr
    dump = only_dump(proc.stderr)
    assert dump.signal.group(1) == "SIGUSR1"
    assert dump.threads == [] and dump.stack is None, dump.text
    assert "Python is finalized: no Python frames\n" in proc.stderr


# ---------------------------------------------------------------------------
# 10. Signal storms
# ---------------------------------------------------------------------------

STORM = r"""
import select, sys, threading, time
ev = threading.Event()

def deep(n):
    if n:
        return deep(n - 1)
    ev.wait()

threads = [threading.Thread(target=deep, args=(50,)) for _ in range(20)]
for t in threads:
    t.start()
print("ready", flush=True)
longest = 0.0
last = time.monotonic()
while not select.select([sys.stdin], [], [], 0.001)[0]:
    now = time.monotonic()
    longest = max(longest, now - last)
    last = now
ev.set()
for t in threads:
    t.join()
print(longest, flush=True)
"""

# the defaults of the README: per signal, at most RATE dumps a second (and
# as many at once); all on-demand dumps together, RATE_BYTES a minute
DEFAULT_RATE = 20
DEFAULT_RATE_BYTES = 64 << 20


@pytest.mark.parametrize("rate_bytes", [None, 1000000], ids=["defaults", "rate-bytes"])
def test_signal_storm_is_bounded(venv_python, tmp_path, rate_bytes):
    """10,000 SIGUSR1 at 500 us: the dumps written, their bytes and the
    main thread's longest stall are measured; the first two stay within
    the documented budget, the stall well under the storm's length."""
    log = tmp_path / "dumps.log"
    env = {"PYTHONFAULTHANDLER_SIGNAL": "USR1", "PYTHONFAULTHANDLER_PATH": str(log)}
    if rate_bytes:
        env["PYTHONFAULTHANDLER_RATE_BYTES"] = str(rate_bytes)
    path = tmp_path / "child.py"
    path.write_text(STORM)
    child = subprocess.Popen([str(venv_python), str(path)], env=clean_environ(env),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
    assert child.stdout.readline() == "ready\n"
    start = time.monotonic()
    for _ in range(10000):
        os.kill(child.pid, signal.SIGUSR1)
        time.sleep(0.0005)
    storm = time.monotonic() - start
    out, err = child.communicate("stop\n", timeout=120)
    assert child.returncode == 0, err[-3000:]
    stall = float(out)
    text = read_text(log)
    dumps = split_dumps(text)
    size = log.stat().st_size
    print("storm %.2f s: %d dumps, %d bytes, longest stall of the main thread %.3f s"
          % (storm, len(dumps), size, stall))
    assert dumps
    assert len(dumps) <= DEFAULT_RATE * (1 + storm) + 1
    biggest = max(len(d.text) for d in dumps)
    assert size <= (rate_bytes or DEFAULT_RATE_BYTES) + biggest
    skipped = [int(m.group(1)) for m in re.finditer(r"^Skipped: (\d+) SIGUSR1 ", text, re.M)]
    assert len(dumps) + sum(skipped) <= 10000
    if rate_bytes is None:
        # the dumps after the first burst say what the rate left out (once
        # the byte budget is spent, no dump comes in this minute to say it)
        assert skipped
    assert stall < storm / 2


@pytest.mark.parametrize("variable,value,field,parsed", [
    ("RATE", "5", "rate", 5),
    ("RATE", "0", "rate", 0),
    ("RATE_BYTES", "64M", "rate_bytes", 64 << 20),
    ("RATE_BYTES", "1000", "rate_bytes", 1000),
    ("RATE_BYTES", "2k", "rate_bytes", 2048),
])
def test_budget_variables(variable, value, field, parsed):
    from faulthandler_auto import config
    cfg, warnings = config.parse({"PYTHONFAULTHANDLER_" + variable: value})
    assert (getattr(cfg, field), warnings) == (parsed, [])


@pytest.mark.parametrize("variable,value", [("RATE", "-1"), ("RATE", "fast"),
                                            ("RATE_BYTES", "1T"), ("RATE_BYTES", "-5")])
def test_budget_variables_refused(variable, value):
    from faulthandler_auto import config
    cfg, warnings = config.parse({"PYTHONFAULTHANDLER_" + variable: value})
    assert len(warnings) == 1
    assert warnings[0].startswith("PYTHONFAULTHANDLER_%s=%r ignored: " % (variable, value))
    assert "accepted: " in warnings[0]


# ---------------------------------------------------------------------------
# 11. Python as PID 1 of a container
# ---------------------------------------------------------------------------

def _unshare_pid():
    """The command that runs a program as PID 1 of a new PID namespace:
    as root, or else inside a user namespace of one's own (-Ur)."""
    unshare = shutil.which("unshare")
    for flags in (["-fp"], ["-Urfp"]):
        cmd = [unshare, *flags, "--mount-proc"] if unshare else None
        if cmd and subprocess.run(cmd + ["true"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL).returncode == 0:
            return cmd
    pytest.skip("cannot make a PID namespace here (unshare -fp or -Urfp --mount-proc)")


@pytest.mark.parametrize("crash,name", [
    ("import os; os.abort()", "Aborted"),
    ("import ctypes; ctypes.string_at(0)", "Segmentation fault"),
], ids=["abort", "segv"])
def test_pid_1_gets_one_dump_and_its_own_status(venv_python, crash, name):
    unshare = _unshare_pid()

    def run(env):
        return subprocess.run([*unshare, str(venv_python), "-c", crash],
                              env=clean_environ(env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=120)

    plain = run({})
    ours = run({"PYTHONFAULTHANDLER": "1"})
    assert ours.returncode == plain.returncode, (plain.returncode, ours.stderr[-3000:])
    assert count_fatal(ours.stderr) == 1, ours.stderr
    assert only_dump(ours.stderr).fatal_error == name



SENT_TO_PID_1 = r"""
import signal, threading
helper = threading.Thread(target=threading.Event().wait, daemon=True)
helper.start()
# sent, not a fault: once dumped and raised again, the kernel ignores it in
# PID 1 and the process lives on
signal.pthread_kill(helper.ident, signal.SIGSEGV)
syscall = "/proc/self/task/%d/syscall" % helper.native_id
while open(syscall).read().split()[0] != "202":     # x86-64 futex: back in wait()
    pass
print("returning", flush=True)
"""


@x86_64_only
def test_pid_1_exits_at_once_after_a_crash_it_survived(venv_python, tmp_path):
    """PID 1 lives on after a sent SIGSEGV that the kernel ignored once it
    was dumped; when it later exits, exit() does not wait for that crash
    to end the process."""
    unshare = _unshare_pid()
    path = tmp_path / "child.py"
    path.write_text(SENT_TO_PID_1)
    proc = subprocess.Popen([*unshare, str(venv_python), str(path)],
                            env=clean_environ({"PYTHONFAULTHANDLER": "1"}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"returning\n"
    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
        python = int(f.read().split()[0])
    assert wait_for(lambda: gone_or_sleeping(python), timeout=60) == "gone"
    code, out, err = finish(proc, 60)
    assert code == 0 and count_fatal(err) == 1, (code, err[-2000:])


# ---------------------------------------------------------------------------
# 12. exit() while another thread writes a dump
# ---------------------------------------------------------------------------

EXIT_DURING_DUMP = r"""
import ctypes, os, signal, sys, threading
parked = threading.Event()
for _ in range(20):     # a dump several times the size of the pipe
    threading.Thread(target=parked.wait, daemon=True).start()
if sys.argv[1] == "signal":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})    # another thread takes it
    os.kill(os.getpid(), signal.SIGUSR1)
else:   # a crash in native code, without the GIL
    threading.Thread(target=ctypes.memset, args=(0, 0, 1), name="crasher", daemon=True).start()
sys.stdin.readline()    # the dump is held in write(): now end the program
"""


@x86_64_only
@pytest.mark.parametrize("event", ["signal", "crash"])
def test_exit_waits_for_another_threads_dump(venv_python, tmp_path, event):
    """The main thread returns while another thread's dump is held on a
    stderr pipe nobody reads yet: exit() would end that thread in the
    middle of it.  It waits instead, so the dump is written whole once the
    pipe is read, and a crash still ends the process by its signal, not
    with status 0."""
    env = {"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_SIGNAL": "USR1",
           "PYTHONFAULTHANDLER_FORMAT": "json"}
    proc = popen_script(venv_python, tmp_path, EXIT_DURING_DUMP, event, env=env, small="stderr")
    wait_blocked_in_write(proc, 2)
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    # exit() has begun (the main thread waits in it), or is over
    assert wait_for(lambda: proc.poll() is not None or main_thread_sleeping(proc.pid), timeout=60)
    code, out, err = finish(proc, 60)
    dumps = json_dumps(err)
    assert len(dumps) == len(err.splitlines()) == 1, err[-3000:]
    if event == "signal":
        assert code == 0 and dumps[0]["event"] == "signal", (code, err[-3000:])
        assert dumps[0]["signal"] == "SIGUSR1"
    else:
        assert code == SIGSEGV_RC and dumps[0]["event"] == "fatal_signal", (code, err[-3000:])
        assert dumps[0]["signal"] == "SIGSEGV"
        assert dumps[0]["threads"][0]["name"] == "crasher" and dumps[0]["threads"][0]["current"]


CRASH_WHILE_EXIT_WAITS = r"""
import ctypes, os, signal, sys, threading
crash_later = ctypes.CDLL(sys.argv[1]).crash_after_byte
# the crashing thread (which inherits the mask) must not take the signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
threading.Thread(target=crash_later, args=(int(sys.argv[2]),), daemon=True).start()
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
parked = threading.Event()
for _ in range(20):
    threading.Thread(target=parked.wait, daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})    # a parked thread takes it
os.kill(os.getpid(), signal.SIGUSR1)
sys.stdin.readline()    # the dump is held in write(): now end the program
"""


@x86_64_only
def test_exit_waits_for_a_crash_that_comes_while_it_waits(venv_python, tmp_path, shared_library):
    """exit() waits for a signal dump held on a pipe nobody reads; then
    another thread crashes, and its dump is held on that pipe too.  When
    the pipe is read, the signal dump lets go of the lock (cut short for
    the crash's) before the crash's dump is over: exit() still waits for
    the crash, which ends the process by its signal."""
    crash_r, crash_w = os.pipe()
    env = {"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_SIGNAL": "USR1",
           "PYTHONFAULTHANDLER_FORMAT": "json"}
    proc = popen_script(venv_python, tmp_path, CRASH_WHILE_EXIT_WAITS,
                        shared_library("crash_later"), crash_r, env=env, small="stderr",
                        pass_fds=(crash_r,))
    os.close(crash_r)
    try:
        wait_blocked_in_write(proc, 2)
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        assert wait_for(lambda: proc.poll() is not None or main_thread_sleeping(proc.pid),
                        timeout=60)
        os.write(crash_w, b"x")
        wait_blocked_in_write(proc, 2, threads=2)
    finally:
        os.close(crash_w)
    code, out, err = finish(proc, 60)
    assert code == SIGSEGV_RC, (code, err[-2000:])
    assert '"event":"fatal_signal"' in err


CRASH_REPORTER_BEFORE_US = r"""
import ctypes, sys, threading
ctypes.CDLL(sys.argv[1]).install_crash_reporter(int(sys.argv[2]))
import faulthandler_auto
faulthandler_auto.enable()      # after the reporter: a crash goes on to it
threading.Thread(target=ctypes.memset, args=(0, 0, 1), name="crasher", daemon=True).start()
sys.stdin.readline()            # the reporter is running: now end the program
"""


@x86_64_only
def test_exit_waits_for_the_crash_reporter_before_us(venv_python, tmp_path, shared_library):
    """A fault is dumped, then runs again into the handler that was there
    before ours, a crash reporter that takes its time.  The main thread
    returns meanwhile: exit() waits (up to 5 s after the fault was given
    back), so the crash still ends the process by its signal."""
    release_r, release_w = os.pipe()
    proc = popen_script(venv_python, tmp_path, CRASH_REPORTER_BEFORE_US,
                        shared_library("crash_reporter"), release_r,
                        env={"PYTHONFAULTHANDLER_FORMAT": "json"}, pass_fds=(release_r,))
    os.close(release_r)
    try:
        assert proc.stdout.readline() == b"reporter running\n"
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        assert wait_for(lambda: proc.poll() is not None or main_thread_sleeping(proc.pid),
                        timeout=60)
        os.write(release_w, b"x")
    finally:
        os.close(release_w)
    code, out, err = finish(proc, 60)
    assert code == SIGSEGV_RC, (code, err[-2000:])
    dumps = json_dumps(err)
    assert len(dumps) == len(err.splitlines()) == 1 and dumps[0]["signal"] == "SIGSEGV", err[-2000:]
    assert dumps[0]["threads"][0]["name"] == "crasher"


FORK_DURING_A_DUMP = r"""
import ctypes, os, signal, sys, threading
parked = threading.Event()
for _ in range(20):     # a dump several times the size of the pipe
    threading.Thread(target=parked.wait, daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})    # another thread takes it
os.kill(os.getpid(), signal.SIGUSR1)
sys.stdin.readline()    # the dump is held in write()
os.kill(os.getpid(), signal.SIGUSR1)    # counted, left to that dump's thread
while signal.SIGUSR1 in signal.sigpending():
    pass
libc = ctypes.CDLL(None)
pid = libc.fork()       # a bare fork(): none of Python's at-fork hooks run
if pid == 0:
    libc.exit(0)
print(pid, flush=True)
os.waitpid(pid, 0)
"""


@x86_64_only
def test_child_of_a_bare_fork_does_not_wait_for_the_parents_dump(venv_python, tmp_path):
    """C code forks while another thread writes a dump, with a second
    signal left to that thread, and the child calls exit() (execvp failed,
    say): the thread is not in the child, so the child's exit() waits
    neither for its dump nor for the signal left to it."""
    env = {"PYTHONFAULTHANDLER_SIGNAL": "USR1"}
    proc = popen_script(venv_python, tmp_path, FORK_DURING_A_DUMP, env=env, small="stderr")
    wait_blocked_in_write(proc, 2)
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    child = int(proc.stdout.readline())
    assert wait_for(lambda: gone_or_sleeping(child), timeout=60) == "gone"
    code, out, err = finish(proc, 60)
    assert code == 0, err[-2000:]
    assert [d.signal.group(1) for d in split_dumps(err)] == ["SIGUSR1", "SIGUSR1"], err[-3000:]


# ---------------------------------------------------------------------------
# 13. A thread that ends while a dump is in flight
# ---------------------------------------------------------------------------

THREAD_ENDS_DURING_A_DUMP = r"""
import signal, sys, threading
sys.setrecursionlimit(10000)
masked = threading.Barrier(3)

def quiet(then):
    # SIGUSR1 goes to the main thread, whose dump is the one held
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    masked.wait()
    then()

stop = threading.Event()
keeper = threading.Thread(target=quiet, args=(stop.wait,), name="keeper", daemon=True)
leaving = threading.Thread(target=quiet, args=(sys.stdin.readline,), name="leaving")
keeper.start()
leaving.start()
masked.wait()

def deep(n, then):
    # frames of a long name: this thread's part of the dump alone is more
    # than the writer's buffer (16 KiB) and the pipe (4 KiB) hold, also
    # where CPython's format shows only 100 of them
    if n:
        return deep(n - 1, then)
    then()

deep.__code__ = deep.__code__.replace(co_name="deep_" + "d" * 250)

if len(sys.argv) > 1:
    # CPython's order, newest first: the newest thread holds the dump
    deepest = threading.Event()
    holding = threading.Thread(target=quiet, args=(lambda: deep(1000, lambda: (deepest.set(), stop.wait())),),
                               name="holding", daemon=True)
    masked = threading.Barrier(2)
    holding.start()
    masked.wait()
    deepest.wait()
print("ready", flush=True)
deep(1000, lambda: (leaving.join(), sys.stdin.readline()))
"""


def end_a_thread_during_a_dump(venv_python, tmp_path, env, *args):
    """Run THREAD_ENDS_DURING_A_DUMP: once its dump is held in write(), let
    the thread "leaving" end, and check that it ended while the dump was
    held; returns the child's stderr once it exited with status 0."""
    env = dict(env, PYTHONFAULTHANDLER_SIGNAL="USR1")
    proc = popen_script(venv_python, tmp_path, THREAD_ENDS_DURING_A_DUMP, *args, env=env, small="stderr")
    assert proc.stdout.readline() == b"ready\n"
    threads = len(os.listdir("/proc/%d/task" % proc.pid))
    # in join(), without the GIL (futex, 202 on x86-64): a dump held while
    # it had the GIL would keep the other thread from ending
    assert wait_for(lambda: main_thread_syscall(proc.pid) == "202", timeout=60)
    proc.send_signal(signal.SIGUSR1)
    wait_blocked_in_write(proc, 2)
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    assert wait_for(lambda: len(os.listdir("/proc/%d/task" % proc.pid)) == threads - 1, timeout=60)
    assert blocked_in_write(proc.pid, 2)      # it ended while the dump was held
    code, out, err = finish(proc, 60)
    assert code == 0, err[-2000:]
    return err


@x86_64_only
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_thread_that_ends_during_a_dump_takes_only_itself_out(venv_python, tmp_path, fmt):
    """A dump is held in write() after the main thread's frames; meanwhile
    the newest thread ends, and its state is freed.  The dump goes on with
    the threads the list held when it began, less the one that ended:
    the older thread is still there, and nothing is read from the freed
    state (before, the walk followed it and either stopped, leaving the
    older thread out, or showed threads made of freed memory)."""
    err = end_a_thread_during_a_dump(venv_python, tmp_path, {"PYTHONFAULTHANDLER_FORMAT": fmt,
                                                             "PYTHONFAULTHANDLER_MAX_FRAMES": "100000"})
    if fmt == "json":
        (dump,) = json_dumps(err)
        names = [t.get("name") for t in dump["threads"]]
        assert dump["threads_omitted"] == 0, err[-3000:]     # it ended: none was left out
    else:
        (dump,) = split_dumps(err)
        names = [t.name for t in dump.threads]
        assert "threads omitted" not in err, err[-3000:]     # it ended: none was left out
    assert names == ["MainThread", "keeper"], err[-3000:]


@x86_64_only
def test_thread_that_ends_during_a_cpython_format_dump(venv_python, tmp_path):
    """The same in CPython's format, where the newest thread comes first:
    the dump is held in that thread's frames while an older one ends; the
    two others follow, and no "..." says a thread was cut."""
    err = end_a_thread_during_a_dump(venv_python, tmp_path, {"PYTHONFAULTHANDLER_FORMAT": "cpython"},
                                     "holding")
    headers = re.findall(r"^(?:Current thread|Thread) 0x[0-9a-f]+.*\(most recent call first\):$", err, re.M)
    assert len(headers) == 3 and headers[-1].startswith("Current thread"), err[-3000:]
    assert "\n...\n" not in err, err[-3000:]
