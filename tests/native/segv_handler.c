/* segv_handler.c - stands for a C library that installs its own SIGSEGV
 * handler (a JIT, a crash reporter): loaded by the tests with ctypes. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void
on_segv(int signum)
{
    static const char msg[] = "c-library handler ran\n";
    (void)signum;
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(42);
}

void
install_segv_handler(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_segv;
    sigaction(SIGSEGV, &action, NULL);
}
