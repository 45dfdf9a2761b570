/* cstack.h - the native (C) stack of the calling thread. */
#ifndef FA_CSTACK_H
#define FA_CSTACK_H

#include "dump.h"

FA_HIDDEN_BEGIN

#define FA_C_FRAMES 128         /* lines a C stack prints: frames and repeat markers */

/* The native stack of the calling thread, innermost first, from the
 * faulting instruction (or after our own frames): frames[start..n). */
typedef struct {
    void **frames;
    int start, n;
    int complete;               /* 0: the stack goes on past frames[n - 1] */
    int deep;                   /* frames is the shared deep buffer */
    void *local[FA_C_FRAMES];
} fa_cstack;

void fa_cstack_init(void *self_symbol);
void fa_prime_unwinder(void);
int fa_cstack_has_room(void);
int fa_cstack_capture(fa_cstack *cs, uintptr_t pc);
void fa_cstack_release(fa_cstack *cs);
int fa_cstack_fold(const fa_cstack *cs, int i, int *times);
void walk_c_stack(fa_dump *d, uintptr_t pc);
void fa_cstack_init_fatal_error(void);
int fa_cstack_in_fatal_error(void);

FA_HIDDEN_END

#endif
