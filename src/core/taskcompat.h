/* taskcompat.h - every difference between CPython versions that the asyncio
 * task walk (tasks.c) depends on: the layout of _asyncio's Task objects,
 * where each thread keeps its running loop (and, 3.14+, its tasks), how a
 * suspended coroutine names what it awaits, and how a plain object keeps
 * its attributes.  tests/test_asyncio.py proves these against
 * asyncio.all_tasks() on each version.
 *
 * The accessors are signal-safe (plain loads, no allocation) and meant to
 * be called inside a probe: what they read may be changing.
 */
#ifndef FA_TASKCOMPAT_H
#define FA_TASKCOMPAT_H

#include "facts.h"
#include "pycompat.h"

#include <opcode.h>
#if PY_VERSION_HEX >= 0x030D0000
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-parameter"
#  pragma GCC diagnostic ignored "-Wsign-compare"
#  pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#  include "internal/pycore_llist.h"
#  include "internal/pycore_tstate.h"
#  pragma GCC diagnostic pop
#endif

FA_HIDDEN_BEGIN

/* _asyncio's Task object: TaskObj and FutureObj_HEAD of
 * Modules/_asynciomodule.c at the v3.X tags (the module keeps them
 * private).  Only the fields up to the last one read matter, but every
 * field before them is declared as CPython declares it, bitfields too (3.13+
 * packs the future's and the task's into one word). */
typedef struct {
    PyObject_HEAD
    PyObject *loop;
    PyObject *callback0;
    PyObject *context0;
    PyObject *callbacks;
    PyObject *exception;
#if PY_VERSION_HEX >= 0x030A0000
    PyObject *exception_tb;
#endif
    PyObject *result;
    PyObject *source_tb;
    PyObject *cancel_msg;
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *cancelled_exc;
#  if PY_VERSION_HEX >= 0x030E0000
    PyObject *awaited_by;
#  endif
    int state;                  /* fut_state */
#  if PY_VERSION_HEX >= 0x030E0000
    char is_task;
    char awaited_by_is_set;
#  endif
    unsigned log_tb: 1;
    unsigned blocking: 1;
    unsigned must_cancel: 1;
    unsigned log_destroy_pending: 1;
    int num_cancels_requested;
    PyObject *fut_waiter;
    PyObject *coro;
    PyObject *name;
    PyObject *context;
#  if PY_VERSION_HEX >= 0x030E0000
    struct llist_node node;
#  endif
#else
    int state;                  /* fut_state */
    int log_tb;
    int blocking;
    PyObject *dict;
    PyObject *weakreflist;
#  if PY_VERSION_HEX >= 0x030B0000
    PyObject *cancelled_exc;
#  else
    _PyErr_StackItem cancelled_exc_state;
#  endif
    PyObject *fut_waiter;
    PyObject *coro;
    PyObject *name;
    PyObject *context;
    int must_cancel;
    int log_destroy_pending;
#  if PY_VERSION_HEX >= 0x030B0000
    int num_cancels_requested;
#  endif
#endif
} fa_task_obj;

/* fut_state's STATE_PENDING: the task is not done */
#define FA_TASK_PENDING 0

/* Was the task asked to cancel (it is then "cancelling" until done)? */
static inline int
fa_compat_task_cancelling(const fa_task_obj *t)
{
#if PY_VERSION_HEX >= 0x030B0000
    return t->must_cancel || t->num_cancels_requested > 0;
#else
    return t->must_cancel;
#endif
}

/* 3.14+ keeps the C tasks of each thread in a list in its state. */
#define FA_TASKS_PER_THREAD (PY_VERSION_HEX >= 0x030E0000)

/* Before, _asyncio's module dict names a WeakSet of its tasks, and 3.12+
 * a set of those running eagerly. */
#if PY_VERSION_HEX >= 0x030C0000
#  define FA_WEAK_TASKS_NAME "_scheduled_tasks"
#  define FA_EAGER_TASKS_NAME "_eager_tasks"
#else
#  define FA_WEAK_TASKS_NAME "_all_tasks"
#endif

