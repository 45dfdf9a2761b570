/* dest.c - where a dump goes (see dest.h). */
#include "context.h"
#include "dest.h"
#include "facts.h"
#include "probes.h"
#include "util.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/utsname.h>

/* signal-safe: append a copy of `s` that is safe inside a path: no '/',
 * and no leading '.', so that a value such as ".." (a host name, a program
 * run as "dir/..", a variable's value) never names a directory of its own;
 * ASCII control bytes, which no file name should hold, become '_' too. */
static size_t
path_append_name(char *out, size_t pos, size_t size, const char *s)
{
    for (size_t i = 0; s[i] && pos + 1 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        out[pos++] = (c == '/' || c < 0x20 || c == 0x7f || (i == 0 && c == '.')) ? '_' : s[i];
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

/* The fields a path template may hold, in the order the docs list them. */
enum { FIELD_PID, FIELD_PPID, FIELD_PROG, FIELD_TIME, FIELD_HOST, FIELD_WORKER, FIELD_COUNT };
static const char *const template_fields[FIELD_COUNT] = {
    "pid", "ppid", "prog", "time", "host", "worker",
};

/* The field names, for the Python side to check templates against. */
const char *const *
fa_template_fields(int *count)
{
    *count = FIELD_COUNT;
    return template_fields;
}

/* signal-safe: the field named by [name, name+n), or -1. */
static int
template_field(const char *name, size_t n)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (strlen(template_fields[i]) == n && !memcmp(name, template_fields[i], n)) {
            return i;
        }
    }
    return -1;
}

/* signal-safe: expand the fields of `tmpl` (uname, getpid, getppid and
 * clock_gettime are), with the values of this process now, or with those of
 * `given` when it is not NULL (the host is always this one, the worker
 * "main").  The template
 * was checked when it was set, so unknown fields cannot occur; returns 0
 * when the result does not fit. */
static int
expand_template(const char *tmpl, const fa_template_values *given, char *out, size_t size)
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
        struct utsname u;
        char t[FA_TIME_SIZE];
        char name[FA_CONTEXT_SIZE];
        switch (template_field(p + 1, (size_t)(end - p - 1))) {
        case FIELD_PID:
            pos = path_append_dec(out, pos, size, given ? given->pid : (unsigned long long)getpid());
            break;
        case FIELD_PPID:
            pos = path_append_dec(out, pos, size, given ? given->ppid : (unsigned long long)getppid());
            break;
        case FIELD_PROG:
            pos = path_append_name(out, pos, size, given ? given->prog
                                   : fa_process.prog[0] ? fa_process.prog : "python");
            break;
        case FIELD_TIME:
            if (given) {
                format_utc_at(t, given->time, 0);
            }
            else {
                format_utc(t, 0);
            }
            pos = path_append_name(out, pos, size, t);
            break;
        case FIELD_HOST:
            pos = path_append_name(out, pos, size, uname(&u) == 0 ? u.nodename : "unknown");
            break;
        case FIELD_WORKER:
            /* the pytest-xdist worker id (set_worker), else "main" */
            pos = path_append_name(out, pos, size, !given && fa_context_worker(name) ? name : "main");
            break;
        default:
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

/* Not signal-safe (getenv; called with the GIL when a destination is set):
 * `tmpl` with each {env:NAME} replaced by that variable's value now, made
 * safe as every field's value is (path_append_name), cut to
 * FA_ENV_VALUE_MAX bytes on a character boundary, or FA_ENV_UNSET when the
 * variable is unset or empty.  Braces in a value become '_', so the result
 * is a template of the other fields only, which the dump expands.  So a
 * variable is read once, when the destination is set: a dump reads no
 * environment (neither safe in a handler nor stable across a setenv).
 * Returns 0 when the result does not fit in `size`. */
static int
bind_env(const char *tmpl, char *out, size_t size)
{
    static const char open[] = "{" FA_ENV_FIELD;
    size_t pos = 0;
    for (const char *p = tmpl; *p;) {
        const char *end = strchr(p, '}');
        if (strncmp(p, open, sizeof(open) - 1) != 0 || end == NULL) {
            if (pos + 1 >= size) {
                return 0;
            }
            out[pos++] = *p++;
            continue;
        }
        char name[FA_ENV_NAME_MAX + 1];
        size_t n = (size_t)(end - p) - (sizeof(open) - 1);
        if (n == 0 || n > FA_ENV_NAME_MAX) {
            return 0;   /* the package checked the template: cannot happen */
        }
        memcpy(name, p + sizeof(open) - 1, n);
        name[n] = '\0';
        const char *v = getenv(name);
        if (v == NULL || *v == '\0') {
            v = FA_ENV_UNSET;
        }
        char value[FA_ENV_VALUE_MAX + 1];
        size_t len = path_append_name(value, 0, sizeof(value), v);
        while (len > 0 && ((unsigned char)v[len] & 0xc0) == 0x80) {
            len--;      /* cut inside a UTF-8 character: leave all of it out */
        }
        for (size_t i = 0; i < len; i++) {
            if (pos + 1 >= size) {
                return 0;
            }
            out[pos++] = (value[i] == '{' || value[i] == '}') ? '_' : value[i];
        }
        p = end + 1;
    }
    out[pos] = '\0';
    return 1;
}

/* The file a template names for the process `values` describes, so that
 * the CLI shows what a dump would open (the core's rules, not a copy of
 * them).  Returns 0 when the result does not fit. */
int
fa_expand_path(const char *tmpl, const fa_template_values *values, char *out, size_t size)
{
    char bound[FA_PATH_SIZE];
    return bind_env(tmpl, bound, sizeof(bound)) && expand_template(bound, values, out, size);
}

/* Whether a file could be created in the directory `dir`: the answer of
 * the dry run of open_dump_file where it would create something. */
static int
can_create_in(int dir)
{
    return faccessat(dir, ".", W_OK | X_OK, AT_EACCESS) == 0 ? 0 : -1;
}

/* signal-safe: open `path` for appending without ever following a symbolic
 * link: every directory is opened with O_NOFOLLOW from the root down (and
 * created 0700 when missing), the file itself with O_NOFOLLOW, O_NONBLOCK so
 * a FIFO without a reader fails instead of blocking, and it must then be a
 * regular file owned by us with no other name (a hard link planted in the
 * directory would make us append to the file it names).  `path` is cut at
 * each slash in turn and put back as it was.  Returns the fd, or -1 with
 * errno set.
 *
 * With `dry_run` (for the CLI, never in a handler) nothing is created or
 * opened for writing: returns 0 when the dump could be written now, or -1
 * with the errno the real open would most likely meet. */
static int
open_dump_file(char *path, int dry_run)
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
            if (next < 0 && errno == ENOENT && dry_run) {
                int ok = can_create_in(dir);
                int err = errno;
                close(dir);
                *slash = '/';
                errno = err;
                return ok;
            }
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
    struct stat st;
    if (dry_run) {
        int ok = 0, err;
        if (fstatat(dir, comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            ok = errno == ENOENT ? can_create_in(dir) : -1;
        }
        else if (S_ISLNK(st.st_mode)) {
            ok = -1;
            errno = ELOOP;
        }
        else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
            ok = -1;
            errno = EEXIST;
        }
        else {
            ok = faccessat(dir, comp, W_OK, AT_EACCESS) == 0 ? 0 : -1;
        }
        err = errno;
        close(dir);
        errno = err;
        return ok;
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
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        errno = EEXIST;
        return -1;
    }
    if (st.st_nlink > 1) {
        close(fd);
        errno = EMLINK;
        return -1;
    }
    return fd;
}

