"""Backtraces of Python and C frames on crash, hang or signal.

The names and signatures are CPython's ``faulthandler``'s, so code written
for it runs unchanged; ``file`` may also be a path or a path template
(``{pid}``, ``{ppid}``, ``{prog}``, ``{time}``, ``{host}``, ``{worker}``, ``{env:NAME}``) opened only when
there is a dump to write.  The environment variables of the README are
applied by :func:`configure`, which the start-up hook calls.

PYTEST_DONT_REWRITE: imported before pytest starts (the hook), so pytest's
assertion rewriting must not ask for it (the pytest plugin's distribution).
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
    "unregister", "configure", "set_context", "set_worker", "redirect_std", "task_timeout",
    "set_format", "set_asyncio", "set_tree", "watchdog",
]

_INT_MAX = 2 ** 31 - 1
_FATAL_NUMBERS = frozenset(_facts.FATAL_SIGNALS.values())
# The limits set_output() last chose, which set_format() keeps.
_output = {"max_frames": _facts.DEFAULT_LIMIT, "max_threads": _facts.DEFAULT_LIMIT}

# File objects given to enable/dump_traceback_later/register stay referenced
# until disable/cancel/unregister, as CPython keeps them, so that their
# descriptor is not closed and reused under a handler.
_files = {}
# Whether the core knows this process (see _prepare); importing the package
# changes nothing, so the CLI and code that only reads is_enabled() pay nothing.
_prepared = False
# The program name _prepare gave the core.
_started_as = None
# set_tree() is on, and the tree's request signal is registered: at most
# one of the two at a time, as each needs the signal for its own handler.
_tree_on = False
_tree_signal_registered = False


def _program_name(argv0=None):
    """The program as a file name: the script's base name, the module of
    ``-m``, or ``python`` for ``-c`` and the interactive prompt; of this
    process, or of one whose ``sys.argv[0]`` was ``argv0``."""
    if argv0 is None:
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


def _hidden_names():
    """Module names the text and JSON formats leave out of the "Extension
    modules" line besides ``sys.stdlib_module_names``, which the core reads
    at dump time as CPython 3.10+ does: our own core, always there and not
    worth a mention, and on 3.9, which has no such set, the built-in modules
    and those in ``lib-dynload``."""
    names = [__name__ + "._native"]
    if not hasattr(sys, "stdlib_module_names"):
        names.extend(sys.builtin_module_names)
        for entry in sys.path:
            if entry.endswith("lib-dynload") and os.path.isdir(entry):
                names.extend(n.split(".", 1)[0] for n in os.listdir(entry))
    return "\0".join(names).encode("ascii", "replace")


def _destination(file):
    """What the core writes to: an int fd, or the bytes of a path template.
    Follows CPython's rules for ``file``: None means sys.stderr, an int is a
    descriptor, anything else must have ``fileno()`` and is flushed first."""
    if file is None:
        file = sys.stderr
        if file is None:
            raise RuntimeError("sys.stderr is None")
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
    global _started_as
    _started_as = _program_name()
    _native.setup(_started_as, sys.version.split()[0], _hidden_names())
    if fallback_reason:  # fallback mode: the interpreter's dumps name no threads
        return
    _install_thread_hook()
    if hasattr(os, "register_at_fork"):
        # it calls _watch_multiprocessing in a child of a multiprocessing user
        os.register_at_fork(after_in_child=_native.after_fork_child)
    # multiprocessing's spawn children start as `python -c ...
    # --multiprocessing-fork` (its spawn.is_forking() test) and import
    # multiprocessing next anyway; a process that has imported it may be a
    # child already running (the first dump armed in its code).  Other
    # processes pay these two tests only.
    if ((len(sys.argv) >= 2 and sys.argv[1] == "--multiprocessing-fork")
            or "multiprocessing.process" in sys.modules):
        _watch_multiprocessing()


def _watch_multiprocessing():
    """{worker} (and {prog}, for a child started as ``python -c``) from
    multiprocessing, in a process that may be one of its children."""
    from faulthandler_auto import _workers

    _workers.watch(set_worker, _rename_program if _started_as == "python" else None)


def _rename_program(argv0, module):
    """The program name of a spawn or forkserver child's parent, from its
    ``sys.argv[0]`` or its ``-m`` module, as _program_name found it there."""
    prog = module or _program_name(argv0)
    if prog != "python":
        _native.setup(prog, sys.version.split()[0], _hidden_names())


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
    # types.MethodType, without importing types: bound to the original
    # starter, the core's start_thread stands in for it.
    method = type(_install_thread_hook.__get__(0))
    for name in ("start_joinable_thread", "start_new_thread"):
        start = starters.get(name)
        if start is None or type(start) is method and start.__func__ is _native.start_thread:
            continue  # not in this version, or ours
        wrapped = method(_native.start_thread, start)
        setattr(_thread, name, wrapped)
        private = "_" + name
        if threading is not None and vars(threading).get(private) is start:
            setattr(threading, private, wrapped)


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


def set_asyncio(enabled=None):
    """Whether dumps list the asyncio tasks of each thread running an event
    loop: True for every dump, False for none, None (the default) for every
    dump but a fatal one."""
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError("enabled must be True, False or None")
    # the fallback mode (CPython's faulthandler underneath) lists no tasks
    set_core_asyncio = getattr(_native, "set_asyncio", None)
    if set_core_asyncio is not None:
        set_core_asyncio(-1 if enabled is None else int(enabled))


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
    _output.update(max_frames=max_frames, max_threads=max_threads)


def set_format(format):
    """Set the format of every later dump: ``"text"`` (CPython's layout with
    our lines after the Python frames), ``"cpython"`` (exactly what this
    version's faulthandler prints) or ``"json"``; the limits stay."""
    set_output(format, _output["max_frames"], _output["max_threads"])


def secure_mode():
    """Whether this is a setuid/setgid process (AT_SECURE), whose environment
    must not choose files or signals."""
    return _native.secure_mode()


def _thread_limit(max_threads):
    """CPython 3.15's keyword-only ``max_threads``: a per-call limit on the
    threads a dump shows; None keeps the configured one (0 to the core)."""
    if max_threads is None:
        return 0
    if not isinstance(max_threads, int) or isinstance(max_threads, bool):
        raise TypeError("max_threads must be an integer")
    if not 1 <= max_threads <= _facts.MAX_LIMIT:
        raise ValueError("max_threads must be between 1 and %d" % _facts.MAX_LIMIT)
    return max_threads


def enable(file=None, all_threads=True, c_stack=True, *, max_threads=None):
    """Dump the traceback on SIGSEGV, SIGFPE, SIGBUS, SIGILL and SIGABRT,
    with the C stack of the crashing thread when ``c_stack`` is true."""
    global _fatal_path
    limit = _thread_limit(max_threads)
    dest = _destination(file)
    _prepare()
    _take_stdlib_fatal_api()
    _native.enable(dest, bool(all_threads), bool(c_stack), limit)
    _keep("fatal", file)
    _fatal_path = file if isinstance(dest, bytes) else None


def disable():
    """Give the fatal signals back to the handlers that were there before;
    return whether the handler was enabled."""
    was = _stdlib_disable()
    _give_back_stdlib_fatal_api()
    return was


def is_enabled():
    """Whether the fatal signal handler is enabled."""
    return _native.is_enabled()


def dump_traceback(file=None, all_threads=True, *, max_threads=None):
    """Dump the traceback of all threads (or the current one) now."""
    limit = _thread_limit(max_threads)
    # skip=1: this function's own frame is not the caller's business
    dest = _destination(file)
    _prepare()
    _native.dump_traceback(dest, bool(all_threads), 1, limit)


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


def dump_traceback_later(timeout, repeat=False, file=None, exit=False, *, max_threads=None):
    """Dump the traceback of all threads after ``timeout`` seconds, again
    every ``timeout`` seconds if ``repeat``, then exit with status 1 if
    ``exit``.  A second call replaces the first."""
    _dump_later(timeout, repeat, file, exit, True, max_threads)


def _dump_later(timeout, repeat, file, exit, all_threads, max_threads=None):
    limit = _thread_limit(max_threads)
    us = _timeout_microseconds(timeout)
    dest = _destination(file)
    _prepare()
    _native.dump_traceback_later(us, bool(repeat), dest, bool(exit), _timeout_header(us),
                                 False, bool(all_threads), limit)
    _keep("later", file)


def cancel_dump_traceback_later():
    """Cancel the last call to dump_traceback_later()."""
    _native.cancel_dump_traceback_later()
    _files.pop("later", None)


def register(signum, file=None, all_threads=True, chain=False, *, max_threads=None):
    """Dump the traceback when ``signum`` arrives; the process goes on.
    With ``chain``, the handler that was there before is called too."""
    global _tree_signal_registered
    _check_signum(signum)
    if signum == _facts.TREE_SIGNAL and _tree_on:
        raise RuntimeError("signal %d is the process-tree request signal (SIGRTMAX-3) while "
                           "set_tree() is on: it cannot be registered" % signum)
    limit = _thread_limit(max_threads)
    dest = _destination(file)
    _prepare()
    _native.register(signum, dest, bool(all_threads), bool(chain), limit)
    _keep(("signal", signum), file)
    if signum == _facts.TREE_SIGNAL:
        _tree_signal_registered = True


def unregister(signum):
    """Give ``signum`` back to its previous handler; return whether it was
    registered."""
    global _tree_signal_registered
    _check_signum(signum)
    was = _native.unregister(signum)
    _files.pop(("signal", signum), None)
    if signum == _facts.TREE_SIGNAL:
        _tree_signal_registered = False
    return was


def set_tree(enabled=True, file=None):
    """With ``enabled``, a timeout dump first asks each descendant process
    that runs this hook (with set_tree on) to dump, one at a time, and lists
    every descendant with what became of it; and this process answers such
    a request from an ancestor with a dump to ``file``.  It catches the
    real-time signal SIGRTMAX-3 for that (see the README)."""
    global _tree_on
    if enabled and _tree_signal_registered:
        raise RuntimeError("set_tree() asks with signal %d (SIGRTMAX-3), which is registered: "
                           "unregister() it first" % _facts.TREE_SIGNAL)
    dest = _destination(file)
    _prepare()
    _native.set_tree(bool(enabled), dest, int(_facts.TREE_WAIT * 1000),
                     int(_facts.TREE_TOTAL_WAIT * 1000))
    _tree_on = bool(enabled)
    if enabled:
        _keep("tree", file)
    else:
        _files.pop("tree", None)


def configure(environ=None):
    """Apply the PYTHONFAULTHANDLER* variables of ``environ`` (default
    ``os.environ``) and return the effective configuration."""
    from faulthandler_auto import config
    return config.configure(environ)


# The names of faulthandler 1.x (the seed) keep 1.x's signatures and
# defaults, so its users' calls mean what they meant; 2.x's names are aliases
# of CPython's, whose signatures 2.x already had.
isenabled = is_enabled
cancel_dumpbacktrace_later = cancel_dump_traceback_later
dump_tracebacks_later = dump_traceback_later
cancel_dump_tracebacks_later = cancel_dump_traceback_later


def dumpbacktrace(file=None, all_threads=False):
    """faulthandler 1.x: dump the traceback of the current thread (of all
    threads if ``all_threads``) now."""
    dest = _destination(file)
    _prepare()
    _native.dump_traceback(dest, bool(all_threads), 1)


def dumpbacktrace_later(delay, repeat=False, file=None, all_threads=False):
    """faulthandler 1.x: dump the traceback of the main thread (of all
    threads if ``all_threads``) after ``delay`` seconds, and again every
    ``delay`` seconds if ``repeat``."""
    _dump_later(delay, repeat, file, False, all_threads)


sigsegv = _native.sigsegv
sigfpe = _native.sigfpe
sigbus = _native.sigbus
sigill = _native.sigill
sigabrt = _native.sigabrt
stack_overflow = _native.stack_overflow


# While ours owns the fatal signals, the stdlib ``faulthandler`` module's
# enable(), disable() and is_enabled() act on ours: CPython's handler stays
# off, so one crash gives one dump; faulthandler.is_enabled() tells the truth
# (CPython promises True under PYTHONFAULTHANDLER, and pytest looks); and
# code that calls faulthandler.enable(file) gets its dumps in that file --
# unless ours writes to a path (PYTHONFAULTHANDLER_PATH), which the
# operator chose for every dump and which stays.  Our own disable() gives
# the module its functions back, and CPython's handler if it was on before.
_STDLIB_FATAL_API = ("enable", "disable", "is_enabled")
# False in fallback mode (no C core: the interpreter's faulthandler does the
# dumps), where the stdlib module is left alone and labels cannot be shown.
_OWN_CORE = _native.__name__ == __name__ + "._native"
_stdlib_fatal_api = {}
_cpython_handler_was_enabled = False
_fatal_path = None  # the path template of ours, when it writes to one


def _stdlib_faulthandler():
    """The stdlib module, or None where ours stands in for it in sys.modules
    or where it is the one doing the dumps (fallback mode)."""
    import faulthandler
    return None if faulthandler is sys.modules[__name__] or not _OWN_CORE else faulthandler


def _take_stdlib_fatal_api():
    global _cpython_handler_was_enabled
    module = _stdlib_faulthandler()
    if module is None or _stdlib_fatal_api:
        return
    _stdlib_fatal_api.update((name, getattr(module, name)) for name in _STDLIB_FATAL_API)
    # before ours is installed: CPython's disable() puts back what it found
    if module.is_enabled():
        module.disable()
        _cpython_handler_was_enabled = True
    module.enable, module.disable, module.is_enabled = _stdlib_enable, _stdlib_disable, is_enabled


def _stdlib_enable(file=None, all_threads=True, c_stack=True):
    """What faulthandler.enable() does while it is ours."""
    enable(file if _fatal_path is None else _fatal_path, all_threads, c_stack)


def _stdlib_disable():
    """disable() without giving the stdlib module back: what
    faulthandler.disable() does while it is ours."""
    _files.pop("fatal", None)
    return _native.disable()


def _give_back_stdlib_fatal_api():
    global _cpython_handler_was_enabled
    module = _stdlib_faulthandler()
    if module is None or not _stdlib_fatal_api:
        return
    for name, function in _stdlib_fatal_api.items():
        setattr(module, name, function)
    _stdlib_fatal_api.clear()
    if _cpython_handler_was_enabled:
        _cpython_handler_was_enabled = False
        if sys.stderr is not None:
            module.enable()


def set_context(label, *, thread=False):
    """Print ``label`` in every later dump of this process (with
    ``thread=True``: of the calling thread only), replacing the label set
    before; None or "" removes it.

    Text dumps show it after the Python frames as ``Context: <label>`` (a
    thread's as ``Context of thread 0x...: <label>``), JSON dumps as a
    ``"context"`` field of the dump (or of the thread).  Labels longer than
    255 UTF-8 bytes are cut on a character boundary.  Cheap enough to call
    per request or per test: a dump reads the label without locks, and never
    a half-written one.  A thread's label goes when the thread ends, however
    it was started.  If 64 live threads already have a label, a further
    thread's is not kept (said once on stderr).  In fallback mode (no C
    core) the interpreter's dumps cannot show it.
    """
    if label is None:
        label = ""
    if not isinstance(label, str):
        raise TypeError("label must be a str or None, not %s" % type(label).__name__)
    if "\0" in label:
        raise ValueError("label holds a NUL character")
    if _OWN_CORE:
        _prepare()  # threads started from now on drop their label when they end
        _native.set_context(label.encode("utf-8", "backslashreplace"), bool(thread))


def redirect_std(stdout=None, stderr=None):
    """Write the crash, timeout and signal dumps meant for fd 1 (stdout) or
    fd 2 (stderr) to these descriptors instead; None: to fd 1 / fd 2 again.

    For test runners that point fd 1 and 2 at capture files while a test
    runs (the pytest plugin passes copies of the terminal's descriptors).
    Dumps asked for by a call (dump_traceback()) still go where the call
    says.  The descriptors must stay open until redirect_std() is called
    again.
    """
    fds = []
    for name, fd in (("stdout", stdout), ("stderr", stderr)):
        if fd is None:
            fd = -1
        elif not isinstance(fd, int) or isinstance(fd, bool) or not 0 <= fd <= _INT_MAX:
            raise ValueError("%s must be a file descriptor or None" % name)
        fds.append(fd)
    _native.redirect_std(*fds)


def set_worker(name):
    """Name this process among its siblings for the ``{worker}`` field of
    path templates (the pytest plugin gives each pytest-xdist worker its id,
    ``gw0``); None or "" gives ``main`` back.  Characters other than
    letters, digits, ``.``, ``_`` and ``-`` become ``_``; at most 64."""
    if name is None:
        name = ""
    if not isinstance(name, str):
        raise TypeError("name must be a str or None, not %s" % type(name).__name__)
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name[:64])
    if not name.strip("."):
        name = "_" * len(name)  # never "." or ".." as a path component
    if _OWN_CORE:
        _native.set_worker(name.encode("ascii"))


