/* tasks.c - the asyncio section of a dump (see tasks.h).  No Python code
 * runs: the registry of tasks is found through sys.modules["_asyncio"] (so
 * nothing is shown until the program imported asyncio, and nothing is
 * imported here), and tasks, coroutines and frames are read in place inside
 * probes, as walk.c reads frames.  The version differences are in
 * taskcompat.h.  Everything here but fa_set_asyncio is signal-safe. */
#include "tasks.h"
#include "emit.h"
#include "facts.h"
#include "frames.h"
#include "taskcompat.h"
#include "threads.h"

#define FA_MAX_TASK_SCAN (1L << 22)   /* a longer registry is taken as a loop */
#define FA_MAX_LOOP_THREADS 100000    /* as walk.c's thread list */

static int asyncio_mode = -1;

/* Called with the GIL; a dump reads the mode once. */
void
fa_set_asyncio(int mode)
{
    asyncio_mode = mode;
}

/* Where _asyncio keeps its tasks, read once per dump. */
typedef struct {
    PyTypeObject *task_type;    /* _asyncio.Task */
    /* before 3.14: the set of weak references inside the WeakSet of
     * scheduled tasks, then the set of eagerly running ones (3.12+) */
    PyObject *sets[2];
    PyObject *current_tasks;    /* before 3.14: {loop: its running task} */
} fa_registry;

/* signal-safe (probed): find _asyncio's registry in sys.modules. */
static FA_RACY_READ void
step_registry(fa_dump *d, void *arg)
{
    (void)d;
    fa_registry *r = arg;
    PyObject *modules = fa_process.modules;
    PyObject *mod = fa_compat_dict_get(modules, "_asyncio", 8);
    if (!instance_ok(mod, &PyModule_Type)) {
        return;
    }
    PyObject *dict = PyModule_GetDict(mod);
    PyObject *type = fa_compat_dict_get(dict, "Task", 4);
    if (!instance_ok(type, &PyType_Type)) {
        return;
    }
    r->task_type = (PyTypeObject *)type;
#if !FA_TASKS_PER_THREAD
    PyObject *weak = fa_compat_dict_get(dict, FA_WEAK_TASKS_NAME, sizeof(FA_WEAK_TASKS_NAME) - 1);
#  ifdef FA_EAGER_TASKS_NAME
    PyObject *eager = fa_compat_dict_get(dict, FA_EAGER_TASKS_NAME, sizeof(FA_EAGER_TASKS_NAME) - 1);
    r->sets[1] = obj_ok(eager, &PySet_Type) ? eager : NULL;
#  endif
    PyObject *data = ptr_ok(weak) ? fa_compat_attr(weak, "data", 4) : NULL;
    r->sets[0] = obj_ok(data, &PySet_Type) ? data : NULL;
    PyObject *current = fa_compat_dict_get(dict, "_current_tasks", 14);
    r->current_tasks = obj_ok(current, &PyDict_Type) ? current : NULL;
#endif
}

/* signal-safe (probed): is `obj` an _asyncio.Task, or of a subclass (whose
 * object starts as a Task's)? */
static FA_RACY_READ int
is_task(const fa_registry *r, PyObject *obj)
{
    return instance_ok(obj, r->task_type);
}

/* The tasks of one loop, one at a time, across probes. */
typedef struct {
    PyObject *loop;
    long scanned;
#if FA_TASKS_PER_THREAD
    struct llist_node *head, *node;
#else
    int set;
    Py_ssize_t slot;
#endif
} fa_task_cursor;

/* signal-safe (probed): the next task of the cursor's loop, NULL at the
 * end.  The registry changes as we read it (the dumped threads run on), so
 * every pointer is checked and a task may be missed or seen twice, never
 * read past its table. */
static FA_RACY_READ fa_task_obj *
next_task(const fa_registry *r, fa_task_cursor *c)
{
    while (c->scanned++ < FA_MAX_TASK_SCAN) {
        PyObject *obj;
#if FA_TASKS_PER_THREAD
        if (!ptr_ok(c->node) || c->node == c->head) {
            return NULL;
        }
        obj = (PyObject *)fa_compat_task_of_node(c->node);
        c->node = c->node->next;
#else
        if (c->set >= 2) {
            return NULL;
        }
        PySetObject *set = (PySetObject *)r->sets[c->set];
        if (set == NULL || c->slot > set->mask || !ptr_ok(set->table)) {
            c->set++;
            c->slot = 0;
            continue;
        }
        obj = set->table[c->slot++].key;
        if (c->set == 0) {
            /* the WeakSet holds weak references to its tasks */
            if (!obj_ok(obj, &_PyWeakref_RefType)) {
                continue;
            }
            obj = ((PyWeakReference *)obj)->wr_object;
        }
#endif
        /* a task that is done is over: asyncio.all_tasks() leaves it out
         * too (and 3.14+ drops it from its list) */
        if (is_task(r, obj) && ((fa_task_obj *)obj)->loop == c->loop
            && ((fa_task_obj *)obj)->state == FA_TASK_PENDING) {
            return (fa_task_obj *)obj;
        }
    }
    return NULL;
}

