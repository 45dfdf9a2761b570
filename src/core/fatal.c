/* fatal.c - the fatal signals: our handler dumps once, then gives the
 * signal back to whoever had it and lets it happen again, so the exit status
 * and core dump are what they would have been without us.  The same handler
 * serves the probes of every dump (probes.h) on SIGSEGV and SIGBUS: it is
 * installed once, when the first dump is armed, and never swapped in and
 * out around a dump; a fault that is neither in one of our probes nor ours
 * to dump goes to the handler that was there before, as if we did not
 * exist.  A stuck fatal dump is ended by the give-up thread, which the
 * dump starts itself. */
#include "fatal.h"
#include "cstack.h"
#include "probes.h"
#include "util.h"

#include <fcntl.h>
#include <pthread.h>
#ifdef __linux__
#  include <sched.h>
#endif
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* For code that runs in the give-up thread, which ASan does not know. */
#if defined(__has_attribute)
#  if __has_attribute(no_sanitize_address)
#    define FA_NO_ASAN __attribute__((no_sanitize_address))
#  endif
#endif
#ifndef FA_NO_ASAN
#  define FA_NO_ASAN
#endif

/* a dump takes under 10 KiB of it (see FA_DUMP_STACK); the rest is for the
 * handlers a fatal signal is passed on to, whose needs we cannot know */
#define FA_ALTSTACK_SIZE (256 * 1024)
#define FA_ALTSTACK_MIN (128 * 1024)   /* someone else's alternate stack that will do */
#define FA_FATAL_DUMP_SECONDS 30       /* a fatal dump stuck longer gives up */

typedef struct {
    int signum;
    const char *name;           /* CPython's words for the fatal error */
    int installed;              /* fatal_handler is its action; `previous` holds what was */
    int enabled;                /* a fatal dump is wanted */
    struct sigaction previous;
} fa_fatal_signal;

static fa_fatal_signal fatal_signals[] = {
    {.signum = SIGSEGV, .name = "Segmentation fault"},
    /* CPython's words for this version */
#if PY_VERSION_HEX >= 0x030D0000
    {.signum = SIGFPE, .name = "Floating-point exception"},
#else
    {.signum = SIGFPE, .name = "Floating point exception"},
#endif
    {.signum = SIGBUS, .name = "Bus error"},
    {.signum = SIGILL, .name = "Illegal instruction"},
    {.signum = SIGABRT, .name = "Aborted"},
};
#define FA_NFATAL ((int)(sizeof(fatal_signals) / sizeof(fatal_signals[0])))

/* dumping_tid while the watchdog ends the process (EXIT): no fatal dump
 * starts then, and the watchdog does not end a process that is dumping */
#define FA_EXITING ((pid_t)-1)

static struct {
    int enabled;
    int all_threads;
    long max_threads;
    int c_stack;
    fa_dest dest;
    void *main_altstack;
    pid_t dumping_tid;          /* thread inside a fatal dump, 0 when none */
    /* the last fault given back to the action before ours, to run again
     * (kernel_fault): by which thread, when (fa_now_ms) */
    pid_t passed_on_tid;
    long long passed_on_ms;
    int dumping_signum;         /* the fatal signal it is dumping */
    /* a fatal signal we gave back and raised came back to us: the kernel
     * ignores a default-action signal a process sends itself when it is
     * the init of a PID namespace.  The process is ending (the next fault
     * kills it), so no further dump: it would be a second, false one. */
    int spent;
    /* SIGSEGV/SIGBUS were taken for the probes of other dumps: kept for
     * good, since a dump armed before may still be running on another
     * thread (a signal handler, the watchdog) when the last one is
     * unregistered or cancelled and disable() is called */
    int faults_held;
} fatal;

/* The give-up: a thread that ends the process by the crash's signal when
 * a fatal dump has not finished after FA_FATAL_DUMP_SECONDS (a lock held
 * by the crashed code, a pipe nobody reads).  A thread, not a timer
 * signal: it needs no disposition, works with every signal blocked in the
 * crashing thread, and its own note cannot block it.  It is not resident:
 * the dump starts it with a bare clone() on a stack mapped at enable and
 * waits for it to be gone at the end, because a thread of ours running all
 * along makes CPython 3.12+ warn at every fork() that the process is
 * multi-threaded, and pthread_create() may not be called in a handler.
 * Linux only; elsewhere a stuck fatal dump stays stuck. */
