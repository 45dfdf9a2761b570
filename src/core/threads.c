/* threads.c - the thread registry (see threads.h). */
#include "threads.h"
#include "fatal.h"
#include "util.h"

#include <pthread.h>
#include <sys/mman.h>

/* The table grows by chunks as threads start, never in a handler: a chunk
 * is mapped by the thread that needs a slot (with the GIL, in
 * fa_thread_enter or fa_thread_set_name) and published with an atomic
 * store, after which readers in any thread may walk it.  Chunks are never
 * unmapped.  FA_MAX_CHUNKS x FA_CHUNK_SLOTS is over a million threads at
 * once, which no process reaches. */
#define FA_CHUNK_SLOTS 256
#define FA_MAX_CHUNKS 4096

/* One slot per thread started through `threading`: its name and the
 * alternate signal stack we gave it.  Written by the thread itself when it
 * starts and ends, read by dumps in any thread: `ident` is claimed with a
 * compare-and-swap and `ready` published last, so a reader sees either no
 * entry or a whole name. */
typedef struct {
    unsigned long ident;
    int ready;
    size_t name_len;            /* bytes of `name`, which may hold a NUL */
    char name[FA_NAME_SIZE];
    void *altstack;
    pid_t tid;                  /* its kernel thread id, 0 when unknown */
} fa_thread_slot;

static fa_thread_slot *chunks[FA_MAX_CHUNKS];
static int nchunks;

/* the main thread's ident (its kernel id is the pid), 0 when unknown: the
 * library was loaded by another thread */
static unsigned long main_ident;

__attribute__((constructor)) static void
note_main_thread(void)
{
    if (fa_gettid() == getpid()) {
        main_ident = (unsigned long)pthread_self();
    }
}

/* signal-safe (atomic loads): slot `i` of the published chunks, or NULL. */
static fa_thread_slot *
slot_at(long i)
{
    int n = __atomic_load_n(&nchunks, __ATOMIC_ACQUIRE);
    long chunk = i / FA_CHUNK_SLOTS;
    if (chunk >= n) {
        return NULL;
    }
    fa_thread_slot *c = __atomic_load_n(&chunks[chunk], __ATOMIC_ACQUIRE);
    return c ? &c[i % FA_CHUNK_SLOTS] : NULL;
}

/* signal-safe (atomic loads of the published chunks): the name of the
 * thread with `ident` and its length in bytes, or NULL.  The slot comes
 * first: a thread that forked is the child's main thread and keeps its
 * name there, as threading says; the first main thread has no slot. */
const char *
thread_name(unsigned long ident, int is_main, size_t *len)
{
    static const char main_name[] = "MainThread";
    fa_thread_slot *s;
    for (long i = 0; (s = slot_at(i)) != NULL; i++) {
        if (__atomic_load_n(&s->ident, __ATOMIC_ACQUIRE) == ident
            && __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) && s->name_len) {
            *len = s->name_len;
            return s->name;
        }
    }
    if (is_main) {
        *len = sizeof(main_name) - 1;
        return main_name;
    }
    return NULL;
}

/* signal-safe (atomic loads of the published chunks): the kernel thread
 * id of the thread with `ident` as it noted it when it started, the pid
 * for the main thread, 0 when unknown. */
pid_t
thread_tid(unsigned long ident)
{
    if (ident != 0 && ident == __atomic_load_n(&main_ident, __ATOMIC_RELAXED)) {
        return getpid();
    }
    fa_thread_slot *s;
    for (long i = 0; (s = slot_at(i)) != NULL; i++) {
        if (__atomic_load_n(&s->ident, __ATOMIC_ACQUIRE) == ident
            && __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)) {
            return __atomic_load_n(&s->tid, __ATOMIC_RELAXED);
        }
    }
    return 0;
}

