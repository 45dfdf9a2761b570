"""Fatal signals from the installed wheel (issue 2): one dump per crash, the
right frames (the same as CPython's own faulthandler prints), the right
signal and exit status, and dump files created only when something crashes."""
import os
import platform
import re
import signal
import stat

import pytest

from dumps import (RETURNCODES, FATAL_NAMES, count_fatal, cpython_frames_equal,
                   check_well_formed, line_of, only_dump, script)

CRASH = script("crash.py")

# mode -> (signal, si_code names accepted)
MODES = {
    "null": ("SIGSEGV", ("SEGV_MAPERR",)),
    "abort": ("SIGABRT", ("SI_TKILL",)),
    "sigbus": ("SIGBUS", ("BUS_ADRERR",)),
    # FPE_INTDIV is wanted (test_helper_is_a_real_fault); a raised
    # SIGFPE is still a well-formed dump
    "sigfpe": ("SIGFPE", ("FPE_INTDIV", "SI_TKILL")),
    "sigill": ("SIGILL", ("ILL_ILLOPN",)),
    # the main thread's guard gap is unmapped; a pthread guard page is PROT_NONE
    "overflow": ("SIGSEGV", ("SEGV_MAPERR", "SEGV_ACCERR")),
}
MARKERS = {"sigbus": "call-sigbus"}


def crash(run_py, mode, where="main", env=None, args=()):
    environ = {"FA_MODE": mode, "FA_WHERE": where}
    environ.update(env or {})
    return run_py(CRASH, *args, env=environ, timeout=60)


def ours(run_py, mode, where="main", env=None, args=()):
    environ = {"PYTHONFAULTHANDLER": "1"}
    environ.update(env or {})
    return crash(run_py, mode, where, environ, args)


def cpython(run_stock, mode, where="main"):
    """The same crash under CPython's faulthandler, ours not enabled."""
    proc = crash(run_stock, mode, where)
    assert proc.returncode == RETURNCODES[MODES[mode][0]], proc
    return only_dump(proc.stderr)


def check_signal_line(dump, mode, pid):
    name, codes = MODES[mode]
    assert dump.fatal_error == FATAL_NAMES[name]
    assert dump.header[0] == "Fatal Python error: " + FATAL_NAMES[name]
    m = dump.signal
    assert m, dump.header
    assert m.group(1) == name
    assert m.group(2) in codes, dump.header
    if m.group(2) == "SI_TKILL":
        # raised by the process itself: it names itself as the sender
        assert m.group(3) == "sent by tkill or raise"
        assert int(m.group(5)) == pid and int(m.group(6)) == os.getuid(), dump.header
    else:
        # a real fault: where
        assert m.group(4) is not None and m.group(5) is None, dump.header


@pytest.mark.parametrize("mode", sorted(MODES))
def test_fatal_signal_in_main_thread(run_py, run_stock, mode):
    proc = ours(run_py, mode)
    name = MODES[mode][0]
    assert proc.returncode == RETURNCODES[name], proc
    assert count_fatal(proc.stderr) == 1, proc.stderr
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    pid = int(proc.stdout.split()[0])
    assert dump.pid == pid
    m = dump.process
    assert m.group(2) == "crash.py"
    assert m.group(3) == platform.python_version()
    check_signal_line(dump, mode, pid)
    if mode == "null":
        assert dump.signal.group(4) == "0x0"
    # the crashing thread first, named, then the idle thread
    assert dump.threads[0].current and dump.threads[0].name == "MainThread"
    assert [t.name for t in dump.threads] == ["MainThread", "idler"]
    assert not any(t.current for t in dump.threads[1:])
    frames = dump.threads[0].frames
    marker = MARKERS.get(mode, mode)
    assert (CRASH, line_of(CRASH, marker), "crash") in frames
    assert frames[-3:] == [
        (CRASH, line_of(CRASH, "outer"), "outer"),
        (CRASH, line_of(CRASH, "main"), "main"),
        (CRASH, line_of(CRASH, "module"), "<module>"),
    ]
    assert (CRASH, line_of(CRASH, "idle"), "idle") in dump.thread_named("idler").frames
    # C stack after the Python threads, on by default for fatal signals
    assert dump.c_stack, dump.text
    assert dump.lines.index("Current thread's C stack trace (most recent call first):") > \
        dump.lines.index(dump.threads[-1].header)
    # the Python frames are CPython's, line for line
    cpython_frames_equal(dump, cpython(run_stock, mode))


