/* facts.c - what a dump says about the process (see facts.h). */
#include "facts.h"
#include "probes.h"
#include "util.h"

fa_process_facts fa_process;

/* Py_Finalize is over: no Python state is left to read.  Called by
 * Py_FinalizeEx at its very end (Py_AtExit). */
static void
process_finalized(void)
{
    fa_process.finalized = 1;
    __atomic_store_n(&fa_process.modules, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&fa_process.interp, NULL, __ATOMIC_RELEASE);
}

/* Not signal-safe (takes references); called with the GIL, in the main
 * interpreter only.  The program name is cut on a character boundary.
 * Returns -1 with an exception set when sys or this package is missing. */
int
fa_process_setup(const char *prog, const char *python, PyObject *hidden_names)
{
    size_t len = fa_strnlen(prog, sizeof(fa_process.prog));
    if (len >= sizeof(fa_process.prog)) {
        len = sizeof(fa_process.prog) - 1;
        while (len > 0 && ((unsigned char)prog[len] & 0xc0) == 0x80) {
            len--;
        }
    }
    memcpy(fa_process.prog, prog, len);
    fa_process.prog[len] = '\0';
    fa_strlcpy(fa_process.python, python, sizeof(fa_process.python));
    Py_INCREF(hidden_names);
    Py_XSETREF(fa_process.hidden_names, hidden_names);
    fa_process.interp = PyInterpreterState_Get();
    fa_process.modules = PySys_GetObject("modules");
    if (!fa_process.at_exit) {
        fa_process.at_exit = Py_AtExit(process_finalized) == 0;
    }
    PyObject *sys = PyImport_AddModule("sys");
    fa_process.sysdict = sys ? PyModule_GetDict(sys) : NULL;
    /* not there yet when start() sets up without the package; the
     * package calls setup again when it is imported */
    fa_process.package = fa_process.modules
                         ? PyDict_GetItemString(fa_process.modules, "faulthandler_auto") : NULL;
    return fa_process.sysdict != NULL ? 0 : -1;
}

/* signal-safe (probed): is `key` a compact ASCII str equal to the `len`
 * bytes at `name`?  Module names are ASCII; any other str is not equal. */
FA_RACY_READ int
ascii_equal(PyObject *key, const char *name, size_t len)
{
    if (!obj_ok(key, &PyUnicode_Type)) {
        return 0;
    }
    PyASCIIObject *a = (PyASCIIObject *)key;
    return a->state.compact && a->state.ascii && (size_t)a->length == len
           && memcmp(a + 1, name, len) == 0;
}

/* signal-safe (probed): is `key` one of the NUL-separated hidden names? */
FA_RACY_READ int
is_hidden_name(PyObject *key)
{
    PyObject *names = fa_process.hidden_names;
    if (names == NULL) {
        return 0;
    }
    /* our own bytes, read as FA_TYPE says */
    const char *p = ((PyBytesObject *)names)->ob_sval;
    const char *end = p + FA_SIZE(names);
    while (p < end) {
        size_t n = fa_strnlen(p, (size_t)(end - p));
        if (ascii_equal(key, p, n)) {
            return 1;
        }
        p += n + 1;
    }
    return 0;
}

/* signal-safe (probed): sys.stdlib_module_names as it is now (a program may
 * replace it), found as CPython 3.10+ finds it, by walking the sys dict;
 * NULL when missing (3.9) or not a frozenset. */
FA_RACY_READ PyObject *
stdlib_module_names(void)
{
    static const char key_name[] = "stdlib_module_names";
    if (!obj_ok(fa_process.sysdict, &PyDict_Type)) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(fa_process.sysdict, &pos, &key, &value)) {
        if (ascii_equal(key, key_name, sizeof(key_name) - 1)) {
            return obj_ok(value, &PyFrozenSet_Type) ? value : NULL;
        }
    }
    return NULL;
}

/* signal-safe (probed): is the str `key` in the frozenset `names`?  From
 * 3.15 CPython looks up a submodule's top-level package instead.  Reads the
 * hash table in place: PySet_Contains may hash, compare and raise. */
