"""Crash context beyond CPython (issue 4): fault details, process header,
thread names, the crashing thread first among hundreds, deep stacks cut in
the middle with an exact count, the native C stack, extension modules, JSON
with correct escaping, and a corrupt frame chain that does not stop a dump."""
import calendar
import os
import platform
import signal
import sys
import time

import pytest

from dumps import (check_well_formed, count_fatal, cpython_frames_equal, json_dumps, line_of,
                   only_dump, script)

CONTEXT = script("context.py")
THREADING = "threading.py"


def run_context(run_py, mode, env=None, args=(), **extra):
    environ = {"FA_MODE": mode}
    environ.update(extra)
    environ.update(env or {})
    return run_py(CONTEXT, *args, env=environ, timeout=60)


def crashed(proc):
    """pid and number of Python frames of the crashing thread, as printed
    by scripts/context.py before it crashed."""
    assert proc.returncode == -signal.SIGSEGV, proc
    out = proc.stdout.split()
    return int(out[0]), int(out[out.index("frames") + 1])


def check_time(text):
    stamp = calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(stamp - time.time()) < 300, text


def check_cut_stack(frames, omitted, total, max_frames):
    """The innermost ceil(max/2) and outermost floor(max/2) frames, and the
    exact count of those between."""
    inner, outer = (max_frames + 1) // 2, max_frames // 2
    assert len(frames) == max_frames
    assert omitted == total - max_frames
    assert frames[0].function == "string_at"
    assert frames[1] == (CONTEXT, line_of(CONTEXT, "crash"), "deep")
    assert all(f == (CONTEXT, line_of(CONTEXT, "recurse"), "deep") for f in frames[2:inner])
    assert [f.function for f in frames[inner:]][-3:] == ["run", "_bootstrap_inner",
                                                        "_bootstrap"][-min(3, outer):]
    assert all(f.file.endswith(THREADING) for f in frames[-min(3, outer):])
    if outer > 3:
        assert frames[inner:-3] == [(CONTEXT, line_of(CONTEXT, "recurse"), "deep")] * (outer - 3)


def test_ingest_worker_text(run_py):
    """The issue's "done when": one dump with pid, time, SEGV_MAPERR and the
    address, [ingest-worker-7] first, cut stack, threads omitted, C stack
    with the libc/ctypes/libffi frames, extension modules line."""
    proc = run_context(run_py, "big", {"PYTHONFAULTHANDLER": "1"})
    pid, total = crashed(proc)
    assert total > 2000
    assert count_fatal(proc.stderr) == 1, proc.stderr[-3000:]
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert dump.header[:2] == [
        "Fatal Python error: Segmentation fault",
        "Signal: SIGSEGV, SEGV_MAPERR (address not mapped to object), fault address 0x0",
    ]
    m = dump.process
    assert int(m.group(1)) == pid and m.group(2) == "context.py"
    check_time(m.group(4))
    first = dump.threads[0]
    assert first.current and first.name == "ingest-worker-7"
    assert first.header.startswith("Current thread 0x")
    assert sum(t.current for t in dump.threads) == 1
    check_cut_stack(first.frames, first.frames_omitted, total, 100)
    assert first.omitted_index == 50
    assert len(dump.threads) == 100
    assert dump.threads_omitted == 300 + 2 - 100
    # the others newest first: the last idle threads started
    assert [t.name for t in dump.threads[1:4]] == ["idle-299", "idle-298", "idle-297"]
    # the C stack: named binaries, and symbols where the binary exports them
    binaries = [os.path.basename(frame.binary) for frame in dump.c_stack]
    assert binaries[0].startswith("libc.so"), binaries
    assert any(b.startswith("_ctypes") for b in binaries), binaries
    assert any(b.startswith("libffi") for b in binaries), binaries
    assert any(frame.symbol == "ffi_call" for frame in dump.c_stack), dump.c_stack_lines
    assert any(frame.symbol and frame.symbol.startswith("_PyEval_EvalFrame")
               for frame in dump.c_stack) or any(
        b.startswith("python") for b in binaries), dump.c_stack_lines
    assert dump.extensions == (["fa_testext._uuid"], 1)
    assert dump.lines[-1].startswith("Extension modules: ")


