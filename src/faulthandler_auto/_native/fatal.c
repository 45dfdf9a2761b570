/* fatal.c - the fatal signals: our handler dumps once, then gives the
 * signal back to whoever had it and raises it again, so the exit status and
 * core dump are what they would have been without us. */
#include "fatal.h"
#include "cstack.h"
#include "probes.h"
#include "util.h"

#include <sys/mman.h>

#define FA_ALTSTACK_SIZE (256 * 1024)  /* a dump needs ~50 KiB, more under ASan */
#define FA_ALTSTACK_MIN (128 * 1024)   /* someone else's alternate stack that will do */
#define FA_FATAL_DUMP_SECONDS 30       /* a fatal dump stuck longer gives up */

typedef struct {
    int signum;
    const char *name;           /* CPython's words for the fatal error */
    int enabled;
    struct sigaction previous;
} fa_fatal_signal;

static fa_fatal_signal fatal_signals[] = {
    {.signum = SIGSEGV, .name = "Segmentation fault"},
    {.signum = SIGFPE, .name = "Floating-point exception"},
    {.signum = SIGBUS, .name = "Bus error"},
    {.signum = SIGILL, .name = "Illegal instruction"},
    {.signum = SIGABRT, .name = "Aborted"},
};
#define FA_NFATAL ((int)(sizeof(fatal_signals) / sizeof(fatal_signals[0])))

static struct {
    int enabled;
    int all_threads;
    int c_stack;
    fa_dest dest;
    void *main_altstack;
    pid_t dumping_tid;          /* thread inside a fatal dump, 0 when none */
    int dumping_signum;         /* the fatal signal it is dumping */
} fatal;

/* signal-safe: CPython's words for fatal signal `signum`, or NULL. */
const char *
fa_fatal_error_name(int signum)
{
    const char *name = NULL;
    for (int i = 0; i < FA_NFATAL; i++) {
        if (fatal_signals[i].signum == signum) {
            name = fatal_signals[i].name;
        }
    }
    return name;
}

/* Take the fatal signals out of `set`: a thread that blocks the rest must
 * still let them reach fatal_handler. */
void
fa_fatal_unblock(sigset_t *set)
{
    for (int i = 0; i < FA_NFATAL; i++) {
        sigdelset(set, fatal_signals[i].signum);
    }
}

/* The bytes of a guard page below each alternate stack: a handler that
 * overruns its stack faults there instead of writing over whatever the
 * kernel mapped next to it. */
static size_t
altstack_guard(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

/* Give the calling thread an alternate signal stack, unless it has a big
 * enough one, so that a stack overflow in it can still be dumped.  Returns
 * the mapping (guard page first), or NULL if none was needed or possible.
 * Not signal-safe (mmap). */
void *
fa_altstack_install(void)
{
    stack_t old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE)
        && old.ss_size >= FA_ALTSTACK_MIN) {
        return NULL;
    }
    size_t guard = altstack_guard();
    char *mem = mmap(NULL, guard + FA_ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return NULL;
    }
    stack_t ss = {.ss_sp = mem + guard, .ss_size = FA_ALTSTACK_SIZE, .ss_flags = 0};
    if (mprotect(mem, guard, PROT_NONE) != 0 || sigaltstack(&ss, NULL) != 0) {
        munmap(mem, guard + FA_ALTSTACK_SIZE);
        return NULL;
    }
    return mem;
}

/* Take the calling thread's alternate stack away before it is freed. */
void
fa_altstack_remove(void *mem)
{
    if (mem == NULL) {
        return;
    }
    size_t guard = altstack_guard();
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == (char *)mem + guard) {
        stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        (void)sigaltstack(&off, NULL);
    }
    munmap(mem, guard + FA_ALTSTACK_SIZE);
}

/* Free the alternate stack of a thread that does not exist in this
 * process (a forked child's copy of another thread's). */
void
fa_altstack_forget(void *mem)
{
    if (mem != NULL) {
        munmap(mem, altstack_guard() + FA_ALTSTACK_SIZE);
    }
}

/* signal-safe: the faulting instruction from the signal context. */
static uintptr_t
context_pc(void *uctx)
{
#if defined(__linux__) && defined(__x86_64__)
    return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__linux__) && defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.pc;
#else
    (void)uctx;
    return 0;
#endif
}

/* signal-safe: put back the handler that was there before ours. */
static void
fatal_restore(fa_fatal_signal *h)
{
    if (h->enabled) {
        h->enabled = 0;
        (void)sigaction(h->signum, &h->previous, NULL);
    }
}

