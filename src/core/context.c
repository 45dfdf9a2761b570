/* context.c - labels for dumps (set_context) and the stand-ins for fd 1
 * and 2 (redirect_std); see context.h. */
#include "context.h"
#include "emit.h"
#include <pthread.h>

/* A label in two buffers.  The writer (holding the GIL, so writers never
 * race each other) fills the buffer that is not published, then publishes
 * it by bumping `generation`; a reader copies the published buffer and
 * keeps the copy only if `generation` did not move meanwhile.  So a dump,
 * even one that interrupted the writer, never prints a half-written label,
 * and nobody waits for anybody. */
typedef struct {
    unsigned long generation;
    char text[2][FA_CONTEXT_SIZE];
} fa_label;

typedef struct {
    unsigned long ident;        /* the thread, 0 for a free slot */
    fa_label label;
} fa_thread_label;

static struct {
    fa_label process;
    fa_label worker;            /* {worker} */
    fa_thread_label threads[FA_CONTEXT_THREADS];
    int std_fd[3];              /* written instead of fd 1 and 2; 0: none */
} ctx;

/* Under the GIL: publish `n` bytes of `s`, cut on a UTF-8 character
 * boundary to fit.  Not inlined: gcc 16, inlining it into slot_free via a
 * void * slot, loses the object's bounds and warns (-Wstringop-overflow)
 * that the NUL lands past `generation`. */
__attribute__((noinline)) static void
label_set(fa_label *label, const char *s, size_t n)
{
    if (n >= FA_CONTEXT_SIZE) {
        n = FA_CONTEXT_SIZE - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
            n--;
        }
    }
    unsigned long g = __atomic_load_n(&label->generation, __ATOMIC_RELAXED);
    char *buf = label->text[(g + 1) & 1];
    /* The buffer about to be overwritten is the one published before the
     * last call: a reader still copying it must see `generation` move
     * before it sees any of the new bytes, or it would keep a torn copy.
     * The fence orders the previous publish before these stores (on x86
     * only the compiler needed telling; aarch64 reorders stores). */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(buf, s, n);
    buf[n] = '\0';
    __atomic_store_n(&label->generation, g + 1, __ATOMIC_RELEASE);
}

/* signal-safe: atomic loads and stack memory only.  Copies the published
 * label into `out` (FA_CONTEXT_SIZE bytes); returns its length, 0 when
 * there is none or when it kept changing under us. */
static size_t
label_get(const fa_label *label, char *out)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        unsigned long g = __atomic_load_n(&label->generation, __ATOMIC_ACQUIRE);
        const char *buf = label->text[g & 1];
        size_t n = 0;
        while (n < FA_CONTEXT_SIZE - 1
               && (out[n] = __atomic_load_n(&buf[n], __ATOMIC_RELAXED)) != '\0') {
            n++;
        }
        out[n] = '\0';
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&label->generation, __ATOMIC_RELAXED) == g) {
            return n;
        }
    }
    return 0;
}

/* The slot of thread `ident`, or NULL. */
static fa_thread_label *
thread_slot(unsigned long ident)
{
    for (int i = 0; i < FA_CONTEXT_THREADS; i++) {
        if (__atomic_load_n(&ctx.threads[i].ident, __ATOMIC_ACQUIRE) == ident) {
            return &ctx.threads[i];
        }
    }
    return NULL;
}

/* Free `slot`, if thread `ident` still holds it.  Its label is emptied
 * first, so a slot is always empty when it is claimed and a reader never
 * shows one thread's label for another. */
static void
slot_free(fa_thread_label *slot, unsigned long ident)
{
    if (__atomic_load_n(&slot->ident, __ATOMIC_ACQUIRE) == ident) {
        label_set(&slot->label, "", 0);
        __atomic_store_n(&slot->ident, 0, __ATOMIC_RELEASE);
    }
}

/* Every thread that ever had a label frees its slot when it exits, however
 * it was started (threading, _thread.start_new_thread, a C thread that
 * called in): the key's value is the slot, and its destructor runs in the
 * exiting thread.  Otherwise a dead thread's label would stay, be shown
 * for a new thread that gets the same pthread_t, and fill the table. */
