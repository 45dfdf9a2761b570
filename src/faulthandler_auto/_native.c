/* _native.c - the compiled core of faulthandler-auto.
 *
 * Everything that can run inside a signal handler or on the watchdog thread
 * lives here: the buffered writer, the Python frame walker, the C stack, the
 * fatal and user signal handlers and the watchdog.  All process-wide state is
 * in the one struct `fa`.
 *
 * The rule for code marked "signal-safe": it calls only async-signal-safe
 * functions (write, open, getpid, clock_gettime, ...), never allocates, never
 * takes a lock that other code may hold, and never calls a Python function
 * that can allocate, raise or need the GIL.  It reads Python objects only
 * inside a probe (see `probed`), because another thread may be changing or
 * freeing them while we look.
 */
#define PY_SSIZE_T_CLEAN
/* 3.11+ keeps frames in _PyInterpreterFrame, and 3.10+ says whether the
 * cyclic GC runs in PyInterpreterState.gc, which only the internal headers
 * describe.  The extension is built per interpreter, so the layout compiled
 * in is the layout of the interpreter that loads it. */
#include <patchlevel.h>
#if PY_VERSION_HEX >= 0x030A0000 && !defined(Py_BUILD_CORE)
#  define Py_BUILD_CORE 1
#endif
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX >= 0x030A0000
/* CPython's internal headers are not written for -Wextra -Werror */
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-parameter"
#  pragma GCC diagnostic ignored "-Wsign-compare"
#  pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#  include "internal/pycore_interp.h"
#  if PY_VERSION_HEX >= 0x030B0000
#    include "internal/pycore_frame.h"
#  endif
#  if PY_VERSION_HEX >= 0x030E0000
/* 3.14 moved the struct and its helpers out of pycore_frame.h */
#    include "internal/pycore_interpframe.h"
#  endif
#  pragma GCC diagnostic pop
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#  include <sys/auxv.h>
#  include <sys/prctl.h>
#  include <sys/syscall.h>
#endif
#if defined(__GLIBC__) || defined(__APPLE__)
#  include <execinfo.h>
#endif
#ifdef __GLIBC__
#  include <link.h>
#  define FA_HAVE_BACKTRACE 1
#endif

#define FA_BUF_SIZE 32768          /* writer buffer: one write() per 16-32 KiB */
#define FA_STEP_MAX 16384          /* most a probed step writes (2 x 500 escaped chars) */
#define FA_PATH_SIZE 4096          /* longest path template or expanded path */
#define FA_ALTSTACK_SIZE (256 * 1024)  /* a dump needs ~50 KiB, more under ASan */
#define FA_ALTSTACK_MIN (128 * 1024)   /* someone else's alternate stack that will do */
#define FA_STR_MAX 500             /* CPython cuts strings at 500 chars */
#define FA_MAX_CHAIN (1L << 22)    /* a longer frame chain is taken as a loop */
#define FA_MAX_TSTATES 100000      /* a longer thread list is taken as a loop */
#define FA_NAME_SLOTS 1024
#define FA_NAME_SIZE 64
#define FA_C_FRAMES 128
#define FA_NSIG 65
#define FA_FATAL_DUMP_SECONDS 30   /* a fatal dump stuck longer gives up */

/* text: CPython's lines with ours after the Python frames; cpython: only
 * what this version's faulthandler prints; json: one object per dump. */
enum { FMT_TEXT = 0, FMT_JSON = 1, FMT_CPYTHON = 2 };

#define FA_PROBE_SLOTS 8

typedef struct {
    pid_t tid;                  /* the thread probing, 0 for a free slot */
    sigjmp_buf *env;            /* its innermost probe */
} fa_probe;
enum { EV_FATAL, EV_TIMEOUT, EV_SIGNAL, EV_EXPLICIT, EV_C_STACK };

/* A place to write a dump: a descriptor, or a path template opened at dump
 * time (so `{pid}` is the pid of the process that dumps). */
typedef struct {
    int fd;                     /* >= 0: write here; -1: open `path` */
    char path[FA_PATH_SIZE];
} fa_dest;

typedef struct {
    int signum;
    const char *name;           /* CPython's words for the fatal error */
    int enabled;
    struct sigaction previous;
} fa_fatal_signal;

typedef struct {
    int enabled;
    int all_threads;
    int chain;
    fa_dest dest;
    struct sigaction previous;
} fa_user_signal;

/* One slot per thread started through `threading`: its name and the
 * alternate signal stack we gave it.  Written by the thread itself when it
 * starts and ends, read by dumps in any thread: `ident` is claimed with a
 * compare-and-swap and `ready` published last, so a reader sees either no
 * entry or a NUL-terminated name. */
typedef struct {
    unsigned long ident;
    int ready;
    char name[FA_NAME_SIZE];
    void *altstack;
} fa_thread_slot;

static struct {
    /* process facts captured when enabling, printed in every dump */
    PyInterpreterState *interp;
    char prog[256];
    char python[64];
    PyObject *modules;          /* sys.modules, borrowed: lives as long as interp */
    PyObject *sysdict;          /* sys.__dict__, borrowed: where stdlib_module_names is read */
    PyObject *package;          /* this package's module: it stands in for "faulthandler" */
    PyObject *stdlib_names;     /* bytes: NUL-separated names the text format leaves out of
                                   "Extension modules" besides sys.stdlib_module_names */

    /* output options */
    int format;
    long max_frames;
    long max_threads;

    /* fatal signals */
    int fatal_enabled;
    int fatal_all_threads;
    int fatal_c_stack;
    fa_dest fatal_dest;
    void *main_altstack;
    pid_t dumping_tid;          /* thread inside a fatal dump, 0 when none */
    int dumping_signum;         /* the fatal signal it is dumping */

    /* SIGSEGV and SIGBUS taken for the length of a dump, so that its probes
     * work even when fatal signals are not ours (see guard_begin) */
    int guard_installed[2];
    struct sigaction guard_previous[2];

    /* a dump's reads of Python memory: per dumping thread, where a fault
     * goes back to (dumps are one at a time, but a fatal dump may run beside
     * another once it has waited long enough for it) */
    fa_probe probes[FA_PROBE_SLOTS];

    /* one dump at a time: the kernel thread id of the dumping thread, or 0 */
    pid_t dump_owner;

    /* user signals */
    fa_user_signal user[FA_NSIG];

    /* the watchdog */
    pthread_mutex_t wd_mutex;
    pthread_cond_t wd_cond;
    int wd_running;             /* the thread exists */
    int wd_armed;
    int wd_busy;                /* a timeout dump is being written */
    unsigned long wd_generation;/* bumped by every arm and cancel */
    int wd_abort;               /* the dump in flight must stop writing */
    clockid_t wd_clock;         /* the clock of wd_deadline */
    struct timespec wd_deadline;
    long long wd_timeout_us;
    int wd_repeat;
    int wd_exit;
    int wd_all_threads;
    fa_dest wd_dest;
    char wd_header[64];

    /* where this module was loaded, to skip our own C frames */
    void *self_base;


    fa_thread_slot threads[FA_NAME_SLOTS];
} fa;  /* zero-initialised, so its large tables cost no memory until used */

static fa_fatal_signal fatal_signals[] = {
    {.signum = SIGSEGV, .name = "Segmentation fault"},
#if PY_VERSION_HEX >= 0x030D0000
    {.signum = SIGFPE, .name = "Floating-point exception"},
#else
    {.signum = SIGFPE, .name = "Floating point exception"},
#endif
    {.signum = SIGBUS, .name = "Bus error"},
    {.signum = SIGILL, .name = "Illegal instruction"},
    {.signum = SIGABRT, .name = "Aborted"},
};
#define FA_NFATAL ((int)(sizeof(fatal_signals) / sizeof(fatal_signals[0])))


/* ------------------------------------------------------------------------
 * Small signal-safe helpers
 * ------------------------------------------------------------------------ */

/* signal-safe: gettid without the libc wrapper (absent before glibc 2.30). */
static pid_t
fa_gettid(void)
{
#ifdef SYS_gettid
    return (pid_t)syscall(SYS_gettid);
#else
    return getpid();
#endif
}

/* signal-safe: strlen, bounded. */
static size_t
fa_strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n]) {
        n++;
    }
    return n;
}

/* signal-safe: copy a C string into a fixed field, always NUL-terminated. */
static void
fa_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = fa_strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* signal-safe: a nanosleep that ignores EINTR for short waits. */
static void
fa_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* signal-safe: take the process-wide dump flag.  A thread that wants to
 * dump while another writes a dump waits for it (bounded), so dumps never
 * interleave; a thread that already holds it (a signal arriving during its
 * own dump) goes on at once.  Returns 1 if taken, to be given back, else 0. */
static int
dump_lock_acquire(long wait_ms)
{
    pid_t me = fa_gettid();
    if (__atomic_load_n(&fa.dump_owner, __ATOMIC_ACQUIRE) == me) {
        return 0;
    }
    for (long waited = 0;; waited++) {
        pid_t expected = 0;
        if (__atomic_compare_exchange_n(&fa.dump_owner, &expected, me, 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            return 1;
        }
        if (waited >= wait_ms) {
            return 0;
        }
        fa_sleep_ms(1);
    }
}

/* signal-safe */
static void
dump_lock_release(int taken)
{
    if (taken) {
        __atomic_store_n(&fa.dump_owner, 0, __ATOMIC_RELEASE);
    }
}


/* ------------------------------------------------------------------------
 * Reading memory that may not be there
 *
 * Another thread may free or rewrite what a dump reads: its frames live in
 * memory that is unmapped when the thread ends.  So every read of Python
 * memory happens inside a probe (see `probed`): a SIGSEGV or SIGBUS there
 * returns to the probe, which drops what the step wrote and reports it.
 * Before that, pointers get the cheap checks below.
 * ------------------------------------------------------------------------ */

/* Functions that read another thread's Python state do it knowing it may
 * have been freed (the probes catch what is no longer mapped), so
 * AddressSanitizer must not report those reads. */
#if defined(__GNUC__)
#  define FA_RACY_READ __attribute__((no_sanitize_address))
#else
#  define FA_RACY_READ
#endif

/* signal-safe: memcpy for memory another thread may free meanwhile.  The
 * volatile word reads keep the compiler from calling memcpy, which ASan
 * intercepts and checks.  `n` is a multiple of the word size. */
static FA_RACY_READ void
racy_copy(void *dst, const void *src, size_t n)
{
    const volatile uintptr_t *from = src;
    for (size_t i = 0; i < n / sizeof(uintptr_t); i++) {
        uintptr_t word = from[i];
        /* a byte copy, so the stores may alias the struct behind `dst` */
        memcpy((char *)dst + i * sizeof(word), &word, sizeof(word));
    }
}

/* signal-safe: could `p` point to an object at all? */
static int
ptr_ok(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    return v >= 4096 && (v & (sizeof(void *) - 1)) == 0;
}

/* signal-safe: `obj` looks like an object exactly of `type`. */
static FA_RACY_READ int
obj_ok(PyObject *obj, PyTypeObject *type)
{
    return ptr_ok(obj) && Py_TYPE(obj) == type;
}


/* ------------------------------------------------------------------------
 * The buffered writer
 * ------------------------------------------------------------------------ */

typedef struct {
    int fd;
    int failed;                 /* a write() failed for good */
    int err;                    /* its errno */
    int *abort;                 /* when set and *abort: stop writing (watchdog) */
    size_t len;
    size_t total;
    unsigned long flushes;      /* buffers written so far */
    char buf[FA_BUF_SIZE];
} fa_writer;

/* signal-safe: write all of [data, data+len), retrying partial writes and
 * EINTR.  A watchdog dump to a pipe, socket or terminal (abort != NULL)
 * must stay cancellable even when a slow reader holds it up: it waits in
 * poll() in 100 ms steps, gives up as soon as it is cancelled, and writes at
 * most PIPE_BUF bytes once poll() says there is room, which a pipe accepts
 * without blocking.  (A regular file never blocks, so it is always written
 * whole: see dump_init.) */
static void
raw_write(fa_writer *w, const char *data, size_t len)
{
    while (len > 0 && !w->failed) {
        size_t chunk = len;
        if (w->abort != NULL) {
            if (__atomic_load_n(w->abort, __ATOMIC_ACQUIRE)) {
                w->failed = 1;
                w->err = ECANCELED;
                return;
            }
            struct pollfd pfd = {w->fd, POLLOUT, 0};
            int ready = poll(&pfd, 1, 100);
            if (ready == 0 || (ready < 0 && errno == EINTR)) {
                continue;
            }
            if (chunk > PIPE_BUF) {
                chunk = PIPE_BUF;
            }
        }
        ssize_t n = write(w->fd, data, chunk);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {w->fd, POLLOUT, 0};
            (void)poll(&pfd, 1, 100);
            continue;
        }
        w->failed = 1;
        w->err = n < 0 ? errno : EIO;
    }
}

