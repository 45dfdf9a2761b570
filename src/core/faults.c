/* faults.c - real faults on demand, as the original faulthandler 1.x
 * offered. */
#include "faults.h"

/* The faults are the point: UBSan must not report them instead. */
#if defined(__GNUC__)
#  define FA_REAL_FAULT __attribute__((no_sanitize_undefined))
#else
#  define FA_REAL_FAULT
#endif

static FA_REAL_FAULT void
read_null(void)
{
    volatile int *null = NULL;
    *null = 1;
    raise(SIGSEGV);
}

/* sigsegv(release_gil=False), faulthandler 1.x's signature: with the GIL
 * released the crash comes from a thread that holds no GIL, as in a C
 * library called without it. */
PyObject *
py_sigsegv(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"release_gil", NULL};
    int release_gil = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:sigsegv", keywords, &release_gil)) {
        return NULL;
    }
    if (release_gil) {
        Py_BEGIN_ALLOW_THREADS
        read_null();
        Py_END_ALLOW_THREADS
    }
    else {
        read_null();
    }
    Py_RETURN_NONE;
}

FA_REAL_FAULT PyObject *
py_sigfpe(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
#if defined(__x86_64__) || defined(__i386__)
    /* both volatile, or gcc folds the division into a compare */
    volatile int one = 1, zero = 0;
    volatile int x = one / zero;
    (void)x;
#endif
    raise(SIGFPE);
    Py_RETURN_NONE;
}

PyObject *
py_sigbus(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    raise(SIGBUS);
    Py_RETURN_NONE;
}

PyObject *
py_sigill(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_trap();
#endif
    raise(SIGILL);
    Py_RETURN_NONE;
}

PyObject *
py_sigabrt(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    abort();
}

/* Recurse with a page of stack per call until the guard page is hit. */
static uintptr_t __attribute__((noinline))
overflow(volatile char *prev, uintptr_t depth)
{
    volatile char page[4096];
    page[0] = (char)depth;
    page[4095] = prev ? prev[0] : 0;
    if (depth == UINTPTR_MAX) {
        return 0;
    }
    return overflow(page, depth + 1) + page[100];
}

PyObject *
py_stack_overflow(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromSize_t(overflow(NULL, 0));
}
