/* util.c - small signal-safe helpers used across the core. */
#include "util.h"

#include <sys/auxv.h>
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

/* signal-safe: the milliseconds of CLOCK_MONOTONIC. */
long long
fa_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* signal-safe (tgkill with signal 0 sends nothing): is `tid` a thread of
 * this process?  In a child of a bare fork() (no at-fork hooks), a thread
 * id noted by the parent is not one.  errno is kept. */
int
fa_thread_alive(pid_t tid)
{
    int saved_errno = errno;
    int alive = syscall(SYS_tgkill, getpid(), tid, 0) == 0 || errno != ESRCH;
    errno = saved_errno;
    return alive;
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

/* The kernel's signal frame: AT_MINSIGSTKSZ where the kernel says it
 * (3,376 bytes with AVX-512; x86 kernels before 5.14 do not), read once at
 * start-up. */
static long signal_frame = 4096;

/* Not signal-safe: called once when the core is set up. */
void
fa_util_init(void)
{
#ifdef AT_MINSIGSTKSZ
    unsigned long frame = getauxval(AT_MINSIGSTKSZ);
    if (frame > 0 && frame < 1024 * 1024) {
        signal_frame = (long)frame;
    }
#endif
}

/* signal-safe: what a piece of a dump that takes `base` bytes of stack
 * needs left: one kernel signal frame more, for a probe's fault inside it. */
long
fa_stack_need(long base)
{
    return base + signal_frame;
}

/* signal-safe (sigaltstack only asks; not on POSIX's list, a bare system
 * call on Linux): the bytes left below the caller on the alternate signal
 * stack it runs on, or -1 when it runs on none (a thread's own stack is
 * taken to be deep enough).  Someone else may have given the thread a
 * small one: Rust's threads get 8 KiB, ASan's 54 KiB.  A stack set up
 * with SS_AUTODISARM reads as none while its handler runs. */
long
fa_signal_stack_room(void)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) != 0 || (ss.ss_flags & SS_DISABLE)) {
        return -1;
    }
    char *here = __builtin_frame_address(0);
    char *low = ss.ss_sp;
    if (here < low || here >= low + ss.ss_size) {
        return -1;
    }
    return (long)(here - low);
}

/* signal-safe: append `s` to the string `out` of `size` bytes, cut to fit. */
void
fa_str_add(char *out, size_t size, const char *s)
{
    size_t n = fa_strnlen(out, size);
    while (*s && n + 1 < size) {
        out[n++] = *s++;
    }
    out[n] = '\0';
}

/* signal-safe: append `v` (>= 0) in decimal to the string `out`. */
void
fa_dec_add(char *out, size_t size, long long v)
{
    char digits[24];
    int n = sizeof(digits) - 1;
    digits[n] = '\0';
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && n > 0);
    fa_str_add(out, size, digits + n);
}
