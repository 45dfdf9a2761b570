#!/usr/bin/env bash
# tools/sid-root.sh — a Debian sid root holding the newest CPythons, for tests.
#
# The machines run Debian bookworm, whose libc is too old for sid's python3.14
# and python3.15 packages.  Instead of upgrading the machine, this script builds
# a sid root with mmdebstrap and runs commands in it with chroot.
#
#   tools/sid-root.sh build [--fresh] [ROOT]     create / update the root
#   tools/sid-root.sh run   [ROOT] -- CMD...     run CMD inside, repo mounted
#   tools/sid-root.sh test  [ROOT] [-- PYTEST ARGS...]
#                                                the suite on 3.14, 3.15, 3.14-dbg
#   tools/sid-root.sh selftest [ROOT]            C-extension / header smoke test
#   tools/sid-root.sh versions [ROOT]            print ROOT/.sid-versions
#
# ROOT defaults to $SID_ROOT or /var/tmp/faulthandler-auto/sid-root: outside
# the repository, so nothing that copies the work tree copies the root (or,
# while a command runs in it, its /dev).  Needs root (uid 0).
#
# Environment knobs:
#   SID_MIRROR           Debian mirror      (default http://deb.debian.org/debian)
#   SID_EXTRA_PACKAGES   more Debian packages to put in the root (space separated)
#   SID_ENVS             tox envs for `test` (default py314,py315,py314-dbg)
#   SID_TOX_ARGS         extra tox options for `test`, e.g. "-p 2" or "-r"
#   SID_CHECK_EXT        module whose file name must match each env's EXT_SUFFIX
#                        after `test` (default faulthandler_auto._native)
#   SID_PASS_ENV         names of host variables to pass into the chroot
#   SID_DISK_TMP=1       use the root's own /tmp instead of a fresh tmpfs
#
# Inside the root:
#   /usr/bin/python3.14, python3.15, python3.14-dbg, python3.15-dbg (+ -dev, -venv)
#   /opt/sid-tools          venv (python3.14) with tox
#   /opt/sid-venv/<env>     venvs with pip, setuptools, wheel, pytest, hypothesis, jsonschema, pyelftools
#                           for <env> in py314 py315 py314-dbg py315-dbg
#   /var/tmp/sid-tox        tox's work dir (kept between runs of `test`)
# The repository is bind-mounted at its own path, so tracebacks show host paths.
set -euo pipefail

SELF=$(readlink -f -- "${BASH_SOURCE[0]}")
REPO=$(cd -- "$(dirname -- "$SELF")/.." && pwd -P)
MIRROR=${SID_MIRROR:-http://deb.debian.org/debian}
ENVS_DEFAULT="py314,py315,py314-dbg"

# Debian packages of the root.  Keep this list sorted; its hash decides whether
# an existing root must be updated.
BASE_PACKAGES="ca-certificates gcc libc6-dev
libpython3.14-testsuite libpython3.15-testsuite
python3.14 python3.14-dbg python3.14-dev python3.14-venv
python3.15 python3.15-dbg python3.15-dev python3.15-venv"
# Free-threaded builds: installed when sid has them (it had none on 2025-11-24).
OPTIONAL_PACKAGES="python3.14-nogil python3.15-nogil"
# Per-version venvs: name -> interpreter inside the root.
VENVS="py314:/usr/bin/python3.14 py315:/usr/bin/python3.15 py314-dbg:/usr/bin/python3.14-dbg py315-dbg:/usr/bin/python3.15-dbg"
VENV_PIP_PACKAGES="pip setuptools wheel pytest hypothesis jsonschema pyelftools"
TOOLS_PIP_PACKAGES="tox"

log() { printf 'sid-root: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF"
    exit "${1:-0}"
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap/chroot/mount)"; }

abspath() { # absolute path without requiring it to exist
    case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac
}

default_root() { abspath "${SID_ROOT:-/var/tmp/faulthandler-auto/sid-root}"; }

# --- mounts ----------------------------------------------------------------

mounted_under() { # print mount points at or below $1 (deepest first)
    local root=$1
    awk -v r="$root" '{ p=$5; gsub(/\\040/, " ", p);
        if (p == r || index(p, r "/") == 1) print p }' /proc/self/mountinfo | sort -r
}

