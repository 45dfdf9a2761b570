"""Read dumps back: our text and JSON formats, and CPython's own output.

``read_dumps(path)`` streams the dumps of one file -- a dump file, a captured
stderr, a JSON-lines log (also wrapped by a log shipper: ``{"log": ...}``,
``{"message": ...}``), any mix of them, gzip-compressed or not -- without
ever holding more than one line and the dump being read.  ``iter_dumps``
does the same for lines already in memory.

The input is not trusted: a file may be cut anywhere, hold binary junk,
lines of any length, JSON of the wrong shape or nested a million deep.
Whatever it holds, these functions return what they could read and raise
nothing but ``OSError`` for a file that cannot be opened.  Nothing read is
ever executed or used as a path to open.
"""
import gzip
import json
import os
import re
import stat
import zlib

# One line longer than this (a JSON dump of 100 threads x 100 frames is
# about 1.5 MB) is not a dump of ours; it is skipped, not read into memory.
MAX_LINE = 16 * 1024 * 1024
# Files up to this size are read in one go, larger ones line by line.
WHOLE_FILE = 4 * 1024 * 1024
# Decompressed bytes read from one gzip file (a "zip bomb" stops here).
MAX_GZIP = 256 * 1024 * 1024
# A JSON document nested deeper than this is refused before parsing.
MAX_JSON_DEPTH = 64

SCHEMA_PREFIX = "faulthandler-auto-dump-"

EVENTS = ("fatal_signal", "timeout", "signal", "explicit", "c_stack")

FRAME_RE = re.compile(r'  File "(.*)", line (\d+|\?\?\?) in (.*)$')
# a frame whose code object could not be read
UNREADABLE_FRAME = "  File ???, line ??? in ???"
THREAD_RE = re.compile(r"(Current thread|Thread) (0x[0-9a-fA-F]+)(?: \[(.*)\])? \(most recent call first\):$")
STACK_HEADER = "Stack (most recent call first):"
FRAMES_OMITTED_RE = re.compile(r"  \.\.\. \((\d+) frames omitted\)$")
THREADS_OMITTED_RE = re.compile(r"\.\.\. \((\d+) threads omitted\)$")
C_STACK_HEADER = "Current thread's C stack trace (most recent call first):"
# CPython 3.14's line, then what offline symbolisation needs, then what
# `symbolize` adds (see docs/triage.md for the grammar).
C_FRAME_RE = re.compile(
    r'  Binary file "(.*?)"(?:, at (.+)\+0x([0-9a-f]+))? \[0x([0-9a-f]+)\]'
    r"(?: \(\+0x([0-9a-f]+)(?:, build-id ([0-9a-f]+))?\))?"
    r"(?: at (.+):(\d+))?$")
C_REPEAT_RE = re.compile(r"  \[previous (\d+) frames? repeated (\d+) times?\]$")
EXTENSIONS_RE = re.compile(r"Extension modules: (.*) \(total: (\d+)\)$")
PROCESS_RE = re.compile(
    r'Process: pid (\d+), program "(.*)", Python (\S+), time (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)'
    r"(?:, host (.+))?$")
SIGNAL_RE = re.compile(
    r"Signal: (SIG[A-Z0-9]+|signal \d+)(?:, ([A-Z_]+) \((.*?)\))?"
    r"(?:, fault address (0x[0-9a-f]+))?(?:, from pid (\d+) uid (\d+))?")
TIMEOUT_RE = re.compile(r"Timeout \((\d+:\d\d:\d\d(?:\.\d+)?|process tree: asked by pid \d+)\)!$")
SIGNATURE_RE = re.compile(r"Crash signature: ([0-9a-f]{16})$")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$")
# Any other "Label: value" line inside a dump (a test's context, lines a
# later version adds) is kept, not mistaken for the end of the dump.
EXTRA_RE = re.compile(r"([A-Z][A-Za-z' -]{0,40}): (.*)$")
HEX_RE = re.compile(r"(?:0x)?[0-9a-fA-F]{1,16}$")


