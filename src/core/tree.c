/* tree.c - process-tree dumps (see tree.h).  The asking side runs on the
 * watchdog thread inside a timeout dump, while another thread may hold the
 * malloc lock or the GIL; the answering side runs in a signal handler.  So
 * all of it is signal-safe: plain syscalls (open, read, getdents64,
 * sigqueue, sigtimedwait, process_vm_readv) on static or stack buffers. */
#include "tree.h"
#include "budget.h"
#include "emit.h"
#include "usersig.h"
#include "util.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>

/* the value of a request: a process answers no other */
#define TREE_COOKIE ((uintptr_t)0x4641545245455251ULL)    /* "FATREERQ" */
#define TREE_MAGIC "faulthandler-auto tree answer 1"
#define TREE_SCAN_MAX 16384     /* processes read from /proc */
#define TREE_POLL_MS 20

static struct {
    int enabled;
    int installed;              /* our handler is on FA_TREE_SIGNAL */
    fa_dest dest;
    long wait_ms, total_ms;
    struct sigaction previous;
    pid_t pending;              /* a request not served yet: its requester (atomic) */
    pid_t asked;                /* the descendant being asked, 0 when none (atomic) */
    pid_t answered;             /* set to `asked` by its answer (atomic) */
    uintptr_t answer_at;        /* where its answer record is, in its memory */
} tree;

/* What this process answered last: its requester reads it from here. */
static struct {
    char magic[sizeof(TREE_MAGIC)];
    char where[FA_TREE_WHERE];
} answer;

/* the asker's workspace (the watchdog thread, holding the dump lock) */
static struct {
    pid_t pid, ppid;
} procs[TREE_SCAN_MAX];
static fa_tree_report report;

/* signal-safe: the number at the start of `s` (digits only), its end in *end. */
static long long
parse_dec(const char *s, const char **end)
{
    long long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        s++;
    }
    if (end) {
        *end = s;
    }
    return v;
}

/* signal-safe: "/proc/<pid>/<leaf>" into `out`. */
static void
proc_path(char *out, size_t size, long long pid, const char *leaf)
{
    out[0] = '\0';
    fa_str_add(out, size, "/proc/");
    fa_dec_add(out, size, pid);
    fa_str_add(out, size, "/");
    fa_str_add(out, size, leaf);
}

/* signal-safe: up to size-1 bytes of /proc/<pid>/<leaf>, NUL-terminated;
 * the length, or -1 when it cannot be read. */
static ssize_t
proc_read(long long pid, const char *leaf, char *buf, size_t size)
{
    char path[64];
    proc_path(path, sizeof(path), pid, leaf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

/* signal-safe: the state and parent of `pid` from /proc/<pid>/stat (after
 * the command name, which may hold spaces and parentheses); 0 when gone. */
static char
proc_stat(long long pid, long long *ppid)
{
    char buf[512];
    if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0) {
        return 0;
    }
    const char *close_paren = NULL;
    for (const char *p = buf; *p; p++) {
        if (*p == ')') {
            close_paren = p;
        }
    }
    if (close_paren == NULL || close_paren[1] != ' ' || close_paren[2] == '\0'
        || close_paren[3] != ' ') {
        return 0;
    }
    if (ppid) {
        *ppid = parse_dec(close_paren + 4, NULL);
    }
    return close_paren[2];
}

/* signal-safe: whether `pid` catches FA_TREE_SIGNAL (its SigCgt mask). */
static int
catches_tree_signal(long long pid)
{
    char buf[4096];
    if (proc_read(pid, "status", buf, sizeof(buf)) <= 0) {
        return 0;
    }
    const char *key = "\nSigCgt:";
    const char *p = buf;
    for (; *p; p++) {
        size_t k = 0;
        while (key[k] && p[k] == key[k]) {
            k++;
        }
        if (key[k] == '\0') {
            p += k;
            break;
        }
    }
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    unsigned long long mask = 0;
    int digits = 0;
    for (; digits < 16; p++, digits++) {
        int v = (*p >= '0' && *p <= '9') ? *p - '0'
                : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
        if (v < 0) {
            break;
        }
        mask = (mask << 4) | (unsigned long long)v;
    }
    int bit = FA_TREE_SIGNAL - 1;
    return digits == 16 && bit < 64 && ((mask >> bit) & 1ULL);
}

/* signal-safe: its command line, arguments joined by spaces, cut to fit;
 * a kernel thread or a zombie has none: its name in brackets instead. */
static void
proc_command(long long pid, char *out, size_t size)
{
    ssize_t n = proc_read(pid, "cmdline", out, size);
    if (n > 0) {
        while (n > 0 && out[n - 1] == '\0') {
            n--;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (out[i] == '\0' || out[i] == '\n') {
                out[i] = ' ';
            }
        }
        out[n] = '\0';
        if (n > 0) {
            return;
        }
    }
    char comm[64];
    n = proc_read(pid, "comm", comm, sizeof(comm));
    while (n > 0 && comm[n - 1] == '\n') {
        comm[--n] = '\0';
    }
    size_t i = 0;
    out[i++] = '[';
    for (ssize_t k = 0; k < n && i + 2 < size; k++) {
        out[i++] = comm[k];
    }
    out[i++] = ']';
    out[i] = '\0';
}

/* signal-safe: every process's pid and parent into `procs`, by reading
 * /proc with getdents64 on a stack buffer; how many. */
static int
scan_processes(void)
{
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        return 0;
    }
    int count = 0;
    char buf[8192];
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        for (long off = 0; off < n;) {
            /* struct linux_dirent64: ino, off, reclen, type, name */
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof(reclen));
            const char *name = buf + off + 19;
            off += reclen;
            const char *end;
            long long pid = parse_dec(name, &end);
            long long ppid = 0;
            if (*end != '\0' || pid <= 0 || count >= TREE_SCAN_MAX
                || proc_stat(pid, &ppid) == 0) {
                continue;
            }
            procs[count].pid = (pid_t)pid;
            procs[count].ppid = (pid_t)ppid;
            count++;
        }
    }
    close(dir);
    return count;
}

