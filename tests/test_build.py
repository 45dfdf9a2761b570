"""Each test run tests the build it claims (issue 11).

tox sets FAULTHANDLER_AUTO_EXPECT_BUILD to what its env builds: words among
"asan", "ubsan", "debug", "free-threaded"; empty is a plain release build.
Without the variable, the claim is this interpreter's own build (debug or
free-threaded, never sanitised).  Every property is checked both ways: a
claimed one must be there, an unclaimed one must not, so a sanitiser env that
got another env's build fails here, and so does a plain env that got its.
The module checked is the one a venv of the wheel under test really loads.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

KNOWN = ("asan", "ubsan", "debug", "free-threaded")


def claimed():
    words = os.environ.get("FAULTHANDLER_AUTO_EXPECT_BUILD")
    if words is None:
        own = {"debug": hasattr(sys, "gettotalrefcount"),
               "free-threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED"))}
        return {name for name, present in own.items() if present}
    claims = set(words.replace(",", " ").split())
    unknown = claims - set(KNOWN)
    assert not unknown, "FAULTHANDLER_AUTO_EXPECT_BUILD: unknown %s (known: %s)" % (
        sorted(unknown), ", ".join(KNOWN))
    return claims


LOADED = r"""
import json, sys, sysconfig
import faulthandler_auto._native as native
with open("/proc/self/maps") as maps:
    mapped = sorted({line.split()[-1] for line in maps if "/" in line})
print(json.dumps({
    "file": native.__file__,
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    "abiflags": sys.abiflags,
    "gettotalrefcount": hasattr(sys, "gettotalrefcount"),
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "mapped": mapped,
}))
"""


@pytest.fixture(scope="module")
def loaded(run_py):
    """What a venv interpreter of the wheel under test loads as _native."""
    proc = run_py(LOADED)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def readelf(*args):
    tool = shutil.which("readelf")
    if tool is None:
        pytest.skip("no readelf (binutils) to read the module's dynamic section")
    return subprocess.run([tool, "-W", *args], check=True, stdout=subprocess.PIPE,
                          universal_newlines=True).stdout


# sanitizer -> (runtime library, prefix of the instrumentation's calls into it)
RUNTIMES = {"asan": ("libasan.so", "__asan_"), "ubsan": ("libubsan.so", "__ubsan_handle_")}


@pytest.mark.parametrize("sanitizer", sorted(RUNTIMES))
def test_sanitizer_as_claimed(loaded, sanitizer):
    library, prefix = RUNTIMES[sanitizer]
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", readelf("-d", loaded["file"]))
    undefined = [line.split()[-1] for line in readelf("--dyn-syms", loaded["file"]).splitlines()
                 if " UND " in line]
    links = [name for name in needed if name.startswith(library)]
    calls = [name for name in undefined if name.startswith(prefix)]
    # ASan runtimes may be loaded by LD_PRELOAD anyway: only the module's own
    # links and calls say how it was built; the mapping says it really runs.
    runtime_mapped = [path for path in loaded["mapped"] if os.path.basename(path).startswith(library)]
    if sanitizer in claimed():
        assert links, "%s does not link %s (NEEDED: %s)" % (loaded["file"], library, needed)
        assert calls, "%s has no %s* calls: not instrumented" % (loaded["file"], prefix)
        assert runtime_mapped, "%s is not loaded in the process" % library
    else:
        assert not links and not calls, "%s is a %s build, which this run does not claim: %s %s" % (
            loaded["file"], sanitizer, links, calls[:3])


def test_debug_as_claimed(loaded):
    debug = "debug" in claimed()
    assert loaded["gettotalrefcount"] == debug, loaded
    assert ("d" in loaded["abiflags"]) == debug, loaded


def test_free_threaded_as_claimed(loaded):
    free_threaded = "free-threaded" in claimed()
    assert loaded["gil_disabled"] == free_threaded, loaded
    assert ("t" in loaded["abiflags"]) == free_threaded, loaded


def test_module_built_for_this_interpreter(loaded):
    """A debug interpreter also loads a release build's module (same ABI
    since 3.8): the file name says which build it is."""
    assert loaded["file"].endswith(loaded["ext_suffix"]), loaded
    assert loaded["ext_suffix"] == sysconfig.get_config_var("EXT_SUFFIX"), loaded
