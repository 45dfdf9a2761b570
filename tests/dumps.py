"""Parsers and helpers shared by the crash/hang/signal/API/context tests.

``split_dumps(text)`` cuts a stream (stderr, a dump file) into ``Dump``
objects -- header lines, threads with their frames, C stack, extension
modules -- so that tests assert on exact lines without re-implementing the
format.  It also reads CPython's own faulthandler output (no header, no
thread names), so the Python frames of both can be compared line for line.
``json_dumps(text)`` reads the JSON-lines form.
"""
import collections
import json
import os
import re
import signal
import subprocess
import sys
import time

from conftest import clean_environ

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")

FRAME_RE = re.compile(r'^  File "(.*)", line (\d+|\?\?\?) in (.*)$')
THREAD_RE = re.compile(
    r"^(Current thread|Thread) (0x[0-9a-f]+)(?: \[(.*)\])? \(most recent call first\):$")
STACK_HEADER = "Stack (most recent call first):"
FRAMES_OMITTED_RE = re.compile(r"^  \.\.\. \((\d+) frames omitted\)$")
THREADS_OMITTED_RE = re.compile(r"^\.\.\. \((\d+) threads omitted\)$")
C_STACK_HEADER = "Current thread's C stack trace (most recent call first):"
C_FRAME_RE = re.compile(
    r'^  Binary file "(.*)"(?:, at (.+)\+0x([0-9a-f]+))? \[0x([0-9a-f]+)\]'
    r'(?: \(\+0x[0-9a-f]+(?:, build-id [0-9a-f]+)?\))?$')
# a folded recursion, a cut (docs/triage.md)
C_MARKER_RE = re.compile(r"^  (\[previous \d+ frames? repeated \d+ times?\]|\.\.\. \(\d+ frames omitted\)"
                         r"|\.\.\. \(deeper frames not read\))$")
SIGNATURE_RE = re.compile(r"^Crash signature: ([0-9a-f]{16})$")
C_MISSING_RE = re.compile(r"^  <(not available on this platform|not walked: .*)>$")
EXTENSIONS_RE = re.compile(r"^Extension modules: (.*) \(total: (\d+)\)$")
# CPython's first lines, which start a dump; ours come after the Python frames
START_RE = re.compile(r"^(Fatal Python error: |Timeout \()")
TRAILER_RE = re.compile(r"^(Signal: SIG|Skipped: \d|Process: pid )")
PROCESS_RE = re.compile(
    r'^Process: pid (\d+), program "(.*)", Python (\S+), '
    r"time (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)(?:, host (.+))?$")
SIGNAL_RE = re.compile(
    r"^Signal: (SIG[A-Z0-9]+), ([A-Z_]+) \((.*?)\)"
    r"(?:, fault address (0x[0-9a-f]+))?(?:, from pid (\d+) uid (\d+))?$")
TIMEOUT_RE = re.compile(r"^Timeout \((\d+:\d\d:\d\d(?:\.\d{6})?)\)!$")
# set_context() labels, after the Python frames
CONTEXT_RE = re.compile(r"^Context(?: of thread (0x[0-9a-f]+))?: (.*)$")
# the asyncio section (issue 17): a loop's thread, its tasks, their await chains
LOOP_RE = re.compile(r"^Asyncio tasks of thread (0x[0-9a-f]+)(?: \[(.*)\])? "
                     r"\((\d+) tasks?, await chain outermost first\):$")
TASK_RE = re.compile(r'^  Task (".*"|\?\?\?) (pending|cancelling)( \(running\))?'
                     r'(?:, awaiting (\S+)(?: "(.*)")?)?:$')
TASKS_OMITTED_RE = re.compile(r"^  \.\.\. \((\d+) tasks omitted\)$")
# each thread's kernel state, after the Python frames (and the labels)
STATE_RE = re.compile(
    r"^State of thread (0x[0-9a-f]+):(?: tid (\d+))?(?:,? state (\S) \([a-z ]+\))?"
    r"(?:,? cpu (\d+\.\d{3})s)?(?:,? gil (held|not held))?$")
GC_RUNNING = "Garbage collector: running"
WATCHDOG_LINE = "Watchdog: "   # the named watchdog that fired, after the Process line

