/* emit_json.c - the JSON format: one object per dump on one line, with the
 * same facts as the text format.  Every function is signal-safe: it only
 * calls the writer. */
#include "context.h"
#include "cstack.h"
#include "emit.h"
#include "tasks.h"
#include "tree.h"
#include "util.h"

static const char *const event_names[] = {
    [EV_FATAL] = "fatal_signal",
    [EV_TIMEOUT] = "timeout",
    [EV_SIGNAL] = "signal",
    [EV_EXPLICIT] = "explicit",
    [EV_C_STACK] = "c_stack",
};

/* signal-safe: the walks and writer calls only */
static void
document(fa_dump *d, const fa_event *ev)
{
    fa_writer *w = &d->w;
    walk_header(d, ev);
    if (ev->event == EV_C_STACK) {
        walk_c_stack(d, 0);
        w_puts(w, "}\n");
        return;
    }
    walk_threads(d, ev);
    walk_context(d, ev);
    walk_asyncio(d, ev);
    walk_tree(d, ev->tree);
    if (ev->c_stack) {
        walk_c_stack(d, ev->pc);
        w_putc(w, ',');
    }
    walk_extension_modules(d);
    w_puts(w, "}\n");
}

/* the opening of the dump's object and its first members */
static void
header(fa_writer *w, const fa_header_info *h)
{
    /* the version of schema/dump-1.json this object follows */
    w_puts(w, "{\"schema\":\"faulthandler-auto-dump-1\",\"event\":\"");
    w_puts(w, event_names[h->event]);
    w_puts(w, "\",\"signal\":");
    if (h->signum > 0 && h->signame) {
        w_json_cstr(w, h->signame);
    }
    else if (h->signum > 0) {
        w_dec(w, (unsigned long long)h->signum);
    }
    else {
        w_puts(w, "null");
    }
    if (h->event == EV_FATAL && h->fatal_error) {
        w_puts(w, ",\"error\":");
        w_json_cstr(w, h->fatal_error);
    }
    if (h->timeout_header) {
        w_puts(w, ",\"timeout\":");
        w_json_cstr(w, h->timeout_header);
    }
    if (h->si_code) {
        w_puts(w, ",\"si_code\":");
        w_json_cstr(w, h->si_code);
    }
    if (h->has_addr) {
        w_puts(w, ",\"fault_address\":\"0x");
        w_hex(w, h->fault_addr, 0);
        w_putc(w, '"');
    }
    if (h->has_sender) {
        w_puts(w, ",\"sender_pid\":");
        w_dec(w, h->sender_pid);
        w_puts(w, ",\"sender_uid\":");
        w_dec(w, h->sender_uid);
    }
    if (h->skipped_coalesced + h->skipped_limited > 0) {
        w_puts(w, ",\"skipped\":{\"coalesced\":");
        w_dec(w, h->skipped_coalesced);
        w_puts(w, ",\"limited\":");
        w_dec(w, h->skipped_limited);
        w_putc(w, '}');
    }
    w_puts(w, ",\"pid\":");
    w_dec(w, h->pid);
    w_puts(w, ",\"time\":\"");
    w_puts(w, h->time);
    w_puts(w, "\",\"python\":");
    w_json_cstr(w, h->python);
    w_puts(w, ",\"program\":");
    w_json_cstr(w, h->prog);
    if (h->host) {
        w_puts(w, ",\"host\":");
        w_json_cstr(w, h->host);
    }
    if (h->watchdog) {
        w_puts(w, ",\"watchdog\":\"");
        w_utf8(w, h->watchdog, h->watchdog_len, 1);
        w_putc(w, '"');
    }
    if (h->gc_running >= 0) {
        w_puts(w, h->gc_running ? ",\"gc_running\":true" : ",\"gc_running\":false");
    }
    if (h->signature) {
        w_puts(w, ",\"signature\":\"");
        w_puts(w, h->signature);
        w_putc(w, '"');
    }
    w_putc(w, ',');
}

/* signal-safe: writer calls only */
static void
threads_begin(fa_writer *w)
{
    w_puts(w, "\"threads\":[");
}

/* signal-safe: writer calls only */
static void
no_thread(fa_writer *w, int all_threads)
{
    (void)w;
    (void)all_threads;
}

