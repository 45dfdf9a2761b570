"""The PYTHONFAULTHANDLER* variables: parsing (in process) and their effect at start-up (in a venv)."""
import os
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import faulthandler_auto
from faulthandler_auto import config
from faulthandler_auto.config import Config, parse

P = "PYTHONFAULTHANDLER"
BOOLS = ["REPEAT", "EXIT", "CHAIN", "ALL_THREADS", "C_STACK", "ASYNCIO", "TREE"]
ALL_VARIABLES = ["PATH", "TIMEOUT", "SIGNAL", "FORMAT", "MAX_FRAMES", "MAX_THREADS"] + BOOLS
FIELDS = {
    "REPEAT": "repeat",
    "EXIT": "exit",
    "CHAIN": "chain",
    "ALL_THREADS": "all_threads",
    "C_STACK": "c_stack",
    "ASYNCIO": "asyncio",
    "TREE": "tree",
}


def one(environ):
    """parse() that expects no warning."""
    cfg, warnings = parse(environ)
    assert warnings == []
    return cfg


def warned(environ):
    """parse() that expects exactly one warning; returns it."""
    _, warnings = parse(environ)
    assert len(warnings) == 1, warnings
    return warnings[0]


def test_defaults():
    cfg = one({})
    assert cfg == Config()
    assert cfg.as_dict() == {
        "fatal": False,
        "path": None,
        "timeout": None,
        "repeat": False,
        "exit": False,
        "signals": (),
        "chain": False,
        "all_threads": True,
        "c_stack": True,
        "format": "text",
        "max_frames": 100,
        "max_threads": 100,
        "rate": 20,
        "rate_bytes": 64 << 20,
        "asyncio": None,
        "tree": False,
    }
    assert repr(cfg).startswith("Config(fatal=False, path=None, timeout=None,")
    with pytest.raises(TypeError, match="nope"):
        Config(nope=1)


def test_unrelated_variables_are_ignored():
    assert one({"PATH": "/bin", "PYTHONPATH": "x", "PYTHONFAULTHANDLE": "1"}) == Config()


@pytest.mark.parametrize("value", ["1", "0", "x", " ", "false"])
def test_fatal_is_on_for_any_non_empty_value_like_cpython(value):
    assert one({P: value}).fatal is True


def test_fatal_empty_is_off():
    assert one({P: ""}).fatal is False


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize(
    "value, expected",
    [("1", True), ("true", True), ("YES", True), (" On ", True), ("0", False), ("False", False),
     ("no", False), ("OFF\t", False)],
)
def test_booleans(name, value, expected):
    environ = {P + "_" + name: value, P + "_TIMEOUT": "1", P + "_SIGNAL": "USR1"}
    assert getattr(one(environ), FIELDS[name]) is expected


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize("value", ["maybe", "2", "tru", "y", "-1"])
def test_bad_booleans(name, value):
    environ = {P + "_" + name: value, P + "_TIMEOUT": "1", P + "_SIGNAL": "USR1"}
    cfg, warnings = parse(environ)
    assert warnings == [
        "%s_%s=%r ignored: not a boolean; accepted: 1/0, true/false, yes/no, on/off (any case)"
        % (P, name, value)
    ]
    assert getattr(cfg, FIELDS[name]) == getattr(Config(), FIELDS[name])


@pytest.mark.parametrize("name", ALL_VARIABLES)
@pytest.mark.parametrize("value", ["", "  "])
def test_empty_means_unset(name, value):
    assert one({P + "_" + name: value}) == Config()


@pytest.mark.parametrize(
    "value, seconds",
    [("2.5", 2.5), ("30s", 30.0), ("10m", 600.0), ("2h", 7200.0), (" 1H ", 3600.0), ("1e3", 1000.0),
     ("0.001", 0.001), ("8640000", 8640000.0), ("2400h", 8640000.0)],
)
def test_timeout(value, seconds):
    assert one({P + "_TIMEOUT": value}).timeout == seconds


