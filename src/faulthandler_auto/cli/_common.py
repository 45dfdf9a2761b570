"""What the commands share: the error type, one-line messages, signal
names, where a path template's files are, and waiting for a dump."""
import glob
import os
import signal
import stat
import sys
import threading
import time

from faulthandler_auto._facts import PREFIX

PROG = "faulthandler-auto"


class CLIError(Exception):
    """A failure told to the user as one line; ``status`` is the exit status."""

    def __init__(self, message, status=1):
        Exception.__init__(self, message)
        self.status = status


def say(message, stream=None):
    stream = stream or sys.stderr
    stream.write("%s: %s\n" % (PROG, message))
    stream.flush()


def signal_name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "signal %d" % signum


def parse_signal(text):
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


def how_it_ended(returncode):
    if returncode is None:
        return "is still running"
    if returncode < 0:
        return "was killed by %s (signal %d)" % (signal_name(-returncode), -returncode)
    return "exited with status %d" % returncode


def prefixed_variables(environ):
    return {k: v for k, v in sorted(environ.items()) if k.startswith(PREFIX)}


def load_package():
    """(faulthandler_auto module, config module, error text)."""
    try:
        import faulthandler_auto
        from faulthandler_auto import config
    except ImportError as exc:
        return None, None, str(exc)
    return faulthandler_auto, config, None



# Path templates

def split_template(template):
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
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


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
    for literal, field in split_template(template):
        out.append(literal)
        if field is not None:
            out.append(values[field].replace("/", "_"))
    return "".join(out)


def template_glob(template, pid, ppid=None):
    """A glob pattern for the files a process `pid` may write for this template."""
    out = []
    for literal, field in split_template(template):
        out.append(glob.escape(literal))
        if field == "pid":
            out.append(str(pid) if pid is not None else "*")
        elif field == "ppid" and ppid is not None:
            out.append(str(ppid))
        elif field is not None:
            out.append("*")
    return "".join(out)


def file_sizes(pattern):
    sizes = {}
    for name in glob.glob(pattern):
        try:
            st = os.stat(name)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            sizes[name] = st.st_size
    return sizes


def new_bytes(pattern, before):
    """{file: bytes appended since `before`} for the files matching `pattern`."""
    grown = {}
    for name, size in file_sizes(pattern).items():
        old = before.get(name, 0)
        if size > old:
            try:
                with open(name, "rb") as f:
                    f.seek(old)
                    grown[name] = f.read()
            except OSError:
                continue
    return grown


def destination_problem(path):
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
    # root passes os.access() everywhere; the file system itself may refuse
    try:
        fs = os.statvfs(parent)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return "cannot create files in %s (read-only file system)" % parent
    if fs.f_blocks == 0:
        return "cannot create files in %s (a virtual file system such as /proc)" % parent
    return None


class Reader(threading.Thread):
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


def wait_quiet(measure, baseline, deadline, quiet=0.3):
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