/* signal-safe: nothing to write (the thread list stays empty) */
static void
finalized(fa_writer *w)
{
    (void)w;
}

/* signal-safe: writer calls only */
static void
between_threads(fa_writer *w)
{
    (void)w;
}

/* signal-safe: writer calls only */
static void
thread_begin(fa_writer *w, const fa_thread_info *t)
{
    if (t->index > 0) {
        w_putc(w, ',');
    }
    w_puts(w, "{\"id\":");
    w_dec(w, (unsigned long long)t->ident);
    w_puts(w, ",\"name\":");
    if (t->name) {
        w_putc(w, '"');
        w_utf8(w, t->name, t->name_len, 1);
        w_putc(w, '"');
    }
    else {
        w_puts(w, "null");
    }
    if (t->interp_id >= 0) {
        w_puts(w, ",\"interpreter\":");
        w_dec(w, (unsigned long long)t->interp_id);
    }
    w_puts(w, t->is_current ? ",\"current\":true," : ",\"current\":false,");
    if (t->context_len) {
        w_puts(w, "\"context\":\"");
        w_utf8(w, t->context, t->context_len, 1);
        w_puts(w, "\",");
    }
}

/* signal-safe: writer calls only */
static void
thread_end(fa_writer *w)
{
    w_putc(w, '}');
}

/* signal-safe: writer calls only */
static void
threads_end(fa_writer *w, long omitted)
{
    w_puts(w, "],\"threads_omitted\":");
    w_dec(w, (unsigned long long)omitted);
    w_putc(w, ',');
}

/* signal-safe: writer calls only */
static void
frames_begin(fa_writer *w, long total)
{
    (void)total;
    w_puts(w, "\"frames\":[");
}

/* signal-safe: writer calls only; run inside the walk's probe, which
 * catches a fault in w_pystr's reads of the strings */
static void
frame(fa_writer *w, const fa_frame_info *f)
{
    if (f->index > 0) {
        w_putc(w, ',');
    }
    w_puts(w, "{\"file\":");
    if (f->has_code) {
        w_pystr(w, f->filename, 1);
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, ",\"line\":");
    if (f->line >= 0) {
        w_dec(w, (unsigned long long)f->line);
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, ",\"function\":");
    if (f->has_code) {
        w_pystr(w, f->name, 1);
    }
    else {
        w_puts(w, "null");
    }
    w_putc(w, '}');
}

/* the count of frames left out is in frames_end */
static void
frames_gap(fa_writer *w, long omitted)
{
    (void)w;
    (void)omitted;
}

/* signal-safe: writer calls only */
static void
frames_end(fa_writer *w, long omitted, int unreadable)
{
    w_puts(w, "],\"frames_omitted\":");
    w_dec(w, (unsigned long long)omitted);
    if (unreadable) {
        w_puts(w, ",\"unreadable\":true");
    }
}

/* signal-safe: writer calls only */
static void
c_stack_begin(fa_writer *w)
{
    w_puts(w, "\"c_stack\":[");
}

/* signal-safe: writer calls only */
static void
c_frame(fa_writer *w, const fa_cframe_info *f)
{
    if (f->index > 0) {
        w_putc(w, ',');
    }
    w_puts(w, "{\"binary\":");
    if (f->binary) {
        w_json_cstr(w, f->binary);
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, ",\"symbol\":");
    if (f->symbol) {
        w_json_cstr(w, f->symbol);
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, ",\"offset\":");
    w_dec(w, f->offset);
    w_puts(w, ",\"address\":\"0x");
    w_hex(w, f->address, 0);
    w_putc(w, '"');
    if (f->has_module_offset) {
        w_puts(w, ",\"build_id\":");
        if (f->build_id_len) {
            w_putc(w, '"');
            for (size_t i = 0; i < f->build_id_len; i++) {
                w_hex(w, f->build_id[i], 2);
            }
            w_putc(w, '"');
        }
        else {
            w_puts(w, "null");
        }
        w_puts(w, ",\"module_offset\":\"0x");
        w_hex(w, f->module_offset, 0);
        w_putc(w, '"');
    }
    w_putc(w, '}');
}

