/* gcstate.h - whether the interpreter's cyclic garbage collector is
 * running, which CPython 3.10+ notes in a dump ("  Garbage-collecting"). */
#ifndef FA_GCSTATE_H
#define FA_GCSTATE_H

#include "common.h"

FA_HIDDEN_BEGIN

int fa_gc_collecting(PyInterpreterState *interp);

FA_HIDDEN_END

#endif
