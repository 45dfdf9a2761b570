/* walk.c - the dump walk: it reads the threads, frames and modules of the
 * process, each read inside a probe, and hands what it finds to the
 * emitter of the dump's format (emit.h).  Everything here is signal-safe.
 */
#include "context.h"
#include "cstack.h"
#include "dump.h"
#include "emit.h"
#include "facts.h"
#include "fatal.h"
#include "frames.h"
#include "gcstate.h"
#include "signature.h"
#include "threads.h"
#include "tstate.h"
#include "util.h"

#ifdef __linux__
#  include <fcntl.h>
#  include <sys/prctl.h>
#endif
#include <pthread.h>
#include <sys/utsname.h>

#define FA_MAX_TSTATES 100000      /* a longer thread list is taken as a loop */
#define FA_LIST_TRIES 3             /* passes over a thread list that changed under us */

/* output options, set with the GIL by fa_set_output, read by dumps */
static struct {
    int format;
    long max_frames;
    long max_threads;
} output = {FMT_TEXT, 100, 100};

/* one dump at a time: the kernel thread id of the dumping thread, or 0 */
static pid_t dump_owner;

/* Dumps at once: the lock holder, and a fatal dump that went ahead without
 * it (fatal dumps are one at a time: fatal.dumping_tid), which may be in
 * the very thread whose dump crashed. */
#define FA_DUMP_SLOTS 2

static struct {
    int busy[FA_DUMP_SLOTS];
    fa_dump slot[FA_DUMP_SLOTS];
} dumps;

/* Not signal-safe in principle (a dump may read it meanwhile); called with
 * the GIL, and a dump reads each field once. */
void
fa_set_output(int format, long max_frames, long max_threads)
{
    output.format = format;
    output.max_frames = max_frames;
    output.max_threads = max_threads;
}

/* signal-safe: take the process-wide dump lock, waiting up to `wait_ms`
 * (and no longer once *abort is set) while another thread holds it.
 * Returns 1 when taken, to be given back; 0 when not: held by this very
 * thread (a signal during its own dump), by another thread all that time,
 * or wanted by a fatal dump, which goes first.  Dumps never interleave:
 * a caller that did not get it does not write. */
int
dump_lock_acquire(long wait_ms, int *abort)
{
    pid_t me = fa_gettid();
    for (long waited = 0;; waited++) {
        if (w_fatal_waiting()) {
            return 0;
        }
        pid_t expected = 0;
        if (__atomic_compare_exchange_n(&dump_owner, &expected, me, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            return 1;
        }
        if (expected == me || waited >= wait_ms
            || (abort != NULL && __atomic_load_n(abort, __ATOMIC_ACQUIRE))) {
            return 0;
        }
        fa_sleep_ms(1);
    }
}

/* signal-safe: the dump lock for a fatal dump.  Writers of other dumps
 * stop at their next write (w_fatal_waiting), so the holder leaves it
 * within a moment; after `wait_ms` (a holder stuck in a blocking write)
 * the fatal dump goes ahead without it.  Returns as dump_lock_acquire. */
int
dump_lock_acquire_fatal(long wait_ms)
{
    pid_t me = fa_gettid();
    w_set_fatal_waiting(1);
    for (long waited = 0;; waited++) {
        pid_t expected = 0;
        if (__atomic_compare_exchange_n(&dump_owner, &expected, me, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            return 1;
        }
        if (expected == me || waited >= wait_ms) {
            return 0;
        }
        fa_sleep_ms(1);
    }
}

/* signal-safe: the dump lock if it is free now, else 0 (no waiting). */
int
dump_lock_try(void)
{
    return dump_lock_acquire(0, NULL);
}

/* signal-safe: atomic stores only */
void
dump_lock_release(int taken)
{
    if (taken) {
        __atomic_store_n(&dump_owner, 0, __ATOMIC_SEQ_CST);
    }
}

/* signal-safe (atomic load, gettid, tgkill): who holds the dump lock:
 * nobody (FA_LOCK_FREE), another thread of this process (FA_LOCK_OTHER),
 * or no thread that will let go of it while this one waits
 * (FA_LOCK_STUCK): this very thread, or, in the child of a bare fork()
 * during a dump, a thread of the parent. */
int
dump_lock_holder(void)
{
    pid_t owner = __atomic_load_n(&dump_owner, __ATOMIC_SEQ_CST);
    if (owner == 0) {
        return FA_LOCK_FREE;
    }
    return owner != fa_gettid() && fa_thread_alive(owner) ? FA_LOCK_OTHER : FA_LOCK_STUCK;
}

/* signal-safe (atomics only): a free dump slot, NULL when all are taken. */
fa_dump *
dump_claim(void)
{
    for (int i = 0; i < FA_DUMP_SLOTS; i++) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&dumps.busy[i], &expected, 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            return &dumps.slot[i];
        }
    }
    return NULL;
}

