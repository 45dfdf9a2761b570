/* crash_later.c - a thread of native code that crashes when told to,
 * without the GIL and whatever the interpreter is doing by then (even
 * finalizing): crash_after_byte(fd) waits for a byte on `fd`, then
 * writes through a null pointer.  Loaded with ctypes. */
#include <unistd.h>

void
crash_after_byte(int fd)
{
    char byte;
    (void)!read(fd, &byte, 1);
    *(volatile int *)0 = 1;
}
