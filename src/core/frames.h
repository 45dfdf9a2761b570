/* frames.h - the Python frame walker's reads of one frame.  All of it is
 * signal-safe when run inside a probe: plain loads from checked pointers
 * into a local copy, no allocation. */
#ifndef FA_FRAMES_H
#define FA_FRAMES_H

#include "pycompat.h"

FA_HIDDEN_BEGIN

/* The longest frame chain walked; a longer one is taken as a loop. */
#define FA_MAX_CHAIN (1L << 22)

fa_frame *thread_top_frame(PyThreadState *ts);
int frame_check(fa_frame *f, fa_frame *copy);
fa_frame *frame_back(const fa_frame *copy);
PyCodeObject *frame_code(const fa_frame *copy);
int frame_line(fa_frame *copy, PyCodeObject *code);

FA_HIDDEN_END

#endif