/* signal-safe: SIGALRM handler armed during a fatal dump.  dladdr() takes
 * the dynamic loader's lock; if the crash left it held, or a write blocks
 * forever, the process must still end, and end by its own signal. */
static void
fatal_dump_too_long(int unused)
{
    (void)unused;
    static const char msg[] = "\nfaulthandler-auto: the fatal dump took too long; giving up\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    int signum = __atomic_load_n(&fatal.dumping_signum, __ATOMIC_ACQUIRE);
    fa_raise_default(signum);
    _exit(128 + signum);
}

/* signal-safe: the handler for SIGSEGV, SIGFPE, SIGBUS, SIGILL, SIGABRT.
 * Runs on the alternate stack.  A fault in a dump's probe goes back to the
 * probe.  Otherwise: dump once, give the signal back to the previous
 * handler and raise it again.  Ours stays installed during the dump, so a
 * fault in the dump itself outside a probe ends in the default action
 * (see the dumping_tid check), never in a hang or a loop. */
void
fatal_handler(int signum, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    pid_t me = fa_gettid();
    sigjmp_buf *probe = probe_env_of(me);
    if (probe != NULL) {
        siglongjmp(*probe, 1);
    }
    fa_fatal_signal *h = NULL;
    for (int i = 0; i < FA_NFATAL; i++) {
        if (fatal_signals[i].signum == signum && fatal_signals[i].enabled) {
            h = &fatal_signals[i];
        }
    }
    if (h == NULL) {
        guard_forward(signum);
        errno = saved_errno;
        return;
    }
    pid_t expected = 0;
    if (!__atomic_compare_exchange_n(&fatal.dumping_tid, &expected, me, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        if (expected == me) {
            /* a fault inside our own dump: default action, never a hang */
            fa_raise_default(signum);
            return;
        }
        /* another thread is dumping its crash: let it finish and end us */
        for (int i = 0; i < 10000; i++) {
            fa_sleep_ms(1);
        }
    }
    __atomic_store_n(&fatal.dumping_signum, signum, __ATOMIC_RELEASE);
    struct sigaction on_alarm, old_alarm;
    memset(&on_alarm, 0, sizeof(on_alarm));
    on_alarm.sa_handler = fatal_dump_too_long;
    on_alarm.sa_flags = SA_ONSTACK;
    sigaction(SIGALRM, &on_alarm, &old_alarm);
    unsigned int old_alarm_left = alarm(FA_FATAL_DUMP_SECONDS);
    /* a dump of a timeout or signal in flight gets a moment to finish */
    int locked = dump_lock_acquire(2000);
    fa_event ev = {EV_FATAL, signum, si, context_pc(uctx), NULL,
                   fatal.all_threads, fatal.c_stack, 0};
    dump_to_dest(&fatal.dest, &ev, NULL);
    dump_lock_release(locked);
    alarm(old_alarm_left);
    sigaction(SIGALRM, &old_alarm, NULL);
    fatal_restore(h);
    errno = saved_errno;
    raise(signum);
    /* the previous handler let the process live: a later crash dumps again */
    __atomic_store_n(&fatal.dumping_tid, 0, __ATOMIC_RELEASE);
}

/* Install our handler for every fatal signal. Not signal-safe. */
static int
fatal_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = fatal_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    for (int i = 0; i < FA_NFATAL; i++) {
        fa_fatal_signal *h = &fatal_signals[i];
        if (h->enabled) {
            continue;
        }
        if (sigaction(h->signum, &action, &h->previous) != 0) {
            return -1;
        }
        h->enabled = 1;
    }
    return 0;
}

/* Dump fatal signals to `dest` from now on; -1 with errno set when a
 * handler could not be installed.  Called with the GIL. */
int
fa_fatal_enable(const fa_dest *dest, int all_threads, int c_stack)
{
    if (c_stack) {
        fa_prime_unwinder();
    }
    fatal.dest = *dest;
    fatal.all_threads = all_threads;
    fatal.c_stack = c_stack;
    if (fatal.main_altstack == NULL) {
        fatal.main_altstack = fa_altstack_install();
    }
    if (fatal_install() < 0) {
        return -1;
    }
    fatal.enabled = 1;
    return 0;
}

/* Give the fatal signals back; returns whether they were ours. */
int
fa_fatal_disable(void)
{
    int was = fatal.enabled;
    for (int i = 0; i < FA_NFATAL; i++) {
        fatal_restore(&fatal_signals[i]);
    }
    fatal.enabled = 0;
    return was;
}

int
fa_fatal_is_enabled(void)
{
    return fatal.enabled;
}

/* In a forked child the thread that was dumping (if any) is gone. */
void
fa_fatal_after_fork(void)
{
    fatal.dumping_tid = 0;
}