MOUNTED=()
cleanup_mounts() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount -R -l -- "${MOUNTED[i]}" 2>/dev/null || true
    done
    MOUNTED=()
}

do_mount() { # do_mount TARGET mount-args...
    local target=$1; shift
    mount "$@" "$target"
    MOUNTED+=("$target")
}

setup_mounts() {
    local root=$1 tmpdir
    [ -x "$root/usr/bin/env" ] || die "$root is not a built root (run: $0 build)"
    # Fresh DNS config for pip (the host's file may change between runs).
    rm -f -- "$root/etc/resolv.conf"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    do_mount "$root/proc" -t proc proc
    do_mount "$root/sys" --rbind /sys
    mount --make-rslave "$root/sys"
    do_mount "$root/dev" --rbind /dev           # includes /dev/pts, /dev/shm
    mount --make-rslave "$root/dev"
    if [ "${SID_DISK_TMP:-0}" = 1 ]; then
        chmod 1777 "$root/tmp"
    else
        do_mount "$root/tmp" -t tmpfs -o mode=1777,size=8g sid-tmp
    fi
    # Trust what the host trusts: its CA bundle may hold a local (proxy) CA
    # that sid's ca-certificates lacks, and pip needs it to reach PyPI.
    local bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
    if [ -f "$bundle" ] && [ -f "$root/etc/ssl/certs/ca-certificates.crt" ]; then
        do_mount "$root/etc/ssl/certs/ca-certificates.crt" --bind -o ro "$bundle"
    fi
    mkdir -p -- "$root$REPO"
    do_mount "$root$REPO" --bind "$REPO"
    # Also make shared/ (next to the repo in CI) visible when it exists.
    if [ -d "$REPO/../shared" ]; then
        tmpdir=$(cd -- "$REPO/../shared" && pwd -P)
        case $tmpdir in "$root"*) ;; *)
            mkdir -p -- "$root$tmpdir"
            do_mount "$root$tmpdir" --bind -o ro "$tmpdir" 2>/dev/null \
                || do_mount "$root$tmpdir" --bind "$tmpdir" ;;
        esac
    fi
}

# chroot_exec ROOT CMD... — run CMD in the root with mounts; returns its status.
chroot_exec() {
    local root=$1; shift
    # A private mount namespace makes every mount vanish with the process,
    # even on SIGKILL; the trap covers the normal exits too.
    if [ -z "${SID_IN_NS:-}" ] && command -v unshare >/dev/null 2>&1 \
        && unshare --mount --propagation private true 2>/dev/null; then
        SID_IN_NS=1 exec unshare --mount --propagation private -- \
            "$SELF" __exec "$root" "$@"
    fi
    chroot_exec_here "$root" "$@"
}