/* signal-safe: an atomic store */
void
dump_release(fa_dump *d)
{
    __atomic_store_n(&dumps.busy[d - dumps.slot], 0, __ATOMIC_RELEASE);
}

/* In a forked child no other thread is left to hold the dump flag or a
 * dump slot. */
void
fa_dump_after_fork(void)
{
    dump_owner = 0;
    memset(dumps.busy, 0, sizeof(dumps.busy));
    w_set_fatal_waiting(0);
}

/* signal-safe: w_init (fstat) and gettid */
void
dump_init(fa_dump *d, int fd, int *abort)
{
    w_init(&d->w, fd, abort);
    d->tid = fa_gettid();
    d->emit = output.format == FMT_JSON ? &fa_emit_json
              : output.format == FMT_CPYTHON ? &fa_emit_cpython : &fa_emit_text;
    d->max_frames = output.max_frames;
    d->max_threads = output.max_threads;
    d->nthreads = 0;
    d->signature[0] = '\0';
}

/* signal-safe: write one whole dump to `fd`. */
void
dump_to_fd(fa_dump *d, const fa_event *ev)
{
    /* decided once, so that the signature and the C stack agree */
    d->c_stack_room = fa_cstack_has_room();
    if (ev->event == EV_FATAL) {
        (void)fa_crash_signature(d, ev, d->signature);
    }
    if (ev->max_threads > 0) {
        d->max_threads = ev->max_threads;
    }
    d->emit->document(d, ev);
    w_flush(&d->w);
}

/* signal-safe: what a dump says about its event and the process, handed
 * to one part of the emitter (its header or its trailer). */
static void
walk_info(fa_dump *d, const fa_event *ev,
          void (*part)(fa_writer *w, const fa_header_info *h))
{
    char now[FA_TIME_SIZE];
    format_utc(now, 1);
    fa_header_info h;
    memset(&h, 0, sizeof(h));
    h.event = ev->event;
    h.signum = ev->signum;
    h.signame = ev->signum > 0 ? signal_name(ev->signum) : NULL;
    h.fatal_error = fa_fatal_error_name(ev->signum);
    h.timeout_header = ev->timeout_header;
    h.si_code = ev->si ? si_code_text(ev->signum, ev->si->si_code) : NULL;
    h.has_addr = ev->si && !sent_by_process(ev->si)
                 && (ev->signum == SIGSEGV || ev->signum == SIGBUS
                     || ev->signum == SIGFPE || ev->signum == SIGILL);
    h.fault_addr = h.has_addr ? (uintptr_t)ev->si->si_addr : 0;
    h.has_sender = sent_by_process(ev->si);
    if (h.has_sender) {
        h.sender_pid = (unsigned long long)ev->si->si_pid;
        h.sender_uid = (unsigned long long)ev->si->si_uid;
    }
    h.pid = (unsigned long long)getpid();
    h.time = now;
    h.python = fa_process.python;
    h.prog = fa_process.prog;
    h.skipped_coalesced = ev->skipped_coalesced;
    h.skipped_limited = ev->skipped_limited;
    h.signature = d->signature[0] ? d->signature : NULL;
    struct utsname u;           /* uname is async-signal-safe */
    h.host = uname(&u) == 0 ? u.nodename : NULL;
    /* a plain load from our own live interpreter; 3.9 does not note it */
    h.gc_running = PY_VERSION_HEX >= 0x030A0000 && fa_process.interp != NULL
                   ? fa_gc_collecting(fa_process.interp) : -1;
    h.watchdog = ev->watchdog;
    h.watchdog_len = ev->watchdog_len;
    part(&d->w, &h);
}

