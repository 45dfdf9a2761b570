"""The crash signature: a short, stable name for "the same crash".

This is the reference implementation of docs/signature.md (version 2); the
core computes the same value at dump time and prints it, and ``report``
computes it here for dumps that carry none.  Change neither without the
other, and bump the version in the document when the definition changes.
"""
import hashlib
import os
import re

VERSION = 2
PYTHON_FRAMES = 3
C_FRAMES = 3
# Where abort() and its kind sit at the top of the C stack, the crash is
# in whoever called them: those frames (and any above them) are skipped if
# one of them is among the first SKIP_WINDOW frames.
SKIP_WINDOW = 10
SKIP_SYMBOLS = frozenset((
    "raise", "gsignal", "abort", "pthread_kill",
    "__pthread_kill_implementation", "__pthread_kill_internal",
    "__GI_raise", "__GI_abort", "__assert_fail", "__assert_fail_base",
    "__libc_message", "__libc_message_impl", "__libc_fatal", "__fortify_fail",
    "__chk_fail", "__stack_chk_fail", "malloc_printerr",
    "Py_FatalError", "_Py_FatalErrorFunc", "_Py_FatalErrorFormat",
))
# CPython's words for a fatal signal, for its own dumps, which name no
# signal otherwise ("Fatal Python error: Segmentation fault"); before 3.13
# it wrote "Floating point".
FATAL_ERRORS = {
    "Segmentation fault": "SIGSEGV", "Floating-point exception": "SIGFPE",
    "Floating point exception": "SIGFPE",
    "Bus error": "SIGBUS", "Illegal instruction": "SIGILL", "Aborted": "SIGABRT",
}
# The Python version in an object's name (docs/signature.md step 3).
_LIBPYTHON = re.compile(r"libpython[0-9].*\.so")
_INTERPRETER = re.compile(r"python[0-9][0-9.]*[dt]*")
_EXTENSION = re.compile(r"(.+)\.(?:cpython-[^.]*|abi3)\.so")


def escape(text):
    """``text`` as the text format prints it: printable ASCII as it is,
    any other character as CPython's faulthandler escapes it."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if 0x20 <= o < 0x7f:
            out.append(ch)
        elif o <= 0xff:
            out.append("\\x%02x" % o)
        elif o <= 0xffff:
            out.append("\\u%04x" % o)
        else:
            out.append("\\U%08x" % o)
    return "".join(out)


def _base(path):
    return escape(path.rsplit("/", 1)[-1]) if path else "?"


def module_name(path):
    """The basename of a C frame's object as the signature names it:
    without the Python version, so that one crash names the same objects
    on every Python."""
    name = _base(path)
    if _LIBPYTHON.match(name):
        return "libpython.so"
    if _INTERPRETER.fullmatch(name):
        return "python"
    m = _EXTENSION.fullmatch(name)
    return m.group(1) + ".so" if m else name


def signal_name(dump):
    """The fatal signal the dump names, else None."""
    if dump.signal is not None:
        return str(dump.signal)
    return FATAL_ERRORS.get(dump.error)


def c_frames_for_signature(c_stack):
    """The C frames that name the crash: repeat markers left out, and the
    abort() plumbing at the top skipped."""
    frames = [f for f in c_stack or () if f.repeat is None]
    start = 0
    for i, frame in enumerate(frames[:SKIP_WINDOW]):
        if frame.symbol in SKIP_SYMBOLS:
            start = i + 1
    return frames[start:start + C_FRAMES]


def _frame_lines(dump):
    out = []
    thread = dump.crashing_thread
    if thread is not None:
        for frame in thread.frames[:PYTHON_FRAMES]:
            out.append("py %s %s" % (_base(frame.file), escape(frame.function or "?")))
    for frame in c_frames_for_signature(dump.c_stack):
        out.append("c %s %s" % (module_name(frame.module), escape(frame.symbol or "?")))
    return out


def tokens(dump):
    """The lines hashed for ``dump``: its fatal signal, its crashing
    thread's innermost Python frames, then the C frames that name the
    crash; none when it has no frame at all to name it by."""
    frames = _frame_lines(dump)
    sig = signal_name(dump)
    return ["signal %s" % sig] + frames if frames and sig is not None else frames


def compute(dump):
    """The signature of ``dump`` (16 lowercase hex digits), or None when it
    has no frame at all to name it by."""
    lines = tokens(dump)
    if not lines:
        return None
    text = "faulthandler-auto-signature-%d\n%s\n" % (VERSION, "\n".join(lines))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def signature_of(dump):
    """The signature a dump printed, else the one computed from its frames."""
    return dump.signature or compute(dump)


def describe(dump):
    """A short human name for the crash site: the innermost Python frame
    and the first C frame that names the crash."""
    parts = []
    thread = dump.crashing_thread
    if thread is not None and thread.frames:
        frame = thread.frames[0]
        parts.append("%s (%s)" % (frame.function or "?", os.path.basename(frame.file or "?")))
    cframes = c_frames_for_signature(dump.c_stack)
    if cframes:
        frame = cframes[0]
        parts.append("%s!%s" % (_base(frame.module), frame.symbol or "?"))
    return " / ".join(parts) or "?"
