"""Fallback mode: the calls of the C core, served by the interpreter's own
``faulthandler`` module.

The package imports this in place of ``_native`` when the core is not there:
an sdist installed without a compiler, or an interpreter or platform the core
does not support (PyPy, free-threaded CPython, musl, macOS, Windows).  The
same variables then still give crash dumps, timeout dumps and signal dumps,
in CPython's format and with CPython's limits; what is lost is listed by
:data:`LOST` and shown by ``faulthandler-auto status``.

A path template is expanded and its file opened when it is first configured
(at start-up), not at dump time as the core does: the interpreter's handler
can only write to a descriptor it was given.  Nothing here runs inside a
signal handler; the handlers are the interpreter's.
"""
import faulthandler
import os
import stat
import sys
import time

_TEXT_FORMAT = 0
_CPYTHON_LIMITS = (100, 100)  # frames, threads: faulthandler.c's fixed limits
_HAS_C_STACK = hasattr(faulthandler, "dump_c_stack")  # CPython 3.14+

LOST = tuple(
    item for item in (
        None if _HAS_C_STACK else "the C stack of the crashing thread (CPython < 3.14)",
        "thread names",
        "each thread's state: kernel thread id, scheduler state, CPU time, GIL holder",
        "named watchdogs (faulthandler_auto.watchdog raises RuntimeError)",
        "the fault address and signal code",
        "the JSON format (PYTHONFAULTHANDLER_FORMAT=json)",
        "PYTHONFAULTHANDLER_MAX_FRAMES / _MAX_THREADS (CPython's fixed 100 apply)",
        "the rate limit on signal dumps",
        "the asyncio tasks of each running event loop (PYTHONFAULTHANDLER_ASYNCIO)",
        "process-tree dumps (PYTHONFAULTHANDLER_TREE)",
        "a file per dumping process: PATH's file is opened at start-up, so {time} is the "
        "start time, a forked child writes into its parent's file, and a process that "
        "forked leaves that file at exit even when nothing was dumped",
        None if hasattr(faulthandler, "register") else "PYTHONFAULTHANDLER_SIGNAL (no "
        "faulthandler.register on this platform)",
    ) if item
)

_prog = "python"
# fd 1 / fd 2 -> the descriptor that dumps meant for them go to instead
# (redirect_std: pytest's capture points fd 1 and 2 at temporary files)
_std = {}
# what is set, so that redirect_std() can point it at the new descriptor:
# "fatal" -> (dest, all_threads, c_stack), "timer" -> (dest, repeat, exit,
# seconds, monotonic deadline), "task" -> (dest, exit), signum -> (dest,
# all_threads, chain)
_set = {}
# template (bytes) -> descriptor: one file per template and process, shared
# by the fatal, timeout and signal dumps as the core shares its template
_opened = {}
_reason = None
# fork()s since start-up (counted from the first file opened): a file shared
# with a forked child is left at exit even when empty
_forks = 0
_fork_counted = False


def reason(import_error=None):
    """Why the core is not in use, in a few words (set once by the package)."""
    global _reason
    if _reason is None:
        impl = sys.implementation.name
        if impl != "cpython":
            _reason = "the C core supports CPython only, this is %s" % impl
        elif not sys.platform.startswith("linux"):
            _reason = "the C core supports Linux only, this is %s" % sys.platform
        elif not any(n.startswith("_native") for n in os.listdir(os.path.dirname(__file__))):
            _reason = ("the C core was not built when this copy was installed (no compiler?); "
                       "once a compiler is there: pip install --no-cache-dir --force-reinstall "
                       "faulthandler-auto")
        else:
            _reason = "the C core failed to load (%s)" % (import_error,)
    return _reason


def setup(prog, version, stdlib_names):
    global _prog
    _prog = prog


def secure_mode():
    """setuid/setgid processes ignore the variables, as the core does with
    AT_SECURE (which Python cannot read: the ids are the visible part)."""
    if not hasattr(os, "geteuid"):
        return False
    return os.getuid() != os.geteuid() or os.getgid() != os.getegid()


