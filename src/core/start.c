/* start.c - the start-up fast path.  The start-up module calls start()
 * before it would import the package and config.py: when every
 * PYTHONFAULTHANDLER* variable has a form config.py accepts without a
 * message, this reads and applies them with the same core functions the
 * package's API reaches, and prepares the process as the package's
 * _prepare() does, so start-up imports no Python module of ours.  Any
 * other form, or an unusual process, is left to config.py (start() returns
 * False having changed nothing): config.py stays the owner of what each
 * variable means, and a test feeds both the same values and checks that
 * whatever this accepts, config.parse() reads the same, silently.
 * Everything here runs with the GIL at start-up and is not signal-safe. */
#include "common.h"
#include "budget.h"
#include "dest.h"
#include "dump.h"
#include "facts.h"
#include "fatal.h"
#include "start.h"
#include "tasks.h"
#include "tree.h"
#include "usersig.h"
#include "watchdog.h"

#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#ifdef __linux__
#  include <sys/auxv.h>
#endif

extern char **environ;

static PyObject *
new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

#define PREFIX "PYTHONFAULTHANDLER"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* The numbers of _facts.py this reads by, exported as START_FACTS so that a
 * test proves they are _facts.py's. */
#define MIN_TIMEOUT 0.001
#define MAX_TIMEOUT (100 * 24 * 3600.0)
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 100000
#define DEFAULT_RATE 20
#define MAX_RATE 100000
#define DEFAULT_RATE_BYTES (64LL << 20)
#define MAX_RATE_BYTES (1LL << 62)
#define TREE_WAIT_MS 5000
#define TREE_TOTAL_WAIT_MS 30000
#define DIRECTORY_FILE_NAME "{prog}-{host}-{pid}.log"
static const char *const formats[] = {"text", "json", "cpython"};   /* FMT_* order */

enum { PATH_STDERR, PATH_STDOUT, PATH_TEMPLATE };

/* config.Config, as far as the fast path reads it. */
typedef struct {
    int fatal;
    int path_kind;
    char path[FA_PATH_SIZE];
    int has_timeout;
    double timeout;
    int repeat, do_exit, chain, all_threads, c_stack, format, asyncio, tree;
    long max_frames, max_threads, rate;
    long long rate_bytes;
    int nsignals;
    int signals[FA_NSIG];
} start_config;

typedef enum { K_BOOL, K_TIMEOUT, K_LIMIT, K_FORMAT, K_PATH, K_SIGNALS, K_RATE, K_BYTES,
               K_ASYNCIO } value_kind;

static const struct {
    const char *suffix;
    value_kind kind;
    size_t offset;      /* of the int (K_BOOL) or long (K_LIMIT) it sets */
} variables[] = {
    {"PATH", K_PATH, 0},
    {"TIMEOUT", K_TIMEOUT, 0},
    {"REPEAT", K_BOOL, offsetof(start_config, repeat)},
    {"EXIT", K_BOOL, offsetof(start_config, do_exit)},
    {"SIGNAL", K_SIGNALS, 0},
    {"CHAIN", K_BOOL, offsetof(start_config, chain)},
    {"ALL_THREADS", K_BOOL, offsetof(start_config, all_threads)},
    {"C_STACK", K_BOOL, offsetof(start_config, c_stack)},
    {"FORMAT", K_FORMAT, 0},
    {"MAX_FRAMES", K_LIMIT, offsetof(start_config, max_frames)},
    {"MAX_THREADS", K_LIMIT, offsetof(start_config, max_threads)},
    {"RATE", K_RATE, 0},
    {"RATE_BYTES", K_BYTES, 0},
    {"ASYNCIO", K_ASYNCIO, 0},
    {"TREE", K_BOOL, offsetof(start_config, tree)},
};
#define VARIABLE_COUNT ((int)(sizeof(variables) / sizeof(variables[0])))

/* Signals a user sends to dump, by the names config.py finds in _signal;
 * any other name (real-time ones, aliases) is left to config.py. */
static const struct { const char *name; int signum; } signal_names[] = {
    {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"TRAP", SIGTRAP},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
};
#define SIGNAL_NAME_COUNT ((int)(sizeof(signal_names) / sizeof(signal_names[0])))

/* ---- reading values: each returns 1 when sure, 0 to leave it to config.py */

static int
lower_is(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != word[i]) {
            return 0;
        }
    }
    return 1;
}

