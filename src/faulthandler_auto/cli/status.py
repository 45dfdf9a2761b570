"""The ``status`` command: is the hook installed, will it run, what will it do."""
import faulthandler
import json
import os
import sys

from faulthandler_auto._facts import DEFAULT_LIMIT, FATAL_SIGNALS, PREFIX
from faulthandler_auto.cli._common import (
    destination_problem,
    load_package,
    signal_name,
    prefixed_variables,
    expand_template,
)

HOOK_FILE = "faulthandler_auto.pth"
START_FILE = "faulthandler_auto.start"  # PEP 829 twin, used on 3.15+


def _hook_candidates():
    """[(directory, processed_at_startup)] where the hook file may be."""
    import site
    dirs = []
    try:
        dirs.extend((d, True) for d in site.getsitepackages())
    except AttributeError:  # some old virtualenv site.py
        pass
    try:
        user = site.getusersitepackages()
    except AttributeError:
        user = None
    if user:
        enabled = site.ENABLE_USER_SITE
        if enabled is None:  # under -S site.main() did not run
            enabled = site.check_enableusersite()
        dirs.append((user, bool(enabled)))
    seen = set()
    unique = []
    for d, enabled in dirs:
        if d not in seen:
            seen.add(d)
            unique.append((d, enabled))
    return unique


def _describe_config(cfg, c_stack=True):
    """The lines of `cfg`; `c_stack`: whether the dumps can show the C stack."""
    lines = []
    if cfg.fatal:
        lines.append("on a crash (%s): dump%s" % (
            ", ".join(FATAL_SIGNALS), " with the C stack" if cfg.c_stack and c_stack else ""))
    else:
        lines.append("on a crash: nothing (PYTHONFAULTHANDLER is not set)")
    if cfg.timeout is not None:
        text = "on a hang: dump after %g s" % cfg.timeout
        if cfg.repeat:
            text += ", again every %g s" % cfg.timeout
        if cfg.exit:
            text += ", then exit with status 1"
        lines.append(text)
    else:
        lines.append("on a hang: nothing (PYTHONFAULTHANDLER_TIMEOUT is not set)")
    if cfg.tree:
        lines.append("process tree: a timeout dump first has each descendant that runs the hook "
                     "dump, and this process dumps when an ancestor's timeout asks it")
    if cfg.signals:
        lines.append("on demand: dump on %s%s" % (
            ", ".join(signal_name(s) for s in cfg.signals),
            ", then call the previous handler" if cfg.chain else ""))
    else:
        lines.append("on demand: nothing (PYTHONFAULTHANDLER_SIGNAL is not set)")
    lines.append("%s, format %s, at most %d frames and %d threads per dump" % (
        "all threads" if cfg.all_threads else "current thread only",
        cfg.format, cfg.max_frames, cfg.max_threads))
    return lines


def gather_status(environ=None):
    environ = os.environ if environ is None else environ
    variables = prefixed_variables(environ)
    problems = []
    notes = []
    info = {
        "python": sys.executable,
        "python_version": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "platform": sys.platform,
        "variables": variables,
        "flags": {
            "no_site": bool(sys.flags.no_site),
            "ignore_environment": bool(sys.flags.ignore_environment),
            "isolated": bool(sys.flags.isolated),
        },
    }
    wants = bool(variables)
    package, config, import_error = load_package()
    info["package"] = os.path.dirname(package.__file__) if package else None
    info["version"] = getattr(package, "__version__", None)
    info["fallback"] = getattr(package, "fallback_reason", None)
    info["fallback_lost"] = list(package._native.LOST) if info["fallback"] else []
    if import_error:
        problems.append("faulthandler_auto cannot be imported: %s" % import_error)
    hook = find_hook(info, problems)
    blockers = what_stops_it(info, package)
    (problems if wants else notes).extend(blockers)
    cfg, something = read_configuration(info, config, environ, variables, problems, notes)
    if info["fallback"] and cfg is not None and (
            cfg.format != "text" or (cfg.max_frames, cfg.max_threads) != (DEFAULT_LIMIT, DEFAULT_LIMIT)):
        problems.append("fallback mode: %s_FORMAT, _MAX_FRAMES and _MAX_THREADS are not applied "
                        "(CPython's text format and fixed limits)" % PREFIX)
    where_dumps_go(info, cfg, something, problems)
    check_it_ran(info, package, hook, blockers, cfg, something, problems)
    info["problems"] = problems
    info["notes"] = notes
    info["exit_status"] = 1 if problems else 0
    return info, cfg


def find_hook(info, problems):
    """The hook file of this interpreter, and whether site reads its directory."""
    name = START_FILE if sys.version_info >= (3, 15) else HOOK_FILE
    candidates = _hook_candidates()
    hook = None
    for directory, enabled in candidates:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            hook = {"file": path, "processed": enabled}
            break
    info["hook"] = hook
    info["searched"] = [d for d, _ in candidates]
    if hook is None:
        problems.append(
            "%s is not in any site-packages directory of this interpreter (searched: %s), "
            "so no variable takes effect; install faulthandler-auto with pip into this environment"
            % (name, ", ".join(info["searched"]) or "none"))
    elif not hook["processed"]:
        problems.append(
            "%s is in the user site-packages, which this interpreter does not read "
            "(user site disabled); install faulthandler-auto into the environment itself"
            % hook["file"])
    return hook


