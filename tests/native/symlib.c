/* A library whose crash happens in a static function: dladdr() cannot
 * name it, so only offline symbolisation (.symtab, DWARF) can.  Used by
 * tests/test_triage.py, built there with and without -g. */
#include <stddef.h>

volatile int *symlib_target = NULL;

__attribute__((noinline)) static int
symlib_parse_record(int depth)
{
    if (depth > 0) {
        return symlib_parse_record(depth - 1) + 1;
    }
    return *symlib_target;  /* SYMLIB_FAULT_LINE */
}

int
symlib_crash(int depth)
{
    return symlib_parse_record(depth) + 1;
}

/* Call back into Python.  A recursion through the interpreter that
 * alternates between the two has a cycle of C frames too long to fold:
 * it tests the cut of a deep C stack. */
int
symlib_call(int (*callback)(int), int n)
{
    return callback(n) + 1;
}

int
symlib_call_other(int (*callback)(int), int n)
{
    return callback(n) + 2;
}