/* signal-safe: a request (the cookie) is recorded and served; the answer
 * of the descendant being asked is recorded; anything else goes to the
 * handler that was there before ours, or is dropped when there was none
 * (the default action, ending the process, is what the check before
 * asking exists to avoid). */
static void
tree_receive(int signum, siginfo_t *si, void *uctx)
{
    if (si != NULL && si->si_code == SI_QUEUE) {
        if ((uintptr_t)si->si_value.sival_ptr == TREE_COOKIE) {
            /* on a small alternate stack that someone else gave this
             * thread, the request is dropped: its requester reports no
             * answer, as for a process that does not serve requests */
            long room = fa_signal_stack_room();
            if (__atomic_load_n(&tree.enabled, __ATOMIC_ACQUIRE)
                && (room < 0 || room >= fa_stack_need(FA_DUMP_STACK))) {
                __atomic_store_n(&tree.pending, si->si_pid, __ATOMIC_SEQ_CST);
                fa_user_serve(0);
            }
            return;
        }
        pid_t asked = __atomic_load_n(&tree.asked, __ATOMIC_SEQ_CST);
        if (asked != 0 && si->si_pid == asked) {
            tree.answer_at = (uintptr_t)si->si_value.sival_ptr;
            __atomic_store_n(&tree.answered, asked, __ATOMIC_SEQ_CST);
            return;
        }
    }
    const struct sigaction *prev = &tree.previous;
    if (prev->sa_handler == SIG_IGN || prev->sa_handler == SIG_DFL) {
        return;
    }
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(signum, si, uctx);
    }
    else {
        prev->sa_handler(signum);
    }
}

/* signal-safe: the handler of FA_TREE_SIGNAL.  (SIGRTMAX is glibc's
 * __libc_current_sigrtmax(), which only reads a variable.) */
static void
tree_handler(int signum, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    tree_receive(signum, si, uctx);
    errno = saved_errno;
}

/* Answer requests (and ask descendants on timeout) from now on, or stop.
 * The dumps asked for go to `dest`.  Called with the GIL.  -1 with errno
 * set when the handler cannot be installed. */
int
fa_tree_set(int enabled, const fa_dest *dest, long wait_ms, long total_ms)
{
    if (!enabled) {
        __atomic_store_n(&tree.enabled, 0, __ATOMIC_RELEASE);
        if (tree.installed) {
            tree.installed = 0;
            (void)sigaction(FA_TREE_SIGNAL, &tree.previous, NULL);
        }
        return 0;
    }
    __atomic_store_n(&tree.enabled, 0, __ATOMIC_RELEASE);
    tree.dest = *dest;
    tree.wait_ms = wait_ms;
    tree.total_ms = total_ms;
    if (!tree.installed) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_sigaction = tree_handler;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        if (sigaction(FA_TREE_SIGNAL, &action, &tree.previous) != 0) {
            return -1;
        }
        tree.installed = 1;
    }
    memcpy(answer.magic, TREE_MAGIC, sizeof(TREE_MAGIC));
    __atomic_store_n(&tree.enabled, 1, __ATOMIC_RELEASE);
    return 0;
}

