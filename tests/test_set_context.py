"""set_context(): a label for the process or a thread, printed by every dump
after the Python frames (and as "context" in JSON), cut on a character
boundary, escaped as frame text is, never torn by a dump that interrupts
the writer; and redirect_std(), the stand-ins for fd 1 and 2 that the
pytest plugin uses."""
import signal

from dumps import count_fatal, json_dumps, split_dumps

THREAD_LABELS = """\
import threading, faulthandler_auto as f
f.set_context("job 42 \\u20ac")
ready, done = threading.Event(), threading.Event()
def work():
    f.set_context("request /x", thread=True)
    ready.set()
    done.wait()
t = threading.Thread(target=work, name="worker")
t.start()
ready.wait()
print(t.ident, flush=True)
f.dump_traceback(file=2)
done.set()
t.join()
f.dump_traceback(file=2)    # the thread has ended: its label went with it
f.set_context(None)
f.dump_traceback(file=2)
"""


def test_process_and_thread_labels_text(run_py):
    proc = run_py(THREAD_LABELS)
    assert proc.returncode == 0, proc.stderr
    worker = int(proc.stdout)
    first, second, third = split_dumps(proc.stderr)
    assert first.contexts == {None: "job 42 \\u20ac", worker: "request /x"}
    assert "Context of thread 0x%016x: request /x" % worker in first.lines
    assert second.contexts == {None: "job 42 \\u20ac"}
    assert third.contexts == {}
    # after the Python frames, with our other lines: right after the Process line
    index = first.lines.index("Context: job 42 \\u20ac")
    assert first.lines[index - 1].startswith("Process: pid "), first.lines