/* signal-safe */
static void
w_flush(fa_writer *w)
{
    raw_write(w, w->buf, w->len);
    w->len = 0;
    w->flushes++;
}

/* signal-safe */
static void
w_bytes(fa_writer *w, const char *s, size_t n)
{
    w->total += n;
    while (n > 0) {
        if (w->len == FA_BUF_SIZE) {
            w_flush(w);
        }
        size_t room = FA_BUF_SIZE - w->len;
        size_t take = n < room ? n : room;
        memcpy(w->buf + w->len, s, take);
        w->len += take;
        s += take;
        n -= take;
    }
}

/* signal-safe */
static void
w_puts(fa_writer *w, const char *s)
{
    w_bytes(w, s, strlen(s));
}

/* signal-safe */
static void
w_putc(fa_writer *w, char c)
{
    w_bytes(w, &c, 1);
}

/* signal-safe: unsigned decimal. */
static void
w_dec(fa_writer *w, unsigned long long v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    w_bytes(w, tmp + i, sizeof(tmp) - (size_t)i);
}

/* signal-safe: lowercase hex, zero-padded to `width` digits. */
static void
w_hex(fa_writer *w, unsigned long long v, int width)
{
    char tmp[16];
    int i = 16;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
        width--;
    } while (v || width > 0);
    w_bytes(w, tmp + i, (size_t)(16 - i));
}

/* signal-safe: "0x" and a pointer-wide hex number, as CPython prints ids. */
static void
w_ptr(fa_writer *w, uintptr_t v)
{
    w_puts(w, "0x");
    w_hex(w, v, (int)sizeof(void *) * 2);
}

/* signal-safe: one code point of a Python string, escaped the way CPython's
 * faulthandler does (text) or as JSON wants it. */
static void
w_codepoint(fa_writer *w, Py_UCS4 ch, int json)
{
    if (json) {
        if (ch == '"' || ch == '\\') {
            w_putc(w, '\\');
            w_putc(w, (char)ch);
        }
        else if (ch >= 0x20 && ch < 0x7f) {
            w_putc(w, (char)ch);
        }
        else if (ch <= 0xffff) {
            w_puts(w, "\\u");
            w_hex(w, ch, 4);
        }
        else {
            Py_UCS4 v = ch - 0x10000;
            w_puts(w, "\\u");
            w_hex(w, 0xd800 + (v >> 10), 4);
            w_puts(w, "\\u");
            w_hex(w, 0xdc00 + (v & 0x3ff), 4);
        }
        return;
    }
    if (ch >= 0x20 && ch < 0x7f) {
        w_putc(w, (char)ch);
    }
    else if (ch <= 0xff) {
        w_puts(w, "\\x");
        w_hex(w, ch, 2);
    }
    else if (ch <= 0xffff) {
        w_puts(w, "\\u");
        w_hex(w, ch, 4);
    }
    else {
        w_puts(w, "\\U");
        w_hex(w, ch, 8);
    }
}

/* signal-safe: UTF-8 text (a thread name) escaped as w_codepoint does; a
 * byte that is not valid UTF-8 stands for itself, as U+0080..U+00FF. */
static void
w_utf8(fa_writer *w, const char *s, size_t n, int json)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        Py_UCS4 ch = *p;
        int extra = ch >= 0xf0 ? 3 : ch >= 0xe0 ? 2 : ch >= 0xc0 ? 1 : 0;
        if (extra && end - p > extra) {
            Py_UCS4 cp = ch & (0x3f >> extra);
            int ok = 1;
            for (int i = 1; i <= extra; i++) {
                ok &= (p[i] & 0xc0) == 0x80;
                cp = (cp << 6) | (p[i] & 0x3f);
            }
            if (ok && cp <= 0x10ffff) {
                ch = cp;
                p += extra;
            }
        }
        w_codepoint(w, ch, json);
        p++;
    }
}

/* signal-safe: a UTF-8 C string as a JSON string literal. */
static void
w_json_cstr(fa_writer *w, const char *s)
{
    w_putc(w, '"');
    w_utf8(w, s, strlen(s), 1);
    w_putc(w, '"');
}

/* signal-safe (within a probe): a Python str, cut at 500 code points with
 * "..." like CPython; "???" when it is not a str. */
static FA_RACY_READ void
w_pystr(fa_writer *w, PyObject *s, int json)
{
    if (json) {
        w_putc(w, '"');
    }
    if (!obj_ok(s, &PyUnicode_Type)) {
        w_puts(w, "???");
        if (json) {
            w_putc(w, '"');
        }
        return;
    }
    PyASCIIObject *a = (PyASCIIObject *)s;
    Py_ssize_t len = a->length;
    int kind = a->state.kind;
    const void *data;
    if (a->state.compact) {
        data = a->state.ascii ? (const void *)(a + 1)
                              : (const void *)((PyCompactUnicodeObject *)s + 1);
    }
    else {
        data = ((PyUnicodeObject *)s)->data.any;
    }
    int truncated = len > FA_STR_MAX;
    if (truncated) {
        len = FA_STR_MAX;
    }
    if (data == NULL || len < 0 || (kind != 1 && kind != 2 && kind != 4)
        || !ptr_ok(data)) {
        w_puts(w, "???");
    }
    else {
        for (Py_ssize_t i = 0; i < len; i++) {
            w_codepoint(w, PyUnicode_READ(kind, data, i), json);
        }
        if (truncated) {
            w_puts(w, "...");
        }
    }
    if (json) {
        w_putc(w, '"');
    }
}


/* ------------------------------------------------------------------------
 * Process facts: time, names of signals and fault codes
 * ------------------------------------------------------------------------ */

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
static void
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

/* signal-safe */
static const char *
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
static const char *
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
static int
sent_by_process(const siginfo_t *si)
{
    return si != NULL && si->si_code <= 0;
}

/* signal-safe: the errno words for the file fallback note (strerror is not
 * async-signal-safe). */
static const char *
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


/* ------------------------------------------------------------------------
 * Dump files
 * ------------------------------------------------------------------------ */

/* signal-safe: append a file-name-safe copy of `s` (no '/', no NUL). */
static size_t
path_append_name(char *out, size_t pos, size_t size, const char *s)
{
    for (; *s && pos + 1 < size; s++) {
        out[pos++] = (*s == '/') ? '_' : *s;
    }
    return pos;
}

/* signal-safe: append a decimal number. */
static size_t
path_append_dec(char *out, size_t pos, size_t size, unsigned long long v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    tmp[--i] = '\0';
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return path_append_name(out, pos, size, tmp + i);
}

/* signal-safe: expand {pid} {ppid} {prog} {time} {host} in `tmpl`.
 * The template was checked when it was set, so unknown fields cannot occur;
 * returns 0 when the result does not fit. */
static int
expand_template(const char *tmpl, char *out, size_t size)
{
    size_t pos = 0;
    for (const char *p = tmpl; *p; p++) {
        if (pos + 1 >= size) {
            return 0;
        }
        if (*p != '{') {
            out[pos++] = *p;
            continue;
        }
        const char *end = p + 1;
        while (*end && *end != '}') {
            end++;
        }
        size_t n = (size_t)(end - p - 1);
        if (n == 3 && !memcmp(p + 1, "pid", 3)) {
            pos = path_append_dec(out, pos, size, (unsigned long long)getpid());
        }
        else if (n == 4 && !memcmp(p + 1, "ppid", 4)) {
            pos = path_append_dec(out, pos, size, (unsigned long long)getppid());
        }
        else if (n == 4 && !memcmp(p + 1, "prog", 4)) {
            pos = path_append_name(out, pos, size, fa.prog[0] ? fa.prog : "python");
        }
        else if (n == 4 && !memcmp(p + 1, "host", 4)) {
            struct utsname u;
            pos = path_append_name(out, pos, size, uname(&u) == 0 ? u.nodename : "unknown");
        }
        else if (n == 4 && !memcmp(p + 1, "time", 4)) {
            char t[21];
            format_utc(t, 0);
            pos = path_append_name(out, pos, size, t);
        }
        else {
            return 0;
        }
        if (*end == '\0') {
            break;
        }
        p = end;
    }
    out[pos] = '\0';
    return pos + 1 < size;
}

/* signal-safe: open `path` for appending without ever following a symbolic
 * link: every directory is opened with O_NOFOLLOW from the root down (and
 * created 0700 when missing), the file itself with O_NOFOLLOW, O_NONBLOCK so
 * a FIFO without a reader fails instead of blocking, and it must then be a
 * regular file owned by us.  `path` is cut at each slash in turn and put
 * back as it was.  Returns the fd, or -1 with errno set. */
static int
open_dump_file(char *path)
{
    int dir = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        return -1;
    }
    char *comp = path;
    for (char *slash; (slash = strchr(comp, '/')) != NULL; comp = slash + 1) {
        *slash = '\0';
        if (comp[0] != '\0' && strcmp(comp, ".") != 0) {
            int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
            int next = openat(dir, comp, flags);
            if (next < 0 && errno == ENOENT && (mkdirat(dir, comp, 0700) == 0 || errno == EEXIST)) {
                next = openat(dir, comp, flags);
            }
            int err = errno;
            struct stat st;
            if (next < 0 && err == ENOTDIR && fstatat(dir, comp, &st, AT_SYMLINK_NOFOLLOW) == 0
                && S_ISLNK(st.st_mode)) {
                err = ELOOP;    /* O_DIRECTORY reports a link as "not a directory" */
            }
            close(dir);
            if (next < 0) {
                *slash = '/';
                errno = err;
                return -1;
            }
            dir = next;
        }
        *slash = '/';
    }
    int fd = openat(dir, comp,
                    O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
                    0600);
    int err = errno;
    close(dir);
    if (fd < 0) {
        errno = err;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        errno = EEXIST;
        return -1;
    }
    return fd;
}


/* ------------------------------------------------------------------------
 * Thread names and per-thread alternate stacks
 * ------------------------------------------------------------------------ */

/* signal-safe: the name of the thread with `ident`, or NULL. */
static const char *
thread_name(unsigned long ident, int is_main)
{
    if (is_main) {
        return "MainThread";
    }
    for (int i = 0; i < FA_NAME_SLOTS; i++) {
        fa_thread_slot *s = &fa.threads[i];
        if (__atomic_load_n(&s->ident, __ATOMIC_ACQUIRE) == ident
            && __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)) {
            return s->name[0] ? s->name : NULL;
        }
    }
    return NULL;
}

/* The bytes of a guard page below each alternate stack: a handler that
 * overruns its stack faults there instead of writing over whatever the
 * kernel mapped next to it. */