#if FA_TASKS_PER_THREAD
static inline struct llist_node *
fa_compat_thread_tasks(PyThreadState *ts)
{
    return &((_PyThreadStateImpl *)ts)->asyncio_tasks_head;
}

static inline fa_task_obj *
fa_compat_task_of_node(struct llist_node *node)
{
    return (fa_task_obj *)((char *)node - offsetof(fa_task_obj, node));
}
#endif

/* The key of the thread's dict that holds its running loop before 3.13
 * (_asyncio's get_running_loop; 3.13+ keep it in the thread state). */
#define FA_RUNNING_LOOP_KEY "__asyncio_running_event_loop__"

/* 3.9-3.11 keep a holder object there (_RunningLoopHolder): its loop. */
typedef struct {
    PyObject_HEAD
    PyObject *loop;
} fa_running_loop_holder;

/* The loop a thread runs, from its state (3.14+) or from what its dict
 * holds under FA_RUNNING_LOOP_KEY (`held`, NULL when absent); NULL or
 * None when it runs none. */
static inline FA_RACY_READ PyObject *
fa_compat_running_loop(PyThreadState *ts, PyObject *held)
{
#if PY_VERSION_HEX >= 0x030D0000
    (void)held;
    return ((_PyThreadStateImpl *)ts)->asyncio_running_loop;
#elif PY_VERSION_HEX >= 0x030C0000
    (void)ts;
    return held;
#else
    (void)ts;
    return ptr_ok(held) ? ((fa_running_loop_holder *)held)->loop : NULL;
#endif
}

/* 3.14+ keeps the running task in the thread state; before, _asyncio's
 * _current_tasks dict maps each running loop to it. */
#define FA_CURRENT_TASK_IN_THREAD (PY_VERSION_HEX >= 0x030E0000)

#if FA_CURRENT_TASK_IN_THREAD
static inline FA_RACY_READ PyObject *
fa_compat_running_task(PyThreadState *ts)
{
    return ((_PyThreadStateImpl *)ts)->asyncio_running_task;
}
#endif

/* The frame of a coroutine or generator object (`gen`, checked), NULL when
 * it has none (it ended). */
static inline FA_RACY_READ fa_frame *
fa_compat_gen_frame(PyObject *gen)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyGenObject *g = (PyGenObject *)gen;
    if (g->gi_frame_state >= FRAME_CLEARED) {
        return NULL;
    }
    return (fa_frame *)&g->gi_iframe;
#else
    return ((PyGenObject *)gen)->gi_frame;
#endif
}

/* What a suspended coroutine awaits (CPython's _PyGen_yf: the top of its
 * stack while it is suspended in an `await` / `yield from`), not yet
 * checked; NULL when it awaits nothing.  `gen` is the object, `live` its
 * frame in place and `copy` a copy of it, whose pointers are followed only
 * after a check. */
