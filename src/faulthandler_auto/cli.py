"""The ``faulthandler-auto`` command: ``status``, ``demo`` and ``dump``.

Run as the ``faulthandler-auto`` console script or as
``python -m faulthandler_auto``.  Not on the start-up path, so it may import
what it likes.  Every error is one line on stderr, ``faulthandler-auto:
error: ...``, never a traceback; exit status 0 on success, 1 when something
asked for will not happen or failed, 2 for a usage error.
"""
import argparse
import glob
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

PROG = "faulthandler-auto"
PREFIX = "PYTHONFAULTHANDLER"
HOOK_FILE = "faulthandler_auto.pth"
START_FILE = "faulthandler_auto.start"  # PEP 829 twin, used on 3.15+
FATAL_NAMES = ("SIGSEGV", "SIGFPE", "SIGBUS", "SIGILL", "SIGABRT")
TEMPLATE_FIELDS = ("pid", "ppid", "prog", "time", "host", "worker")


class CLIError(Exception):
    """A failure told to the user as one line; ``status`` is the exit status."""

    def __init__(self, message, status=1):
        Exception.__init__(self, message)
        self.status = status


def _say(message, stream=None):
    stream = stream or sys.stderr
    stream.write("%s: %s\n" % (PROG, message))
    stream.flush()


def _signal_name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "signal %d" % signum


def _parse_signal(text):
    """USR1, SIGUSR1, usr1 or 10 -> signal number; CLIError otherwise."""
    entry = text.strip()
    if entry.isdigit():
        signum = int(entry)
        if 1 <= signum < signal.NSIG:
            return signum
    else:
        name = entry.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        member = signal.Signals.__members__.get(name)
        if member is not None:
            return int(member)
    raise CLIError("unknown signal %r (use a name such as USR1 or a number)" % text, 2)


def _how_it_ended(returncode):
    if returncode is None:
        return "is still running"
    if returncode < 0:
        return "was killed by %s (signal %d)" % (_signal_name(-returncode), -returncode)
    return "exited with status %d" % returncode


def _variables(environ):
    return {k: v for k, v in sorted(environ.items()) if k.startswith(PREFIX)}


def _load_package():
    """(faulthandler_auto module, config module, error text)."""
    try:
        import faulthandler_auto
        from faulthandler_auto import config
    except ImportError as exc:
        return None, None, str(exc)
    return faulthandler_auto, config, None


# ---------------------------------------------------------------------------
# Path templates
# ---------------------------------------------------------------------------

def _split_template(template):
    """[(literal, field-or-None), ...] for a checked template."""
    parts = []
    rest = template
    while "{" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        parts.append((rest[:start], rest[start + 1:end]))
        rest = rest[end + 1:]
    parts.append((rest, None))
    return parts


def _program_name():
    try:
        import faulthandler_auto
        return faulthandler_auto._program_name()
    except Exception:
        return "python"


def expand_template(template, pid=None, ppid=None, prog=None, when=None):
    """The file name the core would open for this template (as it does: '/'
    in a value becomes '_')."""
    values = {
        "pid": str(os.getpid() if pid is None else pid),
        "ppid": str(os.getppid() if ppid is None else ppid),
        "prog": prog or _program_name(),
        "host": os.uname().nodename or "unknown",
        "time": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when)),
        "worker": "main",  # what the core writes until set_worker() names a worker
    }
    out = []
    for literal, field in _split_template(template):
        out.append(literal)
        if field is not None:
            out.append(values[field].replace("/", "_"))
    return "".join(out)


def template_glob(template, pid, ppid=None):
    """A glob pattern for the files a process `pid` may write for this template."""
    out = []
    for literal, field in _split_template(template):
        out.append(glob.escape(literal))
        if field == "pid":
            out.append(str(pid) if pid is not None else "*")
        elif field == "ppid" and ppid is not None:
            out.append(str(ppid))
        elif field is not None:
            out.append("*")
    return "".join(out)


def _sizes(pattern):
    sizes = {}
    for name in glob.glob(pattern):
        try:
            st = os.stat(name)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            sizes[name] = st.st_size
    return sizes