Frame = collections.namedtuple("Frame", "file line function")
# tid: int or None; state: a letter or None; cpu: seconds (float) or None; gil: bool or None
ThreadState = collections.namedtuple("ThreadState", "tid state cpu gil")
CFrame = collections.namedtuple("CFrame", "binary symbol offset address")

FATAL_NAMES = {
    "SIGSEGV": "Segmentation fault",
    "SIGABRT": "Aborted",
    "SIGBUS": "Bus error",
    "SIGILL": "Illegal instruction",
    # CPython's words for this version
    "SIGFPE": "Floating-point exception" if sys.version_info >= (3, 13) else "Floating point exception",
}
# returncode of a process killed by the signal
RETURNCODES = {name: -getattr(signal, name) for name in FATAL_NAMES}


class Thread:
    """One thread block: header, frames (innermost first), cut marker."""

    def __init__(self, header):
        self.header = header
        m = THREAD_RE.match(header)
        self.current = bool(m) and m.group(1) == "Current thread"
        self.ident = int(m.group(2), 16) if m else None
        self.name = m.group(3) if m else None
        self.lines = []          # every line after the header, raw
        self.frames = []         # Frame tuples
        self.frames_omitted = None
        self.omitted_index = None  # how many frames precede the "... omitted" line
        self.other = []          # lines that are neither frames nor the cut marker

    def add(self, line):
        self.lines.append(line)
        m = FRAME_RE.match(line)
        if m:
            lineno = m.group(2)
            self.frames.append(Frame(m.group(1), int(lineno) if lineno.isdigit() else lineno,
                                     m.group(3)))
            return
        m = FRAMES_OMITTED_RE.match(line)
        if m:
            self.frames_omitted = int(m.group(1))
            self.omitted_index = len(self.frames)
            return
        self.other.append(line)

    @property
    def frame_lines(self):
        return [line for line in self.lines if FRAME_RE.match(line)]

    def __repr__(self):
        return "<Thread %r %d frames>" % (self.header, len(self.frames))


class Task:
    """One task of a loop: its line, then its await chain as a Thread's frames."""

    def __init__(self, line):
        m = TASK_RE.match(line)
        self.name = m.group(1)[1:-1] if m.group(1) != "???" else None
        self.state = m.group(2)
        self.running = bool(m.group(3))
        self.awaiting = m.group(4)
        self.awaiting_task = m.group(5)
        self.chain = Thread("")

    def __repr__(self):
        return "<Task %r %s %r>" % (self.name, self.state, self.chain.frames)


class Loop:
    """One thread's event loop in the asyncio section."""

    def __init__(self, header):
        m = LOOP_RE.match(header)
        self.ident = int(m.group(1), 16)
        self.name = m.group(2)
        self.total = int(m.group(3))
        self.tasks = []
        self.tasks_omitted = None

    def add(self, line):
        m = TASKS_OMITTED_RE.match(line)
        if m:
            self.tasks_omitted = int(m.group(1))
        elif TASK_RE.match(line):
            self.tasks.append(Task(line))
        elif line.startswith("    ") and self.tasks:
            self.tasks[-1].chain.add(line[2:])
        else:
            return False
        return True


class Dump:
    """One dump, from its first header line to its last section."""

    def __init__(self):
        self.lines = []
        self.header = []         # CPython's first line, then our lines (Signal, Process)
        self.trailer = False     # our lines after the frames were seen: the dump is over
        self.threads = []        # Thread objects, in printed order
        self.stack = None        # the all_threads=False "Stack" block
        self.threads_omitted = None
        self.c_stack = None      # list of CFrame, None when absent
        self.c_stack_lines = []
        self.c_stack_markers = []   # fold and cut lines
        self.c_stack_missing = None  # why the C stack was not walked
        self.signature = None
        self.extensions = None   # (list of names, total)
        self.contexts = {}       # set_context() labels: None -> the process's, ident -> a thread's
        self.loops = []          # the asyncio section: Loop objects
        self.states = {}         # ident -> ThreadState, from the "State of thread" lines
        self.gc_running = False
        self.watchdog = None     # the named watchdog's label
        self.unparsed = []       # lines inside the dump no rule knew

    # header fields ---------------------------------------------------------
    def _header_match(self, regex):
        for line in self.header:
            m = regex.match(line)
            if m:
                return m
        return None

    @property
    def fatal_error(self):
        for line in self.header:
            if line.startswith("Fatal Python error: "):
                return line[len("Fatal Python error: "):]
        return None

    @property
    def signal(self):
        return self._header_match(SIGNAL_RE)

    @property
    def process(self):
        return self._header_match(PROCESS_RE)

    @property
    def timeout(self):
        m = self._header_match(TIMEOUT_RE)
        return m.group(1) if m else None

    @property
    def pid(self):
        m = self.process
        return int(m.group(1)) if m else None

    @property
    def current(self):
        for thread in self.threads:
            if thread.current:
                return thread
        return None

    @property
    def context(self):
        return self.contexts.get(None)

    def thread_named(self, name):
        found = [t for t in self.threads if t.name == name]
        assert len(found) == 1, "%d threads named %r in %r" % (len(found), name, self.threads)
        return found[0]

    @property
    def text(self):
        return "\n".join(self.lines) + "\n"

    def __repr__(self):
        return "<Dump %r, %d threads>" % (self.header[:1], len(self.threads))


