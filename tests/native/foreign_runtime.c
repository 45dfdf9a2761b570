/* foreign_runtime.c - stands for a runtime that owns SIGSEGV (a JVM, a wasm
 * engine, a GC with implicit null checks): it installs its own SIGSEGV and
 * SIGBUS handler, makes faults on purpose in its own code and recovers from
 * them with siglongjmp; a fault it does not own goes to the handler that was
 * there before, with the same siginfo and context, as such runtimes chain.
 * Loaded by tests/test_reliability.py with ctypes; the functions below run
 * in a Python thread (ctypes releases the GIL).
 *
 * foreign_watch() stands for any code that looks at the dispositions: until
 * foreign_stop(), it counts how often SIGSEGV, SIGBUS or SIGXFSZ is not what
 * it was when the watch started. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define FAULT_ADDRESS ((volatile int *)8)

static struct sigaction previous_segv, previous_bus;
/* initial-exec: read in a handler, even on a thread that never set it */
static __thread sigjmp_buf *recover_to __attribute__((tls_model("initial-exec")));
static volatile int stop;
static volatile long mismatches;    /* own faults that came with a wrong siginfo */
static volatile long chained;      /* faults that were not ours, passed on */

static void
chain(int signum, siginfo_t *si, void *uctx)
{
    const struct sigaction *prev = signum == SIGSEGV ? &previous_segv : &previous_bus;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(signum, si, uctx);
        return;
    }
    if (prev->sa_handler == SIG_IGN) {
        return;
    }
    if (prev->sa_handler != SIG_DFL) {
        prev->sa_handler(signum);
        return;
    }
    /* the default action: put it back and let the fault happen again */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(signum, &dfl, NULL);
    if (si->si_code <= 0) {
        raise(signum);
    }
}

static void
on_fault(int signum, siginfo_t *si, void *uctx)
{
    sigjmp_buf *env = recover_to;
    if (env == NULL) {
        chained++;
        chain(signum, si, uctx);
        return;
    }
    /* the runtime's own fault: it knows exactly what it must look like */
    if (signum != SIGSEGV || si->si_code != SEGV_MAPERR || si->si_addr != (void *)FAULT_ADDRESS) {
        mismatches++;
    }
    siglongjmp(*env, 1);
}

void
foreign_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &previous_segv);
    sigaction(SIGBUS, &action, &previous_bus);
}

void
foreign_stop(void)
{
    stop = 1;
}

long
foreign_mismatches(void)
{
    return mismatches;
}

long
foreign_chained(void)
{
    return chained;
}

/* Fault and recover `n` times; returns how many faults were recovered. */
long
foreign_faults(long n)
{
    volatile long recovered = 0;
    while (recovered < n) {
        sigjmp_buf env;
        if (sigsetjmp(env, 0) == 0) {
            recover_to = &env;
            (void)*FAULT_ADDRESS;
            recover_to = NULL;
            return -1;      /* the read did not fault: cannot happen */
        }
        recover_to = NULL;
        recovered++;
    }
    return recovered;
}

static int
same_action(const struct sigaction *a, const struct sigaction *b)
{
    return a->sa_sigaction == b->sa_sigaction && a->sa_flags == b->sa_flags;
}

/* Watch SIGSEGV, SIGBUS and SIGXFSZ until stopped; returns how many looks
 * found one of them changed since the watch began. */
long
foreign_watch(void)
{
    static const int watched[3] = {SIGSEGV, SIGBUS, SIGXFSZ};
    struct sigaction first[3], now;
    for (int i = 0; i < 3; i++) {
        sigaction(watched[i], NULL, &first[i]);
    }
    long changed = 0;
    while (!stop) {
        for (int i = 0; i < 3; i++) {
            sigaction(watched[i], NULL, &now);
            if (!same_action(&now, &first[i])) {
                changed++;
            }
        }
    }
    return changed;
}
