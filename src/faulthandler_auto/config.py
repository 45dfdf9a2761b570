"""Parse, validate and apply the PYTHONFAULTHANDLER* environment variables.

Runs at interpreter start-up (through _faulthandler_auto_startup), so it never
raises for a bad value and imports nothing heavy (no `signal`, which pulls in
`enum`: signal names are read from the built-in `_signal`).
"""
import os

import faulthandler_auto
from _faulthandler_auto_startup import say

PREFIX = "PYTHONFAULTHANDLER"
MIN_TIMEOUT = 0.001
MAX_TIMEOUT = 100 * 24 * 3600.0
MAX_LIMIT = 100000

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_FATAL_SIGNALS = ("SIGSEGV", "SIGFPE", "SIGBUS", "SIGILL", "SIGABRT")

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
    "max_frames": 100,
    "max_threads": 100,
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


def _show(value):
    """repr() of a value from the environment, cut to at most 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
    if text not in ("text", "cpython", "json"):
        raise ValueError("unknown format; accepted: text, cpython, json (any case)")
    return text


def _parse_path(value, key, warnings):
    keyword = value.strip().lower()
    if keyword == "stderr":
        return None
    if keyword == "stdout":
        return "stdout"
    try:
        return faulthandler_auto._check_path_template(value)
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
    refused = {names[name]: "%s is a fatal signal, dumped when PYTHONFAULTHANDLER is set" % name
               for name in _FATAL_SIGNALS}
    refused[_signal.SIGKILL] = "SIGKILL cannot be caught"
    refused[_signal.SIGSTOP] = "SIGSTOP cannot be caught"
    signals = []
    problems = []  # (entry, why): all reported in one line, as every bad value is
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        if entry.isascii() and entry.isdigit():
            # Signal numbers have at most 3 digits; this also keeps int() off huge strings.
            signum = int(entry) if len(entry) <= 3 else -1
            unknown = "no usable signal number %s on this system (range 1..%d)" % (entry, _signal.NSIG - 1)
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


# variable -> (Config field, parser(value, variable, warnings) raising ValueError)
_VARIABLES = {
    PREFIX + "_PATH": ("path", _parse_path),
    PREFIX + "_TIMEOUT": ("timeout", _parse_timeout),
    PREFIX + "_REPEAT": ("repeat", _parse_bool),
    PREFIX + "_EXIT": ("exit", _parse_bool),
    PREFIX + "_SIGNAL": ("signals", _parse_signals),
    PREFIX + "_CHAIN": ("chain", _parse_bool),
    PREFIX + "_ALL_THREADS": ("all_threads", _parse_bool),
    PREFIX + "_C_STACK": ("c_stack", _parse_bool),
    PREFIX + "_FORMAT": ("format", _parse_format),
    PREFIX + "_MAX_FRAMES": ("max_frames", _parse_limit),
    PREFIX + "_MAX_THREADS": ("max_threads", _parse_limit),
}
_KNOWN = "%s, %s_ + one of %s" % (
    PREFIX,
    PREFIX,
    ", ".join(key[len(PREFIX) + 1 :] for key in _VARIABLES),
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
            warnings.append("%s=%s ignored: %s" % (key, _show(value), exc))
    config = Config(**fields)
    for field, key, needed_field, needed_key in _DEPENDENT:
        if getattr(config, field) and not getattr(config, needed_field):
            warnings.append(
                "%s=%s has no effect without a valid %s" % (key, _show(environ[key]), needed_key)
            )
    return config, warnings


def _apply(what, func, *args, **kwargs):
    """Call one API function; a failure becomes a warning line so the others still apply."""
    try:
        func(*args, **kwargs)
    except (ValueError, OSError, RuntimeError) as exc:
        say("%s not applied: %s" % (what, exc))
        return False
    return True


def configure(environ=None):
    """Parse `environ` (default os.environ), report bad values on stderr, apply the rest.

    Returns the effective Config: what failed to apply is left out of it.
    """
    if environ is None:
        environ = os.environ
    if faulthandler_auto._native.secure_mode():
        if any(k.startswith(PREFIX) for k in environ):
            say("setuid/setgid process (AT_SECURE): %s* variables ignored" % PREFIX)
        return Config()
    config, warnings = parse(environ)
    for warning in warnings:
        say(warning)
    dest = {None: 2, "stdout": 1}.get(config.path, config.path)
    _apply(
        "output settings",
        faulthandler_auto._set_output,
        format=config.format,
        max_frames=config.max_frames,
        max_threads=config.max_threads,
    )
    if config.fatal:
        config.fatal = _apply(
            PREFIX,
            faulthandler_auto.enable,
            file=dest,
            all_threads=config.all_threads,
            c_stack=config.c_stack,
        )
    if config.timeout is not None and not _apply(
        PREFIX + "_TIMEOUT",
        faulthandler_auto.dump_traceback_later,
        config.timeout,
        repeat=config.repeat,
        file=dest,
        exit=config.exit,
    ):
        config.timeout = None
    config.signals = tuple(
        signum
        for signum in config.signals
        if _apply(
            "%s_SIGNAL %d" % (PREFIX, signum),
            faulthandler_auto.register,
            signum,
            file=dest,
            all_threads=config.all_threads,
            chain=config.chain,
        )
    )
    return config
