#!/usr/bin/env bash
# tools/sid-test.sh ENVS [PYTEST ARGS...] — runs inside the sid root (through
# `tools/sid-root.sh test`) when tox.ini does not define the sid envs: for each
# env of the comma list ENVS (py314, py315, py314-dbg, py315-dbg) it builds the
# wheel with /opt/sid-venv/<env>/bin/python from a private copy of the repo
# (so nothing is written into the work tree), points FAULTHANDLER_AUTO_WHEEL
# at it and runs pytest from the copy.  Exit status: 0 only if all passed.
set -uo pipefail
[ -n "${SID_ROOT_INSIDE:-}" ] || { echo "run me via tools/sid-root.sh test" >&2; exit 2; }
envs=${1:?usage: sid-test.sh ENVS [pytest args]}; shift
repo=${SID_REPO:?}
src=/tmp/sid-src
rm -rf "$src" && mkdir -p "$src"
(cd "$repo" && tar --exclude=./.sid-root --exclude=./.sid-root.new --exclude=./.tox \
    --exclude=./build --exclude=./.git --exclude='*.so' -cf - .) | tar -xf - -C "$src"
rc=0
for e in ${envs//,/ }; do
    py=/opt/sid-venv/$e/bin/python
    echo "===== $e ($py)"
    if [ ! -x "$py" ]; then echo "no venv $py (tools/sid-root.sh build makes it)"; rc=1; continue; fi
    whl=/tmp/sid-wheels/$e
    rm -rf "$whl" "$src/build"
    if ! (cd "$src" && "$py" -m pip wheel -q --no-deps --no-build-isolation -w "$whl" .); then
        echo "$e: wheel build FAILED"; rc=1; continue
    fi
    (cd "$src" && FAULTHANDLER_AUTO_WHEEL=$whl "$py" -m pytest -p no:cacheprovider "$@") || rc=1
done
exit $rc
