"""``faulthandler-auto report DIR|FILE...``: which crashes are the same,
how often, since when, on which versions, hosts and programs.

Reads every file under the given directories (not following symbolic
links; FIFOs, devices and unreadable files are counted and skipped), each
one a dump file, a captured stderr or a JSON-lines log in any mix,
gzip-compressed or not, and groups the dumps by event and crash signature
(docs/signature.md): the signature a dump printed, else the one computed
from its frames.
"""
import argparse
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
# Worker processes at most (--jobs), and files per batch sent to one.
MAX_JOBS = 8
BATCH = 256
# Unreadable files named in the JSON output (the count is always exact).
LISTED_SKIPS = 100


def summarize_file(path, described):
    """(records, None) for the dumps of one file, or (records read so far,
    reason) when it cannot be read.  A record is what ``report`` keeps of a
    dump, as a tuple (cheap to send back from a worker process): event,
    signature, time, python, host, program, signal, truncated, location,
    where (words for the crash site, only in the first record of a group:
    ``described`` holds the (event, signature) pairs described so far)."""
    records = []
    mtime = None
    try:
        for dump in parse.read_dumps(path, None, SUMMARY_FRAMES, SUMMARY_C_FRAMES):
            when = dump.time
            if when is None:
                if mtime is None:
                    mtime = _iso(os.stat(path, follow_symlinks=False).st_mtime)
                when = mtime
            event = dump.event or "explicit"
            # a dump that printed its signature is grouped without its C
            # stack being parsed (parse reads it only when asked)
            sig = signature.signature_of(dump) or "-"
            # a group is described by its first dump: the rest need no words
            where = None
            if (event, sig) not in described:
                described.add((event, sig))
                where = signature.describe(dump)
            records.append((
                event, sig, when, dump.python, dump.host, dump.program,
                None if dump.signal is None else str(dump.signal), dump.truncated, _location(dump),
                where))
    except OSError as e:
        return records, e.strerror or str(e)
    return records, None


_worker_described = set()


def _worker_init():
    _worker_described.clear()


def _summarize_files(paths):
    """Worker: the records and failures of some files."""
    return [(path,) + summarize_file(path, _worker_described) for path in paths]


class Group:
    __slots__ = ("event", "signature", "count", "first", "last", "pythons", "hosts", "programs",
                 "signals", "example", "where", "truncated")

    def __init__(self, record):
        self.event = record[0]
        self.signature = record[1]
        self.count = 0
        self.first = self.last = None
        self.pythons = collections.Counter()
        self.hosts = collections.Counter()
        self.programs = collections.Counter()
        self.signals = collections.Counter()
        self.example = None
        self.where = record[9]
        self.truncated = 0

    def add(self, record):
        _, _, when, python, host, program, sig, truncated, location, where = record
        if self.where is None:
            self.where = where
        self.count += 1
        if self.first is None or when < self.first:
            self.first = when
        if self.last is None or when >= self.last:
            self.last = when
            self.example = location
        self.pythons[python or "?"] += 1
        self.hosts[host or "?"] += 1
        self.programs[program or "?"] += 1
        if sig is not None:
            self.signals[sig] += 1
        self.truncated += truncated

    def as_json(self):
        return {
            "signature": self.signature,
            "event": self.event,
            "count": self.count,
            "first_seen": self.first,
            "last_seen": self.last,
            "where": self.where,
            "signals": dict(self.signals.most_common()),
            "pythons": dict(sorted(self.pythons.items(), key=_version_key)),
            "hosts": dict(self.hosts.most_common()),
            "programs": dict(self.programs.most_common()),
            "example": self.example,
            "truncated": self.truncated,
        }


def _version_key(item):
    return [int(p) if p.isdigit() else -1 for p in item[0].replace("+", ".").split(".")], item[0]


def _location(dump):
    return "%s:%d" % (dump.path, dump.lineno) if dump.lineno and dump.lineno > 1 else dump.path


def default_jobs():
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_JOBS, cpus))


