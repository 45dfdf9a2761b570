/* probes.c - probed reads of Python memory (see probes.h). */
#include "probes.h"
#include "dump.h"
#include "fatal.h"
#include "util.h"

#define FA_PROBE_SLOTS 8

typedef struct {
    pid_t tid;                  /* the thread probing, 0 for a free slot */
    sigjmp_buf *env;            /* its innermost probe */
} fa_probe;

static struct {
    /* per dumping thread, where a fault goes back to (dumps are one at a
     * time, but a fatal dump may run beside another once it has waited
     * long enough for it) */
    fa_probe slots[FA_PROBE_SLOTS];
} probes;

/* signal-safe: memcpy for memory another thread may free meanwhile.  The
 * volatile word reads keep the compiler from calling memcpy, which ASan
 * intercepts and checks.  `n` is a multiple of the word size. */
FA_RACY_READ void
racy_copy(void *dst, const void *src, size_t n)
{
    const volatile uintptr_t *from = src;
    for (size_t i = 0; i < n / sizeof(uintptr_t); i++) {
        uintptr_t word = from[i];
        /* a byte copy, so the stores may alias the struct behind `dst` */
        memcpy((char *)dst + i * sizeof(word), &word, sizeof(word));
    }
}

/* signal-safe: the probe slot of thread `tid`, claimed if it has none;
 * NULL when all are taken. */
static fa_probe *
probe_slot(pid_t tid)
{
    for (int i = 0; i < FA_PROBE_SLOTS; i++) {
        if (__atomic_load_n(&probes.slots[i].tid, __ATOMIC_ACQUIRE) == tid) {
            return &probes.slots[i];
        }
    }
    for (int i = 0; i < FA_PROBE_SLOTS; i++) {
        pid_t expected = 0;
        if (__atomic_compare_exchange_n(&probes.slots[i].tid, &expected, tid, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            return &probes.slots[i];
        }
    }
    return NULL;
}

/* signal-safe: where a fault in thread `tid` goes back to, or NULL. */
sigjmp_buf *
probe_env_of(pid_t tid)
{
    for (int i = 0; i < FA_PROBE_SLOTS; i++) {
        if (__atomic_load_n(&probes.slots[i].tid, __ATOMIC_ACQUIRE) == tid) {
            return __atomic_load_n(&probes.slots[i].env, __ATOMIC_ACQUIRE);
        }
    }
    return NULL;
}

/* signal-safe: run `step`.  If its reads fault, fatal_handler jumps back
 * here: what the step wrote is dropped and 0 returned.  The writer makes
 * room first, so a step's output is never half flushed when it is dropped
 * (a longer step, like the module list, gets a newline instead). */
int
probed(fa_dump *d, fa_step step, void *arg)
{
    fa_writer *w = &d->w;
    if (FA_BUF_SIZE - w->len < FA_STEP_MAX) {
        w_flush(w);
    }
    size_t len = w->len, total = w->total;
    unsigned long flushes = w->flushes;
    fa_probe *slot = probe_slot(d->tid);
    if (slot == NULL) {
        step(d, arg);   /* eight dumps at once: this one reads unguarded */
        return 1;
    }
    sigjmp_buf env;
    sigjmp_buf *outer_env = slot->env;
    int ok = 1;
    /* no signal mask to save: the fault handler runs with SA_NODEFER */
    if (sigsetjmp(env, 0) == 0) {
        __atomic_store_n(&slot->env, &env, __ATOMIC_RELEASE);
        step(d, arg);
    }
    else {
        ok = 0;
        if (w->flushes == flushes) {
            w->len = len;
            w->total = total;
        }
        else {
            w_putc(w, '\n');
        }
    }
    __atomic_store_n(&slot->env, outer_env, __ATOMIC_RELEASE);
    if (outer_env == NULL) {
        __atomic_store_n(&slot->tid, 0, __ATOMIC_RELEASE);  /* the outermost probe ends */
    }
    return ok;
}

/* In a forked child only the forking thread exists: no probe is running. */
void
fa_probes_after_fork(void)
{
    memset(probes.slots, 0, sizeof(probes.slots));
}
