#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): every tox env
# of tox.ini -- CPython 3.9-3.13 from pyenv, the sanitizer run, and 3.14,
# 3.15 and 3.14-dbg in a Debian sid root -- on a machine that has only
# python3, pyenv and gcc.  Extra arguments go to `tox run` (e.g. -e py312).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS_VENV=.ci-venv

install_tox() {
    [ -x "$TOOLS_VENV/bin/python" ] || python3 -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/python" -m pip install --quiet --upgrade "tox>=4.2"
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

main() {
    install_pypy
    install_tox
    use_pyenv_pythons
    # warnings are errors in every build of the C core
    export FAULTHANDLER_AUTO_CFLAGS="${FAULTHANDLER_AUTO_CFLAGS:--Wall -Wextra -Werror}"
    # tox -e asan loads the sanitizer runtimes first into each interpreter
    FAULTHANDLER_AUTO_TEST_PRELOAD="$(tools/asan-preload.sh)"
    export FAULTHANDLER_AUTO_TEST_PRELOAD
    tox run "$@"
}

main "$@"