static size_t
altstack_guard(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

/* Give the calling thread an alternate signal stack, unless it has a big
 * enough one, so that a stack overflow in it can still be dumped.  Returns
 * the mapping (guard page first), or NULL if none was needed or possible.
 * Not signal-safe (mmap). */
static void *
install_altstack(void)
{
    stack_t old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE)
        && old.ss_size >= FA_ALTSTACK_MIN) {
        return NULL;
    }
    size_t guard = altstack_guard();
    char *mem = mmap(NULL, guard + FA_ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return NULL;
    }
    stack_t ss = {.ss_sp = mem + guard, .ss_size = FA_ALTSTACK_SIZE, .ss_flags = 0};
    if (mprotect(mem, guard, PROT_NONE) != 0 || sigaltstack(&ss, NULL) != 0) {
        munmap(mem, guard + FA_ALTSTACK_SIZE);
        return NULL;
    }
    return mem;
}

/* Take the calling thread's alternate stack away before it is freed. */
static void
remove_altstack(void *mem)
{
    if (mem == NULL) {
        return;
    }
    size_t guard = altstack_guard();
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == (char *)mem + guard) {
        stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        (void)sigaltstack(&off, NULL);
    }
    munmap(mem, guard + FA_ALTSTACK_SIZE);
}


/* ------------------------------------------------------------------------
 * The Python frame walker
 * ------------------------------------------------------------------------ */

#if PY_VERSION_HEX >= 0x030B0000
typedef _PyInterpreterFrame fa_frame;
#else
typedef PyFrameObject fa_frame;
#endif

/* signal-safe: the innermost frame of a thread (whose state is checked). */
static FA_RACY_READ fa_frame *
thread_top_frame(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#elif PY_VERSION_HEX >= 0x030B0000
    _PyCFrame *cf = ts->cframe;
    return ptr_ok(cf) ? cf->current_frame : NULL;
#else
    return ts->frame;
#endif
}

_Static_assert(sizeof(fa_frame) % sizeof(uintptr_t) == 0, "racy_copy copies whole words");

/* signal-safe: copy the frame at `f` into `copy` if it is readable, and say
 * whether it is one CPython's traceback shows (3.12+ interleaves shim frames
 * owned by the C stack): 1 = show, 0 = skip, -1 = unreadable.  Everything
 * after this reads the copy, because a thread that runs on while we dump
 * (the watchdog and signal dumps do not stop it) rewrites its frames. */
static FA_RACY_READ int
frame_check(fa_frame *f, fa_frame *copy)
{
#if PY_VERSION_HEX >= 0x030B0000
    if (!ptr_ok(f)) {
        return -1;
    }
    racy_copy(copy, f, sizeof(*f));
#  if PY_VERSION_HEX >= 0x030E0000
    /* trampolines (and, on 3.15, the thread's base frame sentinel) */
    if (copy->owner >= FRAME_OWNED_BY_INTERPRETER) {
        return 0;
    }
#  elif PY_VERSION_HEX >= 0x030C0000
    if (copy->owner == FRAME_OWNED_BY_CSTACK) {
        return 0;
    }
#  endif
    return 1;
#else
    if (!obj_ok((PyObject *)f, &PyFrame_Type)) {
        return -1;
    }
    racy_copy(copy, f, sizeof(*f));
    return 1;
#endif
}

/* signal-safe: the next frame out, from a copy. */
static FA_RACY_READ fa_frame *
frame_back(const fa_frame *copy)
{
#if PY_VERSION_HEX >= 0x030B0000
    return copy->previous;
#else
    return copy->f_back;
#endif
}

/* signal-safe: the code object named by a frame copy, or NULL. */
static FA_RACY_READ PyCodeObject *
frame_code(const fa_frame *copy)
{
    PyObject *code;
#if PY_VERSION_HEX >= 0x030E0000
    code = PyStackRef_AsPyObjectBorrow(copy->f_executable);
#elif PY_VERSION_HEX >= 0x030D0000
    code = copy->f_executable;
#else
    code = (PyObject *)copy->f_code;
#endif
    return obj_ok(code, &PyCode_Type) ? (PyCodeObject *)code : NULL;
}

/* signal-safe: the line a frame copy is at, computed as CPython's
 * traceback does for this version (the same arithmetic as
 * PyUnstable_InterpreterFrame_GetLine, which would read the live frame);
 * -1 when unknown.  PyCode_Addr2Line only reads the line table, checked
 * first. */
static FA_RACY_READ int
frame_line(fa_frame *copy, PyCodeObject *code)
{
#if PY_VERSION_HEX >= 0x030A0000
    PyObject *table = code->co_linetable;
#else
    PyObject *table = code->co_lnotab;
#endif
    if (!obj_ok(table, &PyBytes_Type)) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030B0000
    return PyCode_Addr2Line(code, _PyInterpreterFrame_LASTI(copy) * (int)sizeof(_Py_CODEUNIT));
#elif PY_VERSION_HEX >= 0x030A0000
    return PyCode_Addr2Line(code, copy->f_lasti * (int)sizeof(_Py_CODEUNIT));
#else
    return PyCode_Addr2Line(code, copy->f_lasti);
#endif
}


/* ------------------------------------------------------------------------
 * Dumps: one context, text or JSON
 * ------------------------------------------------------------------------ */

typedef struct {
    fa_writer w;
    pid_t tid;                  /* the dumping thread, for probes */
    int json;
    int strict;                 /* FMT_CPYTHON: nothing CPython would not print */
    int nthreads_json;          /* threads written so far (JSON commas) */
} fa_dump;

/* What CPython's faulthandler of this version prints for a thread without a
 * Python frame, and after the 100th frame of a deeper stack (3.13 cuts the
 * stack silently). */
#if PY_VERSION_HEX >= 0x030B0000
#  define CPYTHON_NO_FRAME "  <no Python frame>\n"
#else
#  define CPYTHON_NO_FRAME "<no Python frame>\n"
#endif
#if PY_VERSION_HEX >= 0x030D0000
#  define CPYTHON_FRAMES_CUT ""
#else
#  define CPYTHON_FRAMES_CUT "  ...\n"
#endif