static int
all_digits(const char *s, size_t n, size_t most)
{
    if (n == 0 || n > most) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static long long
digits_value(const char *s, size_t n)
{
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int
read_bool(const char *s, size_t n, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (lower_is(s, n, yes[i]) || lower_is(s, n, no[i])) {
            *out = lower_is(s, n, yes[i]);
            return 1;
        }
    }
    return 0;
}

/* Plain decimal seconds (digits with at most one '.') and an optional unit. */
static int
read_timeout(const char *s, size_t n, double *out)
{
    double scale = 1.0;
    if (n > 0) {
        switch (s[n - 1] | 0x20) {
        case 's': scale = 1.0; n--; break;
        case 'm': scale = 60.0; n--; break;
        case 'h': scale = 3600.0; n--; break;
        default: break;
        }
    }
    if (n == 0 || n > 24) {
        return 0;
    }
    char text[32];
    int digits = 0, dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            dots++;
        } else if (s[i] >= '0' && s[i] <= '9') {
            digits++;
        } else {
            return 0;
        }
        text[i] = s[i];
    }
    text[n] = '\0';
    if (!digits || dots > 1) {
        return 0;
    }
    /* float()'s own conversion: the same double */
    double value = PyOS_string_to_double(text, NULL, NULL);
    if (value == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    value *= scale;
    if (!(value >= MIN_TIMEOUT && value <= MAX_TIMEOUT)) {
        return 0;
    }
    *out = value;
    return 1;
}

static int
read_bytes(const char *s, size_t n, long long *out)
{
    long long scale = 1;
    if (n > 0) {
        switch (s[n - 1] | 0x20) {
        case 'k': scale = 1LL << 10; n--; break;
        case 'm': scale = 1LL << 20; n--; break;
        case 'g': scale = 1LL << 30; n--; break;
        default: break;
        }
    }
    if (!all_digits(s, n, 18)) {
        return 0;
    }
    long long number = digits_value(s, n);
    if (number > MAX_RATE_BYTES / scale) {
        return 0;
    }
    *out = number * scale;
    return 1;
}

static int
read_signals(const char *s, size_t n, start_config *c)
{
    const char *end = s + n;
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        const char *a = s, *b = stop;
        while (a < b && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
            b--;
        }
        size_t len = (size_t)(b - a);
        int signum = 0;
        if (len > 0 && a[0] >= '0' && a[0] <= '9') {
            if (!all_digits(a, len, 3)) {
                return 0;
            }
            signum = (int)digits_value(a, len);
        } else {
            if (len > 3 && lower_is(a, 3, "sig")) {
                a += 3;
                len -= 3;
            }
            for (int i = 0; i < SIGNAL_NAME_COUNT; i++) {
                const char *name = signal_names[i].name;
                size_t k = strlen(name);
                int same = k == len;
                for (size_t j = 0; same && j < k; j++) {
                    char ch = a[j];
                    same = (ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch) == name[j];
                }
                if (same) {
                    signum = signal_names[i].signum;
                    break;
                }
            }
        }
        /* only signals a user sends to dump: not fatal, catchable, not
         * real-time (empty entries and the rest get config.py's words) */
        int fatal[8];
        int nfatal = fa_fatal_signal_numbers(fatal, 8);
        if (signum < 1 || signum >= 32 || signum == SIGKILL || signum == SIGSTOP) {
            return 0;
        }
        for (int i = 0; i < nfatal && i < 8; i++) {
            if (fatal[i] == signum) {
                return 0;
            }
        }
        int seen = 0;
        for (int i = 0; i < c->nsignals; i++) {
            seen |= c->signals[i] == signum;
        }
        if (!seen) {
            c->signals[c->nsignals++] = signum;
        }
        if (!comma) {
            break;
        }
        s = comma + 1;
    }
    return 1;
}

/* config.py's {env:NAME} rule. */
static int
env_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > FA_ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9')) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
              || ch == '_')) {
            return 0;
        }
    }
    return 1;
}

/* _facts.check_path_template() for an absolute, normalized path whose
 * directory (the part before the first field) exists: the same template. */
