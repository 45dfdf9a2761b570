/* cstack.c - the native (C) stack of the calling thread, from backtrace()
 * and dladdr(). */
#include "cstack.h"
#include "emit.h"

#include <dlfcn.h>
#include <link.h>
#if defined(__GLIBC__) || defined(__APPLE__)
#  include <execinfo.h>
#  define FA_HAVE_BACKTRACE 1
#endif

#define FA_C_FRAMES 128

/* where this module was loaded, to skip our own C frames */
static void *self_base;

/* CPython's exported ways into its fatal error, which prints the Python
 * frames itself and then aborts: the address range of each one found */
static const char *const fatal_error_functions[] = {
    "Py_FatalError", "_Py_FatalErrorFunc", "_Py_FatalErrorFormat",
    "_Py_FatalRefcountErrorFunc", "Py_ExitStatusException",
};
#define FA_NFATAL_ERROR (sizeof(fatal_error_functions) / sizeof(fatal_error_functions[0]))
static struct {
    uintptr_t start, end;
} fatal_error_ranges[FA_NFATAL_ERROR];

/* Remember the object `self_symbol` lives in.  Not signal-safe (dladdr may
 * take the loader's lock); called at import. */
void
fa_cstack_init(void *self_symbol)
{
    Dl_info info;
    if (dladdr(self_symbol, &info)) {
        self_base = info.dli_fbase;
    }
}

/* Find CPython's fatal error functions (dlsym for the address, the ELF
 * symbol for the size).  Not signal-safe; called when enabling. */
void
fa_cstack_init_fatal_error(void)
{
#ifdef __GLIBC__
    for (size_t i = 0; i < FA_NFATAL_ERROR; i++) {
        void *addr = dlsym(RTLD_DEFAULT, fatal_error_functions[i]);
        Dl_info info;
        const ElfW(Sym) *sym = NULL;
        if (addr != NULL && dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) && sym != NULL) {
            fatal_error_ranges[i].start = (uintptr_t)addr;
            fatal_error_ranges[i].end = (uintptr_t)addr + (sym->st_size ? sym->st_size : 1);
        }
    }
#endif
}

/* signal-safe once primed (backtrace reads the stack; no lock, no
 * allocation): is the calling thread inside CPython's fatal error? */
int
fa_cstack_in_fatal_error(void)
{
#ifdef FA_HAVE_BACKTRACE
    void *frames[FA_C_FRAMES];
    int n = backtrace(frames, FA_C_FRAMES);
    for (int i = 0; i < n; i++) {
        uintptr_t pc = (uintptr_t)frames[i];
        for (size_t k = 0; k < FA_NFATAL_ERROR; k++) {
            if (pc > fatal_error_ranges[k].start && pc <= fatal_error_ranges[k].end) {
                return 1;
            }
        }
    }
#endif
    return 0;
}

/* Run backtrace() and dladdr() once outside any handler: the first call
 * may load libgcc_s and allocate.  One frame is enough for that (the
 * no-malloc tests prove a first crash then allocates nothing); walking
 * more would page in other libraries' unwind tables for nothing (about
 * 150 KiB of Rss on 3.12).  Not signal-safe, for that reason. */
void
fa_prime_unwinder(void)
{
#ifdef FA_HAVE_BACKTRACE
    void *frames[1];
    int n = backtrace(frames, 1);
    Dl_info info;
    if (n > 0) {
        (void)dladdr(frames[0], &info);
    }
#endif
}

/* signal-safe once primed (backtrace and dladdr then neither load nor
 * allocate; dladdr takes the loader's lock, which is why a fatal dump has
 * a time limit): the native stack of the calling thread, from `pc` (the
 * faulting instruction) when it is known, else after our own frames. */
void
walk_c_stack(fa_dump *d, uintptr_t pc)
{
    const fa_emitter *e = d->emit;
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
        if (!(dladdr(frames[i], &info) && info.dli_fbase == self_base)) {
            start = i;
        }
    }
    if (start < 0) {
        start = n;
    }
    e->c_stack_begin(&d->w);
    for (int i = start; i < n; i++) {
        Dl_info info;
        int found = dladdr(frames[i], &info) != 0;
        fa_cframe_info f;
        f.binary = found && info.dli_fname ? info.dli_fname : NULL;
        f.symbol = found ? info.dli_sname : NULL;
        f.offset = f.symbol ? (uintptr_t)frames[i] - (uintptr_t)info.dli_saddr : 0;
        f.address = (uintptr_t)frames[i];
        f.index = i - start;
        e->c_frame(&d->w, &f);
    }
    e->c_stack_end(&d->w, n - start);
#else
    (void)pc;
    e->c_stack_unavailable(&d->w);
#endif
}
