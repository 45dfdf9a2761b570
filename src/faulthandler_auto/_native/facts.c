/* facts.c - what a dump says about the process (see facts.h). */
#include "facts.h"
#include "util.h"

fa_process_facts fa_process;

/* Not signal-safe (takes references); called with the GIL. */
void
fa_process_setup(const char *prog, const char *python, PyObject *stdlib_names)
{
    fa_strlcpy(fa_process.prog, prog, sizeof(fa_process.prog));
    fa_strlcpy(fa_process.python, python, sizeof(fa_process.python));
    Py_INCREF(stdlib_names);
    Py_XSETREF(fa_process.stdlib_names, stdlib_names);
    fa_process.interp = PyInterpreterState_Get();
    fa_process.modules = PySys_GetObject("modules");
}

/* signal-safe: is `name` one of the NUL-separated stdlib names? */
int
is_stdlib_name(const char *name, size_t len)
{
    PyObject *names = fa_process.stdlib_names;
    if (names == NULL) {
        return 0;
    }
    const char *p = PyBytes_AS_STRING(names);
    const char *end = p + PyBytes_GET_SIZE(names);
    while (p < end) {
        size_t n = fa_strnlen(p, (size_t)(end - p));
        if (n == len && memcmp(p, name, len) == 0) {
            return 1;
        }
        p += n + 1;
    }
    return 0;
}

/* signal-safe: UTC civil date from a Unix time, without gmtime (which may
 * take the time zone lock).  Howard Hinnant's days-to-civil arithmetic. */
static void
utc_fields(time_t t, int f[6])
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
    f[0] = (int)(yoe + era * 400 + (m <= 2));
    f[1] = (int)m;
    f[2] = (int)d;
    f[3] = (int)(secs / 3600);
    f[4] = (int)(secs / 60 % 60);
    f[5] = (int)(secs % 60);
}

/* signal-safe: the time now, "2026-11-24T14:20:03Z" (iso) or
 * "20261124T142003Z" (compact, for file names).  Writes a NUL. */
void
format_utc(char out[21], int iso)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int f[6];
    utc_fields(now.tv_sec, f);
    static const int widths[6] = {4, 2, 2, 2, 2, 2};
    static const char iso_sep[6] = {0, '-', '-', 'T', ':', ':'};
    size_t k = 0;
    for (int i = 0; i < 6; i++) {
        if (i > 0 && (iso || i == 3)) {
            out[k++] = iso ? iso_sep[i] : 'T';
        }
        for (int d = widths[i] - 1, v = f[i]; d >= 0; d--, v /= 10) {
            out[k + (size_t)d] = (char)('0' + v % 10);
        }
        k += (size_t)widths[i];
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
    default: return "cannot be written";
    }
}