def _new_bytes(pattern, before):
    """{file: bytes appended since `before`} for the files matching `pattern`."""
    grown = {}
    for name, size in _sizes(pattern).items():
        old = before.get(name, 0)
        if size > old:
            try:
                with open(name, "rb") as f:
                    f.seek(old)
                    grown[name] = f.read()
            except OSError:
                continue
    return grown


def _destination_problem(path):
    """Why the core could not write `path` now, or None.  It creates missing
    directories (0700) and refuses symbolic links and files of other users."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return "%s: %s" % (path, exc.strerror)
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            return "%s is a symbolic link, which is never followed" % path
        if not stat.S_ISREG(st.st_mode):
            return "%s exists and is not a regular file" % path
        if st.st_uid != os.geteuid():
            return "%s belongs to another user (uid %d)" % (path, st.st_uid)
        if not os.access(path, os.W_OK):
            return "%s is not writable" % path
        return None
    parent = os.path.dirname(path)
    while parent and not os.path.exists(parent):
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    if not os.path.isdir(parent):
        return "%s is not a directory" % parent
    if not os.access(parent, os.W_OK | os.X_OK):
        return "cannot create files in %s (permission denied)" % parent
    return None


# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------

def _hook_candidates():
    """[(directory, processed_at_startup)] where the hook file may be."""
    import site
    dirs = []
    try:
        dirs.extend((d, True) for d in site.getsitepackages())
    except AttributeError:  # some old virtualenv site.py
        pass
    try:
        user = site.getusersitepackages()
    except AttributeError:
        user = None
    if user:
        enabled = site.ENABLE_USER_SITE
        if enabled is None:  # under -S site.main() did not run
            enabled = site.check_enableusersite()
        dirs.append((user, bool(enabled)))
    seen = set()
    unique = []
    for d, enabled in dirs:
        if d not in seen:
            seen.add(d)
            unique.append((d, enabled))
    return unique


def _describe_config(cfg):
    lines = []
    if cfg.fatal:
        lines.append("on a crash (%s): dump%s" % (
            ", ".join(FATAL_NAMES), " with the C stack" if cfg.c_stack else ""))
    else:
        lines.append("on a crash: nothing (PYTHONFAULTHANDLER is not set)")
    if cfg.timeout is not None:
        text = "on a hang: dump after %g s" % cfg.timeout
        if cfg.repeat:
            text += ", again every %g s" % cfg.timeout
        if cfg.exit:
            text += ", then exit with status 1"
        lines.append(text)
    else:
        lines.append("on a hang: nothing (PYTHONFAULTHANDLER_TIMEOUT is not set)")
    if cfg.signals:
        lines.append("on demand: dump on %s%s" % (
            ", ".join(_signal_name(s) for s in cfg.signals),
            ", then call the previous handler" if cfg.chain else ""))
    else:
        lines.append("on demand: nothing (PYTHONFAULTHANDLER_SIGNAL is not set)")
    lines.append("%s, format %s, at most %d frames and %d threads per dump" % (
        "all threads" if cfg.all_threads else "current thread only",
        cfg.format, cfg.max_frames, cfg.max_threads))
    return lines


def gather_status(environ=None):
    environ = os.environ if environ is None else environ
    variables = _variables(environ)
    problems = []
    notes = []
    info = {
        "python": sys.executable,
        "python_version": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "platform": sys.platform,
        "variables": variables,
        "flags": {
            "no_site": bool(sys.flags.no_site),
            "ignore_environment": bool(sys.flags.ignore_environment),
            "isolated": bool(sys.flags.isolated),
        },
    }
    wants = bool(variables)

    package, config, import_error = _load_package()
    info["package"] = os.path.dirname(package.__file__) if package else None
    info["version"] = getattr(package, "__version__", None)
    if import_error:
        problems.append("faulthandler_auto cannot be imported: %s" % import_error)

    # The hook file.
    name = START_FILE if sys.version_info >= (3, 15) else HOOK_FILE
    candidates = _hook_candidates()
    hook = None
    for directory, enabled in candidates:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            hook = {"file": path, "processed": enabled}
            break
    info["hook"] = hook
    info["searched"] = [d for d, _ in candidates]
    if hook is None:
        problems.append(
            "%s is not in any site-packages directory of this interpreter (searched: %s), "
            "so no variable takes effect; install faulthandler-auto with pip into this environment"
            % (name, ", ".join(info["searched"]) or "none"))
    elif not hook["processed"]:
        problems.append(
            "%s is in the user site-packages, which this interpreter does not read "
            "(user site disabled); install faulthandler-auto into the environment itself"
            % hook["file"])

    # Will it run?
    supported = sys.implementation.name == "cpython" and sys.platform.startswith(("linux", "darwin"))
    info["supported"] = supported
    blockers = []
    if sys.flags.no_site:
        blockers.append("this interpreter runs with -S (no site-packages), so the hook does not run")
    if sys.flags.ignore_environment:
        blockers.append("this interpreter runs with %s, so %s* variables are ignored, as CPython "
                        "ignores its own PYTHON* variables" % (
                            "-I" if sys.flags.isolated else "-E", PREFIX))
    if not supported:
        blockers.append("only CPython on Linux and macOS is supported, this is %s on %s" % (
            sys.implementation.name, sys.platform))
    secure = False
    if package is not None:
        try:
            secure = bool(package._native.secure_mode())
        except Exception:
            secure = False
    info["secure_mode"] = secure
    if secure:
        blockers.append("this is a setuid/setgid process (secure mode), so %s* variables are "
                        "ignored" % PREFIX)
    if wants:
        problems.extend(blockers)
    else:
        notes.extend(blockers)

    # The configuration.
    cfg = None
    if config is not None:
        cfg, warnings = config.parse(environ)
        problems.extend(warnings)
        info["config"] = dict(cfg.as_dict(), signals=[_signal_name(s) for s in cfg.signals])
    else:
        info["config"] = None
    something = cfg is not None and (cfg.fatal or cfg.timeout is not None or bool(cfg.signals))
    if not wants:
        notes.append("no %s* variable is set: nothing to do; e.g. export PYTHONFAULTHANDLER=1"
                     % PREFIX)
    elif cfg is not None and not something:
        problems.append("%s* variables are set but none turns a dump on: set PYTHONFAULTHANDLER=1, "
                        "PYTHONFAULTHANDLER_TIMEOUT or PYTHONFAULTHANDLER_SIGNAL" % PREFIX)
    if variables.get(PREFIX):
        notes.append("PYTHONFAULTHANDLER also turns on CPython's own faulthandler; faulthandler-auto "
                     "takes its place, so a crash gives one dump")

    # Where the dumps go.
    dest = None
    if cfg is not None:
        if cfg.path is None:
            dest = {"kind": "stderr"}
        elif cfg.path == "stdout":
            dest = {"kind": "stdout"}
        else:
            example = expand_template(cfg.path)
            dest = {"kind": "file", "template": cfg.path, "example": example}
            problem = _destination_problem(example)
            if problem:
                dest["problem"] = problem
                if something:
                    problems.append("dumps cannot be written to %s now: %s; they would go to "
                                    "stderr instead" % (cfg.path, problem))
    info["destination"] = dest

    # Evidence from this very process: the hook ran at its start-up.
    ran = False
    for module in ("_faulthandler_auto_startup", "faulthandler_auto._startup"):
        startup = sys.modules.get(module)
        if startup is not None and getattr(startup, "_started", False):
            ran = True
    info["hook_ran"] = ran
    info["fatal_handler_enabled"] = bool(package.is_enabled()) if package else False
    can_run = hook is not None and hook["processed"] and not blockers and package is not None
    if wants and can_run:
        if not ran:
            problems.append("the hook did not run at the start of this interpreter although "
                            "%s is there" % hook["file"])
        elif cfg.fatal and not info["fatal_handler_enabled"]:
            problems.append("PYTHONFAULTHANDLER is set but the crash handler is not enabled in "
                            "this interpreter (see the messages above)")
    info["active"] = bool(wants and can_run and ran and something)
    info["problems"] = problems
    info["notes"] = notes
    info["exit_status"] = 1 if problems else 0
    return info, cfg


def print_status(info, cfg, out):
    w = out.write
    w("faulthandler-auto %s for %s (%s %s, %s)\n" % (
        info["version"] or "?", info["python"], info["implementation"],
        info["python_version"], info["platform"]))
    w("  package:     %s\n" % (info["package"] or "not importable"))
    hook = info["hook"]
    if hook:
        if info["hook_ran"]:
            how = "ran at the start of this interpreter"
        elif not info["variables"]:
            how = "idle until a variable is set"
        else:
            how = "did not run in this interpreter"
        w("  hook:        %s (%s)\n" % (hook["file"], how))
    else:
        w("  hook:        not installed\n")
    if info["variables"]:
        first = True
        for key, value in info["variables"].items():
            w("  %s %s=%s\n" % ("variables:  " if first else " " * 12, key, value))
            first = False
    else:
        w("  variables:   none set\n")
    if cfg is not None:
        w("  effective configuration%s:\n" % (
            "" if info["active"] or not info["variables"] else " (if the hook ran)"))
        for line in _describe_config(cfg):
            w("    %s\n" % line)
    dest = info["destination"]
    if dest:
        if dest["kind"] == "file":
            w("  dumps go to: %s\n" % dest["template"])
            w("               (for this process: %s)\n" % dest["example"])
        else:
            w("  dumps go to: %s of the process\n" % dest["kind"])
    w("  status:      %s\n" % ("active" if info["active"] else "inactive"))
    for note in info["notes"]:
        w("  note: %s\n" % note)
    if info["problems"]:
        w("  problems:\n")
        for problem in info["problems"]:
            w("    - %s\n" % problem)
    else:
        w("  no problem found\n")


def cmd_status(args):
    info, cfg = gather_status()
    if args.json:
        json.dump(info, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print_status(info, cfg, sys.stdout)
    sys.stdout.flush()
    return info["exit_status"]


# ---------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------

_CRASHES = {
    "segv": ("sigsegv", "crashes with SIGSEGV"),
    "abort": ("sigabrt", "crashes with SIGABRT"),
    "fpe": ("sigfpe", "crashes with SIGFPE"),
    "bus": ("sigbus", "crashes with SIGBUS"),
    "ill": ("sigill", "crashes with SIGILL"),
    "overflow": ("stack_overflow", "overflows its stack, which ends in SIGSEGV"),
}
DEMOS = tuple(_CRASHES) + ("hang", "signal")

_CRASH_CODE = """\
import faulthandler_auto

