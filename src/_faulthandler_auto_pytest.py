"""The pytest plugin of faulthandler-auto (the ``pytest11`` entry point).

pytest loads it only when it runs, so other programs never pay for it.  It
is active when the start-up hook configured this process (a
PYTHONFAULTHANDLER* variable took effect); otherwise pytest behaves as if
faulthandler-auto were not installed.  When active it takes the place of
pytest's own faulthandler plugin, whose jobs it does with our core:

- dumps meant for stderr or stdout are written to copies of those
  descriptors taken before pytest's capture points them at temporary files,
  so they reach the terminal (or tox's log) in every capture mode;
- fatal dumps are on for the whole session, as pytest's plugin turns
  CPython's on, even when only a TIMEOUT or SIGNAL variable is set;
- every dump names the running test, its phase and the pytest-xdist worker,
  through :func:`faulthandler_auto.set_context`;
- the ``faulthandler_timeout`` and ``faulthandler_exit_on_timeout`` ini
  options are served by our watchdog's task timer, beside the process-wide
  PYTHONFAULTHANDLER_TIMEOUT (declared here too when ``-p no:faulthandler``
  left them undeclared);
- the terminal summary lists the dump files written during the run;
- the pytest-xdist controller cancels its PYTHONFAULTHANDLER_TIMEOUT (it
  only waits for workers); each worker keeps its own until its tests are
  done.  With PYTHONFAULTHANDLER_TREE it is the other way round: the
  controller keeps its TIMEOUT, whose dump asks every worker to dump first,
  and the workers cancel theirs.

In fallback mode (no C core) it does the same through the interpreter's
faulthandler, except that dumps name no test.

``-p no:faulthandler_auto`` turns it off: then dumps meant for stderr go to
fd 2 wherever pytest's capture points it, and pytest's own plugin serves the
crash dumps (to the terminal) and ``faulthandler_timeout``.
"""
import glob
import json
import os
import re
import sys

import pytest

# Active only where the start-up hook (or the program) has loaded the
# package, or its core alone (the hook's fast path): elsewhere pytest must
# not even load the core, which costs start-up time and, in a sanitised
# build, needs its runtime preloaded.  That is why this plugin is a
# top-level module, not a submodule of the package.
faulthandler_auto = None
if "faulthandler_auto" in sys.modules or "faulthandler_auto._native" in sys.modules:
    try:
        import faulthandler_auto
        from faulthandler_auto import _facts, config as _config
    except Exception:  # pytest must run whatever happens to us; the hook has said why
        faulthandler_auto = None

TIMEOUT_INI = "faulthandler_timeout"
EXIT_INI = "faulthandler_exit_on_timeout"
# the words of pytest's "bool" ini type
_PYTEST_TRUE = ("1", "true", "yes", "on", "t", "y")
_PYTEST_FALSE = ("0", "false", "no", "off", "f", "n")
_FIELD_RE = re.compile(r"\{[^{}]*\}")
# The session of the outermost pytest run in this process; a run started
# from inside a test (pytester, pytest.main()) leaves the dumps to it.
_live = []


def _say(message):
    sys.stderr.write("faulthandler-auto: %s\n" % (message,))


def _hook_config():
    """The configuration the start-up hook applied to this process, or None
    when it applied nothing (no variable, -E/-I).  In fallback mode too: the
    interpreter's faulthandler then writes to the terminal's descriptors
    through the same calls."""
    if faulthandler_auto is None:
        return None
    environ = {} if sys.flags.ignore_environment else os.environ
    config, _warnings = _config.parse(environ)  # the hook has said them already
    # -X faulthandler, -X dev, or enable() before pytest started
    config.fatal = config.fatal or faulthandler_auto.is_enabled()
    return None if config == _config.Config() else config


