/* cstack.c - the native (C) stack of the calling thread, from backtrace()
 * and dladdr(): each frame with its object's path, GNU build id and
 * module offset (what offline symbolisation needs), recursions folded, and
 * a cut that says how many frames it left out. */
#include "cstack.h"
#include "emit.h"
#include "util.h"

#include <dlfcn.h>
#include <link.h>
#if defined(__GLIBC__) || defined(__APPLE__)
#  include <execinfo.h>
#  define FA_HAVE_BACKTRACE 1
#endif
#if defined(__GLIBC__)
#  include <elf.h>
#  include <link.h>
#  define FA_HAVE_LINKMAP 1
#endif

/* Frames unwound to count and fold a deep stack (a stack overflow is tens
 * of thousands deep); past this the dump says the rest was not read. */
#define FA_C_DEEP (1 << 17)
/* The longest cycle of frames a recursion fold recognises. */
#define FA_FOLD_PERIOD 16
/* Objects whose build id one dump remembers. */
#define FA_MODULE_CACHE 16

/* One dump at a time uses it (dumps are serialised by the dump lock; a
 * dump that finds it taken anyway unwinds into its own smaller array). */
static void *deep_frames[FA_C_DEEP];
static int deep_busy;

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

#ifdef FA_HAVE_LINKMAP
/* The GNU hash of a symbol name (the ELF DT_GNU_HASH function). */
static uint32_t
gnu_hash(const char *name)
{
    uint32_t h = 5381;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        h = h * 33 + *c;
    }
    return h;
}

/* A dynamic table's address: glibc has made most of them absolute in
 * place, but not on every ABI. */
static uintptr_t
dyn_address(uintptr_t base, ElfW(Addr) ptr)
{
    return ptr < base ? base + ptr : ptr;
}

struct fatal_error_search {
    size_t left;        /* functions not found yet */
};

/* For each loaded object, in the order dlsym(RTLD_DEFAULT) searches them,
 * look each function not found yet up in the object's GNU hash table,
 * which gives its size too.  dladdr1(RTLD_DL_SYMENT) would scan every
 * symbol of libpython once per function: 60K instructions each, 7% of
 * the hook's start-up. */
static int
find_fatal_error_functions(struct dl_phdr_info *info, size_t size, void *data)
{
    struct fatal_error_search *search = data;
    (void)size;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        }
    }
    const uint32_t *table = NULL;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    for (; dyn != NULL && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_GNU_HASH) {
            table = (const uint32_t *)dyn_address(info->dlpi_addr, dyn->d_un.d_ptr);
        } else if (dyn->d_tag == DT_SYMTAB) {
            symtab = (const ElfW(Sym) *)dyn_address(info->dlpi_addr, dyn->d_un.d_ptr);
        } else if (dyn->d_tag == DT_STRTAB) {
            strtab = (const char *)dyn_address(info->dlpi_addr, dyn->d_un.d_ptr);
        }
    }
    if (table == NULL || symtab == NULL || strtab == NULL || table[0] == 0) {
        return 0;
    }
    uint32_t nbuckets = table[0], symoffset = table[1], bloom_size = table[2];
    const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)&table[4] + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    for (size_t k = 0; k < FA_NFATAL_ERROR; k++) {
        if (fatal_error_ranges[k].start) {
            continue;
        }
        uint32_t h = gnu_hash(fatal_error_functions[k]);
        for (uint32_t i = buckets[h % nbuckets]; i >= symoffset; i++) {
            uint32_t h2 = chain[i - symoffset];
            const ElfW(Sym) *sym = &symtab[i];
            if ((h | 1) == (h2 | 1) && sym->st_shndx != SHN_UNDEF && sym->st_value != 0
                && strcmp(strtab + sym->st_name, fatal_error_functions[k]) == 0) {
                fatal_error_ranges[k].start = info->dlpi_addr + sym->st_value;
                fatal_error_ranges[k].end = fatal_error_ranges[k].start
                                            + (sym->st_size ? sym->st_size : 1);
                search->left--;
                break;
            }
            if (h2 & 1) {
                break;
            }
        }
    }
    return search->left == 0;
}
#endif

/* Find CPython's fatal error functions, each with its size, once.  Not
 * signal-safe; called when enabling. */
