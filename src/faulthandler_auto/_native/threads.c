/* threads.c - the thread registry (see threads.h). */
#include "threads.h"
#include "fatal.h"
#include "util.h"

#include <pthread.h>

#define FA_NAME_SLOTS 1024

/* One slot per thread started through `threading`: its name and the
 * alternate signal stack we gave it.  Written by the thread itself when it
 * starts and ends, read by dumps in any thread: `ident` is claimed with a
 * compare-and-swap and `ready` published last, so a reader sees either no
 * entry or a NUL-terminated name. */
typedef struct {
    unsigned long ident;
    int ready;
    char name[FA_NAME_SIZE];
    void *altstack;
} fa_thread_slot;

/* zero-initialised, so the table costs no memory until used */
static fa_thread_slot slots[FA_NAME_SLOTS];

/* signal-safe (atomic loads of a static table): the name of the thread
 * with `ident`, or NULL. */
const char *
thread_name(unsigned long ident, int is_main)
{
    if (is_main) {
        return "MainThread";
    }
    for (int i = 0; i < FA_NAME_SLOTS; i++) {
        fa_thread_slot *s = &slots[i];
        if (__atomic_load_n(&s->ident, __ATOMIC_ACQUIRE) == ident
            && __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)) {
            return s->name[0] ? s->name : NULL;
        }
    }
    return NULL;
}

/* Keep the name of thread `ident` where a dump can read it without
 * allocating.  A slot an earlier thread with the same ident left behind is
 * taken over, else a free one is claimed.  Returns the slot, or NULL when
 * all are taken (that thread's dumps then show no name). */
static fa_thread_slot *
name_slot(unsigned long ident, const char *name)
{
    fa_thread_slot *slot = NULL;
    for (int i = 0; i < FA_NAME_SLOTS && slot == NULL; i++) {
        if (__atomic_load_n(&slots[i].ident, __ATOMIC_ACQUIRE) == ident) {
            slot = &slots[i];
        }
    }
    for (int i = 0; i < FA_NAME_SLOTS && slot == NULL; i++) {
        unsigned long expected = 0;
        if (__atomic_compare_exchange_n(&slots[i].ident, &expected, ident, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            slot = &slots[i];
        }
    }
    if (slot != NULL) {
        __atomic_store_n(&slot->ready, 0, __ATOMIC_RELEASE);
        fa_strlcpy(slot->name, name, sizeof(slot->name));
        __atomic_store_n(&slot->ready, 1, __ATOMIC_RELEASE);
    }
    return slot;
}

/* A thread that was running before we were loaded (so did not start
 * through fa_thread_enter). */
void
fa_thread_set_name(unsigned long ident, const char *name)
{
    (void)name_slot(ident, name);
}

/* A thread starts: keep its name, and give it an alternate stack so that
 * its stack overflow can be dumped too. */
void
fa_thread_enter(const char *name)
{
    fa_thread_slot *slot = name_slot((unsigned long)pthread_self(), name);
    if (slot != NULL && slot->altstack == NULL) {
        slot->altstack = fa_altstack_install();
    }
}

/* Forget the calling thread before it ends. */
void
fa_thread_leave(void)
{
    unsigned long ident = (unsigned long)pthread_self();
    for (int i = 0; i < FA_NAME_SLOTS; i++) {
        fa_thread_slot *s = &slots[i];
        if (__atomic_load_n(&s->ident, __ATOMIC_ACQUIRE) == ident) {
            __atomic_store_n(&s->ready, 0, __ATOMIC_RELEASE);
            fa_altstack_remove(s->altstack);
            s->altstack = NULL;
            __atomic_store_n(&s->ident, 0, __ATOMIC_RELEASE);
            return;
        }
    }
}

/* In a forked child only the calling thread exists: forget the others, and
 * free the copies of their alternate stacks. */
void
fa_threads_after_fork(void)
{
    unsigned long self_ident = (unsigned long)pthread_self();
    for (int i = 0; i < FA_NAME_SLOTS; i++) {
        fa_thread_slot *slot = &slots[i];
        if (slot->ident != 0 && slot->ident != self_ident) {
            fa_altstack_forget(slot->altstack);
            slot->ready = 0;
            slot->altstack = NULL;
            slot->ident = 0;
        }
    }
}