@pytest.mark.parametrize("mode", ["sigfpe", "sigill"])
def test_helper_is_a_real_fault(run_py, mode):
    """sigfpe()/sigill() fault in hardware on x86-64 (integer division by
    zero, ud2), so the dump shows the fault code and address, not SI_TKILL."""
    if os.uname().machine not in ("x86_64", "i686"):
        pytest.skip("the helpers only raise() off x86")
    proc = ours(run_py, mode, env={"PYTHONFAULTHANDLER_C_STACK": "0"})
    dump = only_dump(proc.stderr)
    expected = {"sigfpe": ("SIGFPE", "FPE_INTDIV", "integer divide by zero"),
                "sigill": ("SIGILL", "ILL_ILLOPN", "illegal operand")}[mode]
    assert dump.signal.groups()[:3] == expected, dump.header
    assert dump.signal.group(4) not in (None, "0x0"), dump.header


@pytest.mark.parametrize("mode", ["null", "abort", "overflow"])
def test_fatal_signal_in_thread(run_py, run_stock, mode):
    """A crash in a threading.Thread: that thread is "Current" and first;
    a stack overflow there is dumped too (CPython prints nothing for it)."""
    proc = ours(run_py, mode, where="thread")
    assert proc.returncode == RETURNCODES[MODES[mode][0]], proc
    assert count_fatal(proc.stderr) == 1, proc.stderr
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    check_signal_line(dump, mode, int(proc.stdout.split()[0]))
    first = dump.threads[0]
    assert first.current and first.name == "crasher", dump.text
    assert sorted(t.name for t in dump.threads) == ["MainThread", "crasher", "idler"]
    assert (CRASH, line_of(CRASH, "outer"), "outer") in first.frames
    main = dump.thread_named("MainThread")
    assert not main.current
    # the crasher waits until the main thread is parked
    assert main.frames[:2] == [(CRASH, line_of(CRASH, "blocked"), "blocked"),
                               (CRASH, line_of(CRASH, "join"), "main")], dump.text
    assert dump.c_stack
    if mode != "overflow":
        cpython_frames_equal(dump, cpython(run_stock, mode, where="thread"))


def test_stack_overflow_in_thread_cpython_prints_nothing(run_stock):
    """The gap this product fills: CPython's handler has no alternate stack
    in other threads (measured on 3.9-3.15)."""
    proc = crash(run_stock, "overflow", "thread")
    assert proc.returncode == -signal.SIGSEGV
    if count_fatal(proc.stderr):
        pytest.skip("this CPython dumps a thread's stack overflow by itself")


@pytest.mark.parametrize("mode", ["null", "abort"])
def test_crash_in_atexit_function(run_py, run_stock, mode):
    proc = ours(run_py, mode, where="atexit")
    assert proc.returncode == RETURNCODES[MODES[mode][0]], proc
    assert count_fatal(proc.stderr) == 1, proc.stderr
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert dump.threads[0].current and dump.threads[0].name == "MainThread"
    frames = dump.threads[0].frames
    assert frames[-1] == (CRASH, line_of(CRASH, "outer"), "outer"), dump.text
    cpython_frames_equal(dump, cpython(run_stock, mode, where="atexit"))


