"""Code that run.py runs in child interpreters (inside the venv that holds
the package): ``dump``, ``crash`` and ``memory``.  Each prints one JSON
line on stdout.  Not a test and not part of the package.

    python _child.py dump THREADS FRAMES REPS
    python _child.py crash IMPL THREADS OUT_FILE TIMESTAMP_FD
    python _child.py memory IMPL
    python _child.py asyncio THREADS TASKS REPS TMPDIR
"""
import json
import os
import statistics
import sys
import threading
import time

# Pipe readers: one drains as fast as it can, one 4 KiB every millisecond.
READERS = {
    "pipe-fast": "import os\nwhile os.read(0, 1 << 16): pass\n",
    "pipe-slow": "import os, time\nwhile os.read(0, 4096): time.sleep(0.001)\n",
}
# CPython's faulthandler stops at 100 frames per thread and 100 threads
# (MAX_FRAME_DEPTH, MAX_NTHREADS); ours gets the same limits, so that both
# write the same dump and the rows compare like with like.
CPYTHON_MAX_FRAMES = CPYTHON_MAX_THREADS = 100


def recurse(depth, at_bottom):
    """Call at_bottom() under ``depth`` frames of this function."""
    if depth > 1:
        return recurse(depth - 1, at_bottom)
    return at_bottom()


def park_threads(count, frames):
    """Start ``count`` threads that wait ``frames`` deep; return their release event."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), frames + 500))
    ready = threading.Barrier(count + 1)
    release = threading.Event()

    def park():
        ready.wait()
        release.wait()

    for _ in range(count):
        threading.Thread(target=recurse, args=(frames, park), daemon=True).start()
    ready.wait()
    return release


def dumpers(threads, frames):
    import faulthandler
    import faulthandler_auto

    faulthandler_auto.set_output(max_frames=CPYTHON_MAX_FRAMES, max_threads=CPYTHON_MAX_THREADS)
    return {
        "ours": lambda fd: faulthandler_auto.dump_traceback(fd, all_threads=True),
        "cpython": lambda fd: faulthandler.dump_traceback(fd, all_threads=True),
    }


def pipe_pending(fd):
    import fcntl
    import termios

    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


def measure_dumps(threads, frames, reps, tmpdir):
    """Time ``reps`` dumps per implementation and target, interleaving the
    implementations.  A marker write to /dev/null before each dump names
    it for run.py's strace parser."""
    import subprocess

    impls = dumpers(threads, frames)
    marker = os.open(os.devnull, os.O_WRONLY)
    path = os.path.join(tmpdir, "dump-%d.txt" % os.getpid())
    targets = {
        "file": os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600),
        "/dev/null": os.open(os.devnull, os.O_WRONLY),
    }
    readers = []
    for name, code in READERS.items():
        reader_r, targets[name] = os.pipe()
        readers.append(subprocess.Popen([sys.executable, "-I", "-S", "-c", code], stdin=reader_r))
        os.close(reader_r)
    times = {(i, t): [] for i in impls for t in targets}
    size = {}
    for target, fd in targets.items():
        for _ in range(reps):
            for impl, dump in impls.items():
                while target in READERS and pipe_pending(fd):
                    time.sleep(0.001)  # every dump starts with an empty pipe
                os.write(marker, ("BENCH %s %s %d\n" % (impl, target, fd)).encode())
                before = os.fstat(fd).st_size
                t0 = time.perf_counter()
                dump(fd)
                times[impl, target].append(time.perf_counter() - t0)
                if target == "file":
                    size[impl] = os.fstat(fd).st_size - before
    os.write(marker, b"BENCH end\n")
    for name, reader in zip(READERS, readers):
        os.close(targets[name])
        reader.wait()
    os.unlink(path)
    return {
        "%s|%s" % key: {"seconds": statistics.median(v), "bytes": size[key[0]]}
        for key, v in times.items()
    }


def cmd_dump(threads, frames, reps, tmpdir):
    # the main thread is one of the ``threads`` and dumps from ``frames`` deep
    park_threads(int(threads) - 1, int(frames))
    return recurse(int(frames), lambda: measure_dumps(int(threads), int(frames), int(reps), tmpdir))


def cmd_crash(impl, threads, out_file, timestamp_fd):
    import ctypes

    park_threads(int(threads) - 1, 10)
    out = open(out_file, "w")
    if impl.startswith("ours"):
        import faulthandler_auto

        faulthandler_auto.enable(out, c_stack=impl == "ours")
    elif impl == "cpython":
        import faulthandler

        faulthandler.enable(out)
    os.write(int(timestamp_fd), repr(time.monotonic()).encode())
    ctypes.string_at(0)


def smaps_kib():
    with open("/proc/self/smaps_rollup") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line and not line[0].isdigit())
    return {k: int(fields[k].split()[0]) for k in ("Rss", "Pss", "Private_Dirty")}


def cmd_memory(impl):
    import signal

    start = smaps_kib()
    if impl == "ours":
        import faulthandler_auto as handler
    else:
        import faulthandler as handler  # built in: already loaded at start-up
    imported = smaps_kib()
    handler.enable()
    handler.dump_traceback_later(600)
    handler.register(signal.SIGUSR1)
    time.sleep(0.05)  # let the watchdog thread start
    end = smaps_kib()
    return {
        "import": {k: imported[k] - start[k] for k in start},
        "calls": {k: end[k] - imported[k] for k in start},
    }


def cmd_asyncio(threads, tasks, reps, tmpdir):
    """A dump of ``threads`` threads, one of them running an event loop with
    ``tasks`` tasks each parked two coroutines deep, with the asyncio
    section (the default of a timeout dump) and without it (today's), timed
    in turns from the main thread while the loop sits in its selector."""
    import asyncio
    import faulthandler_auto

    async def leaf(forever):
        await forever.wait()

    async def task(forever):
        await leaf(forever)

    async def serve(started):
        forever = asyncio.Event()
        for _ in range(int(tasks)):
            asyncio.create_task(task(forever))
        for _ in range(3):
            await asyncio.sleep(0)
        started.set()
        await forever.wait()

    started = threading.Event()
    threading.Thread(target=asyncio.run, args=(serve(started),), daemon=True).start()
    park_threads(int(threads) - 2, 10)
    started.wait()
    time.sleep(0.2)  # the loop reaches its selector: nothing runs after that
    faulthandler_auto.set_output(max_frames=CPYTHON_MAX_FRAMES, max_threads=CPYTHON_MAX_THREADS)
    times = {"with": [], "without": []}
    size = {}
    for _ in range(int(reps)):
        for name, mode in (("with", None), ("without", False)):
            faulthandler_auto.set_asyncio(mode)
            out = os.open(os.devnull, os.O_WRONLY)
            t0 = time.perf_counter()
            faulthandler_auto.dump_traceback(out, all_threads=True)
            times[name].append(time.perf_counter() - t0)
            os.close(out)
    # the sizes, from a file: a pipe's reader would need the GIL the dump holds
    for name, mode in (("with", None), ("without", False)):
        faulthandler_auto.set_asyncio(mode)
        path = os.path.join(tmpdir, "asyncio-%d.txt" % os.getpid())
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        faulthandler_auto.dump_traceback(out, all_threads=True)
        size[name] = os.fstat(out).st_size
        os.close(out)
        os.unlink(path)
    return {name: {"seconds": statistics.median(v), "bytes": size[name]} for name, v in times.items()}


if __name__ == "__main__":
    result = globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
    print(json.dumps(result), flush=True)