@pytest.mark.parametrize(
    "value, problem",
    [("abc", "not a duration"), ("s", "not a duration"), ("1x", "not a duration"), ("1d", "not a duration"),
     ("10 mins", "not a duration"), ("-1", "out of range"), ("0", "out of range"), ("0s", "out of range"),
     ("0.0001", "out of range"), ("nan", "out of range"), ("inf", "out of range"), ("-inf", "out of range"),
     ("1e400", "out of range"), ("8640001", "out of range"), ("2401h", "out of range")],
)
def test_bad_timeout(value, problem):
    line = warned({P + "_TIMEOUT": value})
    assert line.startswith("%s_TIMEOUT=%r ignored: %s; accepted: seconds from 0.001 to 8640000 (100 days)"
                           % (P, value, problem))
    assert "e.g. 2.5, 30s, 10m, 2h" in line


@pytest.mark.parametrize("name, needs", [("REPEAT", "TIMEOUT"), ("EXIT", "TIMEOUT"), ("CHAIN", "SIGNAL")])
def test_option_without_its_feature(name, needs):
    cfg, warnings = parse({P + "_" + name: "yes"})
    assert warnings == ["%s_%s='yes' has no effect without a valid %s_%s" % (P, name, P, needs)]
    # Off is the default anyway: nothing to say.
    assert one({P + "_" + name: "0"}) == Config()
    # An invalid TIMEOUT/SIGNAL leaves the dependent option without effect too.
    _, warnings = parse({P + "_" + name: "1", P + "_" + needs: "bogus"})
    assert len(warnings) == 2 and warnings[1].startswith("%s_%s='1' has no effect" % (P, name))


def test_repeat_and_exit_with_timeout():
    cfg = one({P + "_TIMEOUT": "5", P + "_REPEAT": "1", P + "_EXIT": "1"})
    assert (cfg.timeout, cfg.repeat, cfg.exit) == (5.0, True, True)


@pytest.mark.parametrize(
    "value, expected",
    [("USR1", (signal.SIGUSR1,)), ("sigusr2", (signal.SIGUSR2,)), (str(int(signal.SIGUSR2)), (signal.SIGUSR2,)),
     ("USR1,USR2", (signal.SIGUSR1, signal.SIGUSR2)), (" usr2 , SIGUSR1 ", (signal.SIGUSR2, signal.SIGUSR1)),
     ("USR1,SIGUSR1,usr1,%d" % signal.SIGUSR1, (signal.SIGUSR1,)),
     ("%d" % signal.SIGRTMIN, (signal.SIGRTMIN,)), ("RTMAX", (signal.SIGRTMAX,))],
)
def test_signals(value, expected):
    cfg = one({P + "_SIGNAL": value})
    assert cfg.signals == tuple(int(s) for s in expected)
    assert all(type(s) is int for s in cfg.signals)


@pytest.mark.parametrize("value", ["1,,2", "USR1,", ",USR1", " , "])
def test_empty_signal_entries_are_reported(value):
    cfg, warnings = parse({P + "_SIGNAL": value})
    assert warnings[0] == ("%s_SIGNAL entry '' ignored: empty entry; accepted: signal names or numbers, "
                           "comma-separated, e.g. USR1,SIGUSR2,12" % P)


def test_stop_signals_warn_that_they_only_dump():
    cfg, warnings = parse({P + "_SIGNAL": "HUP,term,Int"})
    assert cfg.signals == (1, 15, 2)
    assert warnings == [
        "%s_SIGNAL: SIGINT only dumps (Ctrl-C no longer raises KeyboardInterrupt), SIGTERM only dumps "
        "(kill and docker stop no longer end the process), SIGHUP only dumps (a closed terminal no "
        "longer ends the process); set %s_CHAIN=1 to keep the normal action after the dump" % (P, P)]
    assert one({P + "_SIGNAL": "TERM", P + "_CHAIN": "1"}).signals == (signal.SIGTERM,)


def test_huge_signal_number_gives_a_short_line():
    line = warned({P + "_SIGNAL": "9" * 120000})
    assert line.startswith("%s_SIGNAL entry '%s..." % (P, "9" * 76))
    assert len(line) < 300


