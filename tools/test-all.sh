#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): every tox env
# of tox.ini -- CPython 3.9-3.13 from pyenv, the sanitizer run, and 3.14,
# 3.15 and 3.14-dbg in a Debian sid root -- on a machine that has only
# python3, pyenv and gcc.  The envs run one more at a time than there are
# cores (`tox p`), and each runs its tests in parallel (pytest-xdist).
#
#   tools/test-all.sh [--quick] [--load] [--serial] [TOX ARGS...] [-- PYTEST ARGS...]
#
#   --quick    the newest pyenv CPython and, as root, the sid root's 3.15 only
#   --load     with one busy loop per core running (tools/under-load.sh)
#   --serial   one env after the other (`tox run`), output as it comes
#   -e ENVS    these envs only (tox's option), e.g. -e py312
#
# Side effects: tox and tox-uv (uv) in .ci-venv, uv's cache in ~/.cache/uv; as root, Debian's pypy3 (apt) and the sid
# root under /var/tmp/faulthandler-auto (about 1.4 GB, mmdebstrap from apt).
# Under CI the root is rebuilt when older than SID_MAX_AGE_DAYS (7).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS_VENV=.ci-venv

install_tox() {
    [ -x "$TOOLS_VENV/bin/python" ] || python3 -m venv "$TOOLS_VENV"
    # tox-uv: uv makes the envs and installs into them (a pyenv env's
    # set-up took 24 CPU-s with virtualenv and pip, 11 with uv, most of it
    # the wheel's build)
    "$TOOLS_VENV/bin/python" -m pip install --quiet --upgrade "tox>=4.2" "tox-uv>=1.11"
    export PATH="$PWD/$TOOLS_VENV/bin:$PATH"
}

# Every CPython 3.9+ that pyenv has.  tox looks interpreters up by name
# (python3.9, ...) and cannot see through pyenv's shims, so their real bin
# directories go on PATH too.
use_pyenv_pythons() {
    command -v pyenv >/dev/null || return 0
    local versions=() version
    for version in $(pyenv versions --bare); do
        if [[ $version =~ ^3\.(9|[1-9][0-9])\.[0-9]+$ ]]; then
            versions+=("$version")
        fi
    done
    PYENV_VERSION=$(IFS=:; echo "${versions[*]}")
    export PYENV_VERSION
    for version in "${versions[@]}"; do
        PATH="$(pyenv prefix "$version")/bin:$PATH"
    done
    export PATH
}

# PyPy, for the test that the hook stays quiet where it cannot work.
install_pypy() {
    command -v pypy3 >/dev/null && return 0
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
    apt-get update -qq && apt-get install -y -qq pypy3 pypy3-venv >/dev/null
}

# Extra options for `tools/sid-root.sh build`: CI rebuilds a root that is
# older than a week (sid moves); otherwise the package-list hash decides.
sid_build_args() {
    local built=/var/tmp/faulthandler-auto/sid-root/.sid-built
    [ -n "${CI:-}" ] || return 0
    if [ ! -e "$built" ] || [ -n "$(find "$built" -mtime +"${SID_MAX_AGE_DAYS:-7}")" ]; then
        echo --fresh
    fi
}

main() {
    local quick=0 load=0 serial=0 has_env=0 tox_args=()
    PYENV_VERSION=${PYENV_VERSION:-}
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        case $1 in
            --quick) quick=1 ;;
            --load) load=1 ;;
            --serial) serial=1 ;;
            -e|--env|-e*|--env=*) has_env=1; tox_args+=("$1") ;;
            *) tox_args+=("$1") ;;
        esac
        shift
    done
    install_pypy
    install_tox
    use_pyenv_pythons
    # our tox before any that a pyenv CPython's bin directory may hold
    PATH="$PWD/$TOOLS_VENV/bin:$PATH"
    # warnings are errors in every build of the C core
    export FAULTHANDLER_AUTO_CFLAGS="${FAULTHANDLER_AUTO_CFLAGS:--Wall -Wextra -Werror}"
    # tox -e asan loads the sanitizer runtimes first into each interpreter
    FAULTHANDLER_AUTO_TEST_PRELOAD="$(tools/asan-preload.sh)"
    export FAULTHANDLER_AUTO_TEST_PRELOAD
    SID_BUILD_ARGS=$(sid_build_args)
    export SID_BUILD_ARGS
    if [ "$quick" = 1 ] && [ "$has_env" = 0 ]; then
        local envs
        # the newest pyenv CPython, or whichever python3 tox finds
        envs=$(python3 -c 'import sys; v = sorted(tuple(map(int, a.split("."))) for a in sys.argv[1:]); print("py%d%d" % v[-1][:2] if v else "py3")' ${PYENV_VERSION//:/ })
        if [ "$(id -u)" = 0 ]; then
            envs="sid,$envs"
            export SID_ENVS=py315
        fi
        tox_args+=(-e "$envs")
    fi
    local cmd=(tox run)
    if [ "$serial" = 0 ]; then
        # one env more than there are cores: an env's tests spend most of
        # their time waiting for the processes they watch (one env alone
        # keeps 2 cores 30% busy), and with one env per core the last ones
        # left the machine half idle
        cmd=(tox run-parallel --parallel "${TOX_PARALLEL:-$(($(nproc) + 1))}" --parallel-no-spinner)
    fi
    if [ "$load" = 1 ]; then
        cmd=(tools/under-load.sh -- "${cmd[@]}")
    fi
    "${cmd[@]}" "${tox_args[@]}" "$@"
}

main "$@"