def test_c_stack_can_be_turned_off(run_py):
    proc = ours(run_py, "null", env={"PYTHONFAULTHANDLER_C_STACK": "0"})
    assert proc.returncode == -signal.SIGSEGV
    dump = only_dump(proc.stderr)
    assert dump.c_stack is None and "C stack" not in proc.stderr


def test_all_threads_off(run_py):
    proc = ours(run_py, "null", env={"PYTHONFAULTHANDLER_ALL_THREADS": "0"})
    assert proc.returncode == -signal.SIGSEGV
    dump = only_dump(proc.stderr)
    assert "idler" not in proc.stderr
    # CPython's all_threads=False layout: "Stack (most recent call first):"
    assert dump.stack is not None and not dump.threads, dump.text
    assert (CRASH, line_of(CRASH, "null"), "crash") in dump.stack.frames


@pytest.mark.parametrize("flag", ["-I", "-E"])
def test_isolated_and_ignore_environment_disable_everything(run_py, flag):
    proc = ours(run_py, "null", args=(flag,))
    assert proc.returncode == -signal.SIGSEGV
    assert proc.stderr == "", proc.stderr


def test_with_cpython_faulthandler_enabled_too(run_py):
    """-X faulthandler and PYTHONFAULTHANDLER: one crash, one dump (ours)."""
    proc = ours(run_py, "null", args=("-X", "faulthandler"))
    assert proc.returncode == -signal.SIGSEGV
    assert count_fatal(proc.stderr) == 1, proc.stderr
    dump = only_dump(proc.stderr)
    assert dump.signal and dump.process, dump.text


def test_no_dump_without_variable(run_py):
    proc = crash(run_py, "null")
    assert proc.returncode == -signal.SIGSEGV
    assert proc.stderr == ""


# --- dump files ------------------------------------------------------------

def test_file_dump_only_on_crash(run_py, tmp_path):
    directory = tmp_path / "missing" / "dir"
    template = str(directory / "{prog}-{pid}.log")
    clean = crash(run_py, "null", "clean", {"PYTHONFAULTHANDLER": "1",
                                            "PYTHONFAULTHANDLER_PATH": template})
    assert clean.returncode == 0, clean
    assert clean.stderr == ""
    assert not directory.exists() or not os.listdir(directory)

    proc = ours(run_py, "null", env={"PYTHONFAULTHANDLER_PATH": template})
    assert proc.returncode == -signal.SIGSEGV
    assert proc.stderr == "", proc.stderr
    pid = int(proc.stdout.split()[0])
    assert os.listdir(directory) == ["crash.py-%d.log" % pid]
    path = directory / ("crash.py-%d.log" % pid)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    dump = only_dump(path.read_text())
    check_well_formed(dump)
    assert dump.pid == pid
    assert dump.threads[0].name == "MainThread"


def test_file_template_fields(run_py, tmp_path):
    template = str(tmp_path / "{prog}.{pid}.{ppid}.{host}.{time}.log")
    proc = ours(run_py, "abort", env={"PYTHONFAULTHANDLER_PATH": template})
    assert proc.returncode == -signal.SIGABRT
    pid = int(proc.stdout.split()[0])
    (name,) = os.listdir(tmp_path)
    m = re.match(r"^crash\.py\.(\d+)\.(\d+)\.(.+)\.(\d{8}T\d{6}Z)\.log$", name)
    assert m, name
    assert int(m.group(1)) == pid
    assert int(m.group(2)) == os.getpid()
    assert m.group(3) == os.uname().nodename
    assert only_dump((tmp_path / name).read_text()).pid == pid


@pytest.mark.parametrize("slash", [True, False])
def test_file_in_directory(run_py, tmp_path, slash):
    directory = tmp_path / "dumps"
    if not slash:
        directory.mkdir()
    value = str(directory) + ("/" if slash else "")
    proc = ours(run_py, "null", env={"PYTHONFAULTHANDLER_PATH": value})
    assert proc.returncode == -signal.SIGSEGV
    pid = int(proc.stdout.split()[0])
    expected = "crash.py-%s-%d.log" % (os.uname().nodename, pid)
    assert os.listdir(directory) == [expected]
    assert only_dump((directory / expected).read_text()).pid == pid


