"""Named watchdogs (issue 17): faulthandler_auto.watchdog(name, timeout)
as a with-block, a decorator and an object with cancel(); independent of
PYTHONFAULTHANDLER_TIMEOUT and of each other; each dump labelled with its
name (text: a "Watchdog:" line after the Process line; JSON: "watchdog")."""
import pytest

from dumps import check_well_formed, json_dumps, line_of, read_text, script, split_dumps

SCRIPT = script("watchdogs.py")


def run(run_py, mode, tmp_path, env=None):
    out = tmp_path / "out.log"
    out.write_text("")
    environ = {"FA_MODE": mode, "FA_OUT": str(out)}
    environ.update(env or {})
    proc = run_py(SCRIPT, env=environ, timeout=120)
    return proc, read_text(out)


def frames_of_main(dump):
    return [(f.function, f.line) for f in dump.threads[0].frames]


def test_nested_only_inner_fires(run_py, tmp_path):
    proc, out = run(run_py, "nested", tmp_path)
    assert proc.returncode == 0, proc
    assert proc.stdout == "done\n" and proc.stderr == "", proc
    (dump,) = split_dumps(out)
    check_well_formed(dump)
    assert dump.watchdog == "inner"
    assert dump.timeout == "0:00:00.200000"
    assert dump.header[-1] == "Watchdog: inner", dump.header
    assert dump.header[-2].startswith("Process: pid ")
    # the main thread first, waiting in the inner block
    assert ("nested", line_of(SCRIPT, "inner")) in frames_of_main(dump)


def test_quiet_watchdogs_leave_no_dump(run_py, tmp_path):
    """Blocks and calls that end in time: no dump, the decorator returns
    the function's result."""
    proc, out = run(run_py, "quiet", tmp_path)
    assert proc.returncode == 0, proc
    assert proc.stdout == "42\n" and proc.stderr == "", proc
    assert out == ""


def test_env_timeout_fires_beside_watchdogs(run_py, tmp_path):
    """PYTHONFAULTHANDLER_TIMEOUT fires while a watchdog runs (its dump
    unlabelled), and a watchdog then fires on its own.  A busy machine may
    not reach the watchdog before the process's timeout: then again with a
    longer one."""
    for timeout in (0.2, 0.5, 1, 2, 4, 8):
        attempt = tmp_path / str(timeout)
        attempt.mkdir()
        out = attempt / "out.log"
        proc, text = run(run_py, "beside_timeout", attempt, {
            "PYTHONFAULTHANDLER_TIMEOUT": str(timeout), "PYTHONFAULTHANDLER_PATH": str(out)})
        assert proc.returncode == 0, proc
        assert proc.stdout == "done\n", proc
        env_dump, named = split_dumps(text)
        if ("beside_timeout", line_of(SCRIPT, "env-timeout")) in frames_of_main(env_dump):
            break
    else:
        pytest.fail("the watchdog never ran before the process's timeout:\n" + text)
    assert env_dump.watchdog is None and env_dump.timeout is not None
    assert named.watchdog == "short"
    assert ("beside_timeout", line_of(SCRIPT, "watchdog")) in frames_of_main(named)


def test_exit(run_py, tmp_path):
    proc, out = run(run_py, "exits", tmp_path)
    assert proc.returncode == 1, proc
    assert "not reached" not in proc.stdout
    (dump,) = split_dumps(out)
    assert dump.watchdog == "stuck job"
    assert ("exits", line_of(SCRIPT, "stuck")) in frames_of_main(dump)


def test_table_full_and_stale_handle(run_py, tmp_path):
    """A full table is a clear error, never a silent drop; a cancelled
    handle cannot cancel the next owner of its slot."""
    proc, out = run(run_py, "full", tmp_path)
    assert proc.returncode == 0, proc
    lines = proc.stdout.splitlines()
    assert lines[0] == "full after 64", proc.stdout
    assert lines[1] == ("error faulthandler-auto: all 64 watchdog slots are in use "
                        "(cancel one, or leave its with-block, first)")
    assert lines[-1] == "done"
    (dump,) = split_dumps(out)
    assert dump.watchdog == "again"