/* signal-safe: the lines before the threads (CPython's first line). */
void
walk_header(fa_dump *d, const fa_event *ev)
{
    walk_info(d, ev, d->emit->header);
}

/* signal-safe: our lines after the Python frames. */
void
walk_trailer(fa_dump *d, const fa_event *ev)
{
    walk_info(d, ev, d->emit->trailer);
}

typedef struct {
    fa_frame *top;
    long total;                 /* shown frames, -1 if the chain breaks */
} fa_count;

/* signal-safe (probed): count the shown frames of a chain. */
static FA_RACY_READ void
step_count(fa_dump *d, void *arg)
{
    (void)d;
    fa_count *c = arg;
    fa_frame copy;
    long n = 0;
    c->total = -1;
    for (long steps = 0; steps <= FA_MAX_CHAIN; steps++) {
        if (c->top == NULL) {
            c->total = n;
            return;
        }
        int ok = frame_check(c->top, &copy);
        if (ok < 0) {
            return;
        }
        n += ok;
        c->top = frame_back(&copy);
    }
}

typedef struct {
    fa_frame *f;
    fa_frame copy;
    int shown;                  /* frame_check's verdict */
    long index;                 /* frames printed before this one */
} fa_frame_step;

/* signal-safe (probed): copy one frame. */
static FA_RACY_READ void
step_frame_check(fa_dump *d, void *arg)
{
    (void)d;
    fa_frame_step *st = arg;
    st->shown = frame_check(st->f, &st->copy);
}

/* signal-safe (probed): what one frame copy shows. */
static FA_RACY_READ void
frame_info(fa_frame_step *st, fa_frame_info *info)
{
    PyCodeObject *code = frame_code(&st->copy);
    info->has_code = code != NULL;
    info->filename = code != NULL ? code->co_filename : NULL;
    info->name = code != NULL ? code->co_name : NULL;
    info->line = code != NULL ? frame_line(&st->copy, code) : -1;
    info->index = st->index;
}

/* signal-safe (probed): read one frame copy and print it; the emitter's
 * reads of its strings are inside this probe too. */
static FA_RACY_READ void
step_frame_print(fa_dump *d, void *arg)
{
    fa_frame_step *st = arg;
    fa_frame_info info;
    frame_info(st, &info);
    d->emit->frame(&d->w, &info);
}

/* signal-safe: the frames of one thread, innermost first.  Past max_frames
 * it shows the innermost and outermost frames and how many it left out;
 * CPython's walk shows the innermost ones only. */
static void
walk_frames(fa_dump *d, fa_frame *top, int skip)
{
    const fa_emitter *e = d->emit;
    fa_count c = {top, -1};
    (void)probed(d, step_count, &c);
    long total = c.total;
    if (total > 0) {
        total = total > skip ? total - skip : 0;
    }
    long max = d->max_frames;
    long inner = total, omitted = 0;
    if (total > max) {
        inner = e->cpython ? max : (max + 1) / 2;
        omitted = total - inner - (e->cpython ? 0 : max / 2);
    }
    e->frames_begin(&d->w, total);
    long i = 0, printed = 0;
    int unreadable = 0;
    fa_frame_step st;
    for (st.f = top; st.f != NULL; st.f = frame_back(&st.copy)) {
        if (!probed(d, step_frame_check, &st) || st.shown < 0) {
            unreadable = 1;
            break;
        }
        if (st.shown == 0) {
            continue;
        }
        if (skip > 0) {
            skip--;
            continue;
        }
        if (total >= 0 && i >= inner && i < inner + omitted) {
            if (i == inner) {
                e->frames_gap(&d->w, omitted);
            }
            if (e->cpython) {
                break;
            }
            i++;
            continue;
        }
        if (printed >= max) {
            /* the chain broke further down, or grew since it was counted */
            break;
        }
        st.index = printed;
        if (!probed(d, step_frame_print, &st)) {
            unreadable = 1;
            break;
        }
        printed++;
        i++;
    }
    e->frames_end(&d->w, omitted, unreadable);
}

/* signal-safe (probed): the kernel thread id of the thread `ident`, whose
 * state is `ts`, and whether it holds the GIL; the caller then reads the
 * rest with fa_task_read, outside the probe.  The calling thread asks the
 * kernel; 3.11+ note every thread's id; before, the thread registry knows
 * the threads `threading` started and the main thread.  Never guessed. */