static pthread_key_t exit_key;
static int exit_key_ok;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void
thread_exits(void *slot)
{
    slot_free(slot, (unsigned long)pthread_self());
}

static void
exit_key_create(void)
{
    exit_key_ok = pthread_key_create(&exit_key, thread_exits) == 0;
}

int
fa_context_set(unsigned long ident, const char *s, size_t n)
{
    if (ident == 0) {
        label_set(&ctx.process, s, n);
        return 0;
    }
    if (n == 0) {
        fa_context_thread_gone(ident);
        return 0;
    }
    fa_thread_label *slot = thread_slot(ident);
    for (int i = 0; slot == NULL && i < FA_CONTEXT_THREADS; i++) {
        /* a compare-and-swap, as free-threaded builds have no GIL to
         * keep two threads from claiming the same free slot */
        unsigned long free_ident = 0;
        if (__atomic_compare_exchange_n(&ctx.threads[i].ident, &free_ident, ident, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            slot = &ctx.threads[i];
        }
    }
    if (slot == NULL) {
        return -1;
    }
    pthread_once(&exit_key_once, exit_key_create);
    if (exit_key_ok && ident == (unsigned long)pthread_self()) {
        pthread_setspecific(exit_key, slot);
    }
    label_set(&slot->label, s, n);
    return 0;
}

void
fa_context_thread_gone(unsigned long ident)
{
    fa_thread_label *slot = thread_slot(ident);
    if (slot != NULL) {
        slot_free(slot, ident);
    }
}

void
fa_context_after_fork(void)
{
    unsigned long self = (unsigned long)pthread_self();
    for (int i = 0; i < FA_CONTEXT_THREADS; i++) {
        unsigned long ident = ctx.threads[i].ident;
        if (ident != 0 && ident != self) {
            fa_context_thread_gone(ident);
        }
    }
}

/* signal-safe: atomic loads and label_get */
size_t
fa_context_thread_label(unsigned long ident, char *out)
{
    for (int i = 0; i < FA_CONTEXT_THREADS; i++) {
        if (__atomic_load_n(&ctx.threads[i].ident, __ATOMIC_ACQUIRE) == ident) {
            return label_get(&ctx.threads[i].label, out);
        }
    }
    return 0;
}

/* signal-safe: label_get and the emitter.  The process's label, then each
 * labelled thread's (only the calling thread's in a one-thread dump). */
void
walk_context(fa_dump *d, const fa_event *ev)
{
    char label[FA_CONTEXT_SIZE];
    size_t n = label_get(&ctx.process, label);
    if (n) {
        d->emit->context(&d->w, 0, label, n);
    }
    unsigned long self = (unsigned long)pthread_self();
    for (int i = 0; i < FA_CONTEXT_THREADS; i++) {
        unsigned long ident = __atomic_load_n(&ctx.threads[i].ident, __ATOMIC_ACQUIRE);
        if (ident == 0 || (!ev->all_threads && ident != self)) {
            continue;
        }
        n = label_get(&ctx.threads[i].label, label);
        if (n) {
            d->emit->context(&d->w, ident, label, n);
        }
    }
}

void
fa_context_set_worker(const char *s, size_t n)
{
    label_set(&ctx.worker, s, n);
}

/* signal-safe: label_get */
size_t
fa_context_worker(char *out)
{
    return label_get(&ctx.worker, out);
}

void
fa_context_set_std(int stdout_fd, int stderr_fd)
{
    __atomic_store_n(&ctx.std_fd[1], stdout_fd > 0 ? stdout_fd : 0, __ATOMIC_RELEASE);
    __atomic_store_n(&ctx.std_fd[2], stderr_fd > 0 ? stderr_fd : 0, __ATOMIC_RELEASE);
}

/* signal-safe: one atomic load.  Only the dumps nobody asked for at that
 * moment (crash, timeout, signal) go to the stand-ins; an explicit
 * dump_traceback() stays where its caller put it. */
int
fa_context_std_fd(int fd, int event)
{
    if ((fd == 1 || fd == 2) && (event == EV_FATAL || event == EV_TIMEOUT || event == EV_SIGNAL)) {
        int other = __atomic_load_n(&ctx.std_fd[fd], __ATOMIC_ACQUIRE);
        if (other > 0) {
            return other;
        }
    }
    return fd;
}
