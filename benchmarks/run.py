"""Benchmarks of faulthandler-auto against CPython's faulthandler.

    python benchmarks/run.py [--quick] [--python PATH] [--wheel WHEEL]

Builds a wheel from this checkout with the chosen interpreter (or takes
``--wheel``), makes three venvs without pip — bare, bare plus an empty
``.pth`` file, and one with the wheel installed so that the real
``faulthandler_auto.pth`` hook runs — and measures, in one run:

1. Start-up of ``python -c pass``: instructions counted by
   ``valgrind --tool=callgrind`` (deterministic: children run with
   ``PYTHONHASHSEED=0`` and a fixed small environment) and the median wall
   time of repeated runs; plus what the hook imports when the variables are
   set (``-X importtime``).  "all variables" is PYTHONFAULTHANDLER=1,
   PYTHONFAULTHANDLER_TIMEOUT=600, PYTHONFAULTHANDLER_SIGNAL=USR1 and
   PYTHONFAULTHANDLER_PATH=<tmp>/{pid}.log.  The "empty .pth" row is the
   floor of any ``.pth`` hook: what ``site`` spends opening and reading a
   file that runs nothing.
2. One ``dump_traceback(fd, all_threads=True)`` of threads x frames (each
   thread recursing to the depth, then waiting; the main thread dumps from
   the same depth) to a file, to /dev/null, to a pipe drained by a fast
   reader and to one drained by a slow reader (4 KiB per ms): median wall
   time, the ratio of ours to CPython's, bytes written and ``write()`` calls
   on the dump's descriptor (counted in a second run under
   ``strace -f -e trace=write``, between marker writes).  Both dumps stop at
   CPython's limits, 100 threads and 100 frames per thread, so every row
   compares the same dump (ours adds its header lines and thread names).
3. Fatal dump latency: a child with 100 threads writes ``time.monotonic()``
   to a pipe, then reads address 0; the parent takes the time at which
   ``waitpid`` returns.  "no handler" is the cost of dying alone.
4. Resident memory added in a fresh process by ``enable()`` +
   ``dump_traceback_later(600)`` + ``register(SIGUSR1)`` (deltas of
   /proc/self/smaps_rollup), and by importing the package first.  Rss
   counts pages of shared libraries (libpython, libc, libgcc_s) touched for
   the first time, which every process shares; Private_Dirty is what the
   process alone pays.

Tables are Markdown.  Times vary with the machine and its load; the ratios
and instruction counts are what to compare.  Nothing here asserts on a time.
"""
import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHILD = os.path.join(HERE, "_child.py")
SIZES = [(1, 10), (10, 100), (100, 100), (4, 1000)]
# target -> how a table names it
TARGETS = {"file": "file", "/dev/null": "/dev/null",
           "pipe-fast": "pipe, fast reader", "pipe-slow": "pipe, slow reader"}
IMPLS = ("ours", "cpython")
CRASH_IMPLS = ("no handler", "cpython", "ours", "ours-nocstack")


