"""Benchmark of ``faulthandler-auto report`` over a fleet's worth of dumps.

    python benchmarks/report.py [--dumps N...] [--dir DIR [--reuse]] > /tmp/report-bench.md
    python tools/update-readme-tables.py /tmp/report-bench.md

with an interpreter that has the package installed (``.tox/py312/bin/python``).

Writes corpora of N dumps (default 10,000 and 100,000) -- several programs, Python
versions, hosts and crash sites, in every form a fleet produces: one text
dump per file named ``{prog}-{host}-{pid}.log``, files with several dumps
appended, JSON dumps, gzip-compressed dumps, and JSON-lines logs of a log
shipper (``{"log": ..., "host": ...}``) with other lines between the
dumps, plus a few damaged files -- then times ``report`` over it, in
process (parsing and grouping alone) and as the installed command when
there is one, and prints a Markdown table (files per second of CPU and
of wall time) that tools/update-readme-tables.py puts into the README.
Nothing here asserts on a time.

``make_corpus`` is also what tests/test_triage.py reports over; it returns
the number of dumps written per crash site, which is what the report must
find.
"""
import argparse
import collections
import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time

PYTHONS = ("3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")
PROGRAMS = ("worker.py", "api", "etl-job", "manage.py")
HOSTS = tuple("web-%d" % i for i in range(1, 41)) + tuple("batch-%d" % i for i in range(1, 9))
LIB = "/usr/lib/x86_64-linux-gnu"

# Crash sites: event, signal, innermost-first Python frames (file, function)
# and C frames (module, symbol or None).  Each site is one expected group.
SITES = (
    ("fatal_signal", "SIGSEGV", [("/app/parsers/fast.py", "parse_row"), ("/app/jobs.py", "run"),
                                 ("/app/main.py", "<module>")],
     [("%s/libfastcsv.so.2" % LIB, None), ("%s/libfastcsv.so.2" % LIB, "csv_parse_row"),
      ("/app/_speedups.cpython-311-x86_64-linux-gnu.so", None)]),
    ("fatal_signal", "SIGSEGV", [("/usr/lib/python3/ctypes/__init__.py", "string_at"),
                                 ("/app/native.py", "peek"), ("/app/main.py", "<module>")],
     [("/lib/x86_64-linux-gnu/libc.so.6", None), ("/usr/lib/python3/lib-dynload/_ctypes.so", None),
      ("%s/libffi.so.8" % LIB, "ffi_call")]),
    ("fatal_signal", "SIGABRT", [("/app/db.py", "commit"), ("/app/jobs.py", "run")],
     [("/lib/x86_64-linux-gnu/libc.so.6", None), ("/lib/x86_64-linux-gnu/libc.so.6", "gsignal"),
      ("/lib/x86_64-linux-gnu/libc.so.6", "abort"), ("%s/libsqlite3.so.0" % LIB, "sqlite3_step"),
      ("/usr/lib/python3/lib-dynload/_sqlite3.so", None)]),
    ("fatal_signal", "SIGBUS", [("/app/mmapcache.py", "load"), ("/app/main.py", "<module>")],
     [("/lib/x86_64-linux-gnu/libc.so.6", "memcpy"), ("/app/_cache.so", "cache_load")]),
    ("fatal_signal", "SIGFPE", [("/app/stats.py", "ratio"), ("/app/report.py", "build"),
                                ("/app/main.py", "<module>")],
     [("/app/_stats.so", "stats_ratio"), ("/usr/lib/libpython3.so", "_PyEval_EvalFrameDefault")]),
    ("fatal_signal", "SIGSEGV", [("/app/render.py", "draw"), ("/app/main.py", "<module>")],
     [("/app/_gfx.so", "gfx_draw"), ("/app/_gfx.so", "gfx_draw"), ("/app/_gfx.so", "gfx_draw")]),
    ("timeout", None, [("/usr/lib/python3/threading.py", "wait"), ("/app/queue.py", "get"),
                       ("/app/worker.py", "loop")], []),
    ("timeout", None, [("/usr/lib/python3/socket.py", "recv_into"), ("/app/http.py", "read"),
                       ("/app/worker.py", "loop")], []),
)
# How often each site happens, relatively: a fleet has a few big crashes
# and a long tail.
WEIGHTS = (40, 25, 12, 8, 6, 4, 3, 2)


def _thread_id(rng):
    return 0x7f0000000000 + rng.randrange(1 << 32) * 0x1000


# What sits below the crash site on every C stack: the interpreter's eval
# loop and start-up (today's dumps list them all, with build ids).
C_TAIL = [("/usr/lib/libpython3.so", "_PyEval_EvalFrameDefault")] * 4 + [
    ("/usr/lib/libpython3.so", "PyEval_EvalCode"), ("/usr/lib/libpython3.so", None),
    ("/usr/lib/libpython3.so", "PyRun_SimpleFileExFlags"), ("/usr/lib/libpython3.so", "Py_RunMain"),
    ("/usr/lib/libpython3.so", "Py_BytesMain"), ("/lib/x86_64-linux-gnu/libc.so.6", None),
    ("/lib/x86_64-linux-gnu/libc.so.6", "__libc_start_main"), ("/usr/bin/python3", "_start")]