def test_ingest_worker_json(run_py):
    proc = run_context(run_py, "big", {"PYTHONFAULTHANDLER": "1",
                                       "PYTHONFAULTHANDLER_FORMAT": "json"})
    pid, total = crashed(proc)
    assert len(proc.stderr.splitlines()) == 1, proc.stderr[:3000]
    (dump,) = json_dumps(proc.stderr)
    assert dump["event"] == "fatal_signal"
    assert dump["signal"] == "SIGSEGV"
    assert dump["error"] == "Segmentation fault"
    assert dump["si_code"].startswith("SEGV_MAPERR")
    assert dump["fault_address"] == "0x0"
    assert dump["pid"] == pid
    assert dump["program"] == "context.py"
    assert dump["python"] == platform.python_version()
    check_time(dump["time"])
    threads = dump["threads"]
    assert len(threads) == 100 and dump["threads_omitted"] == 202
    first = threads[0]
    assert first["name"] == "ingest-worker-7" and first["current"] is True
    assert not any(t["current"] for t in threads[1:])
    assert isinstance(first["id"], int)
    assert len(first["frames"]) == 100 and first["frames_omitted"] == total - 100
    assert first["frames"][0]["function"] == "string_at"
    assert first["frames"][1] == {"file": CONTEXT, "line": line_of(CONTEXT, "crash"),
                                  "function": "deep"}
    assert first["frames"][-1]["function"] == "_bootstrap"
    for thread in threads[1:]:
        assert thread["name"].startswith("idle-") and thread["frames_omitted"] == 0
    # a deep recursion of the eval loop (3.9, 3.10) is folded: {"repeat": ...}
    c_frames = [f for f in dump["c_stack"] if "repeat" not in f]
    assert all(set(f["repeat"]) == {"frames", "times"} for f in dump["c_stack"] if "repeat" in f)
    binaries = [os.path.basename(f["binary"]) for f in c_frames]
    assert binaries[0].startswith("libc.so")
    assert any(b.startswith("_ctypes") for b in binaries)
    assert any(f["symbol"] == "ffi_call" for f in c_frames)
    for frame in c_frames:
        assert frame["address"].startswith("0x") and isinstance(frame["offset"], int)
    assert dump["extension_modules"] == ["fa_testext._uuid"]


@pytest.mark.parametrize("max_frames, max_threads", [(7, 5), (1, 1), (2, 3)])
def test_limits(run_py, max_frames, max_threads):
    proc = run_context(run_py, "big", {
        "PYTHONFAULTHANDLER": "1", "PYTHONFAULTHANDLER_C_STACK": "0",
        "PYTHONFAULTHANDLER_MAX_FRAMES": str(max_frames),
        "PYTHONFAULTHANDLER_MAX_THREADS": str(max_threads)}, FA_IDLE="10", FA_DEPTH="30")
    pid, total = crashed(proc)
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert dump.c_stack is None
    first = dump.threads[0]
    assert first.current and first.name == "ingest-worker-7"
    assert len(dump.threads) == max_threads
    assert dump.threads_omitted == 12 - max_threads
    assert len(first.frames) == max_frames
    assert first.frames_omitted == total - max_frames
    assert first.omitted_index == (max_frames + 1) // 2
    assert first.frames[0].function == "string_at"
    if max_frames > 1:
        assert first.frames[-1].function == "_bootstrap"
    for thread in dump.threads[1:]:
        if thread.frames_omitted:
            assert len(thread.frames) == max_frames
        else:
            assert len(thread.frames) <= max_frames


def test_no_cut_below_limit(run_py):
    proc = run_context(run_py, "big", {"PYTHONFAULTHANDLER": "1",
                                       "PYTHONFAULTHANDLER_C_STACK": "false"},
                       FA_IDLE="2", FA_DEPTH="20")
    pid, total = crashed(proc)
    dump = only_dump(proc.stderr)
    first = dump.threads[0]
    assert len(first.frames) == total and first.frames_omitted is None
    assert dump.threads_omitted is None and "omitted" not in proc.stderr
    assert [t.name for t in dump.threads] == ["ingest-worker-7", "idle-1", "idle-0",
                                              "MainThread"]
    main = dump.thread_named("MainThread")
    # the worker may crash before start() has returned in the main thread
    assert {(CONTEXT, line_of(CONTEXT, marker), "big") for marker in ("start", "join")} & set(main.frames)


def test_c_stack_off(run_py):
    proc = run_context(run_py, "big", {"PYTHONFAULTHANDLER": "1",
                                       "PYTHONFAULTHANDLER_C_STACK": "0"},
                       FA_IDLE="2", FA_DEPTH="20")
    crashed(proc)
    dump = only_dump(proc.stderr)
    assert dump.c_stack is None and "C stack" not in proc.stderr
    assert dump.extensions == (["fa_testext._uuid"], 1)


def test_extension_modules_like_cpython(run_stock):
    """CPython 3.10+ prints the same Extension modules line."""
    proc = run_context(run_stock, "big", FA_IDLE="2", FA_DEPTH="5")
    assert proc.returncode == -signal.SIGSEGV
    dump = only_dump(proc.stderr)
    if sys.version_info < (3, 10):
        assert dump.extensions is None
    else:
        assert dump.extensions == (["fa_testext._uuid"], 1)


def test_escaping_text_matches_cpython(run_py, run_stock):
    ours = run_context(run_py, "escape", {"PYTHONFAULTHANDLER": "1"})
    theirs = run_context(run_stock, "escape")
    assert ours.returncode == theirs.returncode == -signal.SIGSEGV
    dump, cpython = only_dump(ours.stderr), only_dump(theirs.stderr)
    cpython_frames_equal(dump, cpython)
    frames = dump.threads[0].frame_lines
    escaped_file = 'we"ird\\' + '\\x0aa\\x01\\xe9\\u20ac\\U0001f600.py'
    assert frames[1] == '  File "%s", line 6 in long_%s...' % (escaped_file, "x" * 495), frames
    assert frames[2] == '  File "%s", line 3 in fu"n\\c\\x09\\x7f\\xe9\\u20ac\\U0001f600' % (
        escaped_file), frames


