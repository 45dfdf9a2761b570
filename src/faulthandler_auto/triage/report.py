"""``faulthandler-auto report DIR|FILE...``: which crashes are the same,
how often, since when, on which versions, hosts and programs.

Reads every file under the given directories (not following symbolic
links; FIFOs, devices and unreadable files are counted and skipped), each
one a dump file, a captured stderr or a JSON-lines log in any mix,
gzip-compressed or not, and groups the dumps by event and crash signature
(docs/signature.md): the signature a dump printed, else the one computed
from its frames.
"""
import collections
import datetime
import json
import os
import stat
import sys

from faulthandler_auto.triage import parse, signature

# How many names of a set the table prints before "+N".
SHOWN_NAMES = 3
# Lines of a thread read per dump: the signature's frames (the rest of a
# 100-thread dump is passed over).
SUMMARY_FRAMES = signature.PYTHON_FRAMES
# C stack lines read: the abort() frames the signature may skip, its
# frames, and room for repeat markers among them.
SUMMARY_C_FRAMES = signature.SKIP_WINDOW + 2 * signature.C_FRAMES
# Unreadable files named in the JSON output (the count is always exact).
LISTED_SKIPS = 100


class Group:
    __slots__ = ("event", "signature", "count", "first", "last", "pythons", "hosts", "programs",
                 "signals", "example", "where", "truncated")

    def __init__(self, event, sig, dump):
        self.event = event
        self.signature = sig
        self.count = 0
        self.first = self.last = None
        self.pythons = collections.Counter()
        self.hosts = collections.Counter()
        self.programs = collections.Counter()
        self.signals = collections.Counter()
        self.example = None
        self.where = signature.describe(dump)
        self.truncated = 0

    def add(self, dump, when):
        self.count += 1
        if when is not None:
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when
                self.example = _location(dump)
        if self.example is None:
            self.example = _location(dump)
        self.pythons[dump.python or "?"] += 1
        self.hosts[dump.host or "?"] += 1
        self.programs[dump.program or "?"] += 1
        if dump.signal is not None:
            self.signals[str(dump.signal)] += 1
        self.truncated += dump.truncated

    def as_json(self):
        return {
            "signature": self.signature,
            "event": self.event,
            "count": self.count,
            "first_seen": self.first,
            "last_seen": self.last,
            "where": self.where,
            "signals": dict(self.signals.most_common()),
            "pythons": dict(self.pythons.most_common()),
            "hosts": dict(self.hosts.most_common()),
            "programs": dict(self.programs.most_common()),
            "example": self.example,
            "truncated": self.truncated,
        }


def _location(dump):
    return "%s:%d" % (dump.path, dump.lineno) if dump.lineno and dump.lineno > 1 else dump.path