/* signal-safe */
static void
dump_init(fa_dump *d, int fd, int *abort)
{
    struct stat st;
    d->w.fd = fd;
    d->w.failed = 0;
    d->w.err = 0;
    /* a cancel may cut a dump short only where it could block */
    d->w.abort = (abort != NULL && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? NULL : abort;
    d->w.len = 0;
    d->w.total = 0;
    d->w.flushes = 0;
    d->tid = fa_gettid();
    d->json = (fa.format == FMT_JSON);
    d->strict = (fa.format == FMT_CPYTHON);
    d->nthreads_json = 0;
}

/* signal-safe: one frame line, from a frame copy. */
static FA_RACY_READ void
dump_frame(fa_dump *d, fa_frame *f)
{
    fa_writer *w = &d->w;
    PyCodeObject *code = frame_code(f);
    int line = code != NULL ? frame_line(f, code) : -1;
    if (d->json) {
        w_puts(w, "{\"file\":");
        if (code) {
            w_pystr(w, code->co_filename, 1);
        }
        else {
            w_puts(w, "null");
        }
        w_puts(w, ",\"line\":");
        if (line >= 0) {
            w_dec(w, (unsigned long long)line);
        }
        else {
            w_puts(w, "null");
        }
        w_puts(w, ",\"function\":");
        if (code) {
            w_pystr(w, code->co_name, 1);
        }
        else {
            w_puts(w, "null");
        }
        w_putc(w, '}');
        return;
    }
    w_puts(w, "  File ");
    if (code) {
        w_putc(w, '"');
        w_pystr(w, code->co_filename, 0);
        w_putc(w, '"');
    }
    else {
        w_puts(w, "???");
    }
    w_puts(w, ", line ");
    if (line >= 0) {
        w_dec(w, (unsigned long long)line);
    }
    else {
        w_puts(w, "???");
    }
    w_puts(w, " in ");
    if (code) {
        w_pystr(w, code->co_name, 0);
    }
    else {
        w_puts(w, "???");
    }
    w_putc(w, '\n');
}

/* A step of a dump that reads Python memory, run by `probed`. */
typedef void (*fa_step)(fa_dump *d, void *arg);

/* signal-safe: the probe slot of thread `tid`, claimed if it has none;
 * NULL when all are taken. */
static fa_probe *
probe_slot(pid_t tid)
{
    for (int i = 0; i < FA_PROBE_SLOTS; i++) {
        if (__atomic_load_n(&fa.probes[i].tid, __ATOMIC_ACQUIRE) == tid) {
            return &fa.probes[i];
        }
    }
    for (int i = 0; i < FA_PROBE_SLOTS; i++) {
        pid_t expected = 0;
        if (__atomic_compare_exchange_n(&fa.probes[i].tid, &expected, tid, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            return &fa.probes[i];
        }
    }
    return NULL;
}

/* signal-safe: where a fault in thread `tid` goes back to, or NULL. */
static sigjmp_buf *
probe_env_of(pid_t tid)
{
    for (int i = 0; i < FA_PROBE_SLOTS; i++) {
        if (__atomic_load_n(&fa.probes[i].tid, __ATOMIC_ACQUIRE) == tid) {
            return __atomic_load_n(&fa.probes[i].env, __ATOMIC_ACQUIRE);
        }
    }
    return NULL;
}

/* signal-safe: run `step`.  If its reads fault, fatal_handler jumps back
 * here: what the step wrote is dropped and 0 returned.  The writer makes
 * room first, so a step's output is never half flushed when it is dropped
 * (a longer step, like the module list, gets a newline instead). */
static int
probed(fa_dump *d, fa_step step, void *arg)
{
    fa_writer *w = &d->w;
    if (FA_BUF_SIZE - w->len < FA_STEP_MAX) {
        w_flush(w);
    }
    size_t len = w->len, total = w->total;
    unsigned long flushes = w->flushes;
    fa_probe *slot = probe_slot(d->tid);
    if (slot == NULL) {
        step(d, arg);   /* eight dumps at once: this one reads unguarded */
        return 1;
    }
    sigjmp_buf env;
    sigjmp_buf *outer_env = slot->env;
    int ok = 1;
    /* no signal mask to save: the fault handler runs with SA_NODEFER */
    if (sigsetjmp(env, 0) == 0) {
        __atomic_store_n(&slot->env, &env, __ATOMIC_RELEASE);
        step(d, arg);
    }
    else {
        ok = 0;
        if (w->flushes == flushes) {
            w->len = len;
            w->total = total;
        }
        else {
            w_putc(w, '\n');
        }
    }
    __atomic_store_n(&slot->env, outer_env, __ATOMIC_RELEASE);
    if (outer_env == NULL) {
        __atomic_store_n(&slot->tid, 0, __ATOMIC_RELEASE);  /* the outermost probe ends */
    }
    return ok;
}

typedef struct {
    fa_frame *top;
    long total;                 /* shown frames, -1 if the chain breaks */
} fa_count;

/* signal-safe (probed): count the shown frames of a chain. */
static FA_RACY_READ void
step_count(fa_dump *d, void *arg)
{
    (void)d;
    fa_count *c = arg;
    fa_frame copy;
    long n = 0;
    c->total = -1;
    for (long steps = 0; steps <= FA_MAX_CHAIN; steps++) {
        if (c->top == NULL) {
            c->total = n;
            return;
        }
        int ok = frame_check(c->top, &copy);
        if (ok < 0) {
            return;
        }
        n += ok;
        c->top = frame_back(&copy);
    }
}

typedef struct {
    fa_frame *f;
    fa_frame copy;
    int shown;                  /* frame_check's verdict */
    int comma;                  /* JSON: a frame was written before this one */
} fa_frame_step;

/* signal-safe (probed): copy one frame. */
static FA_RACY_READ void
step_frame_check(fa_dump *d, void *arg)
{
    (void)d;
    fa_frame_step *st = arg;
    st->shown = frame_check(st->f, &st->copy);
}

/* signal-safe (probed): write one frame, with its JSON comma. */
static void
step_frame_print(fa_dump *d, void *arg)
{
    fa_frame_step *st = arg;
    if (st->comma) {
        w_putc(&d->w, ',');     /* inside the step, so a fault drops it too */
    }
    dump_frame(d, &st->copy);
}

/* signal-safe: the frames of one thread, innermost first.  Past max_frames
 * it shows the innermost and outermost frames and how many it left out. */
static void
dump_frames(fa_dump *d, fa_frame *top, int skip)
{
    fa_writer *w = &d->w;
    fa_count c = {top, -1};
    (void)probed(d, step_count, &c);
    long total = c.total;
    if (total > 0) {
        total = total > skip ? total - skip : 0;
    }
    long max = fa.max_frames;
    long inner = total, omitted = 0;
    if (total > max) {
        /* ours: the innermost and the outermost; CPython's: the innermost */
        inner = d->strict ? max : (max + 1) / 2;
        omitted = total - inner - (d->strict ? 0 : max / 2);
    }
    if (d->json) {
        w_puts(w, "\"frames\":[");
    }
    else if (total == 0) {
        w_puts(w, d->strict ? CPYTHON_NO_FRAME : "  <no Python frame>\n");
    }
    long i = 0, printed = 0;
    int unreadable = 0;
    fa_frame_step st;
    for (st.f = top; st.f != NULL; st.f = frame_back(&st.copy)) {
        if (!probed(d, step_frame_check, &st) || st.shown < 0) {
            unreadable = 1;
            break;
        }
        if (st.shown == 0) {
            continue;
        }
        if (skip > 0) {
            skip--;
            continue;
        }
        if (total >= 0 && i >= inner && i < inner + omitted) {
            if (d->strict) {
                w_puts(w, CPYTHON_FRAMES_CUT);
                break;
            }
            if (i == inner && !d->json) {
                w_puts(w, "  ... (");
                w_dec(w, (unsigned long long)omitted);
                w_puts(w, " frames omitted)\n");
            }
            i++;
            continue;
        }
        if (printed >= max) {
            /* the chain broke further down, or grew since it was counted */
            break;
        }
        st.comma = d->json && printed > 0;
        if (!probed(d, step_frame_print, &st)) {
            unreadable = 1;
            break;
        }
        printed++;
        i++;
    }
    if (d->json) {
        w_puts(w, "],\"frames_omitted\":");
        w_dec(w, (unsigned long long)omitted);
        if (unreadable) {
            w_puts(w, ",\"unreadable\":true");
        }
    }
    else if (unreadable) {
        w_puts(w, "  <unreadable frame>\n");
    }
}

typedef struct {
    PyThreadState *ts;
    int is_current, is_main, all_threads;
    fa_frame *top;              /* out: its innermost frame */
    PyThreadState *next;        /* out: the next thread state */
} fa_thread_step;

#if PY_VERSION_HEX >= 0x030E0000 && defined(__linux__)
/* signal-safe: the kernel's name of thread `tid` (what pthread_getname_np
 * returns, which CPython 3.14+ prints), read with open/read/close; "" if
 * unknown. */
static void
os_thread_name(unsigned long tid, char out[FA_NAME_SIZE])
{
    char path[64] = "/proc/self/task/";
    /* 16 + at most 20 digits + 6 bytes fit */
    size_t n = path_append_dec(path, strlen(path), sizeof(path), tid);
    memcpy(path + n, "/comm", 6);
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    ssize_t len;
    do {
        len = read(fd, out, FA_NAME_SIZE - 1);
    } while (len < 0 && errno == EINTR);
    close(fd);
    len = len < 0 ? 0 : len;
    while (len > 0 && out[len - 1] == '\n') {
        len--;
    }
    out[len] = '\0';
}
#endif

/* signal-safe: the line CPython writes before a thread's frames: "Thread"
 * or "Current thread", the id, and from 3.14 the thread's OS name. */
static FA_RACY_READ void
cpython_thread_header(fa_dump *d, fa_thread_step *st)
{
    fa_writer *w = &d->w;
    if (!st->all_threads) {
        w_puts(w, "Stack (most recent call first):\n");
        return;
    }
    w_puts(w, st->is_current ? "Current thread 0x" : "Thread 0x");
    w_hex(w, (unsigned long long)st->ts->thread_id, (int)sizeof(unsigned long) * 2);
#if PY_VERSION_HEX >= 0x030E0000 && defined(__linux__)
    char name[FA_NAME_SIZE];
    os_thread_name(st->ts->native_thread_id, name);
    if (name[0] != '\0') {
        w_puts(w, " [");
        w_puts(w, name);
        w_putc(w, ']');
    }
#endif
    w_puts(w, " (most recent call first):\n");
}

/* signal-safe (probed): the thread's header line (text) or the opening of
 * its object (JSON), reading its state. */
static FA_RACY_READ void
step_thread_header(fa_dump *d, void *arg)
{
    fa_thread_step *st = arg;
    fa_writer *w = &d->w;
    PyThreadState *ts = st->ts;
    unsigned long ident = ts->thread_id;
    st->top = thread_top_frame(ts);
    st->next = ts->next;
    if (d->strict) {
        cpython_thread_header(d, st);
        return;
    }
    const char *name = thread_name(ident, st->is_main);
    char own[16];
#ifdef PR_GET_NAME
    /* prctl is a bare system call: safe here, unlike pthread_getname_np */
    if (name == NULL && st->is_current && prctl(PR_GET_NAME, own, 0, 0, 0) == 0) {
        own[15] = '\0';
        name = own;
    }
#else
    (void)own;
#endif
    if (d->json) {
        if (d->nthreads_json > 0) {
            w_putc(w, ',');
        }
        w_puts(w, "{\"id\":");
        w_dec(w, (unsigned long long)ident);
        w_puts(w, ",\"name\":");
        if (name) {
            w_putc(w, '"');
            w_utf8(w, name, fa_strnlen(name, FA_NAME_SIZE), 1);
            w_putc(w, '"');
        }
        else {
            w_puts(w, "null");
        }
        w_puts(w, st->is_current ? ",\"current\":true," : ",\"current\":false,");
        return;
    }
    if (!st->all_threads) {
        w_puts(w, "Stack (most recent call first):\n");
        return;
    }
    w_puts(w, st->is_current ? "Current thread " : "Thread ");
    w_ptr(w, (uintptr_t)ident);
    if (name) {
        w_puts(w, " [");
        w_utf8(w, name, fa_strnlen(name, FA_NAME_SIZE), 0);
        w_putc(w, ']');
    }
    w_puts(w, " (most recent call first):\n");
}

/* signal-safe: one thread, then st->next is the thread state after it;
 * returns 0 when the thread could not be read (it ended while we looked). */
static int
dump_thread(fa_dump *d, fa_thread_step *st, int skip)
{
    if (!probed(d, step_thread_header, st)) {
        return 0;
    }
#if PY_VERSION_HEX >= 0x030A0000
    /* CPython 3.10+ says so when the crash (or dump) came during a collection */
    if (!d->json && st->is_current && st->all_threads && fa.interp->gc.collecting) {
        w_puts(&d->w, "  Garbage-collecting\n");
    }
#endif
    d->nthreads_json++;
    dump_frames(d, st->top, st->is_current ? skip : 0);
    if (d->json) {
        w_putc(&d->w, '}');
    }
    return 1;
}

#ifdef FA_HAVE_BACKTRACE
/* signal-safe (but for the loader's lock, as in dump_c_stack): one C frame
 * in CPython 3.14's words: relative to the symbol, or when dladdr names none
 * to the file's load bias (none for a non-PIE executable). */
static void
cpython_c_frame(fa_writer *w, void *pc)
{
    Dl_info found;
    const Dl_info *info = &found;
#ifdef __GLIBC__
    struct link_map *map = NULL;
    if (dladdr1(pc, &found, (void **)&map, RTLD_DL_LINKMAP) == 0) {
        info = NULL;
    }
    else if (map != NULL) {
        found.dli_fbase = (void *)map->l_addr;
    }
#else
    if (dladdr(pc, &found) == 0) {
        info = NULL;
    }
#endif
    if (info == NULL || info->dli_fname == NULL || info->dli_fname[0] == '\0') {
        w_puts(w, "  Binary file '<unknown>' [0x");
        w_hex(w, (uintptr_t)pc, 0);
        w_puts(w, "]\n");
        return;
    }
    uintptr_t base = (uintptr_t)(info->dli_sname ? info->dli_saddr : info->dli_fbase);
    w_puts(w, "  Binary file \"");
    w_puts(w, info->dli_fname);
    w_putc(w, '"');
    if (info->dli_sname != NULL || base != 0) {
        w_puts(w, ", at ");
        w_puts(w, info->dli_sname ? info->dli_sname : "");
        w_putc(w, (uintptr_t)pc >= base ? '+' : '-');
        uintptr_t off = (uintptr_t)pc >= base ? (uintptr_t)pc - base : base - (uintptr_t)pc;
        if (off != 0) {
            w_puts(w, "0x");   /* printf's %#tx */
        }
        w_hex(w, off, 0);
    }
    w_puts(w, " [0x");
    w_hex(w, (uintptr_t)pc, 0);
    w_puts(w, "]\n");
}
#endif

/* signal-safe: the native stack of the calling thread, from `pc` (the
 * faulting instruction) when it is known, else after our own frames. */
static void
dump_c_stack(fa_dump *d, uintptr_t pc)
{
    fa_writer *w = &d->w;
#ifdef FA_HAVE_BACKTRACE
    void *frames[FA_C_FRAMES];
    int n = backtrace(frames, FA_C_FRAMES);
    int start = -1;
    for (int i = 0; i < n && pc != 0 && start < 0; i++) {
        if ((uintptr_t)frames[i] == pc) {
            start = i;
        }
    }
    for (int i = 0; i < n && start < 0; i++) {
        Dl_info info;
        if (!(dladdr(frames[i], &info) && info.dli_fbase == fa.self_base)) {
            start = i;
        }
    }
    if (start < 0) {
        start = n;
    }
    if (d->json) {
        w_puts(w, "\"c_stack\":[");
    }
    else {
        w_puts(w, "Current thread's C stack trace (most recent call first):\n");
    }
    for (int i = start; i < n; i++) {
        Dl_info info;
        int found = dladdr(frames[i], &info) != 0;
        const char *file = found && info.dli_fname ? info.dli_fname : NULL;
        const char *sym = found ? info.dli_sname : NULL;
        uintptr_t off = sym ? (uintptr_t)frames[i] - (uintptr_t)info.dli_saddr : 0;
        if (d->json) {
            if (i > start) {
                w_putc(w, ',');
            }
            w_puts(w, "{\"binary\":");
            if (file) w_json_cstr(w, file); else w_puts(w, "null");
            w_puts(w, ",\"symbol\":");
            if (sym) w_json_cstr(w, sym); else w_puts(w, "null");
            w_puts(w, ",\"offset\":");
            w_dec(w, off);
            w_puts(w, ",\"address\":\"0x");
            w_hex(w, (uintptr_t)frames[i], 0);
            w_puts(w, "\"}");
            continue;
        }
        if (d->strict) {
            cpython_c_frame(w, frames[i]);
            continue;
        }
        w_puts(w, "  Binary file \"");
        w_puts(w, file ? file : "<unknown>");
        w_putc(w, '"');
        if (sym) {
            w_puts(w, ", at ");
            w_puts(w, sym);
            w_puts(w, "+0x");
            w_hex(w, off, 0);
        }
        w_puts(w, " [0x");
        w_hex(w, (uintptr_t)frames[i], 0);
        w_puts(w, "]\n");
    }
    if (d->json) {
        w_putc(w, ']');
    }
    else if (n <= start) {
        w_puts(w, d->strict ? "  <system returned no stack trace>\n" : "  <no C frame>\n");
    }
#else
    (void)pc;
    if (d->json) {
        w_puts(w, "\"c_stack\":null");
    }
    else {
        w_puts(w, "Current thread's C stack trace (most recent call first):\n"
                  "  <not available on this platform>\n");
    }
#endif
}

/* signal-safe (probed): is `key` a compact ASCII str equal to the `len`
 * bytes at `name`?  Module names are ASCII; any other str is not equal. */
static FA_RACY_READ int
ascii_equal(PyObject *key, const char *name, size_t len)
{
    if (!obj_ok(key, &PyUnicode_Type)) {
        return 0;
    }
    PyASCIIObject *a = (PyASCIIObject *)key;
    return a->state.compact && a->state.ascii && (size_t)a->length == len
           && memcmp(a + 1, name, len) == 0;
}

/* signal-safe (probed): is `key` one of the NUL-separated names the text
 * format leaves out (see py_setup)? */
static FA_RACY_READ int
is_hidden_name(PyObject *key)
{
    PyObject *names = fa.stdlib_names;
    if (names == NULL) {
        return 0;
    }
    const char *p = PyBytes_AS_STRING(names);
    const char *end = p + PyBytes_GET_SIZE(names);
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
 * replace it), found as CPython finds it: by walking the sys dict; NULL when
 * missing (3.9) or not a frozenset. */
static FA_RACY_READ PyObject *
stdlib_module_names(void)
{
    static const char key_name[] = "stdlib_module_names";
    if (!obj_ok(fa.sysdict, &PyDict_Type)) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(fa.sysdict, &pos, &key, &value)) {
        if (ascii_equal(key, key_name, sizeof(key_name) - 1)) {
            return obj_ok(value, &PyFrozenSet_Type) ? value : NULL;
        }
    }
    return NULL;
}

/* signal-safe (probed): is `key` in the frozenset `names`?  Reads the hash
 * table directly: PySet_Contains may hash, compare and raise. */
static FA_RACY_READ int
set_has_name(PyObject *names, PyObject *key)
{
    PySetObject *set = (PySetObject *)names;
    PyASCIIObject *a = (PyASCIIObject *)key;
    if (!ptr_ok(set->table) || !a->state.compact || !a->state.ascii) {
        return 0;
    }
    for (Py_ssize_t i = 0; i <= set->mask; i++) {
        PyObject *item = set->table[i].key;
        if (item != NULL && ptr_ok(item)
            && ascii_equal(item, (const char *)(a + 1), (size_t)a->length)) {
            return 1;
        }
    }
    return 0;
}

/* signal-safe (probed): is this sys.modules entry an extension module?
 * CPython's test is a module made from a PyModuleDef with a method table;
 * the text format drops the method table part, so that a module without
 * module-level functions (pybind11 makes them) is listed too.  This package
 * counts under the name "faulthandler", the built-in it stands in for when
 * a program puts it in sys.modules under that name. */
static FA_RACY_READ int
is_extension_module(const fa_dump *d, PyObject *key, PyObject *value)
{
    static const char stand_in[] = "faulthandler";
    if (value == fa.package) {
        return ascii_equal(key, stand_in, sizeof(stand_in) - 1);
    }
    if (!PyModule_Check(value)) {
        return 0;
    }
    PyModuleDef *def = PyModule_GetDef(value);
    return ptr_ok(def) && (!d->strict || def->m_methods != NULL);
}

/* signal-safe (probed): third-party extension modules in sys.modules, as
 * CPython 3.10+ lists them, with sys.stdlib_module_names read now.
 * PyDict_Next reads the table without allocating. */
static FA_RACY_READ void
step_extension_modules(fa_dump *d, void *arg)
{
    (void)arg;
    fa_writer *w = &d->w;
    PyObject *modules = fa.modules;
    if (d->json) {
        w_puts(w, "\"extension_modules\":[");
    }
    if (!obj_ok(modules, &PyDict_Type)) {
        if (d->json) {
            w_putc(w, ']');
        }
        return;
    }
    PyObject *stdlib = stdlib_module_names();
    Py_ssize_t pos = 0, count = 0;
    PyObject *key, *value;
    while (PyDict_Next(modules, &pos, &key, &value)) {
        if (!obj_ok(key, &PyUnicode_Type) || !ptr_ok(value) || !is_extension_module(d, key, value)
            || (stdlib != NULL && set_has_name(stdlib, key))
            || (!d->strict && is_hidden_name(key))) {
            continue;
        }
        if (d->json) {
            if (count) {
                w_putc(w, ',');
            }
        }
        else {
            w_puts(w, count ? ", " : "\nExtension modules: ");
        }
        w_pystr(w, key, d->json);
        count++;
    }
    if (d->json) {
        w_putc(w, ']');
    }
    else if (count) {
        w_puts(w, " (total: ");
        w_dec(w, (unsigned long long)count);
        w_puts(w, ")\n");
    }
}

/* signal-safe */
static void
dump_extension_modules(fa_dump *d)
{
    if (!probed(d, step_extension_modules, NULL) && d->json) {
        w_puts(&d->w, "\"extension_modules\":[]");
    }
}

/* What one dump is about. */
typedef struct {
    int event;
    int signum;
    const siginfo_t *si;
    uintptr_t pc;               /* faulting instruction, 0 if unknown */
    const char *timeout_header; /* "Timeout (0:00:05)!" */
    int all_threads;
    int c_stack;
    int skip;                   /* innermost frames of the caller not shown */
} fa_event;

/* signal-safe: did the kernel give a fault address worth printing? */
static int
event_has_fault_address(const fa_event *ev)
{
    return ev->si && !sent_by_process(ev->si)
           && (ev->signum == SIGSEGV || ev->signum == SIGBUS
               || ev->signum == SIGFPE || ev->signum == SIGILL);
}

/* signal-safe: the lines before the threads: CPython's first line (and,
 * for a fatal error, its blank line), or the opening of the JSON object. */
static void
dump_header(fa_dump *d, const fa_event *ev)
{
    fa_writer *w = &d->w;
    static const char *event_names[] = {"fatal_signal", "timeout", "signal", "explicit", "c_stack"};
    const char *fatal_name = NULL;
    for (int i = 0; i < FA_NFATAL; i++) {
        if (fatal_signals[i].signum == ev->signum) {
            fatal_name = fatal_signals[i].name;
        }
    }
    const char *code = ev->si ? si_code_text(ev->signum, ev->si->si_code) : NULL;
    int has_addr = event_has_fault_address(ev);
    if (d->json) {
        w_puts(w, "{\"event\":\"");
        w_puts(w, event_names[ev->event]);
        w_puts(w, "\",\"signal\":");
        if (ev->signum > 0 && signal_name(ev->signum)) {
            w_json_cstr(w, signal_name(ev->signum));
        }
        else if (ev->signum > 0) {
            w_dec(w, (unsigned long long)ev->signum);
        }
        else {
            w_puts(w, "null");
        }
        if (ev->event == EV_FATAL && fatal_name) {
            w_puts(w, ",\"error\":");
            w_json_cstr(w, fatal_name);
        }
        if (ev->timeout_header) {
            w_puts(w, ",\"timeout\":");
            w_json_cstr(w, ev->timeout_header);
        }
        if (code) {
            w_puts(w, ",\"si_code\":");
            w_json_cstr(w, code);
        }
        if (has_addr) {
            w_puts(w, ",\"fault_address\":\"0x");
            w_hex(w, (uintptr_t)ev->si->si_addr, 0);
            w_putc(w, '"');
        }
        if (sent_by_process(ev->si)) {
            w_puts(w, ",\"sender_pid\":");
            w_dec(w, (unsigned long long)ev->si->si_pid);
            w_puts(w, ",\"sender_uid\":");
            w_dec(w, (unsigned long long)ev->si->si_uid);
        }
        w_puts(w, ",\"pid\":");
        w_dec(w, (unsigned long long)getpid());
        char now[21];
        format_utc(now, 1);
        w_puts(w, ",\"time\":\"");
        w_puts(w, now);
        w_puts(w, "\",\"python\":");
        w_json_cstr(w, fa.python);
        w_puts(w, ",\"program\":");
        w_json_cstr(w, fa.prog);
        w_putc(w, ',');
        return;
    }
    if (ev->event == EV_FATAL) {
        w_puts(w, "Fatal Python error: ");
        w_puts(w, fatal_name ? fatal_name : "unknown signal");
        w_puts(w, "\n\n");
    }
    else if (ev->event == EV_TIMEOUT) {
        w_puts(w, ev->timeout_header);
        w_putc(w, '\n');
    }
}

/* signal-safe: our lines, after the Python frames where CPython's parsers
 * do not look: the signal and its origin, then the process. */
static void
dump_trailer(fa_dump *d, const fa_event *ev)
{
    fa_writer *w = &d->w;
    const char *code = ev->si ? si_code_text(ev->signum, ev->si->si_code) : NULL;
    int has_addr = event_has_fault_address(ev);
    w_putc(w, '\n');
    if (ev->signum > 0) {
        w_puts(w, "Signal: ");
        if (signal_name(ev->signum)) {
            w_puts(w, signal_name(ev->signum));
        }
        else {
            w_puts(w, "signal ");
            w_dec(w, (unsigned long long)ev->signum);
        }
        if (code) {
            w_puts(w, ", ");
            w_puts(w, code);
        }
        if (has_addr) {
            w_puts(w, ", fault address 0x");
            w_hex(w, (uintptr_t)ev->si->si_addr, 0);
        }
        if (sent_by_process(ev->si)) {
            w_puts(w, ", from pid ");
            w_dec(w, (unsigned long long)ev->si->si_pid);
            w_puts(w, " uid ");
            w_dec(w, (unsigned long long)ev->si->si_uid);
        }
        w_putc(w, '\n');
    }
    w_puts(w, "Process: pid ");
    w_dec(w, (unsigned long long)getpid());
    w_puts(w, ", program \"");
    w_puts(w, fa.prog);
    w_puts(w, "\", Python ");
    w_puts(w, fa.python);
    char now[21];
    format_utc(now, 1);
    w_puts(w, ", time ");
    w_puts(w, now);
    w_putc(w, '\n');
}

/* signal-safe (probed): only read which thread state comes next. */
static FA_RACY_READ void
step_next_thread(fa_dump *d, void *arg)
{
    (void)d;
    fa_thread_step *st = arg;
    st->next = st->ts->next;
}

typedef struct {
    PyThreadState *head;
    PyThreadState *current;     /* the calling thread's state */
    PyThreadState *main;        /* the oldest, last in the list */
    long total;
} fa_thread_scan;

/* signal-safe (probed): walk the thread list once. */
static FA_RACY_READ void
step_scan_threads(fa_dump *d, void *arg)
{
    (void)d;
    fa_thread_scan *sc = arg;
    unsigned long self = (unsigned long)pthread_self();
    PyInterpreterState *interp = fa.interp;
    sc->head = interp ? PyInterpreterState_ThreadHead(interp) : NULL;
    for (PyThreadState *ts = sc->head; ptr_ok(ts) && sc->total < FA_MAX_TSTATES; ts = ts->next) {
        if (ts->thread_id == self) {
            sc->current = ts;
        }
        sc->main = ts;
        sc->total++;
    }
}

/* signal-safe: CPython's order: from the newest thread to the oldest, the
 * calling thread marked where it stands, "..." past max_threads. */
static void
dump_threads_cpython(fa_dump *d, const fa_event *ev, const fa_thread_scan *sc)
{
    long shown = 0;
    PyThreadState *ts = sc->head;
    for (long seen = 0; ts != NULL && seen < sc->total; seen++) {
        if (shown > 0) {
            w_putc(&d->w, '\n');
        }
        if (shown >= fa.max_threads) {
            w_puts(&d->w, "...\n");
            break;
        }
        fa_thread_step st = {ts, ts == sc->current, ts == sc->main, 1, NULL, NULL};
        if (!dump_thread(d, &st, st.is_current ? ev->skip : 0)) {
            break;
        }
        ts = st.next;
        shown++;
    }
}

/* signal-safe: our order: the calling thread first (for a timeout, the main
 * thread), then the rest newest first, up to max_threads, so that the thread
 * that matters comes first in a log cut short and no limit can leave it out.
 * Threads come and go while we look, so every thread state is read inside a
 * probe and a list that changes under us just ends early. */
static void
dump_threads(fa_dump *d, const fa_event *ev)
{
    fa_writer *w = &d->w;
    fa_thread_scan sc = {NULL, NULL, NULL, 0};
    if (!probed(d, step_scan_threads, &sc)) {
        sc.current = sc.main = NULL;
    }
    PyThreadState *first = sc.current ? sc.current : sc.main;
    long shown = 0;
    if (d->json) {
        w_puts(w, "\"threads\":[");
    }
    if (!ev->all_threads) {
        /* the "Stack" block: the calling thread; for faulthandler 1.x's
         * timeout without all_threads, the main thread */
        first = sc.current ? sc.current : (ev->event == EV_TIMEOUT ? sc.main : NULL);
        fa_thread_step st = {first, first == sc.current, first == sc.main, 0, NULL, NULL};
        if (first != NULL) {
            shown += dump_thread(d, &st, ev->skip);
        }
        else if (!d->json && !d->strict) {
            w_puts(w, "Stack (most recent call first):\n  <no Python frame>\n");
        }
    }
    else if (d->strict) {
        dump_threads_cpython(d, ev, &sc);
    }
    else {
        if (first != NULL) {
            fa_thread_step st = {first, first == sc.current, first == sc.main, 1, NULL, NULL};
            shown += dump_thread(d, &st, ev->skip);
        }
        PyThreadState *ts = sc.head;
        for (long seen = 0; ts != NULL && seen < sc.total; seen++) {
            if (shown >= fa.max_threads) {
                break;
            }
            fa_thread_step st = {ts, ts == sc.current, ts == sc.main, 1, NULL, NULL};
            if (ts == first) {
                fa_thread_step skip_first = st;
                if (!probed(d, step_next_thread, &skip_first)) {
                    break;
                }
                ts = skip_first.next;
                continue;
            }
            if (!d->json) {
                w_putc(w, '\n');
            }
            if (!dump_thread(d, &st, 0)) {
                break;
            }
            ts = st.next;
            shown++;
        }
        if (!d->json && shown < sc.total) {
            w_puts(w, "\n... (");
            w_dec(w, (unsigned long long)(sc.total - shown));
            w_puts(w, " threads omitted)\n");
        }
    }
    if (d->json) {
        w_puts(w, "],\"threads_omitted\":");
        w_dec(w, (unsigned long long)(sc.total > shown && ev->all_threads ? sc.total - shown : 0));
        w_putc(w, ',');
    }
}

/* signal-safe: write one whole dump to `fd`. */
static void
dump_to_fd(fa_dump *d, const fa_event *ev)
{
    fa_writer *w = &d->w;
    dump_header(d, ev);
    if (ev->event == EV_C_STACK) {
        dump_c_stack(d, 0);
        if (d->json) {
            w_puts(w, "}\n");
        }
        else if (!d->strict) {
            dump_trailer(d, ev);
        }
        w_flush(w);
        return;
    }
    if (!d->json) {
        /* CPython's layout, then ours after the Python frames: the C stack
         * (which CPython prints from 3.14) and the extension modules (from
         * 3.10) come last, where CPython has them */
        dump_threads(d, ev);
        if (!d->strict) {
            dump_trailer(d, ev);
        }
        if (ev->c_stack && (!d->strict || PY_VERSION_HEX >= 0x030E0000)) {
            w_putc(w, '\n');
            dump_c_stack(d, ev->pc);
        }
        if (ev->event == EV_FATAL && (!d->strict || PY_VERSION_HEX >= 0x030A0000)) {
            dump_extension_modules(d);
        }
    }
    else {
        dump_threads(d, ev);
        if (ev->c_stack) {
            dump_c_stack(d, ev->pc);
            w_putc(w, ',');
        }
        dump_extension_modules(d);
        w_puts(w, "}\n");
    }
    w_flush(w);
}

/* signal-safe: one line about a dump file we could not write, first in
 * the writer that now writes the dump to stderr instead. */
static void
note_fallback(fa_writer *w, const char *path, int err)
{
    w_puts(w, "faulthandler-auto: cannot write dump file \"");
    w_puts(w, path);
    w_puts(w, "\": ");
    w_puts(w, errno_name(err));
    w_puts(w, "; writing the dump to stderr\n");
}

static void fatal_handler(int signum, siginfo_t *si, void *uctx);

static const int guarded_signals[2] = {SIGSEGV, SIGBUS};

/* signal-safe: for the length of a dump, SIGSEGV and SIGBUS must reach
 * fatal_handler, which sends a fault in a probe back to it.  Where they are
 * not ours (fatal dumps not enabled, or someone took them since), take them
 * and remember what was there. */
static void
guard_begin(void)
{
    for (int i = 0; i < 2; i++) {
        struct sigaction cur;
        if (sigaction(guarded_signals[i], NULL, &cur) != 0
            || ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == fatal_handler)) {
            continue;
        }
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_sigaction = fatal_handler;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        if (sigaction(guarded_signals[i], &action, &fa.guard_previous[i]) == 0) {
            fa.guard_installed[i] = 1;
        }
    }
}