def env(**extra):
    """A small fixed environment, so runs compare: no inherited PYTHON* variable."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    base.update(extra)
    return base


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


def venv_python(work, name):
    return os.path.join(work, name, "bin", "python")


def prepare(python, work, wheel):
    """Build the wheel unless given, make the venvs, install the wheel without pip in the venv."""
    if wheel is None:
        src = os.path.join(work, "src")
        shutil.copytree(os.path.join(ROOT, "src"), os.path.join(src, "src"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
        for name in os.listdir(ROOT):
            if os.path.isfile(os.path.join(ROOT, name)):
                shutil.copy(os.path.join(ROOT, name), src)
        run([python, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work, src])
        wheel = glob.glob(os.path.join(work, "*.whl"))[0]
    for name in ("bare", "emptypth", "importpth", "pkg"):
        run([python, "-m", "venv", "--without-pip", os.path.join(work, name)])
    site = lambda name: run([venv_python(work, name), "-c",
                             "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    open(os.path.join(site("emptypth"), "empty.pth"), "w").close()
    with open(os.path.join(site("importpth"), "importsys.pth"), "w") as f:
        f.write("import sys\n")
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", site("pkg"), wheel])
    return wheel


def median(values):
    return statistics.median(values)


def table(headers, rows):
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()


# 1. start-up ------------------------------------------------------------------

# A realistic environment is not empty: the hook's cheap test scans every name.
FORTY = {"BENCH_VARIABLE_%02d" % i: "value-%02d" % i for i in range(40)}
# label of the case -> (label of the case it is compared with, budget of the ratio)
FLOOR = "`import sys` .pth, 40 variables (floor of any hook)"
BUDGETS = {
    "package, no variable, 40 variables": (FLOOR, 1.005),
    "package, PYTHONFAULTHANDLER=1": ("bare venv", 1.06),
    "package, all variables": ("bare venv", 1.08),
}


def startup_cases(work):
    bare, pkg = venv_python(work, "bare"), venv_python(work, "pkg")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir, exist_ok=True)
    all_vars = dict(PYTHONFAULTHANDLER="1", PYTHONFAULTHANDLER_TIMEOUT="600",
                    PYTHONFAULTHANDLER_SIGNAL="USR1",
                    PYTHONFAULTHANDLER_PATH=os.path.join(logdir, "{pid}.log"))
    return [  # label, argv, environment
        ("bare venv", [bare, "-c", "pass"], env()),
        ("bare venv, -X faulthandler", [bare, "-X", "faulthandler", "-c", "pass"], env()),
        ("bare venv + empty .pth (floor of any .pth)",
         [venv_python(work, "emptypth"), "-c", "pass"], env()),
        (FLOOR, [venv_python(work, "importpth"), "-c", "pass"], env(**FORTY)),
        ("package, no variable", [pkg, "-c", "pass"], env()),
        ("package, no variable, 40 variables", [pkg, "-c", "pass"], env(**FORTY)),
        ("package, PYTHONFAULTHANDLER=1", [pkg, "-c", "pass"], env(PYTHONFAULTHANDLER="1")),
        ("package, -X faulthandler", [pkg, "-X", "faulthandler", "-c", "pass"], env()),
        ("package, all variables", [pkg, "-c", "pass"], env(**all_vars)),
        ("package, no variable, -c 'import faulthandler_auto'",
         [pkg, "-c", "import faulthandler_auto"], env()),
    ]


def instructions(argv, environ):
    err = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + argv,
              env=environ).stderr
    return int(re.search(r"Collected : (\d+)", err).group(1))


def wall_times(cases, runs):
    times = {label: [] for label, _, _ in cases}
    for _ in range(runs):  # interleaved, so drift hits every case alike
        for label, argv, environ in cases:
            t0 = time.perf_counter()
            subprocess.run(argv, env=environ, check=True)
            times[label].append(time.perf_counter() - t0)
    return {label: median(v) for label, v in times.items()}


def imports(argv, environ, runs):
    """{module: (self µs, cumulative µs)}, medians of ``runs`` -X importtime runs."""
    samples = {}
    for _ in range(runs):
        err = run(argv[:1] + ["-X", "importtime"] + argv[1:], env=environ).stderr
        for m in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", err):
            samples.setdefault((m.group(3), m.group(4)), []).append((int(m.group(1)), int(m.group(2))))
    return {k: (median(s for s, _ in v), median(c for _, c in v)) for k, v in samples.items()}


def bench_startup(work, quick):
    cases = startup_cases(work)
    base = cases[0][0]
    counts = {label: median(instructions(argv, e) for _ in range(1 if quick else 3))
              for label, argv, e in cases}
    walls = wall_times(cases, 5 if quick else 40)
    print("### Start-up of `python -c pass`\n")
    table(["case", "instructions", "× bare", "wall ms (median)", "× bare"],
          [(label, "{:,}".format(int(counts[label])), "%.4f" % (counts[label] / counts[base]),
            "%.2f" % (walls[label] * 1e3), "%.3f" % (walls[label] / walls[base]))
           for label, _, _ in cases])
    _, argv, with_vars = next(c for c in cases if c[0] == "package, all variables")
    added = imports(argv, with_vars, 3 if quick else 7)
    plain = imports(argv, env(), 1)
    new = sorted(((k, v) for k, v in added.items() if k[1] not in {n for _, n in plain}),
                 key=lambda kv: -kv[1][0])
    print("Modules imported only when the variables are set (`-X importtime`, median µs; "
          "indent = nesting):\n")
    table(["module", "self µs", "cumulative µs"],
          [("`%s%s`" % ("·" * len(k[0]), k[1]), v[0], v[1]) for k, v in new[:12]])
    print("Start-up budgets (instruction ratios):\n")
    table(["case", "compared with", "ratio", "budget", "met"],
          [(label, other, "%.4f" % (counts[label] / counts[other]), budget,
            counts[label] / counts[other] <= budget)
           for label, (other, budget) in BUDGETS.items()])
    return {label: counts[label] / counts[base] for label in counts}


# 2. dump cost -----------------------------------------------------------------

def count_writes(strace_file):
    """{(impl, target): [write calls, bytes]} on the dump's descriptor, between markers."""
    counts, current, pending = {}, None, set()
    with open(strace_file) as f:
        for line in f:
            pid, _, call = line.partition(" ")
            call = call.strip()
            if call.startswith("write("):
                if '"BENCH ' in call:
                    words = call.split('"')[1].replace("\\n", "").split()
                    current = None if words[1] == "end" else ((words[1], words[2]), words[3])
                    continue
                if current is None or call[6:].split(",")[0] != current[1]:
                    continue
                c = counts.setdefault(current[0], [0, 0])
                c[0] += 1
                if call.endswith("<unfinished ...>"):
                    pending.add(pid)
                    continue
            elif call.startswith("<... write resumed>") and pid in pending:
                pending.discard(pid)
            else:
                continue
            c[1] += max(0, int(call.rsplit("= ", 1)[1].split()[0]))
    return counts


