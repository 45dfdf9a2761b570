/* writer.h - the signal-safe buffered writer and its number and string
 * formatting.  All of it is signal-safe: it only copies into its own
 * buffer and calls write() and poll(). */
#ifndef FA_WRITER_H
#define FA_WRITER_H

#include "common.h"

FA_HIDDEN_BEGIN

typedef struct {
    int fd;
    int failed;                 /* a write() failed for good */
    int err;                    /* its errno */
    int *abort;                 /* when set and *abort: stop writing (watchdog) */
    int yields;                 /* stops writing when a fatal dump waits (all but fatal dumps) */
    size_t len;
    size_t total;
    unsigned long flushes;      /* buffers written so far */
    char buf[FA_BUF_SIZE];
} fa_writer;

void w_init(fa_writer *w, int fd, int *abort);
int w_fatal_waiting(void);
void w_set_fatal_waiting(int on);
void w_flush(fa_writer *w);
void w_bytes(fa_writer *w, const char *s, size_t n);
void w_puts(fa_writer *w, const char *s);
void w_putc(fa_writer *w, char c);
void w_dec(fa_writer *w, unsigned long long v);
void w_hex(fa_writer *w, unsigned long long v, int width);
void w_ptr(fa_writer *w, uintptr_t v);
void w_codepoint(fa_writer *w, Py_UCS4 ch, int json);
void w_utf8(fa_writer *w, const char *s, size_t n, int json);
void w_json_cstr(fa_writer *w, const char *s);
void w_pystr(fa_writer *w, PyObject *s, int json);

FA_HIDDEN_END

#endif