/* One more chunk of slots; 0 when none could be mapped.  Not signal-safe. */
static int
grow(void)
{
    int n = nchunks;
    if (n >= FA_MAX_CHUNKS) {
        return 0;
    }
    void *mem = mmap(NULL, FA_CHUNK_SLOTS * sizeof(fa_thread_slot), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return 0;
    }
    __atomic_store_n(&chunks[n], (fa_thread_slot *)mem, __ATOMIC_RELEASE);
    __atomic_store_n(&nchunks, n + 1, __ATOMIC_RELEASE);
    return 1;
}

/* The longest prefix of the UTF-8 bytes `s` (of `len`) that fits in
 * `max` bytes and ends on a character boundary. */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    size_t n = max;
    /* back off over continuation bytes to the lead byte of the cut character */
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
        n--;
    }
    return n;
}

/* Keep the name of thread `ident` where a dump can read it without
 * allocating.  A slot an earlier thread with the same ident left behind is
 * taken over, else a free one is claimed, the table growing when all are
 * taken.  Returns the slot, or NULL when no memory was left for one (that
 * thread's dumps then show no name).  Called with the GIL. */
static fa_thread_slot *
name_slot(unsigned long ident, const char *name, size_t len)
{
    fa_thread_slot *slot = NULL, *s;
    for (long i = 0; slot == NULL && (s = slot_at(i)) != NULL; i++) {
        if (__atomic_load_n(&s->ident, __ATOMIC_ACQUIRE) == ident) {
            slot = s;
        }
    }
    for (long i = 0; slot == NULL; i++) {
        s = slot_at(i);
        if (s == NULL) {
            if (!grow()) {
                return NULL;
            }
            s = slot_at(i);
        }
        unsigned long expected = 0;
        if (__atomic_compare_exchange_n(&s->ident, &expected, ident, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            slot = s;
            /* a live thread named again keeps the id it noted */
            __atomic_store_n(&slot->tid, 0, __ATOMIC_RELAXED);
        }
    }
    __atomic_store_n(&slot->ready, 0, __ATOMIC_RELEASE);
    slot->name_len = utf8_cut(name, len, FA_NAME_SIZE - 1);
    memcpy(slot->name, name, slot->name_len);
    slot->name[slot->name_len] = '\0';
    __atomic_store_n(&slot->ready, 1, __ATOMIC_RELEASE);
    return slot;
}

/* A thread that was running before we were loaded (so did not start
 * through fa_thread_enter). */
void
fa_thread_set_name(unsigned long ident, const char *name, size_t len)
{
    (void)name_slot(ident, name, len);
}

/* A thread starts: keep its name, and give it an alternate stack so that
 * its stack overflow can be dumped too. */
void
fa_thread_enter(const char *name, size_t len)
{
    fa_thread_slot *slot = name_slot((unsigned long)pthread_self(), name, len);
    if (slot != NULL) {
        __atomic_store_n(&slot->tid, fa_gettid(), __ATOMIC_RELAXED);
    }
    if (slot != NULL && slot->altstack == NULL) {
        slot->altstack = fa_altstack_install();
    }
}

/* Forget the calling thread before it ends. */
void
fa_thread_leave(void)
{
    unsigned long ident = (unsigned long)pthread_self();
    fa_thread_slot *s;
    for (long i = 0; (s = slot_at(i)) != NULL; i++) {
        if (__atomic_load_n(&s->ident, __ATOMIC_ACQUIRE) == ident) {
            __atomic_store_n(&s->ready, 0, __ATOMIC_RELEASE);
            s->tid = 0;
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
    /* the forking thread is the child's main thread: its id is the pid */
    main_ident = self_ident;
    fa_thread_slot *slot;
    for (long i = 0; (slot = slot_at(i)) != NULL; i++) {
        if (slot->ident != 0 && slot->ident != self_ident) {
            fa_altstack_forget(slot->altstack);
            slot->ready = 0;
            slot->altstack = NULL;
            slot->ident = 0;
        }
        slot->tid = 0;
    }
}
