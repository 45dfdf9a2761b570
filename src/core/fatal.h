/* fatal.h - the fatal signals (SIGSEGV, SIGFPE, SIGBUS, SIGILL, SIGABRT):
 * their handler, and the alternate stacks it runs on. */
#ifndef FA_FATAL_H
#define FA_FATAL_H

#include "common.h"
#include "dest.h"

FA_HIDDEN_BEGIN

void fatal_handler(int signum, siginfo_t *si, void *uctx);
const char *fa_fatal_error_name(int signum);
void fa_fatal_unblock(sigset_t *set);
int fa_fatal_signal_numbers(int *out, int size);
int fa_fatal_enable(const fa_dest *dest, int all_threads, int c_stack, long max_threads);
int fa_fatal_disable(void);
int fa_fatal_is_enabled(void);
void fa_fatal_hold_faults(void);
int fa_fatal_claim_exit(void);
void fa_fatal_wait_at_exit(long grace_ms);
void fa_fatal_after_fork(void);

void *fa_altstack_install(void);
void fa_altstack_remove(void *mem);
void fa_altstack_forget(void *mem);

FA_HIDDEN_END

#endif