def what_stops_it(info, package):
    """Why the hook would not run or not apply the variables here, as sentences."""
    # the fallback mode serves any interpreter whose package imports
    supported = package is not None or (
        sys.implementation.name == "cpython" and sys.platform.startswith(("linux", "darwin")))
    info["supported"] = supported
    blockers = []
    if sys.flags.no_site:
        blockers.append("this interpreter runs with -S (no site-packages), so the hook does not run")
    if sys.flags.ignore_environment:
        blockers.append("this interpreter runs with %s, so %s* variables are ignored, as CPython "
                        "ignores its own PYTHON* variables" % (
                            "-I" if sys.flags.isolated else "-E", PREFIX))
    if not supported:
        blockers.append("only CPython on Linux and macOS is supported, this is %s on %s" % (
            sys.implementation.name, sys.platform))
    secure = False
    if package is not None:
        try:
            secure = bool(package.secure_mode())
        except Exception:
            secure = False
    info["secure_mode"] = secure
    if secure:
        blockers.append("this is a setuid/setgid process (secure mode), so %s* variables are "
                        "ignored" % PREFIX)
    return blockers


def read_configuration(info, config, environ, variables, problems, notes):
    """(the effective Config or None, whether it turns any dump on)."""
    cfg = None
    if config is not None:
        cfg, warnings = config.parse(environ)
        problems.extend(warnings)
        info["config"] = dict(cfg.as_dict(), signals=[signal_name(s) for s in cfg.signals])
    else:
        info["config"] = None
    something = cfg is not None and (cfg.fatal or cfg.timeout is not None or bool(cfg.signals))
    if not variables:
        notes.append("no %s* variable is set: nothing to do; e.g. export PYTHONFAULTHANDLER=1"
                     % PREFIX)
    elif cfg is not None and not something:
        problems.append("%s* variables are set but none turns a dump on: set PYTHONFAULTHANDLER=1, "
                        "PYTHONFAULTHANDLER_TIMEOUT or PYTHONFAULTHANDLER_SIGNAL" % PREFIX)
    if variables.get(PREFIX):
        notes.append("PYTHONFAULTHANDLER also turns on CPython's own faulthandler; faulthandler-auto "
                     "takes its place, so a crash gives one dump")
    return cfg, something


def where_dumps_go(info, cfg, something, problems):
    dest = None
    if cfg is not None:
        if cfg.path is None:
            dest = {"kind": "stderr"}
        elif cfg.path == "stdout":
            dest = {"kind": "stdout"}
        else:
            example = expand_template(cfg.path)
            dest = {"kind": "file", "template": cfg.path, "example": example}
            problem = destination_problem(example)
            if problem:
                dest["problem"] = problem
                if something:
                    problems.append("dumps cannot be written to %s now: %s; they would go to "
                                    "stderr instead" % (cfg.path, problem))
    info["destination"] = dest


def check_it_ran(info, package, hook, blockers, cfg, something, problems):
    """Evidence from this very process: the hook ran at its start-up."""
    startup = sys.modules.get("_faulthandler_auto_startup")
    ran = bool(startup is not None and getattr(startup, "_started", False))
    info["hook_ran"] = ran
    info["fatal_handler_enabled"] = bool(package.is_enabled()) if package else False
    wants = bool(info["variables"])
    can_run = hook is not None and hook["processed"] and not blockers and package is not None
    if wants and can_run:
        if not ran:
            problems.append("the hook did not run at the start of this interpreter although "
                            "%s is there" % hook["file"])
        elif cfg.fatal and not info["fatal_handler_enabled"]:
            problems.append("PYTHONFAULTHANDLER is set but the crash handler is not enabled in "
                            "this interpreter (see the messages above)")
    info["active"] = bool(wants and can_run and ran and something)


def print_status(info, cfg, out):
    w = out.write
    w("faulthandler-auto %s for %s (%s %s, %s)\n" % (
        info["version"] or "?", info["python"], info["implementation"],
        info["python_version"], info["platform"]))
    w("  package:     %s\n" % (info["package"] or "not importable"))
    if info["fallback"]:
        w("  core:        fallback mode: %s\n" % info["fallback"])
        w("               served by the interpreter's own faulthandler, without:\n")
        for lost in info["fallback_lost"]:
            w("                 - %s\n" % lost)
    hook = info["hook"]
    if hook:
        if info["hook_ran"]:
            how = "ran at the start of this interpreter"
        elif not info["variables"]:
            how = "idle until a variable is set"
        else:
            how = "did not run in this interpreter"
        w("  hook:        %s (%s)\n" % (hook["file"], how))
    else:
        w("  hook:        not installed\n")
    if info["variables"]:
        first = True
        for key, value in info["variables"].items():
            w("  %s %s=%s\n" % ("variables:  " if first else " " * 12, key, value))
            first = False
    else:
        w("  variables:   none set\n")
    if cfg is not None:
        w("  effective configuration%s:\n" % (
            "" if info["active"] or not info["variables"] else " (if the hook ran)"))
        c_stack = not info["fallback"] or hasattr(faulthandler, "dump_c_stack")
        for line in _describe_config(cfg, c_stack):
            w("    %s\n" % line)
    dest = info["destination"]
    if dest:
        if dest["kind"] == "file":
            w("  dumps go to: %s\n" % dest["template"])
            w("               (for this process: %s)\n" % dest["example"])
        else:
            w("  dumps go to: %s of the process\n" % dest["kind"])
    w("  status:      %s\n" % ("active" if info["active"] else "inactive"))
    for note in info["notes"]:
        w("  note: %s\n" % note)
    if info["problems"]:
        w("  problems:\n")
        for problem in info["problems"]:
            w("    - %s\n" % problem)
    else:
        w("  no problem found\n")


def cmd_status(args):
    info, cfg = gather_status()
    if args.json:
        json.dump(info, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print_status(info, cfg, sys.stdout)
    sys.stdout.flush()
    return info["exit_status"]