static int
read_path(const char *value, char out[FA_PATH_SIZE])
{
    size_t n = strlen(value);
    char path[FA_PATH_SIZE];
    if (value[0] != '/' || n + sizeof(DIRECTORY_FILE_NAME) >= sizeof(path)) {
        return 0;
    }
    int nfields;
    const char *const *fields = fa_template_fields(&nfields);
    for (const char *rest = value; (rest = strpbrk(rest, "{}")) != NULL;) {
        const char *close = strchr(rest, '}');
        if (*rest != '{' || close == NULL) {
            return 0;
        }
        const char *field = rest + 1;
        size_t len = (size_t)(close - field);
        size_t env = strlen(FA_ENV_FIELD);
        int known = len > env && !memcmp(field, FA_ENV_FIELD, env)
                    && env_name_ok(field + env, len - env);
        for (int i = 0; !known && i < nfields; i++) {
            known = strlen(fields[i]) == len && !memcmp(field, fields[i], len);
        }
        if (!known) {
            return 0;
        }
        rest = close + 1;
    }
    memcpy(path, value, n + 1);
    struct stat st;
    if (path[n - 1] == '/' || (!strchr(path, '{') && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        if (path[n - 1] != '/') {
            path[n++] = '/';
        }
        memcpy(path + n, DIRECTORY_FILE_NAME, sizeof(DIRECTORY_FILE_NAME));
        n += sizeof(DIRECTORY_FILE_NAME) - 1;
    }
    /* normalized already (abspath would change nothing): no empty, "." or
     * ".." component */
    for (const char *p = path; *p; p++) {
        if (*p == '/' && (p[1] == '/' || p[1] == '\0'
                          || (p[1] == '.' && (p[2] == '/' || p[2] == '\0'
                                              || (p[2] == '.' && (p[3] == '/' || p[3] == '\0')))))) {
            return 0;
        }
    }
    /* the directory of the part before the first field, resolved */
    char *brace = strchr(path, '{');
    size_t static_len = brace ? (size_t)(brace - path) : n;
    size_t head_len = static_len;
    while (head_len > 0 && path[head_len - 1] != '/') {
        head_len--;
    }
    char head[FA_PATH_SIZE];
    size_t keep = head_len > 1 ? head_len - 1 : 1;
    memcpy(head, path, keep);
    head[keep] = '\0';
    char real[PATH_MAX];
    if (realpath(head, real) == NULL) {
        return 0;       /* config.py resolves what does not exist lexically */
    }
    const char *tail = path + head_len;
    size_t real_len = strlen(real);
    int slash = real[real_len - 1] != '/';
    if (real_len + slash + strlen(tail) > FA_PATH_SIZE - 1) {
        return 0;
    }
    memcpy(out, real, real_len);
    if (slash) {
        out[real_len++] = '/';
    }
    memcpy(out + real_len, tail, strlen(tail) + 1);
    return 1;
}

/* The value of one variable, stripped, in `c`; 1 sure, 0 not. */
static int
read_value(start_config *c, int var, const char *raw, size_t n)
{
    const char *s = raw;
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    if (n == 0) {
        return 1;       /* blank: unset, as for CPython's PYTHON* variables */
    }
    char *base = (char *)c;
    long long number;
    switch (variables[var].kind) {
    case K_BOOL:
        return read_bool(s, n, (int *)(base + variables[var].offset));
    case K_ASYNCIO:
        return read_bool(s, n, &c->asyncio);
    case K_TIMEOUT:
        c->has_timeout = read_timeout(s, n, &c->timeout);
        return c->has_timeout;
    case K_LIMIT:
        if (!all_digits(s, n, 6) || (number = digits_value(s, n)) < 1 || number > MAX_LIMIT) {
            return 0;
        }
        *(long *)(base + variables[var].offset) = (long)number;
        return 1;
    case K_RATE:
        if (!all_digits(s, n, 6) || (number = digits_value(s, n)) > MAX_RATE) {
            return 0;
        }
        c->rate = (long)number;
        return 1;
    case K_BYTES:
        return read_bytes(s, n, &c->rate_bytes);
    case K_FORMAT:
        for (int i = 0; i < 3; i++) {
            if (lower_is(s, n, formats[i])) {
                c->format = i;
                return 1;
            }
        }
        return 0;
    case K_SIGNALS:
        c->nsignals = 0;
        return read_signals(s, n, c);
    case K_PATH:
        if (lower_is(s, n, "stderr") || lower_is(s, n, "stdout")) {
            c->path_kind = lower_is(s, n, "stdout") ? PATH_STDOUT : PATH_STDERR;
            return 1;
        }
        if (memchr(raw, '\t', strlen(raw)) || !read_path(raw, c->path)) {
            return 0;
        }
        c->path_kind = PATH_TEMPLATE;
        return 1;
    }
    return 0;
}

/* config.parse() of `environ` (a dict of str), when sure of every
 * variable and of no message: 1, else 0; -1 with an exception. */
static int
parse(PyObject *environ, start_config *c)
{
    memset(c, 0, sizeof(*c));
    c->all_threads = c->c_stack = 1;
    c->asyncio = -1;
    c->max_frames = c->max_threads = DEFAULT_LIMIT;
    c->rate = DEFAULT_RATE;
    c->rate_bytes = DEFAULT_RATE_BYTES;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(environ, &pos, &key, &value)) {
        if (!PyUnicode_Check(key) || !PyUnicode_Check(value)) {
            return 0;
        }
        Py_ssize_t klen, vlen;
        const char *k = PyUnicode_AsUTF8AndSize(key, &klen);
        const char *v = k == NULL ? NULL : PyUnicode_AsUTF8AndSize(value, &vlen);
        if (v == NULL) {
            PyErr_Clear();      /* lone surrogates: config.py's business */
            return 0;
        }
        if ((size_t)klen < PREFIX_LEN || memcmp(k, PREFIX, PREFIX_LEN)) {
            continue;
        }
        if ((size_t)klen == PREFIX_LEN) {
            c->fatal = vlen > 0;
            continue;
        }
        for (Py_ssize_t i = 0; i < vlen; i++) {
            unsigned char ch = (unsigned char)v[i];
            if ((ch < 0x20 && ch != '\t') || ch >= 0x7f) {
                return 0;   /* other whitespace, other scripts: config.py */
            }
        }
        int var = -1;
        for (int i = 0; i < VARIABLE_COUNT; i++) {
            const char *suffix = variables[i].suffix;
            if ((size_t)klen == PREFIX_LEN + 1 + strlen(suffix) && k[PREFIX_LEN] == '_'
                && !strcmp(k + PREFIX_LEN + 1, suffix)) {
                var = i;
            }
        }
        if (var < 0 || !read_value(c, var, v, (size_t)vlen)) {
            return 0;
        }
    }
    /* config.py's words for options without what they need, and for
     * signals whose normal action a handler without CHAIN takes away */
    if ((c->repeat || c->do_exit) && !c->has_timeout) {
        return 0;
    }
    if (c->chain && c->nsignals == 0) {
        return 0;
    }
    for (int i = 0; !c->chain && i < c->nsignals; i++) {
        int s = c->signals[i];
        if (s == SIGINT || s == SIGTERM || s == SIGHUP) {
            return 0;
        }
    }
    return 1;
}