chroot_exec_here() {
    local root=$1; shift
    local cwd=/ status=0 name
    trap cleanup_mounts EXIT
    trap 'cleanup_mounts; exit 130' INT
    trap 'cleanup_mounts; exit 143' TERM
    setup_mounts "$root"
    case $PWD/ in "$REPO"/*) cwd=$PWD ;; esac
    local envv=(
        HOME=/root
        PATH=/opt/sid-tools/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LANG=C.UTF-8 LC_ALL=C.UTF-8
        TERM="${TERM:-dumb}"
        TMPDIR=/tmp
        SID_ROOT_INSIDE=1
        SID_REPO="$REPO"
        SID_TOX_ARGS="${SID_TOX_ARGS:-}"
        PIP_DISABLE_PIP_VERSION_CHECK=1
        PIP_ROOT_USER_ACTION=ignore
        SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
        PIP_CERT=/etc/ssl/certs/ca-certificates.crt
        REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
    )
    for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
                PIP_DEFAULT_TIMEOUT; do
        [ -n "${!name:-}" ] && envv+=("$name=${!name}")
    done
    [ -n "${CI:-}" ] && envv+=("CI=$CI")
    for name in ${SID_PASS_ENV:-}; do
        [ -n "${!name+x}" ] && envv+=("$name=${!name}")
    done
    chroot "$root" /usr/bin/env -i "${envv[@]}" /bin/sh -c \
        'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' sh "$cwd" "$@" || status=$?
    cleanup_mounts
    trap - EXIT INT TERM
    return "$status"
}

# --- build -----------------------------------------------------------------

packages_hash() { printf '%s\n' "$BASE_PACKAGES ${SID_EXTRA_PACKAGES:-}" | tr -s ' \n' '\n\n' | sort -u | sha256sum | cut -c1-16; }

ensure_mmdebstrap() {
    command -v mmdebstrap >/dev/null 2>&1 && return 0
    log "installing mmdebstrap on the host"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
}

# Inside-root setup script: optional packages, venvs, version record.
inside_setup() {
    cat <<EOF
set -eu
export DEBIAN_FRONTEND=noninteractive
want_hash='$(packages_hash)'
if [ "\$(cat /.sid-packages 2>/dev/null)" != "\$want_hash" ] || [ -n "\${SID_FORCE_APT:-}" ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $(echo $BASE_PACKAGES ${SID_EXTRA_PACKAGES:-}) >/dev/null
    echo "\$want_hash" > /.sid-packages
fi
# Optional (free-threaded) packages: looked for once per root.
if [ ! -e /.sid-optional ]; then
    ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
    opt=""
    for p in $OPTIONAL_PACKAGES; do
        if apt-cache show "\$p" >/dev/null 2>&1; then opt="\$opt \$p"; fi
    done
    [ -z "\$opt" ] || apt-get install -y -qq --no-install-recommends \$opt >/dev/null
    echo "\$opt" > /.sid-optional
    apt-get clean; rm -rf /var/lib/apt/lists/*
fi
opt=\$(cat /.sid-optional)
if ! /opt/sid-tools/bin/tox --version >/dev/null 2>&1; then
    rm -rf /opt/sid-tools
    python3.14 -m venv /opt/sid-tools
    /opt/sid-tools/bin/pip install -q --upgrade pip $TOOLS_PIP_PACKAGES
fi
for spec in $VENVS; do
    name=\${spec%%:*} py=\${spec#*:}
    [ -x "\$py" ] || continue
    if ! /opt/sid-venv/\$name/bin/python -c 'import pytest, setuptools, jsonschema, elftools' 2>/dev/null; then
        rm -rf /opt/sid-venv/\$name
        "\$py" -m venv /opt/sid-venv/\$name
        /opt/sid-venv/\$name/bin/pip install -q --upgrade $VENV_PIP_PACKAGES
    fi
done
{
    echo "# sid root built \$(cat /.sid-built 2>/dev/null), updated \$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# mirror $MIRROR suite sid"
    echo "## Debian packages"
    dpkg-query -W -f '\${db:Status-Abbrev} \${Package} \${Version}\n' 'python3.1[0-9]*' 'libpython3.1[0-9]*' libc6 libc6-dev gcc 'gcc-[0-9]*' 2>/dev/null | awk '\$1 == "ii" { print \$2, \$3 }' | sort
    echo "## free-threaded packages installed:\${opt:- none available in sid}"
    echo "## interpreters"
    for py in /usr/bin/python3.1[0-9] /usr/bin/python3.1[0-9]-dbg /usr/bin/python3.1[0-9]t; do
        [ -x "\$py" ] || continue
        printf '%s: ' "\$py"
        "\$py" -c 'import sys, sysconfig; print(sys.version.replace("\n", " "), "| abiflags=%r" % sys.abiflags, "| Py_DEBUG=%s" % sysconfig.get_config_var("Py_DEBUG"), "| GIL_DISABLED=%s" % sysconfig.get_config_var("Py_GIL_DISABLED"), "| include=%s" % sysconfig.get_path("include"))'
    done
    echo "## PyPI tools"
    printf 'tools venv: '; /opt/sid-tools/bin/pip list --format=freeze 2>/dev/null | grep -iE '^(tox|virtualenv|pip)==' | tr '\n' ' '; echo
    for d in /opt/sid-venv/*; do
        [ -d "\$d" ] || continue
        printf '%s: ' "\${d##*/}"; "\$d/bin/pip" list --format=freeze 2>/dev/null | grep -iE '^(pip|setuptools|wheel|pytest|hypothesis)==' | tr '\n' ' '; echo
    done
} > /.sid-versions
EOF
}

