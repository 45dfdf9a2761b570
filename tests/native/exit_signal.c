/* exit_signal.c - sends the process a signal from a C atexit handler, that
 * is after Py_Finalize, when no Python thread state is left to read.
 * Loaded by the tests with ctypes: raise_at_exit(signum). */
#include <signal.h>
#include <stdlib.h>

static int late_signal;

static void
send_late_signal(void)
{
    raise(late_signal);
}

int
raise_at_exit(int signum)
{
    late_signal = signum;
    return atexit(send_late_signal);
}