class Frame:
    __slots__ = ("file", "line", "function")

    def __init__(self, file, line, function):
        self.file = file
        self.line = line
        self.function = function

    def __repr__(self):
        return "Frame(%r, %r, %r)" % (self.file, self.line, self.function)


class CFrame:
    """One native frame.  ``module`` is the object's path (``binary`` in the
    JSON form), ``offset`` is from ``symbol``, ``module_offset`` is the
    address less the object's load bias (its link-time virtual address)."""

    __slots__ = ("module", "symbol", "offset", "address", "module_offset", "build_id",
                 "source_file", "source_line", "repeat")

    def __init__(self, module=None, symbol=None, offset=None, address=None, module_offset=None,
                 build_id=None, source_file=None, source_line=None, repeat=None):
        self.module = module
        self.symbol = symbol
        self.offset = offset
        self.address = address
        self.module_offset = module_offset
        self.build_id = build_id
        self.source_file = source_file
        self.source_line = source_line
        # (frames, times) for a "[previous N frames repeated M times]" marker
        self.repeat = repeat

    def __repr__(self):
        return "CFrame(%r, %r, %r)" % (self.module, self.symbol, self.module_offset)


class Thread:
    __slots__ = ("id", "name", "current", "frames", "frames_omitted", "unreadable")

    def __init__(self, ident=None, name=None, current=False):
        self.id = ident
        self.name = name
        self.current = current
        self.frames = []
        self.frames_omitted = 0
        self.unreadable = False


class Dump:
    """What one dump says.  Fields a dump did not carry are None."""

    __slots__ = ("format", "event", "signal", "error", "si_code", "fault_address", "pid",
                 "program", "python", "time", "host", "threads", "threads_omitted", "_c_stack",
                 "_c_frames_omitted", "_c_lines", "_c_json", "signature", "extension_modules", "extra", "path",
                 "lineno", "truncated", "_tail")

    def __init__(self, fmt, path=None, lineno=None):
        self.format = fmt
        self.event = None
        self.signal = None
        self.error = None
        self.si_code = None
        self.fault_address = None
        self.pid = None
        self.program = None
        self.python = None
        self.time = None
        self.host = None
        self.threads = []
        self.threads_omitted = 0
        self._c_stack = None
        self._c_frames_omitted = 0
        # the C stack's text lines (or JSON objects, _c_json), parsed when
        # c_stack is first read: a report needs them only for a dump that
        # printed no signature
        self._c_lines = None
        self._c_json = False
        self.signature = None
        self.extension_modules = None
        self.extra = {}
        self.path = path
        self.lineno = lineno
        self.truncated = False
        self._tail = False      # text: a section after the threads was seen

    @property
    def c_stack(self):
        """The C frames (CFrame, repeat markers among them), None for no C stack."""
        lines = self._c_lines
        if lines is not None:
            self._c_lines = None
            if self._c_json:
                self._c_stack = [cframe_from_json(f) for f in lines if isinstance(f, dict)]
            else:
                for line in lines:
                    _text_c_line(self, line)
        return self._c_stack

    @c_stack.setter
    def c_stack(self, frames):
        self._c_lines = None
        self._c_stack = frames

    @property
    def c_frames_omitted(self):
        """C frames a cut left out."""
        self.c_stack  # noqa: B018 -- parses the C stack lines, which hold the count
        return self._c_frames_omitted

    @c_frames_omitted.setter
    def c_frames_omitted(self, count):
        self.c_stack  # noqa: B018 -- the lines' count must not be added later
        self._c_frames_omitted = count

    @property
    def crashing_thread(self):
        """The thread the dump is about: the current one, else the first."""
        for thread in self.threads:
            if thread.current:
                return thread
        return self.threads[0] if self.threads else None

    def __repr__(self):
        return "<Dump %s %s pid=%s %s:%s>" % (self.format, self.event, self.pid, self.path, self.lineno)


