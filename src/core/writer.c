/* writer.c - the signal-safe buffered writer: one write() per 16-32 KiB,
 * numbers and escaped strings formatted without stdio or malloc. */
#include "writer.h"
#include "probes.h"

#include <poll.h>
#include <sys/stat.h>

/* a fatal dump waits for the dump lock: every other dump stops writing */
static int fatal_waiting;

/* signal-safe: atomic load */
int
w_fatal_waiting(void)
{
    return __atomic_load_n(&fatal_waiting, __ATOMIC_SEQ_CST);
}

/* signal-safe: atomic store */
void
w_set_fatal_waiting(int on)
{
    __atomic_store_n(&fatal_waiting, on, __ATOMIC_SEQ_CST);
}

/* signal-safe: write all of [data, data+len), retrying partial writes and
 * EINTR.  A watchdog dump to a pipe, socket or terminal (abort != NULL)
 * must stay cancellable even when a slow reader holds it up: it waits in
 * poll() in 100 ms steps, gives up as soon as it is cancelled, and writes at
 * most PIPE_BUF bytes once poll() says there is room, which a pipe accepts
 * without blocking.  (A regular file never blocks, so it is always written
 * whole: see w_init.) */
static void
raw_write(fa_writer *w, const char *data, size_t len)
{
    while (len > 0 && !w->failed) {
        size_t chunk = len;
        if (w->yields && w_fatal_waiting()) {
            w->failed = 1;
            w->err = ECANCELED;
            return;
        }
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

/* signal-safe: an empty writer to `fd`.  A cancel (`abort`) may cut a
 * dump short only where it could block, so a regular file is always
 * written whole. */
void
w_init(fa_writer *w, int fd, int *abort)
{
    struct stat st;
    w->fd = fd;
    w->failed = 0;
    w->err = 0;
    w->abort = (abort != NULL && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? NULL : abort;
    w->yields = 1;
    w->len = 0;
    w->total = 0;
    w->flushes = 0;
}

/* signal-safe: one raw_write of the buffer */
void
w_flush(fa_writer *w)
{
    raw_write(w, w->buf, w->len);
    w->len = 0;
    w->flushes++;
}

/* signal-safe: memcpy into our buffer, flushed when full */
void
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

/* signal-safe: strlen and w_bytes */
void
w_puts(fa_writer *w, const char *s)
{
    w_bytes(w, s, strlen(s));
}

/* signal-safe: w_bytes */
void
w_putc(fa_writer *w, char c)
{
    w_bytes(w, &c, 1);
}

/* signal-safe: unsigned decimal. */
void
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
void
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
void
w_ptr(fa_writer *w, uintptr_t v)
{
    w_puts(w, "0x");
    w_hex(w, v, (int)sizeof(void *) * 2);
}

/* signal-safe: one code point of a Python string, escaped the way CPython's
 * faulthandler does (text) or as JSON wants it. */
void
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
void
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
void
w_json_cstr(fa_writer *w, const char *s)
{
    w_putc(w, '"');
    w_utf8(w, s, strlen(s), 1);
    w_putc(w, '"');
}

/* signal-safe (within a probe): a Python str, cut at 500 code points with
 * "..." like CPython; "???" when it is not a str. */
FA_RACY_READ void
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
            Py_UCS4 c = kind == 1 ? ((const Py_UCS1 *)data)[i]
                        : kind == 2 ? ((const Py_UCS2 *)data)[i] : ((const Py_UCS4 *)data)[i];
            w_codepoint(w, c, json);
        }
        if (truncated) {
            w_puts(w, "...");
        }
    }
    if (json) {
        w_putc(w, '"');
    }
}

