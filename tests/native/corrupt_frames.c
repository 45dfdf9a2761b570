/* corrupt_frames.c - a test-only extension module (never shipped): it
 * breaks the calling thread's frame chain for a while, so a test can check
 * that a dump from another thread prints a marker and goes on.  Built by
 * the tests' shared_library helper against the core's version shims. */
#include "pycompat.h"

#include <sys/mman.h>

/* corrupt_frames_for(seconds): point the calling thread's innermost frame
 * link at unmapped memory for `seconds`, with the GIL released so other
 * threads can dump meanwhile.  The link is put back before returning. */
static PyObject *
corrupt_frames_for(PyObject *self, PyObject *arg)
{
    (void)self;
    double seconds = PyFloat_AsDouble(arg);
    if (seconds == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    fa_frame *top = fa_compat_top_frame(PyThreadState_Get());
    if (top == NULL) {
        Py_RETURN_NONE;
    }
    void *bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fa_frame *saved = FA_FRAME_BACK(top);
    FA_FRAME_BACK(top) = (fa_frame *)bad;
    Py_BEGIN_ALLOW_THREADS
    struct timespec pause = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&pause, NULL);
    Py_END_ALLOW_THREADS
    FA_FRAME_BACK(top) = saved;
    munmap(bad, 4096);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"corrupt_frames_for", corrupt_frames_for, METH_O, "corrupt_frames_for(seconds)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "corrupt_frames", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit_corrupt_frames(void)
{
    return PyModule_Create(&module);
}
