/* dest.h - where a dump goes: a descriptor, or a path template expanded
 * and opened safely at dump time, with stderr as the fallback. */
#ifndef FA_DEST_H
#define FA_DEST_H

#include "common.h"
#include "dump.h"

FA_HIDDEN_BEGIN

/* {env:NAME}: the value of variable NAME when the destination was set.
 * The package's _facts.py states the same (a test compares). */
#define FA_ENV_FIELD "env:"
#define FA_ENV_NAME_MAX 128     /* bytes of NAME */
#define FA_ENV_VALUE_MAX 128    /* bytes of a value, cut beyond */
#define FA_ENV_UNSET "unset"    /* the value of an unset or empty variable */

/* A place to write a dump: a descriptor, or a path template opened at dump
 * time (so `{pid}` is the pid of the process that dumps). */
typedef struct {
    int fd;                     /* >= 0: write here; -1: open `path` */
    char path[FA_PATH_SIZE];
} fa_dest;

/* The values of a path template's fields for another process than this
 * one, or another time than now (the host is always this one, the worker
 * "main": what a process writes until set_worker() names one). */
typedef struct {
    unsigned long long pid, ppid;
    const char *prog;
    time_t time;
} fa_template_values;

/* Where a dump went: a file (`path`), else descriptor `fd` (1 or 2 even
 * when redirect_std sent it to `written_fd`). */
typedef struct {
    int fd, written_fd;
    char path[FA_PATH_SIZE];
} fa_dump_place;

int dest_from_object(PyObject *obj, fa_dest *dest);
int fa_expand_path(const char *tmpl, const fa_template_values *values, char *out, size_t size);
const char *fa_path_problem(const char *path);
const char *const *fa_template_fields(int *count);
void dump_say_no_room(const fa_dest *dest, const fa_event *ev, long room);
int dump_fits_here(const fa_dest *dest, const fa_event *ev);
size_t dump_to_dest(const fa_dest *dest, const fa_event *ev, int *abort);
size_t dump_to_dest_at(const fa_dest *dest, const fa_event *ev, int *abort, fa_dump_place *place);

FA_HIDDEN_END

#endif
