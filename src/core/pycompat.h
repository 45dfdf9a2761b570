/* pycompat.h - every difference between CPython versions the core depends
 * on, and nothing else.  The extension is built per interpreter, so the
 * layout compiled in is the layout of the interpreter that loads it.
 *
 * The accessors read a frame copy or a thread state; they are signal-safe
 * (plain loads) and meant to be called inside a probe.
 */
#ifndef FA_PYCOMPAT_H
#define FA_PYCOMPAT_H

#include "common.h"
#include "probes.h"

#include <frameobject.h>
#include <pthread.h>
#if PY_VERSION_HEX >= 0x030B0000
/* 3.11+ keeps frames in _PyInterpreterFrame, which only the internal headers
 * describe. */
#  ifndef Py_BUILD_CORE
#    define Py_BUILD_CORE 1
#  endif
/* CPython's internal headers are not written for -Wextra -Werror */
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-parameter"
#  pragma GCC diagnostic ignored "-Wsign-compare"
#  pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#  include "internal/pycore_frame.h"
#  if PY_VERSION_HEX >= 0x030E0000
/* 3.14 moved the struct and its helpers out of pycore_frame.h */
#    include "internal/pycore_interpframe.h"
#  endif
#  pragma GCC diagnostic pop
#endif

FA_HIDDEN_BEGIN

/* A Python frame as its thread keeps it; a frame object before 3.11. */
#if PY_VERSION_HEX >= 0x030B0000
typedef _PyInterpreterFrame fa_frame;
#  define FA_FRAME_BACK(f) ((f)->previous)
#else
typedef PyFrameObject fa_frame;
#  define FA_FRAME_BACK(f) ((f)->f_back)
#endif

/* Before 3.11 a frame is an object whose type can be checked. */
#define FA_FRAME_IS_OBJECT (PY_VERSION_HEX < 0x030B0000)

/* The innermost frame of a thread; 3.11 and 3.12 reach it through a
 * C frame pointer, checked before it is followed. */
static inline FA_RACY_READ fa_frame *
fa_compat_top_frame(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#elif PY_VERSION_HEX >= 0x030B0000
    _PyCFrame *cf = ts->cframe;
    return ptr_ok(cf) ? cf->current_frame : NULL;
#else
    return ts->frame;
#endif
}

/* The calling thread's state, NULL when it has none.  3.12+ keep it per
 * thread (and a subinterpreter's state may carry the id of the thread that
 * made it, not of the one running it); before, it is the GIL holder's, so
 * it is the caller's only if its thread id says so. */
static inline FA_RACY_READ PyThreadState *
fa_compat_current_tstate(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *ts = PyThreadState_GetUnchecked();
#else
    PyThreadState *ts = _PyThreadState_UncheckedGet();
#endif
    if (!ptr_ok(ts)) {
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (ts->thread_id != (unsigned long)pthread_self()) {
        return NULL;
    }
#endif
    return ts;
}

/* The kernel thread id a thread state notes (3.11+), 0 when it notes none:
 * the thread registry (threads.h) knows some of the others. */
static inline FA_RACY_READ pid_t
fa_compat_native_tid(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030B0000
    return (pid_t)ts->native_thread_id;
#else
    (void)ts;
    return 0;
#endif
}

/* A frame copy that CPython's traceback leaves out: 3.12+ interleaves shim
 * frames owned by the C stack, 3.14+ trampolines and (3.15) the thread's
 * base frame sentinel. */
static inline int
fa_compat_frame_hidden(const fa_frame *copy)
{
#if PY_VERSION_HEX >= 0x030E0000
    return copy->owner >= FRAME_OWNED_BY_INTERPRETER;
#elif PY_VERSION_HEX >= 0x030C0000
    return copy->owner == FRAME_OWNED_BY_CSTACK;
#else
    (void)copy;
    return 0;
#endif
}

/* The object a frame copy names as its code (not yet checked). */
static inline FA_RACY_READ PyObject *
fa_compat_frame_code(const fa_frame *copy)
{
#if PY_VERSION_HEX >= 0x030E0000
    return PyStackRef_AsPyObjectBorrow(copy->f_executable);
#elif PY_VERSION_HEX >= 0x030D0000
    return copy->f_executable;
#else
    return (PyObject *)copy->f_code;
#endif
}

/* The line table PyCode_Addr2Line reads. */
#if PY_VERSION_HEX >= 0x030A0000
#  define FA_CODE_LINETABLE(code) ((code)->co_linetable)
#else
#  define FA_CODE_LINETABLE(code) ((code)->co_lnotab)
#endif

/* The address PyCode_Addr2Line wants for a frame copy, as CPython's
 * traceback computes it for this version (the same arithmetic as
 * PyUnstable_InterpreterFrame_GetLine, which would read the live frame). */
static inline int
fa_compat_frame_addr(fa_frame *copy)
{
#if PY_VERSION_HEX >= 0x030B0000
    return _PyInterpreterFrame_LASTI(copy) * (int)sizeof(_Py_CODEUNIT);
#elif PY_VERSION_HEX >= 0x030A0000
    return copy->f_lasti * (int)sizeof(_Py_CODEUNIT);
#else
    return copy->f_lasti;
#endif
}

/* The size in bytes of a code object's bytecode, the bound of the
 * addresses PyCode_Addr2Line accepts (it asserts it in debug builds, and
 * 3.12+ index per-instruction tables with it); -1 when unreadable.  Up to
 * 3.10 the bytecode is a separate bytes object. */
static inline FA_RACY_READ Py_ssize_t
fa_compat_code_nbytes(PyCodeObject *code)
{
#if PY_VERSION_HEX >= 0x030B0000
    return FA_SIZE(code) * (Py_ssize_t)sizeof(_Py_CODEUNIT);
#else
    PyObject *bytecode = code->co_code;
    return obj_ok(bytecode, &PyBytes_Type) ? FA_SIZE(bytecode) : -1;
#endif
}

FA_HIDDEN_END

#endif
