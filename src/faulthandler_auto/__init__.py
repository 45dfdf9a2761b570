"""Backtraces of Python and C frames on crash, hang or signal.

The names and signatures are CPython's ``faulthandler``'s, so code written
for it runs unchanged; ``file`` may also be a path or a path template
(``{pid}``, ``{ppid}``, ``{prog}``, ``{time}``, ``{host}``) opened only when
there is a dump to write.  The environment variables of the README are
applied by :func:`configure`, which the start-up hook calls.
"""
import _signal
import os
import sys

from faulthandler_auto import _facts

# The one place that chooses the core: where it was not built or cannot load,
# the interpreter's own faulthandler serves the same calls (fallback mode).
try:
    from faulthandler_auto import _native
    fallback_reason = None
except ImportError as _exc:
    from faulthandler_auto import _fallback as _native
    fallback_reason = _native.reason(_exc)

__version__ = _facts.VERSION
version = (int(__version__.split(".")[0]) << 8) | int(__version__.split(".")[1])

__all__ = [
    "enable", "disable", "is_enabled", "dump_traceback", "dump_c_stack",
    "dump_traceback_later", "cancel_dump_traceback_later", "register",
    "unregister", "configure",
]

_INT_MAX = 2 ** 31 - 1
_FATAL_NUMBERS = frozenset(_facts.FATAL_SIGNALS.values())

# File objects given to enable/dump_traceback_later/register stay referenced
# until disable/cancel/unregister, as CPython keeps them, so that their
# descriptor is not closed and reused under a handler.
_files = {}
# CPython's own faulthandler, when it was on before enable(): one crash must
# give one dump, so it is switched off and given back by disable().
_cpython_handler_was_enabled = False
# Whether the core knows this process (see _prepare); importing the package
# changes nothing, so the CLI and code that only reads is_enabled() pay nothing.
_prepared = False


def _program_name():
    """The program as a file name: the script's base name, the module of
    ``-m``, or ``python`` for ``-c`` and the interactive prompt."""
    argv0 = sys.argv[0] if getattr(sys, "argv", None) else ""
    if argv0 in ("", "-", "-c"):
        return "python"
    if argv0 == "-m":
        args = getattr(sys, "orig_argv", None) or _proc_cmdline()
        for i, arg in enumerate(args[1:], 1):
            if arg == "-m" and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith("-m"):
                return arg[2:]
        return "python"
    return os.path.basename(argv0) or "python"


def _proc_cmdline():
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return [os.fsdecode(a) for a in f.read().split(b"\0")]
    except OSError:
        return []


def _stdlib_names():
    """Module names left out of the "Extension modules" line, as CPython
    3.10+ does with ``sys.stdlib_module_names``; 3.9 has no such set, so
    there the built-in modules and those in ``lib-dynload`` stand for it.
    The core searches them in order, so they are joined as they come."""
    names = getattr(sys, "stdlib_module_names", None)
    if names is None:
        names = set(sys.builtin_module_names)
        for entry in sys.path:
            if entry.endswith("lib-dynload") and os.path.isdir(entry):
                names.update(n.split(".", 1)[0] for n in os.listdir(entry))
    # ours is always there: not worth a mention
    return "\0".join((__name__ + "._native",) + tuple(names)).encode("ascii", "replace")


def _destination(file):
    """What the core writes to: an int fd, or the bytes of a path template.
    Follows CPython's rules for ``file``: None means sys.stderr, an int is a
    descriptor, anything else must have ``fileno()`` and is flushed first."""
    if file is None:
        file = sys.stderr
        if file is None:
            raise RuntimeError("sys.stderr is None")
    if isinstance(file, bool):
        raise TypeError("file must be a file object, a file descriptor or a path")
    if isinstance(file, int):
        if file > _INT_MAX:
            raise OverflowError("Python int too large to convert to C int")
        if file < 0:
            raise ValueError("file is not a valid file descriptor")
        return file
    if isinstance(file, (str, bytes, os.PathLike)):
        return os.fsencode(_facts.check_path_template(file))
    fd = file.fileno()
    if not isinstance(fd, int) or not 0 <= fd <= _INT_MAX:
        raise RuntimeError("file.fileno() is not a valid file descriptor")
    try:
        file.flush()
    except Exception:
        pass  # as CPython: a failing flush() does not stop the dump
    return fd


def _keep(key, file):
    if file is None or isinstance(file, (int, str, bytes, os.PathLike)):
        _files.pop(key, None)
    else:
        _files[key] = file