#define FA_GIVEUP_STACK (64 * 1024)
static struct {
    char *stack;                /* FA_GIVEUP_STACK bytes above a guard page */
    int done;                   /* the dump it watches is over */
    pid_t tid;                  /* nonzero while it exists (CLONE_CHILD_CLEARTID) */
    int timer;                  /* the stand-in when no thread can be made, or -1 */
} giveup = {.timer = -1};

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

/* The fatal signals, for the Python side to check its list against: up to
 * `size` of them into `out`; returns how many there are. */
int
fa_fatal_signal_numbers(int *out, int size)
{
    for (int i = 0; i < FA_NFATAL && i < size; i++) {
        out[i] = fatal_signals[i].signum;
    }
    return FA_NFATAL;
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
    h->enabled = 0;
    if (h->installed) {
        h->installed = 0;
        (void)sigaction(h->signum, &h->previous, NULL);
    }
}

/* signal-safe: the table entry of `signum`, or NULL. */
static fa_fatal_signal *
entry_of(int signum)
{
    for (int i = 0; i < FA_NFATAL; i++) {
        if (fatal_signals[i].signum == signum) {
            return &fatal_signals[i];
        }
    }
    return NULL;
}

/* signal-safe: a fault of the instruction that was running, which happens
 * again when the handler returns (rather than a signal someone sent). */
static int
kernel_fault(int signum, const siginfo_t *si)
{
    return si != NULL && si->si_code > 0
           && (signum == SIGSEGV || signum == SIGBUS || signum == SIGFPE || signum == SIGILL);
}

/* signal-safe (sigaction, pthread_sigmask, raise): hand a signal that is
 * not ours to the action that was there before ours, as if we did not
 * exist.  A handler function is called with the same siginfo and context,
 * under the mask the kernel would have given it.  The default action (or
 * SIG_IGN, which the kernel refuses for a fault) is put back: a fault then
 * happens again when we return, straight into it, with its own siginfo and
 * core dump; a signal sent by someone is raised again. */
static void
pass_on(fa_fatal_signal *h, int signum, siginfo_t *si, void *uctx)
{
    struct sigaction prev = h->previous;
    int has_function = (prev.sa_flags & SA_SIGINFO)
                       ? prev.sa_sigaction != NULL
                       : prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN;
    if (!has_function) {
        if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler == SIG_IGN
            && !kernel_fault(signum, si)) {
            return;
        }
        fatal_restore(h);
        if (!kernel_fault(signum, si)) {
            raise(signum);
        }
        return;
    }
    sigset_t mask = prev.sa_mask, old;
    if (!(prev.sa_flags & SA_NODEFER)) {
        sigaddset(&mask, signum);
    }
    if (prev.sa_flags & SA_RESETHAND) {
        memset(&h->previous, 0, sizeof(h->previous));
        h->previous.sa_handler = SIG_DFL;
    }
    pthread_sigmask(SIG_BLOCK, &mask, &old);
    if (prev.sa_flags & SA_SIGINFO) {
        prev.sa_sigaction(signum, si, uctx);
    }
    else {
        prev.sa_handler(signum);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

#ifdef __linux__
/* signal-safe, and made of bare system calls for the give-up thread (see
 * giveup_main): a note on stderr that can never block, whatever stderr
 * is: a file takes it at once, a socket gets MSG_DONTWAIT, and a pipe or
 * terminal is opened again (a new open file, so O_NONBLOCK touches no one
 * else's) to write it without waiting.  Skipped when none of that works. */
FA_NO_ASAN static void
note_without_blocking(const char *msg, size_t len)
{
    struct stat st;
    if (syscall(SYS_fstat, STDERR_FILENO, &st) != 0) {
        return;
    }
    if (S_ISREG(st.st_mode)) {
        (void)syscall(SYS_write, STDERR_FILENO, msg, len);
        return;
    }
    if (S_ISSOCK(st.st_mode)) {
        (void)syscall(SYS_sendto, STDERR_FILENO, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
        return;
    }
    long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/fd/2",
                      O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
        (void)syscall(SYS_write, fd, msg, len);
        (void)syscall(SYS_close, fd);
    }
}
#endif

#ifdef __linux__
/* The give-up thread's body.  signal-safe, and more: it runs on the
 * crashing thread's thread-local storage (a bare clone() sets up none),
 * which it reads at most (the stack protector's canary): it makes bare
 * system calls, whose failures would otherwise set that thread's errno,
 * and none of glibc's cancellation points, which mark that thread's
 * cancellation state.  It is gone before that thread goes on
 * (giveup_disarm), and every signal is blocked in it from the start
 * (giveup_arm), so nothing interrupts it.  Not instrumented by ASan, which
 * does not know this thread.  Should ending the process by the crash's
 * signal be ignored (PID 1 of a namespace), it exits with the shell's
 * status for that signal. */
FA_NO_ASAN static int
giveup_main(void *arg)
{
    (void)arg;
    struct timespec begun, now;
    clock_gettime(CLOCK_MONOTONIC, &begun);
    while (!__atomic_load_n(&giveup.done, __ATOMIC_ACQUIRE)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - begun.tv_sec >= FA_FATAL_DUMP_SECONDS) {
            static const char msg[] =
                "\nfaulthandler-auto: the fatal dump took too long; giving up\n";
            note_without_blocking(msg, sizeof(msg) - 1);
            int signum = __atomic_load_n(&fatal.dumping_signum, __ATOMIC_ACQUIRE);
            struct sigaction dfl;      /* glibc's sigaction(): no TLS but errno */
            memset(&dfl, 0, sizeof(dfl));
            dfl.sa_handler = SIG_DFL;
            sigaction(signum, &dfl, NULL);
            unsigned long one = 1UL << (signum - 1);
            syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &one, NULL, sizeof(one));
            syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), signum);
            syscall(SYS_exit_group, 128 + signum);
        }
        struct timespec tick = {0, 10 * 1000000L};
        syscall(SYS_nanosleep, &tick, NULL);
    }
    return 0;
}

