/* budget.h - the budget of on-demand dumps (registered signals and
 * timeouts): per signal, at most `rate` dumps a second (a burst of as many
 * at once), and for all of them together at most `bytes` a minute.  A dump
 * over budget is skipped and counted; the next one written says how many.
 * A timeout dump that ends the process is written whatever it answers
 * (watchdog.c).
 * Everything but fa_limits_set is signal-safe, and is called only by the
 * holder of the dump lock, so the counters need no lock of their own. */
#ifndef FA_BUDGET_H
#define FA_BUDGET_H

#include "common.h"

FA_HIDDEN_BEGIN

/* a token bucket: one token per dump, refilled at `rate` a second */
typedef struct {
    long long micro_tokens;     /* tokens x 1e6 */
    struct timespec last;       /* when last refilled, 0 before the first */
} fa_bucket;

void fa_limits_set(long rate, long long bytes_per_minute);
int fa_limits_allow(fa_bucket *bucket);
void fa_limits_spent(size_t bytes);

FA_HIDDEN_END

#endif