/* The Config fields of `c`, as config.Config(**fields) takes them. */
static PyObject *
config_fields(const start_config *c)
{
    PyObject *signals = PyTuple_New(c->nsignals);
    for (int i = 0; signals != NULL && i < c->nsignals; i++) {
        PyObject *n = PyLong_FromLong(c->signals[i]);
        if (n == NULL) {
            Py_CLEAR(signals);
            break;
        }
        PyTuple_SET_ITEM(signals, i, n);
    }
    if (signals == NULL) {
        return NULL;
    }
    PyObject *path = c->path_kind == PATH_STDERR ? new_ref(Py_None)
                     : PyUnicode_DecodeFSDefault(c->path_kind == PATH_STDOUT ? "stdout" : c->path);
    PyObject *timeout = c->has_timeout ? PyFloat_FromDouble(c->timeout) : new_ref(Py_None);
    PyObject *asyncio = c->asyncio < 0 ? new_ref(Py_None) : PyBool_FromLong(c->asyncio);
    PyObject *fields = NULL;
    if (path != NULL && timeout != NULL && asyncio != NULL) {
        fields = Py_BuildValue(
            "{sNsOsOsNsNsOsNsNsNssslslslsLsOsN}",
            "fatal", PyBool_FromLong(c->fatal), "path", path, "timeout", timeout,
            "repeat", PyBool_FromLong(c->repeat), "exit", PyBool_FromLong(c->do_exit),
            "signals", signals, "chain", PyBool_FromLong(c->chain),
            "all_threads", PyBool_FromLong(c->all_threads), "c_stack", PyBool_FromLong(c->c_stack),
            "format", formats[c->format], "max_frames", c->max_frames,
            "max_threads", c->max_threads, "rate", c->rate, "rate_bytes", c->rate_bytes,
            "asyncio", asyncio, "tree", PyBool_FromLong(c->tree));
    }
    Py_XDECREF(path);
    Py_XDECREF(timeout);
    Py_XDECREF(asyncio);
    Py_DECREF(signals);
    return fields;
}

/* parse_environment(environ: dict) -> the Config fields, or None where
 * config.py must read it: what start() applies. */
PyObject *
fa_start_parse_environment(PyObject *module, PyObject *environ)
{
    (void)module;
    if (!PyDict_Check(environ)) {
        PyErr_SetString(PyExc_TypeError, "parse_environment(environ: dict)");
        return NULL;
    }
    start_config c;
    int sure = parse(environ, &c);
    if (sure < 0) {
        return NULL;
    }
    if (!sure) {
        Py_RETURN_NONE;
    }
    return config_fields(&c);
}

/* ---- the process, as the package's _prepare() sees it */

/* What start() did that the package takes over when it is imported (see
 * its _adopt_start); `prog` is NULL when no dump was armed. */
static struct {
    int started;
    PyObject *prog;             /* str */
    PyObject *stdlib_api;       /* faulthandler's (enable, disable, is_enabled), or NULL */
    int cpython_was_enabled;
    PyObject *fatal_path;       /* str, or NULL */
    long max_frames, max_threads;
    int tree;                   /* TREE was asked for */
} done;

static PyObject *
modules_get(const char *name)
{
    PyObject *modules = PySys_GetObject("modules");
    return modules ? PyDict_GetItemString(modules, name) : NULL;
}

