#!/usr/bin/env bash
# tools/build-wheels.sh — the release wheels: manylinux (glibc 2.17 baseline)
# x86-64 wheels of faulthandler-auto for every supported CPython (and
# aarch64 where an arm64 root gives the headers), built on
# this machine without a system compiler and offline once the tools are in.
#
#   tools/build-wheels.sh [-o DIR] [--for PYTHON] [TAG...]
#
# TAG: cp39 cp310 cp311 cp312 cp313 cp314 cp315 cp314d for x86-64, and
# cp311-aarch64 (default: all that have headers here; a TAG named explicitly
# must have them); --for PYTHON adds the tag of that interpreter.  DIR:
# wheelhouse/.
#
# The C core is compiled by zig's clang (PyPI `ziglang`) for
# x86_64-linux-gnu.2.17: zig ships the glibc 2.17 stubs to link against, so
# the core uses no symbol newer than manylinux2014 allows, whatever this
# machine's libc.  Only the headers of each CPython are needed, not the
# interpreter: pyenv's for 3.9-3.13, the Debian sid root's for 3.14/3.15.
# The Python part (modules, metadata) is built once by setuptools with the
# core disabled; each wheel is that plus its core and its one hook file
# (.pth up to 3.14, PEP 829 .start from 3.15 on), tagged
# cpXY-cpXY-manylinux_2_17_x86_64.manylinux2014_x86_64 and checked by
# `auditwheel show`.
#
# aarch64: the same zig targets aarch64-linux-gnu.2.17; the headers (and an
# interpreter to test the wheel with under qemu-aarch64-static) come from an
# arm64 Debian root made by `mmdebstrap --arch=arm64 --variant=extract
# --include=libpython3.11-dev,python3.11-minimal,libpython3.11-stdlib,libffi8
# bookworm $ARM64_ROOT`; bookworm has 3.11 only, so that is the one.
#
# Environment: PYENV_ROOT (~/.pyenv), SID_ROOT
# (/var/tmp/faulthandler-auto/sid-root), ARM64_ROOT
# (/var/tmp/faulthandler-auto/arm64-root), FAULTHANDLER_AUTO_WHEEL_TOOLS (venv
# with ziglang, auditwheel, setuptools, twine, wheel; made if missing),
# FAULTHANDLER_AUTO_ZIG_CFLAGS (added to the compile, e.g. -Werror;
# FAULTHANDLER_AUTO_CFLAGS is for gcc builds through setup.py and not used).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

OUT=wheelhouse
while [ $# -gt 0 ]; do
    case $1 in
        -o) OUT=$2; shift 2 ;;
        # the tag of this interpreter (tox: the env's own)
        --for) set -- "$@" "$("$2" -c 'import sys; print("cp%d%d%s" % (sys.version_info[:2] + (sys.abiflags,)))')"
               shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        -*) echo "build-wheels: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