def pytest_addoption(parser, pluginmanager):
    if _hook_config() is None:
        return
    # Declared (again) so that they are known with -p no:faulthandler too,
    # and read as text: a bad value is ours to report, in one line.
    parser.addini(TIMEOUT_INI, "Dump the traceback of all threads if a test takes more than "
                  "TIMEOUT seconds to finish (served by faulthandler-auto)", default="")
    parser.addini(EXIT_INI, "Exit the test process after a faulthandler_timeout dump "
                  "(served by faulthandler-auto)", default="")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config):
    # Before the capture plugin's own wrapper: fd 1 and 2 are still the
    # terminal's here.
    hook_config = _hook_config()
    if hook_config is not None:
        # Ours does its jobs, also in a run inside a test (pytester): one
        # handler, pointed where the outermost run wants it.
        early_config.pluginmanager.set_blocked("faulthandler")
        if not _live:
            session = _Session(early_config, hook_config)
            _live.append(session)
            early_config.pluginmanager.register(session, _Session.NAME)
    yield


def _parse_timeout_ini(config):
    """(seconds or None, exit) from the ini options; a bad value gets one
    line and is ignored."""
    raw = str(config.getini(TIMEOUT_INI) or "").strip()
    timeout = None
    if raw:
        why = None
        try:
            timeout = float(raw)
        except ValueError:
            why = "not a number"
        else:
            # written so that NaN fails too
            if not 0 <= timeout <= _facts.MAX_TIMEOUT:
                why = "out of range"
        if why:
            _say("%s=%r ignored: %s; accepted: seconds from 0 (off) to %d" % (
                TIMEOUT_INI, raw, why, _facts.MAX_TIMEOUT))
            timeout = None
        elif timeout == 0:
            timeout = None
    raw = str(config.getini(EXIT_INI)).strip()
    do_exit = raw.lower() in _PYTEST_TRUE
    if raw and not do_exit and raw.lower() not in _PYTEST_FALSE:
        _say("%s=%r ignored: not a boolean; accepted: %s" % (
            EXIT_INI, raw, ", ".join("/".join(pair) for pair in zip(_PYTEST_TRUE, _PYTEST_FALSE))))
    return timeout, do_exit