/* Map the give-up thread's stack, once.  Not signal-safe (mmap). */
static void
giveup_prepare(void)
{
    if (giveup.stack != NULL) {
        return;
    }
    size_t guard = altstack_guard();
    char *mem = mmap(NULL, guard + FA_GIVEUP_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return;
    }
    if (mprotect(mem, guard, PROT_NONE) != 0) {
        munmap(mem, guard + FA_GIVEUP_STACK);
        return;
    }
    giveup.stack = mem + guard;
}

/* signal-safe (system calls only; no lock, no allocation): when no
 * thread can be made (a pids limit, a sandbox), a timer sends the crash's
 * signal to the crashing thread itself after FA_FATAL_DUMP_SECONDS, and
 * every second after that (a signal landing in a probe is taken for that
 * probe's fault); the handler, which runs nested (SA_NODEFER), sees its own
 * dump in flight and ends the process by that signal.  Without the note,
 * and not as PID 1, where the kernel ignores it. */
static void
giveup_timer_arm(int signum)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = signum;
    sev._sigev_un._tid = fa_gettid();
    int id;
    if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) != 0) {
        return;
    }
    struct itimerspec when = {{1, 0}, {FA_FATAL_DUMP_SECONDS, 0}};
    if (syscall(SYS_timer_settime, id, 0, &when, NULL) != 0) {
        (void)syscall(SYS_timer_delete, id);
        return;
    }
    giveup.timer = id;
}

/* signal-safe (clone and rt_sigprocmask are system calls; no lock, no
 * allocation): start the give-up's clock in a thread of its own.  Every
 * signal is blocked around clone() with the bare system call, so that the
 * thread starts with all of them blocked (glibc's sigfillset() and
 * pthread_sigmask() leave out the two it keeps for itself).  Without a
 * stack the dump runs without a give-up. */
static void
giveup_arm(int signum)
{
    if (giveup.stack == NULL) {
        return;
    }
    __atomic_store_n(&giveup.done, 0, __ATOMIC_RELEASE);
    unsigned long all = ~0UL, before;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &before, sizeof(all));
    __atomic_store_n(&giveup.tid, 1, __ATOMIC_RELEASE);
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
                | CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
    int started = clone(giveup_main, giveup.stack + FA_GIVEUP_STACK, flags, NULL,
                        NULL, NULL, &giveup.tid) != -1;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &before, NULL, sizeof(before));
    if (!started) {
        __atomic_store_n(&giveup.tid, 0, __ATOMIC_RELEASE);
        giveup_timer_arm(signum);
    }
}

/* signal-safe: the dump is over; wait for the give-up thread to be gone
 * (it looks every 10 ms), since it runs on this thread's thread-local
 * storage and its stack serves the next dump. */
static void
giveup_disarm(void)
{
    __atomic_store_n(&giveup.done, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&giveup.tid, __ATOMIC_ACQUIRE) != 0) {
        fa_sleep_ms(1);
    }
    if (giveup.timer != -1) {
        (void)syscall(SYS_timer_delete, giveup.timer);
        giveup.timer = -1;
    }
}
#else
static void giveup_prepare(void) {}
static void giveup_arm(int signum) { (void)signum; }
static void giveup_disarm(void) {}
#endif