/* signal-safe: one atomic load */
int
fa_tree_enabled(void)
{
    return __atomic_load_n(&tree.enabled, __ATOMIC_ACQUIRE);
}

/* signal-safe: whether a request waits for its dump. */
int
fa_tree_pending(void)
{
    return __atomic_load_n(&tree.pending, __ATOMIC_SEQ_CST) != 0;
}

/* signal-safe: say in `answer` where the dump went: its file, or its
 * descriptor and what that is ("stderr (pipe:[123])"). */
static void
answer_place(const fa_dump_place *place)
{
    char *out = answer.where;
    size_t size = sizeof(answer.where);
    out[0] = '\0';
    if (place->fd < 0) {
        fa_str_add(out, size, place->path);
        return;
    }
    if (place->fd == STDERR_FILENO || place->fd == STDOUT_FILENO) {
        fa_str_add(out, size, place->fd == STDERR_FILENO ? "stderr" : "stdout");
    }
    else {
        fa_str_add(out, size, "descriptor ");
        fa_dec_add(out, size, place->fd);
    }
    char link[64] = "/proc/self/fd/", target[512];
    fa_dec_add(link, sizeof(link), place->written_fd);
    ssize_t t = readlink(link, target, sizeof(target) - 1);
    if (t > 0) {
        target[t] = '\0';
        fa_str_add(out, size, " (");
        fa_str_add(out, size, target);
        fa_str_add(out, size, ")");
    }
}

/* signal-safe: the header of a dump asked for by `requester`. */
static void
request_header(char *out, size_t size, pid_t requester)
{
    out[0] = '\0';
    fa_str_add(out, size, "Timeout (process tree: asked by pid ");
    fa_dec_add(out, size, requester);
    fa_str_add(out, size, ")!");
}

/* signal-safe: dump for the request waiting, then answer its requester.
 * Called with the dump lock held (by fa_user_serve), which keeps this
 * dump out of any other. */
void
fa_tree_serve_locked(void)
{
    pid_t requester = __atomic_exchange_n(&tree.pending, 0, __ATOMIC_SEQ_CST);
    if (requester == 0 || !fa_tree_enabled()) {
        return;
    }
    /* 4 KiB, not on a signal handler's stack; the dump lock makes it ours */
    static fa_dump_place place;
    if (fa_limits_allow(NULL)) {
        char header[64];
        request_header(header, sizeof(header), requester);
        fa_event ev = {EV_TIMEOUT, 0, NULL, 0, header, 1, 0, 0, 0, 0, 0, 0, NULL, NULL, 0};
        fa_limits_spent(dump_to_dest_at(&tree.dest, &ev, NULL, &place));
        answer_place(&place);
    }
    else {
        fa_strlcpy(answer.where, "nowhere: over PYTHONFAULTHANDLER_RATE_BYTES", sizeof(answer.where));
    }
    union sigval value;
    value.sival_ptr = &answer;
    (void)sigqueue(requester, FA_TREE_SIGNAL, value);
}

/* signal-safe: copy what `e`'s process answered (its answer record) into
 * e->where; when that memory cannot be read, say why. */
static void
read_answer(fa_tree_entry *e, uintptr_t at)
{
    char magic[sizeof(TREE_MAGIC)];
    struct iovec local[2] = {{magic, sizeof(magic)}, {e->where, sizeof(e->where)}};
    struct iovec remote = {(void *)at, sizeof(answer)};
    ssize_t n = syscall(SYS_process_vm_readv, (pid_t)e->pid, local, 2, &remote, 1, 0);
    if (n < (ssize_t)sizeof(magic) || memcmp(magic, TREE_MAGIC, sizeof(magic)) != 0) {
        fa_strlcpy(e->where, n < 0 && errno == EPERM ? "(not readable: EPERM)" : "(unknown)",
                   sizeof(e->where));
        return;
    }
    e->where[sizeof(e->where) - 1] = '\0';
}

/* signal-safe: ask `e`'s process to dump and wait for its answer until
 * `deadline` (or *abort), taking the signals this thread may receive
 * with sigtimedwait; any other thread's handler records them as well. */
