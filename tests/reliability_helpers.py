"""Helpers of test_reliability.py: child processes whose stderr or stdout is
a small pipe the test fills on purpose, so that a dump is known to be in
flight (blocked in write()) while the test does something to the process;
and the subinterpreter API of each CPython version."""
import fcntl
import os
import platform

import pytest

from dumps import alive, wait_for

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
# the tests that read /proc/PID/task/TID/syscall know x86-64's numbers
x86_64_only = pytest.mark.skipif(platform.machine() != "x86_64",
                                 reason="reads x86-64 system call numbers in /proc")
# how long a stuck fatal dump waits before it gives up (README, "How it behaves")
GIVE_UP_SECONDS = 30


def shrink_pipe(fd):
    """Make the pipe behind descriptor `fd` one page big, so that a dump of
    a few KiB fills it.  Done in the child before it runs (a preexec_fn):
    a pipe that already holds more than that cannot shrink (EBUSY), and a
    child that crashes at once may have written that much before the
    parent could do it."""
    fcntl.fcntl(fd, F_SETPIPE_SZ, 4096)


def blocked_in_write(pid, fd, threads=1):
    """Whether `threads` threads of process `pid` are inside write(fd, ...)
    now, or in poll() (where a watchdog dump waits for room in a pipe), as
    /proc/PID/task/TID/syscall says (x86-64: write is 1, poll 7)."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return False
    found = 0
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                fields = f.read().split()
        except OSError:
            continue
        if len(fields) > 1 and fields[0] == "1" and int(fields[1], 16) == fd:
            found += 1
        elif fields and fields[0] == "7":
            found += 1
    return found >= threads


def main_thread_syscall(pid):
    """The number of the system call the main thread of process `pid` is
    in (x86-64), as /proc/PID/syscall says; None when the process is gone.
    One whose state cannot be read (ptrace_scope) fails the test, which
    could not tell otherwise."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            fields = f.read().split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0] if fields else None


def main_thread_sleeping(pid):
    """Whether the main thread of process `pid` sleeps in nanosleep() or
    clock_nanosleep() (x86-64: 35, 230), as exit() does while it waits for
    another thread's dump."""
    return main_thread_syscall(pid) in ("35", "230")


def gone_or_sleeping(pid):
    """"gone" once process `pid` has ended (a zombie, or reaped),
    "sleeping" while its main thread sleeps in exit()'s wait (see
    main_thread_sleeping), else None: for wait_for()."""
    if not alive(pid):
        return "gone"
    return "sleeping" if main_thread_sleeping(pid) else None


def wait_blocked_in_write(proc, fd, timeout=60, threads=1):
    """Wait until `threads` threads of `proc` are held writing to its `fd`
    (a pipe the test does not read), so their dumps are known to be in
    flight."""
    assert wait_for(lambda: blocked_in_write(proc.pid, fd, threads), timeout=timeout), (
        "not %d threads of %d blocked in write(%d)" % (threads, proc.pid, fd))


def read_until(pipe, marker, limit=1 << 20, count=1):
    """Read raw bytes from `pipe` until `marker` (bytes) is among them
    `count` times."""
    data = b""
    fd = pipe.fileno()
    while data.count(marker) < count:
        chunk = os.read(fd, 256)
        assert chunk, "EOF before %r in %r" % (marker, data[-2000:])
        data += chunk
        assert len(data) < limit
    return data


# Python code for a child: legacy() and isolated() make a subinterpreter
# with the API of this version and return (run(code), interpreter id,
# close()); isolated() returns None where there is none (before 3.12).
SUBINTERPRETERS = r'''
import sys

def _low_level():
    try:
        import _interpreters as m      # 3.13+
    except ImportError:
        import _xxsubinterpreters as m # 3.8-3.12
    return m

def _wrap(m, interp):
    run = getattr(m, "exec", None) or m.run_string
    def run_code(code):
        result = run(interp, code)
        if result is not None:         # 3.13+: an exception comes back as a value
            raise RuntimeError(result)
    return run_code, int(interp), lambda: m.destroy(interp)

def legacy():
    m = _low_level()
    if hasattr(m, "new_config"):
        interp = m.create("legacy")
    elif sys.version_info >= (3, 12):
        interp = m.create(isolated=False)
    else:
        interp = m.create()            # always shares the GIL and runs site
    return _wrap(m, interp)

def isolated():
    if sys.version_info < (3, 12):
        return None
    if sys.version_info >= (3, 14):
        from concurrent import interpreters
        interp = interpreters.create()
        return interp.exec, interp.id, interp.close
    m = _low_level()
    return _wrap(m, m.create())
'''
