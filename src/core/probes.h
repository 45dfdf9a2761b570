/* probes.h - reading memory that may not be there.
 *
 * Another thread may free or rewrite what a dump reads: its frames live in
 * memory that is unmapped when the thread ends.  So every read of Python
 * memory happens inside a probe (see `probed`): a SIGSEGV or SIGBUS there
 * returns to the probe, which drops what the step wrote and reports it.
 * Before that, pointers get the cheap checks below.  fatal_handler, which
 * holds SIGSEGV and SIGBUS from the moment a dump is armed
 * (fa_fatal_hold_faults), sends those faults back to the probe.
 */
#ifndef FA_PROBES_H
#define FA_PROBES_H

#include "common.h"

#include <setjmp.h>

FA_HIDDEN_BEGIN

typedef struct fa_dump fa_dump;

/* A step of a dump that reads Python memory, run by `probed`. */
typedef void (*fa_step)(fa_dump *d, void *arg);

/* signal-safe: could `p` point to an object at all? */
static inline int
ptr_ok(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    return v >= 4096 && (v & (sizeof(void *) - 1)) == 0;
}

/* An object's header, read in racy code.  CPython's Py_TYPE and Py_SIZE,
 * and the accessors built on them, are inline functions, and GCC does not
 * inline a sanitized function into one that is not (FA_RACY_READ): kept
 * out of line, they would be instrumented, and AddressSanitizer would
 * report the very reads the probes allow (a dump that goes on while
 * Py_Finalize frees what it reads). */
#define FA_TYPE(obj) (((PyObject *)(obj))->ob_type)
#define FA_SIZE(obj) (((PyVarObject *)(obj))->ob_size)

/* signal-safe: `obj` looks like an object exactly of `type`. */
static inline FA_RACY_READ int
obj_ok(PyObject *obj, PyTypeObject *type)
{
    return ptr_ok(obj) && FA_TYPE(obj) == type;
}

/* signal-safe (probed, no call into CPython): `obj` looks like an instance
 * of `type` or of a subclass.  The tp_base chain, not the MRO: a subclass of
 * a type with its own object layout (a module, a type, a Task) has that type
 * among its bases whatever else it inherits, and the chain is read with
 * every link probed, where PyType_IsSubtype would follow the MRO tuple
 * unchecked. */
static inline FA_RACY_READ int
instance_ok(PyObject *obj, PyTypeObject *type)
{
    if (!ptr_ok(obj)) {
        return 0;
    }
    PyTypeObject *t = FA_TYPE(obj);
    for (int depth = 0; depth < 64 && ptr_ok(t); depth++, t = t->tp_base) {
        if (t == type) {
            return 1;
        }
    }
    return 0;
}

void racy_copy(void *dst, const void *src, size_t n);
int probed(fa_dump *d, fa_step step, void *arg);
sigjmp_buf *probe_env_of(pid_t tid);
void fa_probes_after_fork(void);

FA_HIDDEN_END

#endif