/* signal-safe: writer calls only */
static void
c_repeat(fa_writer *w, int frames, int times, int index)
{
    if (index > 0) {
        w_putc(w, ',');
    }
    w_puts(w, "{\"repeat\":{\"frames\":");
    w_dec(w, (unsigned long long)frames);
    w_puts(w, ",\"times\":");
    w_dec(w, (unsigned long long)times);
    w_puts(w, "}}");
}

/* signal-safe: writer calls only */
static void
c_stack_end(fa_writer *w, int shown, int omitted, int complete)
{
    (void)shown;
    w_puts(w, "],\"c_frames_omitted\":");
    w_dec(w, (unsigned long long)(omitted > 0 ? omitted : 0));
    if (!complete) {
        w_puts(w, ",\"c_stack_complete\":false");
    }
}

/* signal-safe: writer calls only */
static void
c_stack_unavailable(fa_writer *w, const char *why)
{
    w_puts(w, "\"c_stack\":null,\"c_stack_missing\":");
    w_json_cstr(w, why);
}

/* signal-safe: writer calls only */
static void
modules_begin(fa_writer *w)
{
    w_puts(w, "\"extension_modules\":[");
}

/* signal-safe: writer calls only; run inside the walk's probe, which
 * catches a fault in w_pystr's reads of the strings */
static void
module(fa_writer *w, PyObject *name, long index)
{
    if (index) {
        w_putc(w, ',');
    }
    w_pystr(w, name, 1);
}

/* signal-safe: writer calls only */
static void
modules_end(fa_writer *w, long count)
{
    (void)count;
    w_putc(w, ']');
}

/* signal-safe: writer calls only.  The process's label is a member of the
 * dump; a thread's is a member of its thread (see thread_begin). */
static void
context(fa_writer *w, unsigned long ident, const char *label, size_t n)
{
    if (ident == 0) {
        w_puts(w, "\"context\":\"");
        w_utf8(w, label, n, 1);
        w_puts(w, "\",");
    }
}

/* signal-safe: the header has said everything */
static void
trailer(fa_writer *w, const fa_header_info *h)
{
    (void)w;
    (void)h;
}

/* signal-safe: writer calls only */
static void
asyncio_begin(fa_writer *w)
{
    w_puts(w, "\"asyncio\":[");
}

/* signal-safe: writer calls only */
static void
loop_begin(fa_writer *w, const fa_loop_info *l)
{
    if (l->index > 0) {
        w_putc(w, ',');
    }
    w_puts(w, "{\"thread\":");
    w_dec(w, (unsigned long long)l->ident);
    w_puts(w, ",\"thread_name\":");
    if (l->name) {
        w_putc(w, '"');
        w_utf8(w, l->name, l->name_len, 1);
        w_putc(w, '"');
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, ",\"tasks_total\":");
    w_dec(w, (unsigned long long)l->total);
    w_puts(w, ",\"tasks\":[");
}

/* signal-safe: writer calls only; inside the walk's probe */
static void
task_name_json(fa_writer *w, PyObject *name, long long number)
{
    if (name) {
        w_pystr(w, name, 1);
    }
    else if (number >= 0) {
        w_puts(w, "\"Task-");
        w_dec(w, (unsigned long long)number);
        w_putc(w, '"');
    }
    else {
        w_puts(w, "null");
    }
}

/* signal-safe: writer calls only; run inside the walk's probe, which
 * catches a fault in the reads of the names */
static void
task_begin(fa_writer *w, const fa_task_info *t)
{
    if (t->index > 0) {
        w_putc(w, ',');
    }
    w_puts(w, "{\"name\":");
    task_name_json(w, t->name, t->number);
    w_puts(w, ",\"state\":");
    w_json_cstr(w, t->state);
    w_puts(w, t->running ? ",\"running\":true" : ",\"running\":false");
    w_puts(w, ",\"awaiting\":");
    if (t->awaiting_type) {
        w_puts(w, "{\"type\":\"");
        w_utf8(w, t->awaiting_type, fa_strnlen(t->awaiting_type, FA_STR_MAX), 1);
        w_puts(w, "\",\"task\":");
        task_name_json(w, t->awaiting_name, t->awaiting_number);
        w_putc(w, '}');
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, ",\"frames\":[");
}

