#!/usr/bin/env bash
# tools/sid-selftest.sh — smoke test of the sid root; run it through
#   tools/sid-root.sh selftest [ROOT] [-- PYTHON...]
# For each interpreter (default: python3.14 python3.15 python3.14-dbg
# python3.15-dbg) it makes a fresh venv in /tmp, builds two C extensions with
# setuptools and imports them:
#   hello     — plain hello-world module;
#   corewalk  — defines Py_BUILD_CORE, includes internal/pycore_frame.h and
#               pycore_interpframe.h, walks tstate->current_frame and checks the
#               (file, line, function) list against traceback.extract_stack().
# It also prints struct offsets and how many lines CPython's own faulthandler
# prints for a 150-deep stack.  Exit status 0 only if every interpreter passed.
set -euo pipefail
[ -n "${SID_ROOT_INSIDE:-}" ] || { echo "run me via tools/sid-root.sh selftest" >&2; exit 2; }
PYS=${*:-python3.14 python3.15 python3.14-dbg python3.15-dbg}
W=$(mktemp -d /tmp/sid-selftest.XXXXXX)
trap 'rm -rf "$W"' EXIT

mkdir -p "$W/hello" "$W/core"
cat > "$W/hello/hello.c" <<'EOF'
#include <Python.h>
static PyObject *hi(PyObject *m, PyObject *a) { return PyUnicode_FromString("hello"); }
static PyMethodDef M[] = {{"hi", hi, METH_NOARGS, NULL}, {NULL}};
static struct PyModuleDef D = {PyModuleDef_HEAD_INIT, "hello", NULL, -1, M};
PyMODINIT_FUNC PyInit_hello(void) { return PyModule_Create(&D); }
EOF
cat > "$W/hello/setup.py" <<'EOF'
from setuptools import setup, Extension
setup(name="hello", version="0", ext_modules=[Extension("hello", ["hello.c"])])
EOF
cat > "$W/core/corewalk.c" <<'EOF'
/* The snippet under test: internal frame API from a normal extension. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include "internal/pycore_frame.h"
#if PY_VERSION_HEX >= 0x030E0000
#  include "internal/pycore_interpframe.h"   /* _PyFrame_GetCode, _PyFrame_IsIncomplete */
#endif

static PyObject *
walk(PyObject *m, PyObject *unused)
{
    PyThreadState *ts = PyThreadState_Get();
    PyObject *out = PyList_New(0);
    for (_PyInterpreterFrame *f = ts->current_frame; f != NULL; f = f->previous) {
        int owner = f->owner;
        if (owner == FRAME_OWNED_BY_INTERPRETER) {
            /* entry trampoline, and on 3.15 the base-frame sentinel */
            PyObject *t = Py_BuildValue("(sii)", "<skip>", owner, (int)PyStackRef_IsNull(f->f_executable));
            PyList_Append(out, t); Py_DECREF(t);
            continue;
        }
        /* Signal-safe way: mask the tag bits of the stack ref by hand. */
        PyObject *ex = (PyObject *)(f->f_executable.bits & ~(uintptr_t)3);
        PyCodeObject *co = _PyFrame_GetCode(f);
        if ((PyObject *)co != ex || (PyObject *)co != PyStackRef_AsPyObjectBorrow(f->f_executable)) {
            PyErr_SetString(PyExc_AssertionError, "masked f_executable != _PyFrame_GetCode");
            Py_DECREF(out); return NULL;
        }
        int line = PyUnstable_InterpreterFrame_GetLine(f);
        PyObject *t = Py_BuildValue("(OiOii)", co->co_filename, line, co->co_name,
                                    owner, (int)_PyFrame_IsIncomplete(f));
        PyList_Append(out, t); Py_DECREF(t);
    }
    return out;
}

