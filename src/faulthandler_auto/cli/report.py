"""The ``report`` command: a fleet's dumps grouped by crash signature
(docs/triage.md); the work is faulthandler_auto.triage.report's."""
from faulthandler_auto.triage import report


def add_parser(sub):
    p = sub.add_parser(
        "report", help="group dump files and logs by crash signature: how often, since when, where",
        description="Read every dump file, captured stderr and JSON-lines log (gzip too) under the "
                    "given directories and files, and print one line per crash signature: count, "
                    "first and last seen, Python versions, hosts, programs, where it crashed and the "
                    "latest dump.  Symbolic links inside directories are not followed; unreadable "
                    "files are counted and skipped.  Exit status 1 when a named path cannot be read; a "
                    "readable file that holds no dump is not an error (status 0, counted as read).")
    report.add_arguments(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args):
    return report.run(args)