# --- text ---------------------------------------------------------------------

class _TextParser:
    """Line-at-a-time state machine over text that may hold dumps among
    other lines.  ``feed`` returns the dump that a line completed, if any."""

    def __init__(self, path, frames=None, c_frames=None):
        self.path = path
        self.frames = frames    # None: every frame; N: see read_dumps
        self.c_frames = c_frames
        self.left = None        # frames still to keep in this section
        self.dump = None
        self.section = None     # a Thread, "c_stack" or None

    def _start(self, lineno):
        done = self.finish()
        self.dump = Dump("text", self.path, lineno)
        self.section = None
        return done

    def finish(self):
        dump, self.dump = self.dump, None
        if dump is not None:
            _settle_text(dump)
        return dump

    def feed(self, line, lineno):
        dump = self.dump
        if line.startswith("  "):
            if dump is None or self.left == 0:
                return None
            section = self.section
            if self.left is not None:
                self.left -= 1
            if isinstance(section, Thread):
                if line.startswith('  File "'):
                    m = FRAME_RE.match(line)
                    if m:
                        n = m.group(2)
                        section.frames.append(Frame(m.group(1), int(n) if n.isdigit() else None,
                                                    m.group(3)))
                        return None
                elif line == UNREADABLE_FRAME:
                    section.frames.append(Frame(None, None, None))
                    return None
                m = FRAMES_OMITTED_RE.match(line)
                if m:
                    section.frames_omitted += int(m.group(1))
                elif line == "  <unreadable frame>":
                    section.unreadable = True
            elif section == "c_stack":
                dump._c_lines.append(line)
            return None
        if not line:
            self.section = None
            self.left = None
            return None
        if line.startswith("Fatal Python error: "):
            done = self._start(lineno)
            self.dump.event = "fatal_signal"
            self.dump.error = line[20:]
            return done
        if line.startswith("Timeout ("):
            m = TIMEOUT_RE.match(line)
            if m:
                done = self._start(lineno)
                self.dump.event = "timeout"
                return done
        m = THREAD_RE.match(line) if line[:1] in "CT" else None
        if m or line == STACK_HEADER:
            done = None
            ident = int(m.group(2), 16) if m else None
            if (dump is None or dump._tail
                    or (ident is not None and any(t.id == ident for t in dump.threads))):
                done = self._start(lineno)
            thread = Thread(ident, m.group(3) if m else None, bool(m) and m.group(1) == "Current thread")
            if not m:
                thread.current = True
            threads = self.dump.threads
            if self.frames is not None:
                self.left = self.frames if thread.current or not threads else 0
            threads.append(thread)
            self.section = thread
            return done
        if line.startswith("Signal: "):
            m = SIGNAL_RE.match(line)
            if m:
                done = None
                if dump is None or dump.signal is not None or (dump._tail and dump.event != "fatal_signal"):
                    done = self._start(lineno)
                d = self.dump
                d.signal = m.group(1) if m.group(1).startswith("SIG") else int(m.group(1)[7:])
                d.si_code = m.group(2)
                d.fault_address = m.group(4)
                self._mark_tail()
                return done
        if line.startswith("Process: "):
            m = PROCESS_RE.match(line)
            if m:
                done = None
                if dump is None or dump.pid is not None:
                    done = self._start(lineno)
                d = self.dump
                d.pid = int(m.group(1))
                d.program = m.group(2)
                d.python = m.group(3)
                d.time = m.group(4)
                d.host = m.group(5)
                self._mark_tail()
                return done
        if dump is None:
            return None
        if line == C_STACK_HEADER:
            if dump._c_stack is None:
                dump._c_stack = []
            if dump._c_lines is None:
                dump._c_lines = []
            self.section = "c_stack"
            self.left = self.c_frames
            self._mark_tail()
            return None
        if line.startswith("Crash signature: "):
            m = SIGNATURE_RE.match(line)
            if m:
                dump.signature = m.group(1)
                self._mark_tail()
                return None
        if line.startswith("Extension modules: "):
            m = EXTENSIONS_RE.match(line)
            if m:
                dump.extension_modules = m.group(1).split(", ")
                # CPython's last line of a fatal dump
                return self.finish()
        m = THREADS_OMITTED_RE.match(line)
        if m:
            dump.threads_omitted = int(m.group(1))
            return None
        m = EXTRA_RE.match(line)
        if m and len(dump.extra) < 32:
            dump.extra.setdefault(m.group(1), m.group(2))
            self._mark_tail()
        return None

    def take_c_lines(self, numbered):
        """Right after a C stack header: keep the lines that follow (indented
        as frames are) as ``feed`` would, in one loop instead of a call
        each -- a C stack is most of a fatal dump's lines.  Returns the
        first other (lineno, line) of ``numbered``, or None at its end."""
        keep = self.dump._c_lines
        left = self.left
        for item in numbered:
            line = item[1]
            if not line.startswith("  ") or len(line) > MAX_LINE:
                self.left = left
                return item
            if left is None:
                keep.append(line.rstrip("\r\n"))
            elif left > 0:
                keep.append(line.rstrip("\r\n"))
                left -= 1
        self.left = left
        return None

    def _mark_tail(self):
        dump = self.dump
        if dump.threads:
            dump._tail = True
        if self.section != "c_stack":
            self.section = self.left = None


