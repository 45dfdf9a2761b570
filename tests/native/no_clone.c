/* no_clone.c - a process in which clone() cannot make a thread, as under a
 * pids limit or a sandbox: preloaded (LD_PRELOAD), it makes glibc's
 * exported clone() fail with EAGAIN; pthread_create() does not call it, so
 * the interpreter's threads still start.  Each refusal creates the file
 * NO_CLONE_MARK names, for the test to see that it happened. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int
clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    (void)fn;
    (void)stack;
    (void)flags;
    (void)arg;
    const char *mark = getenv("NO_CLONE_MARK");
    if (mark != NULL) {
        int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
        }
    }
    errno = EAGAIN;
    return -1;
}
