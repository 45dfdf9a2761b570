/* watchdog.h - the timeout dumps (dump_traceback_later, task_timeout): a
 * thread of ours that sleeps until a deadline and dumps every thread. */
#ifndef FA_WATCHDOG_H
#define FA_WATCHDOG_H

#include "common.h"
#include "dest.h"

FA_HIDDEN_BEGIN

/* Independent timers: the process's (dump_traceback_later,
 * PYTHONFAULTHANDLER_TIMEOUT), the task's (the pytest plugin's
 * faulthandler_timeout, one test at a time), and a fixed table of slots
 * for named watchdogs (faulthandler_auto.watchdog), allocated when
 * loaded. */
#define FA_WATCHDOG_SLOTS 64
#define FA_WATCHDOG_NAME_SIZE 256  /* bytes of a watchdog's name kept, with its NUL */
enum { FA_TIMER_PROCESS, FA_TIMER_TASK, FA_TIMER_NAMED,
       FA_TIMERS = FA_TIMER_NAMED + FA_WATCHDOG_SLOTS };

void fa_watchdog_init(void);
int fa_watchdog_arm(int timer, const fa_dest *dest, long long timeout_us, int repeat,
                    int do_exit, const char *header, int all_threads, long max_threads);
void fa_watchdog_cancel(int timer);
int fa_watchdog_named_arm(const fa_dest *dest, long long timeout_us, int do_exit,
                          const char *header, const char *name, size_t name_len,
                          int *slot, unsigned long *generation);
void fa_watchdog_named_cancel(int slot, unsigned long generation);
int fa_watchdog_after_fork(void);

FA_HIDDEN_END

#endif