/* One thread that runs a loop. */
typedef struct {
    fa_registry reg;
    PyThreadState *ts;
    int is_main;                /* the oldest thread */
    PyObject *loop;             /* out: its running loop, NULL when none */
    PyObject *running;          /* out: the loop's running task, if any */
    fa_task_cursor cursor;
    long total;                 /* out: the loop's tasks */
    int index;                  /* loops begun before */
} fa_loop_step;

/* signal-safe (probed): the loop a thread runs and its running task. */
static FA_RACY_READ void
step_thread_loop(fa_dump *d, void *arg)
{
    (void)d;
    fa_loop_step *st = arg;
    PyThreadState *ts = st->ts;
    st->loop = NULL;
    st->running = NULL;
    PyObject *held = fa_compat_dict_get(ts->dict, FA_RUNNING_LOOP_KEY,
                                        sizeof(FA_RUNNING_LOOP_KEY) - 1);
    PyObject *loop = fa_compat_running_loop(ts, held);
    if (!ptr_ok(loop) || loop == Py_None) {
        return;
    }
    st->loop = loop;
#if FA_CURRENT_TASK_IN_THREAD
    st->running = fa_compat_running_task(ts);
#else
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (st->reg.current_tasks != NULL && PyDict_Next(st->reg.current_tasks, &pos, &key, &value)) {
        if (key == loop) {
            st->running = value;
            break;
        }
    }
#endif
}

/* signal-safe (probed): the cursor at the first task of the step's loop. */
static FA_RACY_READ void
cursor_start(fa_loop_step *st)
{
    memset(&st->cursor, 0, sizeof(st->cursor));
    st->cursor.loop = st->loop;
#if FA_TASKS_PER_THREAD
    st->cursor.head = fa_compat_thread_tasks(st->ts);
    st->cursor.node = st->cursor.head->next;
#endif
}

/* signal-safe (probed): count the loop's tasks, then begin it in the output. */
static FA_RACY_READ void
step_loop_begin(fa_dump *d, void *arg)
{
    fa_loop_step *st = arg;
    cursor_start(st);
    st->total = 0;
    while (next_task(&st->reg, &st->cursor) != NULL) {
        st->total++;
    }
    fa_loop_info info;
    info.ident = st->ts->thread_id;
    info.name_len = 0;
    info.name = thread_name(info.ident, st->is_main, &info.name_len);
    info.total = st->total;
    info.index = st->index;
    d->emit->loop_begin(&d->w, &info);
    cursor_start(st);
}

/* One task being printed. */
typedef struct {
    fa_loop_step *loop;
    long index;
    fa_task_obj *task;          /* out: NULL at the end of the loop's tasks */
    PyObject *gen;              /* out: its coroutine, then what each awaits */
} fa_task_step;

/* signal-safe: what a listed task is doing */
static const char *
task_state(const fa_task_obj *t)
{
    /* only pending tasks are listed (next_task) */
    return fa_compat_task_cancelling(t) ? "cancelling" : "pending";
}

/* signal-safe (probed): a task's name: a str, or the number of "Task-n" */
static FA_RACY_READ PyObject *
task_name(fa_task_obj *t, long long *number)
{
    *number = fa_compat_name_number(t->name);
    return obj_ok(t->name, &PyUnicode_Type) ? t->name : NULL;
}

/* signal-safe (probed): find the next task and print its line. */
static FA_RACY_READ void
step_task_begin(fa_dump *d, void *arg)
{
    fa_task_step *ts = arg;
    fa_registry *reg = &ts->loop->reg;
    fa_task_obj *t = next_task(reg, &ts->loop->cursor);
    ts->task = t;
    if (t == NULL) {
        return;
    }
    fa_task_info info;
    info.name = task_name(t, &info.number);
    info.state = task_state(t);
    info.running = (PyObject *)t == ts->loop->running;
    info.index = ts->index;
    PyObject *waiter = t->fut_waiter;
    info.awaiting_type = NULL;
    info.awaiting_name = NULL;
    info.awaiting_number = -1;
    if (ptr_ok(waiter) && ptr_ok(FA_TYPE(waiter))) {
        info.awaiting_type = FA_TYPE(waiter)->tp_name;
        if (is_task(reg, waiter)) {
            info.awaiting_name = task_name((fa_task_obj *)waiter, &info.awaiting_number);
        }
    }
    ts->gen = t->coro;
    d->emit->task_begin(&d->w, &info);
}

/* signal-safe (probed): whether `obj` is a coroutine or generator, whose
 * frame is read. */
