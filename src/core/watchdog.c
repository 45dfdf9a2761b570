/* watchdog.c - the timeout dump (see watchdog.h).  Not signal-safe: it runs
 * on its own thread, where pthread calls are fine; its dump is the same
 * signal-safe dump as the handlers', written without holding its mutex. */
#include "watchdog.h"
#include "fatal.h"
#include "budget.h"
#include "tree.h"
#include "usersig.h"
#include "util.h"

#include <pthread.h>

/* One timeout: the process's (dump_traceback_later) or the task's (the
 * test that runs now, see watchdog.h); each fires on its own. */
typedef struct {
    int armed;
    struct timespec deadline;
    long long timeout_us;
    int repeat;
    int exit;
    int all_threads;            /* 0: the main thread only (faulthandler 1.x) */
    long max_threads;           /* 0: the configured limit */
    fa_dest dest;
    char header[64];
    /* timeout dumps not written since the last one (watchdog thread only):
     * over the byte budget, or another dump held the lock all the while */
    unsigned long skipped;
    /* a named watchdog's slot: taken from arm to cancel (also once it has
     * fired), its generation bumped at each taking, so that the handle of
     * an earlier owner cannot cancel the slot's next owner */
    int taken;
    unsigned long slot_generation;
    char name[FA_WATCHDOG_NAME_SIZE];
    size_t name_len;            /* 0 for the process's and the task's timers */
} fa_timer;

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int running;                /* the thread exists */
    int busy;                   /* a timeout dump is being written: its timer + 1 */
    unsigned long generation;   /* bumped by every arm and cancel */
    int abort;                  /* the dump in flight must stop writing */
    clockid_t clock;            /* the clock of the deadlines */
    fa_timer timers[FA_TIMERS];
} wd;

/* Move timer `t`'s deadline its timeout further.  Called with the mutex. */
static void
deadline_advance_locked(fa_timer *t)
{
    long long us = t->timeout_us;
    t->deadline.tv_sec += (time_t)(us / 1000000);
    t->deadline.tv_nsec += (long)(us % 1000000) * 1000;
    if (t->deadline.tv_nsec >= 1000000000L) {
        t->deadline.tv_sec++;
        t->deadline.tv_nsec -= 1000000000L;
    }
}

/* Set timer `t`'s deadline its timeout from now.  Called with the mutex. */
static void
deadline_set_locked(fa_timer *t)
{
    clock_gettime(wd.clock, &t->deadline);
    deadline_advance_locked(t);
}

/* The armed timer that falls due first, or NULL.  Called with the mutex. */
static fa_timer *
next_timer_locked(void)
{
    fa_timer *next = NULL;
    for (int i = 0; i < FA_TIMERS; i++) {
        fa_timer *t = &wd.timers[i];
        if (t->armed && (next == NULL || t->deadline.tv_sec < next->deadline.tv_sec
                         || (t->deadline.tv_sec == next->deadline.tv_sec
                             && t->deadline.tv_nsec < next->deadline.tv_nsec))) {
            next = t;
        }
    }
    return next;
}

/* The watchdog thread: sleeps until the first deadline, or until an arm or
 * cancel wakes it, and writes the timeout dump without the GIL or its own
 * mutex, so nothing the main thread holds can stop it, and `cancel` never
 * waits for a writer blocked on a full pipe: it raises `abort`, which the
 * writer checks between polls. */