/* signal-safe: writer calls only; inside the walk's probe */
static void
task_frame(fa_writer *w, const fa_frame_info *f)
{
    frame(w, f);
}

/* signal-safe: writer calls only */
static void
task_end(fa_writer *w, long omitted, int unreadable)
{
    frames_end(w, omitted, unreadable);
    w_putc(w, '}');
}

/* signal-safe: writer calls only */
static void
loop_end(fa_writer *w, long omitted)
{
    w_puts(w, "],\"tasks_omitted\":");
    w_dec(w, (unsigned long long)omitted);
    w_putc(w, '}');
}

/* signal-safe: writer calls only */
static void
asyncio_end(fa_writer *w)
{
    w_puts(w, "],");
}

#undef FA_ASYNCIO_EMITTER
#define FA_ASYNCIO_EMITTER FA_ASYNCIO_EMITTER_OF_THIS_FILE
static const char *const tree_results[] = {
    [FA_TREE_DUMPED] = "dumped",
    [FA_TREE_NO_HOOK] = "no_hook",
    [FA_TREE_NO_ANSWER] = "no_answer",
    [FA_TREE_STOPPED] = "stopped",
    [FA_TREE_ZOMBIE] = "zombie",
    [FA_TREE_GONE] = "exited",
    [FA_TREE_NOT_ASKED] = "not_asked",
};

/* signal-safe: writer calls only */
static void
tree(fa_writer *w, const fa_tree_report *r)
{
    w_puts(w, "\"tree\":{\"descendants\":[");
    for (int i = 0; i < r->count; i++) {
        const fa_tree_entry *e = &r->entries[i];
        w_puts(w, i ? ",{\"pid\":" : "{\"pid\":");
        w_dec(w, (unsigned long long)e->pid);
        w_puts(w, ",\"ppid\":");
        w_dec(w, (unsigned long long)e->ppid);
        w_puts(w, ",\"state\":");
        if (e->state) {
            char state[2] = {e->state, '\0'};
            w_json_cstr(w, state);
        }
        else {
            w_puts(w, "null");
        }
        w_puts(w, ",\"command\":\"");
        w_utf8(w, e->command, fa_strnlen(e->command, sizeof(e->command)), 1);
        w_puts(w, "\",\"result\":\"");
        w_puts(w, tree_results[e->result]);
        w_puts(w, "\",\"where\":");
        if (e->result == FA_TREE_DUMPED) {
            w_putc(w, '"');
            w_utf8(w, e->where, fa_strnlen(e->where, sizeof(e->where)), 1);
            w_putc(w, '"');
        }
        else {
            w_puts(w, "null");
        }
        w_puts(w, ",\"waited_ms\":");
        w_dec(w, (unsigned long long)e->waited_ms);
        w_putc(w, '}');
    }
    w_puts(w, "],\"omitted\":");
    w_dec(w, (unsigned long long)r->omitted);
    w_puts(w, ",\"wait_ms\":");
    w_dec(w, (unsigned long long)r->wait_ms);
    w_puts(w, "},");
}

/* signal-safe: writer calls only.  Members of the thread's object, right
 * after thread_begin's; null when unknown. */
static void
thread_state(fa_writer *w, unsigned long ident, const fa_thread_state *s)
{
    (void)ident;
    w_puts(w, "\"tid\":");
    if (s->tid > 0) {
        w_dec(w, (unsigned long long)s->tid);
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, ",\"state\":");
    if (s->state > ' ' && s->state < 0x7f && s->state != '"' && s->state != '\\') {
        w_putc(w, '"');
        w_putc(w, s->state);
        w_putc(w, '"');
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, ",\"cpu_ms\":");
    if (s->cpu_ms >= 0) {
        w_dec(w, (unsigned long long)s->cpu_ms);
    }
    else {
        w_puts(w, "null");
    }
    w_puts(w, s->gil > 0 ? ",\"gil\":true," : s->gil == 0 ? ",\"gil\":false," : ",\"gil\":null,");
}

const fa_emitter fa_emit_json = FA_EMITTER_OF_THIS_FILE(0, 1);
