/* dest.h - where a dump goes: a descriptor, or a path template expanded
 * and opened safely at dump time, with stderr as the fallback. */
#ifndef FA_DEST_H
#define FA_DEST_H

#include "common.h"
#include "dump.h"

FA_HIDDEN_BEGIN

/* A place to write a dump: a descriptor, or a path template opened at dump
 * time (so `{pid}` is the pid of the process that dumps). */
typedef struct {
    int fd;                     /* >= 0: write here; -1: open `path` */
    char path[FA_PATH_SIZE];
} fa_dest;

int dest_from_object(PyObject *obj, fa_dest *dest);
const char *const *fa_template_fields(int *count);
size_t dump_to_dest(const fa_dest *dest, const fa_event *ev, int *abort);

FA_HIDDEN_END

#endif