/* signal-safe: give back what guard_begin took. */
static void
guard_end(void)
{
    for (int i = 0; i < 2; i++) {
        if (fa.guard_installed[i]) {
            fa.guard_installed[i] = 0;
            sigaction(guarded_signals[i], &fa.guard_previous[i], NULL);
        }
    }
}

/* signal-safe: write a dump to its destination.  A file that cannot be
 * opened or filled gets a note and the whole dump goes to stderr instead. */
static void
dump_to_dest_unguarded(const fa_dest *dest, const fa_event *ev, int *abort)
{
    fa_dump d;
    if (dest->fd >= 0) {
        dump_init(&d, dest->fd, abort);
        dump_to_fd(&d, ev);
        return;
    }
    char path[FA_PATH_SIZE];
    int fd = -1, err = ENAMETOOLONG;
    if (expand_template(dest->path, path, sizeof(path))) {
        fd = open_dump_file(path);
        err = errno;
    }
    else {
        fa_strlcpy(path, dest->path, sizeof(path));
    }
    if (fd >= 0) {
        /* a full file system or RLIMIT_FSIZE must not kill us with SIGXFSZ */
        struct sigaction ign, old;
        memset(&ign, 0, sizeof(ign));
        ign.sa_handler = SIG_IGN;
        sigaction(SIGXFSZ, &ign, &old);
        dump_init(&d, fd, abort);
        dump_to_fd(&d, ev);
        err = d.w.err;
        sigaction(SIGXFSZ, &old, NULL);
        close(fd);
        if (!d.w.failed || (abort && *abort)) {
            return;
        }
    }
    dump_init(&d, STDERR_FILENO, abort);
    note_fallback(&d.w, path, err);
    dump_to_fd(&d, ev);
}