class Report:
    def __init__(self, events=None, jobs=1):
        self.events = set(events) if events else None
        self.jobs = jobs
        self.groups = {}
        self.files = 0
        self.dumps = 0
        self.skipped = []       # (path, reason)
        self.skipped_count = 0

    def skip(self, path, reason):
        self.skipped_count += 1
        if len(self.skipped) < LISTED_SKIPS:
            self.skipped.append((path, reason))

    def add_records(self, path, records, failure):
        if failure is None or records:
            self.files += 1
        if failure is not None:
            self.skip(path, failure)
        for record in records:
            if self.events is not None and record[0] not in self.events:
                continue
            self.dumps += 1
            key = (record[0], record[1])
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = Group(record)
            group.add(record)

    def add_files(self, paths):
        """Read files, in worker processes when there are many."""
        if self.jobs <= 1 or len(paths) < 2 * BATCH:
            described = set()
            for path in paths:
                self.add_records(path, *summarize_file(path, described))
            return
        import concurrent.futures
        batches = [paths[i:i + BATCH] for i in range(0, len(paths), BATCH)]
        with concurrent.futures.ProcessPoolExecutor(self.jobs, initializer=_worker_init) as pool:
            # map keeps the order, so the output does not depend on timing
            for results in pool.map(_summarize_files, batches):
                for path, records, failure in results:
                    self.add_records(path, records, failure)

    def add_paths(self, paths):
        """Files, and every file under directories (symbolic links inside
        them are not followed: a dump directory is shared and may be
        hostile).  Returns the paths that could not be read at all."""
        files = []
        missing = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError as e:
                self.skip(path, e.strerror or str(e))
                missing.append((path, e.strerror or str(e)))
                continue
            if stat.S_ISDIR(st.st_mode):
                self._walk(path, files)
            else:
                files.append(path)
        self.add_files(files)
        return missing

    def _walk(self, path, files):
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
                        files.append(entry.path)
                    else:
                        self.skip(entry.path, "symbolic link" if entry.is_symlink() else "not a regular file")
                except OSError as e:
                    self.skip(entry.path, e.strerror or str(e))
            stack.extend(reversed(subdirs))

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


def _names(counter, ordered=False):
    names = list(counter) if ordered else [name for name, _ in counter.most_common()]
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
        pythons = collections.Counter(dict(sorted(g.pythons.items(), key=_version_key)))
        rows.append((str(g.count), g.signature, g.event, g.first or "?", g.last or "?",
                     _names(pythons, ordered=True), _names(g.hosts), _names(g.programs), g.where,
                     g.example or "?"))
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


def _positive(text):
    """--top's type: a count from 1 on (0 or less would silently mean all)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError("%r is not a whole number from 1 on" % text)
    return number


def add_arguments(parser):
    parser.add_argument("paths", nargs="+", metavar="DIR|FILE",
                        help="dump files, logs (JSON lines, gzip too) or directories holding them")
    parser.add_argument("--json", action="store_true", help="one JSON object for machines")
    parser.add_argument("--event", action="append", choices=parse.EVENTS,
                        help="only dumps of this event (repeatable); default: all")
    parser.add_argument("--top", type=_positive, metavar="N", help="only the N most frequent groups")
    parser.add_argument("--jobs", "-j", type=int, metavar="N",
                        help="processes reading files (default: the CPUs this process may use, at most %d)"
                             % MAX_JOBS)


def run(args, stdout=None, stderr=None):
    """Run ``report`` with parsed ``args``; returns the exit status: 0, or
    1 when a named path could not be read."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    jobs = getattr(args, "jobs", None)
    report = Report(args.event, jobs if jobs and jobs > 0 else default_jobs())
    missing = report.add_paths(args.paths)
    for path, reason in missing:
        stderr.write("faulthandler-auto: report: cannot read %s: %s\n" % (_printable(path), reason))
    top = args.top
    if args.json:
        json.dump(report.as_json(top), stdout)
        stdout.write("\n")
    else:
        stdout.write(format_table(report, top))
    return 1 if missing else 0