static FA_RACY_READ void
thread_state_read(PyThreadState *ts, unsigned long ident, fa_thread_state *out)
{
    out->tid = ident == (unsigned long)pthread_self() ? fa_gettid() : fa_compat_native_tid(ts);
    if (out->tid <= 0) {
        out->tid = thread_tid(ident);
    }
    out->gil = fa_gil_held_by(ts->interp, ts);
    out->state = 0;
    out->cpu_ms = -1;
}

typedef struct {
    PyThreadState *ts;
    int is_current, is_main, all_threads;
    fa_frame *top;              /* out: its innermost frame */
    long long interp_id;        /* a subinterpreter's id, -1 for the main interpreter's */
    int after_another;          /* a thread was shown before it */
} fa_thread_step;

#if PY_VERSION_HEX >= 0x030E0000 && defined(__linux__)
/* signal-safe: the kernel's name of thread `tid` (what pthread_getname_np
 * returns, and CPython 3.14+ prints), read with open/read/close; "" when
 * unknown. */
static void
os_thread_name(unsigned long tid, char out[FA_NAME_SIZE])
{
    char digits[24], path[64] = "/proc/self/task/";
    int i = (int)sizeof(digits);
    do {
        digits[--i] = (char)('0' + tid % 10);
        tid /= 10;
    } while (tid);
    size_t n = strlen(path);
    memcpy(path + n, digits + i, sizeof(digits) - (size_t)i);
    memcpy(path + n + sizeof(digits) - (size_t)i, "/comm", 6);  /* 16 + 20 + 6 fit */
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    ssize_t len;
    do {
        len = read(fd, out, FA_NAME_SIZE - 1);
    } while (len < 0 && errno == EINTR);
    close(fd);
    len = len < 0 ? 0 : len;
    while (len > 0 && out[len - 1] == '\n') {
        len--;
    }
    out[len] = '\0';
}
#endif

/* signal-safe (probed): read a thread's state and begin it in the output. */
static FA_RACY_READ void
step_thread_begin(fa_dump *d, void *arg)
{
    fa_thread_step *st = arg;
    PyThreadState *ts = st->ts;
    fa_thread_info info;
    /* a subinterpreter's state runs on the calling thread, whatever
     * thread made it */
    info.ident = st->interp_id >= 0 ? (unsigned long)pthread_self() : ts->thread_id;
    st->top = thread_top_frame(ts);
    info.name_len = 0;
    info.name = thread_name(info.ident, st->is_main, &info.name_len);
    info.interp_id = st->interp_id;
    char own[16];
#ifdef PR_GET_NAME
    /* prctl is a bare system call: safe here, unlike pthread_getname_np */
    if (info.name == NULL && st->is_current && prctl(PR_GET_NAME, own, 0, 0, 0) == 0) {
        own[15] = '\0';
        info.name = own;
        info.name_len = fa_strnlen(own, sizeof(own));
    }
#else
    (void)own;
#endif
    info.os_name = NULL;
#if PY_VERSION_HEX >= 0x030E0000 && defined(__linux__)
    char os_name[FA_NAME_SIZE];
    if (d->emit->cpython && st->all_threads) {
        os_thread_name(ts->native_thread_id, os_name);
        info.os_name = os_name;
    }
#endif
    info.is_current = st->is_current;
    info.all_threads = st->all_threads;
    info.gc_collecting = st->is_current && st->all_threads
                         && fa_gc_collecting(fa_process.interp);
    info.index = d->nthreads;
    char label[FA_CONTEXT_SIZE];
    info.context_len = fa_context_thread_label(info.ident, label);
    info.context = label;
    /* inside the probe: a thread that cannot be read leaves no separator */
    if (st->after_another) {
        d->emit->between_threads(&d->w);
    }
    d->emit->thread_begin(&d->w, &info);
    if (d->emit->state_inline) {
        fa_thread_state state;
        thread_state_read(ts, info.ident, &state);
        fa_task_read(&state);
        d->emit->thread_state(&d->w, info.ident, &state);
    }
}

/* signal-safe: one thread; returns 0 when it could not be read (it ended
 * while we looked). */