/* Why a dump could not be written to `path` now, in the words of the note
 * a dump would print, or NULL when it could (the CLI's check). */
const char *
fa_path_problem(const char *path)
{
    char copy[FA_PATH_SIZE];
    if (strlen(path) >= sizeof(copy)) {
        return errno_name(ENAMETOOLONG);
    }
    fa_strlcpy(copy, path, sizeof(copy));
    return open_dump_file(copy, 1) == 0 ? NULL : errno_name(errno);
}

/* Parse a destination: an int fd, or bytes holding a checked template.
 * Not signal-safe (raises); called with the GIL. */
int
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
        char bound[FA_PATH_SIZE];
        if (!bind_env(PyBytes_AS_STRING(obj), bound, sizeof(bound))) {
            PyErr_Format(PyExc_ValueError, "path template longer than %d bytes with its "
                         "{" FA_ENV_FIELD "NAME} values", FA_PATH_SIZE - 1);
            return -1;
        }
        dest->fd = -1;
        memcpy(dest->path, bound, strlen(bound) + 1);
        return 0;
    }
    PyErr_SetString(PyExc_TypeError, "destination must be an int fd or a bytes path template");
    return -1;
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

/* signal-safe (pthread_sigmask, sigpending, sigtimedwait): while `on`,
 * SIGXFSZ is blocked in the calling thread only, so a dump file that
 * reaches RLIMIT_FSIZE fails with EFBIG (and falls back to stderr)
 * instead of killing the process; the SIGXFSZ that write raised for this
 * thread is then taken back, unless one was pending already. */
