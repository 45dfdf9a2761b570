"""Call every API function with wrong arguments, on faulthandler_auto and on
CPython's faulthandler, and print one JSON object: case -> [ours, CPython's]
outcome (the exception's type name, or "ok" and the return value)."""
import io
import json
import os
import signal
import sys

import faulthandler
import faulthandler_auto

NSIG = signal.NSIG
USR1 = signal.SIGUSR1


class BadFileno:
    def __init__(self, value):
        self.value = value

    def fileno(self):
        return self.value


def closed_file():
    f = open(os.devnull, "w")
    f.close()
    return f


CASES = {
    "enable(file=-1)": lambda m: m.enable(file=-1),
    "enable(file=object())": lambda m: m.enable(file=object()),
    "enable(file=1.5)": lambda m: m.enable(file=1.5),
    "enable(file=2**40)": lambda m: m.enable(file=2 ** 40),
    "enable(file=closed)": lambda m: m.enable(file=closed_file()),
    "enable(file=StringIO)": lambda m: m.enable(file=io.StringIO()),
    "enable(file=fileno -1)": lambda m: m.enable(file=BadFileno(-1)),
    "enable(file=fileno str)": lambda m: m.enable(file=BadFileno("2")),
    "enable(bogus=1)": lambda m: m.enable(bogus=1),
    # a bool is an int: True is descriptor 1, as for CPython
    "enable(file=True); disable()": lambda m: (m.enable(file=True), m.disable())[1],
    "register(USR1, file=False); unregister": lambda m: (m.register(USR1, file=False), m.unregister(USR1))[1],
    "dump_traceback(file=-1)": lambda m: m.dump_traceback(file=-1),
    "dump_traceback(file=object())": lambda m: m.dump_traceback(file=object()),
    "dump_traceback(file=closed)": lambda m: m.dump_traceback(file=closed_file()),
    "dump_traceback(1, 2, 3)": lambda m: m.dump_traceback(1, 2, 3),
    "dump_traceback_later(0)": lambda m: m.dump_traceback_later(0),
    "dump_traceback_later(-1)": lambda m: m.dump_traceback_later(-1),
    "dump_traceback_later(-0.5)": lambda m: m.dump_traceback_later(-0.5),
    "dump_traceback_later(nan)": lambda m: m.dump_traceback_later(float("nan")),
    "dump_traceback_later(1e300)": lambda m: m.dump_traceback_later(1e300),
    "dump_traceback_later('1')": lambda m: m.dump_traceback_later("1"),
    "dump_traceback_later(None)": lambda m: m.dump_traceback_later(None),
    "dump_traceback_later()": lambda m: m.dump_traceback_later(),
    "dump_traceback_later(1, file=-1)": lambda m: m.dump_traceback_later(1, file=-1),
    "dump_traceback_later(1, file=object())":
        lambda m: m.dump_traceback_later(1, file=object()),
    "register(SIGSEGV)": lambda m: m.register(signal.SIGSEGV),
    "register(SIGABRT)": lambda m: m.register(signal.SIGABRT),
    "register(0)": lambda m: m.register(0),
    "register(-1)": lambda m: m.register(-1),
    "register(NSIG)": lambda m: m.register(NSIG),
    "register('x')": lambda m: m.register("x"),
    "register(1.5)": lambda m: m.register(1.5),
    "register(USR1, file=-1)": lambda m: m.register(USR1, file=-1),
    "register()": lambda m: m.register(),
    "unregister(SIGSEGV)": lambda m: m.unregister(signal.SIGSEGV),
    "unregister(0)": lambda m: m.unregister(0),
    "unregister(NSIG)": lambda m: m.unregister(NSIG),
    "unregister('x')": lambda m: m.unregister("x"),
    "unregister(USR1) not registered": lambda m: m.unregister(USR1),
    "disable() not enabled": lambda m: m.disable(),
    "is_enabled()": lambda m: m.is_enabled(),
    "cancel_dump_traceback_later()": lambda m: m.cancel_dump_traceback_later(),
}


def no_stderr(call):
    def case(m):
        saved = sys.stderr
        sys.stderr = None
        try:
            return call(m)
        finally:
            sys.stderr = saved
    return case


for name in ("enable", "dump_traceback"):
    CASES["%s() stderr None" % name] = no_stderr(lambda m, name=name: getattr(m, name)())
CASES["dump_traceback_later(1) stderr None"] = no_stderr(lambda m: m.dump_traceback_later(1))
CASES["register(USR1) stderr None"] = no_stderr(lambda m: m.register(USR1))


def outcome(module, call):
    try:
        value = call(module)
    except BaseException as exc:  # noqa: B902 - the type is what we compare
        result = type(exc).__name__
    else:
        result = "ok %r" % (value,)
    # leave nothing enabled for the next case
    for cleanup in (module.disable, module.cancel_dump_traceback_later,
                    lambda: module.unregister(USR1)):
        try:
            cleanup()
        except Exception:
            pass
    return result


results = {}
for name, call in CASES.items():
    results[name] = [outcome(faulthandler_auto, call), outcome(faulthandler, call)]
print(json.dumps(results))