def _check_signum(signum):
    if not isinstance(signum, int) or isinstance(signum, bool):
        raise TypeError("signum must be an integer, not %s" % type(signum).__name__)
    if signum in _FATAL_NUMBERS:
        raise RuntimeError("signal %d cannot be registered, use enable() instead" % signum)
    if signum < 1 or signum >= _signal.NSIG:
        raise ValueError("signal number out of range")


def _prepare():
    """Tell the core about this process and name its threads, once, on the
    first call that may dump."""
    global _prepared
    if _prepared:
        return
    _prepared = True
    _native.setup(_program_name(), sys.version.split()[0], _stdlib_names())
    if fallback_reason:  # fallback mode: the interpreter's dumps name no threads
        return
    _install_thread_hook()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_native.after_fork_child)


def _install_thread_hook():
    """Wrap ``_thread``'s thread starters so every thread started through
    ``threading`` records its name where a dump can read it without
    allocating, and gets an alternate signal stack so that its own stack
    overflow is dumped too.  ``threading`` binds the starter when it is
    imported, so it is patched there as well if it already was, and the
    threads it already runs are named now."""
    import _thread
    threading = sys.modules.get("threading")
    if threading is not None:
        main = threading.main_thread()
        for thread in threading.enumerate():
            if thread is not main and thread.ident is not None:
                _native.name_thread(thread.ident, thread.name)
    # Looked up without getattr(..., default): a missing attribute costs an
    # exception, and this runs at start-up.
    starters = vars(_thread)
    for name in ("start_joinable_thread", "start_new_thread"):
        start = starters.get(name)
        if start is None or start.__module__ == __name__:  # not in this version, or ours
            continue
        wrapped = _wrap_thread_starter(start)
        setattr(_thread, name, wrapped)
        private = "_" + name
        if threading is not None and vars(threading).get(private) is start:
            setattr(threading, private, wrapped)


def _wrap_thread_starter(start):
    # types.MethodType, without importing types (or _functools for partial):
    # a bound method is C, so calling one adds no Python frame.
    method = type(_wrap_thread_starter.__get__(0))

    def starter(function, *args, **kwargs):
        thread = getattr(function, "__self__", None)
        name = getattr(thread, "name", None)
        # run_thread(name, function, ...) through two bound methods: the
        # thread's Python stack gains no frame of ours, so its dump matches
        # CPython's line for line
        body = method(method(_native.run_thread, name if isinstance(name, str) else ""), function)
        return start(body, *args, **kwargs)
    starter.__name__ = start.__name__
    starter.__doc__ = start.__doc__
    return starter


