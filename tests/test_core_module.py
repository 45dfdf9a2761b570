"""The C core as a module: its own tables say what the Python side says
(the fatal signals it handles, the fields its path templates expand: the
Python side checks and documents them, the core acts on them), and it
imports in a second interpreter without disturbing the first."""
import signal

import pytest

import faulthandler_auto
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


def test_every_template_field_expands(tmp_path):
    """Each field the core lists is one it expands: a dump to a template made
    of all of them lands in a file whose name holds no brace."""
    template = str(tmp_path / "-".join("{%s}" % f for f in _native.TEMPLATE_FIELDS))
    _native.dump_traceback(template.encode(), False, 0)
    (written,) = tmp_path.iterdir()
    assert "{" not in written.name and "}" not in written.name
    # our Process line ends a text dump
    assert written.read_text().splitlines()[-1].startswith("Process: pid ")


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
