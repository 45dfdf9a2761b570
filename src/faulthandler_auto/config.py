"""Parse, validate and apply the PYTHONFAULTHANDLER* environment variables.

The single owner of what each variable means.  Runs at interpreter start-up
(called by _faulthandler_auto_startup), so it never raises for a bad value
and imports nothing heavy (no `signal`, which pulls in `enum`: signal names
are read from the built-in `_signal`).  Each value is checked once here; the
API below trusts what it is given (a path arrives checked, see
_facts.check_path_template).
"""
import os
import sys

from faulthandler_auto import _facts
from faulthandler_auto._facts import MAX_LIMIT, MAX_TIMEOUT, MIN_TIMEOUT, PREFIX

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}

_BOOL_ACCEPTED = "1/0, true/false, yes/no, on/off (any case)"
_SIGNAL_ACCEPTED = "signal names or numbers, comma-separated, e.g. USR1,SIGUSR2,12"

_DEFAULTS = {
    "fatal": False,
    "path": None,
    "timeout": None,
    "repeat": False,
    "exit": False,
    "signals": (),
    "chain": False,
    "all_threads": True,
    "c_stack": True,
    "format": "text",
    "max_frames": _facts.DEFAULT_LIMIT,
    "max_threads": _facts.DEFAULT_LIMIT,
    "rate": _facts.DEFAULT_RATE,
    "rate_bytes": _facts.DEFAULT_RATE_BYTES,
    # None: asyncio tasks in every dump but a fatal one
    "asyncio": None,
    "tree": False,
}


class Config:
    """The effective configuration. `path` is None (stderr), "stdout" or a path template."""

    __slots__ = tuple(_DEFAULTS)

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.pop(name, _DEFAULTS[name]))
        if fields:
            raise TypeError("unknown Config field(s): %s" % ", ".join(sorted(fields)))

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other):
        return isinstance(other, Config) and self.as_dict() == other.as_dict()

    __hash__ = None

    def __repr__(self):
        return "Config(%s)" % ", ".join("%s=%r" % item for item in self.as_dict().items())


def _say(message):
    """One 'faulthandler-auto:' line on stderr; never raises, whatever stderr is.
    (The start-up module has its own: it must speak when this package cannot load.)"""
    try:
        sys.stderr.write("faulthandler-auto: %s\n" % (message,))
        sys.stderr.flush()
    except Exception:
        pass


