"""Dump files in hostile places: never written through a symbolic link, never
blocked on a FIFO, never into a file someone else owns; when the file cannot
be written the whole dump goes to stderr after one line saying why, and the
process still dies by its own signal."""
import os
import stat

import pytest

from dumps import only_dump

CRASH = "import faulthandler_auto; faulthandler_auto.sigsegv()"
FALLBACK = 'faulthandler-auto: cannot write dump file "%s": %s; writing the dump to stderr'


def crash(run_py, path, code=CRASH, **env):
    env = dict(env, PYTHONFAULTHANDLER="1", PYTHONFAULTHANDLER_PATH=str(path))
    proc = run_py(code, env=env, timeout=60)
    assert proc.returncode == -11, proc.stderr
    return proc


def assert_fell_back(proc, path, reason):
    lines = proc.stderr.splitlines()
    assert lines[0] == FALLBACK % (path, reason)
    dump = only_dump("\n".join(lines[1:]))
    assert dump.fatal_error == "Segmentation fault"
    assert dump.threads and dump.threads[0].current


def test_symlink_at_the_path_is_not_followed(run_py, tmp_path):
    target = tmp_path / "target"
    target.write_text("precious\n")
    link = tmp_path / "dump.log"
    link.symlink_to(target)
    proc = crash(run_py, link)
    assert target.read_text() == "precious\n"
    assert_fell_back(proc, link, "refusing to follow a symbolic link")


def test_symlinked_directory_made_after_start_is_not_followed(run_py, tmp_path):
    # The link appears after start-up (as an attacker would make it), so the
    # configured directory was resolved while it was still a real one.
    real = tmp_path / "elsewhere"
    real.mkdir()
    path = tmp_path / "crashdir" / "dump.log"
    code = ("import os\n"
            "os.symlink(%r, %r)\n" % (str(real), str(path.parent)) + CRASH)
    proc = crash(run_py, path, code)
    assert list(real.iterdir()) == []
    assert_fell_back(proc, path, "refusing to follow a symbolic link")


def test_fifo_without_reader_does_not_block(run_py, tmp_path):
    fifo = tmp_path / "dump.fifo"
    os.mkfifo(fifo)
    proc = crash(run_py, fifo)
    assert_fell_back(proc, fifo, "a FIFO with no reader")


def test_file_owned_by_another_user_is_left_alone(run_py, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    path = tmp_path / "dump.log"
    path.write_text("")
    os.chown(path, 65534, 65534)
    proc = crash(run_py, path)
    assert path.read_text() == ""
    assert_fell_back(proc, path, "not a regular file owned by this user")


def test_unwritable_directory_falls_back(run_py):
    # /proc refuses new entries even to root
    path = "/proc/faulthandler-auto-test/dump.log"
    proc = crash(run_py, path)
    assert proc.stderr.startswith('faulthandler-auto: cannot write dump file "%s": ' % path)
    only_dump(proc.stderr.split("\n", 1)[1])


def test_missing_directories_are_created_private(run_py, tmp_path):
    path = tmp_path / "a" / "b" / "{pid}.log"
    proc = crash(run_py, path)
    assert proc.stderr == ""
    (dump_file,) = (tmp_path / "a" / "b").iterdir()
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(dump_file).st_mode) == 0o600
    assert only_dump(dump_file.read_text()).pid == int(dump_file.stem)


def test_file_size_limit_still_dies_by_its_signal(run_py, tmp_path):
    # RLIMIT_FSIZE makes write() fail with EFBIG (and raise SIGXFSZ, which
    # must not be what kills the process)
    path = tmp_path / "dump.log"
    code = ("import resource\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n" + CRASH)
    proc = crash(run_py, path, code)
    assert 0 < path.stat().st_size <= 64
    assert_fell_back(proc, path, "file too large")


def test_expanded_path_too_long_falls_back(run_py, tmp_path):
    # the template fits, the expansion of {prog} (the script name) does not
    script = tmp_path / ("s" * 200 + ".py")
    script.write_text(CRASH)
    template = str(tmp_path) + "/" + "{prog}" * 20
    proc = crash(run_py, template, str(script))
    assert_fell_back(proc, template, "path too long")
