"""Build the C core where it is supported, and put the start-up hook file at
the root of site-packages.

Metadata lives in setup.cfg; this file holds only what a static file cannot
say.  Installing never fails for want of the core: where it is not supported
or cannot be compiled, the package installs without it and runs in fallback
mode (faulthandler_auto/_fallback.py), and the build says so in one line.

FAULTHANDLER_AUTO_NATIVE: "auto" (default: build the core where supported,
fall back if compiling fails), "1" (the core is required: a failure is an
error, as CI wants), "0" (never build it).
"""
import glob
import os
import platform
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = os.path.dirname(os.path.abspath(__file__))

# site reads *.pth and *.start files only from the site-packages directory
# itself, so the hook goes beside the package, not inside it.  PEP 829: from
# 3.15 on the .start entry point replaces the .pth import line (which 3.18
# ignores), so each interpreter gets exactly one of the two.
HOOK_FILE = "faulthandler_auto.start" if sys.version_info >= (3, 15) else "faulthandler_auto.pth"

# The .pth line reads the environment's names from `posix`, a dict with bytes
# keys that is joined in C for ~0.4K instructions a variable (os.environ or
# os.environb iterate in Python: ~3.5K).  Windows has `nt` instead, with str
# keys; a line naming `posix` there would print an error at every start-up.
WINDOWS_PTH_LINE = {"import posix,": "import nt as posix,", "b'PYTHONFAULTHANDLER' in b' '": "'PYTHONFAULTHANDLER' in ' '"}


def hook_text():
    """The hook file's text for the platform the wheel is built on."""
    with open(os.path.join(HERE, HOOK_FILE), encoding="utf-8") as f:
        text = f.read()
    if HOOK_FILE.endswith(".pth") and sys.platform == "win32":
        for posix, windows in WINDOWS_PTH_LINE.items():
            if posix not in text:
                raise SystemExit("setup.py: %s no longer holds %r; update WINDOWS_PTH_LINE" % (HOOK_FILE, posix))
            text = text.replace(posix, windows)
    return text


# CI passes warning and sanitizer flags here; sanitizers need them at link time too.
CFLAGS = os.environ.get("FAULTHANDLER_AUTO_CFLAGS", "").split()
NATIVE = os.environ.get("FAULTHANDLER_AUTO_NATIVE", "auto").strip().lower()


def note(message):
    sys.stderr.write("faulthandler-auto: %s\n" % message)
    sys.stderr.flush()


def unsupported_reason():
    """Why this interpreter and platform get no C core, or None.  The core
    reads CPython's own structures and the Linux/glibc signal context; only
    what is tested gets it."""
    if platform.python_implementation() != "CPython":
        return "%s is not CPython" % platform.python_implementation()
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "free-threaded CPython has no tested core"
    if not sys.platform.startswith("linux"):
        return "the core supports Linux only, this is %s" % sys.platform
    if "musl" in (sysconfig.get_config_var("SOABI") or "") + (sysconfig.get_config_var("HOST_GNU_TYPE") or ""):
        return "the core supports glibc only, this is musl"
    if platform.machine() not in ("x86_64", "aarch64"):
        return "the core supports x86-64 and aarch64, this is %s" % platform.machine()
    return None


class build_ext_or_fallback(build_ext):
    """Compile the core; unless it is required, a failure (no compiler, no
    Python.h) leaves the package without it instead of failing the install."""

    def finalize_options(self):
        super().finalize_options()
        # objects left in build/ by a build with other flags (or none) must
        # not end up in a sanitizer build
        self.force = self.force or bool(CFLAGS)

    def build_extensions(self):
        self._failed = set()
        super().build_extensions()
        # an extension that was not built is no output: editable installs
        # (which copy each output into the source tree) and wheels must not
        # look for it
        self.extensions = [ext for ext in self.extensions if ext.name not in self._failed]

    def build_extension(self, ext):
        if NATIVE in ("1", "yes", "true", "required"):
            return super().build_extension(ext)
        try:
            super().build_extension(ext)
        except Exception as exc:  # distutils raises CompileError, LinkError, OSError, ...
            self._failed.add(ext.name)
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            note("the C core could not be built (%s); installing the fallback mode, served by the "
                 "interpreter's own faulthandler (see README: Fallback mode)" % reason)


class build_py_with_hook(build_py):
    """Copy the hook file to the root of build_lib, which becomes the wheel root."""

    def _hook_output(self):
        return os.path.join(self.build_lib, HOOK_FILE)

    def run(self):
        super().run()
        if not self.editable_mode:
            self.mkpath(self.build_lib)
            with open(self._hook_output(), "w", encoding="utf-8") as f:
                f.write(hook_text())

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else outputs + [self._hook_output()]


class _AddHookFile:
    """Wraps an editable strategy so the hook file is written into the wheel."""

    def __init__(self, strategy):
        self._strategy = strategy

    def __enter__(self):
        self._strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._strategy.__exit__(*exc_info)

    def __call__(self, wheel, files, mapping):
        self._strategy(wheel, files, mapping)
        wheel.writestr(HOOK_FILE, hook_text())


class editable_wheel_with_hook(editable_wheel):
    """PEP 660 wheels never copy build_lib, so build_py's copy would be lost.

    Writing through the strategy (while the wheel is still open for writing)
    also lists the file in RECORD, so `pip uninstall` removes it.
    """

    def _select_strategy(self, *args, **kwargs):
        return _AddHookFile(super()._select_strategy(*args, **kwargs))


# The C core: one file per job (see "Where things are" in the README).  It
# lives outside the package so that, without a built extension, importing
# faulthandler_auto._native fails instead of finding an empty namespace package.
CORE_DIR = "src/core"


def native_extensions():
    if NATIVE in ("0", "no", "false", "never"):
        note("FAULTHANDLER_AUTO_NATIVE=%s: installing the fallback mode without the C core" % NATIVE)
        return []
    reason = unsupported_reason()
    if reason:
        note("%s; installing the fallback mode, served by the interpreter's own faulthandler "
             "(see README: Fallback mode)" % reason)
        return []
    return [
        Extension(
            "faulthandler_auto._native",
            sorted(glob.glob(os.path.join(CORE_DIR, "*.c"))),
            depends=sorted(glob.glob(os.path.join(CORE_DIR, "*.h"))),
            extra_compile_args=CFLAGS,
            # -z now: every symbol is bound at load, so no PLT resolution
            # (the dynamic linker's lazy binding) runs inside a signal handler
            extra_link_args=CFLAGS + ["-Wl,-z,now"],
            # dladdr() and pthread_* live in separate libraries before glibc 2.34.
            libraries=["dl", "pthread"],
        )
    ]


# Each tox env that builds with setuptools does so in its own directory
# (FAULTHANDLER_AUTO_BUILD_DIR), and from scratch: setuptools would otherwise
# reuse another env's build/ whatever FAULTHANDLER_AUTO_CFLAGS now says.
BUILD_DIR = os.environ.get("FAULTHANDLER_AUTO_BUILD_DIR")

setup(
    options={"build": {"build_base": BUILD_DIR, "force": True}} if BUILD_DIR else {},
    ext_modules=native_extensions(),
    cmdclass={
        "build_ext": build_ext_or_fallback,
        "build_py": build_py_with_hook,
        "editable_wheel": editable_wheel_with_hook,
    },
)