def test_file_appends_to_existing_regular_file(run_py, tmp_path):
    path = tmp_path / "dump.log"
    path.write_text("previous\n")
    os.chmod(path, 0o600)
    proc = ours(run_py, "null", env={"PYTHONFAULTHANDLER_PATH": str(path)})
    assert proc.returncode == -signal.SIGSEGV
    text = path.read_text()
    assert text.startswith("previous\nFatal Python error: Segmentation fault\n"), text
    assert count_fatal(text) == 1


def test_stdout(run_py):
    proc = ours(run_py, "null", env={"PYTHONFAULTHANDLER_PATH": "stdout"})
    assert proc.returncode == -signal.SIGSEGV
    assert proc.stderr == ""
    assert count_fatal(proc.stdout) == 1
    assert only_dump(proc.stdout).pid == int(proc.stdout.split()[0])


def test_symlink_is_not_followed(run_py, tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    link = tmp_path / "dump.log"
    link.symlink_to(target)
    proc = ours(run_py, "null", env={"PYTHONFAULTHANDLER_PATH": str(link)})
    assert proc.returncode == -signal.SIGSEGV
    assert target.read_text() == ""
    lines = proc.stderr.splitlines()
    fallback = [line for line in lines if line.startswith("faulthandler-auto: cannot write dump file")]
    assert len(fallback) == 1, proc.stderr
    assert fallback[0].startswith('faulthandler-auto: cannot write dump file "%s": ' % link)
    assert fallback[0].endswith("; writing the dump to stderr")
    assert count_fatal(proc.stderr) == 1
    check_well_formed(only_dump(proc.stderr))


def test_fifo_without_reader_falls_back(run_py, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = ours(run_py, "null", env={"PYTHONFAULTHANDLER_PATH": str(fifo)})
    assert proc.returncode == -signal.SIGSEGV
    assert 'faulthandler-auto: cannot write dump file "%s": ' % fifo in proc.stderr
    assert count_fatal(proc.stderr) == 1


@pytest.mark.parametrize("where, name", [("fork", "MainThread"), ("fork-in-thread", "forker")])
def test_forked_child_writes_its_own_file(run_py, tmp_path, where, name):
    """The child's crash goes to its own file; the thread that forked is the
    child's main thread, under the name threading gives it there."""
    template = str(tmp_path / "{pid}.log")
    proc = ours(run_py, "null", where=where, env={"PYTHONFAULTHANDLER_PATH": template})
    assert proc.returncode == 0, proc
    out = proc.stdout.split()
    parent, child = int(out[0]), int(out[out.index("child") + 1])
    assert out[-1] == str(int(signal.SIGSEGV)), proc.stdout
    assert os.listdir(tmp_path) == ["%d.log" % child]
    dump = only_dump((tmp_path / ("%d.log" % child)).read_text())
    assert dump.pid == child != parent
    assert [(t.current, t.name) for t in dump.threads] == [(True, name)]
    assert (CRASH, line_of(CRASH, "null"), "crash") in dump.threads[0].frames


def test_program_of_dash_m(run_py, tmp_path):
    """{prog} and the Process line name the module run with -m."""
    (tmp_path / "crashmod.py").write_text("import ctypes\nctypes.string_at(0)\n")
    # "python -m crashmod -c pass": -m takes the rest as the module's arguments
    proc = run_py("pass", "-m", "crashmod", cwd=str(tmp_path),
                  env={"PYTHONFAULTHANDLER": "1",
                       "PYTHONFAULTHANDLER_PATH": str(tmp_path / "{prog}.log")})
    assert proc.returncode == -signal.SIGSEGV, proc
    dump = only_dump((tmp_path / "crashmod.log").read_text())
    assert dump.process.group(2) == "crashmod"