/* The package's _program_name(): a new str, NULL (no exception) to leave it
 * to the package, or NULL with an exception. */
static PyObject *
program_name(void)
{
    PyObject *argv = PySys_GetObject("argv");
    PyObject *argv0 = argv && PyList_Check(argv) && PyList_GET_SIZE(argv) > 0
                      ? PyList_GET_ITEM(argv, 0) : NULL;
    const char *s = argv0 && PyUnicode_Check(argv0) ? PyUnicode_AsUTF8(argv0) : "";
    if (s == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (!strcmp(s, "") || !strcmp(s, "-") || !strcmp(s, "-c")) {
        return PyUnicode_FromString("python");
    }
    if (!strcmp(s, "-m")) {
        PyObject *args = PySys_GetObject("orig_argv");     /* 3.10+ */
        if (args == NULL || !PyList_Check(args)) {
            return NULL;
        }
        Py_ssize_t n = PyList_GET_SIZE(args);
        for (Py_ssize_t i = 1; i < n; i++) {
            PyObject *arg = PyList_GET_ITEM(args, i);
            const char *a = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
            if (a == NULL) {
                PyErr_Clear();
                return NULL;
            }
            if (!strcmp(a, "-m") && i + 1 < n) {
                return new_ref(PyList_GET_ITEM(args, i + 1));
            }
            if (!strncmp(a, "-m", 2)) {
                return PyUnicode_FromString(a + 2);
            }
        }
        return PyUnicode_FromString("python");
    }
    const char *base = strrchr(s, '/');
    base = base ? base + 1 : s;
    return PyUnicode_FromString(*base ? base : "python");
}

/* The package's _hidden_names(). */
static PyObject *
hidden_names(void)
{
    static const char own[] = "faulthandler_auto._native";
    if (PySys_GetObject("stdlib_module_names") != NULL) {
        return PyBytes_FromString(own);
    }
    /* 3.9: the built-in modules and those in lib-dynload too */
    PyObject *names = PyList_New(0);
    PyObject *item = PyUnicode_FromString(own);
    if (names == NULL || item == NULL || PyList_Append(names, item) < 0) {
        goto error;
    }
    Py_CLEAR(item);
    PyObject *builtins = PySys_GetObject("builtin_module_names");
    for (Py_ssize_t i = 0; builtins && i < PyTuple_GET_SIZE(builtins); i++) {
        if (PyList_Append(names, PyTuple_GET_ITEM(builtins, i)) < 0) {
            goto error;
        }
    }
    PyObject *path = PySys_GetObject("path");
    for (Py_ssize_t i = 0; path && PyList_Check(path) && i < PyList_GET_SIZE(path); i++) {
        PyObject *entry = PyList_GET_ITEM(path, i);
        const char *dir = PyUnicode_Check(entry) ? PyUnicode_AsUTF8(entry) : NULL;
        size_t len = dir ? strlen(dir) : 0;
        if (dir == NULL || len < 11 || strcmp(dir + len - 11, "lib-dynload")) {
            PyErr_Clear();
            continue;
        }
        DIR *d = opendir(dir);
        for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
                continue;
            }
            const char *dot = strchr(e->d_name, '.');
            item = PyUnicode_DecodeFSDefaultAndSize(
                e->d_name, dot ? dot - e->d_name : (Py_ssize_t)strlen(e->d_name));
            if (item == NULL || PyList_Append(names, item) < 0) {
                closedir(d);
                goto error;
            }
            Py_CLEAR(item);
        }
        if (d != NULL) {
            closedir(d);
        }
    }
    PyObject *sep = PyUnicode_FromStringAndSize("\0", 1);
    PyObject *joined = sep ? PyUnicode_Join(sep, names) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(names);
    PyObject *result = joined ? PyUnicode_AsEncodedString(joined, "ascii", "replace") : NULL;
    Py_XDECREF(joined);
    return result;
error:
    Py_XDECREF(item);
    Py_XDECREF(names);
    return NULL;
}

/* The package's _install_thread_hook() for a process that has not
 * imported threading yet: _thread's starters wrapped by start_thread. */
static int
install_thread_hook(PyObject *module)
{
    static const char *const starters[] = {"start_joinable_thread", "start_new_thread"};
    PyObject *thread = PyImport_ImportModule("_thread");
    PyObject *hook = thread ? PyObject_GetAttrString(module, "start_thread") : NULL;
    int rc = hook ? 0 : -1;
    for (int i = 0; rc == 0 && i < 2; i++) {
        PyObject *start = PyDict_GetItemString(PyModule_GetDict(thread), starters[i]);
        if (start == NULL || (PyMethod_Check(start) && PyMethod_GET_FUNCTION(start) == hook)) {
            continue;
        }
        PyObject *wrapped = PyMethod_New(hook, start);
        rc = wrapped ? PyObject_SetAttrString(thread, starters[i], wrapped) : -1;
        Py_XDECREF(wrapped);
    }
    Py_XDECREF(hook);
    Py_XDECREF(thread);
    return rc;
}

