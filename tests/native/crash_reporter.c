/* crash_reporter.c - stands for a crash reporter installed before us that
 * takes its time (writes a minidump, uploads it): on SIGSEGV it says so on
 * stdout, waits for a byte on the descriptor it was given, then lets the
 * fault happen again with the default action.  Loaded with ctypes. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int release_fd = -1;

static void
on_segv(int signum)
{
    static const char msg[] = "reporter running\n";
    char byte;
    (void)!write(1, msg, sizeof(msg) - 1);
    (void)!read(release_fd, &byte, 1);
    signal(signum, SIG_DFL);
}

void
install_crash_reporter(int fd)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_segv;
    release_fd = fd;
    sigaction(SIGSEGV, &action, NULL);
}
