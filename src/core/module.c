/* module.c - faulthandler_auto._native: the Python-facing functions, which
 * parse their arguments and call the subsystem that owns the work, and the
 * module's (multi-phase) initialisation.  Everything here runs with the GIL
 * and is not signal-safe. */
#include "common.h"
#include "context.h"
#include "cstack.h"
#include "dest.h"
#include "dump.h"
#include "facts.h"
#include "fatal.h"
#include "faults.h"
#include "budget.h"
#include "probes.h"
#include "start.h"
#include "tasks.h"
#include "threads.h"
#include "tree.h"
#include "usersig.h"
#include "util.h"
#include "watchdog.h"

#ifdef __linux__
#  include <sys/auxv.h>
#endif

/* The hook and the core belong to the main interpreter: the state they
 * set is the process's, and a subinterpreter (which `site` runs our hook
 * in again) must neither re-point it nor leave it pointing at itself.
 * Every function that sets or uses that state refuses elsewhere. */
static int
main_interpreter_only(void)
{
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "faulthandler_auto works in the main interpreter only");
        return -1;
    }
    return 0;
}

static PyObject *
py_is_main_interpreter(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(PyInterpreterState_Get() == PyInterpreterState_Main());
}

static PyObject *
py_set_limits(PyObject *self, PyObject *args)
{
    (void)self;
    long rate;
    long long bytes;
    if (main_interpreter_only() < 0 || !PyArg_ParseTuple(args, "lL", &rate, &bytes)) {
        return NULL;
    }
    if (rate < 0 || bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "limits must be 0 (none) or more");
        return NULL;
    }
    fa_limits_set(rate, bytes);
    Py_RETURN_NONE;
}

static PyObject *
py_setup(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    const char *prog, *python;
    PyObject *hidden_names;
    if (!PyArg_ParseTuple(args, "ssS", &prog, &python, &hidden_names)) {
        return NULL;
    }
    if (fa_process_setup(prog, python, hidden_names) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
py_set_output(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    int format;
    long max_frames, max_threads;
    if (!PyArg_ParseTuple(args, "ill", &format, &max_frames, &max_threads)) {
        return NULL;
    }
    fa_set_output(format, max_frames, max_threads);
    Py_RETURN_NONE;
}

static PyObject *
py_set_asyncio(PyObject *self, PyObject *arg)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    long mode = PyLong_AsLong(arg);
    if (mode == -1 && PyErr_Occurred()) {
        return NULL;
    }
    fa_set_asyncio(mode < 0 ? -1 : mode > 0);
    Py_RETURN_NONE;
}

static PyObject *
py_enable(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    PyObject *dest_obj;
    int all_threads, c_stack;
    long max_threads = 0;
    if (!PyArg_ParseTuple(args, "Opp|l", &dest_obj, &all_threads, &c_stack, &max_threads)) {
        return NULL;
    }
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    if (fa_fatal_enable(&dest, all_threads, c_stack, max_threads) < 0) {
        return PyErr_SetFromErrno(PyExc_RuntimeError);
    }
    Py_RETURN_NONE;
}

static PyObject *
py_disable(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    return PyBool_FromLong(fa_fatal_disable());
}

static PyObject *
py_is_enabled(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(fa_fatal_is_enabled());
}

/* The explicit dumps run with the GIL held, like CPython's, so the frames do
 * not change under us; they take the dump lock so they never interleave with
 * a signal or timeout dump, and write the signal dumps that came meanwhile
 * after their own. */
static PyObject *
explicit_dump(PyObject *dest_obj, int event, int all_threads, int skip, long max_threads)
{
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    if (event == EV_C_STACK) {
        fa_prime_unwinder();
    }
    fa_fatal_hold_faults();
    int locked = dump_lock_acquire(5000, NULL);
    if (!locked) {
        PyErr_SetString(PyExc_RuntimeError,
                        "another dump has been being written for 5 seconds; not dumping");
        return NULL;
    }
    fa_event ev = {event, 0, NULL, 0, NULL, all_threads, 0, skip, 0, 0, 0, max_threads, NULL, NULL, 0};
    dump_to_dest(&dest, &ev, NULL);
    dump_lock_release(locked);
    fa_user_serve(0);
    Py_RETURN_NONE;
}

static PyObject *
py_dump_traceback(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    PyObject *dest_obj;
    int all_threads, skip;
    long max_threads = 0;
    if (!PyArg_ParseTuple(args, "Opi|l", &dest_obj, &all_threads, &skip, &max_threads)) {
        return NULL;
    }
    return explicit_dump(dest_obj, EV_EXPLICIT, all_threads, skip, max_threads);
}

static PyObject *
py_dump_c_stack(PyObject *self, PyObject *dest_obj)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    return explicit_dump(dest_obj, EV_C_STACK, 0, 0, 0);
}