static FA_RACY_READ int
is_coroutine(PyObject *obj)
{
    return obj_ok(obj, &PyCoro_Type) || obj_ok(obj, &PyGen_Type);
}

typedef struct {
    fa_task_step *task;
    int print;                  /* else only step to what it awaits */
    long index;                 /* frames printed before */
    int unreadable;             /* out */
} fa_await_step;

/* signal-safe (probed): one coroutine of a task's await chain: print its
 * frame, then step to what it awaits (NULL at the end of the chain). */
static FA_RACY_READ void
step_await(fa_dump *d, void *arg)
{
    fa_await_step *as = arg;
    PyObject *gen = as->task->gen;
    as->task->gen = NULL;
    fa_frame *live = fa_compat_gen_frame(gen);
    fa_frame copy;
    if (live == NULL) {
        return;
    }
    if (frame_check(live, &copy) < 0) {
        as->unreadable = 1;
        return;
    }
    if (as->print) {
        PyCodeObject *code = frame_code(&copy);
        fa_frame_info info;
        info.has_code = code != NULL;
        info.filename = code != NULL ? code->co_filename : NULL;
        info.name = code != NULL ? code->co_name : NULL;
        info.line = code != NULL ? frame_line(&copy, code) : -1;
        info.index = as->index;
        d->emit->task_frame(&d->w, &info);
    }
    PyObject *next = fa_compat_gen_awaits(gen, live, &copy);
    as->task->gen = is_coroutine(next) ? next : NULL;
}

/* signal-safe (probed): only check the chain's first object. */
static FA_RACY_READ void
step_first_coroutine(fa_dump *d, void *arg)
{
    (void)d;
    fa_task_step *ts = arg;
    if (!is_coroutine(ts->gen)) {
        ts->gen = NULL;
    }
}

/* signal-safe: one task's await chain, outermost coroutine first, cut
 * after max_frames as a thread's frames are (the count of those left out
 * is exact: the rest of the chain is walked without printing). */
static void
walk_await_chain(fa_dump *d, fa_task_step *ts)
{
    fa_await_step as = {ts, 1, 0, 0};
    long omitted = 0;
    if (!probed(d, step_first_coroutine, ts)) {
        ts->gen = NULL;
        as.unreadable = 1;
    }
    for (long steps = 0; ts->gen != NULL && steps < FA_MAX_CHAIN; steps++) {
        as.print = as.index < d->max_frames;
        if (!probed(d, step_await, &as)) {
            as.unreadable = 1;
            break;
        }
        if (as.unreadable) {
            break;
        }
        if (as.print) {
            as.index++;
        }
        else {
            omitted++;
        }
    }
    d->emit->task_end(&d->w, omitted, as.unreadable);
}

/* signal-safe: one thread's loop and its tasks, up to max_frames of them. */
static void
walk_loop(fa_dump *d, fa_loop_step *st)
{
    if (!probed(d, step_loop_begin, st)) {
        return;
    }
    fa_task_step ts = {st, 0, NULL, NULL};
    long shown = 0;
    for (; shown < d->max_frames; shown++) {
        ts.index = shown;
        if (!probed(d, step_task_begin, &ts) || ts.task == NULL) {
            break;
        }
        walk_await_chain(d, &ts);
    }
    d->emit->loop_end(&d->w, st->total > shown ? st->total - shown : 0);
}

/* signal-safe: the asyncio section, when this dump has one: every thread
 * of the main interpreter that runs an event loop, with its loop's tasks.
 * On by default for every dump but a fatal one, whose process may be too
 * damaged for a long walk and whose cause is the crashing thread's own
 * stack; PYTHONFAULTHANDLER_ASYNCIO=1 or 0 decides for all. */
void
walk_asyncio(fa_dump *d, const fa_event *ev)
{
    int mode = asyncio_mode;
    if (mode == 0 || (mode < 0 && ev->event == EV_FATAL) || d->emit->cpython
        || fa_process.interp == NULL) {
        return;
    }
    fa_loop_step st;
    memset(&st, 0, sizeof(st));
    fa_thread_scan *sc = &d->scan;
    if (!probed(d, step_registry, &st.reg) || st.reg.task_type == NULL || !fa_scan_threads(d, sc)) {
        return;
    }
    d->emit->asyncio_begin(&d->w);
    st.ts = sc->head;
    for (long seen = 0; st.ts != NULL && seen < sc->total && seen < FA_MAX_LOOP_THREADS; seen++) {
        st.is_main = st.ts == sc->main;
        if (fa_thread_listed(d, seen, st.ts) && probed(d, step_thread_loop, &st) && st.loop != NULL) {
            walk_loop(d, &st);
            st.index++;
        }
        st.ts = fa_thread_after(d, sc, seen, st.ts);
    }
    d->emit->asyncio_end(&d->w);
}
