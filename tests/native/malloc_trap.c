/* malloc_trap.c - an LD_PRELOAD shim for the tests: once armed, any call to
 * malloc, calloc, realloc or the aligned allocators ends the process with
 * status 99 and a line on stderr, so a dump that completes while armed has
 * provably not allocated.  Arm it from the test with ctypes:
 * ctypes.CDLL(None).malloc_trap_arm(). */
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile int armed;

void malloc_trap_arm(void) { armed = 1; }
void malloc_trap_disarm(void) { armed = 0; }

static void
trap(const char *what)
{
    static const char head[] = "malloc_trap: ";
    static const char tail[] = " called while armed\n";
    size_t n = 0;
    while (what[n]) {
        n++;
    }
    (void)!write(2, head, sizeof(head) - 1);
    (void)!write(2, what, n);
    (void)!write(2, tail, sizeof(tail) - 1);
    _exit(99);
}

void *malloc(size_t size) { if (armed) trap("malloc"); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { if (armed) trap("calloc"); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { if (armed) trap("realloc"); return __libc_realloc(p, size); }
void *memalign(size_t align, size_t size) { if (armed) trap("memalign"); return __libc_memalign(align, size); }
void *aligned_alloc(size_t align, size_t size) { if (armed) trap("aligned_alloc"); return __libc_memalign(align, size); }
int
posix_memalign(void **out, size_t align, size_t size)
{
    if (armed) trap("posix_memalign");
    *out = __libc_memalign(align, size);
    return *out ? 0 : 12;
}