FA_RACY_READ int
set_has_name(PyObject *names, PyObject *key)
{
    PySetObject *set = (PySetObject *)names;
    PyASCIIObject *a = (PyASCIIObject *)key;
    if (!ptr_ok(set->table) || !a->state.compact || !a->state.ascii) {
        return 0;
    }
    const char *name = (const char *)(a + 1);
    size_t len = (size_t)a->length;
#if PY_VERSION_HEX >= 0x030F0000
    const char *dot = memchr(name, '.', len);
    len = dot ? (size_t)(dot - name) : len;
#endif
    for (Py_ssize_t i = 0; i <= set->mask; i++) {
        PyObject *item = set->table[i].key;
        if (item != NULL && ptr_ok(item) && ascii_equal(item, name, len)) {
            return 1;
        }
    }
    return 0;
}

/* signal-safe (probed): is this sys.modules entry this package under the
 * name "faulthandler", the built-in extension it stands in for when a
 * program puts it there? */
FA_RACY_READ int
is_stand_in(PyObject *key, PyObject *value)
{
    static const char name[] = "faulthandler";
    return value == fa_process.package && ascii_equal(key, name, sizeof(name) - 1);
}

/* signal-safe (probed): does this package stand in for "faulthandler" in
 * the dict `modules`? */
FA_RACY_READ int
stands_in(PyObject *modules)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(modules, &pos, &key, &value)) {
        if (is_stand_in(key, value)) {
            return 1;
        }
    }
    return 0;
}

/* signal-safe: UTC civil date from a Unix time, without gmtime (which may
 * take the time zone lock).  Howard Hinnant's days-to-civil arithmetic,
 * in 64 bits so that any time_t has its year. */
static void
utc_fields(long long t, long long f[6])
{
    long long days = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    days += 719468;
    long long era = (days >= 0 ? days : days - 146096) / 146097;
    long long doe = days - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long d = doy - (153 * mp + 2) / 5 + 1;
    long long m = mp < 10 ? mp + 3 : mp - 9;
    f[0] = yoe + era * 400 + (m <= 2);
    f[1] = m;
    f[2] = d;
    f[3] = secs / 3600;
    f[4] = secs / 60 % 60;
    f[5] = secs % 60;
}

/* signal-safe: `v` (>= 0) in at least `width` decimal digits at out+k;
 * returns the new end. */
static size_t
put_digits(char *out, size_t k, unsigned long long v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    while (n > 0) {
        out[k++] = tmp[--n];
    }
    return k;
}

/* signal-safe: the time now, "2026-11-24T14:20:03Z" (iso) or
 * "20261124T142003Z" (compact, for file names).  A year outside 0000-9999
 * (a clock set far off) is written as ISO 8601 expands it: a sign and at
 * least four digits, "+10000-01-01T00:00:00Z", "-0001-12-31T23:59:59Z".
 * Writes a NUL. */
void
format_utc(char out[FA_TIME_SIZE], int iso)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    format_utc_at(out, now.tv_sec, iso);
}

/* signal-safe (arithmetic only): format_utc for the time `when`. */
void
format_utc_at(char out[FA_TIME_SIZE], time_t when, int iso)
{
    long long f[6];
    utc_fields((long long)when, f);
    static const char iso_sep[6] = {0, '-', '-', 'T', ':', ':'};
    size_t k = 0;
    long long year = f[0];
    if (year < 0 || year > 9999) {
        out[k++] = year < 0 ? '-' : '+';
    }
    k = put_digits(out, k, (unsigned long long)(year < 0 ? -year : year), 4);
    for (int i = 1; i < 6; i++) {
        if (iso || i == 3) {
            out[k++] = iso ? iso_sep[i] : 'T';
        }
        k = put_digits(out, k, (unsigned long long)f[i], 2);
    }
    out[k++] = 'Z';
    out[k] = '\0';
}

/* signal-safe: a switch over constants */
const char *
signal_name(int signum)
{
    switch (signum) {
    case SIGSEGV: return "SIGSEGV";
    case SIGFPE: return "SIGFPE";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGTERM: return "SIGTERM";
    case SIGALRM: return "SIGALRM";
    case SIGPIPE: return "SIGPIPE";
    case SIGCHLD: return "SIGCHLD";
    case SIGCONT: return "SIGCONT";
    case SIGTSTP: return "SIGTSTP";
    case SIGTTIN: return "SIGTTIN";
    case SIGTTOU: return "SIGTTOU";
    case SIGURG: return "SIGURG";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGVTALRM: return "SIGVTALRM";
    case SIGPROF: return "SIGPROF";
    case SIGWINCH: return "SIGWINCH";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    default: return NULL;
    }
}