cmd_build() {
    local fresh=0 root="" arg
    for arg; do
        case $arg in
            --fresh) fresh=1 ;;
            -h|--help) usage ;;
            -*) die "build: unknown option $arg" ;;
            *) root=$(abspath "$arg") ;;
        esac
    done
    [ -n "$root" ] || root=$(default_root)
    need_root
    local t0=$SECONDS
    if [ -n "$(mounted_under "$root")" ]; then
        die "something is mounted under $root (a 'run' in progress?); not touching it"
    fi
    ensure_gitignore "$root"
    if [ "$fresh" = 1 ] && [ -e "$root" ]; then
        log "removing $root (--fresh)"
        rm -rf --one-file-system -- "$root"
    fi
    if [ ! -x "$root/usr/bin/python3.14" ] || [ ! -e "$root/.sid-built" ]; then
        ensure_mmdebstrap
        local new="$root.new"
        [ -n "$(mounted_under "$new")" ] && die "something is mounted under $new"
        rm -rf --one-file-system -- "$new"
        mkdir -p -- "$(dirname -- "$root")"
        log "mmdebstrap sid -> $root ($MIRROR)"
        mmdebstrap --variant=apt --mode=root --components=main \
            --aptopt='Acquire::Check-Valid-Until "false"' \
            --aptopt='Acquire::Languages "none"' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --include="$(echo $BASE_PACKAGES ${SID_EXTRA_PACKAGES:-} | tr ' ' ,)" \
            sid "$new" "$MIRROR"
        packages_hash > "$new/.sid-packages"
        date -u +%Y-%m-%dT%H:%M:%SZ > "$new/.sid-built"
        rm -rf --one-file-system -- "$root"
        mv -- "$new" "$root"
        log "mmdebstrap done after $((SECONDS - t0)) s"
    else
        log "reusing $root (built $(cat "$root/.sid-built"); --fresh rebuilds)"
    fi
    (chroot_exec "$root" /bin/sh -c "$(inside_setup)")
    log "root ready in $((SECONDS - t0)) s, $(du -sh --one-file-system "$root" | cut -f1); versions in $root/.sid-versions"
    grep -E '^/usr/bin|^## free' "$root/.sid-versions" >&2 || true
}