def test_escaping_json(run_py):
    proc = run_context(run_py, "escape", {"PYTHONFAULTHANDLER": "1",
                                          "PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == -signal.SIGSEGV
    (dump,) = json_dumps(proc.stderr)
    assert proc.stderr.isascii(), "non-ASCII must be written as \\uXXXX"
    frames = dump["threads"][0]["frames"]
    weird_file = 'we"ird\\\na\x01\xe9\u20ac\U0001f600.py'
    assert frames[1]["file"] == weird_file
    assert frames[1]["function"].startswith("long_xxx")
    assert frames[2] == {"file": weird_file, "line": 3,
                         "function": 'fu"n\\c\t\x7f\xe9\u20ac\U0001f600'}
    assert frames[3]["function"] == "escape"


def test_thread_names(run_py):
    """Names in [...] escaped as CPython escapes frame text, so a name can
    neither break the line nor bring raw non-ASCII bytes into the dump."""
    proc = run_context(run_py, "names")
    assert proc.returncode == 0, proc
    default = proc.stdout.splitlines()[1][len("default "):]
    headers = [line for line in proc.stderr.splitlines() if line.endswith(" (most recent call first):")]
    assert len(headers) == 5, "a thread name broke its header line:\n" + proc.stderr
    assert proc.stderr.isascii(), "raw non-ASCII bytes in the dump:\n" + proc.stderr
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert [t.name for t in dump.threads] == [
        "MainThread", default, 'new\\x0aline"q\\', "caf\\xe9-\\u20ac",
        "renamed-before-start"], proc.stderr
    assert dump.threads[0].current


def test_thread_names_json(run_py):
    proc = run_context(run_py, "names", {"PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == 0, proc
    default = proc.stdout.splitlines()[1][len("default "):]
    (dump,) = json_dumps(proc.stderr)
    assert proc.stderr.isascii(), "non-ASCII must be written as \\uXXXX"
    assert [t["name"] for t in dump["threads"]] == [
        "MainThread", default, 'new\nline"q\\', "caf\xe9-\u20ac", "renamed-before-start"]


@pytest.mark.parametrize("how", ["explicit", "timeout", "fatal"])
def test_corrupt_frame_chain(run_py, shared_library, how):
    """Another thread's frame link points at unmapped memory: that thread
    gets "<unreadable frame>", the dump goes on, nothing crashes twice."""
    env = {"FA_DUMP": how, "FA_CORRUPT_FRAMES": str(shared_library("corrupt_frames", extension=True))}
    if how == "fatal":
        env["PYTHONFAULTHANDLER"] = "1"
    proc = run_context(run_py, "corrupt", env)
    expected = {"explicit": 0, "timeout": 1, "fatal": -signal.SIGSEGV}[how]
    assert proc.returncode == expected, proc
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    names = [t.name for t in dump.threads]
    assert sorted(names) == ["MainThread", "bystander", "corrupter"], dump.text
    corrupter = dump.thread_named("corrupter")
    assert corrupter.frames[0] == (CONTEXT, line_of(CONTEXT, "corrupt"), "victim"), dump.text
    assert corrupter.lines[-1] == "  <unreadable frame>", dump.text
    assert "  <unreadable frame>" not in dump.thread_named("bystander").lines
    main = dump.thread_named("MainThread")
    assert (CONTEXT, line_of(CONTEXT, how), "corrupt") in main.frames
    if how == "fatal":
        assert dump.c_stack and count_fatal(proc.stderr) == 1


@pytest.mark.parametrize("max_threads", [1, 3, 100])
def test_timeout_main_thread_first_among_many(run_py, max_threads):
    """A timeout dump starts with the main thread, even when it is the
    oldest of 150 threads and only a few are shown."""
    proc = run_context(run_py, "many", {"PYTHONFAULTHANDLER_MAX_THREADS": str(max_threads)},
                       FA_IDLE="150")
    assert proc.returncode == 1, proc
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert dump.threads[0].name == "MainThread" and not dump.threads[0].current
    assert dump.threads[0].frames[0] == (CONTEXT, line_of(CONTEXT, "many"), "many")
    assert len(dump.threads) == max_threads
    assert dump.threads_omitted == 151 - max_threads
    if max_threads > 1:
        assert dump.threads[1].name == "idle-149"


def test_thread_without_name(run_py):
    """A thread started with _thread has no threading name: its header must
    still be well formed, without an empty "[]"."""
    proc = run_context(run_py, "raw")
    assert proc.returncode == 0, proc
    dump = only_dump(proc.stderr)
    check_well_formed(dump)
    assert len(dump.threads) == 2
    other = dump.threads[1]
    assert (CONTEXT, line_of(CONTEXT, "raw-thread"), "body") in other.frames
    assert "[]" not in other.header, other.header