def bench_dumps(work, quick):
    pkg = venv_python(work, "pkg")
    reps = 3 if quick else 15
    results = {}
    for threads, frames in SIZES:
        args = [pkg, CHILD, "dump", str(threads), str(frames)]
        timed = json.loads(run(args + [str(reps), work], env=env()).stdout)
        trace = os.path.join(work, "strace.txt")
        run(["strace", "-f", "-e", "trace=write", "-o", trace] + args + ["1", work], env=env())
        writes = count_writes(trace)
        results[threads, frames] = {tuple(k.split("|")): dict(v, writes=writes[tuple(k.split("|"))][0])
                                    for k, v in timed.items()}
    print("### One `dump_traceback(all_threads=True)`: ours vs CPython's\n")
    rows = []
    for (threads, frames), r in results.items():
        for target in TARGETS:
            o, c = r["ours", target], r["cpython", target]
            rows.append(("%d × %d" % (threads, frames), TARGETS[target],
                         "%.3f" % (o["seconds"] * 1e3), "%.3f" % (c["seconds"] * 1e3),
                         "%.3f" % (o["seconds"] / c["seconds"]),
                         "{:,}".format(o["bytes"]), "{:,}".format(c["bytes"]),
                         "%.2f" % (o["bytes"] / c["bytes"]),
                         "{:,}".format(o["writes"]), "{:,}".format(c["writes"])))
    print("Both stop at 100 threads and 100 frames per thread (CPython's limits).\n")
    table(["threads × frames", "to", "ours ms", "CPython ms", "time ours / CPython",
           "ours bytes", "CPython bytes", "bytes ours / CPython", "ours write()", "CPython write()"],
          rows)
    return results


def bench_asyncio(work, quick):
    """The asyncio section's cost: a dump of 100 threads, one running a loop
    with 1,000 tasks, with the section and without it (today's dump)."""
    pkg = venv_python(work, "pkg")
    reps = 3 if quick else 15
    r = json.loads(run([pkg, CHILD, "asyncio", "100", "1000", str(reps), work], env=env()).stdout)
    print("### A dump of 100 threads, one running an event loop with 1,000 tasks: "
          "with the asyncio section and without\n")
    print("To /dev/null, limits 100 frames and 100 threads: 100 of the loop's 1,001 tasks shown "
          "(3 coroutines each), the rest counted.\n")
    w, wo = r["with"], r["without"]
    row = lambda name, seconds, size: (name, "%.3f" % (seconds * 1e3), "{:,}".format(size))
    table(["dump", "ms", "bytes"],
          [row("without the asyncio section (today's)", wo["seconds"], wo["bytes"]),
           row("with it (the default of timeout and signal dumps)", w["seconds"], w["bytes"]),
           row("added", w["seconds"] - wo["seconds"], w["bytes"] - wo["bytes"])])
    return r


# 3. fatal dump latency --------------------------------------------------------

