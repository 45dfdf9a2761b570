/* faults.h - real faults on demand (sigsegv(), stack_overflow(), ...), as
 * the original faulthandler 1.x offered, for testing a crash path. */
#ifndef FA_FAULTS_H
#define FA_FAULTS_H

#include "common.h"

FA_HIDDEN_BEGIN

PyObject *py_sigsegv(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *py_sigfpe(PyObject *self, PyObject *unused);
PyObject *py_sigbus(PyObject *self, PyObject *unused);
PyObject *py_sigill(PyObject *self, PyObject *unused);
PyObject *py_sigabrt(PyObject *self, PyObject *unused);
PyObject *py_stack_overflow(PyObject *self, PyObject *unused);

FA_HIDDEN_END

#endif
