/* budget.c - the budget of on-demand dumps (see budget.h). */
#include "budget.h"

#define FA_DEFAULT_RATE 20                  /* dumps a second, per signal */
#define FA_DEFAULT_BYTES (64LL << 20)       /* bytes a minute, all together */

static struct {
    long rate;                  /* 0: no limit */
    long long bytes;            /* 0: no limit */
    long long spent;            /* bytes in the current minute */
    struct timespec window;     /* when the current minute began */
} limits = {FA_DEFAULT_RATE, FA_DEFAULT_BYTES, 0, {0, 0}};

/* Set with the GIL, before any dump is armed; 0 means no limit. */
void
fa_limits_set(long rate, long long bytes_per_minute)
{
    limits.rate = rate;
    limits.bytes = bytes_per_minute;
}

/* signal-safe: microseconds from `a` to `b` */
static long long
elapsed_us(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000000LL + (b->tv_nsec - a->tv_nsec) / 1000;
}

/* signal-safe (clock_gettime): may one more dump be written?  Within the
 * byte budget, and a token of `bucket` (none for timeouts, whose rate is
 * their period) taken if there is one. */
int
fa_limits_allow(fa_bucket *bucket)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (limits.bytes > 0) {
        if (limits.window.tv_sec == 0 || elapsed_us(&limits.window, &now) >= 60000000LL) {
            limits.window = now;
            limits.spent = 0;
        }
        if (limits.spent >= limits.bytes) {
            return 0;
        }
    }
    if (limits.rate <= 0 || bucket == NULL) {
        return 1;
    }
    long long full = (long long)limits.rate * 1000000LL;
    if (bucket->last.tv_sec == 0) {
        bucket->micro_tokens = full;
    }
    else {
        long long us = elapsed_us(&bucket->last, &now);
        if (us > 60000000LL) {
            us = 60000000LL;    /* a full bucket anyway; no overflow */
        }
        if (us > 0) {
            bucket->micro_tokens += us * limits.rate;
        }
        if (bucket->micro_tokens > full) {
            bucket->micro_tokens = full;
        }
    }
    bucket->last = now;
    if (bucket->micro_tokens < 1000000LL) {
        return 0;
    }
    bucket->micro_tokens -= 1000000LL;
    return 1;
}

/* signal-safe: a dump of `bytes` was written. */
void
fa_limits_spent(size_t bytes)
{
    limits.spent += (long long)bytes;
}