static void
xfsz_hold(int on, sigset_t *old, int *was_pending)
{
    sigset_t xfsz;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    if (on) {
        sigset_t pending;
        *was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ);
        pthread_sigmask(SIG_BLOCK, &xfsz, old);
        return;
    }
    sigset_t pending;
    if (!*was_pending && !sigismember(old, SIGXFSZ) && sigpending(&pending) == 0
        && sigismember(&pending, SIGXFSZ)) {
        struct timespec now = {0, 0};
        (void)sigtimedwait(&xfsz, NULL, &now);
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* signal-safe: write a dump to its destination; returns the bytes
 * written.  A file that cannot be opened or filled gets a note and the
 * whole dump goes to stderr instead; a dump cut short on purpose (a
 * cancel, a fatal dump that goes first) is not written again.  No
 * disposition is touched: the probes' SIGSEGV and SIGBUS handler was
 * installed when the dump was armed (fa_fatal_hold_faults). */
size_t
dump_to_dest(const fa_dest *dest, const fa_event *ev, int *abort)
{
    return dump_to_dest_at(dest, ev, abort, NULL);
}

/* signal-safe: write() only.  One line instead of a dump that cannot be
 * written, to the dump's descriptor (stderr for a file); `room` is the
 * signal stack left (see fa_signal_stack_room) and `need` what a dump
 * needs, or -1. */
static void
say_no_dump(int fd, const fa_event *ev, const char *why, long room, long need)
{
    char line[256];
    line[0] = '\0';
    fa_str_add(line, sizeof(line), "faulthandler-auto: no dump");
    const char *name = ev->signum > 0 ? signal_name(ev->signum) : NULL;
    if (name != NULL) {
        fa_str_add(line, sizeof(line), " of ");
        fa_str_add(line, sizeof(line), name);
    }
    fa_str_add(line, sizeof(line), ": ");
    fa_str_add(line, sizeof(line), why);
    if (room >= 0) {
        fa_str_add(line, sizeof(line), " (");
        fa_dec_add(line, sizeof(line), room);
        fa_str_add(line, sizeof(line), " bytes left, a dump needs ");
        fa_dec_add(line, sizeof(line), need);
        fa_str_add(line, sizeof(line), ")");
    }
    fa_str_add(line, sizeof(line), "\n");
    size_t n = fa_strnlen(line, sizeof(line));
    ssize_t said = write(fa_context_std_fd(fd, ev->event), line, n);
    (void)said;
}

/* signal-safe: the line that takes the place of a dump for which the
 * calling thread's signal stack has only `room` bytes left. */
void
dump_say_no_room(const fa_dest *dest, const fa_event *ev, long room)
{
    say_no_dump(dest->fd >= 0 ? dest->fd : STDERR_FILENO, ev,
                "this thread's signal stack is too small for one", room,
                fa_stack_need(FA_DUMP_STACK));
}

/* signal-safe: whether the calling thread's signal stack has room for a
 * dump; when it has not, dump_say_no_room. */
int
dump_fits_here(const fa_dest *dest, const fa_event *ev)
{
    long room = fa_signal_stack_room();
    if (room >= 0 && room < fa_stack_need(FA_DUMP_STACK)) {
        dump_say_no_room(dest, ev, room);
        return 0;
    }
    return 1;
}

/* signal-safe: dump_to_dest_at's work, in the dump slot `d`. */
static size_t
dump_with(fa_dump *d, const fa_dest *dest, const fa_event *ev, int *abort, fa_dump_place *place)
{
    if (dest->fd >= 0) {
        dump_init(d, fa_context_std_fd(dest->fd, ev->event), abort);
        d->w.yields = !ev->fatal;
        dump_to_fd(d, ev);
        return d->w.total;
    }
    char *path = d->path;
    int err = ENAMETOOLONG;
    int fd = -1;
    if (expand_template(dest->path, NULL, path, sizeof(d->path))) {
        fd = open_dump_file(path, 0);
        err = errno;
    }
    else {
        fa_strlcpy(path, dest->path, sizeof(d->path));
    }
    if (fd >= 0) {
        sigset_t old;
        int was_pending = 0;
        xfsz_hold(1, &old, &was_pending);
        dump_init(d, fd, abort);
        d->w.yields = !ev->fatal;
        dump_to_fd(d, ev);
        err = d->w.err;
        xfsz_hold(0, &old, &was_pending);
        close(fd);
        if (!d->w.failed || err == ECANCELED) {
            if (place) {
                fa_strlcpy(place->path, path, sizeof(place->path));
                place->fd = place->written_fd = -1;
            }
            return d->w.total;
        }
    }
    dump_init(d, fa_context_std_fd(STDERR_FILENO, ev->event), abort);
    d->w.yields = !ev->fatal;
    note_fallback(&d->w, path, err);
    dump_to_fd(d, ev);
    return d->w.total;
}

/* signal-safe: dump_to_dest, saying in `place` (unless NULL) where the
 * dump went, which the process tree tells its requester (see tree.h). */
size_t
dump_to_dest_at(const fa_dest *dest, const fa_event *ev, int *abort, fa_dump_place *place)
{
    int fd = dest->fd >= 0 ? dest->fd : STDERR_FILENO;
    if (place) {
        place->path[0] = '\0';
        place->fd = fd;
        place->written_fd = fa_context_std_fd(fd, ev->event);
    }
    fa_dump *d = dump_claim();
    if (d == NULL) {
        say_no_dump(fd, ev, "as many dumps as the core has room for are being written", -1, -1);
        return 0;
    }
    size_t written = dump_with(d, dest, ev, abort, place);
    dump_release(d);
    return written;
}
