/* watchdog.c - the timeout dump (see watchdog.h).  Not signal-safe: it runs
 * on its own thread, where pthread calls are fine; its dump is the same
 * signal-safe dump as the handlers', written without holding its mutex. */
#include "watchdog.h"
#include "fatal.h"
#include "budget.h"
#include "usersig.h"
#include "util.h"

#include <pthread.h>

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int running;                /* the thread exists */
    int armed;
    int busy;                   /* a timeout dump is being written */
    unsigned long generation;   /* bumped by every arm and cancel */
    int abort;                  /* the dump in flight must stop writing */
    clockid_t clock;            /* the clock of `deadline` */
    struct timespec deadline;
    long long timeout_us;
    int repeat;
    int exit;
    fa_dest dest;
    char header[64];
    /* timeout dumps not written since the last one (watchdog thread only):
     * over the byte budget, or another dump held the lock all the while */
    unsigned long skipped;
} wd;

/* Move the deadline `timeout_us` further.  Called with the mutex. */
static void
deadline_advance_locked(void)
{
    long long us = wd.timeout_us;
    wd.deadline.tv_sec += (time_t)(us / 1000000);
    wd.deadline.tv_nsec += (long)(us % 1000000) * 1000;
    if (wd.deadline.tv_nsec >= 1000000000L) {
        wd.deadline.tv_sec++;
        wd.deadline.tv_nsec -= 1000000000L;
    }
}

/* Set the deadline `timeout_us` from now.  Called with the mutex. */
static void
deadline_set_locked(void)
{
    clock_gettime(wd.clock, &wd.deadline);
    deadline_advance_locked();
}

/* The watchdog thread: sleeps until the deadline, or until an arm or cancel
 * wakes it, and writes the timeout dump without the GIL or its own mutex,
 * so nothing the main thread holds can stop it, and `cancel` never waits
 * for a writer blocked on a full pipe: it raises `abort`, which the
 * writer checks between polls. */
static void *
watchdog_main(void *arg)
{
    (void)arg;
    /* every signal blocked but the faults, which must reach fatal_handler
     * (a probe's fault, or a real crash of this thread) */
    sigset_t all;
    sigfillset(&all);
    fa_fatal_unblock(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&wd.mutex);
    for (;;) {
        while (!wd.armed) {
            pthread_cond_wait(&wd.cond, &wd.mutex);
        }
        unsigned long gen = wd.generation;
        int rc = pthread_cond_timedwait(&wd.cond, &wd.mutex, &wd.deadline);
        if (rc != ETIMEDOUT || !wd.armed || gen != wd.generation) {
            continue;
        }
        fa_dest dest = wd.dest;
        char header[sizeof(wd.header)];
        memcpy(header, wd.header, sizeof(header));
        int do_exit = wd.exit;
        if (wd.repeat) {
            deadline_advance_locked();
        }
        else {
            wd.armed = 0;
        }
        wd.busy = 1;
        __atomic_store_n(&wd.abort, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&wd.mutex);

        /* never inside another dump: wait for it a while (a cancel stops
         * the wait), then skip this one and say so in the next */
        int locked = dump_lock_acquire(5000, &wd.abort);
        if (locked && fa_limits_allow(NULL)) {
            fa_event ev = {EV_TIMEOUT, 0, NULL, 0, header, 1, 0, 0, 0, wd.skipped, 0};
            fa_limits_spent(dump_to_dest(&dest, &ev, &wd.abort));
            wd.skipped = 0;
        }
        else {
            wd.skipped++;
        }
        dump_lock_release(locked);
        fa_user_serve();
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
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, watchdog_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    wd.running = 1;
    return 0;
}

/* Disarm, stop a dump in flight, and wait (briefly: the writer polls every
 * 100 ms) until the watchdog is idle.  Called with the mutex. */
static void
cancel_locked(void)
{
    wd.armed = 0;
    wd.generation++;
    if (wd.busy) {
        __atomic_store_n(&wd.abort, 1, __ATOMIC_RELEASE);
    }
    pthread_cond_broadcast(&wd.cond);
    while (wd.busy) {
        pthread_cond_wait(&wd.cond, &wd.mutex);
    }
}

/* Dump every thread to `dest` in `timeout_us` (and every `timeout_us`
 * after that if `repeat`), replacing any earlier timeout.  Returns 0, or
 * an errno when the thread could not start.  May wait for a dump in
 * flight to stop: call it without the GIL. */
int
fa_watchdog_arm(const fa_dest *dest, long long timeout_us, int repeat, int do_exit,
                const char *header)
{
    int err = 0;
    pthread_mutex_lock(&wd.mutex);
    cancel_locked();
    if (start_locked() < 0) {
        err = errno;
    }
    else {
        wd.dest = *dest;
        wd.timeout_us = timeout_us;
        wd.repeat = repeat;
        wd.exit = do_exit;
        fa_strlcpy(wd.header, header, sizeof(wd.header));
        deadline_set_locked();
        wd.generation++;
        wd.armed = 1;
        pthread_cond_broadcast(&wd.cond);
    }
    pthread_mutex_unlock(&wd.mutex);
    return err;
}

/* Whether a timeout is armed.  Called with the GIL. */
int
fa_watchdog_armed(void)
{
    pthread_mutex_lock(&wd.mutex);
    int armed = wd.armed;
    pthread_mutex_unlock(&wd.mutex);
    return armed;
}

/* Cancel the timeout, and stop its dump if one is being written.  Call it
 * without the GIL. */
void
fa_watchdog_cancel(void)
{
    pthread_mutex_lock(&wd.mutex);
    cancel_locked();
    pthread_mutex_unlock(&wd.mutex);
}

/* In a forked child the watchdog thread is gone and its mutex may have been
 * held at the fork: start over, and re-arm with the full timeout.  -1 with
 * errno set when the thread could not be started again. */
int
fa_watchdog_after_fork(void)
{
    fa_watchdog_init();
    wd.running = 0;
    wd.busy = 0;
    if (wd.armed) {
        pthread_mutex_lock(&wd.mutex);
        deadline_set_locked();
        wd.generation++;
        int rc = start_locked();
        pthread_mutex_unlock(&wd.mutex);
        if (rc < 0) {
            wd.armed = 0;
            return -1;
        }
    }
    return 0;
}
