"""Living with other handlers: a C library's SIGSEGV handler installed
first, CPython's faulthandler switched on after ours, and valgrind watching
a process that uses every part of the API."""
import shutil
import subprocess

import pytest

from conftest import SANITIZER_PRELOAD, clean_environ
from dumps import count_fatal, only_dump

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