static PyObject *
layout(PyObject *m, PyObject *unused)
{
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n}",
        "sizeof(_PyInterpreterFrame)", (Py_ssize_t)sizeof(_PyInterpreterFrame),
        "f_executable", (Py_ssize_t)offsetof(_PyInterpreterFrame, f_executable),
        "previous", (Py_ssize_t)offsetof(_PyInterpreterFrame, previous),
        "instr_ptr", (Py_ssize_t)offsetof(_PyInterpreterFrame, instr_ptr),
        "owner", (Py_ssize_t)offsetof(_PyInterpreterFrame, owner),
        "localsplus", (Py_ssize_t)offsetof(_PyInterpreterFrame, localsplus),
        "PyThreadState.current_frame", (Py_ssize_t)offsetof(PyThreadState, current_frame),
        "PyThreadState.thread_id", (Py_ssize_t)offsetof(PyThreadState, thread_id));
}

static PyMethodDef M[] = {{"walk", walk, METH_NOARGS, NULL},
                          {"layout", layout, METH_NOARGS, NULL}, {NULL}};
static struct PyModuleDef D = {PyModuleDef_HEAD_INIT, "corewalk", NULL, -1, M};
PyMODINIT_FUNC PyInit_corewalk(void) { return PyModule_Create(&D); }
EOF
cat > "$W/core/setup.py" <<'EOF'
from setuptools import setup, Extension
setup(name="corewalk", version="0",
      ext_modules=[Extension("corewalk", ["corewalk.c"], extra_compile_args=["-Werror=implicit-function-declaration"])])
EOF
cat > "$W/check.py" <<'EOF'
import faulthandler, os, sys, sysconfig, tempfile, traceback
import hello, corewalk
assert hello.hi() == "hello"
inc = sysconfig.get_path("include")
assert os.path.exists(os.path.join(inc, "internal", "pycore_frame.h")), inc

def deep(n):
    if n:
        return deep(n - 1)
    walked, stack = corewalk.walk(), traceback.extract_stack()  # same line
    expect = [(f.filename, f.lineno, f.name) for f in reversed(stack)]
    got = [w[:3] for w in walked if w[0] != "<skip>"]
    # the walk itself is called from here, so both lists start in deep()
    assert got == expect, (got, expect)
    return walked

walked = deep(3)
skips = [w for w in walked if w[0] == "<skip>"]
print("  abiflags=%r Py_DEBUG=%s ext=%s" % (sys.abiflags, sysconfig.get_config_var("Py_DEBUG"),
                                           os.path.basename(corewalk.__file__)))
print("  walk == traceback.extract_stack(): %d frames; owners %s; skipped (owner, executable-is-NULL) %s"
      % (len(walked) - len(skips), sorted({w[3] for w in walked if w[0] != "<skip>"}),
         [(s[1], s[2]) for s in skips]))
print("  layout", corewalk.layout())

def rec(n):
    if n:
        return rec(n - 1)
    with tempfile.TemporaryFile("w+") as fh:
        faulthandler.dump_traceback(fh, all_threads=False)
        fh.seek(0)
        return fh.read().splitlines()
lines = rec(150)
print("  faulthandler.dump_traceback at depth ~152: %d lines; last 2: %r" % (len(lines), lines[-2:]))
EOF

fail=0
for py in $PYS; do
    exe=$(command -v "$py" || true)
    if [ -z "$exe" ]; then echo "== $py: not installed"; fail=1; continue; fi
    t0=$SECONDS
    v="$W/venv-$py"
    echo "== $py ($("$exe" -VV | head -1))"
    if ! { "$exe" -m venv "$v" \
           && "$v/bin/pip" install -q setuptools \
           && "$v/bin/pip" install -q --no-build-isolation "$W/hello" "$W/core" \
           && (cd "$W" && "$v/bin/python" check.py); } > "$W/log" 2>&1; then
        cat "$W/log"; echo "  FAILED"; fail=1; continue
    fi
    cat "$W/log"
    echo "  ok in $((SECONDS - t0)) s"
done
exit $fail