def split_dumps(text):
    """Return the list of dumps found in ``text`` (ours or CPython's)."""
    dumps = []
    dump = None
    section = None      # "header", Thread, "c_stack" or None (between sections)
    for line in text.splitlines():
        if START_RE.match(line):
            if dump is None or section != "header":
                dump = Dump()
                dumps.append(dump)
                section = "header"
            dump.lines.append(line)
            dump.header.append(line)
            continue
        if TRAILER_RE.match(line):
            if dump is None or (dump.trailer and section != "trailer"):
                dump = Dump()
                dumps.append(dump)
            dump.trailer = True
            section = "trailer"
            dump.lines.append(line)
            dump.header.append(line)
            continue
        if THREAD_RE.match(line) or line == STACK_HEADER:
            if dump is None or dump.trailer:
                dump = Dump()
                dumps.append(dump)
            dump.lines.append(line)
            thread = Thread(line)
            if line == STACK_HEADER:
                dump.stack = thread
            else:
                dump.threads.append(thread)
            section = thread
            continue
        if line == C_STACK_HEADER and dump is None:
            dump = Dump()
            dumps.append(dump)
        if dump is None:
            continue
        if not line:
            dump.lines.append(line)
            section = None
            continue
        if LOOP_RE.match(line):
            dump.lines.append(line)
            section = Loop(line)
            dump.loops.append(section)
            continue
        if isinstance(section, Loop) and section.add(line):
            dump.lines.append(line)
            continue
        if isinstance(section, Thread) and line.startswith("  "):
            dump.lines.append(line)
            section.add(line)
            continue
        if section == "c_stack" and C_MARKER_RE.match(line):
            dump.lines.append(line)
            dump.c_stack_markers.append(line)
            continue
        if section == "c_stack" and C_MISSING_RE.match(line) and not dump.c_stack_lines:
            dump.lines.append(line)
            dump.c_stack_missing = C_MISSING_RE.match(line).group(1)
            dump.c_stack = None
            continue
        if section == "c_stack" and line.startswith("  "):
            dump.lines.append(line)
            dump.c_stack_lines.append(line)
            m = C_FRAME_RE.match(line)
            if m:
                dump.c_stack.append(CFrame(m.group(1), m.group(2),
                                           int(m.group(3), 16) if m.group(3) else None,
                                           int(m.group(4), 16)))
            continue
        if line == C_STACK_HEADER:
            dump.lines.append(line)
            dump.c_stack = []
            section = "c_stack"
            continue
        m = SIGNATURE_RE.match(line)
        if m:
            dump.lines.append(line)
            dump.signature = m.group(1)
            section = None
            continue
        m = THREADS_OMITTED_RE.match(line)
        if m and section != "header":
            dump.lines.append(line)
            dump.threads_omitted = int(m.group(1))
            continue
        m = CONTEXT_RE.match(line)
        if m and section != "header":
            dump.lines.append(line)
            dump.contexts[int(m.group(1), 16) if m.group(1) else None] = m.group(2)
            section = None
            continue
        m = STATE_RE.match(line)
        if m and section != "header":
            dump.lines.append(line)
            dump.states[int(m.group(1), 16)] = ThreadState(
                int(m.group(2)) if m.group(2) else None, m.group(3),
                float(m.group(4)) if m.group(4) else None,
                None if m.group(5) is None else m.group(5) == "held")
            section = None
            continue
        if line.startswith(WATCHDOG_LINE) and section == "trailer":
            dump.lines.append(line)
            dump.header.append(line)
            dump.watchdog = line[len(WATCHDOG_LINE):]
            continue
        if line == GC_RUNNING and section == "trailer":
            dump.lines.append(line)
            dump.header.append(line)
            dump.gc_running = True
            continue
        m = EXTENSIONS_RE.match(line)
        if m:
            dump.lines.append(line)
            dump.extensions = (m.group(1).split(", "), int(m.group(2)))
            dump = None
            section = None
            continue
        if section in ("header", "trailer"):
            dump.lines.append(line)
            dump.header.append(line)
            dump.unparsed.append(line)
            continue
        # anything else is not part of a dump: the dump is over
        dump = None
        section = None
    return dumps