static void *
watchdog_main(void *arg)
{
    (void)arg;
    /* its signal mask comes from start_locked */
    pthread_mutex_lock(&wd.mutex);
    for (;;) {
        fa_timer *t;
        while ((t = next_timer_locked()) == NULL) {
            pthread_cond_wait(&wd.cond, &wd.mutex);
        }
        unsigned long gen = wd.generation;
        int rc = pthread_cond_timedwait(&wd.cond, &wd.mutex, &t->deadline);
        if (rc != ETIMEDOUT || !t->armed || gen != wd.generation) {
            continue;
        }
        fa_dest dest = t->dest;
        char header[sizeof(t->header)];
        memcpy(header, t->header, sizeof(header));
        int do_exit = t->exit;
        char name[FA_WATCHDOG_NAME_SIZE];
        size_t name_len = t->name_len;
        memcpy(name, t->name, name_len);
        int all_threads = t->all_threads;
        long max_threads = t->max_threads;
        if (t->repeat) {
            deadline_advance_locked(t);
        }
        else {
            t->armed = 0;
        }
        wd.busy = (int)(t - wd.timers) + 1;
        __atomic_store_n(&wd.abort, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&wd.mutex);

        /* never inside another dump: wait for it a while (a cancel stops
         * the wait), then skip this one and say so in the next.  A dump
         * that ends the process is its last word: the byte budget, there to
         * bound what goes on being written, never skips it (what it writes
         * is still counted). */
        int locked = dump_lock_acquire(5000, &wd.abort);
        if (locked && (fa_limits_allow(NULL) || do_exit)) {
            /* the descendants dump first, each to its own destination,
             * and this dump lists them (tree.h) */
            const fa_tree_report *tree = fa_tree_enabled() ? fa_tree_ask(&wd.abort) : NULL;
            fa_event ev = {EV_TIMEOUT, 0, NULL, 0, header, all_threads, 0, 0,
                           0, t->skipped, 0, max_threads, tree, name_len ? name : NULL, name_len};
            fa_limits_spent(dump_to_dest(&dest, &ev, &wd.abort));
            t->skipped = 0;
        }
        else {
            t->skipped++;
        }
        dump_lock_release(locked);
        fa_user_serve(0);
        /* a crash being dumped ends the process by its own signal instead */
        if (do_exit && !__atomic_load_n(&wd.abort, __ATOMIC_ACQUIRE) && fa_fatal_claim_exit()) {
            _exit(1);
        }

        pthread_mutex_lock(&wd.mutex);
        wd.busy = 0;
        pthread_cond_broadcast(&wd.cond);
    }
    return NULL;
}

/* The watchdog's mutex and condition; its deadlines are on the monotonic
 * clock where the condition can use it, so a clock change neither fires
 * nor delays a timeout. */
