"""Living with other handlers: a C library's SIGSEGV handler installed
first, CPython's faulthandler switched on after ours, valgrind watching a
process that uses every part of the API, and threads whose alternate signal
stack another runtime made small."""
import re
import shutil
import subprocess

import pytest

from conftest import SANITIZER_PRELOAD, clean_environ
from dumps import check_well_formed, count_fatal, json_dumps, only_dump
from reliability_helpers import read_until

C_HANDLER_RAN = "c-library handler ran\n"


@pytest.fixture(scope="module")
def c_library(shared_library):
    return shared_library("segv_handler")


def crash_after(c_library, middle):
    return ("import ctypes\n"
            "ctypes.CDLL(%r).install_segv_handler()\n"
            "import faulthandler_auto\n" % str(c_library)
            + middle + "faulthandler_auto.sigsegv()\n")


def test_c_library_handler_still_runs_after_our_dump(run_py, c_library):
    proc = run_py(crash_after(c_library, "faulthandler_auto.enable()\n"))
    assert proc.returncode == 42, proc.stderr
    assert proc.stderr.endswith(C_HANDLER_RAN)  # it ran, after our dump
    assert only_dump(proc.stderr[:-len(C_HANDLER_RAN)]).fatal_error == "Segmentation fault"


def test_disable_gives_back_exactly_what_was_there(run_py, c_library):
    proc = run_py(crash_after(c_library, "faulthandler_auto.enable()\n"
                                         "assert faulthandler_auto.disable() is True\n"))
    assert (proc.returncode, proc.stderr) == (42, C_HANDLER_RAN)


