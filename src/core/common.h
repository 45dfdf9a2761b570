/* common.h - what every file of the core shares: the headers, the limits,
 * and the rule for code marked "signal-safe".
 *
 * Code marked "signal-safe" calls only async-signal-safe functions (write,
 * open, getpid, clock_gettime, ...), never allocates, never takes a lock
 * that other code may hold, and never calls a Python function that can
 * allocate, raise or need the GIL.  It reads Python objects only inside a
 * probe (see probes.h), because another thread may be changing or freeing
 * them while we look.
 *
 * Every header of the core declares its names with hidden visibility
 * (FA_HIDDEN_BEGIN/END): calls between our files then never go through the
 * PLT, whose lazy binding a signal handler must not trigger, and no other
 * library can interpose them.
 */
#ifndef FA_COMMON_H
#define FA_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define FA_HIDDEN_BEGIN _Pragma("GCC visibility push(hidden)")
#define FA_HIDDEN_END _Pragma("GCC visibility pop")

#define FA_BUF_SIZE 32768          /* writer buffer: one write() per 16-32 KiB */
#define FA_STEP_MAX 16384          /* most a probed step writes (2 x 500 escaped chars) */
#define FA_PATH_SIZE 4096          /* longest path template or expanded path */
#define FA_STR_MAX 500             /* CPython cuts strings at 500 chars */
#define FA_NAME_SIZE 64            /* longest thread name kept */

/* one past the highest signal number, so tables can be indexed by it */
#if defined(NSIG)
#  define FA_NSIG NSIG
#elif defined(_NSIG)
#  define FA_NSIG _NSIG
#else
#  error "the platform's number of signals (NSIG) is unknown"
#endif

/* Functions that read another thread's Python state do it knowing it may
 * have been freed (the probes catch what is no longer mapped), so
 * AddressSanitizer must not report those reads. */
#if defined(__GNUC__)
#  define FA_RACY_READ __attribute__((no_sanitize_address))
#else
#  define FA_RACY_READ
#endif

#endif
