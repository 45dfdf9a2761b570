/* util.c - small signal-safe helpers used across the core. */
#include "util.h"

#include <sys/syscall.h>

/* signal-safe: gettid without the libc wrapper (absent before glibc 2.30). */
pid_t
fa_gettid(void)
{
#ifdef SYS_gettid
    return (pid_t)syscall(SYS_gettid);
#else
    return getpid();
#endif
}

/* signal-safe: strlen, bounded. */
size_t
fa_strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n]) {
        n++;
    }
    return n;
}

/* signal-safe: copy a C string into a fixed field, always NUL-terminated. */
void
fa_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = fa_strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* signal-safe: a nanosleep that ignores EINTR for short waits. */
void
fa_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* signal-safe (sigaction and raise are): give `signum` its default action
 * and raise it, so the process ends the way it would have without us. */
void
fa_raise_default(int signum)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(signum, &dfl, NULL);
    raise(signum);
}