def set_limits(rate=_facts.DEFAULT_RATE, rate_bytes=_facts.DEFAULT_RATE_BYTES):
    """Set the budget of on-demand dumps: at most ``rate`` dumps a second for
    each registered signal, and ``rate_bytes`` bytes a minute of signal and
    timeout dumps together (0: no limit).  What is skipped is counted in
    the next dump's ``Skipped:`` line."""
    for name, value, top in (("rate", rate, _facts.MAX_RATE),
                             ("rate_bytes", rate_bytes, _facts.MAX_RATE_BYTES)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("%s must be an integer" % name)
        if not 0 <= value <= top:
            raise ValueError("%s must be between 0 and %d" % (name, top))
    # the fallback mode (CPython's faulthandler underneath) has no budget
    set_core_limits = getattr(_native, "set_limits", None)
    if set_core_limits is not None:
        set_core_limits(rate, rate_bytes)


def set_output(format="text", max_frames=_facts.DEFAULT_LIMIT, max_threads=_facts.DEFAULT_LIMIT):
    """Choose the dump format and limits (frames per thread, threads per
    dump) for every later dump."""
    if format not in _facts.FORMATS:
        raise ValueError("format must be one of %s, not %r" % (", ".join(_facts.FORMATS), format))
    for name, value in (("max_frames", max_frames), ("max_threads", max_threads)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("%s must be an integer" % name)
        if not 1 <= value <= _facts.MAX_LIMIT:
            raise ValueError("%s must be between 1 and %d" % (name, _facts.MAX_LIMIT))
    _native.set_output(_facts.FORMATS.index(format), max_frames, max_threads)


def secure_mode():
    """Whether this is a setuid/setgid process (AT_SECURE), whose environment
    must not choose files or signals."""
    return _native.secure_mode()


def enable(file=None, all_threads=True, c_stack=True):
    """Dump the traceback on SIGSEGV, SIGFPE, SIGBUS, SIGILL and SIGABRT,
    with the C stack of the crashing thread when ``c_stack`` is true."""
    global _cpython_handler_was_enabled
    dest = _destination(file)
    _prepare()
    import faulthandler
    if faulthandler.is_enabled():
        faulthandler.disable()
        _cpython_handler_was_enabled = True
    _native.enable(dest, bool(all_threads), bool(c_stack))
    _keep("fatal", file)


def disable():
    """Give the fatal signals back to the handlers that were there before;
    return whether the handler was enabled."""
    global _cpython_handler_was_enabled
    was = _native.disable()
    _files.pop("fatal", None)
    if _cpython_handler_was_enabled:
        _cpython_handler_was_enabled = False
        import faulthandler
        if sys.stderr is not None:
            faulthandler.enable()
    return was


def is_enabled():
    """Whether the fatal signal handler is enabled."""
    return _native.is_enabled()


def dump_traceback(file=None, all_threads=True):
    """Dump the traceback of all threads (or the current one) now."""
    # skip=1: this function's own frame is not the caller's business
    dest = _destination(file)
    _prepare()
    _native.dump_traceback(dest, bool(all_threads), 1)


def dump_c_stack(file=None):
    """Dump the C stack of the current thread now."""
    dest = _destination(file)
    _prepare()
    _native.dump_c_stack(dest)


def _timeout_microseconds(timeout):
    if not isinstance(timeout, (int, float)):
        raise TypeError("'%s' object cannot be interpreted as an integer"
                        % type(timeout).__name__)
    if timeout != timeout:  # NaN; math is not imported for this at start-up
        raise ValueError("Invalid value NaN (not a number)")
    if timeout > 2 ** 63 / 1e6 / 1000:
        raise OverflowError("timeout value is too large")
    us = -int(-timeout * 1000000 // 1)  # rounded up, as CPython does
    if us <= 0:
        raise ValueError("timeout must be greater than 0")
    return us


def _timeout_header(us):
    """CPython's "Timeout (H:MM:SS[.ffffff])!" line."""
    seconds, us = divmod(us, 1000000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if us:
        return "Timeout (%d:%02d:%02d.%06d)!" % (hours, minutes, seconds, us)
    return "Timeout (%d:%02d:%02d)!" % (hours, minutes, seconds)


def dump_traceback_later(timeout, repeat=False, file=None, exit=False):
    """Dump the traceback of all threads after ``timeout`` seconds, again
    every ``timeout`` seconds if ``repeat``, then exit with status 1 if
    ``exit``.  A second call replaces the first."""
    us = _timeout_microseconds(timeout)
    dest = _destination(file)
    _prepare()
    _native.dump_traceback_later(us, bool(repeat), dest, bool(exit), _timeout_header(us))
    _keep("later", file)


def cancel_dump_traceback_later():
    """Cancel the last call to dump_traceback_later()."""
    _native.cancel_dump_traceback_later()
    _files.pop("later", None)


def register(signum, file=None, all_threads=True, chain=False):
    """Dump the traceback when ``signum`` arrives; the process goes on.
    With ``chain``, the handler that was there before is called too."""
    _check_signum(signum)
    dest = _destination(file)
    _prepare()
    _native.register(signum, dest, bool(all_threads), bool(chain))
    _keep(("signal", signum), file)


def unregister(signum):
    """Give ``signum`` back to its previous handler; return whether it was
    registered."""
    _check_signum(signum)
    was = _native.unregister(signum)
    _files.pop(("signal", signum), None)
    return was


def configure(environ=None):
    """Apply the PYTHONFAULTHANDLER* variables of ``environ`` (default
    ``os.environ``) and return the effective configuration."""
    from faulthandler_auto import config
    return config.configure(environ)


# The names of the original faulthandler 1.x.
isenabled = is_enabled
dumpbacktrace = dump_traceback
cancel_dumpbacktrace_later = cancel_dump_traceback_later


def dumpbacktrace_later(delay, repeat=False, file=None, all_threads=False):
    """faulthandler 1.x spelling of dump_traceback_later(); its
    ``all_threads`` is accepted for compatibility (timeouts dump all)."""
    dump_traceback_later(delay, repeat=repeat, file=file)


sigsegv = _native.sigsegv
sigfpe = _native.sigfpe
sigbus = _native.sigbus
sigill = _native.sigill
sigabrt = _native.sigabrt
stack_overflow = _native.stack_overflow