static inline FA_RACY_READ PyObject *
fa_compat_gen_awaits(PyObject *gen, fa_frame *live, const fa_frame *copy)
{
#if PY_VERSION_HEX >= 0x030E0000
    if (((PyGenObject *)gen)->gi_frame_state != FRAME_SUSPENDED_YIELD_FROM) {
        return NULL;
    }
    /* 3.15 keeps a second item above it while suspended (_PyGen_yf's
     * _PyFrame_StackPeek(frame, 2)) */
    int depth = PY_VERSION_HEX >= 0x030F0000 ? 2 : 1;
    _PyStackRef *sp = copy->stackpointer;
    if (!ptr_ok(sp) || sp - depth < live->localsplus || sp > live->localsplus + (1 << 20)) {
        return NULL;
    }
    return PyStackRef_AsPyObjectBorrow(sp[-depth]);
#elif PY_VERSION_HEX >= 0x030B0000
    int state = ((PyGenObject *)gen)->gi_frame_state;
#  if PY_VERSION_HEX >= 0x030D0000
    if (state != FRAME_SUSPENDED_YIELD_FROM) {
        return NULL;
    }
#  else
    if (state != FRAME_SUSPENDED) {
        return NULL;
    }
    /* suspended in a `yield from` when it resumes at a RESUME whose
     * argument says so (2 and up) */
    _Py_CODEUNIT *next = copy->prev_instr + 1;
    if ((uintptr_t)next < 4096) {
        return NULL;
    }
    int op = _Py_OPCODE(*next);
#    if PY_VERSION_HEX >= 0x030C0000
    if ((op != RESUME && op != INSTRUMENTED_RESUME) || _Py_OPARG(*next) < 2) {
#    else
    if ((op != RESUME && op != RESUME_QUICK) || _Py_OPARG(*next) < 2) {
#    endif
        return NULL;
    }
#  endif
    int top = copy->stacktop;
    if (top < 1 || top > (1 << 20)) {
        return NULL;
    }
    return live->localsplus[top - 1];
#else
    (void)gen;
    (void)live;
    PyCodeObject *code = copy->f_code;
    if (!obj_ok((PyObject *)code, &PyCode_Type)) {
        return NULL;
    }
    PyObject *bytecode = code->co_code;
    if (copy->f_lasti < 0 || !obj_ok(bytecode, &PyBytes_Type)) {
        return NULL;
    }
#  if PY_VERSION_HEX >= 0x030A0000
    Py_ssize_t at = ((Py_ssize_t)copy->f_lasti + 1) * (Py_ssize_t)sizeof(_Py_CODEUNIT);
    int depth = copy->f_stackdepth;
    PyObject **stack = copy->f_valuestack;
#  else
    Py_ssize_t at = (Py_ssize_t)copy->f_lasti + (Py_ssize_t)sizeof(_Py_CODEUNIT);
    PyObject **stack = copy->f_valuestack;
    int depth = ptr_ok(copy->f_stacktop) ? (int)(copy->f_stacktop - stack) : 0;
#  endif
    if (at >= FA_SIZE(bytecode)
        || (unsigned char)((PyBytesObject *)bytecode)->ob_sval[at] != YIELD_FROM
        || depth < 1 || depth > (1 << 20) || !ptr_ok(stack)) {
        return NULL;
    }
    return stack[depth - 1];
#endif
}

/* signal-safe (probed): the value of `name` in the dict `dict`, NULL when
 * absent; PyDict_Next reads the table (split or not) without allocating. */
static inline FA_RACY_READ PyObject *
fa_compat_dict_get(PyObject *dict, const char *name, size_t len)
{
    if (!obj_ok(dict, &PyDict_Type)) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    for (long n = 0; n < (1L << 20) && PyDict_Next(dict, &pos, &key, &value); n++) {
        if (ascii_equal(key, name, len)) {
            return value;
        }
    }
    return NULL;
}

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
/* The shared keys of a class's instances: PyDictKeysObject of
 * Include/internal/pycore_dict.h, 3.11 to 3.13 (default builds), whose
 * internal headers cannot be included after Python.h. */
typedef struct {
    Py_ssize_t refcnt;
    uint8_t log2_size;
    uint8_t log2_index_bytes;
    uint8_t kind;               /* 2: DICT_KEYS_SPLIT */
    uint32_t version;
    Py_ssize_t usable;
    Py_ssize_t nentries;
    char indices[];             /* 1 << log2_index_bytes bytes, then the entries */
} fa_dict_keys;

typedef struct {
    PyObject *key;
    PyObject *value;
} fa_dict_unicode_entry;

/* the attribute values of an instance (PyDictValues) */
typedef struct {
#  if PY_VERSION_HEX >= 0x030D0000
    uint8_t capacity;
    uint8_t size;
    uint8_t embedded;
    uint8_t valid;
#  endif
    PyObject *values[1];
} fa_dict_values;

/* signal-safe (probed): `name` in values kept beside the shared keys of
 * the object's class (3.11+ "managed" attributes). */
static inline FA_RACY_READ PyObject *
fa_compat_values_get(PyObject *obj, fa_dict_values *values, const char *name, size_t len)
{
    fa_dict_keys *keys = (fa_dict_keys *)((PyHeapTypeObject *)FA_TYPE(obj))->ht_cached_keys;
    if (!ptr_ok(keys) || !ptr_ok(values) || keys->kind != 2 || keys->log2_index_bytes > 40) {
        return NULL;
    }
    Py_ssize_t n = keys->nentries;
    fa_dict_unicode_entry *entries =
        (fa_dict_unicode_entry *)(keys->indices + ((size_t)1 << keys->log2_index_bytes));
    for (Py_ssize_t i = 0; i < n && i < (1 << 16); i++) {
        if (ascii_equal(entries[i].key, name, len)) {
            return values->values[i];
        }
    }
    return NULL;
}
#endif

/* signal-safe (probed): the attribute `name` of an instance of a class
 * defined in Python, read where CPython keeps it (never through a
 * descriptor or __getattr__), NULL when not found there. */
static inline FA_RACY_READ PyObject *
fa_compat_attr(PyObject *obj, const char *name, size_t len)
{
    PyTypeObject *type = FA_TYPE(obj);
    if (!ptr_ok(type) || !(type->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14+ keeps its tasks in thread states: no attribute is read */
    (void)name;
    (void)len;
    return NULL;
#elif PY_VERSION_HEX >= 0x030D0000
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        /* the managed dict pointer, 3 words before the object */
        PyObject *dict = ((PyObject **)obj)[-3];
        if (dict != NULL) {
            return fa_compat_dict_get(dict, name, len);
        }
        if (!(type->tp_flags & Py_TPFLAGS_INLINE_VALUES)) {
            return NULL;
        }
        fa_dict_values *values = (fa_dict_values *)((char *)obj + type->tp_basicsize);
        return values->valid ? fa_compat_values_get(obj, values, name, len) : NULL;
    }
#elif PY_VERSION_HEX >= 0x030C0000
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        /* 3 words before the object: a dict, or values stored one byte
         * back (so that bit 0 tells them apart) */
        uintptr_t dv = ((uintptr_t *)obj)[-3];
        if (dv & 1) {
            return fa_compat_values_get(obj, (fa_dict_values *)(dv + 1), name, len);
        }
        return fa_compat_dict_get((PyObject *)dv, name, len);
    }
#elif PY_VERSION_HEX >= 0x030B0000
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        PyObject *dict = ((PyObject **)obj)[-3];
        if (dict != NULL) {
            return fa_compat_dict_get(dict, name, len);
        }
        fa_dict_values *values = ((fa_dict_values **)obj)[-4];
        return values != NULL ? fa_compat_values_get(obj, values, name, len) : NULL;
    }
#endif
#if PY_VERSION_HEX < 0x030E0000
    if (type->tp_dictoffset > 0) {
        return fa_compat_dict_get(*(PyObject **)((char *)obj + type->tp_dictoffset), name, len);
    }
    return NULL;
#endif
}

/* A task's name is a str, or 3.13+ an int n until asked for ("Task-n"):
 * that int when it is one and small, else -1. */
static inline FA_RACY_READ long long
fa_compat_name_number(PyObject *name)
{
#if PY_VERSION_HEX >= 0x030C0000
    /* _PyLong_IsCompact and _PyLong_CompactValue, read here (see FA_TYPE) */
    if (obj_ok(name, &PyLong_Type)) {
        const PyLongObject *v = (const PyLongObject *)name;
        uintptr_t tag = v->long_value.lv_tag;
        if (tag < (2 << _PyLong_NON_SIZE_BITS)) {
            return (1 - (long long)(tag & _PyLong_SIGN_MASK)) * (long long)v->long_value.ob_digit[0];
        }
    }
#else
    (void)name;
#endif
    return -1;
}

FA_HIDDEN_END

#endif
