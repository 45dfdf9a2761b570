/* frames.c - the Python frame walker's reads of one frame.  The version
 * differences are in pycompat.h. */
#include "frames.h"
#include "probes.h"

/* signal-safe: the innermost frame of a thread (whose state is checked). */
FA_RACY_READ fa_frame *
thread_top_frame(PyThreadState *ts)
{
    return fa_compat_top_frame(ts);
}

_Static_assert(sizeof(fa_frame) % sizeof(uintptr_t) == 0, "racy_copy copies whole words");

/* signal-safe: copy the frame at `f` into `copy` if it is readable, and say
 * whether it is one CPython's traceback shows: 1 = show, 0 = skip,
 * -1 = unreadable.  Everything after this reads the copy, because a thread
 * that runs on while we dump (the watchdog and signal dumps do not stop it)
 * rewrites its frames. */
FA_RACY_READ int
frame_check(fa_frame *f, fa_frame *copy)
{
    int readable = FA_FRAME_IS_OBJECT ? obj_ok((PyObject *)f, &PyFrame_Type) : ptr_ok(f);
    if (!readable) {
        return -1;
    }
    racy_copy(copy, f, sizeof(*f));
    return !fa_compat_frame_hidden(copy);
}

/* signal-safe: the next frame out, from a copy. */
fa_frame *
frame_back(const fa_frame *copy)
{
    return FA_FRAME_BACK(copy);
}

/* signal-safe: the code object named by a frame copy, or NULL. */
FA_RACY_READ PyCodeObject *
frame_code(const fa_frame *copy)
{
    PyObject *code = fa_compat_frame_code(copy);
    return obj_ok(code, &PyCode_Type) ? (PyCodeObject *)code : NULL;
}

/* signal-safe: the line a frame copy is at, -1 when unknown.
 * PyCode_Addr2Line only reads the line table, checked first. */
FA_RACY_READ int
frame_line(fa_frame *copy, PyCodeObject *code)
{
    if (!obj_ok(FA_CODE_LINETABLE(code), &PyBytes_Type)) {
        return -1;
    }
    return PyCode_Addr2Line(code, fa_compat_frame_addr(copy));
}
