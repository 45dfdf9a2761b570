#!/usr/bin/env bash
# tools/under-load.sh [-n N] [--] CMD...: run CMD with N busy loops (default:
# one per core) competing for the CPUs, then stop them, whatever CMD does.
# The suite must pass like this: a contributor's laptop is rarely idle.
# Exits with CMD's status.
set -euo pipefail
n=$(nproc)
if [ "${1:-}" = -n ]; then n=$2; shift 2; fi
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [-n N] [--] CMD..." >&2; exit 2; }

loops=()
stop_loops() {
    local pid
    for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${loops[@]}"; do wait "$pid" 2>/dev/null || true; done
    loops=()
}
trap stop_loops EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for ((i = 0; i < n; i++)); do
    # a shell loop, not `yes`: no pipe, nothing but CPU
    bash -c 'while :; do :; done' &
    loops+=($!)
done
echo "under-load: $n busy loops (pids ${loops[*]})" >&2
status=0
"$@" || status=$?
exit "$status"
