/* tstate.h - what the kernel says about one thread of this process: its
 * scheduler state and CPU time, read from /proc with plain system calls,
 * and whether it holds the GIL.  Shown per thread by the text and JSON
 * formats (never by the cpython format). */
#ifndef FA_TSTATE_H
#define FA_TSTATE_H

#include "common.h"

FA_HIDDEN_BEGIN

typedef struct {
    pid_t tid;                  /* kernel thread id, 0 when unknown */
    char state;                 /* /proc's letter (R, S, D, T, Z, ...), 0 when unknown */
    long long cpu_ms;           /* user + system CPU time, -1 when unknown */
    int gil;                    /* 1: holds the GIL, 0: does not, -1: unknown */
} fa_thread_state;

void fa_task_read(fa_thread_state *st);
const char *fa_task_state_word(char state);

FA_HIDDEN_END

#endif
