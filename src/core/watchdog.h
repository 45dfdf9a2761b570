/* watchdog.h - the timeout dumps (dump_traceback_later, task_timeout): a
 * thread of ours that sleeps until a deadline and dumps every thread. */
#ifndef FA_WATCHDOG_H
#define FA_WATCHDOG_H

#include "common.h"
#include "dest.h"

FA_HIDDEN_BEGIN

/* Two independent timers: the process's (dump_traceback_later,
 * PYTHONFAULTHANDLER_TIMEOUT) and the task's (the pytest plugin's
 * faulthandler_timeout, one test at a time). */
enum { FA_TIMER_PROCESS, FA_TIMER_TASK, FA_TIMERS };

void fa_watchdog_init(void);
int fa_watchdog_arm(int timer, const fa_dest *dest, long long timeout_us, int repeat,
                    int do_exit, const char *header, int all_threads, long max_threads);
void fa_watchdog_cancel(int timer);
int fa_watchdog_armed(void);
int fa_watchdog_after_fork(void);

FA_HIDDEN_END

#endif
