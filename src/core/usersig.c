/* usersig.c - signals registered to dump the threads and go on.  A
 * delivery is counted, and dumped at once when no other dump is being
 * written; otherwise whoever holds the dump lock dumps it after its own
 * dump (fa_user_serve), once, however many deliveries came meanwhile, and
 * says how many were merged.  So a signal never writes inside another
 * dump, a handler never waits, and a stream of signals cannot keep a
 * fatal dump from finishing. */
#include "usersig.h"
#include "fatal.h"
#include "budget.h"
#include "tree.h"
#include "util.h"

typedef struct {
    int enabled;
    int all_threads;
    long max_threads;
    int chain;
    fa_dest dest;
    struct sigaction previous;
    unsigned long pending;      /* deliveries not dumped yet (atomic) */
    siginfo_t si;               /* the first of them */
    /* since the last dump of this signal (dump lock holder only): */
    unsigned long coalesced;    /* deliveries merged into another's dump */
    unsigned long limited;      /* deliveries over the budget (budget.h) */
    fa_bucket bucket;
} fa_user_signal;

/* indexed by signal number */
static fa_user_signal user[FA_NSIG];

/* signal-safe: call the handler that was there before ours, as CPython's
 * chain=True does. */
static void
user_chain(int signum, siginfo_t *si, void *uctx, fa_user_signal *u)
{
    const struct sigaction *prev = &u->previous;
    /* sa_handler and sa_sigaction share storage, so SIG_IGN/SIG_DFL are
     * tested first: a previous action may carry SA_SIGINFO with either. */
    if (prev->sa_handler == SIG_IGN) {
        return;
    }
    if (prev->sa_handler != SIG_DFL) {
        if (prev->sa_flags & SA_SIGINFO) {
            prev->sa_sigaction(signum, si, uctx);
        } else {
            prev->sa_handler(signum);
        }
        return;
    }
    /* the default action: let it happen, then come back if we survive */
    struct sigaction ours;
    sigaction(signum, &u->previous, &ours);
    raise(signum);
    sigaction(signum, &ours, NULL);
}

/* signal-safe: is any delivery waiting for its dump? */
static int
any_pending(void)
{
    for (int s = 1; s < FA_NSIG; s++) {
        if (__atomic_load_n(&user[s].pending, __ATOMIC_SEQ_CST)) {
            return 1;
        }
    }
    return 0;
}

/* signal-safe: write the dumps of the deliveries that are waiting, unless
 * another dump is being written: its writer calls this when it is done.
 * Called after every dump (and by the handler itself), and it looks again
 * after giving the lock back, so no delivery is left waiting.  A stream
 * of signals can keep it going: `until_ms` (of fa_now_ms; 0: no end) ends
 * it.  Returns 1 when deliveries are left (to the dump being written, or
 * at `until_ms`), else 0. */
int
fa_user_serve(long long until_ms)
{
    while (any_pending() || fa_tree_pending()) {
        if ((until_ms != 0 && fa_now_ms() >= until_ms) || !dump_lock_try()) {
            return 1;
        }
        fa_tree_serve_locked();
        for (int s = 1; s < FA_NSIG; s++) {
            fa_user_signal *u = &user[s];
            unsigned long n = __atomic_exchange_n(&u->pending, 0, __ATOMIC_SEQ_CST);
            if (n == 0 || !u->enabled) {
                continue;
            }
            siginfo_t si = u->si;
            u->coalesced += n - 1;
            if (!fa_limits_allow(&u->bucket)) {
                u->limited++;
                continue;
            }
            fa_event ev = {EV_SIGNAL, s, &si, 0, NULL, u->all_threads, 0, 0,
                           u->coalesced, u->limited, 0, u->max_threads, NULL, NULL, 0};
            fa_limits_spent(dump_to_dest(&u->dest, &ev, NULL));
            u->coalesced = u->limited = 0;
        }
        dump_lock_release(1);
    }
    return 0;
}

/* signal-safe: the handler for registered signals.  Other registered
 * signals are blocked while it runs (see user_install). */
static void
user_handler(int signum, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    if (signum <= 0 || signum >= FA_NSIG || !user[signum].enabled) {
        return;
    }
    fa_user_signal *u = &user[signum];
    long room = fa_signal_stack_room();
    if (room < 0 || room >= fa_stack_need(FA_DUMP_STACK)) {
        if (__atomic_fetch_add(&u->pending, 1, __ATOMIC_SEQ_CST) == 0 && si != NULL) {
            u->si = *si;
        }
        fa_user_serve(0);
    }
    else if (dump_lock_try()) {
        /* a thread that someone else gave a small alternate stack: a
         * line, not a dump, and not inside another dump */
        fa_event ev = {EV_SIGNAL, signum, si, 0, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0};
        dump_say_no_room(&u->dest, &ev, room);
        dump_lock_release(1);
    }
    if (u->chain) {
        errno = saved_errno;
        user_chain(signum, si, uctx, u);
    }
    errno = saved_errno;
}

/* Install (or refresh) the handler for `signum`. Not signal-safe. */
static int
user_install(int signum)
{
    fa_user_signal *u = &user[signum];
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = user_handler;
    sigemptyset(&action.sa_mask);
    for (int s = 1; s < FA_NSIG; s++) {
        if (user[s].enabled || s == signum) {
            sigaddset(&action.sa_mask, s);
        }
    }
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    if (u->chain) {
        /* CPython's chain=True: the previous action runs inside ours, so
         * the signal raised for it must not stay blocked until we return */
        sigdelset(&action.sa_mask, signum);
        action.sa_flags |= SA_NODEFER;
    }
    struct sigaction previous;
    if (sigaction(signum, &action, &previous) != 0) {
        return -1;
    }
    if (!u->enabled) {
        u->previous = previous;
    }
    return 0;
}

/* Dump on `signum` (0 < signum < FA_NSIG) from now on; -1 with errno set
 * when its handler could not be installed.  Called with the GIL. */
int
fa_user_register(int signum, const fa_dest *dest, int all_threads, int chain, long max_threads)
{
    fa_user_signal *u = &user[signum];
    fa_fatal_hold_faults();
    u->dest = *dest;
    u->all_threads = all_threads;
    u->max_threads = max_threads;
    u->chain = chain;
    if (user_install(signum) < 0) {
        return -1;
    }
    u->enabled = 1;
    /* refresh the masks of the others so two registered signals never nest */
    for (int s = 1; s < FA_NSIG; s++) {
        if (s != signum && user[s].enabled) {
            (void)user_install(s);
        }
    }
    return 0;
}

/* Give `signum` (0 < signum < FA_NSIG) back; returns whether it was ours. */
int
fa_user_unregister(int signum)
{
    fa_user_signal *u = &user[signum];
    if (!u->enabled) {
        return 0;
    }
    u->enabled = 0;
    (void)sigaction(signum, &u->previous, NULL);
    return 1;
}