def _build_id(module):
    return hashlib.sha1(module.encode()).hexdigest()


def text_dump(rng, site, python, program, pid, when, host="web-1", legacy=False):
    """A text dump laid out as today's core writes it (CPython's lines
    first, ours after the frames); a `legacy` one, as an older version
    wrote it, has no host and no crash signature (report computes it)."""
    event, sig, pyframes, cframes = site
    lines = []
    fatal = event == "fatal_signal"
    if fatal:
        error = {"SIGSEGV": "Segmentation fault", "SIGABRT": "Aborted", "SIGBUS": "Bus error",
                 "SIGFPE": "Floating-point exception"}[sig]
        lines.append("Fatal Python error: %s" % error)
        lines.append("")
        lines.append("Current thread 0x%016x [MainThread] (most recent call first):" % _thread_id(rng))
    else:
        lines.append("Timeout (0:05:00)!")
        lines.append("Thread 0x%016x [MainThread] (most recent call first):" % _thread_id(rng))
    for file, function in pyframes:
        lines.append('  File "%s", line %d in %s' % (file, rng.randrange(1, 900), function))
    for n in range(rng.randrange(0, 4)):
        lines.append("")
        lines.append("Thread 0x%016x [worker-%d] (most recent call first):" % (_thread_id(rng), n))
        lines.append('  File "/usr/lib/python3/threading.py", line 327 in wait')
        lines.append('  File "/usr/lib/python3/threading.py", line 1002 in _bootstrap')
    lines.append("")
    if fatal:
        lines.append("Signal: %s, SEGV_MAPERR (address not mapped to object), fault address 0x0" % sig)
    lines.append('Process: pid %d, program "%s", Python %s, time %s%s'
                 % (pid, program, python, when, "" if legacy else ", host " + host))
    signature_at = len(lines)
    if cframes:
        lines.append("")
        lines.append("Current thread's C stack trace (most recent call first):")
        for module, symbol in cframes + C_TAIL:
            address = 0x7f0000000000 + rng.randrange(1 << 36)
            at = ", at %s+0x%x" % (symbol, rng.randrange(0x400)) if symbol else ""
            lines.append('  Binary file "%s"%s [0x%x] (+0x%x, build-id %s)'
                         % (module, at, address, address & 0xfffff, _build_id(module)))
        lines.append("")
        lines.append("Extension modules: numpy._core._multiarray_umath, _speedups (total: 2)")
    if fatal and not legacy:
        # the core signs every fatal dump as the reference implementation does
        from faulthandler_auto.triage import parse, signature
        (dump,) = parse.iter_dumps(lines)
        lines.insert(signature_at, "Crash signature: %s" % signature.compute(dump))
    return "\n".join(lines) + "\n"


def json_dump(rng, site, python, program, pid, when, host="web-1", legacy=False):
    event, sig, pyframes, cframes = site
    obj = {"schema": "faulthandler-auto-dump-1", "event": event, "signal": sig, "pid": pid,
           "time": when, "python": python, "program": program, "host": host,
           "threads": [{"id": _thread_id(rng), "name": "MainThread", "current": True,
                        "frames": [{"file": f, "line": rng.randrange(1, 900), "function": fn}
                                   for f, fn in pyframes],
                        "frames_omitted": 0}],
           "threads_omitted": 0}
    if cframes:
        obj["c_stack"] = []
        for module, symbol in cframes + C_TAIL:
            address = 0x7f0000000000 + rng.randrange(1 << 36)
            obj["c_stack"].append({"binary": module, "symbol": symbol, "offset": 16 if symbol else 0,
                                   "address": "0x%x" % address, "module_offset": "0x%x" % (address & 0xfffff),
                                   "build_id": _build_id(module)})
    obj["extension_modules"] = []
    if event == "fatal_signal" and not legacy:
        from faulthandler_auto.triage import parse, signature
        obj["signature"] = signature.compute(parse.dump_from_json(obj))
    return json.dumps(obj, separators=(",", ":")) + "\n"


