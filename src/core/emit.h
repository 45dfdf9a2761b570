/* emit.h - the output formats.  The walks (dump.h, cstack.h) read the
 * process into the small structs below and hand them to the emitter of
 * the dump's format, which only prints.  Every emitter function is
 * signal-safe: it only calls the writer.  Those given Python strings run
 * inside the walk's probe, which covers their reads. */
#ifndef FA_EMIT_H
#define FA_EMIT_H

#include "dump.h"
#include "tstate.h"

FA_HIDDEN_BEGIN

/* What a dump says about its event and the process: the lines before the
 * threads, and (text) ours after them. */
typedef struct {
    int event;                  /* EV_* */
    int signum;                 /* 0 when no signal */
    const char *signame;        /* "SIGSEGV", NULL when it has no name */
    const char *fatal_error;    /* CPython's words for a fatal signal, or NULL */
    const char *timeout_header; /* "Timeout (0:00:05)!", or NULL */
    const char *si_code;        /* "SEGV_MAPERR (...)", or NULL */
    int has_addr;
    uintptr_t fault_addr;
    int has_sender;             /* sent by a process: its pid and uid */
    unsigned long long sender_pid, sender_uid;
    unsigned long long pid;
    const char *time;           /* "2026-11-24T14:20:03Z" */
    const char *python;
    const char *prog;
    /* deliveries (or timeouts) since the last dump of the same kind that
     * got no dump of their own (see fa_event) */
    unsigned long skipped_coalesced, skipped_limited;
    const char *signature;      /* crash signature, or NULL */
    const char *host;           /* uname's node name, or NULL */
    int gc_running;             /* the cyclic GC runs: 1, 0, or -1 when unknown (3.9) */
    const char *watchdog;       /* the named watchdog that fired (UTF-8, not NUL-terminated), or NULL */
    size_t watchdog_len;
} fa_header_info;

typedef struct {
    unsigned long ident;
    const char *name;           /* NULL when unknown */
    size_t name_len;
    const char *os_name;        /* the kernel's name, for the cpython format on 3.14+ */
    int is_current;
    int all_threads;            /* one of several threads (else: the only one) */
    int gc_collecting;          /* the current thread, and the cyclic GC runs */
    int index;                  /* threads begun before this one */
    long long interp_id;        /* the subinterpreter it runs, -1 for the main one */
    const char *context;        /* its set_context() label */
    size_t context_len;         /* 0 when it has none */
} fa_thread_info;

typedef struct {
    int has_code;               /* 0 when the code object is unreadable */
    PyObject *filename;         /* as the code has them, not yet checked */
    PyObject *name;
    int line;                   /* -1 when unknown */
    long index;                 /* frames printed before this one */
} fa_frame_info;

#define FA_BUILD_ID_MAX 64      /* bytes of a GNU build id kept */

/* Called inside a probe for each of the calling thread's innermost frames. */
typedef void (*fa_frame_visit)(fa_dump *d, const fa_frame_info *f, void *arg);
void walk_top_frames(fa_dump *d, const fa_event *ev, int max, fa_frame_visit visit, void *arg);

typedef struct {
    const char *binary;         /* NULL when unknown */
    const char *symbol;         /* NULL when unknown */
    uintptr_t offset;           /* from the symbol */
    uintptr_t address;
    int has_module_offset;
    uintptr_t module_offset;    /* address less the object's load bias */
    const unsigned char *build_id;
    size_t build_id_len;        /* 0 when unknown */
    int index;                  /* C stack lines printed before this one */
} fa_cframe_info;

/* A thread running an asyncio event loop (tasks.h). */
typedef struct {
    unsigned long ident;
    const char *name;           /* NULL when unknown */
    size_t name_len;
    long total;                 /* tasks of its loop */
    int index;                  /* loops begun before this one */
} fa_loop_info;

/* One task of a loop; its strings are not yet checked. */
typedef struct {
    PyObject *name;             /* a str, or NULL */
    long long number;           /* else n of its name "Task-n", or -1 */
    const char *state;          /* "pending", "cancelling", "done", ... */
    int running;                /* the loop runs it now */
    const char *awaiting_type;  /* the type of the future it waits on, or NULL */
    PyObject *awaiting_name;    /* that future's name when it is a task (str or NULL) */
    long long awaiting_number;  /* or n of its "Task-n", or -1 */
    long index;                 /* tasks printed before this one */
} fa_task_info;

