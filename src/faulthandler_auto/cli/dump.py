"""The ``dump`` command: make a running process with the hook dump its threads."""
import os
import signal
import stat
import sys
import time

from faulthandler_auto._facts import FATAL_SIGNALS, PREFIX
from faulthandler_auto.cli._common import (
    CLIError,
    load_package,
    new_bytes,
    parse_signal,
    say,
    signal_name,
    file_sizes,
    prefixed_variables,
    wait_quiet,
    template_glob,
)


def _read_proc(pid, name, binary=False):
    with open("/proc/%d/%s" % (pid, name), "rb" if binary else "r") as f:
        return f.read()


def _proc_state(pid):
    """The state letter of /proc/PID/stat, or None."""
    try:
        data = _read_proc(pid, "stat")
    except OSError:
        return None
    return data.rsplit(")", 1)[-1].split()[0]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _proc_state(pid) not in ("Z", "X")


def _wchar(pid):
    try:
        for line in _read_proc(pid, "io").splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _catches(pid, signum):
    """Whether the process has a handler for `signum` (SigCgt), None if unknown."""
    try:
        for line in _read_proc(pid, "status").splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError):
        pass
    return None


def _namespace_pid(pid):
    """The pid the process sees itself as (innermost of NSpid), else `pid`."""
    try:
        for line in _read_proc(pid, "status").splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return pid


def _target_root(pid):
    """'/proc/PID/root' when the process sees another file system (a
    container), else ''."""
    try:
        theirs = os.stat("/proc/%d/root" % pid)
        ours = os.stat("/")
    except OSError:
        return ""
    if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
        return ""
    return "/proc/%d/root" % pid


def _target_path_value(pid, value, environ):
    """PYTHONFAULTHANDLER_PATH as the target sees it: relative to its cwd, ~ its HOME."""
    text = value.strip()
    if not text or text.lower() in ("stderr", "stdout"):
        return value
    if text.startswith("~") and environ.get("HOME"):
        head, sep, tail = text[1:].partition("/")
        if head == "":
            return environ["HOME"].rstrip("/") + "/" + tail
    if not os.path.isabs(os.path.expanduser(text)):
        try:
            return os.path.join(os.readlink("/proc/%d/cwd" % pid), text)
        except OSError:
            pass
    return value


def cmd_dump(args):
    pid = args.pid
    if args.timeout <= 0:
        raise CLIError("--timeout must be greater than 0", 2)
    linux = os.path.isdir("/proc/self")
    check_can_signal(pid, linux)
    environ, why_no_env = read_environment(pid, linux)
    check_hook_loaded(pid, linux)
    cfg = target_config(pid, environ)
    signum = choose_signal(args.signal, pid, environ, why_no_env, cfg, linux)
    pattern, fd_path, where = dump_location(pid, cfg, linux)
    if environ is None:
        say("%s; assuming the dump goes to stderr" % why_no_env)
    before = {}
    if pattern:
        before = file_sizes(pattern)
    elif fd_path:
        before = {fd_path: os.stat(fd_path).st_size}
    wchar = _wchar(pid)
    send(pid, signum)
    wait_for_dump(pid, signum, args.timeout, pattern or fd_path, before, wchar, where, fd_path)
    return 0


def check_can_signal(pid, linux):
    """Is there such a process, and may we signal it?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise CLIError("no such process: %d" % pid)
    except PermissionError:
        owner = ""
        try:
            owner = " (it belongs to uid %d)" % os.stat("/proc/%d" % pid).st_uid
        except OSError:
            pass
        raise CLIError("permission denied: this user may not signal process %d%s; run as its "
                       "user or as root" % (pid, owner))
    if linux and _proc_state(pid) in ("Z", "X"):
        raise CLIError("process %d has already exited (zombie)" % pid)


def read_environment(pid, linux):
    """(its environment or None, why it is None)."""
    if not linux:
        return None, "the environment of another process cannot be read on %s" % sys.platform
    try:
        raw = _read_proc(pid, "environ", binary=True)
    except FileNotFoundError:
        raise CLIError("no such process: %d" % pid)
    except PermissionError:
        return None, "/proc/%d/environ cannot be read (permission denied)" % pid
    except OSError as exc:
        return None, "/proc/%d/environ cannot be read (%s)" % (pid, exc.strerror)
    environ = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            environ[os.fsdecode(key)] = os.fsdecode(value)
    return environ, None


def check_hook_loaded(pid, linux):
    """A signal the process does not catch would kill it."""
    if not linux:
        return
    try:
        maps = _read_proc(pid, "maps")
    except OSError:
        return
    if "faulthandler_auto/_native" not in maps:
        raise CLIError("process %d has not loaded faulthandler-auto (no faulthandler_auto/"
                       "_native in /proc/%d/maps): start it with faulthandler-auto installed "
                       "and PYTHONFAULTHANDLER_SIGNAL set" % (pid, pid))


def target_config(pid, environ):
    """The configuration the process read from its variables, its PATH as seen from here."""
    package, config, error = load_package()
    if config is None:
        raise CLIError("faulthandler_auto cannot be imported here: %s" % error)
    if environ is None:
        return None
    variables = prefixed_variables(environ)
    if PREFIX + "_PATH" in variables:
        variables[PREFIX + "_PATH"] = _target_path_value(pid, variables[PREFIX + "_PATH"], environ)
    return config.parse(variables)[0]


def choose_signal(given, pid, environ, why_no_env, cfg, linux):
    """--signal, or the first of the process's PYTHONFAULTHANDLER_SIGNAL; never one that kills."""
    if given:
        signum = parse_signal(given)
    elif environ is None:
        raise CLIError("%s, so the signal process %d dumps on is unknown; pass --signal"
                       % (why_no_env, pid))
    elif not environ.get(PREFIX + "_SIGNAL", "").strip():
        raise CLIError("process %d has no PYTHONFAULTHANDLER_SIGNAL in its environment: start it "
                       "with e.g. PYTHONFAULTHANDLER_SIGNAL=USR1, or pass --signal if it registered "
                       "a signal in its code" % pid)
    elif not cfg.signals:
        raise CLIError("PYTHONFAULTHANDLER_SIGNAL=%s of process %d names no usable signal"
                       % (environ[PREFIX + "_SIGNAL"], pid))
    else:
        signum = cfg.signals[0]
    name = signal_name(signum)
    if signum in (signal.SIGKILL, signal.SIGSTOP) or signum in FATAL_SIGNALS.values():
        raise CLIError("refusing to send %s: it would stop or kill process %d instead of "
                       "dumping it" % (name, pid), 2)
    if linux and _catches(pid, signum) is False:
        raise CLIError("process %d does not catch %s, so sending it would end the process (was "
                       "it started with -E or -I, or with another PYTHONFAULTHANDLER_SIGNAL?)"
                       % (pid, name))
    return signum