@pytest.mark.parametrize(
    "entry, name",
    [("SEGV", "SIGSEGV"), ("SIGFPE", "SIGFPE"), ("bus", "SIGBUS"), ("ILL", "SIGILL"), ("ABRT", "SIGABRT"),
     ("IOT", "SIGABRT"), (str(int(signal.SIGSEGV)), "SIGSEGV")],
)
def test_fatal_signals_are_refused(entry, name):
    assert warned({P + "_SIGNAL": entry}).startswith(
        "%s_SIGNAL entry %r ignored: %s is a fatal signal, dumped when %s is set; accepted:" % (P, entry, name, P))


@pytest.mark.parametrize("entry, name", [("KILL", "SIGKILL"), ("sigstop", "SIGSTOP"), ("9", "SIGKILL")])
def test_uncatchable_signals_are_refused(entry, name):
    assert warned({P + "_SIGNAL": entry}).startswith(
        "%s_SIGNAL entry %r ignored: %s cannot be caught; accepted:" % (P, entry, name))


@pytest.mark.parametrize("entry", ["0", str(signal.NSIG), "999", "99999999", "00"])
def test_signal_numbers_out_of_range(entry):
    assert warned({P + "_SIGNAL": entry}).startswith(
        "%s_SIGNAL entry %r ignored: no usable signal number on this system (range 1..%d)"
        % (P, entry, signal.NSIG - 1))


RESERVED = [n for n in range(1, signal.NSIG) if n not in signal.valid_signals()]


@pytest.mark.parametrize("entry", [str(n) for n in RESERVED])
def test_signal_numbers_the_c_library_reserves(entry):
    """In range, but kept by the C library (32 and 33 on glibc, for its
    threads): the line says that, not that the number is out of range."""
    assert warned({P + "_SIGNAL": entry}).startswith(
        "%s_SIGNAL entry %r ignored: the C library reserves signal %s for itself (not in "
        "signal.valid_signals()); accepted:" % (P, entry, entry))


def test_glibc_reserves_32_and_33():
    assert RESERVED == [32, 33]


@pytest.mark.parametrize("entry", ["FOO", "SIG_DFL", "SIG_IGN", "-1", "USR1.5", "SIGSIGUSR1", "١٢"])
def test_unknown_signals(entry):
    assert warned({P + "_SIGNAL": entry}) == (
        "%s_SIGNAL entry %r ignored: unknown signal name; accepted: signal names or numbers, "
        "comma-separated, e.g. USR1,SIGUSR2,12" % (P, entry))


def test_bad_signal_entries_warn_in_one_line_and_keep_the_good_ones():
    cfg, warnings = parse({P + "_SIGNAL": "USR1,KILL,SEGV,FOO,0,USR2,USR1,0"})
    assert cfg.signals == (signal.SIGUSR1, signal.SIGUSR2)
    assert warnings == [
        "%s_SIGNAL entries 'KILL' (SIGKILL cannot be caught), 'SEGV' (SIGSEGV is a fatal signal, "
        "dumped when %s is set), 'FOO' (unknown signal name), '0' (no usable signal number on "
        "this system (range 1..%d)) ignored; accepted: signal names or numbers, comma-separated, "
        "e.g. USR1,SIGUSR2,12" % (P, P, signal.NSIG - 1)]


@pytest.mark.parametrize("value, expected", [("json", "json"), ("JSON", "json"), (" Text ", "text"),
                                             ("CPython", "cpython")])
def test_format(value, expected):
    assert one({P + "_FORMAT": value}).format == expected


@pytest.mark.parametrize("value", ["xml", "jsonl", "1"])
def test_bad_format(value):
    assert warned({P + "_FORMAT": value}) == (
        "%s_FORMAT=%r ignored: unknown format; accepted: text, json, cpython (any case)" % (P, value))