ALL_TAGS=(cp39 cp310 cp311 cp312 cp313 cp314 cp315 cp314d cp311-aarch64)
EXPLICIT=$#
[ $# -gt 0 ] && TAGS=("$@") || TAGS=("${ALL_TAGS[@]}")

PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
SID_ROOT=${SID_ROOT:-/var/tmp/faulthandler-auto/sid-root}
ARM64_ROOT=${ARM64_ROOT:-/var/tmp/faulthandler-auto/arm64-root}
TOOLS=${FAULTHANDLER_AUTO_WHEEL_TOOLS:-/var/tmp/faulthandler-auto/wheel-tools}

log() { printf 'build-wheels: %s\n' "$*" >&2; }

# Any CPython 3.9+ can run the tools; the newest pyenv one, else python3.
tools_venv() {
    mkdir -p "$(dirname "$TOOLS")"
    # tox envs (or two helpers) may start this at once: one installs, the others wait
    exec 9>"$TOOLS.lock"
    flock 9
    if ! "$TOOLS/bin/python" -c 'import ziglang, auditwheel, setuptools, twine, wheel' 2>/dev/null; then
        local base
        base=$(ls -d "$PYENV_ROOT"/versions/3.1[2-9].*/bin/python 2>/dev/null | sort -V | tail -1 || true)
        log "installing ziglang, auditwheel, setuptools, wheel into $TOOLS"
        "${base:-python3}" -m venv --clear "$TOOLS"
        "$TOOLS/bin/python" -m pip install --quiet --upgrade ziglang 'auditwheel>=6,<7' 'setuptools>=77' \
            twine wheel
    fi
    flock -u 9
    PY=$TOOLS/bin/python
}

# Prints "INCLUDE_DIR [ARCH_INCLUDE_DIR]" for a tag (cpXY[d]) and
# architecture, or nothing.
headers_for() {
    local tag=$1 arch=$2 minor abi="" dir
    minor=${tag#cp3}
    [[ $minor == *d ]] && { abi=d; minor=${minor%d}; }
    if [ "$arch" = aarch64 ]; then
        dir=$ARM64_ROOT/usr/include/python3.$minor$abi
        if [ -e "$dir/Python.h" ] && [ -e "$ARM64_ROOT/usr/include/aarch64-linux-gnu/python3.$minor$abi/pyconfig.h" ]; then
            echo "$dir $ARM64_ROOT/usr/include/aarch64-linux-gnu"
        fi
        return 0
    fi
    if [ "$minor" -le 13 ] && [ -z "$abi" ]; then
        dir=$(ls -d "$PYENV_ROOT"/versions/3."$minor".*/include/python3."$minor" 2>/dev/null | sort -V | tail -1 || true)
        [ -n "$dir" ] && [ -e "$dir/Python.h" ] && echo "$dir"
        return 0
    fi
    # Debian splits pyconfig.h into a per-architecture directory that its
    # stub includes as <x86_64-linux-gnu/python3.X/pyconfig.h>.
    # (inside the sid root, tools/sid-root.sh test, they are at /usr/include)
    local root
    for root in "$SID_ROOT" ${SID_ROOT_INSIDE:+/}; do
        dir=${root%/}/usr/include/python3.$minor$abi
        if [ -e "$dir/Python.h" ] && [ -e "${root%/}/usr/include/x86_64-linux-gnu/python3.$minor$abi/pyconfig.h" ]; then
            echo "$dir ${root%/}/usr/include/x86_64-linux-gnu"
            return 0
        fi
    done
}

# A copy of the sources in a fresh directory: no build/ or .egg-info of an
# earlier run (or of another interpreter) can leak into a wheel.
clean_tree() {
    local dest=$1
    mkdir -p "$dest"
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard 2>/dev/null \
        | (cd "$ROOT" && xargs -0 -r cp --parents -t "$dest" 2>/dev/null) \
        || (cd "$ROOT" && tar --exclude=.git --exclude=.tox --exclude=build --exclude=wheelhouse \
                --exclude='*.so' --exclude='*.egg-info' -cf - . | tar -xf - -C "$dest")
}

# The Python part, once: a py3-none-any wheel without the core.
pure_wheel() {
    clean_tree "$WORK/src-tree"
    (cd "$WORK/src-tree" && FAULTHANDLER_AUTO_NATIVE=0 "$PY" -m pip wheel --quiet --no-deps \
        --no-build-isolation -w "$WORK/pure" . 2>"$WORK/pure.log") \
        || { cat "$WORK/pure.log" >&2; exit 1; }
    ls "$WORK"/pure/*.whl
}

compile_core() {
    local tag=$1 arch=$2 include=$3 extra=$4 out=$5 tree=$6 sources
    local natdir=$tree/src/core
    sources=("$natdir"/*.c)  # the same sources as setup.py's CORE_DIR
    local flags=(-target "$arch-linux-gnu.2.17" -shared -fPIC -O2 -g0 -fwrapv -fno-strict-aliasing
                 -fno-sanitize=all -Wall -Wextra -isystem "$include")
    if [ -n "$extra" ]; then
        # only <$arch-linux-gnu/...> is reachable this way: the rest of the
        # Debian root (its newer glibc headers) must stay out of the build
        mkdir -p "$tree/arch-include"
        ln -s "$extra" "$tree/arch-include/$arch-linux-gnu"
        flags+=(-I "$tree/arch-include")
    fi
    [ -d "$natdir" ] && flags+=(-I "$natdir")
    [[ $tag == *d ]] || flags+=(-DNDEBUG)
    # shellcheck disable=SC2206
    flags+=(${FAULTHANDLER_AUTO_ZIG_CFLAGS:-})
    ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-$TOOLS/zig-cache} \
        "$PY" -m ziglang cc "${flags[@]}" "${sources[@]}" -o "$out" -ldl -lpthread
}

# pure wheel + core + hook file -> the platform wheel, with WHEEL and RECORD
# written anew.
assemble() {
    "$PY" - "$@" <<'EOF'
import base64, hashlib, os, sys, zipfile
pure, so_path, so_name, hook, tag, out_dir = sys.argv[1:7]
tags = ["%s-%s" % (tag, plat) for plat in sys.argv[7:]]
HOOKS = ("faulthandler_auto.pth", "faulthandler_auto.start")
with zipfile.ZipFile(pure) as zin:
    names = zin.namelist()
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/WHEEL"))
    files = {}
    for name in names:
        if name in HOOKS or name in (dist_info + "/WHEEL", dist_info + "/RECORD"):
            continue
        if name.startswith("faulthandler_auto/_native"):
            raise SystemExit("build-wheels: the pure wheel already holds %s" % name)
        files[name] = zin.read(name)
    generator = next(l for l in zin.read(dist_info + "/WHEEL").decode().splitlines()
                     if l.startswith("Generator:"))
with open(so_path, "rb") as f:
    files["faulthandler_auto/" + so_name] = f.read()
with open(hook, "rb") as f:
    files[os.path.basename(hook)] = f.read()
files[dist_info + "/WHEEL"] = ("Wheel-Version: 1.0\n%s\nRoot-Is-Purelib: false\n%s" % (
    generator, "".join("Tag: %s\n" % t for t in tags))).encode()
record = []
for name, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
record.append(dist_info + "/RECORD,,")
files[dist_info + "/RECORD"] = ("\n".join(record) + "\n").encode()
name, version = dist_info[:-len(".dist-info")].split("-")
platforms = ".".join(t.split("-", 2)[2] for t in tags)
wheel = os.path.join(out_dir, "%s-%s-%s-%s.whl" % (name, version, "-".join(tags[0].split("-")[:2]), platforms))
with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zout:
    # dist-info last, as the wheel spec recommends
    for n in sorted(files, key=lambda n: (n.startswith(dist_info), n)):
        info = zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if n.endswith(".so") else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zout.writestr(info, files[n])
print(wheel)
EOF
}

# auditwheel's verdict must name our platform and find nothing to graft.
check_wheel() {
    local wheel=$1 PLATFORM=$2 report
    report=$("$PY" -m auditwheel show "$wheel" 2>&1) || { echo "$report" >&2; return 1; }
    # (auditwheel wraps its lines)
    if ! tr -s '\n ' '  ' <<<"$report" | grep -q "consistent with the following platform tag: \"$PLATFORM\""; then
        echo "$report" >&2
        log "$wheel: auditwheel does not confirm $PLATFORM"
        return 1
    fi
    if grep -q "system-provided shared libraries that are not in the" <<<"$report"; then
        echo "$report" >&2
        log "$wheel: needs libraries beyond the manylinux policy"
        return 1
    fi
    log "$(basename "$wheel"): auditwheel confirms $PLATFORM"
}

main() {
    tools_venv
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
    # global: the EXIT trap runs after main has returned
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/build-wheels.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    local pure built=() missing=() spec tag arch headers include extra minor so_name hook wheel
    pure=$(pure_wheel)
    for spec in "${TAGS[@]}"; do
        [[ $spec =~ ^cp3[0-9]+d?(-aarch64|-x86_64)?$ ]] || { log "unknown tag $spec"; exit 2; }
        tag=${spec%-*}
        arch=x86_64
        [[ $spec == *-aarch64 ]] && arch=aarch64
        headers=$(headers_for "$tag" "$arch")
        if [ -z "$headers" ]; then
            missing+=("$spec")
            continue
        fi
        read -r include extra <<<"$headers"
        minor=${tag#cp3}
        minor=${minor%d}
        # each build in its own directory, from its own copy of the sources
        local dir=$WORK/$tag-$arch
        mkdir -p "$dir"
        clean_tree "$dir/tree"
        so_name="_native.cpython-3${tag#cp3}-$arch-linux-gnu.so"
        log "$spec: compiling the core with zig cc -target $arch-linux-gnu.2.17 against $include"
        compile_core "$tag" "$arch" "$include" "${extra:-}" "$dir/$so_name" "$dir/tree"
        if [ "$minor" -ge 15 ]; then hook=faulthandler_auto.start; else hook=faulthandler_auto.pth; fi
        rm -f "$OUT"/faulthandler_auto-*-"${tag%d}-$tag"-*_"$arch".whl
        wheel=$(assemble "$pure" "$dir/$so_name" "$so_name" "$dir/tree/$hook" \
                "${tag%d}-$tag" "$OUT" "manylinux_2_17_$arch" "manylinux2014_$arch")
        # a wheel whose tag auditwheel does not confirm is not left to be installed
        check_wheel "$wheel" "manylinux_2_17_$arch" || { rm -f "$wheel"; exit 1; }
        built+=("$wheel")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "no headers here for: ${missing[*]} (pyenv: $PYENV_ROOT; sid root: $SID_ROOT)"
        [ "$EXPLICIT" -gt 0 ] && exit 1
    fi
    [ ${#built[@]} -gt 0 ] || { log "built nothing"; exit 1; }
    "$PY" -m twine check --strict "${built[@]}" >&2
    printf '%s\n' "${built[@]}"
}

main