static int
walk_thread(fa_dump *d, fa_thread_step *st, int skip)
{
    if (!probed(d, step_thread_begin, st)) {
        return 0;
    }
    d->nthreads++;
    walk_frames(d, st->top, st->is_current ? skip : 0);
    d->emit->thread_end(&d->w);
    return 1;
}

/* signal-safe (probed): only read which thread state follows `*arg`. */
static FA_RACY_READ void
step_next_thread(fa_dump *d, void *arg)
{
    (void)d;
    PyThreadState **ts = arg;
    *ts = (*ts)->next;
}

/* signal-safe (probed): walk the thread list once. */
static FA_RACY_READ void
step_scan_threads(fa_dump *d, void *arg)
{
    (void)d;
    fa_thread_scan *sc = arg;
    unsigned long self = (unsigned long)pthread_self();
    PyInterpreterState *interp = fa_process.interp;
    PyThreadState *mine = fa_compat_current_tstate();
    if (interp != NULL && ptr_ok(mine) && ptr_ok(mine->interp) && mine->interp != interp) {
        /* the calling thread runs a subinterpreter: it is shown first,
         * with that interpreter's id; its state in the main interpreter
         * (if it has one) is just another thread there */
        sc->sub = mine;
        sc->sub_id = (long long)PyInterpreterState_GetID(mine->interp);
    }
    sc->head = interp ? PyInterpreterState_ThreadHead(interp) : NULL;
    PyThreadState *ts;
    for (ts = sc->head; ptr_ok(ts) && sc->total < FA_MAX_TSTATES; ts = ts->next) {
        /* a freed state may still lead somewhere: to malloc's own lists */
        if (ts->interp != interp || (ts->next != NULL && (!ptr_ok(ts->next) || ts->next->prev != ts))) {
            sc->torn = 1;
            return;
        }
        if (ts->thread_id == self && sc->sub == NULL) {
            sc->current = ts;
        }
        if (sc->total < FA_SCAN_KEPT) {
            sc->kept[sc->total] = ts;
        }
        sc->main = ts;
        sc->total++;
    }
    /* a list this long is taken as a loop through freed memory */
    sc->torn = ts != NULL;
}

/* signal-safe: scan the thread list; 0 when it could not be read. */
int
fa_scan_threads(fa_dump *d, fa_thread_scan *sc)
{
    /* a thread that ends unlinks its state and frees it within moments:
     * a pass that met it may be tried again */
    for (int attempt = 0; attempt < FA_LIST_TRIES; attempt++) {
        sc->head = sc->current = sc->main = sc->sub = NULL;
        sc->total = 0;
        sc->sub_id = -1;
        sc->torn = 1;
        if (!probed(d, step_scan_threads, sc)) {
            continue;
        }
        if (sc->torn) {
            /* what the last pass saw, up to where it stopped: the last
             * state it reached is not the oldest */
            sc->main = NULL;
        }
        if (!sc->torn || attempt == FA_LIST_TRIES - 1) {
            return 1;
        }
    }
    sc->current = sc->main = sc->sub = NULL;
    return 0;
}

typedef struct {
    PyThreadState *ts;
    int found;                  /* out */
} fa_listed_step;

/* signal-safe (probed): is st->ts in the main interpreter's thread list? */
static FA_RACY_READ void
step_listed(fa_dump *d, void *arg)
{
    (void)d;
    fa_listed_step *st = arg;
    PyThreadState *ts = PyInterpreterState_ThreadHead(fa_process.interp);
    for (long n = 0; ptr_ok(ts) && n < FA_MAX_TSTATES; ts = ts->next, n++) {
        if (ts == st->ts) {
            st->found = 1;
            return;
        }
    }
}

/* signal-safe: is `ts`, entry `i` of the scan, still one of the
 * interpreter's threads?  A thread that ended since the scan is left out
 * rather than read from freed memory.  Entries past what the scan kept
 * were just reached through the list itself. */
int
fa_thread_listed(fa_dump *d, long i, PyThreadState *ts)
{
    if (i >= FA_SCAN_KEPT) {
        return 1;
    }
    fa_listed_step st = {ts, 0};
    for (int attempt = 0; attempt < FA_LIST_TRIES && fa_process.interp != NULL; attempt++) {
        if (probed(d, step_listed, &st) && st.found) {
            return 1;
        }
    }
    return 0;
}