def test_process_and_thread_labels_json(run_py):
    proc = run_py(THREAD_LABELS, env={"PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == 0, proc.stderr
    worker = int(proc.stdout)
    first, second, third = json_dumps(proc.stderr)
    assert first["context"] == "job 42 \u20ac"
    assert {t["id"]: t.get("context") for t in first["threads"]}[worker] == "request /x"
    assert second["context"] == "job 42 \u20ac"
    assert all("context" not in t for t in second["threads"])
    assert "context" not in third


def test_long_label_cut_on_a_character_boundary(run_py):
    proc = run_py("import faulthandler_auto as f\n"
                  "f.set_context('\\xe9' * 200 + '\\n' + 'x')\n"
                  "f.dump_traceback(file=2)\n"
                  "f.set_context('a\\nb\\x7fc')\n"
                  "f.dump_traceback(file=2)\n")
    assert proc.returncode == 0, proc.stderr
    first, second = split_dumps(proc.stderr)
    assert first.context == "\\xe9" * 127          # 254 bytes of UTF-8: 255 would split one
    assert second.context == "a\\x0ab\\x7fc"       # one line whatever the label holds


def test_a_dump_never_prints_a_half_written_label(run_py, tmp_path):
    """The main thread rewrites its label as fast as it can while dumps
    interrupt it (SIGUSR1, from another thread) and run beside it (the
    watchdog, every 2 ms): every label printed is one that was set."""
    path = tmp_path / "dumps.log"
    code = ("import os, signal, threading, time, faulthandler_auto as f\n"
            "labels = [c * n for c, n in zip('abcdefgh', (1, 255, 17, 200, 64, 128, 3, 254))]\n"
            "f.register(signal.SIGUSR1, file=%r, all_threads=False)\n"
            "f.dump_traceback_later(0.002, repeat=True, file=%r)\n"
            "stop = threading.Event()\n"
            "def kill():\n"
            "    while not stop.is_set():\n"
            "        os.kill(os.getpid(), signal.SIGUSR1)\n"
            "        time.sleep(0.001)\n"
            "t = threading.Thread(target=kill, daemon=True)\n"
            "t.start()\n"
            "end = time.monotonic() + 1.0\n"
            "try:\n"
            "    while time.monotonic() < end:\n"
            "        for label in labels:\n"
            "            f.set_context(label)\n"
            "finally:\n"
            "    stop.set()\n"
            "    t.join()\n"
            "f.cancel_dump_traceback_later()\n"
            "f.unregister(signal.SIGUSR1)\n") % (str(path), str(path))
    proc = run_py(code)
    assert proc.returncode == 0, proc.stderr
    labels = {c * n for c, n in zip("abcdefgh", (1, 255, 17, 200, 64, 128, 3, 254))}
    printed = [line[len("Context: "):] for line in path.read_text().splitlines()
               if line.startswith("Context: ")]
    assert printed, "no dump printed a label"
    assert set(printed) <= labels


def test_set_context_takes_text_without_nul(run_py):
    proc = run_py("import faulthandler_auto as f\n"
                  "for label in (b'x', 'a\\0b'):\n"
                  "    try:\n"
                  "        f.set_context(label)\n"
                  "    except (TypeError, ValueError) as e:\n"
                  "        print(type(e).__name__, e)\n")
    assert proc.stdout.splitlines() == ["TypeError label must be a str or None, not bytes",
                                        "ValueError label holds a NUL character"], proc.stderr


def test_worker_path_field(run_py, tmp_path):
    """{worker}: main until set_worker() names the process; a name is made
    a safe file name: no "/", no leading "." (as every field)."""
    template = str(tmp_path / "{worker}.log")
    proc = run_py("import faulthandler_auto as f\n"
                  "f.dump_traceback(file=%r)\n"
                  "f.set_worker('gw3')\n"
                  "f.dump_traceback(file=%r)\n"
                  "f.set_worker('../a b')\n"
                  "f.dump_traceback(file=%r)\n"
                  "f.set_worker('..')\n"
                  "f.dump_traceback(file=%r)\n" % ((template,) * 4))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_._a_b.log", "__.log", "gw3.log", "main.log"]


def test_redirect_std_takes_crash_dumps_not_explicit_ones(run_py, tmp_path):
    path = tmp_path / "terminal"
    proc = run_py("import os, faulthandler_auto as f\n"
                  "fd = os.open(%r, os.O_WRONLY | os.O_CREAT, 0o600)\n"
                  "f.redirect_std(stderr=fd)\n"
                  "f.enable()\n"
                  "f.dump_traceback(file=2)\n"
                  "f.sigsegv()\n" % str(path))
    assert proc.returncode == -signal.SIGSEGV
    assert count_fatal(proc.stderr) == 0 and len(split_dumps(proc.stderr)) == 1, proc.stderr
    moved = path.read_text()
    assert count_fatal(moved) == 1 and len(split_dumps(moved)) == 1, moved


# C threads (pthread_create) that call into Python through a ctypes
# callback, set a label and end; each is joined, so it has really exited,
# thread-specific destructors included, before the next starts (and it gets
# the same pthread_t as the one before, most of the time).
LABELS_OF_RAW_THREADS = """\
import ctypes, faulthandler_auto as f
libc = ctypes.CDLL(None)
libc.pthread_create.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
libc.pthread_join.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
count = [0]
@ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
def work(arg):
    f.set_context("raw thread %d" % count[0], thread=True)
    count[0] += 1
    return None
for i in range(N_THREADS):
    tid = ctypes.c_ulong()
    assert libc.pthread_create(ctypes.byref(tid), None, ctypes.cast(work, ctypes.c_void_p), None) == 0
    assert libc.pthread_join(tid.value, None) == 0
assert count[0] == N_THREADS
f.set_context("main", thread=True)
f.dump_traceback(file=2)
"""


def test_labels_of_ended_raw_threads_go(run_py):
    proc = run_py(LABELS_OF_RAW_THREADS.replace("N_THREADS", "3"))
    assert proc.returncode == 0, proc.stderr
    (dump,) = split_dumps(proc.stderr)
    assert list(dump.contexts.values()) == ["main"]


def test_more_ended_threads_than_label_slots(run_py):
    proc = run_py(LABELS_OF_RAW_THREADS.replace("N_THREADS", "200"))
    assert proc.returncode == 0, proc.stderr
    assert "faulthandler-auto:" not in proc.stderr
    (dump,) = split_dumps(proc.stderr)
    assert list(dump.contexts.values()) == ["main"]
