/* dump.h - one dump: what it is about (fa_event), its context (fa_dump),
 * the walks that read the process and hand what they find to the output
 * format's emitter (emit.h), and the lock that keeps dumps from
 * interleaving.  All of it is signal-safe except fa_set_output. */
#ifndef FA_DUMP_H
#define FA_DUMP_H

#include "common.h"
#include "probes.h"
#include "writer.h"

FA_HIDDEN_BEGIN

/* text: CPython's layout with our lines after the Python frames; json: one
 * object per dump; cpython: only what this version's faulthandler prints */
enum { FMT_TEXT = 0, FMT_JSON = 1, FMT_CPYTHON = 2 };
enum { EV_FATAL, EV_TIMEOUT, EV_SIGNAL, EV_EXPLICIT, EV_C_STACK };

/* What one dump is about. */
typedef struct {
    int event;
    int signum;
    const siginfo_t *si;
    uintptr_t pc;               /* faulting instruction, 0 if unknown */
    const char *timeout_header; /* "Timeout (0:00:05)!" */
    int all_threads;
    int c_stack;
    int skip;                   /* innermost frames of the caller not shown */
    /* deliveries of this signal (or timeouts) since its last dump that got
     * no dump of their own: merged into one being written, or over a limit */
    unsigned long skipped_coalesced;
    unsigned long skipped_limited;
    int fatal;                  /* written by fatal_handler: never yields to another */
    long max_threads;           /* the caller's limit (3.15's max_threads), 0: the configured one */
    const struct fa_tree_report *tree;  /* the descendants asked to dump (tree.h), or NULL */
    const char *watchdog;       /* a named watchdog's name (not NUL-terminated), or NULL */
    size_t watchdog_len;
} fa_event;

struct fa_emitter;

#define FA_SIGNATURE_LEN 16     /* hex digits of a crash signature */

/* The thread states a scan keeps, in list order: a walk over them goes on
 * past a thread that ends while it looks; beyond them it follows the list
 * itself. */
#define FA_SCAN_KEPT 512

/* The main interpreter's thread list as one probed pass saw it. */
typedef struct {
    PyThreadState *head;
    PyThreadState *current;     /* the calling thread's state */
    PyThreadState *main;        /* the oldest, last in the list */
    long total;
    PyThreadState *sub;         /* the calling thread's, when it runs a subinterpreter */
    long long sub_id;           /* that subinterpreter's id */
    int torn;                   /* the pass met a state freed under it */
    PyThreadState *kept[FA_SCAN_KEPT];  /* the first `total` of them */
} fa_thread_scan;

/* One dump's working memory (about 70 KiB).  It is not on the stack: a
 * handler may run on an alternate stack that someone else gave the thread
 * (ASan's is 54 KiB, a Go runtime's 32 KiB), and a dump must fit there.
 * A dump takes one of two static slots (dump_claim). */
struct fa_dump {
    fa_writer w;
    pid_t tid;                  /* the dumping thread, for probes */
    const struct fa_emitter *emit;  /* the output format */
    long max_frames;
    long max_threads;
    int nthreads;               /* threads begun so far */
    char signature[FA_SIGNATURE_LEN + 1];  /* of a fatal dump; "" when none */
    int c_stack_room;           /* the signal stack has room to walk the C stack */
    fa_thread_scan scan;        /* the walk's latest (walks run one after another) */
    fa_writer scratch;          /* the crash signature's text */
    char path[FA_PATH_SIZE];    /* the destination, expanded */
};

/* What a dump takes of an alternate signal stack below its handler's
 * frame (FA_DUMP_STACK), and the C stack walk below the dump's frame
 * (FA_C_STACK_STACK): about twice the most measured (a dump without the C
 * stack, under 3 KiB; backtrace and dladdr, under 4 KiB; under ASan 1.6
 * times that).  fa_stack_need adds a kernel signal frame to each.  With
 * less room, the C stack is not walked, or the dump is not written and a
 * line says so. */
#if defined(__SANITIZE_ADDRESS__)
#  define FA_ROOM_SCALE 2       /* ASan's redzones */
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define FA_ROOM_SCALE 2
#  endif
#endif
#ifndef FA_ROOM_SCALE
#  define FA_ROOM_SCALE 1
#endif
#define FA_DUMP_STACK (6144L * FA_ROOM_SCALE)
#define FA_C_STACK_STACK (8192L * FA_ROOM_SCALE)

fa_dump *dump_claim(void);
void dump_release(fa_dump *d);

int fa_scan_threads(fa_dump *d, fa_thread_scan *sc);
int fa_thread_listed(fa_dump *d, long i, PyThreadState *ts);
PyThreadState *fa_thread_after(fa_dump *d, const fa_thread_scan *sc, long i, PyThreadState *ts);

void fa_set_output(int format, long max_frames, long max_threads);
void dump_init(fa_dump *d, int fd, int *abort);
void dump_to_fd(fa_dump *d, const fa_event *ev);
void walk_header(fa_dump *d, const fa_event *ev);
void walk_trailer(fa_dump *d, const fa_event *ev);
void walk_threads(fa_dump *d, const fa_event *ev);
void walk_thread_states(fa_dump *d, const fa_event *ev);
void walk_extension_modules(fa_dump *d);
int dump_lock_acquire(long wait_ms, int *abort);
int dump_lock_acquire_fatal(long wait_ms);
int dump_lock_try(void);
void dump_lock_release(int taken);
enum { FA_LOCK_FREE, FA_LOCK_OTHER, FA_LOCK_STUCK };
int dump_lock_holder(void);
void fa_dump_after_fork(void);

FA_HIDDEN_END

#endif