/* signal-safe: the thread state after `ts`, entry `i` of the scan.  Within
 * what the scan kept it is the one the scan saw there, so that a thread
 * that ends while the dump goes on (its freed state leads nowhere) takes
 * only itself out of the dump; past that, it is read from `ts` (NULL when
 * that fails: the walk ends there). */
PyThreadState *
fa_thread_after(fa_dump *d, const fa_thread_scan *sc, long i, PyThreadState *ts)
{
    if (i + 1 < sc->total && i + 1 < FA_SCAN_KEPT) {
        return sc->kept[i + 1];
    }
    return fa_thread_listed(d, i, ts) && probed(d, step_next_thread, &ts) ? ts : NULL;
}

/* signal-safe: CPython's order: from the newest thread to the oldest, the
 * calling thread marked where it stands, cut after max_threads. */
static void
walk_threads_cpython(fa_dump *d, const fa_event *ev, const fa_thread_scan *sc)
{
    const fa_emitter *e = d->emit;
    long shown = 0, gone = 0;
    PyThreadState *ts = sc->head;
    for (long seen = 0; ts != NULL && seen < sc->total; seen++) {
        if (shown >= d->max_threads) {
            e->between_threads(&d->w);
            break;
        }
        fa_thread_step st = {ts, ts == sc->current, ts == sc->main, 1, NULL, -1, shown > 0};
        if (fa_thread_listed(d, seen, ts)) {
            shown += walk_thread(d, &st, st.is_current ? ev->skip : 0);
        }
        else {
            gone++;
        }
        ts = fa_thread_after(d, sc, seen, ts);
    }
    /* a thread that ended is not one left out */
    e->threads_end(&d->w, sc->total > shown + gone ? sc->total - shown - gone : 0);
}

typedef struct {
    fa_frame_step st;
    fa_frame_visit visit;
    void *arg;
} fa_visit_step;

/* signal-safe (probed): hand one frame to a visitor. */
static FA_RACY_READ void
step_frame_visit(fa_dump *d, void *arg)
{
    fa_visit_step *v = arg;
    fa_frame_info info;
    frame_info(&v->st, &info);
    v->visit(d, &info, v->arg);
}

/* signal-safe (probed): only read a thread's innermost frame. */
static FA_RACY_READ void
step_thread_top(fa_dump *d, void *arg)
{
    (void)d;
    fa_thread_step *st = arg;
    st->top = thread_top_frame(st->ts);
}

/* signal-safe: `visit` the first `max` frames the dump shows for the
 * calling thread, as walk_threads would print them; stops at a frame it
 * cannot read.  Nothing when the calling thread has no Python state: the
 * crash signature (the only caller) then has no Python part, as
 * docs/signature.md says. */
void
walk_top_frames(fa_dump *d, const fa_event *ev, int max, fa_frame_visit visit, void *arg)
{
    fa_thread_scan *sc = &d->scan;
    if (fa_process.interp == NULL || !fa_scan_threads(d, sc)) {
        return;
    }
    /* a thread without Python state (a C thread) has no Python part: the
     * other threads' frames say nothing about its crash */
    PyThreadState *first = sc->sub ? sc->sub : sc->current;
    fa_thread_step th = {first, 1, 0, 0, NULL, sc->sub_id, 0};
    if (th.ts == NULL || !probed(d, step_thread_top, &th)) {
        return;
    }
    int skip = ev->skip;
    fa_visit_step v;
    v.visit = visit;
    v.arg = arg;
    int n = 0;
    for (v.st.f = th.top; v.st.f != NULL && n < max; v.st.f = frame_back(&v.st.copy)) {
        if (!probed(d, step_frame_check, &v.st) || v.st.shown < 0) {
            return;
        }
        if (v.st.shown == 0) {
            continue;
        }
        if (skip > 0) {
            skip--;
            continue;
        }
        v.st.index = n;
        if (!probed(d, step_frame_visit, &v)) {
            return;
        }
        n++;
    }
}

/* signal-safe: all the threads, the first one being the calling thread (or,
 * for a timeout, the main thread), then the rest newest first, up to
 * max_threads: the thread that matters comes first in a log cut short, and
 * no limit can leave it out.  Threads come and go while we look: every
 * thread state is read inside a probe, the walk goes by the list the scan
 * kept, and a thread that ended since is left out (fa_thread_listed). */