@pytest.mark.parametrize("name", ["MAX_FRAMES", "MAX_THREADS"])
@pytest.mark.parametrize("value, expected", [("1", 1), ("100000", 100000), (" 50 ", 50), ("+7", 7)])
def test_limits(name, value, expected):
    assert getattr(one({P + "_" + name: value}), name.lower()) == expected


@pytest.mark.parametrize("name", ["MAX_FRAMES", "MAX_THREADS"])
@pytest.mark.parametrize(
    "value, problem",
    [("0", "out of range"), ("-1", "out of range"), ("100001", "out of range"), ("9" * 30, "out of range"),
     ("1.5", "not an integer"), ("abc", "not an integer"), ("1e3", "not an integer")],
)
def test_bad_limits(name, value, problem):
    line = warned({P + "_" + name: value})
    assert line == "%s_%s=%r ignored: %s; accepted: an integer from 1 to 100000" % (P, name, value, problem)


@pytest.mark.parametrize("value, expected", [("stderr", None), ("STDERR", None), ("stdout", "stdout"),
                                             (" Stdout ", "stdout")])
def test_path_keywords(value, expected):
    assert one({P + "_PATH": value}).path == expected


def test_path_template(tmp_path):
    path = str(tmp_path / "crash-{prog}-{pid}-{ppid}-{time}-{host}.log")
    assert one({P + "_PATH": path}).path == path


def test_path_relative_and_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert one({P + "_PATH": "d-{pid}.log"}).path == os.path.join(os.path.realpath(tmp_path), "d-{pid}.log")
    assert one({P + "_PATH": "~/h-{pid}.log"}).path == os.path.join(os.path.realpath(tmp_path), "home",
                                                                    "h-{pid}.log")


def test_path_directory(tmp_path):
    expected = os.path.join(os.path.realpath(tmp_path), "{prog}-{host}-{pid}.log")
    assert one({P + "_PATH": str(tmp_path)}).path == expected
    assert one({P + "_PATH": str(tmp_path) + "/"}).path == expected
    assert one({P + "_PATH": str(tmp_path / "not-yet") + "/"}).path == os.path.join(
        os.path.realpath(tmp_path), "not-yet", "{prog}-{host}-{pid}.log")


@pytest.mark.parametrize("value, fragment", [("/tmp/{nope}.log", "unknown field {nope}"),
                                             ("/tmp/{}.log", "unknown field {}"),
                                             ("/tmp/{pid.log", "unbalanced")])
def test_bad_path_template(value, fragment):
    line = warned({P + "_PATH": value})
    assert line.startswith("%s_PATH=%r ignored: " % (P, value))
    assert fragment in line
    assert line.endswith("; accepted: stderr, stdout, a directory or a file path template")


@pytest.mark.parametrize("key", [P + "_TIMOUT", P + "_", P + "X", P + "_path"])
def test_unknown_variable(key):
    assert warned({key: "1"}) == (
        "unknown variable %r ignored; known: %s, %s_ + one of PATH, TIMEOUT, REPEAT, EXIT, SIGNAL, "
        "CHAIN, ALL_THREADS, C_STACK, FORMAT, MAX_FRAMES, MAX_THREADS, RATE, RATE_BYTES, ASYNCIO, TREE"
        % (key, P, P))


def test_long_values_are_cut():
    line = warned({P + "_TIMEOUT": "x" * 100000})
    assert line.startswith("%s_TIMEOUT='%s..." % (P, "x" * 76))
    assert len(line) < 300
    line = warned({P + "_" + "Y" * 100000: "1"})
    assert line.startswith("unknown variable '%s_%s... ignored" % (P, "Y" * 57))


def test_every_bad_variable_at_once_gives_one_warning_each():
    cfg, warnings = parse(GARBAGE)
    assert sorted(w.split()[0].split("=")[0] for w in warnings) == sorted(
        k for k in GARBAGE if k != P and not k.endswith("TIMOUT")) + ["unknown"]
    assert cfg == Config(fatal=True)


def test_parse_is_pure(capsys):
    environ = dict(GARBAGE)
    parse(environ)
    assert environ == GARBAGE
    assert capsys.readouterr() == ("", "")