/* signal-safe: the name and meaning of `si_code` for the fault signals. */
const char *
si_code_text(int signum, int code)
{
    switch (code) {
    case SI_USER: return "SI_USER (sent by kill)";
    case SI_QUEUE: return "SI_QUEUE (sent by sigqueue)";
#ifdef SI_TKILL
    case SI_TKILL: return "SI_TKILL (sent by tkill or raise)";
#endif
    default: break;
    }
    switch (signum) {
    case SIGSEGV:
        if (code == SEGV_MAPERR) return "SEGV_MAPERR (address not mapped to object)";
        if (code == SEGV_ACCERR) return "SEGV_ACCERR (invalid permissions for mapped object)";
#ifdef SEGV_BNDERR
        if (code == SEGV_BNDERR) return "SEGV_BNDERR (failed address bound checks)";
#endif
#ifdef SEGV_PKUERR
        if (code == SEGV_PKUERR) return "SEGV_PKUERR (access denied by memory protection keys)";
#endif
        break;
    case SIGBUS:
        if (code == BUS_ADRALN) return "BUS_ADRALN (invalid address alignment)";
        if (code == BUS_ADRERR) return "BUS_ADRERR (nonexistent physical address)";
        if (code == BUS_OBJERR) return "BUS_OBJERR (object-specific hardware error)";
        break;
    case SIGFPE:
        if (code == FPE_INTDIV) return "FPE_INTDIV (integer divide by zero)";
        if (code == FPE_INTOVF) return "FPE_INTOVF (integer overflow)";
        if (code == FPE_FLTDIV) return "FPE_FLTDIV (floating-point divide by zero)";
        if (code == FPE_FLTOVF) return "FPE_FLTOVF (floating-point overflow)";
        if (code == FPE_FLTUND) return "FPE_FLTUND (floating-point underflow)";
        if (code == FPE_FLTRES) return "FPE_FLTRES (floating-point inexact result)";
        if (code == FPE_FLTINV) return "FPE_FLTINV (floating-point invalid operation)";
        if (code == FPE_FLTSUB) return "FPE_FLTSUB (subscript out of range)";
        break;
    case SIGILL:
        if (code == ILL_ILLOPC) return "ILL_ILLOPC (illegal opcode)";
        if (code == ILL_ILLOPN) return "ILL_ILLOPN (illegal operand)";
        if (code == ILL_ILLADR) return "ILL_ILLADR (illegal addressing mode)";
        if (code == ILL_ILLTRP) return "ILL_ILLTRP (illegal trap)";
        if (code == ILL_PRVOPC) return "ILL_PRVOPC (privileged opcode)";
        if (code == ILL_PRVREG) return "ILL_PRVREG (privileged register)";
        if (code == ILL_COPROC) return "ILL_COPROC (coprocessor error)";
        if (code == ILL_BADSTK) return "ILL_BADSTK (internal stack error)";
        break;
    default:
        break;
    }
    return NULL;
}

/* signal-safe: was this signal sent by a process rather than by a fault? */
int
sent_by_process(const siginfo_t *si)
{
    return si != NULL && si->si_code <= 0;
}

/* signal-safe: the errno words for the file fallback note (strerror is not
 * async-signal-safe). */
const char *
errno_name(int err)
{
    switch (err) {
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case ENOENT: return "no such file or directory";
    case ELOOP: return "refusing to follow a symbolic link";
    case ENOTDIR: return "a path component is not a directory";
    case EISDIR: return "is a directory";
    case ENAMETOOLONG: return "path too long";
    case ENOSPC: return "no space left on device";
    case EROFS: return "read-only file system";
    case EFBIG: return "file too large";
    case ENXIO: return "a FIFO with no reader";
    case EMFILE: return "too many open files";
    case EDQUOT: return "disk quota exceeded";
    case EEXIST: return "not a regular file owned by this user";
    case EMLINK: return "a hard link";
    default: return "cannot be written";
    }
}