def task_timeout(timeout, *, file=None, exit=False):
    """Dump every thread if the task that runs now (a test, a job) still
    runs after ``timeout`` seconds, then exit with status 1 if ``exit``;
    a second call replaces the first, None cancels.

    A timer beside dump_traceback_later() (PYTHONFAULTHANDLER_TIMEOUT),
    which keeps running: each fires on its own, on the same native watchdog
    thread.  The pytest plugin serves ``faulthandler_timeout`` with it.
    In fallback mode (no C core) the interpreter has one timer: the task's
    takes it, and the process timer gets back the time it had left.
    """
    if timeout is None:
        _native.cancel_dump_traceback_later(True)
        _files.pop("task", None)
        return
    us = _timeout_microseconds(timeout)
    dest = _destination(file)
    _prepare()
    _native.dump_traceback_later(us, False, dest, bool(exit), _timeout_header(us), True)
    _keep("task", file)


def _watchdog_label(name):
    """The UTF-8 bytes of a watchdog's name as dumps show it: cut to
    _facts.WATCHDOG_NAME_BYTES on a character boundary, marked when cut."""
    label = name.encode("utf-8", "backslashreplace")  # lone surrogates too
    if len(label) <= _facts.WATCHDOG_NAME_BYTES:
        return label
    cut = label[:_facts.WATCHDOG_NAME_BYTES - len(_facts.WATCHDOG_NAME_CUT)]
    return cut.decode("utf-8", "ignore").encode("utf-8") + _facts.WATCHDOG_NAME_CUT.encode()


