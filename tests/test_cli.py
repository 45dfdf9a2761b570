"""The faulthandler-auto command (status, demo, dump), run from the installed wheel."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_environ
from dumps import FATAL_NAMES

P = "PYTHONFAULTHANDLER"
# the file that starts the hook: the .start entry point on 3.15+ (PEP 829)
HOOK_FILE = "faulthandler_auto.start" if sys.version_info >= (3, 15) else "faulthandler_auto.pth"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


@pytest.fixture(scope="module")
def cli(venv_python):
    """cli(*args, env=None, flags=()) runs `python [flags] -m faulthandler_auto args`."""

    def cli(*args, env=None, flags=(), timeout=60):
        proc = subprocess.run(
            [str(venv_python), *flags, "-m", "faulthandler_auto", *map(str, args)],
            env=clean_environ(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            errors="backslashreplace",
            timeout=timeout,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    return cli


def one_error_line(proc):
    """The stderr of a failed command: exactly one 'faulthandler-auto: error:' line."""
    lines = [line for line in proc.stderr.splitlines() if line.startswith("faulthandler-auto: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def sleeper(venv_python):
    """sleeper(env, stderr=PIPE) starts a venv python that sleeps in `nap()`
    once its start-up hook has run; it is killed at the end of the test."""
    children = []

    def start(env=None, stderr=subprocess.DEVNULL, flags=()):
        code = "import sys, time\ndef nap():\n    time.sleep(120)\nprint('ready', flush=True)\nnap()\n"
        child = subprocess.Popen(
            [str(venv_python), *flags, "-c", code],
            env=clean_environ(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            universal_newlines=True,
        )
        children.append(child)
        assert child.stdout.readline() == "ready\n"
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


def assert_no_signal_sent(child):
    """No signal reached ``child`` (not reaped yet): a fatal one would show as
    pending (the kernel queues SIGKILL to every thread) or as a zombie, at
    once, so there is nothing to wait for."""
    with open("/proc/%d/status" % child.pid) as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    assert status["State"][0] not in "ZX", status["State"]
    assert int(status["SigPnd"], 16) == int(status["ShdPnd"], 16) == 0, status


# -- the command itself -------------------------------------------------------

def test_console_script_installed(venv_python):
    script = Path(venv_python).parent / "faulthandler-auto"
    assert script.exists() and os.access(str(script), os.X_OK)
    proc = subprocess.run([str(script), "status"], env=clean_environ(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "faulthandler-auto" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [[], ["status"], ["demo"], ["dump"]])
def test_help(cli, command):
    proc = cli(*command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: faulthandler-auto")


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["status", "--bogus"], ["demo", "explode"],
                                  ["dump"], ["dump", "abc"], ["dump", "1", "--signal", "NOPE"],
                                  ["dump", "1", "--signal", "KILL"], ["dump", "1", "--timeout", "0"]])
def test_usage_errors_are_one_line(cli, args):
    proc = cli(*args)
    assert proc.returncode == 2, proc
    assert one_error_line(proc)
    assert proc.stderr.count("\n") == 1


# -- status --------------------------------------------------------------------

def test_status_active(cli, tmp_path):
    env = {P: "1", P + "_SIGNAL": "USR1", P + "_PATH": str(tmp_path / "{pid}.log")}
    proc = cli("status", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "status:      active" in proc.stdout
    assert "no problem found" in proc.stdout
    assert "SIGUSR1" in proc.stdout
    assert str(tmp_path / "{pid}.log") in proc.stdout
    assert proc.stderr == ""

    info = json.loads(cli("status", "--json", env=env).stdout)
    assert info["active"] is True
    assert info["problems"] == []
    assert info["hook_ran"] is True
    assert info["fatal_handler_enabled"] is True
    assert info["hook"]["file"].endswith(HOOK_FILE)
    assert info["variables"] == env
    assert info["config"]["signals"] == ["SIGUSR1"]
    assert info["destination"]["kind"] == "file"
    assert info["destination"]["example"].startswith(str(tmp_path))
    assert info["exit_status"] == 0


def test_status_nothing_set(cli):
    proc = cli("status")
    assert proc.returncode == 0
    assert "inactive" in proc.stdout
    assert "no PYTHONFAULTHANDLER* variable is set" in proc.stdout
    info = json.loads(cli("status", "--json").stdout)
    assert info["active"] is False and info["problems"] == [] and info["variables"] == {}


def test_status_ignores_own_timeout(cli, run_py):
    """The command runs with the hook active: a TIMEOUT + EXIT of the
    environment must not dump or end the command itself."""
    # The timer starts at start-up: on a busy machine it may fire before
    # main() has cancelled it; then the run ends before saying "returned" and
    # runs again with a longer timeout.  Once main() has returned, the script
    # waits three timeouts for a dump that must not come.
    for timeout in (0.5, 1, 2, 4, 8):
        env = {P + "_TIMEOUT": str(timeout), P + "_EXIT": "1"}
        proc = run_py("import os, sys, time\nfrom faulthandler_auto.cli import main\n"
                      "status = main(['status'])\nos.write(2, b'returned\\n')\n"
                      "time.sleep(%r)\nsys.exit(status)" % (3 * timeout), env=env)
        if "returned\n" in proc.stderr:
            break
    assert proc.stderr.startswith("returned\n"), proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Timeout" not in proc.stderr
    assert "on a hang: dump after %g s, then exit with status 1" % timeout in proc.stdout


@pytest.mark.parametrize("variable, value", [
    ("TIMEOUT", "soon"), ("FORMAT", "xml"), ("C_STACK", "maybe"), ("SIGNAL", "SIGWHAT"),
])
def test_status_broken(cli, variable, value):
    env = {P: "1", P + "_" + variable: value}
    proc = cli("status", env=env)
    assert proc.returncode == 1
    problems = proc.stdout.split("problems:", 1)[1]
    assert P + "_" + variable in problems and repr(value) in problems
    info = json.loads(cli("status", "--json", env=env).stdout)
    assert info["exit_status"] == 1
    assert any(P + "_" + variable in p for p in info["problems"])


def test_status_unknown_variable(cli):
    proc = cli("status", env={P + "_SIGNALS": "USR1"})
    assert proc.returncode == 1
    assert "unknown variable 'PYTHONFAULTHANDLER_SIGNALS'" in proc.stdout
    assert "none turns a dump on" in proc.stdout


def test_status_unwritable_destination(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = cli("status", env={P: "1", P + "_PATH": str(blocker / "sub" / "{pid}.log")})
    assert proc.returncode == 1
    assert "dumps cannot be written" in proc.stdout


def test_status_destination_on_proc(cli):
    proc = cli("status", env={P: "1", P + "_PATH": "/proc/nope/x.log"})
    assert proc.returncode == 1, proc.stdout
    assert ("    - dumps cannot be written to /proc/nope/x.log now: cannot create files in /proc "
            "(a virtual file system such as /proc); they would go to stderr instead") \
        in proc.stdout.splitlines(), proc.stdout


@pytest.mark.parametrize("flag, word", [("-E", "-E"), ("-I", "-I")])
def test_status_ignore_environment(cli, flag, word):
    proc = cli("status", env={P: "1"}, flags=[flag])
    assert proc.returncode == 1
    assert "runs with %s" % word in proc.stdout
    assert "inactive" in proc.stdout
    info = json.loads(cli("status", "--json", env={P: "1"}, flags=[flag]).stdout)
    assert info["active"] is False and info["hook_ran"] is False
    assert info["flags"]["ignore_environment"] is True
    # nothing asked, nothing wrong
    assert cli("status", flags=[flag]).returncode == 0


def test_status_hook_missing(cli, venv_python, new_venv, tmp_path):
    """The package importable through PYTHONPATH, but no hook in site-packages."""
    bare = new_venv(tmp_path / "bare")
    site = subprocess.check_output(
        [str(venv_python), "-c", "import faulthandler_auto, os; "
         "print(os.path.dirname(os.path.dirname(faulthandler_auto.__file__)))"],
        env=clean_environ(), universal_newlines=True).strip()
    proc = subprocess.run([str(bare), "-m", "faulthandler_auto", "status"],
                          env=clean_environ({"PYTHONPATH": site, P: "1"}), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "%s is not in any site-packages" % HOOK_FILE in proc.stdout
    assert "Traceback" not in proc.stderr


# -- demo ----------------------------------------------------------------------

def test_demo_segv(cli):
    proc = cli("demo", "segv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Fatal Python error: Segmentation fault" in out
    assert 'in crash' in out and "most recent call first" in out
    assert "The dump was written to the child's stderr" in out
    assert "was killed by SIGSEGV (signal 11)" in out
    assert cli("demo").stdout.count("Fatal Python error: Segmentation fault") == 1  # the default


@pytest.mark.parametrize("kind, header, signame", [
    ("abort", "Aborted", "SIGABRT"),
    ("fpe", FATAL_NAMES["SIGFPE"], "SIGFPE"),
    ("bus", "Bus error", "SIGBUS"),
    ("ill", "Illegal instruction", "SIGILL"),
    ("overflow", "Segmentation fault", "SIGSEGV"),
])
def test_demo_crashes(cli, kind, header, signame):
    proc = cli("demo", kind)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Fatal Python error: " + header in proc.stdout
    assert "was killed by %s" % signame in proc.stdout


def test_demo_to_file(cli, tmp_path):
    proc = cli("demo", "segv", env={P + "_PATH": str(tmp_path) + "/"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    assert "The dump was written to the file %s." % files[0] in proc.stdout
    assert "Fatal Python error: Segmentation fault" in files[0].read_text()
    assert "Fatal Python error: Segmentation fault" in proc.stdout


def test_demo_json_format(cli):
    proc = cli("demo", "segv", env={P + "_FORMAT": "json"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("{"))
    assert json.loads(line)["event"] == "fatal_signal"


def test_demo_hang(cli):
    proc = cli("demo", "hang")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Timeout (0:00:01)!" in proc.stdout
    assert "in hang" in proc.stdout
    assert "exited with status 1" in proc.stdout


def test_demo_signal(cli):
    proc = cli("demo", "signal")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Sent SIGUSR1 to the child" in proc.stdout
    assert "in wait_for_signal" in proc.stdout
    assert "kept running after the dump" in proc.stdout


def test_demo_signal_uses_configured_signal(cli):
    proc = cli("demo", "signal", env={P + "_SIGNAL": "USR2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Sent SIGUSR2 to the child" in proc.stdout


def test_demo_file_fallback_to_stderr(cli):
    # a PATH that cannot be created: the core falls back to stderr and the demo still shows it
    proc = cli("demo", "abort", env={P + "_PATH": "/proc/nonexistent/{pid}.log"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Fatal Python error: Aborted" in proc.stdout
    assert "The dump was written to the child's stderr" in proc.stdout


# -- dump ----------------------------------------------------------------------

def test_dump_to_file(cli, sleeper, tmp_path):
    child = sleeper({P + "_SIGNAL": "USR1", P + "_PATH": str(tmp_path / "{pid}.log")})
    proc = cli("dump", child.pid)
    assert proc.returncode == 0, proc.stderr
    assert "SIGUSR1" in proc.stdout
    assert 'in nap' in proc.stdout and "most recent call first" in proc.stdout
    assert str(tmp_path / ("%d.log" % child.pid)) in proc.stderr
    assert "process %d is still running" % child.pid in proc.stderr
    # a second dump prints only the new one (and shows the first did not end it)
    again = cli("dump", child.pid)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("most recent call first") == 1
    assert (tmp_path / ("%d.log" % child.pid)).read_text().count("most recent call first") == 2
    assert child.poll() is None


def test_dump_stderr_regular_file(cli, sleeper, tmp_path):
    log = tmp_path / "stderr.log"
    with open(str(log), "w") as err:
        child = sleeper({P + "_SIGNAL": "SIGUSR2"}, stderr=err)
    proc = cli("dump", child.pid)
    assert proc.returncode == 0, proc.stderr
    assert "in nap" in proc.stdout and "SIGUSR2" in proc.stdout
    assert str(log) in proc.stderr
    assert child.poll() is None


def test_dump_stderr_pipe(cli, sleeper):
    child = sleeper({P + "_SIGNAL": "USR1"}, stderr=subprocess.PIPE)
    proc = cli("dump", child.pid)
    assert proc.returncode == 0, proc.stderr
    assert "a pipe" in proc.stderr and "cannot be read from here" in proc.stderr
    # the dump reached the pipe, and the signal did not end the child
    for line in child.stderr:
        if "in nap" in line:
            break
    child.kill()
    assert child.wait() == -signal.SIGKILL
    child.stderr.close()


def test_dump_explicit_signal(cli, sleeper, tmp_path):
    child = sleeper({P + "_SIGNAL": "USR1,USR2", P + "_PATH": str(tmp_path / "d.log")})
    proc = cli("dump", child.pid, "--signal", "12")
    assert proc.returncode == 0, proc.stderr
    assert "SIGUSR2" in proc.stdout
    assert child.poll() is None


def test_dump_unknown_pid(cli):
    dead = subprocess.Popen(["true"])
    dead.wait()
    proc = cli("dump", dead.pid)
    assert proc.returncode == 1
    assert "no such process: %d" % dead.pid in one_error_line(proc)


@pytest.mark.parametrize("pid", ["99999999999999999999", str(2 ** 31), "0", "-5", "12x"])
def test_dump_pid_that_cannot_be_a_process(cli, pid):
    """A number no process can have is a usage error, not an internal one."""
    proc = cli("dump", "--", pid)
    assert proc.returncode == 2, proc
    line = one_error_line(proc)
    assert "not a process id: %r" % pid in line, line
    assert "internal error" not in proc.stderr


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["report", "."],
                                  ["symbolize", "-"], ["demo", "signal"], ["dump", "1"]])
def test_closed_stdout_is_one_line(venv_python, args):
    """`faulthandler-auto ... >&-`: every command writes its result on
    stdout, so none can do its work; each says so in one line, status 2."""
    proc = subprocess.run(
        [str(venv_python), "-m", "faulthandler_auto", *args], env=clean_environ(None),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=60,
        preexec_fn=lambda: os.close(1))
    assert (proc.returncode, proc.stderr) == (
        2, "faulthandler-auto: error: standard output is closed: nothing to write the result to\n"), proc


def test_symbolize_closed_stdin_is_one_line(venv_python):
    proc = subprocess.run(
        [str(venv_python), "-m", "faulthandler_auto", "symbolize", "-"], env=clean_environ(None),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=60, preexec_fn=lambda: os.close(0))
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        2, "", "faulthandler-auto: symbolize: standard input is closed: nothing to read the dump "
        "from\n"), proc


def test_dump_process_without_hook(cli, sleeper):
    child = sleeper()  # no variable: the package is never loaded
    for args in ([], ["--signal", "USR1"]):
        proc = cli("dump", child.pid, *args)
        assert proc.returncode == 1
        assert "has not loaded faulthandler-auto" in one_error_line(proc)
    assert child.poll() is None


def test_dump_process_without_signal(cli, sleeper):
    child = sleeper({P: "1"})  # hook loaded, no SIGNAL
    proc = cli("dump", child.pid)
    assert proc.returncode == 1
    assert "has no PYTHONFAULTHANDLER_SIGNAL" in one_error_line(proc)
    proc = cli("dump", child.pid, "--signal", "USR1")
    assert proc.returncode == 1
    assert "does not catch SIGUSR1" in one_error_line(proc)
    assert_no_signal_sent(child)


def test_dump_process_under_E(cli, sleeper):
    # the variable is in its environment, but -E made the hook ignore it
    child = sleeper({P + "_SIGNAL": "USR1"}, flags=["-E"])
    proc = cli("dump", child.pid)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "has not loaded faulthandler-auto" in line or "does not catch" in line
    assert child.poll() is None


def test_dump_no_dump_appears(cli, sleeper, tmp_path):
    # a stopped process cannot dump: a clear error after --timeout
    child = sleeper({P + "_SIGNAL": "USR1", P + "_PATH": str(tmp_path / "{pid}.log")})
    os.kill(child.pid, signal.SIGSTOP)
    try:
        proc = cli("dump", child.pid, "--timeout", "0.5")
        assert proc.returncode == 1
        assert "no dump appeared" in one_error_line(proc)
    finally:
        os.kill(child.pid, signal.SIGCONT)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may signal every process")
def test_dump_permission_denied(cli):
    if os.stat("/proc/1").st_uid == os.geteuid():
        pytest.skip("pid 1 belongs to this user")
    proc = cli("dump", 1)
    assert proc.returncode == 1
    assert "permission denied" in one_error_line(proc)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_dump_permission_denied_as_other_user(run_py, sleeper):
    """Root runs the command as nobody against one of root's processes."""
    child = sleeper({P + "_SIGNAL": "USR1"})
    code = ("import os, sys\n"
            "from faulthandler_auto import cli, config\n"
            "cli.build_parser().parse_args(['dump', '1'])  # lazy imports, while /root is readable\n"
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "sys.exit(cli.main(['dump', '%d']))\n" % child.pid)
    proc = run_py(code)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    line = [l for l in proc.stderr.splitlines() if l.startswith("faulthandler-auto: error:")]
    assert len(line) == 1 and "permission denied" in line[0] and "uid 0" in line[0]
    assert child.poll() is None
