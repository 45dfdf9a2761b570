"""The ``symbolize`` command: names and source lines for the C frames of a
dump (docs/triage.md); the work is faulthandler_auto.triage.symbolize's."""
from faulthandler_auto.triage import symbolize


def add_parser(sub):
    p = sub.add_parser(
        "symbolize", help="name the C frames of a dump offline (static functions, file:line)",
        description="Rewrite a dump (text or JSON, or a log holding dumps; - for stdin) on stdout "
                    "with function names for the C frames dladdr() could not name and, where debug "
                    "information exists, file:line, found by build id under --debug-dir "
                    "(DIR/.build-id/xx/yyyy.debug) or at the path the dump names.  Needs pyelftools: "
                    "pip install 'faulthandler-auto[symbolize]'.  Nothing in the dump is executed.")
    symbolize.add_arguments(p)
    p.set_defaults(func=cmd_symbolize)


def cmd_symbolize(args):
    return symbolize.run(args)
