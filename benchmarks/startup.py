"""The start-up budgets of faulthandler-auto on every interpreter at hand.

    python benchmarks/startup.py [--python PATH ...] [--runs N]

For each interpreter (default: pyenv's 3.9, 3.12 and 3.13 and the sid
root's 3.15, those that exist) builds the wheel, makes benchmarks/run.py's
venvs and counts the instructions of ``python -c pass`` under
``valgrind --tool=callgrind`` for the cases the budgets name, then prints
one table: each ratio against its budget, per version.  Output goes into
the README with tools/update-readme-tables.py.

Then, for PYTHONFAULTHANDLER=1, where the instructions go: the hook line
is replaced by lines that stop after each step (``import sys`` alone, then
importing the start-up module, loading the C core without the package,
then ``start()``, which reads and applies the variable in C, then the real
line), and each row is what that step adds to the one before.

The sid root's interpreters run inside it (tools/sid-root.sh run), which
needs valgrind there; an interpreter that cannot be measured gets a row
saying why.  Nothing here asserts: a budget that is not met shows "no".
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import run  # noqa: E402  (benchmarks/run.py: its venvs, cases and budgets)

TITLE = "## faulthandler-auto start-up budgets: "
PYENV = [os.path.expanduser("~/.pyenv/versions/%s/bin/python" % v) for v in ("3.9.18", "3.12.1", "3.13.0")]
SID_ROOT = "/var/tmp/faulthandler-auto/sid-root"
SID_PYTHONS = ("/opt/sid-venv/py315/bin/python",)  # tools/sid-root.sh build makes it


def measure(python, runs):
    """{case label: instructions} for the cases the budgets name, in this process's venvs."""
    wanted = {label for label in run.BUDGETS} | {other for other, _ in run.BUDGETS.values()}
    work = tempfile.mkdtemp(prefix="fh-startup-")
    try:
        run.prepare(python, work, None)
        return {label: sorted(run.instructions(argv, environ) for _ in range(runs))[runs // 2]
                for label, argv, environ in run.startup_cases(work) if label in wanted}
    finally:
        subprocess.run(["rm", "-rf", work], check=False)


# PYTHONFAULTHANDLER=1 start-up, step by step: (what the step adds, hook line)
STEPS = (
    ("`import sys` .pth (the floor)", "import sys"),
    ("import `_faulthandler_auto_startup`", "import _faulthandler_auto_startup"),
    ("load the C core `_native` (not the package)",
     "import _faulthandler_auto_startup; _faulthandler_auto_startup._core()"),
    ("`start()`: read, check, apply (enable), in C",
     "import _faulthandler_auto_startup; _faulthandler_auto_startup.start()"),
    ("the real line's test instead of none", None),
)


def steps(python, runs):
    """[(step, instructions it adds)] of a PYTHONFAULTHANDLER=1 start-up."""
    work = tempfile.mkdtemp(prefix="fh-startup-")
    try:
        run.prepare(python, work, None)
        pkg = run.venv_python(work, "pkg")
        site = run.run([pkg, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
        hook = os.path.join(site, "faulthandler_auto.pth")
        with open(hook) as f:
            real = f.read()
        environ = run.env(PYTHONFAULTHANDLER="1")
        result, before = [], None
        for label, line in STEPS:
            with open(hook, "w") as f:
                f.write((line + "\n") if line else real)
            run.run([pkg, "-c", "pass"], env=environ)  # writes the byte code caches
            count = sorted(run.instructions([pkg, "-c", "pass"], environ) for _ in range(runs))[runs // 2]
            result.append((label, count if before is None else count - before))
            before = count
        return result
    finally:
        subprocess.run(["rm", "-rf", work], check=False)


def version_of(python, prefix=()):
    return subprocess.run(list(prefix) + [python, "-c", "import sys; print(sys.version.split()[0])"],
                          check=True, capture_output=True, text=True).stdout.strip()


def sid_measure(python, runs):
    """measure() run inside the sid root, whose interpreters need its libraries."""
    tool = os.path.join(ROOT, "tools", "sid-root.sh")
    if subprocess.run([tool, "run", "--", "sh", "-c", "command -v valgrind"],
                      capture_output=True).returncode:
        raise RuntimeError("no valgrind in the sid root (tools/sid-root.sh does not install it)")
    code = ("import json, sys; sys.path.insert(0, %r); import startup; "
            "print(json.dumps([startup.version_of(%r), startup.measure(%r, %d)]))"
            % (HERE, python, python, runs))
    proc = subprocess.run([tool, "run", "--", "python3", "-c", code],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", help="interpreter to measure (repeatable)")
    parser.add_argument("--runs", type=int, default=1, help="callgrind runs per case (median)")
    parser.add_argument("--no-sid", action="store_true", help="leave out the sid root's interpreters")
    parser.add_argument("--no-steps", action="store_true", help="leave out the step-by-step account")
    args = parser.parse_args()
    targets = [(p, None) for p in (args.python or [p for p in PYENV if os.path.exists(p)])]
    if not args.python and not args.no_sid and os.path.isdir(SID_ROOT):
        targets += [(p, "sid") for p in SID_PYTHONS if os.path.exists(SID_ROOT + p)]
    rows, accounts = [], []
    for python, where in targets:
        try:
            if where == "sid":
                version, counts = sid_measure(python, args.runs)
                version += " (sid)"
            else:
                version = version_of(python)
                counts = measure(python, args.runs)
                if not args.no_steps:
                    accounts.append((version, steps(python, args.runs)))
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            rows.append((python, "not measured: %s" % (str(exc).strip()[:120],), "", "", "", ""))
            continue
        for label, (other, budget) in run.BUDGETS.items():
            ratio = counts[label] / counts[other]
            rows.append((version, label, other, "%.4f" % ratio, budget, "yes" if ratio <= budget else "no"))
    print(TITLE + "%s, %s\n" % (os.uname().sysname + " " + os.uname().machine, run.cpu_name()))
    print("Instructions of `python -c pass` (callgrind), %d run(s) per case:\n" % args.runs)
    run.table(["CPython", "case", "compared with", "ratio", "budget", "met"], rows)
    if accounts:
        print("Where a PYTHONFAULTHANDLER=1 start-up goes: the instructions each step adds "
              "(the hook line cut after it; the first row is the whole floor):\n")
        run.table(["step"] + [version for version, _ in accounts],
                  [[label] + ["{:,}".format(account[i][1]) for _, account in accounts]
                   for i, (label, _) in enumerate(STEPS)])

if __name__ == "__main__":
    main()