def make_corpus(directory, dumps=10000, seed=0):
    """Write ``dumps`` dumps under ``directory``; returns a Counter of
    dumps per site index, and a dict of site index -> set of hosts, pythons
    and programs written for it."""
    rng = random.Random(seed)
    counts = collections.Counter()
    seen = collections.defaultdict(lambda: (set(), set(), set()))
    start = 1_780_000_000
    log_lines = collections.defaultdict(list)
    os.makedirs(directory, exist_ok=True)
    pid = 1000
    written = 0
    while written < dumps:
        site_index = rng.choices(range(len(SITES)), WEIGHTS)[0]
        site = SITES[site_index]
        python = rng.choice(PYTHONS)
        program = rng.choice(PROGRAMS)
        host = rng.choice(HOSTS)
        pid += rng.randrange(1, 50)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + written * 37))
        form = rng.random()
        # one dump in five from an older version or in CPython's format: no
        # host, no signature (report computes it)
        legacy = rng.random() < 0.2
        # a REPEAT timeout writes the same hang several times into one file
        repeat = min(rng.choice((1, 1, 2, 3)), dumps - written) if site[0] == "timeout" else 1
        for _ in range(repeat):
            counts[site_index] += 1
            hosts, pythons, programs = seen[site_index]
            hosts.add(host)
            pythons.add(python)
            programs.add(program)
        written += repeat
        name = os.path.join(directory, host, "%s-%s-%d.log" % (program, host, pid))
        if form < 0.1:
            # shipped by the log collector: one JSON-lines file per day
            day = when[:10]
            body = json_dump(rng, site, python, program, pid, when, host, legacy)
            for _ in range(repeat):
                log_lines[day].append(json.dumps({"log": body, "host": host, "stream": "stderr"}))
                log_lines[day].append(json.dumps({"log": "GET /health 200\n", "host": host}))
            continue
        maker = json_dump if form < 0.3 else text_dump
        body = "".join(maker(rng, site, python, program, pid, when, host, legacy) for _ in range(repeat))
        os.makedirs(os.path.dirname(name), exist_ok=True)
        if form > 0.9:
            with gzip.open(name + ".gz", "wt") as f:
                f.write(body)
        else:
            with open(name, "w") as f:
                f.write(body)
    logs = os.path.join(directory, "shipped")
    os.makedirs(logs, exist_ok=True)
    for day, lines in log_lines.items():
        with open(os.path.join(logs, "fleet-%s.jsonl" % day), "w") as f:
            f.write("\n".join(lines) + "\n")
    # files that are not dumps, or damaged ones: counted, never a group
    with open(os.path.join(directory, "junk.bin"), "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(4096)))
    with open(os.path.join(directory, "README.txt"), "w") as f:
        f.write("dumps of the fleet\n")
    return counts, dict(seen)


def time_in_process(directory, jobs):
    """(Report, wall seconds, CPU seconds of this process and its workers)."""
    from faulthandler_auto.triage import report
    r = report.Report(jobs=jobs)
    before = os.times()
    t0 = time.perf_counter()
    r.add_paths([directory])
    elapsed = time.perf_counter() - t0
    after = os.times()
    cpu = sum(after[i] - before[i] for i in range(4))
    return r, elapsed, cpu


def report_jobs():
    from faulthandler_auto.triage import report
    return report.default_jobs()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dumps", type=int, nargs="+", default=[10000, 100000],
                        help="corpus sizes (default: 10000 100000)")
    parser.add_argument("--dir", help="keep the corpora under this directory, one per size "
                                      "(default: a temporary directory)")
    parser.add_argument("--reuse", action="store_true", help="time the corpora already in --dir")
    args = parser.parse_args()
    import platform
    import sys
    top = args.dir or tempfile.mkdtemp(prefix="fa-report-")
    print("## faulthandler-auto report benchmark: CPython %s, %s %s, %d CPUs, load average %.1f at the start\n"
          % (platform.python_version(), platform.system(), platform.machine(), os.cpu_count() or 1,
             os.getloadavg()[0]))
    print("`faulthandler-auto report` over generated fleet corpora (benchmarks/report.py): CPU is "
          "the time of the reading processes, which the machine's load does not inflate much; wall "
          "time is what a user waits and depends on the load.\n")
    print("| dumps | files | groups | run | CPU s | wall s | files/s of CPU | files/s wall | dumps/s wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for size in args.dumps:
            directory = os.path.join(top, "corpus-%d" % size)
            if not (args.reuse and os.path.isdir(directory) and os.listdir(directory)):
                shutil.rmtree(directory, ignore_errors=True)
                make_corpus(directory, size)
            for jobs in sorted({1, report_jobs()}):
                r, elapsed, cpu = time_in_process(directory, jobs)
                print("| %d | %d | %d | in process, %d job%s | %.2f | %.2f | %.0f | %.0f | %.0f |"
                      % (r.dumps, r.files, len(r.groups), jobs, "s" if jobs > 1 else "", cpu, elapsed,
                         r.files / cpu, r.files / elapsed, r.dumps / elapsed))
                sys.stdout.flush()
            command = shutil.which("faulthandler-auto")
            if command:
                before = os.times()
                t0 = time.perf_counter()
                subprocess.run([command, "report", "--json", directory], stdout=subprocess.DEVNULL, check=False)
                elapsed = time.perf_counter() - t0
                after = os.times()
                cpu = (after[2] - before[2]) + (after[3] - before[3])
                print("| %d | %d | %d | `faulthandler-auto report --json` | %.2f | %.2f | %.0f | %.0f | %.0f |"
                      % (r.dumps, r.files, len(r.groups), cpu, elapsed, r.files / cpu, r.files / elapsed,
                         r.dumps / elapsed))
                sys.stdout.flush()
    finally:
        if not args.dir:
            shutil.rmtree(top)


if __name__ == "__main__":
    main()