def only_dump(text):
    """The single dump of ``text``; fails unless there is exactly one."""
    dumps = split_dumps(text)
    assert len(dumps) == 1, "expected one dump, got %d in:\n%s" % (len(dumps), text)
    return dumps[0]


def count_fatal(text):
    return sum(1 for line in text.splitlines() if line.startswith("Fatal Python error: "))


def json_dumps(text):
    """Every JSON dump of a JSON-lines stream; a line that starts with '{'
    and does not parse, or does not follow the schema, makes the test fail."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(check_schema(json.loads(line)))
    return found


_validators = []


def check_schema(obj):
    """``obj``, after failing the test unless it follows the JSON schema
    that the installed package ships (schema/dump-1.json)."""
    if not _validators:
        import importlib.util
        import jsonschema
        package = os.path.dirname(importlib.util.find_spec("faulthandler_auto").origin)
        with open(os.path.join(package, "schema", "dump-1.json")) as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        _validators.append(jsonschema.Draft202012Validator(schema))
    errors = sorted(_validators[0].iter_errors(obj), key=str)
    assert not errors, "not a dump of schema dump-1: %s\n%s" % (
        "; ".join("%s at %s" % (e.message, list(e.absolute_path)) for e in errors[:5]), obj)
    return obj


def frames_by_thread(dump):
    """Python frame lines of each thread of a dump, the current thread first
    and the others sorted, so dumps of two processes compare equal."""
    current = [t.frame_lines for t in dump.threads if t.current]
    others = sorted(t.frame_lines for t in dump.threads if not t.current)
    if dump.stack is not None:
        current.append(dump.stack.frame_lines)
    return current, others


def line_of(path, marker):
    """Line number of the only line of ``path`` holding ``# <marker>``."""
    with open(path, encoding="utf-8") as f:
        found = [n for n, line in enumerate(f, 1) if line.rstrip().endswith("# " + marker)]
    assert len(found) == 1, (path, marker, found)
    return found[0]


def script(name):
    return os.path.join(SCRIPTS, name)


def check_well_formed(dump):
    """Structure every dump of ours has: Process line, no unknown line,
    threads with frames (or a marker), blank lines between sections."""
    assert dump.process is not None, dump.text
    assert not dump.unparsed, dump.unparsed
    for thread in dump.threads + ([dump.stack] if dump.stack else []):
        assert thread.lines, thread
        for line in thread.other:
            assert line in ("  <unreadable frame>", "  <no Python frame>",
                            "  Garbage-collecting"), line
        if thread.frames_omitted is not None:
            assert thread.frames_omitted > 0
    if dump.c_stack is not None:
        assert dump.c_stack, "empty C stack"
        assert len(dump.c_stack) == len(dump.c_stack_lines), dump.c_stack_lines


def spawn(python, code, env=None, args=(), **kwargs):
    """Start ``python [args] -c code`` (or a script) in the background with
    run_py's clean environment; stdin, stdout and stderr are pipes."""
    if code.endswith(".py") and os.path.exists(code):
        cmd = [python, *args, code]
    else:
        cmd = [python, *args, "-c", code]
    kwargs.setdefault("stdin", subprocess.PIPE)
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(cmd, env=clean_environ(env), text=True, **kwargs)


def alive(pid):
    """Whether `pid` runs (not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout=10.0, interval=0.01):
    """Poll ``predicate`` until it returns a true value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def cpython_frames_equal(ours, theirs):
    """Assert that two dumps show the same Python frames per thread."""
    assert frames_by_thread(ours) == frames_by_thread(theirs), (
        "ours:\n%s\nCPython's:\n%s" % (ours.text, theirs.text))


PY = sys.version_info[:2]
