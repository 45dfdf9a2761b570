/* context.h - what a dump says about where the process is: short labels
 * attached to the process or to a thread (set_context(); the pytest plugin
 * names the running test with one), and the descriptors that stand for
 * stdout and stderr while a test runner captures fd 1 and 2
 * (redirect_std()).  Setters run under the GIL; every reader is
 * signal-safe. */
#ifndef FA_CONTEXT_H
#define FA_CONTEXT_H

#include "dump.h"

FA_HIDDEN_BEGIN

#define FA_CONTEXT_SIZE 256     /* bytes of one label, its NUL included */
#define FA_CONTEXT_THREADS 64   /* threads with a label at the same time */

/* Under the GIL: set the process's label, or (ident != 0) that thread's;
 * n == 0 removes it.  Returns -1 when FA_CONTEXT_THREADS threads already
 * have one. */
int fa_context_set(unsigned long ident, const char *s, size_t n);
/* Under the GIL: thread `ident` ends. */
void fa_context_thread_gone(unsigned long ident);
/* In a child after fork(): only the forking thread is left, and its label. */
void fa_context_after_fork(void);
/* signal-safe: thread `ident`'s label into `out` (FA_CONTEXT_SIZE bytes);
 * its length, 0 for none. */
size_t fa_context_thread_label(unsigned long ident, char *out);
/* signal-safe: hand the labels to the dump's emitter, after the threads. */
void walk_context(fa_dump *d, const fa_event *ev);

/* Under the GIL: the name of this process among its siblings (the
 * pytest-xdist worker id), for the {worker} path field; n == 0 removes it. */
void fa_context_set_worker(const char *s, size_t n);
/* signal-safe: that name into `out` (FA_CONTEXT_SIZE bytes); its length. */
size_t fa_context_worker(char *out);

/* Descriptors written instead of fd 1 and fd 2 (-1: none). */
void fa_context_set_std(int stdout_fd, int stderr_fd);
/* signal-safe: where a dump of `event` meant for `fd` goes. */
int fa_context_std_fd(int fd, int event);

FA_HIDDEN_END

#endif
