/* watchdog.h - the timeout dump (dump_traceback_later): a thread of ours
 * that sleeps until a deadline and dumps every thread. */
#ifndef FA_WATCHDOG_H
#define FA_WATCHDOG_H

#include "common.h"
#include "dest.h"

FA_HIDDEN_BEGIN

void fa_watchdog_init(void);
int fa_watchdog_arm(const fa_dest *dest, long long timeout_us, int repeat, int do_exit,
                    const char *header);
void fa_watchdog_cancel(void);
int fa_watchdog_armed(void);
int fa_watchdog_after_fork(void);

FA_HIDDEN_END

#endif
