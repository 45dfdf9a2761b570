/* gcstate.c - the one file that reads CPython's internal state structs
 * (PyInterpreterState, and before 3.12 _PyRuntime), whose layout only
 * CPython's internal headers describe.  Those headers need Py_BUILD_CORE
 * before Python.h, which the other files do not want, so it lives apart. */
#include <patchlevel.h>
#ifndef Py_BUILD_CORE
#  define Py_BUILD_CORE 1
#endif
#include "gcstate.h"
#include "probes.h"
/* CPython's internal headers are not written for -Wextra -Werror */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#if PY_VERSION_HEX >= 0x030A0000
#  include "internal/pycore_interp.h"
#endif
#if PY_VERSION_HEX < 0x030C0000
#  include "internal/pycore_runtime.h"
#endif
#pragma GCC diagnostic pop

/* signal-safe: one plain load from our own interpreter's state; 0 on 3.9,
 * whose faulthandler does not say. */
int
fa_gc_collecting(PyInterpreterState *interp)
{
#if PY_VERSION_HEX >= 0x030A0000
    return interp != NULL && interp->gc.collecting;
#else
    (void)interp;
    return 0;
#endif
}

/* signal-safe: plain loads of the GIL's state, to be made inside a probe.
 * 1 when `ts` holds the GIL of `interp`, 0 when not, -1 when unknown.
 * The GIL notes its last holder and whether it is taken: the holder holds
 * it while it is taken.  Before 3.12 the one GIL is _PyRuntime's, then
 * each interpreter points to its own (or the main one's); 3.13 made its
 * fields plain. The two loads are not one snapshot: a switch between them
 * may show the old holder, as a dump taken a moment earlier would. */
FA_RACY_READ int
fa_gil_held_by(PyInterpreterState *interp, PyThreadState *ts)
{
    uintptr_t holder;
    int locked;
#if PY_VERSION_HEX >= 0x030C0000
    struct _gil_runtime_state *gil = ptr_ok(interp) ? interp->ceval.gil : NULL;
    if (!ptr_ok(gil)) {
        return -1;
    }
#else
    (void)interp;
    struct _gil_runtime_state *gil = &_PyRuntime.ceval.gil;
#endif
#if PY_VERSION_HEX >= 0x030D0000
    holder = (uintptr_t)__atomic_load_n(&gil->last_holder, __ATOMIC_RELAXED);
    locked = __atomic_load_n(&gil->locked, __ATOMIC_RELAXED);
#else
    /* CPython's own accessor: the fields are C11 atomics where the
     * compiler has them */
    holder = (uintptr_t)_Py_atomic_load_relaxed(&gil->last_holder);
    locked = _Py_atomic_load_relaxed(&gil->locked);
#endif
    if (locked < 0) {
        return -1;              /* not made yet */
    }
    return locked && holder == (uintptr_t)ts;
}
