#!/usr/bin/env python3
"""Put the output of benchmarks/run.py, startup.py or report.py into
README.md, in place of the tables of its last run, so that the README's
numbers are the benchmark's own and never typed by hand.

    python benchmarks/run.py > /tmp/bench.md
    python tools/update-readme-tables.py /tmp/bench.md      # or - for stdin

Each benchmark has its pair of marker comments in README.md (BLOCKS below),
found by the output's title line ("## faulthandler-auto benchmarks: ...");
everything between them is replaced, and the title becomes a sentence
naming the command, machine and date of the run.
"""
import datetime
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
# title of the output -> (command, BEGIN marker, END marker)
BLOCKS = {
    "## faulthandler-auto benchmarks: ": (
        "python benchmarks/run.py",
        "<!-- benchmark tables: written by tools/update-readme-tables.py -->",
        "<!-- end of benchmark tables -->"),
    "## faulthandler-auto start-up budgets: ": (
        "python benchmarks/startup.py",
        "<!-- start-up budget table: written by tools/update-readme-tables.py -->",
        "<!-- end of start-up budget table -->"),
    "## faulthandler-auto report benchmark: ": (
        "python benchmarks/report.py",
        "<!-- report benchmark: written by tools/update-readme-tables.py -->",
        "<!-- end of report benchmark -->"),
}


def block(output, today):
    """(BEGIN, END, the text from BEGIN to END) for a benchmark's output."""
    lines = output.strip("\n").splitlines()
    title = next((t for t in BLOCKS if lines and lines[0].startswith(t)), None)
    if title is None:
        sys.exit("update-readme-tables: not the output of a benchmark (no title %s)"
                 % " or ".join(repr(t) for t in BLOCKS))
    command, begin, end = BLOCKS[title]
    what = lines[0][len(title):]
    body = "\n".join(lines[1:]).strip("\n")
    return begin, end, "%s\n\nOutput of `%s`, %s, on %s:\n\n%s\n\n%s" % (
        begin, command, what, today, body, end)


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    if argv[1] == "-":
        output = sys.stdin.read()
    else:
        with open(argv[1], encoding="utf-8") as f:
            output = f.read()
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    begin, end_marker, text = block(output, today)
    start, end = readme.find(begin), readme.find(end_marker)
    if start < 0 or end < start:
        sys.exit("update-readme-tables: README.md lacks the markers %s ... %s" % (begin, end_marker))
    new = readme[:start] + text + readme[end + len(end_marker):]
    with open(README, "w", encoding="utf-8") as f:
        f.write(new)


if __name__ == "__main__":
    main(sys.argv)