static int
register_at_fork(PyObject *module)
{
    PyObject *posix = modules_get("posix");
    if (posix == NULL) {
        return 0;
    }
    PyObject *reset = PyObject_GetAttrString(module, "after_fork_child");
    PyObject *func = reset ? PyObject_GetAttrString(posix, "register_at_fork") : NULL;
    PyObject *args = func ? PyTuple_New(0) : NULL;
    PyObject *kwargs = args ? Py_BuildValue("{sO}", "after_in_child", reset) : NULL;
    PyObject *result = kwargs ? PyObject_Call(func, args, kwargs) : NULL;
    Py_XDECREF(reset);
    Py_XDECREF(func);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_XDECREF(result);
    return result ? 0 : -1;
}

/* The package's _take_stdlib_fatal_api(), with stand-ins that import the
 * package, which takes over (see fa_start_stdlib_call). */
static int
take_stdlib_fatal_api(PyObject *module, PyObject *stdlib)
{
    PyObject *api = Py_BuildValue("(NNN)", PyObject_GetAttrString(stdlib, "enable"),
                                  PyObject_GetAttrString(stdlib, "disable"),
                                  PyObject_GetAttrString(stdlib, "is_enabled"));
    if (api == NULL) {
        return -1;
    }
    PyObject *on = PyObject_CallObject(PyTuple_GET_ITEM(api, 2), NULL);
    int was = on ? PyObject_IsTrue(on) : -1;
    Py_XDECREF(on);
    PyObject *off = was == 1 ? PyObject_CallObject(PyTuple_GET_ITEM(api, 1), NULL) : NULL;
    Py_XDECREF(off);
    if (was < 0 || (was == 1 && off == NULL)) {
        Py_DECREF(api);
        return -1;
    }
    static const char *const names[][2] = {
        {"enable", "stdlib_enable"}, {"disable", "stdlib_disable"}, {"is_enabled", "is_enabled"}};
    for (int i = 0; i < 3; i++) {
        PyObject *ours = PyObject_GetAttrString(module, names[i][1]);
        int rc = ours ? PyObject_SetAttrString(stdlib, names[i][0], ours) : -1;
        Py_XDECREF(ours);
        if (rc < 0) {
            Py_DECREF(api);
            return -1;
        }
    }
    done.stdlib_api = api;
    done.cpython_was_enabled = was;
    return 0;
}

/* faulthandler.enable()/disable() while start() holds them: the package
 * takes them over when imported, and what it put there does the call. */
PyObject *
fa_start_stdlib_call(const char *name, PyObject *args, PyObject *kwargs)
{
    PyObject *package = PyImport_ImportModule("faulthandler_auto");
    Py_XDECREF(package);
    PyObject *stdlib = package ? modules_get("faulthandler") : NULL;
    PyObject *function = stdlib ? PyObject_GetAttrString(stdlib, name) : NULL;
    if (function == NULL) {
        return NULL;
    }
    if (PyCFunction_Check(function)) {     /* still ours: the package did not take over */
        Py_DECREF(function);
        PyErr_Format(PyExc_RuntimeError, "faulthandler.%s: faulthandler_auto did not take over",
                     name);
        return NULL;
    }
    PyObject *result = PyObject_Call(function, args, kwargs);
    Py_DECREF(function);
    return result;
}

/* ---- applying */

/* config._apply()'s line for a step that failed with the current exception. */
static void
not_applied(const char *what)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL) {
        PySys_FormatStderr("faulthandler-auto: %s not applied: %S\n", what, value);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Clear();
}

static int
make_dest(const start_config *c, fa_dest *dest)
{
    if (c->path_kind != PATH_TEMPLATE) {
        dest->fd = c->path_kind == PATH_STDOUT ? 1 : 2;
        dest->path[0] = '\0';
        return 0;
    }
    PyObject *bytes = PyBytes_FromString(c->path);
    int rc = bytes ? dest_from_object(bytes, dest) : -1;
    Py_XDECREF(bytes);
    return rc;
}

/* The package's _timeout_header(). */
static void
timeout_header(long long us, char *out, size_t size)
{
    long long seconds = us / 1000000, rest = us % 1000000;
    long long hours = seconds / 3600, minutes = seconds / 60 % 60;
    seconds %= 60;
    if (rest) {
        snprintf(out, size, "Timeout (%lld:%02lld:%02lld.%06lld)!", hours, minutes, seconds, rest);
    } else {
        snprintf(out, size, "Timeout (%lld:%02lld:%02lld)!", hours, minutes, seconds);
    }
}

