/* tasks.h - the asyncio section of a dump: for each thread running an
 * event loop, the tasks of that loop and the await chain of each.  The walk
 * is signal-safe; fa_set_asyncio is called with the GIL. */
#ifndef FA_TASKS_H
#define FA_TASKS_H

#include "dump.h"

FA_HIDDEN_BEGIN

/* PYTHONFAULTHANDLER_ASYNCIO: -1 unset (on for every dump but a fatal
 * one), 0 off, 1 on */
void fa_set_asyncio(int mode);
void walk_asyncio(fa_dump *d, const fa_event *ev);

FA_HIDDEN_END

#endif
