"""The ``demo`` command: a child that really crashes, hangs or gets the signal, and its dump."""
import os
import signal
import subprocess
import sys
import time

from faulthandler_auto._facts import PREFIX
from faulthandler_auto.cli._common import (
    CLIError,
    PROG,
    Reader,
    how_it_ended,
    load_package,
    new_bytes,
    signal_name,
    file_sizes,
    wait_quiet,
    template_glob,
)


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


def _no_core_file():
    """In the demo child: a crash on purpose leaves no core file behind."""
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ImportError, ValueError, OSError):
        pass


def cmd_demo(args):
    package, config, error = load_package()
    if config is None:
        raise CLIError("faulthandler_auto cannot be imported here: %s" % error)
    code, story, env, added = plan_child(args.kind, config)
    cfg, _ = config.parse(env)
    signum = cfg.signals[0] if args.kind == "signal" and cfg.signals else None
    if args.kind == "signal" and signum is None:
        raise CLIError("PYTHONFAULTHANDLER_SIGNAL=%s names no usable signal"
                       % env.get(PREFIX + "_SIGNAL"))
    out = sys.stdout
    extra = ", ".join("%s=%s" % kv for kv in sorted(added.items()))
    out.write("Running %s%s.\n" % (story, ", with " + extra if extra else ""))
    out.flush()
    child, stdout, stderr, files, stopped_by_us = run_child(code, env, cfg, signum)
    found = show_output(files, stdout, stderr)
    if stopped_by_us is not None and child.returncode == -stopped_by_us:
        out.write("The child (pid %d) kept running after the dump; it was then stopped with %s.\n"
                  % (child.pid, signal_name(stopped_by_us)))
    else:
        out.write("The child (pid %d) %s.\n" % (child.pid, how_it_ended(child.returncode)))
    out.flush()
    if not found:
        raise CLIError("no dump appeared: check the setup with '%s status'" % PROG)
    return 0


def plan_child(kind, config):
    """(the child's code, what it does in words, its environment, the variables added for it)."""
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
    return code, story, env, added


def run_child(code, env, cfg, signum):
    """Run the child to its end (sending it `signum` once it is ready, if
    given); (child, its stdout, its stderr, {dump file: bytes added},
    the signal we stopped it with or None)."""
    pattern = before = None
    if cfg.path not in (None, "stdout"):
        before = file_sizes(template_glob(cfg.path, None))
    try:
        child = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 preexec_fn=_no_core_file)
    except OSError as exc:
        raise CLIError("cannot start %s: %s" % (sys.executable, exc.strerror))
    if cfg.path not in (None, "stdout"):
        pattern = template_glob(cfg.path, child.pid, os.getpid())
    readers = [Reader(child.stdout), Reader(child.stderr)]
    for r in readers:
        r.start()
    stopped_by_us = None
    try:
        if signum is not None:
            signal_when_ready(child, signum, readers, pattern, before)
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
    if signum is not None and stdout.startswith(b"ready\n"):
        stdout = stdout[len(b"ready\n"):]
    files = new_bytes(pattern, before) if pattern else {}
    return child, stdout, readers[1].get(), files, stopped_by_us


def signal_when_ready(child, signum, readers, pattern, before):
    """Send `signum` once the child says it is ready; wait until its output settles."""
    deadline = time.monotonic() + 30
    while b"ready\n" not in readers[0].get() and child.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if child.poll() is not None or b"ready\n" not in readers[0].get():
        return
    baseline = (len(readers[0].get()), len(readers[1].get()), 0)
    child.send_signal(signum)
    sys.stdout.write("Sent %s to the child (pid %d).\n" % (signal_name(signum), child.pid))
    sys.stdout.flush()

    def measure():
        files = new_bytes(pattern, before) if pattern else {}
        return (len(readers[0].get()), len(readers[1].get()), sum(len(v) for v in files.values()))
    wait_quiet(measure, baseline, time.monotonic() + 10)


def show_output(files, stdout, stderr):
    """Print what the child wrote; return where a dump was found."""
    out = sys.stdout
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
    return found
