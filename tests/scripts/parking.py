"""Waiting until another thread is parked where a test expects it, for the
scenario scripts: from then on its Python frames stay the same, so a dump
(ours, or CPython's in a separate run) shows exactly those."""
import sys
import time


def marked_line(function, marker):
    """The line of ``function``'s file that ends with "# marker"."""
    with open(function.__code__.co_filename) as f:
        for number, line in enumerate(f, 1):
            if line.rstrip().endswith("# " + marker):
                return number
    raise LookupError(marker)


def wait_until_at(thread, function, marker):
    """Return once ``thread`` runs ``function`` at the line marked ``marker``,
    a blocking C call (no Python frame above it)."""
    line = marked_line(function, marker)
    while True:
        frame = sys._current_frames().get(thread.ident)
        if frame is not None and frame.f_code is function.__code__ and frame.f_lineno == line:
            return
        time.sleep(0.001)