/* signal-safe */
static void
dump_to_dest(const fa_dest *dest, const fa_event *ev, int *abort)
{
    guard_begin();
    dump_to_dest_unguarded(dest, ev, abort);
    guard_end();
}


/* ------------------------------------------------------------------------
 * Fatal signals
 * ------------------------------------------------------------------------ */

/* signal-safe: the faulting instruction from the signal context. */
static uintptr_t
context_pc(void *uctx)
{
#if defined(__linux__) && defined(__x86_64__)
    return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__linux__) && defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.pc;
#else
    (void)uctx;
    return 0;
#endif
}

/* signal-safe: put back the handler that was there before ours. */
static void
fatal_restore(fa_fatal_signal *h)
{
    if (h->enabled) {
        h->enabled = 0;
        (void)sigaction(h->signum, &h->previous, NULL);
    }
}

/* signal-safe: SIGALRM handler armed during a fatal dump.  dladdr() takes
 * the dynamic loader's lock; if the crash left it held, or a write blocks
 * forever, the process must still end, and end by its own signal. */
static void
fatal_dump_too_long(int unused)
{
    (void)unused;
    static const char msg[] = "\nfaulthandler-auto: the fatal dump took too long; giving up\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    int signum = __atomic_load_n(&fa.dumping_signum, __ATOMIC_ACQUIRE);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(signum, &dfl, NULL);
    raise(signum);
    _exit(128 + signum);
}

/* signal-safe: hand a signal we only guarded a dump against to whoever had
 * it before the guard; it is raised again, and a fault re-faults on return. */
