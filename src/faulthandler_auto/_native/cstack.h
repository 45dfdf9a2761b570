/* cstack.h - the native (C) stack of the calling thread. */
#ifndef FA_CSTACK_H
#define FA_CSTACK_H

#include "dump.h"

FA_HIDDEN_BEGIN

void fa_cstack_init(void *self_symbol);
void fa_prime_unwinder(void);
void walk_c_stack(fa_dump *d, uintptr_t pc);
void fa_cstack_init_fatal_error(void);
int fa_cstack_in_fatal_error(void);

FA_HIDDEN_END

#endif
