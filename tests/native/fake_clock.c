/* fake_clock.c - an LD_PRELOAD shim for the tests: once fake_clock_set(s)
 * is called (ctypes), CLOCK_REALTIME reads as `s` seconds since the epoch
 * (any signed number), so that a dump can be made to happen before year 0
 * or after year 9999 in an interpreter that started at the real time.  The
 * other clocks are the real ones. */
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long fake_seconds;
static volatile int faking;

void
fake_clock_set(long long seconds)
{
    fake_seconds = seconds;
    faking = 1;
}

int
clock_gettime(clockid_t clock, struct timespec *ts)
{
    if (faking && clock == CLOCK_REALTIME) {
        ts->tv_sec = (time_t)fake_seconds;
        ts->tv_nsec = 0;
        return 0;
    }
    return (int)syscall(SYS_clock_gettime, clock, ts);
}
