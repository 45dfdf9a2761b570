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
    if stream is None:  # started with fd 2 closed: nobody to tell
        return
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
    """The file the core would open for this template in process ``pid``
    (default: this one) at ``when`` (default: now); the core expands it
    (in fallback mode, the fallback that opens the files)."""
    import faulthandler_auto

    return os.fsdecode(faulthandler_auto._native.expand_path(
        os.fsencode(template),
        os.getpid() if pid is None else pid,
        os.getppid() if ppid is None else ppid,
        os.fsencode(prog or _program_name()),
        int(time.time() if when is None else when)))


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
    """Why a dump could not be written to the expanded ``path`` now, in the
    words of the note the dump would print, or None.  The core checks as it
    would open the file (no symbolic link followed, missing directories
    creatable), creating nothing; as root that check passes everywhere, so the
    file system itself is asked whether it takes new files."""
    import faulthandler_auto

    problem = faulthandler_auto._native.path_problem(os.fsencode(path))
    if problem is not None:
        return "%s: %s" % (path, problem)
    parent = os.path.dirname(path)
    while parent and not os.path.exists(parent):
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
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