class Report:
    def __init__(self, events=None):
        self.events = set(events) if events else None
        self.groups = {}
        self.files = 0
        self.dumps = 0
        self.skipped = []       # (path, reason)
        self.skipped_count = 0

    def skip(self, path, reason):
        self.skipped_count += 1
        if len(self.skipped) < LISTED_SKIPS:
            self.skipped.append((path, reason))

    def add_file(self, path):
        try:
            f = parse.open_regular(path)
        except OSError as e:
            self.skip(path, e.strerror or str(e))
            return
        self.files += 1
        with f:
            mtime = None
            try:
                for dump in parse.read_dumps(path, f, SUMMARY_FRAMES, SUMMARY_C_FRAMES):
                    when = dump.time
                    if when is None:
                        if mtime is None:
                            mtime = _iso(os.fstat(f.fileno()).st_mtime)
                        when = mtime
                    self.add_dump(dump, when)
            except OSError as e:
                self.skip(path, e.strerror or str(e))

    def add_dump(self, dump, when):
        event = dump.event or "explicit"
        if self.events is not None and event not in self.events:
            return
        self.dumps += 1
        sig = signature.signature_of(dump) or "-"
        key = (event, sig)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(event, sig, dump)
        group.add(dump, when)

    def add_path(self, path):
        """A file, or every file under a directory (symbolic links inside
        it are not followed: a dump directory is shared and may be hostile)."""
        try:
            st = os.stat(path)
        except OSError as e:
            self.skip(path, e.strerror or str(e))
            return False
        if not stat.S_ISDIR(st.st_mode):
            self.add_file(path)
            return True
        stack = [path]
        while stack:
            top = stack.pop()
            try:
                entries = sorted(os.scandir(top), key=lambda e: e.name)
            except OSError as e:
                self.skip(top, e.strerror or str(e))
                continue
            subdirs = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        self.add_file(entry.path)
                    else:
                        self.skip(entry.path, "symbolic link" if entry.is_symlink() else "not a regular file")
                except OSError as e:
                    self.skip(entry.path, e.strerror or str(e))
            stack.extend(reversed(subdirs))
        return True

    def sorted_groups(self):
        return sorted(self.groups.values(), key=lambda g: (-g.count, g.event, g.signature))

    def as_json(self, top=None):
        groups = self.sorted_groups()
        return {
            "files": self.files,
            "dumps": self.dumps,
            "groups": [g.as_json() for g in groups[:top]],
            "groups_total": len(groups),
            "skipped": self.skipped_count,
            "skipped_files": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def _iso(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _names(counter):
    names = [name for name, _ in counter.most_common()]
    text = ",".join(names[:SHOWN_NAMES])
    if len(names) > SHOWN_NAMES:
        text += " +%d" % (len(names) - SHOWN_NAMES)
    return text


def _printable(text):
    """Names come from the files: no terminal control sequence gets through."""
    return signature.escape(text)


COLUMNS = ("COUNT", "SIGNATURE", "EVENT", "FIRST SEEN", "LAST SEEN", "PYTHON", "HOSTS", "PROGRAMS",
           "WHERE", "EXAMPLE")


def format_table(report, top=None):
    rows = []
    for g in report.sorted_groups()[:top]:
        rows.append((str(g.count), g.signature, g.event, g.first or "?", g.last or "?",
                     _names(g.pythons), _names(g.hosts), _names(g.programs), g.where, g.example or "?"))
    rows = [tuple(_printable(cell) for cell in row) for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(COLUMNS)]
    lines = []
    for row in [COLUMNS] + rows:
        cells = [cell.rjust(widths[0]) if i == 0 else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    summary = "%d dumps in %d groups from %d files" % (report.dumps, len(report.groups), report.files)
    if top is not None and len(report.groups) > top:
        summary += " (%d groups shown)" % top
    if report.skipped_count:
        summary += "; %d files skipped" % report.skipped_count
    lines.append(summary)
    return "\n".join(lines) + "\n"


def add_arguments(parser):
    parser.add_argument("paths", nargs="+", metavar="DIR|FILE",
                        help="dump files, logs (JSON lines, gzip too) or directories holding them")
    parser.add_argument("--json", action="store_true", help="one JSON object for machines")
    parser.add_argument("--event", action="append", choices=parse.EVENTS,
                        help="only dumps of this event (repeatable); default: all")
    parser.add_argument("--top", type=int, metavar="N", help="only the N most frequent groups")


def run(args, stdout=None, stderr=None):
    """Run ``report`` with parsed ``args``; returns the exit status: 0, or
    1 when a named path could not be read."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    report = Report(args.event)
    status = 0
    for path in args.paths:
        if not report.add_path(path):
            stderr.write("faulthandler-auto: report: cannot read %s: %s\n"
                         % (_printable(path), report.skipped[-1][1] if report.skipped else "?"))
            status = 1
    top = args.top if args.top and args.top > 0 else None
    if args.json:
        json.dump(report.as_json(top), stdout)
        stdout.write("\n")
    else:
        stdout.write(format_table(report, top))
    return status