environ_keys = st.one_of(
    st.sampled_from([P] + ["%s_%s" % (P, name) for name in ALL_VARIABLES]),
    st.text(min_size=1).map(lambda s: P + s),
)
environ_values = st.one_of(
    st.text(),
    st.text(alphabet="0123456789.,-+eEinfasmhSIGUSRKL{}pidprog/ ~"),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(environ_keys, environ_values, max_size=8))
def test_parse_never_raises(environ):
    cfg, warnings = parse(environ)
    assert isinstance(cfg, Config)
    for line in warnings:
        assert len(line.splitlines()) == 1


# ---- configure(): what reaches the API (recorded, not applied, in this process) ----

class Recorder(list):
    """Stands in for the API functions configure() calls: records the calls, may fail."""

    def __init__(self, monkeypatch):
        super().__init__()
        self.monkeypatch = monkeypatch
        for name in ("set_output", "enable", "dump_traceback_later", "register", "set_tree"):
            self.fail(name, None)

    def fail(self, name, exc):
        def record(*args, **kwargs):
            self.append((name, args, kwargs))
            if exc is not None:
                raise exc

        self.monkeypatch.setattr(faulthandler_auto, name, record)


@pytest.fixture
def api(monkeypatch):
    return Recorder(monkeypatch)


def test_configure_applies_everything(api, capsys, tmp_path):
    path = str(tmp_path / "{pid}.log")
    cfg = config.configure({
        P: "1", P + "_PATH": path, P + "_TIMEOUT": "2m", P + "_REPEAT": "1", P + "_EXIT": "on",
        P + "_SIGNAL": "USR1,USR2", P + "_CHAIN": "yes", P + "_ALL_THREADS": "0", P + "_C_STACK": "0",
        P + "_FORMAT": "json", P + "_MAX_FRAMES": "7", P + "_MAX_THREADS": "3", P + "_TREE": "1",
    })
    assert capsys.readouterr() == ("", "")
    assert api == [
        ("set_output", (), {"format": "json", "max_frames": 7, "max_threads": 3}),
        ("enable", (), {"file": path, "all_threads": False, "c_stack": False}),
        ("dump_traceback_later", (120.0,), {"repeat": True, "file": path, "exit": True}),
        ("set_tree", (True,), {"file": path}),
        ("register", (signal.SIGUSR1,), {"file": path, "all_threads": False, "chain": True}),
        ("register", (signal.SIGUSR2,), {"file": path, "all_threads": False, "chain": True}),
    ]
    assert cfg.fatal and cfg.timeout == 120.0 and cfg.signals == (signal.SIGUSR1, signal.SIGUSR2)
    assert cfg.tree


@pytest.mark.parametrize("value", ["\x00", "1" * 100000, "yes please", "1\n1", "\udcff", "TREE"])
def test_hostile_tree_values(value):
    cfg, warnings = parse({P + "_TREE": value})
    assert len(warnings) == 1 and warnings[0].startswith("%s_TREE=" % P), warnings
    assert warnings[0].endswith("ignored: not a boolean; accepted: 1/0, true/false, yes/no, on/off (any case)")
    assert len(warnings[0]) < 300
    assert cfg.tree is False


def test_tree_needs_no_timeout():
    """A process without TIMEOUT still answers its ancestors' requests."""
    assert one({P + "_TREE": "1"}) == Config(tree=True)


def test_configure_tree_failure_is_one_line(api, capsys):
    api.fail("set_tree", RuntimeError("fallback mode"))
    cfg = config.configure({P + "_TREE": "on"})
    assert capsys.readouterr().err == "faulthandler-auto: %s_TREE not applied: fallback mode\n" % P
    assert cfg.tree is False


@pytest.mark.parametrize("path, dest", [(None, 2), ("", 2), ("stderr", 2), ("stdout", 1)])
def test_configure_standard_streams_are_descriptors(api, path, dest):
    environ = {P: "1"}
    if path is not None:
        environ[P + "_PATH"] = path
    config.configure(environ)
    assert api[1] == ("enable", (), {"file": dest, "all_threads": True, "c_stack": True})


