"""Build the C core and put the start-up hook files at the root of site-packages.

Metadata lives in setup.cfg; this file holds only what a static file cannot say.
"""
import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = os.path.dirname(os.path.abspath(__file__))

# site reads *.pth and *.start files only from the site-packages directory
# itself, so these go beside the package, not inside it.
HOOK_FILES = ("faulthandler_auto.pth", "faulthandler_auto.start")

# CI passes warning and sanitizer flags here; sanitizers need them at link time too.
CFLAGS = os.environ.get("FAULTHANDLER_AUTO_CFLAGS", "").split()


class build_py_with_hook(build_py):
    """Copy the hook files to the root of build_lib, which becomes the wheel root."""

    def _hook_outputs(self):
        return [os.path.join(self.build_lib, name) for name in HOOK_FILES]

    def run(self):
        super().run()
        if not self.editable_mode:
            for name, target in zip(HOOK_FILES, self._hook_outputs()):
                self.copy_file(os.path.join(HERE, name), target, preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else outputs + self._hook_outputs()


class _AddHookFiles:
    """Wraps an editable strategy so the hook files are written into the wheel."""

    def __init__(self, strategy):
        self._strategy = strategy

    def __enter__(self):
        self._strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._strategy.__exit__(*exc_info)

    def __call__(self, wheel, files, mapping):
        self._strategy(wheel, files, mapping)
        for name in HOOK_FILES:
            wheel.write(os.path.join(HERE, name), name)


class editable_wheel_with_hook(editable_wheel):
    """PEP 660 wheels never copy build_lib, so build_py's copies would be lost.

    Writing through the strategy (while the wheel is still open for writing)
    also lists the files in RECORD, so `pip uninstall` removes them.
    """

    def _select_strategy(self, *args, **kwargs):
        return _AddHookFiles(super()._select_strategy(*args, **kwargs))


# The core reads CPython's own structures; elsewhere (PyPy) the package
# installs without it and the hook says once that it is inactive.
CPYTHON = platform.python_implementation() == "CPython"

# The C core: one file per job (see "Where things are" in the README).
CORE_DIR = os.path.join(HERE, "src", "faulthandler_auto", "_native")

setup(
    ext_modules=[] if not CPYTHON else [
        Extension(
            "faulthandler_auto._native",
            sorted("src/faulthandler_auto/_native/" + name for name in os.listdir(CORE_DIR) if name.endswith(".c")),
            depends=sorted("src/faulthandler_auto/_native/" + name for name in os.listdir(CORE_DIR) if name.endswith(".h")),
            extra_compile_args=CFLAGS,
            extra_link_args=CFLAGS,
            # dladdr() and pthread_* live in separate libraries before glibc 2.34.
            libraries=["dl", "pthread"] if sys.platform.startswith("linux") else [],
        )
    ],
    cmdclass={"build_py": build_py_with_hook, "editable_wheel": editable_wheel_with_hook},
)