void
walk_threads(fa_dump *d, const fa_event *ev)
{
    const fa_emitter *e = d->emit;
    fa_thread_scan *sc = &d->scan;
    if (fa_process.interp == NULL && fa_process.finalized) {
        e->threads_begin(&d->w);
        e->finalized(&d->w);
        e->threads_end(&d->w, 0);
        return;
    }
    (void)fa_scan_threads(d, sc);
    e->threads_begin(&d->w);
    if (!ev->all_threads) {
        /* the "Stack" block: the calling thread (in its subinterpreter if
         * it runs one); for faulthandler 1.x's timeout without
         * all_threads, the main thread */
        PyThreadState *only = sc->sub ? sc->sub : sc->current ? sc->current
                              : ev->event == EV_TIMEOUT ? sc->main : NULL;
        fa_thread_step st = {only, only == sc->current, only == sc->main, 0, NULL, -1, 0};
        if (sc->sub != NULL) {
            st.is_current = 1;
            st.is_main = 0;
            st.interp_id = sc->sub_id;
        }
        if (only != NULL) {
            (void)walk_thread(d, &st, ev->skip);
        }
        else {
            e->no_thread(&d->w, 0);
        }
        e->threads_end(&d->w, 0);
        return;
    }
    if (e->cpython) {
        walk_threads_cpython(d, ev, sc);
        return;
    }
    PyThreadState *first = sc->current ? sc->current : sc->main;
    long shown = 0;
    if (sc->sub != NULL) {
        fa_thread_step st = {sc->sub, 1, 0, 1, NULL, sc->sub_id, 0};
        shown += walk_thread(d, &st, ev->skip);
        if (first != NULL) {
            fa_thread_step main_st = {first, 0, 1, 1, NULL, -1, shown > 0};
            shown += walk_thread(d, &main_st, 0);
        }
    }
    else if (first != NULL) {
        fa_thread_step st = {first, first == sc->current, first == sc->main, 1, NULL, -1, 0};
        shown += walk_thread(d, &st, ev->skip);
    }
    else {
        e->no_thread(&d->w, 1);
    }
    long gone = 0;
    PyThreadState *ts = sc->head;
    for (long seen = 0; ts != NULL && seen < sc->total && shown < d->max_threads; seen++) {
        if (ts != first && !fa_thread_listed(d, seen, ts)) {
            gone++;     /* ended since the scan: not one left out */
        }
        else if (ts != first) {
            /* after the first thread, or the line saying there is none */
            fa_thread_step st = {ts, ts == sc->current, ts == sc->main, 1, NULL, -1, 1};
            shown += walk_thread(d, &st, 0);
        }
        ts = fa_thread_after(d, sc, seen, ts);
    }
    /* the subinterpreter's thread is not one of the main interpreter's */
    long listed = (sc->sub != NULL && shown > 0 ? shown - 1 : shown) + gone;
    e->threads_end(&d->w, sc->total > listed ? sc->total - listed : 0);
}

typedef struct {
    PyThreadState *ts;
    long long interp_id;        /* as in fa_thread_step */
    unsigned long ident;        /* out */
    fa_thread_state state;      /* out */
} fa_state_step;

/* signal-safe (probed): read what thread_state_read reads of one thread. */
static FA_RACY_READ void
step_thread_state(fa_dump *d, void *arg)
{
    (void)d;
    fa_state_step *st = arg;
    st->ident = st->interp_id >= 0 ? (unsigned long)pthread_self() : st->ts->thread_id;
    thread_state_read(st->ts, st->ident, &st->state);
}

/* signal-safe: one thread's state line; 0 when its state could not be read */
static int
state_of(fa_dump *d, fa_state_step *st)
{
    if (!probed(d, step_thread_state, st)) {
        return 0;
    }
    fa_task_read(&st->state);
    d->emit->thread_state(&d->w, st->ident, &st->state);
    return 1;
}

/* signal-safe: the state of the threads walk_threads shows, for a format
 * that prints them after the frames: the first thread, then the others
 * newest first, up to max_threads. */
