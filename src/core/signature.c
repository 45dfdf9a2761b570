/* signature.c - the crash signature of docs/signature.md (version 2), computed
 * at dump time exactly as faulthandler_auto/triage/signature.py computes it
 * from the dump: SHA-256 of the fatal signal, the crashing thread's top
 * Python frames (file basename and function) and top C frames (object
 * basename without Python's version tags, and symbol), abort() and its kind
 * skipped.  Everything here is signal-safe:
 * a fixed-size hash state, the dump slot's scratch writer that never
 * writes out, and the walks' probed reads. */
#include "cstack.h"
#include "emit.h"
#include "facts.h"
#include "signature.h"

#include <dlfcn.h>

/* The rules of docs/signature.md; the Python reference has the same. */
#define SIG_PYTHON_FRAMES 3
#define SIG_C_FRAMES 3
#define SIG_SKIP_WINDOW 10

static const char *const skip_symbols[] = {
    "raise", "gsignal", "abort", "pthread_kill",
    "__pthread_kill_implementation", "__pthread_kill_internal",
    "__GI_raise", "__GI_abort", "__assert_fail", "__assert_fail_base",
    "__libc_message", "__libc_message_impl", "__libc_fatal", "__fortify_fail",
    "__chk_fail", "__stack_chk_fail", "malloc_printerr",
    "Py_FatalError", "_Py_FatalErrorFunc", "_Py_FatalErrorFormat",
};

typedef struct {
    uint32_t h[8];
    uint64_t len;               /* bytes hashed */
    unsigned char block[64];
    size_t used;
} fa_sha256;

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_block(fa_sha256 *s, const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16
               | (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
    s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

/* signal-safe */
static void
fa_sha256_init(fa_sha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof(h0));
    s->len = 0;
    s->used = 0;
}

/* signal-safe */
static void
fa_sha256_update(fa_sha256 *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    s->len += n;
    while (n > 0) {
        size_t take = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        n -= take;
        if (s->used == 64) {
            sha256_block(s, s->block);
            s->used = 0;
        }
    }
}

/* signal-safe: the digest into out[32]. */
static void
fa_sha256_final(fa_sha256 *s, unsigned char out[32])
{
    uint64_t bits = s->len * 8;
    unsigned char pad = 0x80;
    fa_sha256_update(s, &pad, 1);
    unsigned char zero = 0;
    while (s->used != 56) {
        fa_sha256_update(s, &zero, 1);
    }
    unsigned char len[8];
    for (int i = 0; i < 8; i++) {
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    }
    fa_sha256_update(s, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s->h[i];
    }
}

/* signal-safe: drop what `w` holds since `start` up to its last '/'
 * (escaping never writes a '/', so this is the basename of what was
 * written there). */
static void
keep_basename(fa_writer *w, size_t start)
{
    if (w->failed || w->len < start) {
        /* the writer flushed or failed mid-field: what is left of the
         * field is not in the buffer to cut */
        return;
    }
    size_t cut = start;
    for (size_t i = start; i < w->len; i++) {
        if (w->buf[i] == '/') {
            cut = i + 1;
        }
    }
    memmove(w->buf + start, w->buf + cut, w->len - cut);
    w->total -= cut - start;
    w->len -= cut - start;
}

/* signal-safe: whether s[0:n] is "python", a version and ABI flags
 * ("python3.12", "python3.13t"). */
static int
versioned_interpreter(const char *s, size_t n)
{
    if (n < 7 || memcmp(s, "python", 6) != 0 || s[6] < '0' || s[6] > '9') {
        return 0;
    }
    size_t i = 7;
    while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) {
        i++;
    }
    while (i < n && (s[i] == 'd' || s[i] == 't')) {
        i++;
    }
    return i == n;
}

/* signal-safe: the module name `w` holds since `start` (a basename) without
 * the Python version in it, so that one crash names the same objects on
 * every Python: "_ctypes.cpython-312-x86_64-linux-gnu.so" and
 * "_ctypes.abi3.so" -> "_ctypes.so", "libpython3.12.so.1.0" ->
 * "libpython.so", "python3.12" -> "python" (docs/signature.md step 3). */
static void
drop_version_tags(fa_writer *w, size_t start)
{
    char *s = w->buf + start;
    size_t n = w->len - start;
    size_t keep = n;
    if (n > 9 && memcmp(s, "libpython", 9) == 0 && s[9] >= '0' && s[9] <= '9') {
        for (size_t i = 10; i + 3 <= n; i++) {
            if (memcmp(s + i, ".so", 3) == 0) {
                memcpy(s, "libpython.so", 12);
                keep = 12;
                break;
            }
        }
    }
    else if (versioned_interpreter(s, n)) {
        keep = 6;
    }
    else if (n > 3 && memcmp(s + n - 3, ".so", 3) == 0) {
        size_t dot = n - 3;     /* where the tag after the stem's '.' starts */
        while (dot > 0 && s[dot - 1] != '.') {
            dot--;
        }
        if (dot > 1) {
            const char *tag = s + dot;
            size_t taglen = n - 3 - dot;
            if ((taglen == 4 && memcmp(tag, "abi3", 4) == 0)
                || (taglen >= 8 && memcmp(tag, "cpython-", 8) == 0)) {
                memcpy(s + dot - 1, ".so", 3);
                keep = dot + 2;
            }
        }
    }
    w->total -= n - keep;
    w->len -= n - keep;
}