def _cut(text, limit=80):
    """`text` cut to at most `limit` characters: the one place that keeps a
    huge value from making a huge message line."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _show(value):
    """repr() of a value from the environment, cut for a message."""
    return _cut(repr(value))


def _parse_bool(value, key, warnings):
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean; accepted: " + _BOOL_ACCEPTED)


def _parse_timeout(value, key, warnings):
    accepted = (
        "accepted: seconds from %g to %d (100 days), optionally with unit s, m or h, "
        "e.g. 2.5, 30s, 10m, 2h" % (MIN_TIMEOUT, MAX_TIMEOUT)
    )
    text = value.strip().lower()
    scale = _UNITS.get(text[-1:])
    try:
        seconds = float(text[:-1] if scale else text) * (scale or 1.0)
    except ValueError:
        raise ValueError("not a duration; " + accepted) from None
    # Written so that NaN fails too.
    if not MIN_TIMEOUT <= seconds <= MAX_TIMEOUT:
        raise ValueError("out of range; " + accepted)
    return seconds


def _parse_limit(value, key, warnings):
    accepted = "accepted: an integer from 1 to %d" % MAX_LIMIT
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError("not an integer; " + accepted) from None
    if not 1 <= number <= MAX_LIMIT:
        raise ValueError("out of range; " + accepted)
    return number


def _parse_format(value, key, warnings):
    text = value.strip().lower()
    if text not in _facts.FORMATS:
        raise ValueError("unknown format; accepted: %s (any case)" % ", ".join(_facts.FORMATS))
    return text


def _parse_path(value, key, warnings):
    keyword = value.strip().lower()
    if keyword == "stderr":
        return None
    if keyword == "stdout":
        return "stdout"
    try:
        return _facts.check_path_template(value)
    except ValueError as exc:
        raise ValueError(
            "%s; accepted: stderr, stdout, a directory or a file path template" % (exc,)
        ) from None


def _parse_signals(value, key, warnings):
    # _signal, not signal: signal imports enum, which would cost more than
    # the rest of start-up together (benchmarks/run.py measures it)
    import _signal

    names = {n: getattr(_signal, n) for n in dir(_signal) if n.startswith("SIG") and n[3:4] != "_"}
    usable = _signal.valid_signals()
    refused = {signum: "%s is a fatal signal, dumped when %s is set" % (name, PREFIX)
               for name, signum in _facts.FATAL_SIGNALS.items()}
    refused[_signal.SIGKILL] = "SIGKILL cannot be caught"
    refused[_signal.SIGSTOP] = "SIGSTOP cannot be caught"
    signals = []
    problems = []  # (entry, why): all reported in one line, as every bad value is
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            if ("", "empty entry") not in problems:
                problems.append(("", "empty entry"))
            continue
        if entry.isascii() and entry.isdigit():
            # Signal numbers have at most 3 digits; this also keeps int() off huge strings.
            signum = int(entry) if len(entry) <= 3 else -1
            if 0 < signum < _signal.NSIG:  # in range, not usable: glibc's 32 and 33
                unknown = ("the C library reserves signal %d for itself (not in "
                           "signal.valid_signals())" % signum)
            else:
                unknown = "no usable signal number on this system (range 1..%d)" % (_signal.NSIG - 1,)
        else:
            name = entry.upper()
            signum = names.get(name if name.startswith("SIG") else "SIG" + name)
            unknown = "unknown signal name"
        if signum in refused:
            problem = refused[signum]
        elif signum not in usable:
            problem = unknown
        else:
            if signum not in signals:
                signals.append(signum)
            continue
        if (entry, problem) not in problems:
            problems.append((entry, problem))
    if len(problems) == 1:
        (entry, problem), = problems
        warnings.append(
            "%s entry %s ignored: %s; accepted: %s" % (key, _show(entry), problem, _SIGNAL_ACCEPTED))
    elif problems:
        warnings.append("%s entries %s ignored; accepted: %s" % (
            key, ", ".join("%s (%s)" % (_show(e), why) for e, why in problems[:5])
            + (", and %d more" % (len(problems) - 5) if len(problems) > 5 else ""),
            _SIGNAL_ACCEPTED))
    return tuple(signals)


def _parse_rate(value, key, warnings):
    accepted = "accepted: an integer from 0 (no limit) to %d" % _facts.MAX_RATE
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError("not an integer; " + accepted) from None
    if not 0 <= number <= _facts.MAX_RATE:
        raise ValueError("out of range; " + accepted)
    return number


_BYTE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _parse_bytes(value, key, warnings):
    accepted = ("accepted: bytes from 0 (no limit) to 2**62, optionally with unit K, M or G "
                "(1024-based), e.g. 64M")
    text = value.strip().lower()
    scale = _BYTE_UNITS.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 20:
        raise ValueError("not a byte count; " + accepted)
    number = int(digits) * scale
    if number > _facts.MAX_RATE_BYTES:
        raise ValueError("out of range; " + accepted)
    return number


# Config field -> parser(value, variable, warnings) raising ValueError
_PARSERS = {
    "path": _parse_path,
    "timeout": _parse_timeout,
    "repeat": _parse_bool,
    "exit": _parse_bool,
    "signals": _parse_signals,
    "chain": _parse_bool,
    "all_threads": _parse_bool,
    "c_stack": _parse_bool,
    "format": _parse_format,
    "max_frames": _parse_limit,
    "max_threads": _parse_limit,
    "rate": _parse_rate,
    "rate_bytes": _parse_bytes,
    "asyncio": _parse_bool,
    "tree": _parse_bool,
}
# variable -> (Config field, parser)
_VARIABLES = {PREFIX + "_" + suffix: (field, _PARSERS[field]) for suffix, field in _facts.VARIABLES.items()}
_KNOWN = "%s, %s_ + one of %s" % (
    PREFIX,
    PREFIX,
    ", ".join(_facts.VARIABLES),
)
# Options that only matter together with another variable: (field, variable, needed field, needed).
_DEPENDENT = (
    ("repeat", PREFIX + "_REPEAT", "timeout", PREFIX + "_TIMEOUT"),
    ("exit", PREFIX + "_EXIT", "timeout", PREFIX + "_TIMEOUT"),
    ("chain", PREFIX + "_CHAIN", "signals", PREFIX + "_SIGNAL"),
)


def parse(environ):
    """Return (Config, warnings) for a mapping of environment variables.

    Pure: no output, no side effect. Each warning is one line naming the
    variable, its value and what is accepted, without the 'faulthandler-auto: '
    prefix. An empty (or blank) value counts as unset, as for CPython's
    PYTHON* variables; PYTHONFAULTHANDLER itself follows CPython: any
    non-empty value turns it on.
    """
    fields = {}
    warnings = []
    for key in sorted(k for k in environ if k.startswith(PREFIX)):
        value = environ[key]
        if key == PREFIX:
            fields["fatal"] = bool(value)
            continue
        if not value.strip():
            continue
        if key not in _VARIABLES:
            warnings.append("unknown variable %s ignored; known: %s" % (_show(key), _KNOWN))
            continue
        field, parser = _VARIABLES[key]
        try:
            fields[field] = parser(value, key, warnings)
        except (ValueError, OSError) as exc:
            warnings.append("%s=%s ignored: %s" % (key, _show(value), _cut(str(exc), 300)))
    config = Config(**fields)
    if config.tree and _facts.TREE_SIGNAL in config.signals:
        config.signals = tuple(s for s in config.signals if s != _facts.TREE_SIGNAL)
        warnings.append("%s_SIGNAL entry %d ignored: with %s_TREE on, SIGRTMAX-3 is the "
                        "process-tree request signal" % (PREFIX, _facts.TREE_SIGNAL, PREFIX))
    for field, key, needed_field, needed_key in _DEPENDENT:
        if getattr(config, field) and not getattr(config, needed_field):
            warnings.append(
                "%s=%s has no effect without a valid %s" % (key, _show(environ[key]), needed_key)
            )
    if config.signals and not config.chain:
        warnings.extend(_lost_meanings(config.signals))
    return config, warnings


def _lost_meanings(signals):
    """The warnings for signals whose normal action a dump handler without
    CHAIN takes away: users and tools send these to stop a process.  One
    line, as for every variable."""
    import _signal

    stops = ((_signal.SIGINT, "SIGINT", "Ctrl-C no longer raises KeyboardInterrupt"),
             (_signal.SIGTERM, "SIGTERM", "kill and docker stop no longer end the process"),
             (_signal.SIGHUP, "SIGHUP", "a closed terminal no longer ends the process"))
    lost = ["%s only dumps (%s)" % (name, what) for signum, name, what in stops if signum in signals]
    if not lost:
        return []
    return ["%s_SIGNAL: %s; set %s_CHAIN=1 to keep the normal action after the dump"
            % (PREFIX, ", ".join(lost), PREFIX)]


def _fatal_by_option():
    """-X faulthandler and -X dev (or PYTHONDEVMODE) turn fatal dumps on, as
    PYTHONFAULTHANDLER does; -E does not turn them off, as for CPython."""
    return bool(sys.flags.dev_mode or "faulthandler" in sys._xoptions)


def _api():
    """What applies the checked values: the package's functions over the C
    core.  The one place where the fallback mode (issue #15) puts the same
    functions over CPython's faulthandler when the core cannot load."""
    import faulthandler_auto

    return faulthandler_auto


def _apply(what, func, *args, **kwargs):
    """Call one API function; a failure becomes a warning line so the others still apply."""
    try:
        func(*args, **kwargs)
    except (ValueError, OSError, RuntimeError) as exc:
        _say("%s not applied: %s" % (what, exc))
        return False
    return True


def configure(environ=None):
    """Parse `environ` (default: the process's, honouring -E, -X faulthandler
    and -X dev), report bad values on stderr, apply the rest.

    Returns the effective Config: what failed to apply is left out of it.
    """
    by_option = False
    if environ is None:
        environ = {} if sys.flags.ignore_environment else os.environ
        by_option = _fatal_by_option()
    else:
        for key, value in environ.items():
            if not (isinstance(key, str) and isinstance(value, str)):
                raise TypeError("environ maps str to str, as os.environ does, not %s to %s"
                                % (type(key).__name__, type(value).__name__))
    api = _api()
    if api.secure_mode():
        if any(k.startswith(PREFIX) for k in environ):
            _say("setuid/setgid process (AT_SECURE): %s* variables ignored" % PREFIX)
        return Config()
    config, warnings = parse(environ)
    config.fatal = config.fatal or by_option
    for warning in warnings:
        _say(warning)
    dest = {None: 2, "stdout": 1}.get(config.path, config.path)
    _apply(
        "output settings",
        api.set_output,
        format=config.format,
        max_frames=config.max_frames,
        max_threads=config.max_threads,
    )
    _apply(
        "%s_RATE / %s_RATE_BYTES" % (PREFIX, PREFIX),
        api.set_limits,
        rate=config.rate,
        rate_bytes=config.rate_bytes,
    )
    if config.asyncio is not None:
        _apply(PREFIX + "_ASYNCIO", api.set_asyncio, config.asyncio)
    if config.fatal:
        config.fatal = _apply(
            PREFIX,
            api.enable,
            file=dest,
            all_threads=config.all_threads,
            c_stack=config.c_stack,
        )
    if config.timeout is not None and not _apply(
        PREFIX + "_TIMEOUT",
        api.dump_traceback_later,
        config.timeout,
        repeat=config.repeat,
        file=dest,
        exit=config.exit,
    ):
        config.timeout = None
    if config.tree:
        config.tree = _apply(PREFIX + "_TREE", api.set_tree, True, file=dest)
    config.signals = tuple(
        signum
        for signum in config.signals
        if _apply(
            "%s_SIGNAL %d" % (PREFIX, signum),
            api.register,
            signum,
            file=dest,
            all_threads=config.all_threads,
            chain=config.chain,
        )
    )
    return config
