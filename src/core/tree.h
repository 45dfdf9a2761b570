/* tree.h - process-tree dumps (PYTHONFAULTHANDLER_TREE): a timeout dump
 * first asks each descendant process that runs this hook to dump, one at
 * a time, each to its own destination, and lists every descendant with
 * what became of it.
 *
 * The request is one real-time signal, FA_TREE_SIGNAL (SIGRTMAX-3), sent
 * with sigqueue() and a cookie as its value; a process answers only
 * requests that carry the cookie, and acknowledges, once its dump is
 * written, with the same signal sent back to the requester, whose value is
 * the address of a record saying where the dump went (read by the
 * requester with process_vm_readv).  Before asking, the requester checks
 * in /proc/<pid>/status that the descendant catches that signal, so a
 * process without the hook is never sent it. */
#ifndef FA_TREE_H
#define FA_TREE_H

#include "common.h"
#include "dest.h"

FA_HIDDEN_BEGIN

#define FA_TREE_SIGNAL (SIGRTMAX - 3)
#define FA_TREE_MAX 64          /* descendants listed; more are counted */
#define FA_TREE_COMMAND 256     /* bytes of a command line kept */
#define FA_TREE_WHERE 1024      /* bytes of a destination kept */

/* what became of one descendant */
enum {
    FA_TREE_DUMPED,             /* it dumped and said where */
    FA_TREE_NO_HOOK,            /* it does not catch the signal: not asked */
    FA_TREE_NO_ANSWER,          /* asked, no answer within the wait */
    FA_TREE_STOPPED,            /* stopped or traced: listed, not asked */
    FA_TREE_ZOMBIE,             /* exited, not reaped: listed, not asked */
    FA_TREE_GONE,               /* exited while being asked */
    FA_TREE_NOT_ASKED,          /* the total wait was spent before its turn */
};

typedef struct {
    long long pid, ppid;
    char state;                 /* /proc/<pid>/stat's, e.g. 'S' */
    int result;                 /* FA_TREE_* */
    long waited_ms;
    char command[FA_TREE_COMMAND];
    char where[FA_TREE_WHERE];  /* FA_TREE_DUMPED: its destination */
} fa_tree_entry;

typedef struct fa_tree_report {
    int count;
    long omitted;               /* descendants beyond FA_TREE_MAX */
    long wait_ms;               /* the wait for one answer */
    fa_tree_entry entries[FA_TREE_MAX];
} fa_tree_report;

int fa_tree_set(int enabled, const fa_dest *dest, long wait_ms, long total_ms);
int fa_tree_enabled(void);
const fa_tree_report *fa_tree_ask(int *abort);
int fa_tree_pending(void);
void fa_tree_serve_locked(void);
void fa_tree_after_fork(void);

struct fa_dump;
void walk_tree(struct fa_dump *d, const struct fa_tree_report *report);

FA_HIDDEN_END

#endif