void
walk_thread_states(fa_dump *d, const fa_event *ev)
{
    fa_thread_scan *sc = &d->scan;
    if (fa_process.interp == NULL || !fa_scan_threads(d, sc)) {
        return;
    }
    long shown = 0;
    if (sc->sub != NULL) {
        fa_state_step st = {sc->sub, sc->sub_id, 0, {0, 0, -1, -1}};
        shown += state_of(d, &st);
    }
    PyThreadState *first = sc->current ? sc->current
                           : ev->all_threads || ev->event == EV_TIMEOUT ? sc->main : NULL;
    if (!ev->all_threads) {
        if (sc->sub == NULL && first != NULL) {
            fa_state_step st = {first, -1, 0, {0, 0, -1, -1}};
            (void)state_of(d, &st);
        }
        return;
    }
    if (first != NULL) {
        fa_state_step st = {first, -1, 0, {0, 0, -1, -1}};
        shown += state_of(d, &st);
    }
    PyThreadState *ts = sc->head;
    for (long seen = 0; ts != NULL && seen < sc->total && shown < d->max_threads; seen++) {
        if (ts != first && fa_thread_listed(d, seen, ts)) {
            fa_state_step st = {ts, -1, 0, {0, 0, -1, -1}};
            shown += state_of(d, &st);
        }
        ts = fa_thread_after(d, sc, seen, ts);
    }
}

/* signal-safe (probed): is this sys.modules entry an extension module?
 * CPython's test is a module made from a PyModuleDef with a method table;
 * our formats drop the method table part, so that a module without
 * module-level functions (pybind11 makes them) is listed too.  This package
 * counts as "faulthandler" when it stands in for that built-in. */
static FA_RACY_READ int
is_extension_module(const fa_dump *d, PyObject *key, PyObject *value)
{
    if (value == fa_process.package) {
        return is_stand_in(key, value);
    }
    if (!instance_ok(value, &PyModule_Type)) {
        return 0;
    }
    PyModuleDef *def = PyModule_GetDef(value);
    return ptr_ok(def) && (!d->emit->cpython || def->m_methods != NULL);
}

typedef struct {
    PyObject *stdlib;           /* sys.stdlib_module_names, read once per dump */
    int hide;                   /* leave our own core out */
    Py_ssize_t pos;             /* PyDict_Next's position */
    long count;                 /* modules written */
    int done;
} fa_modules_step;

/* signal-safe (probed): what every entry's test needs, read once per dump */
static FA_RACY_READ void
step_modules_setup(fa_dump *d, void *arg)
{
    fa_modules_step *st = arg;
    st->stdlib = stdlib_module_names();
    st->hide = !d->emit->cpython || stands_in(fa_process.modules);
}

/* signal-safe (probed): the next entry of sys.modules, written if it is a
 * third-party extension module, as CPython 3.10+ lists them, with
 * sys.stdlib_module_names read now.  Our own core (and on 3.9 the standard
 * library's) is left out, but by CPython's walk, which lists it as CPython
 * would unless this package stands in for faulthandler: then the core is
 * part of "faulthandler".  One entry per probe, so no step writes more than
 * FA_STEP_MAX however many modules there are, and a fault drops one name,
 * never a flushed part of the list.  PyDict_Next reads the table without
 * allocating. */
static FA_RACY_READ void
step_extension_module(fa_dump *d, void *arg)
{
    fa_modules_step *st = arg;
    PyObject *modules = fa_process.modules;
    PyObject *key, *value;
    if (!obj_ok(modules, &PyDict_Type) || !PyDict_Next(modules, &st->pos, &key, &value)) {
        st->done = 1;
        return;
    }
    if (!obj_ok(key, &PyUnicode_Type) || !ptr_ok(value)
        || !is_extension_module(d, key, value)
        || (st->stdlib != NULL && set_has_name(st->stdlib, key))
        || (st->hide && is_hidden_name(key))) {
        return;
    }
    d->emit->module(&d->w, key, st->count);
    st->count++;
}

/* signal-safe: the module list, one probed step per entry; a fault ends
 * the list where it is, and the list is still closed. */
void
walk_extension_modules(fa_dump *d)
{
    fa_modules_step st = {NULL, 1, 0, 0, 0};
    d->emit->modules_begin(&d->w);
    if (probed(d, step_modules_setup, &st)) {
        while (!st.done && probed(d, step_extension_module, &st)) {
        }
    }
    d->emit->modules_end(&d->w, st.count);
}