void
fa_watchdog_init(void)
{
    pthread_mutex_init(&wd.mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
#if defined(__linux__)
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0) {
        wd.clock = CLOCK_MONOTONIC;
    }
#endif
    pthread_cond_init(&wd.cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* Start the watchdog thread if it is not running.  Called with the mutex. */
static int
start_locked(void)
{
    if (wd.running) {
        return 0;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    /* The thread starts with every signal blocked but the faults, which
     * must reach fatal_handler (a probe's fault, or a real crash of this
     * thread).  Blocking them here, in the creator, around pthread_create
     * leaves no moment where a SIGINT or a user signal meant for the
     * program could land on the new thread. */
    sigset_t all, old;
    sigfillset(&all);
    fa_fatal_unblock(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, watchdog_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    wd.running = 1;
    return 0;
}

/* Disarm `timer`, stop its dump in flight, and wait (briefly: the writer
 * polls every 100 ms) until that dump is over.  Called with the mutex. */
static void
cancel_locked(int timer)
{
    wd.timers[timer].armed = 0;
    wd.generation++;
    if (wd.busy == timer + 1) {
        __atomic_store_n(&wd.abort, 1, __ATOMIC_RELEASE);
    }
    pthread_cond_broadcast(&wd.cond);
    while (wd.busy == timer + 1) {
        pthread_cond_wait(&wd.cond, &wd.mutex);
    }
}

/* Dump every thread to `dest` in `timeout_us` (and every `timeout_us`
 * after that if `repeat`), replacing the earlier timeout of the same
 * `timer`.  Returns 0, or an errno when the thread could not start.  May
 * wait for a dump in flight to stop: call it without the GIL. */
int
fa_watchdog_arm(int timer, const fa_dest *dest, long long timeout_us, int repeat, int do_exit,
                const char *header, int all_threads, long max_threads)
{
    int err = 0;
    pthread_mutex_lock(&wd.mutex);
    cancel_locked(timer);
    if (start_locked() < 0) {
        err = errno;
    }
    else {
        fa_timer *t = &wd.timers[timer];
        t->dest = *dest;
        t->timeout_us = timeout_us;
        t->repeat = repeat;
        t->exit = do_exit;
        t->all_threads = all_threads;
        t->max_threads = max_threads;
        fa_strlcpy(t->header, header, sizeof(t->header));
        deadline_set_locked(t);
        wd.generation++;
        t->armed = 1;
        pthread_cond_broadcast(&wd.cond);
    }
    pthread_mutex_unlock(&wd.mutex);
    return err;
}

/* Arm a named watchdog in a free slot: one dump of every thread to `dest`
 * in `timeout_us`, labelled `name`, then exit with status 1 if `do_exit`.
 * Its slot and generation, the handle fa_watchdog_named_cancel takes, go
 * to *slot and *generation.  Returns 0, ENOSPC when every slot is taken,
 * or an errno when the thread could not start.  Call it without the GIL. */
int
fa_watchdog_named_arm(const fa_dest *dest, long long timeout_us, int do_exit,
                      const char *header, const char *name, size_t name_len,
                      int *slot, unsigned long *generation)
{
    int err = ENOSPC;
    pthread_mutex_lock(&wd.mutex);
    for (int i = FA_TIMER_NAMED; i < FA_TIMERS; i++) {
        fa_timer *t = &wd.timers[i];
        if (t->taken) {
            continue;
        }
        if (start_locked() < 0) {
            err = errno;
            break;
        }
        t->taken = 1;
        t->slot_generation++;
        t->dest = *dest;
        t->timeout_us = timeout_us;
        t->repeat = 0;
        t->exit = do_exit;
        t->all_threads = 1;
        t->max_threads = 0;
        t->skipped = 0;
        fa_strlcpy(t->header, header, sizeof(t->header));
        t->name_len = name_len < sizeof(t->name) ? name_len : sizeof(t->name) - 1;
        memcpy(t->name, name, t->name_len);
        deadline_set_locked(t);
        wd.generation++;
        t->armed = 1;
        pthread_cond_broadcast(&wd.cond);
        *slot = i;
        *generation = t->slot_generation;
        err = 0;
        break;
    }
    pthread_mutex_unlock(&wd.mutex);
    return err;
}

/* Cancel the named watchdog `slot` if it still belongs to `generation`
 * (else it was cancelled already and may be another's now), stopping its
 * dump in flight as fa_watchdog_cancel does, and free the slot.  O(1).
 * Call it without the GIL. */
void
fa_watchdog_named_cancel(int slot, unsigned long generation)
{
    if (slot < FA_TIMER_NAMED || slot >= FA_TIMERS) {
        return;
    }
    pthread_mutex_lock(&wd.mutex);
    fa_timer *t = &wd.timers[slot];
    if (t->taken && t->slot_generation == generation) {
        cancel_locked(slot);
        t->taken = 0;
    }
    pthread_mutex_unlock(&wd.mutex);
}

/* Cancel `timer`'s timeout, and stop its dump if one is being written.
 * Call it without the GIL. */
void
fa_watchdog_cancel(int timer)
{
    pthread_mutex_lock(&wd.mutex);
    cancel_locked(timer);
    pthread_mutex_unlock(&wd.mutex);
}

/* In a forked child the watchdog thread is gone and its mutex may have been
 * held at the fork: start over, and re-arm each timer with its full
 * timeout.  -1 with errno set when the thread could not be started again. */
int
fa_watchdog_after_fork(void)
{
    fa_watchdog_init();
    wd.running = 0;
    wd.busy = 0;
    int rc = 0;
    pthread_mutex_lock(&wd.mutex);
    if (next_timer_locked() != NULL) {
        for (int i = 0; i < FA_TIMERS; i++) {
            deadline_set_locked(&wd.timers[i]);
        }
        wd.generation++;
        rc = start_locked();
        if (rc < 0) {
            for (int i = 0; i < FA_TIMERS; i++) {
                wd.timers[i].armed = 0;
            }
        }
    }
    pthread_mutex_unlock(&wd.mutex);
    return rc;
}
