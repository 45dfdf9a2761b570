/* emit_cpython.c - the cpython format: exactly what this version's
 * faulthandler prints, and nothing of ours, so that any tool written for
 * CPython's output works unchanged.  The walk follows CPython's order and
 * cuts for it (fa_emitter.cpython).  Every function is signal-safe: it only
 * calls the writer. */
#include "cstack.h"
#include "emit.h"

/* CPython's markers for a thread without a Python frame, and after the
 * 100th frame of a deeper stack (3.13 cuts the stack silently). */
#if PY_VERSION_HEX >= 0x030B0000
#  define NO_FRAME "  <no Python frame>\n"
#else
#  define NO_FRAME "<no Python frame>\n"
#endif
#if PY_VERSION_HEX >= 0x030D0000
#  define FRAMES_CUT ""
#else
#  define FRAMES_CUT "  ...\n"
#endif

/* signal-safe: the walks and writer calls only.  CPython prints the C
 * stack from 3.14 and the extension modules from 3.10. */
static void
document(fa_dump *d, const fa_event *ev)
{
    walk_header(d, ev);
    if (ev->event == EV_C_STACK) {
        walk_c_stack(d, 0);
        return;
    }
    walk_threads(d, ev);
    if (ev->c_stack && PY_VERSION_HEX >= 0x030E0000) {
        w_putc(&d->w, '\n');
        walk_c_stack(d, ev->pc);
    }
    if (ev->event == EV_FATAL && PY_VERSION_HEX >= 0x030A0000) {
        walk_extension_modules(d);
    }
}

/* signal-safe: the text format's lines, which are CPython's: the first
 * line, a frame, the C stack's title, the extension modules. */
static void
header(fa_writer *w, const fa_header_info *h)
{
    fa_emit_text.header(w, h);
}

static void
frame(fa_writer *w, const fa_frame_info *f)
{
    fa_emit_text.frame(w, f);
}

static void
c_stack_begin(fa_writer *w)
{
    fa_emit_text.c_stack_begin(w);
}

static void
modules_begin(fa_writer *w)
{
    fa_emit_text.modules_begin(w);
}

static void
module(fa_writer *w, PyObject *name, long index)
{
    fa_emit_text.module(w, name, index);
}

static void
modules_end(fa_writer *w, long count)
{
    fa_emit_text.modules_end(w, count);
}

/* signal-safe: nothing of ours */
static void
trailer(fa_writer *w, const fa_header_info *h)
{
    (void)w;
    (void)h;
}

/* signal-safe: nothing to open or close */
static void
threads_begin(fa_writer *w)
{
    (void)w;
}

static void
thread_end(fa_writer *w)
{
    (void)w;
}

/* signal-safe: CPython prints nothing when it has no thread to show */
static void
no_thread(fa_writer *w, int all_threads)
{
    (void)w;
    (void)all_threads;
}

/* signal-safe: nothing to write; CPython's own handler is gone after
 * Py_Finalize, so it prints no thread there either */
static void
finalized(fa_writer *w)
{
    (void)w;
}

/* signal-safe: writer calls only */
static void
between_threads(fa_writer *w)
{
    w_putc(w, '\n');
}

/* signal-safe: writer calls only.  "Thread" or "Current thread", the id
 * as CPython pads it, and from 3.14 the kernel's name of the thread. */
static void
thread_begin(fa_writer *w, const fa_thread_info *t)
{
    if (!t->all_threads) {
        w_puts(w, "Stack (most recent call first):\n");
        return;
    }
    w_puts(w, t->is_current ? "Current thread " : "Thread ");
    w_ptr(w, (uintptr_t)t->ident);
    if (t->os_name != NULL && t->os_name[0] != '\0') {
        w_puts(w, " [");
        w_puts(w, t->os_name);
        w_putc(w, ']');
    }
    w_puts(w, " (most recent call first):\n");
    if (t->gc_collecting) {
        w_puts(w, "  Garbage-collecting\n");
    }
}

/* signal-safe: writer calls only */
static void
threads_end(fa_writer *w, long omitted)
{
    if (omitted > 0) {
        w_puts(w, "...\n");
    }
}

/* signal-safe: writer calls only */
static void
frames_begin(fa_writer *w, long total)
{
    if (total == 0) {
        w_puts(w, NO_FRAME);
    }
}

/* signal-safe: writer calls only */
static void
frames_gap(fa_writer *w, long omitted)
{
    (void)omitted;
    w_puts(w, FRAMES_CUT);
}

/* signal-safe: writer calls only */
static void
frames_end(fa_writer *w, long omitted, int unreadable)
{
    (void)omitted;
    if (unreadable) {
        w_puts(w, "  <unreadable frame>\n");
    }
}

/* signal-safe: writer calls only.  CPython 3.14's words: relative to the
 * symbol, or when none is known to the binary's load bias. */
static void
c_frame(fa_writer *w, const fa_cframe_info *f)
{
    if (f->binary == NULL) {
        w_puts(w, "  Binary file '<unknown>' [0x");
        w_hex(w, f->address, 0);
        w_puts(w, "]\n");
        return;
    }
    w_puts(w, "  Binary file \"");
    w_puts(w, f->binary);
    w_putc(w, '"');
    uintptr_t load_bias = f->has_module_offset ? f->address - f->module_offset : 0;
    uintptr_t base = f->symbol ? f->address - f->offset : load_bias;
    if (f->symbol != NULL || base != 0) {
        int below = f->address < base;
        uintptr_t off = below ? base - f->address : f->address - base;
        w_puts(w, ", at ");
        w_puts(w, f->symbol ? f->symbol : "");
        w_putc(w, below ? '-' : '+');
        if (off != 0) {
            w_puts(w, "0x");   /* printf's %#tx */
        }
        w_hex(w, off, 0);
    }
    w_puts(w, " [0x");
    w_hex(w, f->address, 0);
    w_puts(w, "]\n");
}

/* signal-safe: never called, the walk does not fold for this format */
static void
c_repeat(fa_writer *w, int frames, int times, int index)
{
    (void)w;
    (void)frames;
    (void)times;
    (void)index;
}

/* signal-safe: writer calls only; CPython's markers */
static void
c_stack_end(fa_writer *w, int shown, int omitted, int complete)
{
    if (shown <= 0 && omitted <= 0) {
        w_puts(w, "  <system returned no stack trace>\n");
    }
    else if (omitted > 0 || !complete) {
        w_puts(w, "  <truncated rest of calls>\n");
    }
}

/* signal-safe: writer calls only */
static void
c_stack_unavailable(fa_writer *w, const char *why)
{
    (void)why;                  /* CPython has one line for every reason */
    c_stack_begin(w);
    w_puts(w, "  <cannot get C stack on this system>\n");
}

/* signal-safe: CPython prints no label */
static void
context(fa_writer *w, unsigned long ident, const char *label, size_t n)
{
    (void)w;
    (void)ident;
    (void)label;
    (void)n;
}

/* signal-safe: CPython lists no descendants (they are still asked) */
static void
tree(fa_writer *w, const struct fa_tree_report *r)
{
    (void)w;
    (void)r;
}

/* signal-safe: CPython prints no thread state (and the walk never asks) */
static void
thread_state(fa_writer *w, unsigned long ident, const fa_thread_state *s)
{
    (void)w;
    (void)ident;
    (void)s;
}

const fa_emitter fa_emit_cpython = FA_EMITTER_OF_THIS_FILE(1, 0);