def dump_location(pid, cfg, linux):
    """(glob of its dump files, or None; its stream under /proc when readable, or None;
    where the dump goes, in words)."""
    if cfg is not None and cfg.path not in (None, "stdout"):
        root = _target_root(pid) if linux else ""
        ppid = None
        try:
            ppid = int(_read_proc(pid, "stat").rsplit(")", 1)[-1].split()[2])
        except (OSError, ValueError, IndexError):
            pass
        # {pid} is the pid the process sees: in a container, not ours
        own_pid = _namespace_pid(pid)
        if own_pid != pid:
            ppid = None
        return (root + template_glob(cfg.path, own_pid, ppid), None,
                "the file %s" % (root + cfg.path.replace("{pid}", str(own_pid))))
    fd = 1 if cfg is not None and cfg.path == "stdout" else 2
    stream = "stdout" if fd == 1 else "stderr"
    if not linux:
        return None, None, "its %s" % stream
    fd_path = "/proc/%d/fd/%d" % (pid, fd)
    try:
        target = os.readlink(fd_path)
        st = os.stat(fd_path)
    except OSError:
        target, st = None, None
    if st is not None and stat.S_ISREG(st.st_mode):
        return None, fd_path, "its %s, the file %s" % (stream, target)
    # cannot be read from here
    if target is None:
        return None, None, "its %s" % stream
    if target.startswith("pipe:"):
        kind = "a pipe (%s) read by whatever started it" % target
    elif target.startswith("socket:"):
        kind = "a socket (%s), e.g. the journal or a log collector" % target
    elif target.startswith("/dev/pts") or target.startswith("/dev/tty"):
        kind = "the terminal %s" % target
    else:
        kind = target
    return None, None, "its %s, %s" % (stream, kind)


def send(pid, signum):
    name = signal_name(signum)
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        raise CLIError("no such process: %d (it exited)" % pid)
    except PermissionError:
        raise CLIError("permission denied: %s refused for process %d" % (name, pid))
    except OSError as exc:
        raise CLIError("%s refused for process %d: %s" % (name, pid, exc.strerror))


def wait_for_dump(pid, signum, timeout, pattern, before, wchar, where, fd_path):
    """Print the dump once the process stops writing it; fail if none came."""
    name = signal_name(signum)
    deadline = time.monotonic() + timeout
    if pattern:
        def measure():
            return sorted((k, len(v)) for k, v in new_bytes(pattern, before).items())
        wait_quiet(measure, [], deadline)
        data = new_bytes(pattern, before)
        for file in sorted(data):
            sys.stdout.flush()
            sys.stdout.buffer.write(data[file])
            if not data[file].endswith(b"\n"):
                sys.stdout.buffer.write(b"\n")
            sys.stdout.buffer.flush()
        alive = _alive(pid)
        if not data:
            raise CLIError("%s sent to process %d, but no dump appeared in %s within %g s%s"
                           % (name, pid, where, timeout, "" if alive else "; the process has ended"))
        say("dump of process %d after %s, from %s" % (pid, name, ", ".join(
            n if n != fd_path else where for n in sorted(data))))
    else:
        wrote = wchar is not None and wait_quiet(lambda: _wchar(pid), wchar, deadline)
        alive = _alive(pid)
        if wchar is not None and not wrote:
            raise CLIError("%s sent to process %d, but it wrote nothing within %g s (its dump "
                           "would go to %s)" % (name, pid, timeout, where))
        say("%s sent to process %d; its dump went to %s; it cannot be read from here"
            % (name, pid, where))
    if not alive:
        raise CLIError("process %d is no longer running after %s" % (pid, name))
    say("process %d is still running" % pid)