def expand_path(template, pid, ppid, prog, when):
    """The file a checked template names for process ``pid`` at ``when``
    (seconds since the epoch), as the core's call of the same name: bytes in
    and out, a '/' in a value written as '_'."""
    host = (os.uname().nodename if hasattr(os, "uname") else "") or "unknown"
    values = {
        b"pid": b"%d" % pid,
        b"ppid": b"%d" % ppid,
        b"prog": prog,
        b"host": os.fsencode(host),
        b"time": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when)).encode(),
        b"worker": b"main",  # set_worker() is the core's alone
    }
    out = []
    rest = template
    while b"{" in rest:  # the template was checked by the package: fields are known
        start = rest.index(b"{")
        end = rest.index(b"}", start)
        out.append(rest[:start])
        field = rest[start + 1:end]
        if field.startswith(b"env:"):
            out.append(_env_value(field[4:]))
        else:
            out.append(values[field].replace(b"/", b"_"))
        rest = rest[end + 1:]
    out.append(rest)
    return b"".join(out)


def _env_value(name):
    """{env:NAME}'s value as the core gives it: made safe for a file name
    (no '/', braces or control bytes, no leading '.'), cut to
    ENV_VALUE_MAX bytes, ENV_UNSET when unset or empty."""
    from faulthandler_auto import _facts

    raw = os.environb.get(name) or _facts.ENV_UNSET.encode()
    n = min(len(raw), _facts.ENV_VALUE_MAX)
    while 0 < n < len(raw) and raw[n] & 0xC0 == 0x80:
        n -= 1  # cut inside a UTF-8 character: leave all of it out
    value = bytes(0x5F if c in b"/{}" or c < 0x20 or c == 0x7F else c for c in raw[:n])
    return b"_" + value[1:] if value.startswith(b".") else value


def path_problem(path):
    """Why _fd could not open the expanded ``path`` (bytes) now, or None;
    creates nothing.  The core's call of the same name, for what _fd does:
    missing directories are created, a link at the end is not followed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = os.path.dirname(path) or b"."
        while not os.path.lexists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            return "a path component is not a directory"
        return None if os.access(parent, os.W_OK | os.X_OK) else "permission denied"
    except OSError as exc:
        return exc.strerror
    if stat.S_ISLNK(st.st_mode):
        return "refusing to follow a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return None if os.access(path, os.W_OK) else "permission denied"


def _count_fork():
    global _forks
    _forks += 1


def _remove_if_empty(path, fd, owner, forks):
    """At exit: a file nobody dumped into is not left behind.  Only by the
    process that opened it (`owner`), and only if it has not forked since
    (`forks` then still the count): a forked child shares the descriptor and
    may still dump into the file after this process is gone."""
    if os.getpid() != owner or _forks != forks:
        return
    try:
        st = os.fstat(fd)
        if st.st_size == 0:
            here = os.stat(path, follow_symlinks=False)
            if (here.st_dev, here.st_ino) == (st.st_dev, st.st_ino):
                os.unlink(path)
    except OSError:
        pass


def _fd(dest):
    """A descriptor for the core's destination: an fd, or a template (bytes)
    whose file is created 0600 without following a link at its end."""
    if isinstance(dest, int):
        return _std.get(dest, dest)
    if dest in _opened and _opened[dest] is None:  # could not be created
        return _std.get(2, 2)
    fd = _opened.get(dest)
    if fd is None:
        path = os.fsdecode(expand_path(dest, os.getpid(), os.getppid(), os.fsencode(_prog), time.time()))
        try:
            directory = os.path.dirname(path)
            if directory:
                os.makedirs(directory, 0o700, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            for name in ("O_NOFOLLOW", "O_CLOEXEC", "O_NOCTTY", "O_NONBLOCK"):
                flags |= getattr(os, name, 0)
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            # as the core does when it cannot write the file: stderr, said once
            sys.stderr.write("faulthandler-auto: dump file %s cannot be created (%s): dumps go "
                             "to stderr (PYTHONFAULTHANDLER_PATH)\n" % (path, exc.strerror or exc))
            _opened[dest] = None
            return _std.get(2, 2)
        _opened[dest] = fd
        import atexit
        global _fork_counted
        if not _fork_counted and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_parent=_count_fork)
            _fork_counted = True
        atexit.register(_remove_if_empty, path, fd, os.getpid(), _forks)
    return fd


def set_output(format, max_frames, max_threads):
    if format != _TEXT_FORMAT or (max_frames, max_threads) != _CPYTHON_LIMITS:
        raise RuntimeError("fallback mode (%s) writes CPython's text format with its fixed limits "
                           "(%d frames, %d threads)" % ((reason(),) + _CPYTHON_LIMITS))


def _limit(max_threads):
    """CPython 3.15's max_threads keyword, where the interpreter has it."""
    return {"max_threads": max_threads} if max_threads and sys.version_info >= (3, 15) else {}