void
fa_cstack_init_fatal_error(void)
{
#ifdef FA_HAVE_LINKMAP
    static int done;
    if (done) {
        return;
    }
    done = 1;
    struct fatal_error_search search = {FA_NFATAL_ERROR};
    (void)dl_iterate_phdr(find_fatal_error_functions, &search);
    /* an object without a GNU hash table (old linkers): ask the loader */
    for (size_t i = 0; search.left && i < FA_NFATAL_ERROR; i++) {
        if (fatal_error_ranges[i].start) {
            continue;
        }
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

/* signal-safe: whether the calling thread's signal stack has room for
 * backtrace and dladdr. */
int
fa_cstack_has_room(void)
{
    long room = fa_signal_stack_room();
    return room < 0 || room >= fa_stack_need(FA_C_STACK_STACK);
}

/* signal-safe once primed: unwind the calling thread into cs.  Returns 0
 * where there is no unwinder.  The caller makes sure of the stack room
 * (fa_cstack_has_room). */
int
fa_cstack_capture(fa_cstack *cs, uintptr_t pc)
{
#ifdef FA_HAVE_BACKTRACE
    cs->deep = !__atomic_exchange_n(&deep_busy, 1, __ATOMIC_ACQUIRE);
    cs->frames = cs->deep ? deep_frames : cs->local;
    int size = cs->deep ? FA_C_DEEP : FA_C_FRAMES;
    int n = backtrace(cs->frames, size);
    cs->n = n;
    cs->complete = n < size;
    int start = -1;
    for (int i = 0; i < n && pc != 0 && start < 0; i++) {
        if ((uintptr_t)cs->frames[i] == pc) {
            start = i;
        }
    }
    for (int i = 0; i < n && start < 0; i++) {
        Dl_info info;
        if (!(dladdr(cs->frames[i], &info) && info.dli_fbase == self_base)) {
            start = i;
        }
    }
    cs->start = start < 0 ? n : start;
    return 1;
#else
    (void)pc;
    cs->frames = cs->local;
    cs->n = cs->start = 0;
    cs->complete = 1;
    cs->deep = 0;
    return 0;
#endif
}

/* signal-safe */
void
fa_cstack_release(fa_cstack *cs)
{
    if (cs->deep) {
        __atomic_store_n(&deep_busy, 0, __ATOMIC_RELEASE);
        cs->deep = 0;
    }
}

/* signal-safe: if the cycle of frames starting at `i` repeats right after
 * itself at least twice, its length (and *times, the repeats); else 0. */
int
fa_cstack_fold(const fa_cstack *cs, int i, int *times)
{
    for (int period = 1; period <= FA_FOLD_PERIOD; period++) {
        int t = 0;
        while (i + (t + 2) * period <= cs->n
               && memcmp(cs->frames + i, cs->frames + i + (t + 1) * period,
                         (size_t)period * sizeof(void *)) == 0) {
            t++;
        }
        if (t >= 2) {
            *times = t;
            return period;
        }
    }
    *times = 0;
    return 0;
}

typedef struct {
    const void *base;           /* dli_fbase: which object */
    size_t build_id_len;        /* 0: it has none */
    unsigned char build_id[FA_BUILD_ID_MAX];
} fa_module_note;

#ifdef FA_HAVE_LINKMAP
typedef struct {
    fa_module_note *m;
    uintptr_t bias;
} fa_note_step;

/* signal-safe (probed): the GNU build id from the object's program headers
 * as they are mapped (the first loaded segment holds the ELF header); an
 * object unloaded meanwhile faults into the probe. */
static FA_RACY_READ void
step_build_id(fa_dump *d, void *arg)
{
    (void)d;
    fa_note_step *st = arg;
    fa_module_note *m = st->m;
    const ElfW(Ehdr) *eh = m->base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr))
        || eh->e_phnum == 0 || eh->e_phnum > 1024) {
        return;
    }
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)m->base + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_NOTE) {
            continue;
        }
        const char *p = (const char *)(st->bias + ph[i].p_vaddr);
        const char *end = p + ph[i].p_memsz;
        size_t align = ph[i].p_align == 8 ? 8 : 4;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof(*note);
            const char *desc = name + ((note->n_namesz + align - 1) & ~(align - 1));
            const char *next = desc + ((note->n_descsz + align - 1) & ~(align - 1));
            if (next > end || next <= p) {
                break;
            }
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4
                && memcmp(name, "GNU", 4) == 0 && note->n_descsz > 0
                && note->n_descsz <= FA_BUILD_ID_MAX) {
                memcpy(m->build_id, desc, note->n_descsz);
                m->build_id_len = note->n_descsz;
                return;
            }
            p = next;
        }
    }
}
#endif