static PyObject *
py_dump_later(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    long long timeout_us;
    int repeat, do_exit, task = 0;
    PyObject *dest_obj;
    const char *header;
    int all_threads = 1;
    long max_threads = 0;
    if (!PyArg_ParseTuple(args, "LpOps|ppl", &timeout_us, &repeat, &dest_obj, &do_exit, &header,
                          &task, &all_threads, &max_threads)) {
        return NULL;
    }
    if (timeout_us <= 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be greater than 0");
        return NULL;
    }
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    int err;
    fa_fatal_hold_faults();     /* with the GIL, like every change of the table */
    Py_BEGIN_ALLOW_THREADS
    err = fa_watchdog_arm(task ? FA_TIMER_TASK : FA_TIMER_PROCESS, &dest, timeout_us, repeat,
                          do_exit, header, all_threads, max_threads);
    Py_END_ALLOW_THREADS
    if (err) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_RuntimeError);
    }
    Py_RETURN_NONE;
}

static PyObject *
py_cancel_later(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    int task = 0;
    if (!PyArg_ParseTuple(args, "|p", &task)) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    fa_watchdog_cancel(task ? FA_TIMER_TASK : FA_TIMER_PROCESS);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* watchdog_arm(timeout_us, dest, exit, header, name) -> (slot, generation):
 * a named watchdog (faulthandler_auto.watchdog); `name` is UTF-8 bytes.
 * RuntimeError when every slot is taken. */
static PyObject *
py_watchdog_arm(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    long long timeout_us;
    int do_exit;
    PyObject *dest_obj;
    const char *header, *name;
    Py_ssize_t name_len;
    if (!PyArg_ParseTuple(args, "LOpsy#", &timeout_us, &dest_obj, &do_exit, &header,
                          &name, &name_len)) {
        return NULL;
    }
    if (timeout_us <= 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be greater than 0");
        return NULL;
    }
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    int err, slot = 0;
    unsigned long generation = 0;
    fa_fatal_hold_faults();     /* with the GIL, like every change of the table */
    Py_BEGIN_ALLOW_THREADS
    err = fa_watchdog_named_arm(&dest, timeout_us, do_exit, header, name, (size_t)name_len,
                                &slot, &generation);
    Py_END_ALLOW_THREADS
    if (err == ENOSPC) {
        PyErr_Format(PyExc_RuntimeError,
                     "faulthandler-auto: all %d watchdog slots are in use "
                     "(cancel one, or leave its with-block, first)", FA_WATCHDOG_SLOTS);
        return NULL;
    }
    if (err) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_RuntimeError);
    }
    return Py_BuildValue("(ik)", slot, generation);
}