def crash():
    faulthandler_auto.{func}()

def demo():
    crash()

demo()
"""

_HANG_CODE = """\
import time

def hang():
    time.sleep(60)

def demo():
    hang()

demo()
"""

_SIGNAL_CODE = """\
import sys, time

def wait_for_signal():
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    time.sleep(60)

def demo():
    wait_for_signal()

demo()
"""


class _Reader(threading.Thread):
    """Collects everything a pipe gives into ``data``."""

    def __init__(self, pipe):
        threading.Thread.__init__(self, daemon=True)
        self.pipe = pipe
        self.data = b""
        self.lock = threading.Lock()

    def run(self):
        while True:
            chunk = os.read(self.pipe.fileno(), 65536)
            if not chunk:
                break
            with self.lock:
                self.data += chunk

    def get(self):
        with self.lock:
            return self.data


def _wait_quiet(measure, baseline, deadline, quiet=0.3):
    """Poll `measure()` until it differs from `baseline` (taken before the
    event) and then stays the same for `quiet` seconds, or until `deadline`.
    Returns whether it changed."""
    last = baseline
    changed = time.monotonic()
    while time.monotonic() < deadline:
        now = measure()
        if now != last:
            last = now
            changed = time.monotonic()
        elif now != baseline and time.monotonic() - changed >= quiet:
            return True
        time.sleep(0.05)
    return last != baseline


def _no_core_file():
    """In the demo child: a crash on purpose leaves no core file behind."""
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ImportError, ValueError, OSError):
        pass


def cmd_demo(args):
    package, config, error = _load_package()
    if config is None:
        raise CLIError("faulthandler_auto cannot be imported here: %s" % error)
    kind = args.kind
    env = dict(os.environ)
    added = {}
    if kind in _CRASHES:
        func, what = _CRASHES[kind]
        if not env.get(PREFIX):
            added[PREFIX] = "1"
        code = _CRASH_CODE.format(func=func)
        story = "a child interpreter that %s (faulthandler_auto.%s())" % (what, func)
    elif kind == "hang":
        added[PREFIX + "_TIMEOUT"] = "1"
        added[PREFIX + "_EXIT"] = "1"
        code = _HANG_CODE
        story = "a child interpreter that hangs (sleeps 60 s)"
    else:
        cfg, _ = config.parse(env)
        if not cfg.signals:
            added[PREFIX + "_SIGNAL"] = "USR1"
        code = _SIGNAL_CODE
        story = "a child interpreter that sleeps until it is sent the signal"
    env.update(added)
    cfg, _ = config.parse(env)
    signum = cfg.signals[0] if kind == "signal" and cfg.signals else None
    if kind == "signal" and signum is None:
        raise CLIError("PYTHONFAULTHANDLER_SIGNAL=%s names no usable signal"
                       % env.get(PREFIX + "_SIGNAL"))

    out = sys.stdout
    extra = ", ".join("%s=%s" % kv for kv in sorted(added.items()))
    out.write("Running %s%s.\n" % (story, ", with " + extra if extra else ""))
    out.flush()

    pattern = before = None
    if cfg.path not in (None, "stdout"):
        before = _sizes(template_glob(cfg.path, None))
    cmd = [sys.executable, "-c", code]
    try:
        child = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 preexec_fn=_no_core_file)
    except OSError as exc:
        raise CLIError("cannot start %s: %s" % (sys.executable, exc.strerror))
    if cfg.path not in (None, "stdout"):
        pattern = template_glob(cfg.path, child.pid, os.getpid())
    readers = [_Reader(child.stdout), _Reader(child.stderr)]
    for r in readers:
        r.start()
    stopped_by_us = None
    try:
        if kind == "signal":
            deadline = time.monotonic() + 30
            while b"ready\n" not in readers[0].get() and child.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            if child.poll() is None and b"ready\n" in readers[0].get():
                baseline = (len(readers[0].get()), len(readers[1].get()), 0)
                child.send_signal(signum)
                out.write("Sent %s to the child (pid %d).\n" % (_signal_name(signum), child.pid))
                out.flush()

                def measure():
                    files = _new_bytes(pattern, before) if pattern else {}
                    return (len(readers[0].get()), len(readers[1].get()),
                            sum(len(v) for v in files.values()))
                _wait_quiet(measure, baseline, time.monotonic() + 10)
            if child.poll() is None:
                stopped_by_us = signal.SIGTERM
                child.terminate()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stopped_by_us = signal.SIGKILL
            child.kill()
            child.wait()
    finally:
        for r in readers:
            r.join(5)
    stdout = readers[0].get()
    stderr = readers[1].get()
    if kind == "signal" and stdout.startswith(b"ready\n"):
        stdout = stdout[len(b"ready\n"):]
    files = _new_bytes(pattern, before) if pattern else {}

    shown = []
    for name, data in sorted(files.items()):
        shown.append(("the file " + name, data))
    if stdout.strip():
        shown.append(("the child's stdout", stdout))
    if stderr.strip():
        shown.append(("the child's stderr", stderr))
    for where, data in shown:
        out.write("----- %s -----\n" % where)
        out.flush()
        sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
        sys.stdout.buffer.flush()
    if shown:
        out.write("----- end -----\n")

    markers = (b"Fatal Python error", b"Timeout (", b"most recent call first", b'"event"')
    found = [where for where, data in shown if any(m in data for m in markers)]
    if found:
        out.write("The dump was written to %s.\n" % " and ".join(found))
    if stopped_by_us is not None and child.returncode == -stopped_by_us:
        out.write("The child (pid %d) kept running after the dump; it was then stopped with %s.\n"
                  % (child.pid, _signal_name(stopped_by_us)))
    else:
        out.write("The child (pid %d) %s.\n" % (child.pid, _how_it_ended(child.returncode)))
    out.flush()
    if not found:
        raise CLIError("no dump appeared: check the setup with '%s status'" % PROG)
    return 0


# ---------------------------------------------------------------------------
# dump
# ---------------------------------------------------------------------------

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
    if pid <= 0:
        raise CLIError("PID must be a positive process id, not %d" % pid, 2)
    if args.timeout <= 0:
        raise CLIError("--timeout must be greater than 0", 2)
    linux = os.path.isdir("/proc/self")

    # 1. Is there such a process, and may we signal it?
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

    # 2. Its environment: the signal and where the dump goes.
    environ = None
    why_no_env = None
    if linux:
        try:
            raw = _read_proc(pid, "environ", binary=True)
            environ = {}
            for item in raw.split(b"\0"):
                key, sep, value = item.partition(b"=")
                if sep:
                    environ[os.fsdecode(key)] = os.fsdecode(value)
        except FileNotFoundError:
            raise CLIError("no such process: %d" % pid)
        except PermissionError:
            why_no_env = "/proc/%d/environ cannot be read (permission denied)" % pid
        except OSError as exc:
            why_no_env = "/proc/%d/environ cannot be read (%s)" % (pid, exc.strerror)
    else:
        why_no_env = "the environment of another process cannot be read on %s" % sys.platform

    # 3. Has it loaded the hook at all?  (A signal it does not catch would kill it.)
    if linux:
        try:
            maps = _read_proc(pid, "maps")
        except OSError:
            maps = None
        if maps is not None and "faulthandler_auto/_native" not in maps:
            raise CLIError("process %d has not loaded faulthandler-auto (no faulthandler_auto/"
                           "_native in /proc/%d/maps): start it with faulthandler-auto installed "
                           "and PYTHONFAULTHANDLER_SIGNAL set" % (pid, pid))

    package, config, error = _load_package()
    if config is None:
        raise CLIError("faulthandler_auto cannot be imported here: %s" % error)
    cfg = None
    if environ is not None:
        variables = _variables(environ)
        if PREFIX + "_PATH" in variables:
            variables[PREFIX + "_PATH"] = _target_path_value(pid, variables[PREFIX + "_PATH"],
                                                             environ)
        cfg, _ = config.parse(variables)
    if args.signal:
        signum = _parse_signal(args.signal)
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
    name = _signal_name(signum)
    if signum in (signal.SIGKILL, signal.SIGSTOP) or name in FATAL_NAMES:
        raise CLIError("refusing to send %s: it would stop or kill process %d instead of "
                       "dumping it" % (name, pid), 2)
    if linux and _catches(pid, signum) is False:
        raise CLIError("process %d does not catch %s, so sending it would end the process (was "
                       "it started with -E or -I, or with another PYTHONFAULTHANDLER_SIGNAL?)"
                       % (pid, name))

    # 4. Where will the dump appear?
    root = _target_root(pid) if linux else ""
    pattern = fd_path = None
    if cfg is not None and cfg.path not in (None, "stdout"):
        ppid = None
        try:
            ppid = int(_read_proc(pid, "stat").rsplit(")", 1)[-1].split()[2])
        except (OSError, ValueError, IndexError):
            pass
        # {pid} is the pid the process sees: in a container, not ours
        own_pid = _namespace_pid(pid)
        if own_pid != pid:
            ppid = None
        pattern = root + template_glob(cfg.path, own_pid, ppid)
        where = "the file %s" % (root + cfg.path.replace("{pid}", str(own_pid)))
    else:
        fd = 1 if cfg is not None and cfg.path == "stdout" else 2
        stream = "stdout" if fd == 1 else "stderr"
        where = "its %s" % stream
        if linux:
            fd_path = "/proc/%d/fd/%d" % (pid, fd)
            try:
                target = os.readlink(fd_path)
                st = os.stat(fd_path)
            except OSError:
                target, st = None, None
            if st is not None and stat.S_ISREG(st.st_mode):
                where = "its %s, the file %s" % (stream, target)
            else:
                if target is not None:
                    if target.startswith("pipe:"):
                        kind = "a pipe (%s) read by whatever started it" % target
                    elif target.startswith("socket:"):
                        kind = "a socket (%s), e.g. the journal or a log collector" % target
                    elif target.startswith("/dev/pts") or target.startswith("/dev/tty"):
                        kind = "the terminal %s" % target
                    else:
                        kind = target
                    where = "its %s, %s" % (stream, kind)
                fd_path = None  # cannot be read from here
    if environ is None:
        _say("%s; assuming the dump goes to stderr" % why_no_env)

    before = {}
    if pattern:
        before = _sizes(pattern)
    elif fd_path:
        before = {fd_path: os.stat(fd_path).st_size}
    wchar = _wchar(pid)

    # 5. Send the signal.
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        raise CLIError("no such process: %d (it exited)" % pid)
    except PermissionError:
        raise CLIError("permission denied: %s refused for process %d" % (name, pid))
    except OSError as exc:
        raise CLIError("%s refused for process %d: %s" % (name, pid, exc.strerror))

    # 6. Wait for the dump.
    deadline = time.monotonic() + args.timeout
    data = {}
    if pattern or fd_path:
        def measure():
            return sorted((k, len(v)) for k, v in _new_bytes(pattern or fd_path, before).items())
        _wait_quiet(measure, [], deadline)
        data = _new_bytes(pattern or fd_path, before)
        for name_ in sorted(data):
            sys.stdout.flush()
            sys.stdout.buffer.write(data[name_])
            if not data[name_].endswith(b"\n"):
                sys.stdout.buffer.write(b"\n")
            sys.stdout.buffer.flush()
    else:
        wrote = False
        if wchar is not None:
            wrote = _wait_quiet(lambda: _wchar(pid), wchar, deadline)
    alive = _alive(pid)
    if pattern or fd_path:
        if not data:
            raise CLIError("%s sent to process %d, but no dump appeared in %s within %g s%s"
                           % (name, pid, where, args.timeout,
                              "" if alive else "; the process has ended"))
        _say("dump of process %d after %s, from %s" % (pid, name, ", ".join(
            n if n != fd_path else where for n in sorted(data))))
    else:
        if wchar is not None and not wrote:
            raise CLIError("%s sent to process %d, but it wrote nothing within %g s (its dump "
                           "would go to %s)" % (name, pid, args.timeout, where))
        _say("%s sent to process %d; its dump went to %s; it cannot be read from here"
             % (name, pid, where))
    if not alive:
        raise CLIError("process %d is no longer running after %s" % (pid, name))
    _say("process %d is still running" % pid)
    return 0


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, exit status 2."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see '%s --help')\n" % (PROG, message, self.prog))


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="Crash, hang and on-demand Python backtraces configured by "
                    "PYTHONFAULTHANDLER* environment variables.")
    try:
        from faulthandler_auto import __version__
    except ImportError:
        __version__ = "unknown"
    parser.add_argument("--version", action="version", version="%s %s" % (PROG, __version__))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "status", help="is the hook active in this interpreter, and what will it do",
        description="Report whether the faulthandler-auto hook is installed in this interpreter's "
                    "site-packages and will run, the PYTHONFAULTHANDLER* variables, the effective "
                    "configuration, every problem, and where dumps go.  Exit status 0 when "
                    "nothing is wrong, 1 when a variable asks for something that will not happen.")
    p.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "demo", help="run a child that crashes, hangs or gets the signal, and show its dump",
        description="Run a child interpreter (%s) with the current environment that really "
                    "crashes, hangs or receives the dump signal, then show the dump, where it was "
                    "written and how the child ended." % sys.executable)
    p.add_argument("kind", nargs="?", default="segv", choices=DEMOS,
                   help="what the child does (default: segv)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "dump", help="make a running process with the hook dump its threads, and print the dump",
        description="Send the process its PYTHONFAULTHANDLER_SIGNAL (read from /proc/PID/environ) "
                    "or --signal, wait for the dump and print it: from the file of its "
                    "PYTHONFAULTHANDLER_PATH, or from its stderr when that is a regular file.  "
                    "The process keeps running.  No ptrace needed.")
    p.add_argument("pid", type=int, metavar="PID", help="the process id")
    p.add_argument("--signal", metavar="SIG",
                   help="the signal to send (USR1, SIGUSR2, 12); default: the process's "
                        "PYTHONFAULTHANDLER_SIGNAL")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="how long to wait for the dump (default: 5)")
    p.set_defaults(func=cmd_dump)
    return parser


def _quiet_own_watchdog():
    """This command is a tool, not the workload: a PYTHONFAULTHANDLER_TIMEOUT
    (with EXIT) in the environment must not dump or end it mid-way."""
    module = sys.modules.get("faulthandler_auto")
    if module is not None:
        try:
            module.cancel_dump_traceback_later()
        except Exception:
            pass


def main(argv=None):
    _quiet_own_watchdog()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        _say("error: %s" % exc)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except Exception as exc:  # never a traceback
        _say("error: internal error: %s: %s" % (type(exc).__name__, exc))
        return 1
