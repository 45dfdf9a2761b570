/* facts.h - what a dump says about the process: its name, Python version,
 * modules, the time, and the words for signals, fault codes and errnos.
 * Everything but fa_process_setup is signal-safe. */
#ifndef FA_FACTS_H
#define FA_FACTS_H

#include "common.h"

FA_HIDDEN_BEGIN

/* Captured when enabling, printed in every dump; written only by
 * fa_process_setup. */
typedef struct {
    PyInterpreterState *interp;
    char prog[256];
    char python[64];
    PyObject *modules;          /* sys.modules, borrowed: lives as long as interp */
    PyObject *sysdict;          /* sys.__dict__, borrowed: where stdlib_module_names is read */
    PyObject *package;          /* this package, borrowed: only compared, never read */
    PyObject *hidden_names;     /* bytes: NUL-separated names the text format leaves out of
                                   "Extension modules" besides sys.stdlib_module_names */
    int at_exit;                /* told when Py_Finalize is over */
    int finalized;              /* it is: `interp` and `modules` are gone */
} fa_process_facts;

/* room for format_utc: a sign, a year of up to 12 digits, the rest, NUL */
#define FA_TIME_SIZE 40

extern fa_process_facts fa_process;

int fa_process_setup(const char *prog, const char *python, PyObject *hidden_names);
int ascii_equal(PyObject *key, const char *name, size_t len);
int is_hidden_name(PyObject *key);
PyObject *stdlib_module_names(void);
int set_has_name(PyObject *names, PyObject *key);
int is_stand_in(PyObject *key, PyObject *value);
int stands_in(PyObject *modules);
void format_utc(char out[FA_TIME_SIZE], int iso);
void format_utc_at(char out[FA_TIME_SIZE], time_t when, int iso);
const char *signal_name(int signum);
const char *si_code_text(int signum, int code);
int sent_by_process(const siginfo_t *si);
const char *errno_name(int err);

FA_HIDDEN_END

#endif