static void
guard_forward(int signum)
{
    for (int i = 0; i < 2; i++) {
        if (guarded_signals[i] == signum && fa.guard_installed[i]) {
            fa.guard_installed[i] = 0;
            sigaction(signum, &fa.guard_previous[i], NULL);
            raise(signum);
            return;
        }
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(signum, &dfl, NULL);
    raise(signum);
}

/* signal-safe: the handler for SIGSEGV, SIGFPE, SIGBUS, SIGILL, SIGABRT.
 * Runs on the alternate stack.  A fault in a dump's probe goes back to the
 * probe.  Otherwise: dump once, give the signal back to the previous
 * handler and raise it again, so the exit status and core dump are what
 * they would have been without us.  Ours stays installed during the dump,
 * so a fault in the dump itself outside a probe ends in the default action
 * (see the dumping_tid check), never in a hang or a loop. */
static void
fatal_handler(int signum, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    pid_t me = fa_gettid();
    sigjmp_buf *probe = probe_env_of(me);
    if (probe != NULL) {
        siglongjmp(*probe, 1);
    }
    fa_fatal_signal *h = NULL;
    for (int i = 0; i < FA_NFATAL; i++) {
        if (fatal_signals[i].signum == signum && fatal_signals[i].enabled) {
            h = &fatal_signals[i];
        }
    }
    if (h == NULL) {
        guard_forward(signum);
        errno = saved_errno;
        return;
    }
    pid_t expected = 0;
    if (!__atomic_compare_exchange_n(&fa.dumping_tid, &expected, me, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        if (expected == me) {
            /* a fault inside our own dump: default action, never a hang */
            struct sigaction dfl;
            memset(&dfl, 0, sizeof(dfl));
            dfl.sa_handler = SIG_DFL;
            sigaction(signum, &dfl, NULL);
            raise(signum);
            return;
        }
        /* another thread is dumping its crash: let it finish and end us */
        for (int i = 0; i < 10000; i++) {
            fa_sleep_ms(1);
        }
    }
    __atomic_store_n(&fa.dumping_signum, signum, __ATOMIC_RELEASE);
    struct sigaction on_alarm, old_alarm;
    memset(&on_alarm, 0, sizeof(on_alarm));
    on_alarm.sa_handler = fatal_dump_too_long;
    on_alarm.sa_flags = SA_ONSTACK;
    sigaction(SIGALRM, &on_alarm, &old_alarm);
    unsigned int old_alarm_left = alarm(FA_FATAL_DUMP_SECONDS);
    /* a dump of a timeout or signal in flight gets a moment to finish */
    int locked = dump_lock_acquire(2000);
    fa_event ev = {EV_FATAL, signum, si, context_pc(uctx), NULL,
                   fa.fatal_all_threads, fa.fatal_c_stack, 0};
    dump_to_dest(&fa.fatal_dest, &ev, NULL);
    dump_lock_release(locked);
    alarm(old_alarm_left);
    sigaction(SIGALRM, &old_alarm, NULL);
    fatal_restore(h);
    errno = saved_errno;
    raise(signum);
    /* the previous handler let the process live: a later crash dumps again */
    __atomic_store_n(&fa.dumping_tid, 0, __ATOMIC_RELEASE);
}

/* Install our handler for every fatal signal. Not signal-safe. */
static int
fatal_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = fatal_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    for (int i = 0; i < FA_NFATAL; i++) {
        fa_fatal_signal *h = &fatal_signals[i];
        if (h->enabled) {
            continue;
        }
        if (sigaction(h->signum, &action, &h->previous) != 0) {
            return -1;
        }
        h->enabled = 1;
    }
    return 0;
}


/* ------------------------------------------------------------------------
 * User signals
 * ------------------------------------------------------------------------ */

/* signal-safe: call the handler that was there before ours, as CPython's
 * chain=True does. */
static void
user_chain(int signum, siginfo_t *si, void *uctx, fa_user_signal *u)
{
    const struct sigaction *prev = &u->previous;
    if (prev->sa_flags & SA_SIGINFO) {
        if (prev->sa_sigaction != NULL) {
            prev->sa_sigaction(signum, si, uctx);
        }
        return;
    }
    if (prev->sa_handler == SIG_IGN) {
        return;
    }
    if (prev->sa_handler != SIG_DFL) {
        prev->sa_handler(signum);
        return;
    }
    /* the default action: let it happen, then come back if we survive */
    struct sigaction ours;
    sigaction(signum, &u->previous, &ours);
    raise(signum);
    sigaction(signum, &ours, NULL);
}

/* signal-safe: the handler for registered signals.  Other registered
 * signals are blocked while it runs (see user_install), and it takes the
 * dump flag, so each delivery writes one whole dump. */
static void
user_handler(int signum, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    if (signum <= 0 || signum >= FA_NSIG || !fa.user[signum].enabled) {
        return;
    }
    fa_user_signal *u = &fa.user[signum];
    int locked = dump_lock_acquire(5000);
    fa_event ev = {EV_SIGNAL, signum, si, 0, NULL, u->all_threads, 0, 0};
    dump_to_dest(&u->dest, &ev, NULL);
    dump_lock_release(locked);
    if (u->chain) {
        errno = saved_errno;
        user_chain(signum, si, uctx, u);
    }
    errno = saved_errno;
}

/* Install (or refresh) the handler for `signum`. Not signal-safe. */
static int
user_install(int signum)
{
    fa_user_signal *u = &fa.user[signum];
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = user_handler;
    sigemptyset(&action.sa_mask);
    for (int s = 1; s < FA_NSIG; s++) {
        if (fa.user[s].enabled || s == signum) {
            sigaddset(&action.sa_mask, s);
        }
    }
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    if (u->chain) {
        /* CPython's chain=True: the previous action runs inside ours, so
         * the signal raised for it must not stay blocked until we return */
        sigdelset(&action.sa_mask, signum);
        action.sa_flags |= SA_NODEFER;
    }
    struct sigaction previous;
    if (sigaction(signum, &action, &previous) != 0) {
        return -1;
    }
    if (!u->enabled) {
        u->previous = previous;
    }
    return 0;
}


/* ------------------------------------------------------------------------
 * The watchdog
 * ------------------------------------------------------------------------ */

/* The watchdog thread: sleeps until the deadline, or until an arm or cancel
 * wakes it, and writes the timeout dump without the GIL or its own mutex,
 * so nothing the main thread holds can stop it, and `cancel` never waits
 * for a writer blocked on a full pipe: it raises `wd_abort`, which the
 * writer checks between polls. */
static void *
watchdog_main(void *arg)
{
    (void)arg;
    /* every signal blocked but the faults, which must reach fatal_handler
     * (a probe's fault, or a real crash of this thread) */
    sigset_t all;
    sigfillset(&all);
    for (int i = 0; i < FA_NFATAL; i++) {
        sigdelset(&all, fatal_signals[i].signum);
    }
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&fa.wd_mutex);
    for (;;) {
        while (!fa.wd_armed) {
            pthread_cond_wait(&fa.wd_cond, &fa.wd_mutex);
        }
        unsigned long gen = fa.wd_generation;
        int rc = pthread_cond_timedwait(&fa.wd_cond, &fa.wd_mutex, &fa.wd_deadline);
        if (rc != ETIMEDOUT || !fa.wd_armed || gen != fa.wd_generation) {
            continue;
        }
        fa_dest dest = fa.wd_dest;
        char header[sizeof(fa.wd_header)];
        memcpy(header, fa.wd_header, sizeof(header));
        int do_exit = fa.wd_exit;
        int all_threads = fa.wd_all_threads;
        if (fa.wd_repeat) {
            long long us = fa.wd_timeout_us;
            fa.wd_deadline.tv_sec += (time_t)(us / 1000000);
            fa.wd_deadline.tv_nsec += (long)(us % 1000000) * 1000;
            if (fa.wd_deadline.tv_nsec >= 1000000000L) {
                fa.wd_deadline.tv_sec++;
                fa.wd_deadline.tv_nsec -= 1000000000L;
            }
        }
        else {
            fa.wd_armed = 0;
        }
        fa.wd_busy = 1;
        __atomic_store_n(&fa.wd_abort, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&fa.wd_mutex);

        int locked = dump_lock_acquire(5000);
        fa_event ev = {EV_TIMEOUT, 0, NULL, 0, header, all_threads, 0, 0};
        dump_to_dest(&dest, &ev, &fa.wd_abort);
        dump_lock_release(locked);
        if (do_exit && !__atomic_load_n(&fa.wd_abort, __ATOMIC_ACQUIRE)) {
            _exit(1);
        }

        pthread_mutex_lock(&fa.wd_mutex);
        fa.wd_busy = 0;
        pthread_cond_broadcast(&fa.wd_cond);
    }
    return NULL;
}

/* The watchdog's mutex and condition; its deadlines are on the monotonic
 * clock where the condition can use it, so a clock change neither fires
 * nor delays a timeout. */