static void
apply(const start_config *c)
{
    fa_dest dest;
    char what[64];
    fa_set_output(c->format, c->max_frames, c->max_threads);
    fa_limits_set(c->rate, c->rate_bytes);
    if (c->asyncio >= 0) {
        fa_set_asyncio(c->asyncio);
    }
    if (c->fatal) {
        if (make_dest(c, &dest) < 0) {
            not_applied(PREFIX);
        } else if (fa_fatal_enable(&dest, c->all_threads, c->c_stack, 0) < 0) {
            PyErr_SetFromErrno(PyExc_RuntimeError);
            not_applied(PREFIX);
        }
    }
    if (c->has_timeout) {
        long long us = -(long long)floor(-c->timeout * 1000000.0);
        char header[64];
        timeout_header(us, header, sizeof(header));
        int err = 0;
        if (make_dest(c, &dest) < 0) {
            not_applied(PREFIX "_TIMEOUT");
        } else {
            fa_fatal_hold_faults();
            Py_BEGIN_ALLOW_THREADS
            err = fa_watchdog_arm(FA_TIMER_PROCESS, &dest, us, c->repeat, c->do_exit, header, 1, 0);
            Py_END_ALLOW_THREADS
            if (err) {
                errno = err;
                PyErr_SetFromErrno(PyExc_RuntimeError);
                not_applied(PREFIX "_TIMEOUT");
            }
        }
    }
    if (c->tree) {
        if (make_dest(c, &dest) < 0) {
            not_applied(PREFIX "_TREE");
        } else {
            fa_fatal_hold_faults();
            if (fa_tree_set(1, &dest, TREE_WAIT_MS, TREE_TOTAL_WAIT_MS) < 0) {
                PyErr_SetFromErrno(PyExc_OSError);
                not_applied(PREFIX "_TREE");
            }
        }
    }
    for (int i = 0; i < c->nsignals; i++) {
        snprintf(what, sizeof(what), PREFIX "_SIGNAL %d", c->signals[i]);
        if (make_dest(c, &dest) < 0) {
            not_applied(what);
        } else if (fa_user_register(c->signals[i], &dest, c->all_threads, c->chain, 0) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            not_applied(what);
        }
    }
}

/* The start-up environment as config.configure() reads it: the
 * PYTHONFAULTHANDLER* variables, none under -E; NULL (no exception) to
 * leave it to config.py. */
static PyObject *
read_environment(void)
{
    PyObject *flags = PySys_GetObject("flags");
    PyObject *ignore = flags ? PyObject_GetAttrString(flags, "ignore_environment") : NULL;
    int ignored = ignore ? PyObject_IsTrue(ignore) : -1;
    Py_XDECREF(ignore);
    PyObject *result = ignored < 0 ? NULL : PyDict_New();
    for (char **e = environ; result != NULL && ignored == 0 && e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL || strncmp(*e, PREFIX, PREFIX_LEN)) {
            continue;
        }
        PyObject *key = PyUnicode_DecodeFSDefaultAndSize(*e, eq - *e);
        PyObject *value = key ? PyUnicode_DecodeFSDefault(eq + 1) : NULL;
        int dup = value ? PyDict_Contains(result, key) : -1;
        if (dup != 0 || PyDict_SetItem(result, key, value) < 0) {
            Py_CLEAR(result);   /* a name twice in the block: config.py's view */
        }
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    PyErr_Clear();
    return result;
}

/* -X faulthandler and -X dev turn fatal dumps on, as config.py's
 * _fatal_by_option() says. */
static int
fatal_by_option(void)
{
    PyObject *flags = PySys_GetObject("flags");
    PyObject *dev = flags ? PyObject_GetAttrString(flags, "dev_mode") : NULL;
    int on = dev ? PyObject_IsTrue(dev) : 0;
    Py_XDECREF(dev);
    PyObject *xoptions = PySys_GetObject("_xoptions");
    if (on <= 0 && xoptions && PyDict_Check(xoptions)) {
        on = PyDict_GetItemString(xoptions, "faulthandler") != NULL;
    }
    PyErr_Clear();
    return on > 0;
}

/* start() -> True when the variables are applied (or there is nothing to
 * do in this interpreter), False to leave everything to config.py. */