ensure_gitignore() {
    local root=$1 rel gi="$REPO/.gitignore"
    case $root in "$REPO"/*) rel=/${root#"$REPO"/}/ ;; *) return 0 ;; esac
    if [ ! -e "$gi" ]; then
        printf '%s\n' "$rel" "${rel%/}.new/" "build/" "dist/" "*.egg-info/" \
            "__pycache__/" ".tox/" > "$gi"
        log "created .gitignore"
    elif ! grep -qxF -- "$rel" "$gi"; then
        [ -n "$(tail -c1 "$gi")" ] && echo >> "$gi"
        printf '%s\n' "$rel" "${rel%/}.new/" >> "$gi"
        log "added $rel to .gitignore"
    fi
}

# --- run / test --------------------------------------------------------------

split_root_and_cmd() { # sets ROOT_ARG and CMD_ARGS from "[ROOT] [-- CMD...]"
    ROOT_ARG="" CMD_ARGS=()
    while [ $# -gt 0 ]; do
        case $1 in
            --) shift; CMD_ARGS=("$@"); break ;;
            -h|--help) usage ;;
            *) [ -z "$ROOT_ARG" ] || die "unexpected argument $1 (missing --?)"
               ROOT_ARG=$(abspath "$1") ;;
        esac
        shift
    done
    [ -n "$ROOT_ARG" ] || ROOT_ARG=$(default_root)
}

cmd_run() {
    split_root_and_cmd "$@"
    [ ${#CMD_ARGS[@]} -gt 0 ] || die "run: no command (usage: run [ROOT] -- CMD...)"
    need_root
    chroot_exec "$ROOT_ARG" "${CMD_ARGS[@]}"
}

tox_has_envs() { # does tox.ini define every env of the comma list $1?
    local e
    [ -f "$REPO/tox.ini" ] || return 1
    for e in ${1//,/ }; do
        case $e in py3[0-9]|py3[0-9][0-9]) continue ;; esac  # tox knows these
        grep -qE "^\[testenv:${e}\]" "$REPO/tox.ini" || return 1
        # a -dbg env with its own wheel_build_env needs the same base_python
        # there, or tox builds the wheel with the release interpreter
        if grep -qE '^wheel_build_env *= *\.pkg-\{envname\}' "$REPO/tox.ini" \
            && ! grep -qE "^\[testenv:\.pkg-${e}\]" "$REPO/tox.ini"; then
            log "warning: tox.ini has [testenv:$e] but no [testenv:.pkg-$e]"
        fi
    done
}

# Inside the root after tox: the compiled module of every env must carry that
# interpreter's EXT_SUFFIX (a debug build also loads release-built modules, so
# a wheel built by the wrong interpreter would go unnoticed).
check_ext_script() {
    cat <<'EOF2'
rc=0
mod=${SID_CHECK_EXT:-faulthandler_auto._native}
for e in ${1//,/ }; do
    py=/var/tmp/sid-tox/$e/bin/python
    [ -x "$py" ] || continue
    "$py" -c '
import importlib, sys, sysconfig
try:
    m = importlib.import_module(sys.argv[1])
except ImportError as e:
    sys.exit("sid-root: %s: cannot import %s: %s" % (sys.argv[2], sys.argv[1], e))
suf = sysconfig.get_config_var("EXT_SUFFIX")
ok = m.__file__.endswith(suf)
print("sid-root: %s: %s %s (Py_DEBUG=%s)" % (sys.argv[2], "ok" if ok else "WRONG BUILD", m.__file__, sysconfig.get_config_var("Py_DEBUG")))
sys.exit(0 if ok else 1)' "$mod" "$e" || rc=1
done
exit $rc
EOF2
}

cmd_test() {
    split_root_and_cmd "$@"
    need_root
    local envs=${SID_ENVS:-$ENVS_DEFAULT} status=0
    if tox_has_envs "$envs"; then
        log "tox -e $envs (work dir /var/tmp/sid-tox inside the root)"
        (chroot_exec "$ROOT_ARG" /bin/sh -c \
            'cd "$SID_REPO" && envs=$1 && shift && if [ $# -gt 0 ]; then set -- -- "$@"; fi && exec tox --workdir /var/tmp/sid-tox $SID_TOX_ARGS -e "$envs" "$@"' sh \
            "$envs" "${CMD_ARGS[@]}") || status=$?
        (chroot_exec "$ROOT_ARG" /bin/bash -c "$(check_ext_script)" sh "$envs") || status=${status/#0/1}
    else
        log "tox.ini lacks [testenv:...] for some of $envs: pytest in /opt/sid-venv/<env>"
        (chroot_exec "$ROOT_ARG" /bin/bash "$REPO/tools/sid-test.sh" "$envs" "${CMD_ARGS[@]}") || status=$?
    fi
    return "$status"
}

cmd_selftest() {
    split_root_and_cmd "$@"
    need_root
    chroot_exec "$ROOT_ARG" /bin/bash "$REPO/tools/sid-selftest.sh" "${CMD_ARGS[@]}"
}

main() {
    [ $# -gt 0 ] || usage 2
    local cmd=$1; shift
    case $cmd in
        build) cmd_build "$@" ;;
        run) cmd_run "$@" ;;
        test) cmd_test "$@" ;;
        selftest) cmd_selftest "$@" ;;
        versions) split_root_and_cmd "$@"; cat "$ROOT_ARG/.sid-versions" ;;
        __exec) chroot_exec_here "$@" ;;  # internal: inside the mount namespace
        -h|--help|help) usage ;;
        *) log "unknown command $cmd"; usage 2 ;;
    esac
}

main "$@"
