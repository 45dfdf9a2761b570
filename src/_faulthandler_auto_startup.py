"""Start-up of faulthandler-auto.

Called by the faulthandler_auto.pth line on CPython 3.9-3.14 (only once its
cheap test sees a PYTHONFAULTHANDLER* variable, or CPython's faulthandler
module, which CPython loads before site for -X faulthandler, -X dev and
PYTHONFAULTHANDLER)
and named by faulthandler_auto.start (PEP 829) on 3.15+, where site imports
it in every interpreter before anything can look at the environment.  So it
is a top-level module, not part of the faulthandler_auto package, whose
import loads the C core; it imports nothing beyond sys and posix (nt on
Windows), which site has loaded, and returns at once when there is nothing
to do.  Nothing raises out of start(): site would print a traceback.

PYTEST_DONT_REWRITE: imported before pytest starts (the hook), so pytest's
assertion rewriting must not ask for it (the pytest plugin's distribution).
"""
import sys

try:
    # The environment's names as bytes, in a dict joined in C: none is decoded.
    from posix import environ as _environ
    _PREFIX = b"PYTHONFAULTHANDLER"
except ImportError:  # Windows: nt's names are str
    from nt import environ as _environ
    _PREFIX = "PYTHONFAULTHANDLER"

_started = False


def say(message):
    """Write one 'faulthandler-auto:' line to stderr; never raises, whatever stderr is."""
    try:
        sys.stderr.write("faulthandler-auto: %s\n" % (message,))
        sys.stderr.flush()
    except Exception:
        pass


def _wanted():
    """The .pth line's test, made exact."""
    if sys.flags.dev_mode or "faulthandler" in sys._xoptions:
        return True
    if sys.flags.ignore_environment:
        return False
    # On 3.15 this runs in every interpreter: a cheap search of the joined
    # names first, the exact test only when it finds something.
    if _PREFIX not in _PREFIX[:0].join(_environ):
        return False
    return any(k.startswith(_PREFIX) for k in _environ)


def _core():
    """The C core, loaded without the package: the package's __init__ and
    config.py cost more than the rest of start-up together.  It goes into
    sys.modules under its own name, so the package, when something imports
    it, gets this same module (one copy of the core's state).  None where it
    cannot load (fallback mode: no compiler at install, PyPy, ...)."""
    name = "faulthandler_auto._native"
    core = sys.modules.get(name)
    if core is not None:
        return core
    # the import machinery site itself runs on, already loaded
    external = sys.modules.get("_frozen_importlib_external")
    bootstrap = sys.modules.get("_frozen_importlib")
    if external is None or bootstrap is None:
        return None
    path = "%s/faulthandler_auto/_native%s" % (
        __file__.rpartition("/")[0], external.EXTENSION_SUFFIXES[0])
    try:
        spec = external.spec_from_file_location(
            name, path, loader=external.ExtensionFileLoader(name, path))
        core = bootstrap.module_from_spec(spec)
        spec.loader.exec_module(core)
    except ImportError:
        return None
    sys.modules[name] = core
    return core


def start():
    global _started
    # A .pth line runs again when its directory is on sys.path twice (lib and
    # lib64 in a venv, for one).
    if _started or not _wanted():
        return
    _started = True
    # where the C core is missing (PyPy, macOS, ...) the package runs in fallback mode
    try:
        # the core applies the variables itself when it is sure of every
        # one (start.c); anything else is config.py's
        core = _core()
        if core is not None and core.start():
            return
        from faulthandler_auto import config

        # site runs this again in every subinterpreter; the hook and the
        # core belong to the main interpreter, which has set them up
        # (the fallback mode, over CPython's faulthandler, has no such test)
        native = getattr(sys.modules["faulthandler_auto"], "_native", None)
        is_main = getattr(native, "is_main_interpreter", None)
        if is_main is not None and not is_main():
            return

        config.configure()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        say("internal error while starting: %r" % (exc,))
