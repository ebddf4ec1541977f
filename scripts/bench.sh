#!/bin/bash
# Time `run` of a container that executes `true`, for nook, runc and crun.
#
#   scripts/bench.sh [RUNS]        (default 20; needs root)
#
# Uses hyperfine when installed, else a plain loop. This is a first cut:
# the numbers are indicative only (2-core machine, warm caches).
set -euo pipefail

runs=${1:-20}
cd "$(dirname "$0")/.."
nook=$PWD/target/release/nook
[ -x "$nook" ] || { echo "bench: build first (make build)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One bundle for all three runtimes, from runc's spec so that nothing
# nook-specific is in it.
scripts/mkbundle.sh -r runc "$work/bundle" true >/dev/null

declare -A cmds
cmds[nook]="$nook --root $work/nook run -b $work/bundle bench-nook"
cmds[runc]="runc --root $work/runc run -b $work/bundle bench-runc"
# crun refuses hybrid hosts that have controllers in cgroup v2; in a
# private mount namespace without the unified mount it uses v1 only.
cmds[crun]="unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; crun --root $work/crun run -b $work/bundle bench-crun'"

names=()
for rt in nook runc crun; do
    first=${cmds[$rt]%% *}
    if [ "$rt" = crun ]; then first=crun; fi
    if command -v "$first" >/dev/null && sh -c "${cmds[$rt]}" >/dev/null 2>&1; then
        names+=("$rt")
    else
        echo "SKIP: $rt cannot run the bench container here" >&2
    fi
done
[ ${#names[@]} -gt 0 ] || { echo "bench: no runtime works" >&2; exit 1; }

if command -v hyperfine >/dev/null; then
    args=()
    for rt in "${names[@]}"; do args+=(-n "$rt" "${cmds[$rt]}"); done
    hyperfine --warmup 2 --runs "$runs" "${args[@]}"
else
    for rt in "${names[@]}"; do
        start=$(date +%s%N)
        for _ in $(seq "$runs"); do sh -c "${cmds[$rt]}" >/dev/null; done
        end=$(date +%s%N)
        echo "$rt: $(((end - start) / runs / 1000)) us per run (mean of $runs)"
    done
fi

# The seccomp filter's cost: BPF instructions per syscall under Podman's
# default profile, counted by nook's test interpreter (src/seccomp/bench.rs).
cargo test --release --quiet --lib seccomp::bench -- --nocapture 2>/dev/null | grep -E '^(seccomp|  )'