def _text_c_line(dump, line):
    """Parse one line of a C stack into ``dump`` (once its c_stack is read)."""
    if line.startswith("  Binary file "):
        m = C_FRAME_RE.match(line)
        if m:
            dump._c_stack.append(CFrame(
                None if m.group(1) == "<unknown>" else m.group(1), m.group(2), int(m.group(3), 16) if m.group(3) else None,
                int(m.group(4), 16), int(m.group(5), 16) if m.group(5) else None, m.group(6),
                m.group(7), int(m.group(8)) if m.group(8) else None))
            return
    m = C_REPEAT_RE.match(line)
    if m:
        dump._c_stack.append(CFrame(repeat=(int(m.group(1)), int(m.group(2)))))
        return
    m = FRAMES_OMITTED_RE.match(line)
    if m:
        dump._c_frames_omitted += int(m.group(1))


def _settle_text(dump):
    if dump.event is None:
        if dump.signal is not None:
            dump.event = "signal"
        elif not dump.threads and dump._c_stack is not None:
            dump.event = "c_stack"
        else:
            dump.event = "explicit"


# --- JSON ---------------------------------------------------------------------

def _s(value):
    return value if isinstance(value, str) else None


def _i(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _hexint(value):
    if isinstance(value, str) and HEX_RE.match(value):
        return int(value, 16)
    return _i(value)


def _too_deep(text):
    """True when brackets nest deeper than MAX_JSON_DEPTH (json would
    recurse on them); strings are skipped so that their brackets don't count."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def loads_json(text):
    """The decoded JSON of ``text``, or None when it is not JSON or nests
    too deep to parse safely."""
    if _too_deep(text):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def is_dump_object(obj):
    """Whether a decoded JSON object is one of our dumps."""
    if not isinstance(obj, dict):
        return False
    schema = obj.get("schema")
    if isinstance(schema, str) and schema.startswith(SCHEMA_PREFIX):
        return True
    return obj.get("event") in EVENTS and "pid" in obj and ("threads" in obj or "c_stack" in obj)


def dump_from_json(obj, path=None, lineno=None, frames=None, c_frames=None):
    """A Dump from one decoded JSON dump object; fields of the wrong type
    are left out, never raised on.  ``frames`` and ``c_frames`` as for
    ``read_dumps``."""
    dump = Dump("json", path, lineno)
    dump.event = obj.get("event") if obj.get("event") in EVENTS else None
    signal = obj.get("signal")
    dump.signal = signal if isinstance(signal, str) else _i(signal)
    dump.error = _s(obj.get("error"))
    dump.si_code = _s(obj.get("si_code"))
    dump.fault_address = _s(obj.get("fault_address"))
    dump.pid = _i(obj.get("pid"))
    dump.program = _s(obj.get("program"))
    dump.python = _s(obj.get("python"))
    time = _s(obj.get("time"))
    dump.time = time if time and TIME_RE.match(time) else None
    dump.host = _s(obj.get("host"))
    dump.signature = _s(obj.get("signature"))
    threads = obj.get("threads")
    if isinstance(threads, list):
        for t in threads:
            if not isinstance(t, dict):
                continue
            thread = Thread(_i(t.get("id")), _s(t.get("name")), t.get("current") is True)
            items = t.get("frames")
            if isinstance(items, list):
                if frames is not None:
                    items = items[:frames] if thread.current or not dump.threads else ()
                for f in items:
                    if isinstance(f, dict):
                        thread.frames.append(Frame(_s(f.get("file")), _i(f.get("line")),
                                                   _s(f.get("function"))))
            thread.frames_omitted = _i(t.get("frames_omitted")) or 0
            thread.unreadable = t.get("unreadable") is True
            dump.threads.append(thread)
    dump.threads_omitted = _i(obj.get("threads_omitted")) or 0
    c_stack = obj.get("c_stack")
    if isinstance(c_stack, list):
        dump._c_stack = []
        dump._c_lines = c_stack if c_frames is None else c_stack[:c_frames]
        dump._c_json = True
        dump._c_frames_omitted = _i(obj.get("c_frames_omitted")) or 0
    modules = obj.get("extension_modules")
    if isinstance(modules, list):
        dump.extension_modules = [m for m in modules if isinstance(m, str)]
    return dump


def cframe_from_json(f):
    repeat = f.get("repeat")
    if isinstance(repeat, dict):
        frames, times = _i(repeat.get("frames")), _i(repeat.get("times"))
        if frames and times:
            return CFrame(repeat=(frames, times))
    return CFrame(_s(f.get("binary", f.get("module"))), _s(f.get("symbol")), _i(f.get("offset")),
                  _hexint(f.get("address")), _hexint(f.get("module_offset")),
                  _s(f.get("build_id")), _s(f.get("source_file")), _i(f.get("source_line")))


# What a truncated JSON dump still tells (a process killed while writing,
# a disk that filled up): the header fields and the first thread's frames.
_SALVAGE_FIELDS = {
    name: re.compile(r'"%s"\s*:\s*(?:"((?:[^"\\]|\\.){0,1000})"|(\d{1,20}))' % name)
    for name in ("event", "signal", "error", "pid", "time", "python", "program", "host", "signature")
}
_SALVAGE_FRAME = re.compile(r'\{"file"\s*:\s*"((?:[^"\\]|\\.){0,2000})",\s*"line"\s*:\s*(\d{1,10}|null),'
                            r'\s*"function"\s*:\s*"((?:[^"\\]|\\.){0,2000})"\}')
_SALVAGE_THREADS = re.compile(r'"threads"\s*:\s*\[')


def _unescape(text):
    try:
        return json.loads('"%s"' % text)
    except ValueError:
        return text


def salvage_json(text, path=None, lineno=None):
    """A Dump from the start of a JSON dump that was cut short, or None
    when too little of it is there to say what it was."""
    if _SALVAGE_FIELDS["event"].search(text, 0, 300) is None:
        return None
    values = {}
    for name, regex in _SALVAGE_FIELDS.items():
        m = regex.search(text)
        if m:
            values[name] = _unescape(m.group(1)) if m.group(1) is not None else int(m.group(2))
    if values.get("event") not in EVENTS:
        return None
    dump = dump_from_json(values, path, lineno)
    m = _SALVAGE_THREADS.search(text)
    if m:
        start = m.end()
        thread = Thread(None, None, True)
        end = text.find("]", start)
        # only the first thread's frames: they are the crashing thread's
        for m in _SALVAGE_FRAME.finditer(text, start, end if end >= 0 else len(text)):
            line = m.group(2)
            thread.frames.append(Frame(_unescape(m.group(1)), None if line == "null" else int(line),
                                       _unescape(m.group(3))))
        dump.threads.append(thread)
    dump.truncated = True
    return dump


# Keys under which log shippers carry the original line.
ENVELOPE_KEYS = ("log", "message", "msg", "MESSAGE")
ENVELOPE_HOST_KEYS = ("host", "hostname", "_HOSTNAME")


def _envelope(obj):
    """(inner text, host) of a log shipper's record, or (None, None)."""
    for key in ENVELOPE_KEYS:
        inner = obj.get(key)
        if isinstance(inner, str):
            host = None
            for hkey in ENVELOPE_HOST_KEYS:
                value = obj.get(hkey)
                if isinstance(value, dict):     # {"host": {"name": ...}} (ECS)
                    value = value.get("name")
                if isinstance(value, str):
                    host = value
                    break
            return inner, host
    return None, None


# --- streams ------------------------------------------------------------------

# Where a dump may begin after other output on its line: a progress bar or
# prompt written without a newline before the crash.
_LATE_HEADER_RE = re.compile(r'Fatal Python error: |Timeout \(|(?:Current thread|Thread) 0x|'
                             r'Stack \(most recent call first\):|\{"schema":"' + SCHEMA_PREFIX)


def _from_dump_header(line):
    """``line`` from the dump header that follows other text on it, if one
    does (the header must parse as one), else ``line`` itself."""
    # substring tests first: a regex search costs ten times more, per line
    if not ("Fatal Python error: " in line or "Timeout (" in line
            or "(most recent call first):" in line or '{"schema":"' in line):
        return line
    for m in _LATE_HEADER_RE.finditer(line, 1):
        rest = line[m.start():]
        if (rest.startswith(("Fatal Python error: ", "{")) or rest == STACK_HEADER
                or TIMEOUT_RE.match(rest) or THREAD_RE.match(rest)):
            return rest
    return line


def iter_dumps(lines, path=None, frames=None, c_frames=None):
    """Dumps in an iterable of text lines (with or without line endings);
    ``frames`` and ``c_frames`` as for ``read_dumps``."""
    text = _TextParser(path, frames, c_frames)
    envelope_host = [None]
    numbered = enumerate(lines, 1)
    pushed_back = None
    while True:
        if pushed_back is not None:
            (lineno, line), pushed_back = pushed_back, None
        else:
            item = next(numbered, None)
            if item is None:
                break
            lineno, line = item
        if len(line) > MAX_LINE:
            continue
        line = line.rstrip("\r\n")
        if not line.startswith(("{", "  ")):
            line = _from_dump_header(line)
        if line.startswith("{"):
            obj = loads_json(line)
            if obj is None:
                dump = salvage_json(line, path, lineno)
                if dump is not None:
                    yield dump
                continue
            if is_dump_object(obj):
                yield dump_from_json(obj, path, lineno, frames, c_frames)
                continue
            if not isinstance(obj, dict):
                continue
            inner, host = _envelope(obj)
            if inner is None:
                continue
            if inner.lstrip().startswith("{"):
                for dump in iter_dumps([inner.strip()], path, frames, c_frames):
                    dump.lineno = lineno
                    if dump.host is None:
                        dump.host = host
                    yield dump
                continue
            # a shipped text line: part of a text dump, line by line
            envelope_host[0] = host or envelope_host[0]
            for part in (inner[:-1] if inner.endswith("\n") else inner).split("\n"):
                done = text.feed(part, lineno)
                if done is not None:
                    yield _with_host(done, envelope_host[0])
            continue
        done = text.feed(line, lineno)
        if done is not None:
            yield _with_host(done, envelope_host[0])
        if text.section == "c_stack":
            pushed_back = text.take_c_lines(numbered)
    done = text.finish()
    if done is not None:
        yield _with_host(done, envelope_host[0])


def _with_host(dump, host):
    if dump.host is None and host is not None:
        dump.host = host
    return dump


def host_from_file_name(path, program, pid):
    """The host of a dump file named by the default pattern
    ``{prog}-{host}-{pid}.log`` (also gzip-compressed), else None."""
    if not program or pid is None:
        return None
    name = os.path.basename(path)
    if name.endswith(".gz"):
        name = name[:-3]
    prefix = program.replace("/", "_") + "-"
    suffix = "-%d.log" % pid
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
        return name[len(prefix):-len(suffix)]
    return None


def _lines(raw):
    """Decoded lines of a binary stream, skipping lines over MAX_LINE
    without holding them."""
    while True:
        line = raw.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = raw.readline(MAX_LINE + 1)
            continue
        yield line.decode("utf-8", "replace")


class _Capped:
    """A read-only stream that ends after ``limit`` bytes."""

    def __init__(self, stream, limit):
        self.stream = stream
        self.left = limit

    def readline(self, size):
        if self.left <= 0:
            return b""
        line = self.stream.readline(min(size, self.left))
        self.left -= len(line)
        return line


def open_regular(path):
    """A binary file object for a regular file, refusing FIFOs, devices and
    directories (a hostile name in a dump directory must not block us)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_dumps(path, stream=None, frames=None, c_frames=None):
    """Every dump in the file at ``path`` (or in the binary ``stream``,
    then ``path`` only names it), gzip or not.

    ``frames=N`` and ``c_frames=M`` read text dumps faster for a summary:
    only the first N lines of the crashing thread (the current one, and the
    first one) and the first M lines of the C stack are read, other
    threads' frames are passed over."""
    if stream is None:
        data = _read_small_file(path)
        if data is not None and data[:2] != b"\x1f\x8b":
            # most dump files are small: one read and one split beat a
            # readline per line by far over a directory of thousands
            yield from _dumps_of_lines(path, data.decode("utf-8", "replace").split("\n"), frames, c_frames)
            return
    f = stream if stream is not None else open_regular(path)
    try:
        head = f.peek(2)[:2] if hasattr(f, "peek") else b""
        if head == b"\x1f\x8b":
            g = gzip.GzipFile(fileobj=f, mode="rb")
            lines = _lines(_Capped(_GzipGuard(g), MAX_GZIP))
        elif _small_regular_file(f):
            # most dump files are small: one read and one split beat a
            # readline per line by far over a directory of thousands
            lines = f.read(WHOLE_FILE + 1).decode("utf-8", "replace").split("\n")
        else:
            lines = _lines(f)
        yield from _dumps_of_lines(path, lines, frames, c_frames)
    finally:
        if stream is None:
            f.close()


def _dumps_of_lines(path, lines, frames, c_frames):
    for dump in iter_dumps(lines, path, frames, c_frames):
        if dump.host is None:
            dump.host = host_from_file_name(path, dump.program, dump.pid)
        yield dump


def _read_small_file(path):
    """The bytes of the regular file at ``path`` when it holds at most
    WHOLE_FILE bytes, read with one open, one fstat and one read; None when
    it is larger.  OSError as open_regular's."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file")
        if st.st_size > WHOLE_FILE:
            return None
        chunks = []
        size = 0
        while size <= WHOLE_FILE:   # a file growing meanwhile is cut, as one read cuts it
            chunk = os.read(fd, WHOLE_FILE + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size == st.st_size:
                break
        return b"".join(chunks)
    finally:
        os.close(fd)


def _small_regular_file(f):
    try:
        st = os.fstat(f.fileno())
    except (OSError, AttributeError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size <= WHOLE_FILE


class _GzipGuard:
    """A gzip stream whose corruption ends the stream instead of raising."""

    def __init__(self, g):
        self.g = g

    def readline(self, size):
        try:
            return self.g.readline(size)
        except (OSError, EOFError, ValueError, zlib.error):
            return b""
