"""The facts every layer of faulthandler-auto shares, each stated once.

The variable names, the fatal signals, the path template fields and limits,
the template checker, and the version.  config.py gives the variables their
meaning, the package API and the CLI check their arguments with these, and a
test proves the C core's own tables (fatal signals, path size) agree.
Imported at start-up when a variable is set, so it imports only built-ins
and ``os`` (which site has loaded).
"""
import _signal
import os

# setup.cfg reads it from here (`attr:`), as a literal: keep it one.
VERSION = "0.1.0"

PREFIX = "PYTHONFAULTHANDLER"
# PREFIX + "_" + suffix -> the Config field it sets; PREFIX alone sets "fatal".
VARIABLES = {
    "PATH": "path",
    "TIMEOUT": "timeout",
    "REPEAT": "repeat",
    "EXIT": "exit",
    "SIGNAL": "signals",
    "CHAIN": "chain",
    "ALL_THREADS": "all_threads",
    "C_STACK": "c_stack",
    "FORMAT": "format",
    "MAX_FRAMES": "max_frames",
    "MAX_THREADS": "max_threads",
    "RATE": "rate",
    "RATE_BYTES": "rate_bytes",
    "ASYNCIO": "asyncio",
    "TREE": "tree",
}

# The signals enable() dumps on, in the order the C core lists them.
FATAL_SIGNALS = {name: getattr(_signal, name) for name in ("SIGSEGV", "SIGFPE", "SIGBUS", "SIGILL", "SIGABRT")}

# Indexed as the C core's FMT_* values: text (CPython's layout, our lines
# after the Python frames), json, cpython (exactly CPython's output).
FORMATS = ("text", "json", "cpython")
MIN_TIMEOUT = 0.001
MAX_TIMEOUT = 100 * 24 * 3600.0
# Frames per thread and threads per dump.
DEFAULT_LIMIT = 100
# Bytes of a watchdog()'s name (UTF-8) a dump shows; a longer one is cut on
# a character boundary and ends with WATCHDOG_NAME_CUT.  The core keeps 255.
WATCHDOG_NAME_BYTES = 200
WATCHDOG_NAME_CUT = "..."
MAX_LIMIT = 100000

# The budget of on-demand dumps (0: no limit): dumps a second per signal,
# and bytes a minute of signal and timeout dumps together; the C core has
# the same defaults for a process that never calls set_limits().
DEFAULT_RATE = 20
MAX_RATE = 100000
DEFAULT_RATE_BYTES = 64 << 20
MAX_RATE_BYTES = 1 << 62

# PYTHONFAULTHANDLER_TREE's request to a descendant: this real-time signal,
# SIGRTMAX-3 (the C core's FA_TREE_SIGNAL), so while TREE is on it cannot be
# a SIGNAL to dump on.  NSIG-1 is SIGRTMAX on Linux where _signal lacks it.
TREE_SIGNAL = getattr(_signal, "SIGRTMAX", _signal.NSIG - 1) - 3
# PYTHONFAULTHANDLER_TREE: a timeout dump waits this long for each
# descendant's answer, and this long for all of them together.
TREE_WAIT = 5.0
TREE_TOTAL_WAIT = 30.0

TEMPLATE_FIELDS = ("pid", "ppid", "prog", "time", "host", "worker")
# {env:NAME}: the variable's value when the destination is set (enable(),
# register(), ... or start-up), cut to ENV_VALUE_MAX bytes, or ENV_UNSET for
# an unset or empty variable.  NAME: ASCII letters, digits and '_', not
# starting with a digit, at most ENV_NAME_MAX characters.
ENV_FIELD = "env:"
ENV_NAME_MAX = 128
ENV_VALUE_MAX = 128
ENV_UNSET = "unset"
# The file a dump goes to when the path names a directory.
DIRECTORY_FILE_NAME = "{prog}-{host}-{pid}.log"
# The core's buffer holds this many bytes and a NUL, for the template and for its expansion.
PATH_MAX = 4095


# Templates check_path_template() returned: config checks a path once and the
# API it hands the result to trusts it, without resolving it again.
_checked = set()


def check_path_template(path):
    """Return ``path`` as the absolute template the core opens at dump time.

    Raises ValueError for an empty path, a NUL byte, an unknown ``{field}``
    or a path that is too long.  A path ending in ``/`` or naming an
    existing directory gets a per-process file name inside it.  The part
    before the first field is resolved now, so a symbolic link the user
    configured on purpose (``/var/run`` -> ``/run``) is followed once here;
    at dump time no link is ever followed.
    """
    if isinstance(path, str) and path in _checked:
        return path
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ValueError("empty path")
    if "\0" in path:
        raise ValueError("path holds a NUL byte")
    rest = path
    while "{" in rest or "}" in rest:
        start, end = rest.find("{"), rest.find("}")
        if start < 0 or end < start:
            raise ValueError("unbalanced '{' or '}' in path template")
        field = rest[start + 1:end]
        if field.startswith(ENV_FIELD):
            _check_env_name(field[len(ENV_FIELD):])
        elif field not in TEMPLATE_FIELDS:
            raise ValueError(
                "unknown field {%s} in path template (known: %s)"
                % (field, ", ".join(["{%s}" % f for f in TEMPLATE_FIELDS] + ["{env:NAME}"])))
        rest = rest[end + 1:]
    path = os.path.expanduser(path)
    if path.endswith(os.sep) or ("{" not in path and os.path.isdir(path)):
        path = os.path.join(path, DIRECTORY_FILE_NAME)
    path = os.path.abspath(path)
    static = path.split("{", 1)[0]
    head = os.path.dirname(static)
    path = os.path.join(os.path.realpath(head), path[len(head):].lstrip(os.sep))
    if len(os.fsencode(path)) > PATH_MAX:
        raise ValueError("path template longer than %d bytes" % PATH_MAX)
    _checked.add(path)
    return path


def _check_env_name(name):
    """Raise ValueError unless ``name`` may follow ``env:`` in a template."""
    if not (0 < len(name) <= ENV_NAME_MAX and name.isascii()
            and (name[0].isalpha() or name[0] == "_")
            and all(c.isalnum() or c == "_" for c in name)):
        raise ValueError(
            "bad variable name %r in {%sNAME} (accepted: ASCII letters, digits and _, "
            "not starting with a digit, at most %d)"
            % (name[:40] + ("..." if len(name) > 40 else ""), ENV_FIELD, ENV_NAME_MAX))
