/* emit_text.c - the text format: CPython's faulthandler layout up to the
 * last Python frame, our extras inside the thread headers (names) or after
 * the frames (signal, process, C stack), where CPython's parsers do not
 * look.  Every function is signal-safe: it only calls the writer. */
#include "context.h"
#include "cstack.h"
#include "emit.h"
#include "tasks.h"
#include "tree.h"
#include "util.h"

/* signal-safe: the walks and writer calls only */
static void
document(fa_dump *d, const fa_event *ev)
{
    fa_writer *w = &d->w;
    walk_header(d, ev);
    if (ev->event == EV_C_STACK) {
        walk_c_stack(d, 0);
        walk_trailer(d, ev);
        return;
    }
    walk_threads(d, ev);
    walk_trailer(d, ev);
    walk_context(d, ev);
    walk_thread_states(d, ev);
    walk_asyncio(d, ev);
    walk_tree(d, ev->tree);
    if (d->signature[0]) {
        w_puts(w, "Crash signature: ");
        w_puts(w, d->signature);
        w_putc(w, '\n');
    }
    /* where CPython 3.14 has them */
    if (ev->c_stack) {
        w_putc(w, '\n');
        walk_c_stack(d, ev->pc);
    }
    if (ev->event == EV_FATAL) {
        walk_extension_modules(d);
    }
}

/* signal-safe: writer calls only.  CPython's first line: a fatal error's
 * and its blank line, a timeout's, none for the other events. */
static void
header(fa_writer *w, const fa_header_info *h)
{
    if (h->event == EV_FATAL) {
        w_puts(w, "Fatal Python error: ");
        w_puts(w, h->fatal_error ? h->fatal_error : "unknown signal");
        w_puts(w, "\n\n");
    }
    else if (h->event == EV_TIMEOUT) {
        w_puts(w, h->timeout_header);
        w_putc(w, '\n');
    }
}

/* signal-safe: writer calls only.  Ours, after a blank line: the signal
 * and where it came from, then the process. */
static void
trailer(fa_writer *w, const fa_header_info *h)
{
    w_putc(w, '\n');
    if (h->signum > 0) {
        w_puts(w, "Signal: ");
        if (h->signame) {
            w_puts(w, h->signame);
        }
        else {
            w_puts(w, "signal ");
            w_dec(w, (unsigned long long)h->signum);
        }
        if (h->si_code) {
            w_puts(w, ", ");
            w_puts(w, h->si_code);
        }
        if (h->has_addr) {
            w_puts(w, ", fault address 0x");
            w_hex(w, h->fault_addr, 0);
        }
        if (h->has_sender) {
            w_puts(w, ", from pid ");
            w_dec(w, h->sender_pid);
            w_puts(w, " uid ");
            w_dec(w, h->sender_uid);
        }
        w_putc(w, '\n');
    }
    if (h->skipped_coalesced + h->skipped_limited > 0) {
        w_puts(w, "Skipped: ");
        w_dec(w, h->skipped_coalesced + h->skipped_limited);
        if (h->event == EV_TIMEOUT) {
            w_puts(w, " timeout dumps");
        }
        else {
            w_putc(w, ' ');
            w_puts(w, h->signame ? h->signame : "signals");
        }
        w_puts(w, " since the last dump (");
        w_dec(w, h->skipped_coalesced);
        w_puts(w, " merged into this one while another dump was written, ");
        w_dec(w, h->skipped_limited);
        w_puts(w, " over the dump budget)\n");
    }
    w_puts(w, "Process: pid ");
    w_dec(w, h->pid);
    w_puts(w, ", program \"");
    /* escaped as file names are: a program name cannot forge lines */
    w_utf8(w, h->prog, strlen(h->prog), 0);
    w_puts(w, "\", Python ");
    w_puts(w, h->python);
    w_puts(w, ", time ");
    w_puts(w, h->time);
    if (h->host) {
        /* which machine, for a fleet's dumps read in one place */
        w_puts(w, ", host ");
        w_utf8(w, h->host, strlen(h->host), 0);
    }
    w_putc(w, '\n');
    if (h->gc_running > 0) {
        w_puts(w, "Garbage collector: running\n");
    }
    if (h->watchdog) {
        /* escaped as file names are: a name cannot forge lines */
        w_puts(w, "Watchdog: ");
        w_utf8(w, h->watchdog, h->watchdog_len, 0);
        w_putc(w, '\n');
    }
}

/* signal-safe: writer calls only */
static void
threads_begin(fa_writer *w)
{
    (void)w;
}

/* signal-safe: writer calls only */
static void
no_thread(fa_writer *w, int all_threads)
{
    if (!all_threads) {
        w_puts(w, "Stack (most recent call first):\n  <no Python frame>\n");
    }
}

