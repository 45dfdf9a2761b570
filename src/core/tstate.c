/* tstate.c - the kernel's view of a thread (see tstate.h). */
#include "tstate.h"

#include <fcntl.h>

/* clock ticks per second of /proc's CPU times, read when the library is
 * loaded: sysconf is not async-signal-safe, and a dump must not call it */
static long clock_ticks;

__attribute__((constructor)) static void
read_clock_ticks(void)
{
    clock_ticks = sysconf(_SC_CLK_TCK);
}

/* signal-safe: digits only */
static char *
put_dec(char *p, unsigned long long v)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        *p++ = digits[--n];
    }
    return p;
}

/* signal-safe: the unsigned number at *p, which is moved past it */
static unsigned long long
get_dec(const char **p, const char *end)
{
    unsigned long long v = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        v = v * 10 + (unsigned long long)(**p - '0');
        (*p)++;
    }
    return v;
}

/* signal-safe: open, read and close on a stack buffer, no allocation.
 * Fills st->state and st->cpu_ms from /proc/self/task/<tid>/stat (proc(5):
 * field 3 is the state, 14 and 15 the user and system time in clock ticks);
 * they stay unknown when the thread is gone or the line does not parse.
 * The command name (field 2) may hold spaces and parentheses, so the
 * fields are counted from its last ')'. */
void
fa_task_read(fa_thread_state *st)
{
    st->state = 0;
    st->cpu_ms = -1;
    if (st->tid <= 0) {
        return;
    }
    char path[64] = "/proc/self/task/";
    char *p = put_dec(path + 16, (unsigned long long)st->tid);
    memcpy(p, "/stat", 6);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    char buf[512];
    ssize_t n;
    do {
        n = read(fd, buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) {
        return;
    }
    const char *end = buf + n, *s = NULL;
    for (const char *q = buf; q < end; q++) {
        if (*q == ')') {
            s = q;
        }
    }
    if (s == NULL || end - s < 4 || s[1] != ' ') {
        return;
    }
    st->state = s[2];
    s += 3;
    /* past fields 4 to 13, to the space before field 14 */
    for (int field = 4; field <= 13; field++) {
        if (s >= end || *s != ' ') {
            return;
        }
        s++;
        while (s < end && *s != ' ') {
            s++;
        }
    }
    if (s >= end || *s != ' ') {
        return;
    }
    s++;
    unsigned long long utime = get_dec(&s, end);
    if (s >= end || *s != ' ') {
        return;
    }
    s++;
    const char *stime_at = s;
    unsigned long long stime = get_dec(&s, end);
    if (s == stime_at || s >= end || clock_ticks <= 0) {
        return;
    }
    st->cpu_ms = (long long)((utime + stime) * 1000ULL / (unsigned long long)clock_ticks);
}

/* signal-safe: a constant string.  proc(5)'s words for its letters. */
const char *
fa_task_state_word(char state)
{
    switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "uninterruptible wait";
    case 'T': return "stopped";
    case 't': return "tracing stop";
    case 'Z': return "zombie";
    case 'X': case 'x': return "dead";
    case 'I': return "idle";
    case 'P': return "parked";
    case 'W': return "waking";
    case 'K': return "wakekill";
    default: return NULL;
    }
}
