/* usersig.c - signals registered to dump the threads and go on. */
#include "usersig.h"

typedef struct {
    int enabled;
    int all_threads;
    int chain;
    fa_dest dest;
    struct sigaction previous;
} fa_user_signal;

/* indexed by signal number */
static fa_user_signal user[FA_NSIG];

/* signal-safe: call the handler that was there before ours, as CPython's
 * chain=True does. */
static void
user_chain(int signum, siginfo_t *si, void *uctx, fa_user_signal *u)
{
    const struct sigaction *prev = &u->previous;
    if (prev->sa_flags & SA_SIGINFO) {
        if (prev->sa_sigaction != NULL) {
            prev->sa_sigaction(signum, si, uctx);
        }
        return;
    }
    if (prev->sa_handler == SIG_IGN) {
        return;
    }
    if (prev->sa_handler != SIG_DFL) {
        prev->sa_handler(signum);
        return;
    }
    /* the default action: let it happen, then come back if we survive */
    struct sigaction ours;
    sigaction(signum, &u->previous, &ours);
    raise(signum);
    sigaction(signum, &ours, NULL);
}

/* signal-safe: the handler for registered signals.  Other registered
 * signals are blocked while it runs (see user_install), and it takes the
 * dump flag, so each delivery writes one whole dump. */
static void
user_handler(int signum, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    if (signum <= 0 || signum >= FA_NSIG || !user[signum].enabled) {
        return;
    }
    fa_user_signal *u = &user[signum];
    int locked = dump_lock_acquire(5000);
    fa_event ev = {EV_SIGNAL, signum, si, 0, NULL, u->all_threads, 0, 0};
    dump_to_dest(&u->dest, &ev, NULL);
    dump_lock_release(locked);
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
fa_user_register(int signum, const fa_dest *dest, int all_threads, int chain)
{
    fa_user_signal *u = &user[signum];
    u->dest = *dest;
    u->all_threads = all_threads;
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