class watchdog:
    """A named watchdog: dump every thread, labelled ``name``, if the block
    it guards still runs after ``timeout`` seconds (once), then exit with
    status 1 if ``exit``.

        with faulthandler_auto.watchdog("load config", 30):
            load_config()

    Also a decorator (each call guarded on its own) and, with start(), an
    object whose cancel() stops it.  Independent of dump_traceback_later()
    (PYTHONFAULTHANDLER_TIMEOUT), task_timeout() and of each other: any
    number at once up to a fixed table of slots, nested, in any thread;
    RuntimeError when every slot is taken.  cancel() is O(1), and stops a
    dump of this watchdog in flight as cancel_dump_traceback_later() does.
    Needs the C core: in fallback mode start() raises RuntimeError.
    """

    def __init__(self, name, timeout, *, file=None, exit=False):
        if not isinstance(name, str):
            raise TypeError("watchdog name must be str, not %s" % type(name).__name__)
        self._us = _timeout_microseconds(timeout)
        self.name = name
        self.timeout = timeout
        self.file = file
        self.exit = bool(exit)
        self._label = _watchdog_label(name)
        self._handle = None

    def start(self):
        """Arm it; returns it.  RuntimeError if it runs already."""
        if fallback_reason:
            raise RuntimeError("faulthandler-auto: watchdog() needs the C core, and this is "
                               "fallback mode (%s): the interpreter's faulthandler has one "
                               "timer only, PYTHONFAULTHANDLER_TIMEOUT's" % fallback_reason)
        if self._handle is not None:
            raise RuntimeError("watchdog %r is already running" % self.name)
        dest = _destination(self.file)
        _prepare()
        handle = _native.watchdog_arm(self._us, dest, self.exit, _timeout_header(self._us),
                                      self._label)
        self._handle = handle
        _keep(("watchdog",) + handle, self.file)
        return self

    def cancel(self):
        """Disarm it (nothing if it does not run, or was cancelled)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            _native.watchdog_cancel(*handle)
            _files.pop(("watchdog",) + handle, None)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.cancel()
        return False

    def __call__(self, function):
        import functools

        @functools.wraps(function)
        def guarded(*args, **kwargs):
            with watchdog(self.name, self.timeout, file=self.file, exit=self.exit):
                return function(*args, **kwargs)

        return guarded

    def __repr__(self):
        return "<faulthandler_auto.watchdog %r, %ss%s>" % (
            self.name, self.timeout, ", running" if self._handle is not None else "")


def _find_cpython_faulthandler():
    """CPython's own faulthandler module, also when ``sys.modules`` already
    maps ``faulthandler`` to this package (aliasing, then a reload of us)."""
    module = sys.modules.get("faulthandler")
    if getattr(module, "__name__", None) == "faulthandler":
        return module
    aliased = sys.modules.pop("faulthandler", None)
    try:
        import faulthandler
    except ImportError:
        # an isolated subinterpreter cannot load CPython's single-phase
        # module: no private helpers there
        return None
    finally:
        if aliased is not None:
            sys.modules["faulthandler"] = aliased
    return faulthandler


# For its private test helpers only: the fatal-signal API is routed above.
_cpython = _find_cpython_faulthandler()


def _adopt_start():
    """Take over what the start-up fast path (the core's start(), which ran
    without this package) did in the place of _prepare(), set_output() and
    _take_stdlib_fatal_api(), so the package goes on from the same state."""
    global _prepared, _started_as, _cpython_handler_was_enabled, _fatal_path, _tree_on
    state = _native.started() if _OWN_CORE else None
    if state is None:
        return
    _output.update(max_frames=state["max_frames"], max_threads=state["max_threads"])
    _tree_on = state["tree"]
    if state["prog"] is not None:
        _prepared = True
        _started_as = state["prog"]
        # the core learns this module, which a dump compares sys.modules with
        _native.setup(_started_as, sys.version.split()[0], _hidden_names())
    api = state["stdlib_api"]
    if api is not None:
        _stdlib_fatal_api.update(zip(_STDLIB_FATAL_API, api))
        _cpython_handler_was_enabled = state["cpython_was_enabled"]
        _fatal_path = state["fatal_path"]
        module = sys.modules["faulthandler"]
        module.enable, module.disable, module.is_enabled = _stdlib_enable, _stdlib_disable, is_enabled


_adopt_start()


def __getattr__(name):
    """CPython's private test helpers (``_sigsegv``, ``_read_null``,
    ``_fatal_error``, ...), so that code given this package as
    ``faulthandler`` finds every name it could call before."""
    if name.startswith("_") and not name.startswith("__"):
        try:
            return getattr(_cpython, name)
        except AttributeError:
            pass
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