typedef struct {
    fa_writer *w;
    size_t good;                /* length after the last whole line */
} sig_lines;

/* signal-safe: one "py BASENAME FUNCTION" line; run inside the walk's
 * probe, which covers w_pystr's reads. */
static void
python_line(fa_dump *d, const fa_frame_info *f, void *arg)
{
    (void)d;
    sig_lines *s = arg;
    fa_writer *w = s->w;
    w_puts(w, "py ");
    if (f->has_code) {
        size_t start = w->len;
        w_pystr(w, f->filename, 0);
        keep_basename(w, start);
        w_putc(w, ' ');
        w_pystr(w, f->name, 0);
    }
    else {
        w_puts(w, "? ?");
    }
    w_putc(w, '\n');
    s->good = w->len;
}

/* signal-safe: one "c BASENAME SYMBOL" line */
static void
c_line(fa_writer *w, const char *path, const char *symbol)
{
    w_puts(w, "c ");
    if (path && path[0]) {
        size_t start = w->len;
        w_utf8(w, path, strlen(path), 0);
        keep_basename(w, start);
        drop_version_tags(w, start);
    }
    else {
        w_putc(w, '?');
    }
    w_putc(w, ' ');
    if (symbol) {
        w_utf8(w, symbol, strlen(symbol), 0);
    }
    else {
        w_putc(w, '?');
    }
    w_putc(w, '\n');
}

static int
skipped_symbol(const char *name)
{
    if (name == NULL) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(skip_symbols) / sizeof(skip_symbols[0]); i++) {
        if (strcmp(name, skip_symbols[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* signal-safe once the unwinder is primed: the C lines, from the frames
 * the dump prints (recursions folded as it folds them). */
static void
c_lines(fa_writer *w, uintptr_t pc)
{
    fa_cstack cs;
    if (!fa_cstack_capture(&cs, pc)) {
        return;
    }
    Dl_info info[SIG_SKIP_WINDOW + SIG_C_FRAMES];
    int found[SIG_SKIP_WINDOW + SIG_C_FRAMES];
    int count = 0;
    for (int i = cs.start; i < cs.n && count < SIG_SKIP_WINDOW + SIG_C_FRAMES;) {
        int times;
        int period = fa_cstack_fold(&cs, i, &times);
        int block = period ? period : 1;
        for (int k = 0; k < block && count < SIG_SKIP_WINDOW + SIG_C_FRAMES; k++) {
            found[count] = dladdr(cs.frames[i + k], &info[count]) != 0;
            count++;
        }
        i += block + period * times;
    }
    fa_cstack_release(&cs);
    int first = 0;
    for (int i = 0; i < count && i < SIG_SKIP_WINDOW; i++) {
        if (found[i] && skipped_symbol(info[i].dli_sname)) {
            first = i + 1;
        }
    }
    for (int i = first; i < count && i < first + SIG_C_FRAMES; i++) {
        c_line(w, found[i] ? info[i].dli_fname : NULL, found[i] ? info[i].dli_sname : NULL);
    }
}

/* signal-safe: the signature of the dump `ev` describes into out (16 hex
 * digits and a NUL); returns 0, out empty, when there is none. */
int
fa_crash_signature(fa_dump *d, const fa_event *ev, char out[FA_SIGNATURE_LEN + 1])
{
    fa_writer *w = &d->scratch;
    w_init(w, -1, NULL);
    out[0] = '\0';
    w_puts(w, "faulthandler-auto-signature-2\n");
    if (ev->signum > 0) {
        /* the same place crashing another way is another crash */
        const char *name = signal_name(ev->signum);
        w_puts(w, "signal ");
        if (name) {
            w_puts(w, name);
        }
        else {
            w_dec(w, (unsigned long long)ev->signum);
        }
        w_putc(w, '\n');
    }
    size_t head = w->len;
    sig_lines s = {w, w->len};
    walk_top_frames(d, ev, SIG_PYTHON_FRAMES, python_line, &s);
    w->total -= w->len - s.good;  /* a frame that faulted half-way is dropped */
    w->len = s.good;
    if (ev->c_stack && !d->c_stack_room) {
        /* without its C part it would differ from the same crash's elsewhere */
        return 0;
    }
    if (ev->c_stack) {
        c_lines(w, ev->pc);
    }
    if (w->len == head || w->failed || w->total != w->len) {
        return 0;               /* no frame, or more text than the buffer holds */
    }
    fa_sha256 sha;
    unsigned char digest[32];
    fa_sha256_init(&sha);
    fa_sha256_update(&sha, w->buf, w->len);
    fa_sha256_final(&sha, digest);
    for (int i = 0; i < FA_SIGNATURE_LEN / 2; i++) {
        out[2 * i] = "0123456789abcdef"[digest[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
    }
    out[FA_SIGNATURE_LEN] = '\0';
    return 1;
}
