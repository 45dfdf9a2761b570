#!/usr/bin/env python3
"""Put the output of benchmarks/run.py into README.md, in place of the
tables of the last run, so that the README's numbers are the benchmark's
own and never typed by hand.

    python benchmarks/run.py > /tmp/bench.md
    python tools/update-readme-tables.py /tmp/bench.md      # or - for stdin

Replaces everything between the two marker comments (BEGIN, END below) of
README.md.  The output's title line ("## faulthandler-auto benchmarks: ...")
becomes a sentence naming the interpreter, machine and date of the run.
"""
import datetime
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
BEGIN = "<!-- benchmark tables: written by tools/update-readme-tables.py -->"
END = "<!-- end of benchmark tables -->"
TITLE = "## faulthandler-auto benchmarks: "


def block(output, today):
    lines = output.strip("\n").splitlines()
    if not lines or not lines[0].startswith(TITLE):
        sys.exit("update-readme-tables: not benchmarks/run.py output (no %r title)" % TITLE)
    what = lines[0][len(TITLE):]
    body = "\n".join(lines[1:]).strip("\n")
    return "%s\n\nOutput of `python benchmarks/run.py`, %s, on %s:\n\n%s\n\n%s" % (
        BEGIN, what, today, body, END)


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
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        sys.exit("update-readme-tables: README.md lacks the markers %s ... %s" % (BEGIN, END))
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    new = readme[:start] + block(output, today) + readme[end + len(END):]
    with open(README, "w", encoding="utf-8") as f:
        f.write(new)


if __name__ == "__main__":
    main(sys.argv)
