"""The C core as a module: its own tables say what the Python side says
(the fatal signals it handles, the fields its path templates expand: the
Python side checks and documents them, the core acts on them), and it
imports in a second interpreter without disturbing the first."""
import os
import signal

import pytest

from faulthandler_auto import _facts, _native

from dumps import FATAL_NAMES


def test_fatal_signals_agree():
    core = set(_native.FATAL_SIGNALS)
    assert len(core) == len(_native.FATAL_SIGNALS) == 5
    assert core == set(_facts.FATAL_SIGNALS.values())
    assert core == {getattr(signal, name) for name in _facts.FATAL_SIGNALS}
    assert core == {getattr(signal, name) for name in FATAL_NAMES}


def test_template_fields_agree():
    assert _native.TEMPLATE_FIELDS == _facts.TEMPLATE_FIELDS


def test_tree_signal_agrees():
    assert _native.TREE_SIGNAL == _facts.TREE_SIGNAL == signal.SIGRTMAX - 3


def test_every_template_field_expands(tmp_path):
    """Each field the core lists is one it expands: a dump to a template made
    of all of them lands in a file whose name holds no brace."""
    template = str(tmp_path / "-".join("{%s}" % f for f in _native.TEMPLATE_FIELDS))
    _native.dump_traceback(template.encode(), False, 0)
    (written,) = tmp_path.iterdir()
    assert "{" not in written.name and "}" not in written.name
    # our Process line ends a text dump
    assert written.read_text().splitlines()[-1].startswith("Process: pid ")


def test_expand_path_names_the_file_a_dump_opens(tmp_path):
    """What the CLI shows as a destination comes from the core's own
    expander: with this process's values it names the file a dump to the
    same template creates; given values are written as the docs say, a '/'
    in a value as '_'."""
    template = str(tmp_path / "{pid}-{ppid}-{host}.log")
    _native.dump_traceback(template.encode(), False, 0)
    (written,) = tmp_path.iterdir()
    assert _native.expand_path(template.encode(), os.getpid(), os.getppid(), b"x", 0) == os.fsencode(written)
    one_year_one_hour_one_minute_one_second = 365 * 86400 + 3661
    assert (_native.expand_path(b"/d/{pid}.{ppid}.{prog}.{time}", 12, 34, b"a/b",
                                one_year_one_hour_one_minute_one_second)
            == b"/d/12.34.a_b.19710101T010101Z")
    with pytest.raises(ValueError):
        _native.expand_path(b"/" + b"x" * 5000, 1, 1, b"p", 0)


def test_path_problem_is_what_a_dump_would_meet(tmp_path, capfd):
    """The CLI's check of a destination is the core's open, run dry: what
    would be created is not, and each refusal has the words of the note a
    dump prints when it falls back to stderr."""
    missing = tmp_path / "a" / "b" / "dump.log"
    assert _native.path_problem(os.fsencode(missing)) is None
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "target").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert _native.path_problem(os.fsencode(tmp_path / "link")) == "refusing to follow a symbolic link"
    assert _native.path_problem(os.fsencode(tmp_path / "link" / "x")) == "refusing to follow a symbolic link"
    assert _native.path_problem(os.fsencode(tmp_path / "target" / "x")) == "a path component is not a directory"
    os.mkfifo(tmp_path / "fifo")
    assert _native.path_problem(os.fsencode(tmp_path / "fifo")) == "not a regular file owned by this user"
    assert _native.path_problem(os.fsencode(tmp_path / "target")) is None
    capfd.readouterr()
    _native.dump_traceback(os.fsencode(tmp_path / "link"), False, 0)
    assert "refusing to follow a symbolic link; writing the dump to stderr" in capfd.readouterr().err


SUBINTERPRETER = """
import _testcapi
from faulthandler_auto import _native
print(_testcapi.run_in_subinterp("from faulthandler_auto import _native; print(_native.TEMPLATE_FIELDS[0], flush=True)"))
_native.dump_traceback(2, False, 0)
"""


def test_imports_in_a_subinterpreter(run_py):
    """Its state is the process's: a second interpreter gets the module, and
    the first one's core still dumps."""
    proc = run_py("import _testcapi; _testcapi.run_in_subinterp")
    if proc.returncode != 0:
        pytest.skip("this CPython has no _testcapi.run_in_subinterp")
    proc = run_py(SUBINTERPRETER)
    assert (proc.returncode, proc.stdout) == (0, "pid\n0\n"), proc
    assert proc.stderr.splitlines()[-1].startswith("Process: pid "), proc.stderr
    assert "Stack (most recent call first):\n" in proc.stderr