def test_many_threads(run_py, tmp_path):
    """One watchdog per thread at once: only those that overstay fire, each
    labelled with its own name."""
    proc, out = run(run_py, "threads", tmp_path)
    assert proc.returncode == 0, proc
    dumps = split_dumps(out)
    assert sorted(d.watchdog for d in dumps) == ["job 1", "job 3", "job 5", "job 7"]


def test_cancel_during_slow_reader_dump(run_py, tmp_path):
    """cancel() while the dump is stuck on a pipe nobody reads returns (the
    writer gives up at its next poll), and the table works afterwards."""
    proc, out = run(run_py, "cancel_in_flight", tmp_path)
    assert proc.returncode == 0, proc
    assert proc.stdout == "in flight\ndone\n", proc
    (dump,) = split_dumps(out)
    assert dump.watchdog == "after"


def test_json_field(run_py, tmp_path):
    proc, out = run(run_py, "nested", tmp_path, {"PYTHONFAULTHANDLER_FORMAT": "json"})
    assert proc.returncode == 0, proc
    (dump,) = json_dumps(out)
    assert dump["watchdog"] == "inner"
    assert dump["event"] == "timeout" and dump["timeout"] == "Timeout (0:00:00.200000)!"


HOSTILE = """
import faulthandler_auto as f
for args in {args}:
    try:
        w = f.watchdog(*args)
    except Exception as e:
        print(type(e).__name__, e)
    else:
        print("ok", repr(w.name[:12]), len(f._watchdog_label(w.name)))
"""


def test_hostile_arguments(run_py):
    args = """[("x", -1), ("x", 0), ("x", float("nan")), ("x", 1e300), ("x", "5"),
        (b"name", 5), (None, 5), ("\\udc80 lone", 5), ("\\xe9" * 10000, 5), ("x" * 10240, 5)]"""
    proc = run_py(HOSTILE.format(args=args))
    assert proc.returncode == 0, proc
    assert proc.stdout.splitlines() == [
        "ValueError timeout must be greater than 0",
        "ValueError timeout must be greater than 0",
        "ValueError Invalid value NaN (not a number)",
        "OverflowError timeout value is too large",
        "TypeError 'str' object cannot be interpreted as an integer",
        "TypeError watchdog name must be str, not bytes",
        "TypeError watchdog name must be str, not NoneType",
        "ok '\\udc80 lone' 11",
        "ok 'éééééééééééé' 199",      # 98 two-byte characters and "..."
        "ok 'xxxxxxxxxxxx' 200",
    ]


def test_long_name_is_cut_in_the_dump(run_py, tmp_path):
    out = tmp_path / "out.log"
    code = ("import faulthandler_auto as f, time\n"
            "with f.watchdog('x' * 10240, 0.1, file=%r):\n"
            "    while 'Watchdog: ' not in open(%r).read(): time.sleep(0.01)\n" % (str(out), str(out)))
    out.write_text("")
    proc = run_py(code)
    assert proc.returncode == 0, proc
    (dump,) = split_dumps(read_text(out))
    assert dump.watchdog == "x" * 197 + "..."


def test_running_twice_is_an_error(run_py):
    code = ("import faulthandler_auto as f\n"
            "w = f.watchdog('once', 3600)\n"
            "with w:\n"
            "    try:\n"
            "        w.start()\n"
            "    except RuntimeError as e:\n"
            "        print(e)\n"
            "w.cancel(); w.cancel()\n"
            "print(repr(w))\n")
    proc = run_py(code)
    assert proc.returncode == 0, proc
    assert proc.stdout.splitlines() == ["watchdog 'once' is already running",
                                        "<faulthandler_auto.watchdog 'once', 3600s>"]


def test_fallback_mode_raises(run_py):
    """Without the C core (FAULTHANDLER_AUTO_NATIVE cannot be changed after
    install, so the core's import is made to fail) start() says why."""
    code = ("import sys; sys.modules['faulthandler_auto._native'] = None\n"
            "import faulthandler_auto as f\n"
            "assert f.fallback_reason\n"
            "try:\n"
            "    f.watchdog('x', 1).start()\n"
            "except RuntimeError as e:\n"
            "    print(e)\n")
    proc = run_py(code)
    assert proc.returncode == 0, proc
    assert proc.stdout.startswith("faulthandler-auto: watchdog() needs the C core, and this is "
                                  "fallback mode ("), proc.stdout
