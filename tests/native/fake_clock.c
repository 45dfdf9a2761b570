/* fake_clock.c - an LD_PRELOAD shim for the tests: CLOCK_REALTIME reads as
 * FAKE_REALTIME seconds since the epoch (any signed integer), so that a dump
 * can be made to happen before year 0 or after year 9999.  The other clocks
 * are the real ones. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long fake_seconds;
static int faking;

__attribute__((constructor)) static void
read_fake(void)
{
    const char *value = getenv("FAKE_REALTIME");
    if (value != NULL) {
        fake_seconds = strtoll(value, NULL, 10);
        faking = 1;
    }
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