PyObject *
fa_start(PyObject *module)
{
    if (done.started || PyInterpreterState_Get() != PyInterpreterState_Main()) {
        Py_RETURN_TRUE;     /* done once; the hook and the core are the main interpreter's */
    }
#ifdef AT_SECURE
    if (getauxval(AT_SECURE)) {
        Py_RETURN_FALSE;    /* config.py says what it ignores */
    }
#endif
    if (modules_get("faulthandler_auto") != NULL) {
        Py_RETURN_FALSE;    /* imported already (a .pth before ours): its state rules */
    }
    PyObject *environ = read_environment();
    if (environ == NULL) {
        Py_RETURN_FALSE;
    }
    start_config c;
    int sure = parse(environ, &c);
    Py_DECREF(environ);
    if (sure <= 0) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    c.fatal = c.fatal || fatal_by_option();
    int arms = c.fatal || c.has_timeout || c.tree || c.nsignals;
    PyObject *prog = NULL, *stdlib = NULL;
    if (arms) {
        /* processes the package prepares otherwise: one that runs threading
         * already, a multiprocessing child, a -m run on 3.9 */
        PyObject *argv = PySys_GetObject("argv");
        PyObject *argv1 = argv && PyList_Check(argv) && PyList_GET_SIZE(argv) >= 2
                          ? PyList_GET_ITEM(argv, 1) : NULL;
        if (modules_get("threading") || modules_get("multiprocessing.process")
            || (argv1 && PyUnicode_Check(argv1)
                && PyUnicode_CompareWithASCIIString(argv1, "--multiprocessing-fork") == 0)) {
            Py_RETURN_FALSE;
        }
        stdlib = modules_get("faulthandler");
        if (c.fatal && (stdlib == NULL || !PyModule_Check(stdlib))) {
            Py_RETURN_FALSE;
        }
        prog = program_name();
        if (prog == NULL) {
            if (PyErr_Occurred()) {
                return NULL;
            }
            Py_RETURN_FALSE;
        }
        const char *prog_utf8 = PyUnicode_AsUTF8(prog);
        PyObject *hidden = prog_utf8 ? hidden_names() : NULL;
        const char *version = Py_GetVersion();
        char python[32];
        size_t vlen = strcspn(version, " ");
        snprintf(python, sizeof(python), "%.*s", (int)vlen, version);
        int rc = hidden ? fa_process_setup(prog_utf8, python, hidden) : -1;
        Py_XDECREF(hidden);
        if (rc < 0 || install_thread_hook(module) < 0 || register_at_fork(module) < 0
            || (c.fatal && take_stdlib_fatal_api(module, stdlib) < 0)) {
            Py_DECREF(prog);
            return NULL;
        }
    }
    done.started = 1;
    done.prog = prog;
    done.max_frames = c.max_frames;
    done.max_threads = c.max_threads;
    done.tree = c.tree;
    if (c.fatal && c.path_kind == PATH_TEMPLATE) {
        done.fatal_path = PyUnicode_DecodeFSDefault(c.path);
        PyErr_Clear();
    }
    apply(&c);
    Py_RETURN_TRUE;
}

/* started() -> None, or what start() did, for the package to take over:
 * {"prog", "max_frames", "max_threads", "stdlib_api", "cpython_was_enabled",
 * "fatal_path", "tree"}.  The stdlib functions are handed over once. */
PyObject *
fa_start_state(void)
{
    if (!done.started || PyInterpreterState_Get() != PyInterpreterState_Main()) {
        Py_RETURN_NONE;
    }
    PyObject *api = done.stdlib_api ? done.stdlib_api : Py_None;
    PyObject *state = Py_BuildValue(
        "{sOslslsOsOsOsO}", "prog", done.prog ? done.prog : Py_None,
        "max_frames", done.max_frames, "max_threads", done.max_threads, "stdlib_api", api,
        "cpython_was_enabled", done.cpython_was_enabled ? Py_True : Py_False,
        "fatal_path", done.fatal_path ? done.fatal_path : Py_None,
        "tree", done.tree ? Py_True : Py_False);
    if (state != NULL) {
        Py_CLEAR(done.stdlib_api);
    }
    return state;
}

/* START_FACTS: the numbers above, for the test that proves they are
 * _facts.py's. */
int
fa_start_constants(PyObject *module)
{
    PyObject *facts = Py_BuildValue(
        "{sdsdslslslslsLsLsdsdss}", "MIN_TIMEOUT", MIN_TIMEOUT, "MAX_TIMEOUT", MAX_TIMEOUT,
        "DEFAULT_LIMIT", (long)DEFAULT_LIMIT, "MAX_LIMIT", (long)MAX_LIMIT,
        "DEFAULT_RATE", (long)DEFAULT_RATE, "MAX_RATE", (long)MAX_RATE,
        "DEFAULT_RATE_BYTES", DEFAULT_RATE_BYTES, "MAX_RATE_BYTES", MAX_RATE_BYTES,
        "TREE_WAIT", TREE_WAIT_MS / 1000.0, "TREE_TOTAL_WAIT", TREE_TOTAL_WAIT_MS / 1000.0,
        "DIRECTORY_FILE_NAME", DIRECTORY_FILE_NAME);
    if (facts == NULL || PyModule_AddObject(module, "START_FACTS", facts) < 0) {
        Py_XDECREF(facts);
        return -1;
    }
    return 0;
}