/* watchdog_cancel(slot, generation): O(1); a stale handle does nothing. */
static PyObject *
py_watchdog_cancel(PyObject *self, PyObject *args)
{
    (void)self;
    int slot;
    unsigned long generation;
    if (!PyArg_ParseTuple(args, "ik", &slot, &generation)) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    fa_watchdog_named_cancel(slot, generation);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* In a forked child only the calling thread is left: each subsystem drops
 * what other threads held, and the watchdog starts over.  A fork from a
 * process that uses multiprocessing may be one of its children (start
 * methods fork and forkserver): the package's _watch_multiprocessing names
 * it for {worker}.  Looked up here, in the child, because a Python
 * function in os.register_at_fork's list keeps its module's globals alive
 * until late in finalization, which costs every process at exit. */
static PyObject *
py_after_fork_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    fa_dump_after_fork();
    fa_fatal_after_fork();
    fa_probes_after_fork();
    fa_threads_after_fork();
    fa_context_after_fork();
    fa_tree_after_fork();
    if (fa_watchdog_after_fork() < 0) {
        return PyErr_SetFromErrno(PyExc_RuntimeError);
    }
    PyObject *modules = PyImport_GetModuleDict();
    if (PyDict_GetItemString(modules, "multiprocessing.util") != NULL) {
        /* imported here when start() prepared the process without it */
        PyObject *package = PyImport_ImportModule("faulthandler_auto");
        PyObject *done = package ? PyObject_CallMethod(package, "_watch_multiprocessing", NULL)
                                 : NULL;
        if (done == NULL) {
            PyErr_Clear();  /* a name for dump files never fails a fork */
        }
        Py_XDECREF(done);
        Py_XDECREF(package);
    }
    Py_RETURN_NONE;
}

/* A signal number a table indexed by signal can hold, else ValueError. */
static int
check_signum(long signum)
{
    if (signum <= 0 || signum >= FA_NSIG) {
        PyErr_SetString(PyExc_ValueError, "signal number out of range");
        return -1;
    }
    return 0;
}

static PyObject *
py_register(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    int signum, all_threads, chain;
    long max_threads = 0;
    PyObject *dest_obj;
    if (!PyArg_ParseTuple(args, "iOpp|l", &signum, &dest_obj, &all_threads, &chain, &max_threads)) {
        return NULL;
    }
    if (check_signum(signum) < 0) {
        return NULL;
    }
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    if (fa_user_register(signum, &dest, all_threads, chain, max_threads) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
py_unregister(PyObject *self, PyObject *arg)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    long signum = PyLong_AsLong(arg);
    if (signum == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (check_signum(signum) < 0) {
        return NULL;
    }
    return PyBool_FromLong(fa_user_unregister((int)signum));
}

/* set_tree(enabled, dest, wait_ms, total_ms): answer process-tree requests
 * with a dump to `dest`, and ask the descendants on timeout (tree.h). */
static PyObject *
py_set_tree(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    int enabled;
    PyObject *dest_obj;
    long wait_ms, total_ms;
    if (!PyArg_ParseTuple(args, "pOll", &enabled, &dest_obj, &wait_ms, &total_ms)) {
        return NULL;
    }
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    if (enabled) {
        fa_fatal_hold_faults();
    }
    if (fa_tree_set(enabled, &dest, wait_ms, total_ms) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* run_thread(name, function, *args, **kwargs): the body of every thread
 * started through `threading` (see _install_thread_hook). */
static PyObject *
py_run_thread(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    if (PyTuple_GET_SIZE(args) < 2 || !PyUnicode_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError, "run_thread(name, function, *args, **kwargs)");
        return NULL;
    }
    Py_ssize_t len = 0;
    const char *name = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(args, 0), &len);
    if (name == NULL) {
        PyErr_Clear();      /* a name with lone surrogates: run it unnamed */
        name = "";
        len = 0;
    }
    PyObject *rest = PyTuple_GetSlice(args, 2, PyTuple_GET_SIZE(args));
    if (rest == NULL) {
        return NULL;
    }
    fa_thread_enter(name, (size_t)len);
    PyObject *result = PyObject_Call(PyTuple_GET_ITEM(args, 1), rest, kwargs);
    fa_thread_leave();
    fa_context_thread_gone((unsigned long)pthread_self());
    Py_DECREF(rest);
    return result;
}

/* start_thread(start, function, *args, **kwargs): what `_thread`'s
 * starters are replaced with, bound to the original `start` (see
 * _install_thread_hook).  It is C so that the wrapper left in `_thread`
 * keeps no Python function, and through it the package's globals, alive
 * until interpreter exit: clearing those at finalization cost more than the
 * rest of the patch.  The thread's body is run_thread bound to the name of
 * the `threading.Thread` whose method `function` is ("" when there is
 * none), then to `function`: two bound methods of C, so the new thread's
 * Python stack gains no frame of ours. */
static PyObject *
py_start_thread(PyObject *module, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) < 2) {
        PyErr_SetString(PyExc_TypeError, "start_thread(start, function, *args, **kwargs)");
        return NULL;
    }
    PyObject *start = PyTuple_GET_ITEM(args, 0);
    PyObject *function = PyTuple_GET_ITEM(args, 1);
    PyObject *name = NULL;
    PyObject *thread = PyObject_GetAttrString(function, "__self__");
    if (thread != NULL) {
        name = PyObject_GetAttrString(thread, "name");
        Py_DECREF(thread);
    }
    if (name == NULL || !PyUnicode_Check(name)) {
        PyErr_Clear();      /* not a Thread's method: run it unnamed */
        Py_XDECREF(name);
        name = PyUnicode_FromString("");
        if (name == NULL) {
            return NULL;
        }
    }
    PyObject *run = PyObject_GetAttrString(module, "run_thread");
    PyObject *named = run == NULL ? NULL : PyMethod_New(run, name);
    PyObject *body = named == NULL ? NULL : PyMethod_New(named, function);
    Py_XDECREF(run);
    Py_XDECREF(named);
    Py_DECREF(name);
    if (body == NULL) {
        return NULL;
    }
    /* (body, *args[2:]): the arguments `start` was called with, the
     * function replaced by body */
    PyObject *forward = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (forward == NULL) {
        Py_DECREF(body);
        return NULL;
    }
    PyObject *old = PyTuple_GET_ITEM(forward, 0);
    PyTuple_SET_ITEM(forward, 0, body);
    Py_DECREF(old);
    PyObject *result = PyObject_Call(start, forward, kwargs);
    Py_DECREF(forward);
    return result;
}