/* signal-safe once primed: path, symbol, load bias and build id of the
 * object holding `addr`, the build id read once per object per dump (into
 * `cache`, no allocation; objects loaded after enable are covered too). */
static void
describe_frame(fa_dump *d, void *addr, fa_cframe_info *f, fa_module_note *cache, int *ncache)
{
    Dl_info info;
    memset(f, 0, sizeof(*f));
    f->address = (uintptr_t)addr;
#ifdef FA_HAVE_LINKMAP
    struct link_map *map = NULL;
    int found = dladdr1(addr, &info, (void **)&map, RTLD_DL_LINKMAP) != 0;
#else
    int found = dladdr(addr, &info) != 0;
#endif
    if (!found) {
        return;
    }
    f->binary = info.dli_fname && info.dli_fname[0] ? info.dli_fname : NULL;
    f->symbol = info.dli_sname;
    f->offset = f->symbol ? (uintptr_t)addr - (uintptr_t)info.dli_saddr : 0;
#ifdef FA_HAVE_LINKMAP
    if (map == NULL) {
        return;
    }
    f->has_module_offset = 1;
    f->module_offset = (uintptr_t)addr - (uintptr_t)map->l_addr;
    fa_module_note *m = NULL;
    for (int i = 0; i < *ncache; i++) {
        if (cache[i].base == info.dli_fbase) {
            m = &cache[i];
        }
    }
    fa_module_note scratch;
    if (m == NULL) {
        m = *ncache < FA_MODULE_CACHE ? &cache[(*ncache)++] : &scratch;
        m->base = info.dli_fbase;
        m->build_id_len = 0;
        fa_note_step st = {m, (uintptr_t)map->l_addr};
        if (!probed(d, step_build_id, &st)) {
            m->build_id_len = 0;
        }
    }
    f->build_id = m->build_id;
    f->build_id_len = m->build_id_len;
#else
    (void)d;
    (void)cache;
    (void)ncache;
#endif
}

/* signal-safe once primed (backtrace and dladdr then neither load nor
 * allocate; dladdr takes the loader's lock, which is why a fatal dump has
 * a time limit): the native stack of the calling thread, from `pc` (the
 * faulting instruction) when it is known, else after our own frames.  A
 * cycle of frames repeated more than twice prints once and a marker;
 * past FA_C_FRAMES lines the rest is counted, not printed. */
void
walk_c_stack(fa_dump *d, uintptr_t pc)
{
    const fa_emitter *e = d->emit;
    fa_cstack cs;
    if (!d->c_stack_room) {
        e->c_stack_unavailable(&d->w, "not walked: this thread's signal stack is too small");
        return;
    }
    if (!fa_cstack_capture(&cs, pc)) {
        e->c_stack_unavailable(&d->w, "not available on this platform");
        return;
    }
    fa_module_note cache[FA_MODULE_CACHE];
    int ncache = 0;
    int lines = 0, shown = 0;
    int i = cs.start;
    e->c_stack_begin(&d->w);
    while (i < cs.n && lines < FA_C_FRAMES) {
        int times;
        /* CPython prints every frame */
        int period = e->cpython ? 0 : fa_cstack_fold(&cs, i, &times);
        int block = period ? period : 1;
        if (lines + block + (period ? 1 : 0) > FA_C_FRAMES) {
            break;
        }
        for (int k = 0; k < block; k++) {
            fa_cframe_info f;
            describe_frame(d, cs.frames[i + k], &f, cache, &ncache);
            f.index = lines++;
            e->c_frame(&d->w, &f);
        }
        shown += block;
        i += block;
        if (period) {
            e->c_repeat(&d->w, period, times, lines++);
            i += period * times;
        }
    }
    e->c_stack_end(&d->w, shown, cs.n - i, cs.complete);
    fa_cstack_release(&cs);
}