static void
watchdog_init_sync(void)
{
    pthread_mutex_init(&fa.wd_mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
#if defined(__linux__)
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0) {
        fa.wd_clock = CLOCK_MONOTONIC;
    }
#endif
    pthread_cond_init(&fa.wd_cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* Start the watchdog thread if it is not running.  Called with wd_mutex. */
static int
watchdog_start_locked(void)
{
    if (fa.wd_running) {
        return 0;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, watchdog_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    fa.wd_running = 1;
    return 0;
}

/* Set the deadline `timeout_us` from now.  Called with wd_mutex. */
static void
watchdog_set_deadline_locked(void)
{
    clock_gettime(fa.wd_clock, &fa.wd_deadline);
    long long us = fa.wd_timeout_us;
    fa.wd_deadline.tv_sec += (time_t)(us / 1000000);
    fa.wd_deadline.tv_nsec += (long)(us % 1000000) * 1000;
    if (fa.wd_deadline.tv_nsec >= 1000000000L) {
        fa.wd_deadline.tv_sec++;
        fa.wd_deadline.tv_nsec -= 1000000000L;
    }
}

/* Disarm, stop a dump in flight, and wait (briefly: the writer polls every
 * 100 ms) until the watchdog is idle.  Called with wd_mutex. */
static void
watchdog_cancel_locked(void)
{
    fa.wd_armed = 0;
    fa.wd_generation++;
    if (fa.wd_busy) {
        __atomic_store_n(&fa.wd_abort, 1, __ATOMIC_RELEASE);
    }
    pthread_cond_broadcast(&fa.wd_cond);
    while (fa.wd_busy) {
        pthread_cond_wait(&fa.wd_cond, &fa.wd_mutex);
    }
}


/* ------------------------------------------------------------------------
 * Python-facing functions
 * ------------------------------------------------------------------------ */

/* Parse a destination: an int fd, or bytes holding a checked template. */
static int
dest_from_object(PyObject *obj, fa_dest *dest)
{
    if (PyLong_Check(obj)) {
        long fd = PyLong_AsLong(obj);
        if (fd == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (fd < 0 || fd > INT_MAX) {
            PyErr_SetString(PyExc_ValueError, "file is not a valid file descriptor");
            return -1;
        }
        dest->fd = (int)fd;
        dest->path[0] = '\0';
        return 0;
    }
    if (PyBytes_Check(obj)) {
        Py_ssize_t n = PyBytes_GET_SIZE(obj);
        if (n == 0 || n >= FA_PATH_SIZE || (Py_ssize_t)strlen(PyBytes_AS_STRING(obj)) != n) {
            PyErr_SetString(PyExc_ValueError, "path template is empty, too long or holds a NUL byte");
            return -1;
        }
        dest->fd = -1;
        memcpy(dest->path, PyBytes_AS_STRING(obj), (size_t)n + 1);
        return 0;
    }
    PyErr_SetString(PyExc_TypeError, "destination must be an int fd or a bytes path template");
    return -1;
}

static PyObject *
py_setup(PyObject *self, PyObject *args)
{
    (void)self;
    const char *prog, *python;
    PyObject *stdlib_names;
    if (!PyArg_ParseTuple(args, "ssS", &prog, &python, &stdlib_names)) {
        return NULL;
    }
    fa_strlcpy(fa.prog, prog, sizeof(fa.prog));
    fa_strlcpy(fa.python, python, sizeof(fa.python));
    Py_INCREF(stdlib_names);
    Py_XSETREF(fa.stdlib_names, stdlib_names);
    fa.interp = PyInterpreterState_Get();
    fa.modules = PySys_GetObject("modules");
    PyObject *sys = PyImport_AddModule("sys");
    fa.sysdict = sys ? PyModule_GetDict(sys) : NULL;
    fa.package = PyImport_AddModule("faulthandler_auto");
    if (fa.sysdict == NULL || fa.package == NULL) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
py_set_output(PyObject *self, PyObject *args)
{
    (void)self;
    int format;
    long max_frames, max_threads;
    if (!PyArg_ParseTuple(args, "ill", &format, &max_frames, &max_threads)) {
        return NULL;
    }
    fa.format = format;
    fa.max_frames = max_frames;
    fa.max_threads = max_threads;
    Py_RETURN_NONE;
}

/* Run backtrace() and dladdr() once outside any handler: the first call
 * may load libgcc_s and allocate. */
static void
prime_unwinder(void)
{
#ifdef FA_HAVE_BACKTRACE
    void *frames[4];
    int n = backtrace(frames, 4);
    Dl_info info;
    if (n > 0) {
        (void)dladdr(frames[0], &info);
    }
#endif
}

static PyObject *
py_enable(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dest_obj;
    int all_threads, c_stack;
    if (!PyArg_ParseTuple(args, "Opp", &dest_obj, &all_threads, &c_stack)) {
        return NULL;
    }
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    if (c_stack) {
        prime_unwinder();
    }
    fa.fatal_dest = dest;
    fa.fatal_all_threads = all_threads;
    fa.fatal_c_stack = c_stack;
    if (fa.main_altstack == NULL) {
        fa.main_altstack = install_altstack();
    }
    if (fatal_install() < 0) {
        PyErr_SetFromErrno(PyExc_RuntimeError);
        return NULL;
    }
    fa.fatal_enabled = 1;
    Py_RETURN_NONE;
}

static PyObject *
py_disable(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    int was = fa.fatal_enabled;
    for (int i = 0; i < FA_NFATAL; i++) {
        fatal_restore(&fatal_signals[i]);
    }
    fa.fatal_enabled = 0;
    return PyBool_FromLong(was);
}

static PyObject *
py_is_enabled(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(fa.fatal_enabled);
}

/* The explicit dumps run with the GIL held, like CPython's, so the frames do
 * not change under us; they take the dump flag so they never interleave with
 * a signal or timeout dump. */
static PyObject *
explicit_dump(PyObject *dest_obj, int event, int all_threads, int skip)
{
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    if (event == EV_C_STACK) {
        prime_unwinder();
    }
    int locked = dump_lock_acquire(5000);
    fa_event ev = {event, 0, NULL, 0, NULL, all_threads, 0, skip};
    dump_to_dest(&dest, &ev, NULL);
    dump_lock_release(locked);
    Py_RETURN_NONE;
}

static PyObject *
py_dump_traceback(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dest_obj;
    int all_threads, skip;
    if (!PyArg_ParseTuple(args, "Opi", &dest_obj, &all_threads, &skip)) {
        return NULL;
    }
    return explicit_dump(dest_obj, EV_EXPLICIT, all_threads, skip);
}

static PyObject *
py_dump_c_stack(PyObject *self, PyObject *dest_obj)
{
    (void)self;
    return explicit_dump(dest_obj, EV_C_STACK, 0, 0);
}

static PyObject *
py_dump_later(PyObject *self, PyObject *args)
{
    (void)self;
    long long timeout_us;
    int repeat, do_exit;
    PyObject *dest_obj;
    const char *header;
    int all_threads = 1;
    if (!PyArg_ParseTuple(args, "LpOps|p", &timeout_us, &repeat, &dest_obj, &do_exit, &header,
                          &all_threads)) {
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
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&fa.wd_mutex);
    watchdog_cancel_locked();
    if (watchdog_start_locked() < 0) {
        err = errno;
    }
    else {
        fa.wd_dest = dest;
        fa.wd_timeout_us = timeout_us;
        fa.wd_repeat = repeat;
        fa.wd_exit = do_exit;
        fa.wd_all_threads = all_threads;
        fa_strlcpy(fa.wd_header, header, sizeof(fa.wd_header));
        watchdog_set_deadline_locked();
        fa.wd_generation++;
        fa.wd_armed = 1;
        pthread_cond_broadcast(&fa.wd_cond);
    }
    pthread_mutex_unlock(&fa.wd_mutex);
    Py_END_ALLOW_THREADS
    if (err) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_RuntimeError);
    }
    Py_RETURN_NONE;
}

static PyObject *
py_cancel_later(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&fa.wd_mutex);
    watchdog_cancel_locked();
    pthread_mutex_unlock(&fa.wd_mutex);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* In a forked child the watchdog thread is gone and its mutex may have been
 * held at the fork: start over, and re-arm with the full timeout. */
static PyObject *
py_after_fork_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    watchdog_init_sync();
    fa.wd_running = 0;
    fa.wd_busy = 0;
    fa.dump_owner = 0;
    fa.dumping_tid = 0;
    memset(fa.probes, 0, sizeof(fa.probes));
    unsigned long self_ident = (unsigned long)pthread_self();
    for (int i = 0; i < FA_NAME_SLOTS; i++) {
        fa_thread_slot *slot = &fa.threads[i];
        if (slot->ident != 0 && slot->ident != self_ident) {
            /* that thread does not exist here, but its stack was copied */
            if (slot->altstack != NULL) {
                munmap(slot->altstack, altstack_guard() + FA_ALTSTACK_SIZE);
            }
            slot->ready = 0;
            slot->altstack = NULL;
            slot->ident = 0;
        }
    }
    if (fa.wd_armed) {
        pthread_mutex_lock(&fa.wd_mutex);
        watchdog_set_deadline_locked();
        fa.wd_generation++;
        int rc = watchdog_start_locked();
        pthread_mutex_unlock(&fa.wd_mutex);
        if (rc < 0) {
            fa.wd_armed = 0;
            return PyErr_SetFromErrno(PyExc_RuntimeError);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
py_register(PyObject *self, PyObject *args)
{
    (void)self;
    int signum, all_threads, chain;
    PyObject *dest_obj;
    if (!PyArg_ParseTuple(args, "iOpp", &signum, &dest_obj, &all_threads, &chain)) {
        return NULL;
    }
    if (signum <= 0 || signum >= FA_NSIG) {
        PyErr_SetString(PyExc_ValueError, "signal number out of range");
        return NULL;
    }
    fa_dest dest;
    if (dest_from_object(dest_obj, &dest) < 0) {
        return NULL;
    }
    fa_user_signal *u = &fa.user[signum];
    u->dest = dest;
    u->all_threads = all_threads;
    u->chain = chain;
    if (user_install(signum) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    u->enabled = 1;
    /* refresh the masks of the others so two registered signals never nest */
    for (int s = 1; s < FA_NSIG; s++) {
        if (s != signum && fa.user[s].enabled) {
            (void)user_install(s);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
py_unregister(PyObject *self, PyObject *arg)
{
    (void)self;
    long signum = PyLong_AsLong(arg);
    if (signum == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (signum <= 0 || signum >= FA_NSIG) {
        PyErr_SetString(PyExc_ValueError, "signal number out of range");
        return NULL;
    }
    fa_user_signal *u = &fa.user[signum];
    if (!u->enabled) {
        Py_RETURN_FALSE;
    }
    u->enabled = 0;
    (void)sigaction(signum, &u->previous, NULL);
    Py_RETURN_TRUE;
}

/* Keep the name of thread `ident` where a dump can read it without
 * allocating.  A slot an earlier thread with the same ident left behind is
 * taken over, else a free one is claimed.  Returns the slot, or NULL when
 * all are taken (that thread's dumps then show no name). */
static fa_thread_slot *
name_slot(unsigned long ident, const char *name)
{
    fa_thread_slot *slot = NULL;
    for (int i = 0; i < FA_NAME_SLOTS && slot == NULL; i++) {
        if (__atomic_load_n(&fa.threads[i].ident, __ATOMIC_ACQUIRE) == ident) {
            slot = &fa.threads[i];
        }
    }
    for (int i = 0; i < FA_NAME_SLOTS && slot == NULL; i++) {
        unsigned long expected = 0;
        if (__atomic_compare_exchange_n(&fa.threads[i].ident, &expected, ident, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            slot = &fa.threads[i];
        }
    }
    if (slot != NULL) {
        __atomic_store_n(&slot->ready, 0, __ATOMIC_RELEASE);
        fa_strlcpy(slot->name, name, sizeof(slot->name));
        __atomic_store_n(&slot->ready, 1, __ATOMIC_RELEASE);
    }
    return slot;
}

/* A thread starts: keep its name, and give it an alternate stack so that
 * its stack overflow can be dumped too. */
static void
thread_enter(const char *name)
{
    fa_thread_slot *slot = name_slot((unsigned long)pthread_self(), name);
    if (slot != NULL && slot->altstack == NULL) {
        slot->altstack = install_altstack();
    }
}

/* Forget the calling thread before it ends. */
static void
thread_leave(void)
{
    unsigned long ident = (unsigned long)pthread_self();
    for (int i = 0; i < FA_NAME_SLOTS; i++) {
        fa_thread_slot *s = &fa.threads[i];
        if (__atomic_load_n(&s->ident, __ATOMIC_ACQUIRE) == ident) {
            __atomic_store_n(&s->ready, 0, __ATOMIC_RELEASE);
            remove_altstack(s->altstack);
            s->altstack = NULL;
            __atomic_store_n(&s->ident, 0, __ATOMIC_RELEASE);
            return;
        }
    }
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
    const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(args, 0));
    if (name == NULL) {
        PyErr_Clear();      /* a name with lone surrogates: run it unnamed */
        name = "";
    }
    PyObject *rest = PyTuple_GetSlice(args, 2, PyTuple_GET_SIZE(args));
    if (rest == NULL) {
        return NULL;
    }
    thread_enter(name);
    PyObject *result = PyObject_Call(PyTuple_GET_ITEM(args, 1), rest, kwargs);
    thread_leave();
    Py_DECREF(rest);
    return result;
}

/* name_thread(ident, name): a thread that was running before we were
 * loaded (so did not start through run_thread). */
static PyObject *
py_name_thread(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long ident;
    PyObject *name_obj;
    if (!PyArg_ParseTuple(args, "kU", &ident, &name_obj)) {
        return NULL;
    }
    const char *name = PyUnicode_AsUTF8(name_obj);
    if (name == NULL) {
        PyErr_Clear();      /* lone surrogates: leave it unnamed */
        name = "";
    }
    (void)name_slot(ident, name);
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


/* ------------------------------------------------------------------------
 * Test helpers: real faults, as the original faulthandler 1.x offered
 * ------------------------------------------------------------------------ */

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
 * released the crash happens in a thread that holds no GIL, as in a C
 * library called without it. */
static PyObject *
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

static FA_REAL_FAULT PyObject *
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

static PyObject *
py_sigbus(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    raise(SIGBUS);
    Py_RETURN_NONE;
}

static PyObject *
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

static PyObject *
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

static PyObject *
py_stack_overflow(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromSize_t(overflow(NULL, 0));
}

/* Test-only: point the calling thread's innermost frame link at unmapped
 * memory for `seconds`, to check that a dump from another thread prints a
 * marker and goes on.  The link is put back before returning. */
static PyObject *
py_corrupt_frames_for(PyObject *self, PyObject *arg)
{
    (void)self;
    double seconds = PyFloat_AsDouble(arg);
    if (seconds == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    PyThreadState *ts = PyThreadState_Get();
    fa_frame *top = thread_top_frame(ts);
    if (top == NULL) {
        Py_RETURN_NONE;
    }
    void *bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
#if PY_VERSION_HEX >= 0x030B0000
    fa_frame *saved = top->previous;
    top->previous = (fa_frame *)bad;
#else
    fa_frame *saved = top->f_back;
    top->f_back = (fa_frame *)bad;
#endif
    Py_BEGIN_ALLOW_THREADS
    struct timespec ts_sleep = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts_sleep, NULL);
    Py_END_ALLOW_THREADS
#if PY_VERSION_HEX >= 0x030B0000
    top->previous = saved;
#else
    top->f_back = saved;
#endif
    munmap(bad, 4096);
    Py_RETURN_NONE;
}


static PyMethodDef native_methods[] = {
    {"setup", py_setup, METH_VARARGS, "setup(prog, python_version, stdlib_names)"},
    {"set_output", py_set_output, METH_VARARGS, "set_output(format, max_frames, max_threads)"},
    {"enable", py_enable, METH_VARARGS, "enable(dest, all_threads, c_stack)"},
    {"disable", py_disable, METH_NOARGS, "disable() -> bool"},
    {"is_enabled", py_is_enabled, METH_NOARGS, "is_enabled() -> bool"},
    {"dump_traceback", py_dump_traceback, METH_VARARGS, "dump_traceback(dest, all_threads)"},
    {"dump_c_stack", py_dump_c_stack, METH_O, "dump_c_stack(dest)"},
    {"dump_traceback_later", py_dump_later, METH_VARARGS,
     "dump_traceback_later(timeout_us, repeat, dest, exit, header, all_threads=True)"},
    {"cancel_dump_traceback_later", py_cancel_later, METH_NOARGS, NULL},
    {"after_fork_child", py_after_fork_child, METH_NOARGS, NULL},
    {"register", py_register, METH_VARARGS, "register(signum, dest, all_threads, chain)"},
    {"unregister", py_unregister, METH_O, "unregister(signum) -> bool"},
    {"run_thread", (PyCFunction)(void (*)(void))py_run_thread, METH_VARARGS | METH_KEYWORDS,
     "run_thread(name, function, *args, **kwargs)"},
    {"name_thread", py_name_thread, METH_VARARGS, "name_thread(ident, name)"},
    {"secure_mode", py_secure_mode, METH_NOARGS, "True in a setuid/setgid process"},
    {"sigsegv", (PyCFunction)(void (*)(void))py_sigsegv, METH_VARARGS | METH_KEYWORDS,
     "sigsegv(release_gil=False)"},
    {"sigfpe", py_sigfpe, METH_NOARGS, NULL},
    {"sigbus", py_sigbus, METH_NOARGS, NULL},
    {"sigill", py_sigill, METH_NOARGS, NULL},
    {"sigabrt", py_sigabrt, METH_NOARGS, NULL},
    {"stack_overflow", py_stack_overflow, METH_NOARGS, NULL},
    {"_corrupt_frames_for", py_corrupt_frames_for, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "faulthandler_auto._native",
    "The async-signal-safe core of faulthandler-auto.", -1, native_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    fa.format = FMT_TEXT;
    fa.max_frames = 100;
    fa.max_threads = 100;
    watchdog_init_sync();
    Dl_info info;
    if (dladdr((void *)&PyInit__native, &info)) {
        fa.self_base = info.dli_fbase;
    }
    return PyModule_Create(&native_module);
}