def test_configure_prints_warnings(api, capsys):
    config.configure({P + "_FORMAT": "xml", P + "_MAX_FRAMES": "0"})
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "faulthandler-auto: %s_FORMAT='xml' ignored: unknown format; accepted: text, json, cpython (any case)" % P,
        "faulthandler-auto: %s_MAX_FRAMES='0' ignored: out of range; accepted: an integer from 1 to 100000" % P,
    ]
    assert api == [("set_output", (), {"format": "text", "max_frames": 100, "max_threads": 100})]


def test_configure_one_failure_does_not_stop_the_others(api, capsys):
    api.fail("enable", OSError("no room"))
    api.fail("dump_traceback_later", RuntimeError("no thread"))
    cfg = config.configure({P: "1", P + "_TIMEOUT": "1", P + "_SIGNAL": "USR1"})
    assert capsys.readouterr().err.splitlines() == [
        "faulthandler-auto: %s not applied: no room" % P,
        "faulthandler-auto: %s_TIMEOUT not applied: no thread" % P,
    ]
    assert [c[0] for c in api] == ["set_output", "enable", "dump_traceback_later", "register"]
    assert (cfg.fatal, cfg.timeout, cfg.signals) == (False, None, (signal.SIGUSR1,))


def test_configure_signal_failure_drops_that_signal(api, capsys):
    api.fail("register", ValueError("busy"))
    cfg = config.configure({P + "_SIGNAL": "USR1"})
    assert capsys.readouterr().err == "faulthandler-auto: %s_SIGNAL %d not applied: busy\n" % (P, signal.SIGUSR1)
    assert cfg.signals == ()


def test_configure_secure_mode(api, capsys, monkeypatch):
    monkeypatch.setattr(faulthandler_auto, "secure_mode", lambda: True)
    assert config.configure({"HOME": "/"}) == Config()
    assert capsys.readouterr().err == ""
    assert config.configure({P: "1", P + "_FORMAT": "xml"}) == Config()
    assert capsys.readouterr().err == (
        "faulthandler-auto: setuid/setgid process (AT_SECURE): %s* variables ignored\n" % P)
    assert api == []


@pytest.mark.parametrize("environ", [{P + "_TIMEOUT": 5}, {P: None}, {1: "x"}, {b"PYTHONFAULTHANDLER": b"1"}])
def test_configure_wants_a_mapping_of_str(api, capsys, environ):
    """A caller's mapping that os.environ could not be is the caller's bug:
    a TypeError naming the types, and nothing applied."""
    with pytest.raises(TypeError, match="^environ maps str to str, as os.environ does, not "):
        config.configure(environ)
    assert (api, capsys.readouterr().err) == ([], "")


def test_package_configure_is_config_configure(api):
    assert faulthandler_auto.configure({P + "_MAX_THREADS": "5"}).max_threads == 5
    assert api == [("set_output", (), {"format": "text", "max_frames": 100, "max_threads": 5})]


# ---- at start-up, through the installed hook ----

GARBAGE = {
    P: "garbage",
    P + "_PATH": "/tmp/{garbage}",
    P + "_TIMEOUT": "garbage",
    P + "_REPEAT": "garbage",
    P + "_EXIT": "garbage",
    P + "_SIGNAL": "garbage",
    P + "_CHAIN": "garbage",
    P + "_ALL_THREADS": "garbage",
    P + "_C_STACK": "garbage",
    P + "_FORMAT": "garbage",
    P + "_MAX_FRAMES": "garbage",
    P + "_MAX_THREADS": "garbage",
    P + "_TREE": "garbage",
    P + "_TIMOUT": "garbage",
}


