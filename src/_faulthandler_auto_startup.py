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


def start():
    global _started
    # A .pth line runs again when its directory is on sys.path twice (lib and
    # lib64 in a venv, for one).
    if _started or not _wanted():
        return
    _started = True
    # where the C core is missing (PyPy, macOS, ...) the package runs in fallback mode
    try:
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