/* signal-safe: the handler for SIGSEGV, SIGFPE, SIGBUS, SIGILL, SIGABRT.
 * Runs on the alternate stack.  A fault in one of this thread's probes
 * goes back to the probe; a signal we are not asked to dump goes on to
 * the action before ours (pass_on).  Otherwise: dump once, with every
 * other signal blocked (a registered signal waits: its dump would land
 * inside this one), give the signal back to the previous action and let
 * it happen again.  A fault in our own dump outside a probe ends in the
 * default action, never in a hang or a loop. */
void
fatal_handler(int signum, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    pid_t me = fa_gettid();
    sigjmp_buf *probe = probe_env_of(me);
    if (probe != NULL) {
        siglongjmp(*probe, 1);
    }
    fa_fatal_signal *h = entry_of(signum);
    if (h == NULL) {
        return;
    }
    if (!h->enabled || __atomic_load_n(&fatal.spent, __ATOMIC_ACQUIRE)) {
        pass_on(h, signum, si, uctx);
        errno = saved_errno;
        return;
    }
    for (;;) {
        pid_t expected = 0;
        if (__atomic_compare_exchange_n(&fatal.dumping_tid, &expected, me, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            break;
        }
        if (expected == me) {
            fa_raise_default(signum);
            return;
        }
        /* another thread's crash (its dump ends the process, or its
         * give-up does), or the watchdog ending it: wait for that */
        fa_sleep_ms(1);
    }
    __atomic_store_n(&fatal.dumping_signum, signum, __ATOMIC_RELEASE);
    sigset_t quiet, old_mask;
    sigfillset(&quiet);
    fa_fatal_unblock(&quiet);
    pthread_sigmask(SIG_BLOCK, &quiet, &old_mask);
    fa_event ev = {EV_FATAL, signum, si, context_pc(uctx), NULL,
                   fatal.all_threads, fatal.c_stack, 0, 0, 0, 1, fatal.max_threads, NULL, NULL, 0};
    /* the give-up also ends a crash whose one line (a stack too small for
     * a dump) is stuck in a pipe nobody reads */
    giveup_arm(signum);
    if (dump_fits_here(&fatal.dest, &ev)) {
        /* a dump in flight stops writing at once and leaves the lock to us */
        int locked = dump_lock_acquire_fatal(2000);
        if (signum == SIGABRT && fa_cstack_has_room() && fa_cstack_in_fatal_error()) {
            /* CPython's Py_FatalError printed the Python frames already and
             * aborts: add only what it cannot print, the C stack */
            ev.event = EV_C_STACK;
        }
        dump_to_dest(&fatal.dest, &ev, NULL);
        dump_lock_release(locked);
        w_set_fatal_waiting(0);
    }
    giveup_disarm();
    int was_default = !(h->previous.sa_flags & SA_SIGINFO) && h->previous.sa_handler == SIG_DFL;
    fatal_restore(h);
    errno = saved_errno;
    if (kernel_fault(signum, si)) {
        /* returning runs the instruction again: it faults into the action
         * before ours, with its real siginfo (pass_on) */
        __atomic_store_n(&fatal.passed_on_ms, fa_now_ms(), __ATOMIC_RELAXED);
        __atomic_store_n(&fatal.passed_on_tid, me, __ATOMIC_RELEASE);
        __atomic_store_n(&fatal.dumping_tid, 0, __ATOMIC_RELEASE);
        return;
    }
    raise(signum);
    if (was_default) {
        __atomic_store_n(&fatal.spent, 1, __ATOMIC_RELEASE);
    }
    else {
        /* the previous handler let the process live: a later crash dumps again */
        __atomic_store_n(&fatal.dumping_tid, 0, __ATOMIC_RELEASE);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
}

/* Put fatal_handler in place for `h` unless it is.  Not signal-safe. */
static int
install(fa_fatal_signal *h)
{
    if (h->installed) {
        return 0;
    }
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = fatal_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    if (sigaction(h->signum, &action, &h->previous) != 0) {
        return -1;
    }
    h->installed = 1;
    return 0;
}

/* The probes of a dump need SIGSEGV and SIGBUS to reach fatal_handler:
 * installed once, before the first dump that may need them is armed (a
 * registered signal, a timeout, an explicit dump), and kept, so no dump
 * ever changes a disposition.  A handler someone installs later runs
 * first; runtimes that own SIGSEGV pass the faults that are not theirs on
 * to the one before them, as they do for CPython's faulthandler.  Not
 * signal-safe. */
void
fa_fatal_hold_faults(void)
{
    (void)install(entry_of(SIGSEGV));
    (void)install(entry_of(SIGBUS));
    fatal.faults_held = 1;
}

/* Dump fatal signals to `dest` from now on; -1 with errno set when a
 * handler could not be installed.  Called with the GIL. */
int
fa_fatal_enable(const fa_dest *dest, int all_threads, int c_stack, long max_threads)
{
    /* primed even without the C stack: fa_cstack_in_fatal_error needs it */
    fa_prime_unwinder();
    fa_cstack_init_fatal_error();
    fatal.dest = *dest;
    fatal.all_threads = all_threads;
    fatal.max_threads = max_threads;
    fatal.c_stack = c_stack;
    if (fatal.main_altstack == NULL) {
        fatal.main_altstack = fa_altstack_install();
    }
    giveup_prepare();
    for (int i = 0; i < FA_NFATAL; i++) {
        if (install(&fatal_signals[i]) < 0) {
            return -1;
        }
        fatal_signals[i].enabled = 1;
    }
    fatal.enabled = 1;
    return 0;
}

/* Give the fatal signals back; returns whether they were ours.  SIGSEGV
 * and SIGBUS stay with us (passing faults on) once the probes have needed
 * them (fa_fatal_hold_faults).  A handler someone installed over ours
 * since is left in place. */
int
fa_fatal_disable(void)
{
    int was = fatal.enabled;
    for (int i = 0; i < FA_NFATAL; i++) {
        fa_fatal_signal *h = &fatal_signals[i];
        h->enabled = 0;
        if (fatal.faults_held && (h->signum == SIGSEGV || h->signum == SIGBUS)) {
            continue;
        }
        struct sigaction cur;
        if (h->installed && sigaction(h->signum, NULL, &cur) == 0
            && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == fatal_handler) {
            fatal_restore(h);
        }
    }
    fatal.enabled = 0;
    return was;
}

int
fa_fatal_is_enabled(void)
{
    return fatal.enabled;
}

/* signal-safe: called by the watchdog before its EXIT.  1: no fatal dump
 * is running and none will start, so exiting with status 1 is right; 0: a
 * crash is being dumped, and its own signal must end the process. */
int
fa_fatal_claim_exit(void)
{
    pid_t expected = 0;
    return __atomic_compare_exchange_n(&fatal.dumping_tid, &expected, FA_EXITING, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* signal-safe (atomic loads, clock_gettime, tgkill, nanosleep): called by
 * exit() (see module.c), which would end a crash being handled on another
 * thread with status 0.  Waits while another thread dumps a crash: the
 * dump's end raises the signal, which ends the process here too, or its
 * give-up does within FA_FATAL_DUMP_SECONDS (the bound is for a give-up
 * that could not start).  Not after a dump whose raise the kernel ignored
 * (spent: PID 1), which lets the process live.  A fault given back to the
 * action before ours ends the process when it runs again into that
 * action, which may take time (a crash reporter): up to `grace_ms` after
 * it was given back. */
void
fa_fatal_wait_at_exit(long grace_ms)
{
    pid_t me = fa_gettid();
    long long end = fa_now_ms() + (FA_FATAL_DUMP_SECONDS + 2) * 1000LL;
    for (;;) {
        long long now = fa_now_ms();
        pid_t tid = __atomic_load_n(&fatal.dumping_tid, __ATOMIC_ACQUIRE);
        int dumping = tid != 0 && tid != me && tid != FA_EXITING
                      && !__atomic_load_n(&fatal.spent, __ATOMIC_ACQUIRE) && fa_thread_alive(tid);
        pid_t passer = __atomic_load_n(&fatal.passed_on_tid, __ATOMIC_ACQUIRE);
        int passing = passer != 0 && passer != me && fa_thread_alive(passer)
                      && now - __atomic_load_n(&fatal.passed_on_ms, __ATOMIC_RELAXED) < grace_ms;
        if ((!dumping && !passing) || now >= end) {
            return;
        }
        fa_sleep_ms(1);
    }
}

/* In a forked child the thread that was dumping (if any) and its give-up
 * thread are gone. */
void
fa_fatal_after_fork(void)
{
    fatal.dumping_tid = 0;
    fatal.passed_on_tid = 0;
    giveup.tid = 0;
    giveup.timer = -1;
}