class _Session:
    """The plugin's state for one pytest run, registered only when active."""

    NAME = "faulthandler_auto.session"

    def __init__(self, config, hook_config):
        self.hook_config = hook_config
        self.worker = ""  # known at configure
        # where the core writes what the hook sent to stdout/stderr
        self.terminal = {}
        for fd in (1, 2):
            try:
                self.terminal[fd] = os.dup(fd)
            except OSError:  # closed: nothing to keep
                pass
        faulthandler_auto.redirect_std(stdout=self.terminal.get(1), stderr=self.terminal.get(2))
        self.dest = {None: 2, "stdout": 1}.get(hook_config.path, hook_config.path)
        self.enabled_here = False
        self.test_timeout = None
        self.test_exit = False
        self.dump_files = {}

    def pytest_configure(self, config):
        # xdist's own word (set on a worker after the initial conftests), not
        # PYTEST_XDIST_WORKER: that variable leaks into a pytest run that a
        # test on a worker starts, which is no worker
        self.worker = getattr(config, "workerinput", {}).get("workerid", "")
        faulthandler_auto.set_worker(self.worker)
        if self.worker and self.hook_config.tree and self.hook_config.timeout is not None:
            # the controller's timeout dump asks this worker (TREE)
            faulthandler_auto.cancel_dump_traceback_later()
        if not faulthandler_auto.is_enabled():
            faulthandler_auto.enable(
                self.dest, all_threads=self.hook_config.all_threads,
                c_stack=self.hook_config.c_stack)
            self.enabled_here = True
        self.test_timeout, self.test_exit = _parse_timeout_ini(config)
        self.dump_files = self._dump_files()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_setupnodes(self, config, specs):
        # The pytest-xdist controller only waits for its workers: its
        # process-wide TIMEOUT would fire first (it started first), dump a
        # queue wait, and (EXIT) end the run before the hung worker is
        # dumped.  Each worker keeps its own timer, which names the test;
        # unless TREE, where the controller's dump has each worker dump first.
        if self.hook_config.timeout is not None and not self.hook_config.tree:
            faulthandler_auto.cancel_dump_traceback_later()

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config):
        self._set_context(None)
        if self.worker and self.hook_config.timeout is not None:
            # an xdist worker done with its tests only waits for the
            # controller to end it, which it does when every worker is done
            faulthandler_auto.cancel_dump_traceback_later()
        if self.enabled_here:
            faulthandler_auto.disable()
        # the core writes to fd 1 and 2 again before the copies are closed
        faulthandler_auto.redirect_std(stdout=None, stderr=None)
        for fd in self.terminal.values():
            os.close(fd)
        self.terminal = {}
        _live.remove(self)

    # -- naming the test -------------------------------------------------

    def _set_context(self, nodeid, phase=None):
        """[gw0] tests/test_x.py::test_y[1] (call); between tests only the
        xdist worker, if any."""
        if nodeid is None:
            label = "pytest-xdist worker %s" % self.worker if self.worker else None
        else:
            label = "%s (%s)" % (nodeid, phase)
            if self.worker:
                label = "[%s] %s" % (self.worker, label)
        faulthandler_auto.set_context(label)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item):
        # faulthandler_timeout: the core's task timer, beside the process's
        # PYTHONFAULTHANDLER_TIMEOUT, which keeps running
        if self.test_timeout is not None:
            faulthandler_auto.task_timeout(self.test_timeout, file=self.dest,
                                           exit=self.test_exit)
        try:
            yield
        finally:
            self._cancel_test_timeout()
            self._set_context(None)

    def _cancel_test_timeout(self):
        if self.test_timeout is not None:
            faulthandler_auto.task_timeout(None)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        self._set_context(item.nodeid, "setup")
        yield

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item):
        self._set_context(item.nodeid, "call")
        yield

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item):
        self._set_context(item.nodeid, "teardown")
        yield

    @pytest.hookimpl(tryfirst=True)
    def pytest_enter_pdb(self):
        # a human at the prompt is not a hang
        self._cancel_test_timeout()

    @pytest.hookimpl(tryfirst=True)
    def pytest_exception_interact(self):
        self._cancel_test_timeout()

    # -- where the dump files are -------------------------------------------

    def _dump_files(self):
        """{path: size} of the files the configured path template can name."""
        path = self.dest
        if not isinstance(path, str):
            return {}
        pattern = "*".join(glob.escape(part) for part in _FIELD_RE.split(path))
        sizes = {}
        for name in glob.glob(pattern):
            try:
                sizes[name] = os.stat(name).st_size
            except OSError:
                pass
        return sizes

    def pytest_terminal_summary(self, terminalreporter):
        before = self.dump_files
        written = [(name, size) for name, size in sorted(self._dump_files().items())
                   if size > before.get(name, 0)]
        if not written:
            return
        terminalreporter.section("faulthandler-auto dumps")
        for name, size in written:
            terminalreporter.write_line("%s: %s" % (name, _first_lines(name, before.get(name, 0))))


def _first_lines(path, offset):
    """What the dumps written to `path` from `offset` on are about: their
    first line and context line, '; '-separated."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read(1 << 20).decode("utf-8", "replace")
    except OSError as exc:
        return "unreadable (%s)" % exc.strerror
    about = []
    for line in text.splitlines():
        if line.startswith(("Fatal Python error: ", "Timeout (", "Context: ")):
            about.append(line)
        elif line.startswith("{"):  # FORMAT=json: one dump per line
            try:
                dump = json.loads(line)
            except ValueError:
                continue
            about.append(" ".join(str(dump.get(key)) for key in ("event", "signal", "context")
                                  if dump.get(key)))
    return "; ".join(about[:8]) or "%d bytes" % len(text)