/* signal-safe: writer calls only */
static void
finalized(fa_writer *w)
{
    w_puts(w, "Python is finalized: no Python frames\n");
}

/* signal-safe: writer calls only */
static void
between_threads(fa_writer *w)
{
    w_putc(w, '\n');
}

/* signal-safe: writer calls only */
static void
thread_begin(fa_writer *w, const fa_thread_info *t)
{
    if (!t->all_threads) {
        w_puts(w, "Stack (most recent call first):\n");
        return;
    }
    w_puts(w, t->is_current ? "Current thread " : "Thread ");
    w_ptr(w, (uintptr_t)t->ident);
    if (t->name || t->interp_id >= 0) {
        w_puts(w, " [");
        if (t->name) {
            w_utf8(w, t->name, t->name_len, 0);
        }
        if (t->interp_id >= 0) {
            w_puts(w, t->name ? ", interpreter " : "interpreter ");
            w_dec(w, (unsigned long long)t->interp_id);
        }
        w_putc(w, ']');
    }
    w_puts(w, " (most recent call first):\n");
    if (t->gc_collecting) {
        w_puts(w, "  Garbage-collecting\n");
    }
}

/* signal-safe: writer calls only */
static void
thread_end(fa_writer *w)
{
    (void)w;
}

/* signal-safe: writer calls only */
static void
threads_end(fa_writer *w, long omitted)
{
    if (omitted > 0) {
        w_puts(w, "\n... (");
        w_dec(w, (unsigned long long)omitted);
        w_puts(w, " threads omitted)\n");
    }
}

/* signal-safe: writer calls only */
static void
frames_begin(fa_writer *w, long total)
{
    if (total == 0) {
        w_puts(w, "  <no Python frame>\n");
    }
}

/* signal-safe: writer calls only; run inside the walk's probe, which
 * catches a fault in w_pystr's reads of the strings */
static void
frame(fa_writer *w, const fa_frame_info *f)
{
    w_puts(w, "  File ");
    if (f->has_code) {
        w_putc(w, '"');
        w_pystr(w, f->filename, 0);
        w_putc(w, '"');
    }
    else {
        w_puts(w, "???");
    }
    w_puts(w, ", line ");
    if (f->line >= 0) {
        w_dec(w, (unsigned long long)f->line);
    }
    else {
        w_puts(w, "???");
    }
    w_puts(w, " in ");
    if (f->has_code) {
        w_pystr(w, f->name, 0);
    }
    else {
        w_puts(w, "???");
    }
    w_putc(w, '\n');
}

