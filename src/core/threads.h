/* threads.h - the thread registry: the names and kernel ids of threads
 * started through `threading`, and the alternate signal stacks we gave
 * them. */
#ifndef FA_THREADS_H
#define FA_THREADS_H

#include "common.h"

FA_HIDDEN_BEGIN

const char *thread_name(unsigned long ident, int is_main, size_t *len);
pid_t thread_tid(unsigned long ident);
void fa_thread_set_name(unsigned long ident, const char *name, size_t len);
void fa_thread_enter(const char *name, size_t len);
void fa_thread_leave(void);
void fa_threads_after_fork(void);

FA_HIDDEN_END

#endif