/* name_thread(ident, name): a thread that was running before we were
 * loaded (so did not start through run_thread). */
static PyObject *
py_name_thread(PyObject *self, PyObject *args)
{
    (void)self;
    if (main_interpreter_only() < 0) {
        return NULL;
    }
    unsigned long ident;
    PyObject *name_obj;
    if (!PyArg_ParseTuple(args, "kU", &ident, &name_obj)) {
        return NULL;
    }
    Py_ssize_t len = 0;
    const char *name = PyUnicode_AsUTF8AndSize(name_obj, &len);
    if (name == NULL) {
        PyErr_Clear();      /* lone surrogates: leave it unnamed */
        name = "";
        len = 0;
    }
    fa_thread_set_name(ident, name, (size_t)len);
    Py_RETURN_NONE;
}

/* expand_path(template, pid, ppid, prog, time) -> bytes: the file a dump
 * of process `pid` at `time` (seconds since the epoch) would open for a
 * checked template; the CLI's view of a destination. */
static PyObject *
py_expand_path(PyObject *self, PyObject *args)
{
    (void)self;
    const char *tmpl, *prog;
    unsigned long long pid, ppid;
    long long when;
    if (!PyArg_ParseTuple(args, "yKKyL", &tmpl, &pid, &ppid, &prog, &when)) {
        return NULL;
    }
    fa_template_values values = {pid, ppid, prog, (time_t)when};
    char out[FA_PATH_SIZE];
    if (!fa_expand_path(tmpl, &values, out, sizeof(out))) {
        PyErr_Format(PyExc_ValueError, "path longer than %d bytes", FA_PATH_SIZE - 1);
        return NULL;
    }
    return PyBytes_FromString(out);
}

/* path_problem(path) -> str or None: why a dump could not be written to
 * the expanded `path` now (the words of the note a dump would print), found
 * without creating anything. */
static PyObject *
py_path_problem(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyBytes_Check(arg) || strlen(PyBytes_AS_STRING(arg)) != (size_t)PyBytes_GET_SIZE(arg)) {
        PyErr_SetString(PyExc_TypeError, "path_problem(path: bytes without NUL)");
        return NULL;
    }
    const char *problem;
    Py_BEGIN_ALLOW_THREADS
    problem = fa_path_problem(PyBytes_AS_STRING(arg));
    Py_END_ALLOW_THREADS
    if (problem == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString(problem);
}