/* signal-safe: writer calls only */
static void
frames_gap(fa_writer *w, long omitted)
{
    w_puts(w, "  ... (");
    w_dec(w, (unsigned long long)omitted);
    w_puts(w, " frames omitted)\n");
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

/* signal-safe: writer calls only */
static void
c_stack_begin(fa_writer *w)
{
    w_puts(w, "Current thread's C stack trace (most recent call first):\n");
}

/* signal-safe: writer calls only */
static void
c_frame(fa_writer *w, const fa_cframe_info *f)
{
    w_puts(w, "  Binary file \"");
    w_puts(w, f->binary ? f->binary : "<unknown>");
    w_putc(w, '"');
    if (f->symbol) {
        w_puts(w, ", at ");
        w_puts(w, f->symbol);
        w_puts(w, "+0x");
        w_hex(w, f->offset, 0);
    }
    w_puts(w, " [0x");
    w_hex(w, f->address, 0);
    w_putc(w, ']');
    /* beyond CPython's line: what offline symbolisation needs */
    if (f->has_module_offset) {
        w_puts(w, " (+0x");
        w_hex(w, f->module_offset, 0);
        if (f->build_id_len) {
            w_puts(w, ", build-id ");
            for (size_t i = 0; i < f->build_id_len; i++) {
                w_hex(w, f->build_id[i], 2);
            }
        }
        w_putc(w, ')');
    }
    w_putc(w, '\n');
}

/* signal-safe: writer calls only */
static void
c_repeat(fa_writer *w, int frames, int times, int index)
{
    (void)index;
    w_puts(w, "  [previous ");
    w_dec(w, (unsigned long long)frames);
    w_puts(w, frames == 1 ? " frame repeated " : " frames repeated ");
    w_dec(w, (unsigned long long)times);
    w_puts(w, times == 1 ? " time]\n" : " times]\n");
}

/* signal-safe: writer calls only */
static void
c_stack_end(fa_writer *w, int shown, int omitted, int complete)
{
    if (shown <= 0 && omitted <= 0 && complete) {
        w_puts(w, "  <no C frame>\n");
    }
    if (omitted > 0) {
        w_puts(w, "  ... (");
        w_dec(w, (unsigned long long)omitted);
        w_puts(w, " frames omitted)\n");
    }
    if (!complete) {
        w_puts(w, "  ... (deeper frames not read)\n");
    }
}

/* signal-safe: writer calls only */
static void
c_stack_unavailable(fa_writer *w, const char *why)
{
    c_stack_begin(w);
    w_puts(w, "  <");
    w_puts(w, why);
    w_puts(w, ">\n");
}

/* signal-safe: writer calls only */
static void
modules_begin(fa_writer *w)
{
    (void)w;
}

/* signal-safe: writer calls only; run inside the walk's probe, which
 * catches a fault in w_pystr's reads of the strings */
static void
module(fa_writer *w, PyObject *name, long index)
{
    w_puts(w, index ? ", " : "\nExtension modules: ");
    w_pystr(w, name, 0);
}

/* signal-safe: writer calls only */
static void
modules_end(fa_writer *w, long count)
{
    if (count) {
        w_puts(w, " (total: ");
        w_dec(w, (unsigned long long)count);
        w_puts(w, ")\n");
    }
}

/* signal-safe: writer calls only.  After the Python frames, one line each:
 *   Context: <the process's label>
 *   Context of thread 0x...: <a thread's label>
 * escaped as frame text is. */
static void
context(fa_writer *w, unsigned long ident, const char *label, size_t n)
{
    if (ident) {
        w_puts(w, "Context of thread ");
        w_ptr(w, (uintptr_t)ident);
        w_puts(w, ": ");
    }
    else {
        w_puts(w, "Context: ");
    }
    w_utf8(w, label, n, 0);
    w_putc(w, '\n');
}

/* signal-safe: writer calls only */
static void
asyncio_begin(fa_writer *w)
{
    (void)w;
}

/* signal-safe: writer calls only.  After a blank line:
 *   Asyncio tasks of thread 0x... [name] (3 tasks, await chain outermost first):
 */
static void
loop_begin(fa_writer *w, const fa_loop_info *l)
{
    w_puts(w, "\nAsyncio tasks of thread ");
    w_ptr(w, (uintptr_t)l->ident);
    if (l->name) {
        w_puts(w, " [");
        w_utf8(w, l->name, l->name_len, 0);
        w_putc(w, ']');
    }
    w_puts(w, " (");
    w_dec(w, (unsigned long long)l->total);
    w_puts(w, l->total == 1 ? " task" : " tasks");
    w_puts(w, ", await chain outermost first):\n");
}

/* signal-safe: writer calls only; inside the walk's probe */
static void
task_name_text(fa_writer *w, PyObject *name, long long number)
{
    if (name) {
        w_putc(w, '"');
        w_pystr(w, name, 0);
        w_putc(w, '"');
    }
    else if (number >= 0) {
        w_puts(w, "\"Task-");
        w_dec(w, (unsigned long long)number);
        w_putc(w, '"');
    }
    else {
        w_puts(w, "???");
    }
}

/* signal-safe: writer calls only; run inside the walk's probe, which
 * catches a fault in the reads of the names.
 *   Task "name" pending (running), awaiting _asyncio.Task "other":
 */
static void
task_begin(fa_writer *w, const fa_task_info *t)
{
    w_puts(w, "  Task ");
    task_name_text(w, t->name, t->number);
    w_putc(w, ' ');
    w_puts(w, t->state);
    if (t->running) {
        w_puts(w, " (running)");
    }
    if (t->awaiting_type) {
        w_puts(w, ", awaiting ");
        w_utf8(w, t->awaiting_type, fa_strnlen(t->awaiting_type, FA_STR_MAX), 0);
        if (t->awaiting_name || t->awaiting_number >= 0) {
            w_putc(w, ' ');
            task_name_text(w, t->awaiting_name, t->awaiting_number);
        }
    }
    w_puts(w, ":\n");
}

/* signal-safe: writer calls only; inside the walk's probe.  A frame line
 * as a thread's, indented under its task. */
static void
task_frame(fa_writer *w, const fa_frame_info *f)
{
    w_puts(w, "  ");
    frame(w, f);
}

/* signal-safe: writer calls only */
static void
task_end(fa_writer *w, long omitted, int unreadable)
{
    if (omitted > 0) {
        w_puts(w, "    ... (");
        w_dec(w, (unsigned long long)omitted);
        w_puts(w, " frames omitted)\n");
    }
    if (unreadable) {
        w_puts(w, "    <unreadable frame>\n");
    }
}

/* signal-safe: writer calls only */
static void
loop_end(fa_writer *w, long omitted)
{
    if (omitted > 0) {
        w_puts(w, "  ... (");
        w_dec(w, (unsigned long long)omitted);
        w_puts(w, " tasks omitted)\n");
    }
}

/* signal-safe: writer calls only */
static void
asyncio_end(fa_writer *w)
{
    (void)w;
}

#undef FA_ASYNCIO_EMITTER
#define FA_ASYNCIO_EMITTER FA_ASYNCIO_EMITTER_OF_THIS_FILE
/* signal-safe: writer calls only.  After the context lines:
 *   Process tree (PYTHONFAULTHANDLER_TREE): 2 descendants
 *     pid 41 (parent 40, S) python worker.py: dumped to /tmp/w-41.log
 *     pid 42 (parent 41, S) sleep 100: no hook */
static void
tree(fa_writer *w, const fa_tree_report *r)
{
    w_puts(w, "Process tree (PYTHONFAULTHANDLER_TREE): ");
    w_dec(w, (unsigned long long)(r->count + r->omitted));
    w_puts(w, r->count + r->omitted == 1 ? " descendant\n" : " descendants\n");
    for (int i = 0; i < r->count; i++) {
        const fa_tree_entry *e = &r->entries[i];
        w_puts(w, "  pid ");
        w_dec(w, (unsigned long long)e->pid);
        w_puts(w, " (parent ");
        w_dec(w, (unsigned long long)e->ppid);
        if (e->state) {
            w_puts(w, ", ");
            w_putc(w, e->state);
        }
        w_puts(w, ") ");
        w_utf8(w, e->command, fa_strnlen(e->command, sizeof(e->command)), 0);
        w_puts(w, ": ");
        switch (e->result) {
        case FA_TREE_DUMPED:
            w_puts(w, "dumped to ");
            w_utf8(w, e->where, fa_strnlen(e->where, sizeof(e->where)), 0);
            break;
        case FA_TREE_NO_HOOK:
            w_puts(w, "no hook");
            break;
        case FA_TREE_NO_ANSWER:
            w_puts(w, "no answer in ");
            w_dec(w, (unsigned long long)(e->waited_ms / 1000));
            w_putc(w, '.');
            w_dec(w, (unsigned long long)(e->waited_ms / 100 % 10));
            w_puts(w, " s");
            break;
        case FA_TREE_STOPPED:
            w_puts(w, "stopped, not asked");
            break;
        case FA_TREE_ZOMBIE:
            w_puts(w, "zombie, not asked");
            break;
        case FA_TREE_GONE:
            w_puts(w, "exited before answering");
            break;
        default:
            w_puts(w, "not asked: the total wait was spent");
            break;
        }
        w_putc(w, '\n');
    }
    if (r->omitted) {
        w_puts(w, "  ... and ");
        w_dec(w, (unsigned long long)r->omitted);
        w_puts(w, " more, not listed nor asked\n");
    }
}

/* signal-safe: writer calls only.  After the Python frames, as context
 * lines are, one line per thread with what is known of it:
 *   State of thread 0x...: tid 4242, state S (sleeping), cpu 0.120s, gil not held
 * and none when nothing is. */
static void
thread_state(fa_writer *w, unsigned long ident, const fa_thread_state *s)
{
    if (s->tid <= 0 && s->gil < 0) {
        return;
    }
    w_puts(w, "State of thread ");
    w_ptr(w, (uintptr_t)ident);
    w_putc(w, ':');
    const char *sep = " ";
    if (s->tid > 0) {
        w_puts(w, " tid ");
        w_dec(w, (unsigned long long)s->tid);
        sep = ", ";
    }
    if (s->state) {
        const char *word = fa_task_state_word(s->state);
        w_puts(w, sep);
        w_puts(w, "state ");
        w_putc(w, s->state);
        if (word) {
            w_puts(w, " (");
            w_puts(w, word);
            w_putc(w, ')');
        }
        sep = ", ";
    }
    if (s->cpu_ms >= 0) {
        w_puts(w, sep);
        w_puts(w, "cpu ");
        w_dec(w, (unsigned long long)s->cpu_ms / 1000);
        w_putc(w, '.');
        long long ms = s->cpu_ms % 1000;
        w_putc(w, (char)('0' + ms / 100));
        w_putc(w, (char)('0' + ms / 10 % 10));
        w_putc(w, (char)('0' + ms % 10));
        w_putc(w, 's');
        sep = ", ";
    }
    if (s->gil >= 0) {
        w_puts(w, sep);
        w_puts(w, s->gil ? "gil held" : "gil not held");
    }
    w_putc(w, '\n');
}

const fa_emitter fa_emit_text = FA_EMITTER_OF_THIS_FILE(0, 0);