def test_cpython_faulthandler_enabled_after_ours(run_py, tmp_path):
    """As pytest's plugin does: faulthandler.enable() after ours keeps ours,
    the only handler, writing to the file PYTHONFAULTHANDLER_PATH names;
    faulthandler.is_enabled() says so."""
    path = tmp_path / "ours.log"
    proc = run_py("import faulthandler, faulthandler_auto\n"
                  "faulthandler.enable()\n"
                  "print(faulthandler.is_enabled(), flush=True)\n"
                  "faulthandler_auto.sigsegv()\n",
                  env={"PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_PATH": str(path)})
    assert proc.returncode == -11
    assert (proc.stdout, proc.stderr) == ("True\n", "")
    ours = path.read_text()
    assert count_fatal(ours) == 1
    assert only_dump(ours).fatal_error == "Segmentation fault"


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.skipif(bool(SANITIZER_PRELOAD), reason="valgrind and ASan do not mix")
def test_valgrind_memcheck_finds_nothing_of_ours(venv_python, tmp_path):
    """Memcheck over enable, explicit dumps, a signal dump, a timeout dump,
    cancel, unregister and disable.  Some CPython builds have memcheck
    reports of their own (3.11's int.from_bytes, for one), so what must be
    empty is the list of reports whose stack passes through our core."""
    out = tmp_path / "dumps.log"
    code = (
        "import signal, os, threading, time\n"
        "import faulthandler_auto as f\n"
        "out = %r\n"
        "ev = threading.Event()\n"
        "t = threading.Thread(target=ev.wait, name='waiter'); t.start()\n"
        "f.enable(file=out)\n"
        "f.dump_traceback(file=out)\n"
        "f.dump_c_stack(file=out)\n"
        "f.register(signal.SIGUSR1, file=out)\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "f.dump_traceback_later(0.2, file=out)\n"
        # until the timeout dump is there: a dump this small is one write(),
        # and each dump has one Process: line
        "text = ''\n"
        "while text.count('Process: pid') < 4 or not text.endswith('\\n'):\n"
        "    time.sleep(0.01); text = open(out).read()\n"
        "f.cancel_dump_traceback_later()\n"
        "f.unregister(signal.SIGUSR1)\n"
        "f.disable()\n"
        "ev.set(); t.join()\n"
        "print('done')\n") % str(out)
    proc = subprocess.run(
        ["valgrind", "--tool=memcheck", "--leak-check=no", "--num-callers=40",
         str(venv_python), "-c", code],
        env=clean_environ({"PYTHONMALLOC": "malloc"}), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "done\n"
    assert "ERROR SUMMARY:" in proc.stderr
    ours = [report for report in _memcheck_reports(proc.stderr) if "_native" in report]
    assert ours == []
    assert out.read_text().count("Process: pid") == 4  # explicit, C stack, signal, timeout


def _memcheck_reports(log):
    """Memcheck's reports: runs of '==pid== ' lines between blank ones."""
    reports, current = [], []
    for line in log.splitlines():
        body = line.split("== ", 1)[1] if line.startswith("==") and "== " in line else None
        if body:
            current.append(body)
        elif current:
            reports.append("\n".join(current))
            current = []
    return reports + (["\n".join(current)] if current else [])


# A thread that another runtime gave a small alternate signal stack: Rust's
# std gives its threads 8 KiB, a Go runtime 32 KiB, ASan 54 KiB.  Our
# handlers run on it (SA_ONSTACK), so a dump must fit there or not start.
SMALL_SIGNAL_STACK = r"""
import ctypes, mmap, signal, sys, threading
import faulthandler_auto
size, what = int(sys.argv[1]), sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
if len(sys.argv) > 3:
    # a C library's SIGSEGV handler, then ours: it must still run after
    ctypes.CDLL(sys.argv[3]).install_segv_handler()
    faulthandler_auto.enable()

class stack_t(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]

libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
page = mmap.PAGESIZE
# with a page below it that faults, as those runtimes map theirs
mem = libc.mmap(None, page + size, mmap.PROT_READ | mmap.PROT_WRITE,
                mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
assert libc.mprotect(mem, page, 0) == 0
ready = threading.Event()

def small_stack():
    ss = stack_t(mem + page, 0, size)
    assert libc.sigaltstack(ctypes.byref(ss), None) == 0, ctypes.get_errno()
    if what == "crash":
        faulthandler_auto.sigsegv()
    ready.set()
    sys.stdin.readline()

if what == "signal":
    signal.signal(signal.SIGUSR1, lambda *a: print("chained", flush=True))
    faulthandler_auto.register(signal.SIGUSR1, chain=True)
t = threading.Thread(target=small_stack, name="small-stack")
t.start()
if what == "signal":
    ready.wait()
    signal.pthread_kill(t.ident, signal.SIGUSR1)
t.join()
print("done", flush=True)
"""

NO_ROOM_RE = re.compile(r"faulthandler-auto: no dump of (SIG[A-Z0-9]+): this thread's signal "
                        r"stack is too small for one \((\d+) bytes left, a dump needs (\d+)\)\n\Z")


def run_on_small_stack(venv_python, tmp_path, size, what, env=None, library=None):
    """(exit status, stdout, stderr) of SMALL_SIGNAL_STACK.  For a signal,
    the child's thread waits until stderr has the dump (an 8 KiB stack: the
    line that says there is none)."""
    script = tmp_path / "small_stack.py"
    script.write_text(SMALL_SIGNAL_STACK)
    child = subprocess.Popen([str(venv_python), str(script), str(size), what]
                             + ([str(library)] if library else []),
                             env=clean_environ(env), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    err = b""
    if what == "signal":
        # the dump ends with the state line of each of the two threads; a
        # line says there is none
        err = read_until(child.stderr, b"State of thread" if size > 8192 else b"\n",
                         count=2 if size > 8192 else 1)
    try:
        out, rest = child.communicate(b"\n", timeout=60)
    finally:
        child.kill()
    return child.returncode, out.decode(), (err + rest).decode(errors="backslashreplace")


def test_signal_to_a_thread_with_an_8kib_signal_stack_says_why_there_is_no_dump(venv_python,
                                                                                tmp_path):
    """8 KiB, less the kernel's signal frame, is too little: one line, and
    the handler that was there before still runs.  Before, the process died
    of a SIGSEGV on the stack's guard page."""
    code, out, err = run_on_small_stack(venv_python, tmp_path, 8192, "signal")
    assert (code, out) == (0, "chained\ndone\n"), err
    m = NO_ROOM_RE.match(err)
    assert m, err
    assert m.group(1) == "SIGUSR1"
    assert int(m.group(2)) < min(8192, int(m.group(3)))


def test_signal_to_a_thread_with_a_32kib_signal_stack_is_dumped_there(venv_python, tmp_path):
    """A Go runtime's 32 KiB holds the whole dump.  Before: SIGSEGV."""
    code, out, err = run_on_small_stack(venv_python, tmp_path, 32768, "signal")
    assert (code, out) == (0, "chained\ndone\n"), err
    dump = only_dump(err)
    check_well_formed(dump)
    assert dump.signal.group(1, 2) == ("SIGUSR1", "SI_TKILL")
    assert [t.name for t in dump.threads] == ["small-stack", "MainThread"]
    assert dump.current.name == "small-stack"
    assert "small_stack" in [f.function for f in dump.current.frames]
    assert "<module>" in [f.function for f in dump.thread_named("MainThread").frames]
    assert "merged" not in err and "skipped" not in err


def test_crash_on_a_thread_with_an_8kib_signal_stack_says_why_there_is_no_dump(venv_python,
                                                                               tmp_path,
                                                                               c_library):
    """One line, then the crash goes on to the handler that was there before
    ours (a C library's, which exits 42).  Before: nothing, and the process
    died of the fault on the stack's guard page."""
    code, out, err = run_on_small_stack(venv_python, tmp_path, 8192, "crash",
                                        library=c_library)
    assert (code, out) == (42, ""), err
    assert err.endswith(C_HANDLER_RAN), err
    m = NO_ROOM_RE.match(err[:-len(C_HANDLER_RAN)])
    assert m, err
    assert m.group(1) == "SIGSEGV"
    assert int(m.group(2)) < min(8192, int(m.group(3)))


def test_crash_with_room_for_a_dump_but_not_for_the_c_stack(venv_python, tmp_path):
    """From 8 KiB up, 1 KiB at a time: a line, then dumps whose C stack was
    not walked (null, with why, and no crash signature, which would differ
    from the same crash's elsewhere), then whole dumps.  Where one kind
    ends depends on the kernel's signal frame, but never the order, and the
    middle band is wider than a step."""
    kinds = []
    for size in range(8192, 65536, 1024):
        code, out, err = run_on_small_stack(venv_python, tmp_path, size, "crash",
                                            env={"PYTHONFAULTHANDLER": "1",
                                                 "PYTHONFAULTHANDLER_FORMAT": "json"})
        assert (code, out) == (-11, ""), err
        if NO_ROOM_RE.match(err):
            kinds.append("line")
            continue
        [dump] = json_dumps(err)
        assert dump["error"] == "Segmentation fault"
        if dump["c_stack"] is None:
            assert dump["c_stack_missing"] == "not walked: this thread's signal stack is too small"
            assert dump.get("signature") is None
            kinds.append("no C stack")
            continue
        assert dump["c_stack"] and dump["signature"]
        kinds.append("whole")
        break
    assert kinds[0] == "line" and kinds[-1] == "whole", kinds
    assert "no C stack" in kinds, kinds
    assert kinds == sorted(kinds, key=["line", "no C stack", "whole"].index), kinds


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_crash_on_a_32kib_signal_stack_is_dumped_whole(venv_python, tmp_path, fmt):
    """A Go runtime's 32 KiB holds the whole dump, C stack and signature
    included.  Before, the dump's 37 KiB of buffers on the stack overran
    it: nothing."""
    code, out, err = run_on_small_stack(venv_python, tmp_path, 32768, "crash",
                                        env={"PYTHONFAULTHANDLER": "1",
                                             "PYTHONFAULTHANDLER_FORMAT": fmt})
    assert (code, out) == (-11, ""), err
    if fmt == "json":
        [dump] = json_dumps(err)
        assert dump["error"] == "Segmentation fault"
        [thread] = [t for t in dump["threads"] if t["current"]]
        assert thread["name"] == "small-stack"
        assert "small_stack" in [f["function"] for f in thread["frames"]]
        assert dump["c_stack"], dump.get("c_stack_missing")
        assert dump["signature"]
        return
    dump = only_dump(err)
    check_well_formed(dump)
    assert dump.fatal_error == "Segmentation fault"
    assert dump.current.name == "small-stack"
    assert "small_stack" in [f.function for f in dump.current.frames]
    assert dump.c_stack, dump.c_stack_lines
    assert dump.signature
