/* gcstate.h - the interpreter's state only CPython's internal headers
 * describe: whether its cyclic garbage collector is running, which CPython
 * 3.10+ notes in a dump ("  Garbage-collecting"), and who holds the GIL. */
#ifndef FA_GCSTATE_H
#define FA_GCSTATE_H

#include "common.h"

FA_HIDDEN_BEGIN

int fa_gc_collecting(PyInterpreterState *interp);
int fa_gil_held_by(PyInterpreterState *interp, PyThreadState *ts);

FA_HIDDEN_END

#endif
