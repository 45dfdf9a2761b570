"""The ``faulthandler-auto`` command: ``status``, ``demo``, ``dump``, ``report`` and ``symbolize``.

Run as the ``faulthandler-auto`` console script or as
``python -m faulthandler_auto``.  Not on the start-up path, so it may import
what it likes.  Every error is one line on stderr, ``faulthandler-auto:
error: ...``, never a traceback; exit status 0 on success, 1 when something
asked for will not happen or failed, 2 for a usage error.
"""
import argparse
import os
import sys

from faulthandler_auto.cli._common import (
    CLIError,
    PROG,
    say,
)
from faulthandler_auto.cli.demo import DEMOS, cmd_demo
from faulthandler_auto.cli.dump import cmd_dump
from faulthandler_auto.cli.status import cmd_status
from faulthandler_auto.cli import report, symbolize


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, exit status 2."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see '%s --help')\n" % (PROG, message, self.prog))


def _pid(text):
    """A process id as argparse's type: a number a process can have (pid_t
    is a C int), else a usage error rather than an OverflowError later."""
    try:
        pid = int(text)
    except ValueError:
        pid = 0
    if not 0 < pid < 2 ** 31:
        raise argparse.ArgumentTypeError("not a process id: %r (a positive integer below 2**31)" % text)
    return pid


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="Crash, hang and on-demand Python backtraces configured by "
                    "PYTHONFAULTHANDLER* environment variables.")
    try:
        from faulthandler_auto import __version__
    except ImportError:
        __version__ = "unknown"
    parser.add_argument("--version", action="version", version="%s %s" % (PROG, __version__))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "status", help="is the hook active in this interpreter, and what will it do",
        description="Report whether the faulthandler-auto hook is installed in this interpreter's "
                    "site-packages and will run, the PYTHONFAULTHANDLER* variables, the effective "
                    "configuration, every problem, and where dumps go.  Exit status 0 when "
                    "nothing is wrong, 1 when a variable asks for something that will not happen.")
    p.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "demo", help="run a child that crashes, hangs or gets the signal, and show its dump",
        description="Run a child interpreter (%s) with the current environment that really "
                    "crashes, hangs or receives the dump signal, then show the dump, where it was "
                    "written and how the child ended." % sys.executable)
    p.add_argument("kind", nargs="?", default="segv", choices=DEMOS,
                   help="what the child does (default: segv)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "dump", help="make a running process with the hook dump its threads, and print the dump",
        description="Send the process its PYTHONFAULTHANDLER_SIGNAL (read from /proc/PID/environ) "
                    "or --signal, wait for the dump and print it: from the file of its "
                    "PYTHONFAULTHANDLER_PATH, or from its stderr when that is a regular file.  "
                    "The process keeps running.  No ptrace needed.")
    p.add_argument("pid", type=_pid, metavar="PID", help="the process id")
    p.add_argument("--signal", metavar="SIG",
                   help="the signal to send (USR1, SIGUSR2, 12); default: the process's "
                        "PYTHONFAULTHANDLER_SIGNAL")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="how long to wait for the dump (default: 5)")
    p.set_defaults(func=cmd_dump)

    report.add_parser(sub)
    symbolize.add_parser(sub)
    return parser


def _quiet_own_watchdog():
    """This command is a tool, not the workload: a PYTHONFAULTHANDLER_TIMEOUT
    (with EXIT) in the environment must not dump or end it mid-way."""
    module = sys.modules.get("faulthandler_auto")
    if module is not None:
        try:
            module.cancel_dump_traceback_later()
        except Exception:
            pass


def main(argv=None):
    _quiet_own_watchdog()
    parser = build_parser()
    args = parser.parse_args(argv)
    if sys.stdout is None:  # started with fd 1 closed (`>&-`)
        say("error: standard output is closed: nothing to write the result to")
        return 2
    try:
        return args.func(args)
    except CLIError as exc:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        say("error: %s" % exc)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except Exception as exc:  # never a traceback
        say("error: internal error: %s: %s" % (type(exc).__name__, exc))
        return 1