/* set_context(label: bytes, thread: bool); an empty label removes it. */
static PyObject *
py_set_context(PyObject *self, PyObject *args)
{
    (void)self;
    const char *s;
    Py_ssize_t n;
    int thread;
    if (!PyArg_ParseTuple(args, "y#p", &s, &n, &thread)) {
        return NULL;
    }
    static int said_full;
    if (fa_context_set(thread ? (unsigned long)pthread_self() : 0, s, (size_t)n) < 0
        && !said_full) {
        /* a label is a diagnostic aid: the program goes on without it */
        said_full = 1;
        PySys_WriteStderr("faulthandler-auto: more than %d live threads with a context label;"
                          " the labels of the others are not shown\n", FA_CONTEXT_THREADS);
    }
    Py_RETURN_NONE;
}

/* set_worker(name: bytes), already checked to be a file name. */
static PyObject *
py_set_worker(PyObject *self, PyObject *args)
{
    (void)self;
    const char *s;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y#", &s, &n)) {
        return NULL;
    }
    fa_context_set_worker(s, (size_t)n);
    Py_RETURN_NONE;
}

/* redirect_std(stdout_fd, stderr_fd), -1 for none. */
static PyObject *
py_redirect_std(PyObject *self, PyObject *args)
{
    (void)self;
    int stdout_fd, stderr_fd;
    if (!PyArg_ParseTuple(args, "ii", &stdout_fd, &stderr_fd)) {
        return NULL;
    }
    fa_context_set_std(stdout_fd, stderr_fd);
    Py_RETURN_NONE;
}

/* Variables must be ignored by setuid and setgid programs, as the dynamic
 * loader ignores LD_* there. */
static PyObject *
py_secure_mode(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
#ifdef AT_SECURE
    return PyBool_FromLong(getauxval(AT_SECURE) != 0);
#else
    return PyBool_FromLong(getuid() != geteuid() || getgid() != getegid());
#endif
}

static PyObject *
py_start(PyObject *self, PyObject *unused)
{
    (void)unused;
    return fa_start(self);
}

static PyObject *
py_started(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return fa_start_state();
}

static PyObject *
py_stdlib_enable(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return fa_start_stdlib_call("enable", args, kwargs);
}

static PyObject *
py_stdlib_disable(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return fa_start_stdlib_call("disable", args, kwargs);
}