static void
ask_one(fa_tree_entry *e, long long deadline, int *abort)
{
    long long start = fa_now_ms();
    __atomic_store_n(&tree.answered, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&tree.asked, (pid_t)e->pid, __ATOMIC_SEQ_CST);
    union sigval value;
    value.sival_ptr = (void *)TREE_COOKIE;
    e->result = FA_TREE_NO_ANSWER;
    if (sigqueue((pid_t)e->pid, FA_TREE_SIGNAL, value) != 0) {
        e->result = FA_TREE_GONE;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, FA_TREE_SIGNAL);
    while (e->result == FA_TREE_NO_ANSWER) {
        if (__atomic_load_n(&tree.answered, __ATOMIC_SEQ_CST) == (pid_t)e->pid) {
            e->result = FA_TREE_DUMPED;
            read_answer(e, tree.answer_at);
            break;
        }
        long long left = deadline - fa_now_ms();
        if (left <= 0 || (abort && __atomic_load_n(abort, __ATOMIC_ACQUIRE))) {
            break;
        }
        char state = proc_stat(e->pid, NULL);
        if (state == 0 || state == 'Z' || state == 'X') {
            e->result = FA_TREE_GONE;
            break;
        }
        long wait = left < TREE_POLL_MS ? (long)left : TREE_POLL_MS;
        struct timespec ts = {0, wait * 1000000L};
        siginfo_t si;
        if (sigtimedwait(&set, &si, &ts) == FA_TREE_SIGNAL) {
            /* taken here instead of by a handler: handled the same way
             * (a chained handler gets no ucontext, as none exists) */
            tree_receive(FA_TREE_SIGNAL, &si, NULL);
        }
    }
    __atomic_store_n(&tree.asked, 0, __ATOMIC_SEQ_CST);
    e->waited_ms = (long)(fa_now_ms() - start);
}

/* signal-safe: list the descendants of this process, breadth first, and
 * ask each one that runs the hook to dump, one at a time, within the
 * total wait.  Called by the watchdog thread, which blocks every signal
 * but the faults, holding the dump lock; the report it returns is valid
 * until the next call. */
const fa_tree_report *
fa_tree_ask(int *abort)
{
    int nprocs = scan_processes();
    report.count = 0;
    report.omitted = 0;
    report.wait_ms = tree.wait_ms;
    long long total_deadline = fa_now_ms() + tree.total_ms;
    pid_t self = getpid();
    /* breadth first: the parents listed so far are the queue */
    for (int parent = -1; parent < report.count; parent++) {
        pid_t ppid = parent < 0 ? self : (pid_t)report.entries[parent].pid;
        for (int i = 0; i < nprocs; i++) {
            if (procs[i].ppid != ppid || procs[i].pid == self) {
                continue;
            }
            if (report.count >= FA_TREE_MAX) {
                report.omitted++;
                continue;
            }
            fa_tree_entry *e = &report.entries[report.count++];
            memset(e, 0, sizeof(*e));
            e->pid = procs[i].pid;
            e->ppid = ppid;
        }
    }
    for (int i = 0; i < report.count; i++) {
        fa_tree_entry *e = &report.entries[i];
        e->state = proc_stat(e->pid, NULL);
        proc_command(e->pid, e->command, sizeof(e->command));
        if (e->state == 0 || e->state == 'Z' || e->state == 'X') {
            e->result = e->state == 0 ? FA_TREE_GONE : FA_TREE_ZOMBIE;
        }
        else if (e->state == 'T' || e->state == 't') {
            e->result = FA_TREE_STOPPED;
        }
        else if (!catches_tree_signal(e->pid)) {
            e->result = FA_TREE_NO_HOOK;
        }
        else if (fa_now_ms() >= total_deadline || (abort && __atomic_load_n(abort, __ATOMIC_ACQUIRE))) {
            e->result = FA_TREE_NOT_ASKED;
        }
        else {
            long long deadline = fa_now_ms() + tree.wait_ms;
            ask_one(e, deadline < total_deadline ? deadline : total_deadline, abort);
        }
    }
    return &report;
}

/* signal-safe: hand the report to the dump's emitter. */
void
walk_tree(fa_dump *d, const fa_tree_report *r)
{
    if (r != NULL) {
        d->emit->tree(&d->w, r);
    }
}

/* In a forked child no request is in flight. */
void
fa_tree_after_fork(void)
{
    tree.pending = 0;
    tree.asked = 0;
    tree.answered = 0;
}