def enable(dest, all_threads, c_stack, max_threads=0):
    if _HAS_C_STACK:
        faulthandler.enable(_fd(dest), all_threads, c_stack=c_stack, **_limit(max_threads))
    else:
        faulthandler.enable(_fd(dest), all_threads)
    _set["fatal"] = (dest, all_threads, c_stack)


def disable():
    _set.pop("fatal", None)
    return faulthandler.disable()


def is_enabled():
    return faulthandler.is_enabled()


def dump_traceback(dest, all_threads, skip, max_threads=0):
    faulthandler.dump_traceback(_fd(dest), all_threads, **_limit(max_threads))


def dump_c_stack(dest):
    if not _HAS_C_STACK:
        raise RuntimeError("fallback mode (%s): no C stack before CPython 3.14" % reason())
    faulthandler.dump_c_stack(_fd(dest))


def dump_traceback_later(us, repeat, dest, exit, header, task=False, all_threads=True, max_threads=0):
    """The interpreter has one timer: a task timer (a test's
    faulthandler_timeout) takes it while the task runs, and cancelling it
    gives the process timer back with the time it had left.  It always
    dumps every thread."""
    if task:
        _set["task"] = (dest, exit)
        faulthandler.dump_traceback_later(us / 1e6, file=_fd(dest), exit=exit, **_limit(max_threads))
        return
    seconds = us / 1e6
    _set["timer"] = (dest, repeat, exit, seconds, time.monotonic() + seconds, max_threads)
    if "task" not in _set:
        _arm_process_timer(seconds)


def _arm_process_timer(seconds=None):
    """Set the interpreter's timer to the process timer: for `seconds`, or
    (None) for the time it has left, when it is set again."""
    timer = _set.get("timer")
    if timer is None:
        faulthandler.cancel_dump_traceback_later()
        return
    dest, repeat, exit, period, deadline, max_threads = timer
    if seconds is None:
        seconds = period if repeat else max(deadline - time.monotonic(), 0.001)
    # the interpreter writes its own "Timeout (H:MM:SS)!" line, with the
    # time it was set for
    faulthandler.dump_traceback_later(seconds, repeat=repeat, file=_fd(dest), exit=exit,
                                      **_limit(max_threads))


def cancel_dump_traceback_later(task=False):
    if task:
        if _set.pop("task", None) is not None:
            _arm_process_timer()
        return
    _set.pop("timer", None)
    if "task" not in _set:
        faulthandler.cancel_dump_traceback_later()


def register(signum, dest, all_threads, chain, max_threads=0):
    if not hasattr(faulthandler, "register"):
        raise RuntimeError("fallback mode (%s): no faulthandler.register on %s"
                           % (reason(), sys.platform))
    faulthandler.register(signum, file=_fd(dest), all_threads=all_threads, chain=chain)
    _set[signum] = (dest, all_threads, chain)


def set_tree(enabled, dest, wait_ms, total_ms):
    if enabled:
        raise RuntimeError("fallback mode (%s): the interpreter's faulthandler cannot dump "
                           "a process tree" % reason())


def unregister(signum):
    _set.pop(signum, None)
    return hasattr(faulthandler, "unregister") and faulthandler.unregister(signum)


def redirect_std(stdout, stderr):
    """Send what is set to go to fd 1 or 2 to these descriptors (-1: to fd 1
    and 2 again), by setting it again on the interpreter's faulthandler."""
    for std, fd in ((1, stdout), (2, stderr)):
        if fd < 0:
            _std.pop(std, None)
        else:
            _std[std] = fd
    for what, args in list(_set.items()):
        if args[0] not in (1, 2):
            continue
        if what == "fatal":
            enable(*args)
        elif what == "timer":
            if "task" not in _set:
                _arm_process_timer()
        else:
            register(what, *args)


def _raise(signame):
    """The test helpers: the signal itself, as the interpreter's handler sees a fault."""
    def fault():
        import signal
        os.kill(os.getpid(), getattr(signal, signame))
    fault.__name__ = signame.lower()
    return fault


sigsegv = _raise("SIGSEGV")
sigfpe = _raise("SIGFPE")
sigbus = _raise("SIGBUS")
sigill = _raise("SIGILL")
sigabrt = _raise("SIGABRT")


def stack_overflow():
    raise RuntimeError("fallback mode (%s): no stack overflow helper" % reason())