static PyMethodDef native_methods[] = {
    {"start", py_start, METH_NOARGS,
     "start() -> bool: apply the PYTHONFAULTHANDLER* variables if sure of them all (start.c)"},
    {"parse_environment", fa_start_parse_environment, METH_O,
     "parse_environment(environ: dict) -> the Config fields start() applies, or None"},
    {"started", py_started, METH_NOARGS, "started() -> what start() did, for the package"},
    {"stdlib_enable", (PyCFunction)(void (*)(void))py_stdlib_enable, METH_VARARGS | METH_KEYWORDS,
     "faulthandler.enable while start() holds it"},
    {"stdlib_disable", (PyCFunction)(void (*)(void))py_stdlib_disable,
     METH_VARARGS | METH_KEYWORDS, "faulthandler.disable while start() holds it"},
    {"setup", py_setup, METH_VARARGS, "setup(prog, python_version, hidden_names)"},
    {"set_output", py_set_output, METH_VARARGS, "set_output(format, max_frames, max_threads)"},
    {"set_asyncio", py_set_asyncio, METH_O, "set_asyncio(mode): -1 default, 0 off, 1 on"},
    {"enable", py_enable, METH_VARARGS, "enable(dest, all_threads, c_stack, max_threads=0)"},
    {"disable", py_disable, METH_NOARGS, "disable() -> bool"},
    {"is_enabled", py_is_enabled, METH_NOARGS, "is_enabled() -> bool"},
    {"dump_traceback", py_dump_traceback, METH_VARARGS,
     "dump_traceback(dest, all_threads, skip, max_threads=0)"},
    {"dump_c_stack", py_dump_c_stack, METH_O, "dump_c_stack(dest)"},
    {"dump_traceback_later", py_dump_later, METH_VARARGS,
     "dump_traceback_later(timeout_us, repeat, dest, exit, header[, task[, all_threads[, "
     "max_threads]]])"},
    {"cancel_dump_traceback_later", py_cancel_later, METH_VARARGS,
     "cancel_dump_traceback_later([task])"},
    {"watchdog_arm", py_watchdog_arm, METH_VARARGS,
     "watchdog_arm(timeout_us, dest, exit, header, name) -> (slot, generation)"},
    {"watchdog_cancel", py_watchdog_cancel, METH_VARARGS, "watchdog_cancel(slot, generation)"},
    {"after_fork_child", py_after_fork_child, METH_NOARGS, NULL},
    {"register", py_register, METH_VARARGS,
     "register(signum, dest, all_threads, chain, max_threads=0)"},
    {"unregister", py_unregister, METH_O, "unregister(signum) -> bool"},
    {"set_tree", py_set_tree, METH_VARARGS, "set_tree(enabled, dest, wait_ms, total_ms)"},
    {"run_thread", (PyCFunction)(void (*)(void))py_run_thread, METH_VARARGS | METH_KEYWORDS,
     "run_thread(name, function, *args, **kwargs)"},
    {"start_thread", (PyCFunction)(void (*)(void))py_start_thread, METH_VARARGS | METH_KEYWORDS,
     "start_thread(start, function, *args, **kwargs)"},
    {"name_thread", py_name_thread, METH_VARARGS, "name_thread(ident, name)"},
    {"expand_path", py_expand_path, METH_VARARGS, "expand_path(template, pid, ppid, prog, time) -> bytes"},
    {"path_problem", py_path_problem, METH_O, "path_problem(path) -> str or None"},
    {"set_context", py_set_context, METH_VARARGS, "set_context(label: bytes, thread: bool)"},
    {"redirect_std", py_redirect_std, METH_VARARGS, "redirect_std(stdout_fd, stderr_fd)"},
    {"set_worker", py_set_worker, METH_VARARGS, "set_worker(name: bytes)"},
    {"secure_mode", py_secure_mode, METH_NOARGS, "True in a setuid/setgid process"},
    {"is_main_interpreter", py_is_main_interpreter, METH_NOARGS,
     "whether this is the main interpreter, the only one the core serves"},
    {"set_limits", py_set_limits, METH_VARARGS,
     "set_limits(rate, bytes_per_minute): the budget of on-demand dumps, 0 for none"},
    {"sigsegv", (PyCFunction)(void (*)(void))py_sigsegv, METH_VARARGS | METH_KEYWORDS,
     "sigsegv(release_gil=False)"},
    {"sigfpe", py_sigfpe, METH_NOARGS, NULL},
    {"sigbus", py_sigbus, METH_NOARGS, NULL},
    {"sigill", py_sigill, METH_NOARGS, NULL},
    {"sigabrt", py_sigabrt, METH_NOARGS, NULL},
    {"stack_overflow", py_stack_overflow, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* A tuple of `n` items made by `make` (a new reference each), or NULL. */
static PyObject *
tuple_of(int n, PyObject *(*make)(const void *items, int i), const void *items)
{
    PyObject *tuple = PyTuple_New(n);
    for (int i = 0; tuple != NULL && i < n; i++) {
        PyObject *item = make(items, i);
        if (item == NULL) {
            Py_CLEAR(tuple);
            break;
        }
        PyTuple_SET_ITEM(tuple, i, item);
    }
    return tuple;
}

static PyObject *
int_item(const void *items, int i)
{
    return PyLong_FromLong(((const int *)items)[i]);
}

static PyObject *
str_item(const void *items, int i)
{
    return PyUnicode_FromString(((const char *const *)items)[i]);
}

/* Add `value` (a new reference, or NULL on error) to the module. */
static int
add_constant(PyObject *module, const char *name, PyObject *value)
{
    if (value == NULL || PyModule_AddObject(module, name, value) < 0) {
        Py_XDECREF(value);
        return -1;
    }
    return 0;
}

/* The core's own tables, as module constants, so that a test can prove the
 * Python side's lists say the same. */
static int
add_tables(PyObject *module)
{
    int signals[8];
    int nsignals = fa_fatal_signal_numbers(signals, 8);
    int nfields;
    const char *const *fields = fa_template_fields(&nfields);
    if (nsignals > 8) {
        PyErr_SetString(PyExc_SystemError, "more fatal signals than room for them");
        return -1;
    }
    if (add_constant(module, "FATAL_SIGNALS", tuple_of(nsignals, int_item, signals)) < 0
        || add_constant(module, "TEMPLATE_FIELDS", tuple_of(nfields, str_item, fields)) < 0
        || add_constant(module, "ENV_FIELD", PyUnicode_FromString(FA_ENV_FIELD)) < 0
        || add_constant(module, "ENV_NAME_MAX", PyLong_FromLong(FA_ENV_NAME_MAX)) < 0
        || add_constant(module, "ENV_VALUE_MAX", PyLong_FromLong(FA_ENV_VALUE_MAX)) < 0
        || add_constant(module, "ENV_UNSET", PyUnicode_FromString(FA_ENV_UNSET)) < 0
        || add_constant(module, "TREE_SIGNAL", PyLong_FromLong(FA_TREE_SIGNAL)) < 0
        || fa_start_constants(module) < 0) {
        return -1;
    }
    return 0;
}

/* exit() ends every thread at once, in the middle of whatever it
 * writes: a signal's dump on another thread would be lost, and a crash on
 * another thread would end with status 0 and half a dump.  So exit() (an
 * atexit function: after Py_Finalize when the program returns, without
 * the GIL; with it when C code calls exit()) lets them finish first: a
 * crash until it ends the process, even one that comes while exit()
 * waits; any other dump, and the deliveries counted meanwhile, for
 * FA_EXIT_WAIT_MS at most (a dump held longer, on a pipe nobody reads, is
 * left). */
#define FA_EXIT_WAIT_MS 5000

static void
finish_dumps_at_exit(void)
{
    long long deadline = fa_now_ms() + FA_EXIT_WAIT_MS;
    for (;;) {
        fa_fatal_wait_at_exit(FA_EXIT_WAIT_MS);
        /* deliveries counted and not dumped yet: written here when no
         * other thread holds the lock (that one writes them) */
        int left = fa_user_serve(deadline);
        int holder = dump_lock_holder();
        /* FA_LOCK_FREE with some left: the holder let go after our try
         * and may be taking the lock again for them: look again */
        if ((holder != FA_LOCK_OTHER && (!left || holder == FA_LOCK_STUCK))
            || fa_now_ms() >= deadline) {
            break;
        }
        fa_sleep_ms(1);
    }
    fa_fatal_wait_at_exit(FA_EXIT_WAIT_MS);
}

/* The state is the process's, not the module's: a second interpreter that
 * imports the module shares it, so it is set up once. */
static int
native_exec(PyObject *module)
{
    static int done;
    if (!done) {
        fa_util_init();
        fa_watchdog_init();
        fa_cstack_init((void *)&native_exec);
        (void)atexit(finish_dumps_at_exit);
        done = 1;
    }
    return add_tables(module);
}

static PyModuleDef_Slot native_slots[] = {
    {Py_mod_exec, (void *)native_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* the module may be imported by any interpreter (the hook runs in
     * subinterpreters too), but only the main one can use it: every
     * function that touches the process-wide state refuses elsewhere
     * (main_interpreter_only), so no state and no object is shared with
     * an interpreter that has its own GIL */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* the dumps read other threads' frames as the GIL leaves them */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "faulthandler_auto._native",
    "The async-signal-safe core of faulthandler-auto.", 0, native_methods,
    native_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModuleDef_Init(&native_module);
}
