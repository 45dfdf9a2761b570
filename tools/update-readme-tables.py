#!/usr/bin/env python3
"""Put the output of benchmarks/run.py into README.md, in place of the
tables of the last run, so that the README's numbers are the benchmark's
own and never typed by hand.

    python benchmarks/run.py > /tmp/bench.md
    python tools/update-readme-tables.py /tmp/bench.md      # or - for stdin

    python benchmarks/report.py > /tmp/report-bench.md
    python tools/update-readme-tables.py /tmp/report-bench.md

Replaces everything between the two marker comments of README.md that
belong to the output's kind (BLOCKS below, told apart by the output's title
line), and makes the title line ("## faulthandler-auto benchmarks: ...")
a sentence naming the interpreter, machine and date of the run.
"""
import datetime
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
# title line of the output -> (begin marker, end marker, the command)
BLOCKS = {
    "## faulthandler-auto benchmarks: ": (
        "<!-- benchmark tables: written by tools/update-readme-tables.py -->",
        "<!-- end of benchmark tables -->", "python benchmarks/run.py"),
    "## faulthandler-auto report benchmark: ": (
        "<!-- report benchmark: written by tools/update-readme-tables.py -->",
        "<!-- end of report benchmark -->", "python benchmarks/report.py"),
}


def block(output, today):
    """(begin, end, the text between and with them) for one output."""
    lines = output.strip("\n").splitlines()
    for title, (begin, end, command) in BLOCKS.items():
        if lines and lines[0].startswith(title):
            break
    else:
        sys.exit("update-readme-tables: not the output of a benchmark (no title of %s)"
                 % ", ".join(repr(t) for t in BLOCKS))
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
