/* gcstate.c - the one file that reads PyInterpreterState, whose layout only
 * CPython's internal headers describe.  Those headers need Py_BUILD_CORE
 * before Python.h, which the other files do not want, so it lives apart. */
#include <patchlevel.h>
#if PY_VERSION_HEX >= 0x030A0000 && !defined(Py_BUILD_CORE)
#  define Py_BUILD_CORE 1
#endif
#include "gcstate.h"
#if PY_VERSION_HEX >= 0x030A0000
/* CPython's internal headers are not written for -Wextra -Werror */
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-parameter"
#  pragma GCC diagnostic ignored "-Wsign-compare"
#  pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#  include "internal/pycore_interp.h"
#  pragma GCC diagnostic pop
#endif

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