def test_garbage_everywhere_at_start_up(run_py):
    proc = run_py("import faulthandler_auto; print('ran', faulthandler_auto.is_enabled())", env=GARBAGE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran True\n"
    lines = proc.stderr.splitlines()
    assert all(line.startswith("faulthandler-auto: ") for line in lines), proc.stderr
    named = sorted(line.split()[1].split("=")[0] for line in lines)
    expected = sorted(k for k in GARBAGE if k not in (P, P + "_TIMOUT")) + ["unknown"]
    assert named == expected, proc.stderr
    assert "'%s_TIMOUT'" % P in proc.stderr


def test_good_variables_apply_at_start_up(run_py, tmp_path):
    code = (
        "import faulthandler_auto, signal\n"
        "print(faulthandler_auto.is_enabled(), faulthandler_auto.unregister(signal.SIGUSR1),"
        " faulthandler_auto.unregister(signal.SIGUSR2))"
    )
    proc = run_py(code, env={P: "1", P + "_SIGNAL": "usr1", P + "_PATH": str(tmp_path / "{pid}.log")})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "True True False\n", "")
    assert list(tmp_path.iterdir()) == []


def test_signal_variable_dumps_and_keeps_running(run_py):
    code = "import os, signal\nos.kill(os.getpid(), signal.SIGUSR1)\nprint('alive')"
    proc = run_py(code, env={P + "_SIGNAL": "USR1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "alive\n"
    assert 'File "<string>", line 2 in <module>' in proc.stderr


def test_stop_signal_warns_at_start_up_and_chain_keeps_its_action(run_py):
    code = "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\nprint('alive')"
    proc = run_py(code, env={P + "_SIGNAL": "TERM"})
    assert (proc.returncode, proc.stdout) == (0, "alive\n"), proc.stderr
    assert proc.stderr.startswith("faulthandler-auto: %s_SIGNAL: SIGTERM only dumps (kill and docker "
                                  "stop no longer end the process)" % P), proc.stderr
    proc = run_py(code, env={P + "_SIGNAL": "TERM", P + "_CHAIN": "1"})
    assert (proc.returncode, proc.stdout) == (-signal.SIGTERM, ""), proc.stderr
    assert not proc.stderr.startswith("faulthandler-auto:"), proc.stderr
    assert 'File "<string>", line 2 in <module>' in proc.stderr


def test_empty_values_change_nothing_at_start_up(run_py):
    env = {P + "_" + name: "" for name in ALL_VARIABLES}
    env[P] = ""
    proc = run_py("import faulthandler_auto; print(faulthandler_auto.is_enabled())", env=env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "False\n", "")


# ---- the same hostility through real interpreters (issue #7) ----

NUL_FREE = st.text(alphabet=st.characters(blacklist_characters="\x00",
                                          blacklist_categories=("Cs",)), max_size=300)
TRICKY = st.sampled_from([
    "", " ", "\t\n", "-1", "0", "nan", "inf", "-inf", "1e309", "9" * 5000, "x" * 100000,
    "{pid}{pid}{nope}", "/tmp/{prog}/{unknown}/{", "}{", "\u20ac\U0001f600", "USR1,,KILL,999",
    "SIGSEGV", "0x10", "true false", "yes\x01",
])
# TIMEOUT is left out: a valid one (say 0.001 with EXIT=1) legitimately
# dumps and exits; parse() above covers its arbitrary text in process.
HOSTILE_VARIABLES = [P] + ["%s_%s" % (P, name) for name in ALL_VARIABLES if name != "TIMEOUT"]


@settings(max_examples=40, deadline=None)
@given(st.fixed_dictionaries({name: st.one_of(NUL_FREE, TRICKY) for name in HOSTILE_VARIABLES}))
def test_hostile_values_in_a_real_interpreter(run_py, environ):
    """Any text in every variable: the interpreter starts, stdout is
    untouched, at most one warning per variable, never a traceback."""
    proc = run_py("print('ok')", env=environ, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "ok\n"), proc.stderr
    assert "Traceback" not in proc.stderr
    warned = [line.split()[1].split("=")[0] for line in proc.stderr.splitlines()]
    assert all(line.startswith("faulthandler-auto: ") for line in proc.stderr.splitlines()), proc.stderr
    assert len(warned) == len(set(warned)), proc.stderr
