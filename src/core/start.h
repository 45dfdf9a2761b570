/* start.h - the start-up fast path: the PYTHONFAULTHANDLER* variables read
 * and applied in C, for the forms config.py accepts without a word; any
 * other form is left to config.py, the owner of their meaning. */
#ifndef FA_START_H
#define FA_START_H

#include "common.h"

FA_HIDDEN_BEGIN

PyObject *fa_start_parse_environment(PyObject *module, PyObject *environ);
PyObject *fa_start(PyObject *module);
PyObject *fa_start_state(void);
PyObject *fa_start_stdlib_call(const char *name, PyObject *args, PyObject *kwargs);
int fa_start_constants(PyObject *module);

FA_HIDDEN_END

#endif