typedef struct fa_emitter {
    /* CPython's walk: its thread order, its cut of a deep stack (innermost
     * frames only), its test for an extension module, our core listed */
    int cpython;
    /* the thread_state of each thread comes right after its thread_begin
     * (else the format's document asks walk_thread_states for them) */
    int state_inline;
    /* the whole dump: the order of its sections is the format's */
    void (*document)(fa_dump *d, const fa_event *ev);
    void (*header)(fa_writer *w, const fa_header_info *h);
    void (*trailer)(fa_writer *w, const fa_header_info *h);

    void (*threads_begin)(fa_writer *w);
    void (*no_thread)(fa_writer *w, int all_threads);
    void (*finalized)(fa_writer *w);    /* after Py_Finalize: no thread to show */
    void (*between_threads)(fa_writer *w);
    void (*thread_begin)(fa_writer *w, const fa_thread_info *t);
    void (*thread_end)(fa_writer *w);
    void (*threads_end)(fa_writer *w, long omitted);
    /* a set_context() label: the process's (ident 0) or a thread's */
    void (*context)(fa_writer *w, unsigned long ident, const char *label, size_t n);
    /* what the kernel says about a thread, and whether it holds the GIL */
    void (*thread_state)(fa_writer *w, unsigned long ident, const fa_thread_state *s);

    void (*frames_begin)(fa_writer *w, long total);
    void (*frame)(fa_writer *w, const fa_frame_info *f);
    void (*frames_gap)(fa_writer *w, long omitted);
    void (*frames_end)(fa_writer *w, long omitted, int unreadable);

    void (*c_stack_begin)(fa_writer *w);
    void (*c_frame)(fa_writer *w, const fa_cframe_info *f);
    /* the `frames` lines before repeat `times` more times */
    void (*c_repeat)(fa_writer *w, int frames, int times, int index);
    /* `shown` frames printed, `omitted` more read; !complete: more not read */
    void (*c_stack_end)(fa_writer *w, int shown, int omitted, int complete);
    void (*c_stack_unavailable)(fa_writer *w, const char *why);

    void (*modules_begin)(fa_writer *w);
    void (*module)(fa_writer *w, PyObject *name, long index);
    void (*modules_end)(fa_writer *w, long count);

    /* the asyncio section: loops, their tasks, each task's await chain */
    void (*asyncio_begin)(fa_writer *w);
    void (*loop_begin)(fa_writer *w, const fa_loop_info *l);
    void (*task_begin)(fa_writer *w, const fa_task_info *t);
    void (*task_frame)(fa_writer *w, const fa_frame_info *f);
    void (*task_end)(fa_writer *w, long omitted, int unreadable);
    void (*loop_end)(fa_writer *w, long omitted);
    void (*asyncio_end)(fa_writer *w);
    /* the descendants of a timeout dump and what became of each (tree.h) */
    void (*tree)(fa_writer *w, const struct fa_tree_report *r);
} fa_emitter;

/* An emitter file defines one static function per member, named as the
 * member (or #defines the name to a shared one), and its table is then
 * this; `cpython_walk` sets .cpython, `inline_states` .state_inline. */
#define FA_EMITTER_OF_THIS_FILE(cpython_walk, inline_states) { \
    .cpython = (cpython_walk), .state_inline = (inline_states), \
    .document = document, .header = header, .trailer = trailer, \
    .threads_begin = threads_begin, .no_thread = no_thread, .finalized = finalized, \
    .between_threads = between_threads, .thread_begin = thread_begin, \
    .thread_end = thread_end, .threads_end = threads_end, .context = context, \
    .thread_state = thread_state, \
    .frames_begin = frames_begin, .frame = frame, .frames_gap = frames_gap, \
    .frames_end = frames_end, \
    .c_stack_begin = c_stack_begin, .c_frame = c_frame, .c_repeat = c_repeat, \
    .c_stack_end = c_stack_end, \
    .c_stack_unavailable = c_stack_unavailable, \
    .modules_begin = modules_begin, .module = module, .modules_end = modules_end, \
    FA_ASYNCIO_EMITTER \
    .tree = tree, \
}

/* the asyncio members: none (NULL) for the cpython format, which prints no
 * such section; an emitter that prints it redefines FA_ASYNCIO_EMITTER as
 * FA_ASYNCIO_EMITTER_OF_THIS_FILE before its table */
#ifndef FA_ASYNCIO_EMITTER
#  define FA_ASYNCIO_EMITTER
#endif
#define FA_ASYNCIO_EMITTER_OF_THIS_FILE \
    .asyncio_begin = asyncio_begin, .loop_begin = loop_begin, .task_begin = task_begin, \
    .task_frame = task_frame, .task_end = task_end, .loop_end = loop_end, \
    .asyncio_end = asyncio_end,

extern const fa_emitter fa_emit_text;
extern const fa_emitter fa_emit_json;
extern const fa_emitter fa_emit_cpython;

FA_HIDDEN_END

#endif