def no_core_dump():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def crash_latency(pkg, impl, work):
    out = os.path.join(work, "crash.txt")
    r, w = os.pipe()
    child = subprocess.Popen([pkg, CHILD, "crash", impl, "100", out, str(w)], pass_fds=[w],
                             env=env(), stderr=subprocess.DEVNULL, preexec_fn=no_core_dump)
    os.close(w)
    fault = float(os.read(r, 64))
    child.wait()
    latency = time.monotonic() - fault
    os.close(r)
    return latency, child.returncode, os.path.getsize(out)


def bench_crash(work, quick):
    pkg = venv_python(work, "pkg")
    samples = {impl: [] for impl in CRASH_IMPLS}
    for _ in range(3 if quick else 15):
        for impl in CRASH_IMPLS:
            samples[impl].append(crash_latency(pkg, impl, work))
    print("### Fatal dump latency, SIGSEGV with 100 threads alive (fault → waitpid returns)\n")
    table(["handler", "median ms", "min ms", "dump bytes", "exit status"],
          [(impl, "%.2f" % (median(s[0] for s in v) * 1e3), "%.2f" % (min(s[0] for s in v) * 1e3),
            "{:,}".format(v[0][2]), v[0][1]) for impl, v in samples.items()])


# 4. memory --------------------------------------------------------------------

def bench_memory(work, quick):
    pkg = venv_python(work, "pkg")
    results = {}
    for impl in IMPLS:
        runs = [json.loads(run([pkg, CHILD, "memory", impl], env=env()).stdout)
                for _ in range(1 if quick else 5)]
        results[impl] = {(part, k): median(r[part][k] for r in runs)
                         for part in ("import", "calls") for k in runs[0][part]}
    print("### Resident memory added by enable() + dump_traceback_later(600) + register(SIGUSR1), KiB\n")
    total = lambda r, k: r["import", k] + r["calls", k]
    table(["", "import Rss", "calls Rss", "total Rss", "total Pss", "total Private_Dirty"],
          [(impl, r["import", "Rss"], r["calls", "Rss"], total(r, "Rss"), total(r, "Pss"),
            total(r, "Private_Dirty")) for impl, r in results.items()])
    return results["ours"]


# ------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure")
    parser.add_argument("--wheel", help="use this wheel instead of building one")
    parser.add_argument("--only", choices=("startup", "memory", "asyncio"),
                        help="run only this part (the start-up budgets, memory, or the asyncio section)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="fh-bench-")
    try:
        prepare(args.python, work, args.wheel)
        version = run([args.python, "-c", "import sys; print(sys.version.split()[0])"]).stdout.strip()
        print("## faulthandler-auto benchmarks: CPython %s, %s, %s%s\n" % (
            version, os.uname().sysname + " " + os.uname().machine, cpu_name(),
            " (--quick)" if args.quick else ""))
        if args.only:
            {"startup": bench_startup, "memory": bench_memory,
             "asyncio": bench_asyncio}[args.only](work, args.quick)
            return
        startup = bench_startup(work, args.quick)
        dumps = bench_dumps(work, args.quick)
        bench_asyncio(work, args.quick)
        bench_crash(work, args.quick)
        memory = bench_memory(work, args.quick)
        report_targets(startup, dumps, memory)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            name = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        name = "unknown CPU"
    return "%s, %d CPUs" % (name, os.cpu_count())


def report_targets(startup, dumps, memory):
    big = dumps[100, 100]["ours", "file"]
    time_ratio = big["seconds"] / dumps[100, 100]["cpython", "file"]["seconds"]
    per_4k = big["writes"] / max(1, -(-big["bytes"] // 4096))
    total = {k: memory["import", k] + memory["calls", k] for k in ("Rss", "Private_Dirty")}
    print("### Targets\n")
    table(["target", "measured", "met"], [
        ("dump 100 × 100 to a file ≤ 0.05 × CPython's time", "%.4f" % time_ratio, time_ratio <= 0.05),
        ("dump 100 × 100 ≤ 1 write() per 4 KiB", "%.2f per 4 KiB" % per_4k, per_4k <= 1),
        ("memory (import + calls) ≤ 256 KiB Rss", "%d KiB" % total["Rss"], total["Rss"] <= 256),
        ("memory (import + calls) ≤ 256 KiB Private_Dirty", "%d KiB" % total["Private_Dirty"],
         total["Private_Dirty"] <= 256),
    ])


if __name__ == "__main__":
    main()
