#!/bin/bash
# Benchmarks nook against runc and crun (start-up time, memory, seccomp).
#
#   scripts/bench.sh [RUNS]        (default 20; needs root)
#
# Times `run` of a plain bundle and of the same bundle with Podman's seccomp
# profile (hyperfine when installed, else a plain loop), reports each
# runtime's peak resident memory, then the seccomp filter's BPF instruction
# counts. Indicative numbers: 2-core machine, warm caches.
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

# The same bundle again with the seccomp profile Podman 4.3 generates
# (tests/data/podman-seccomp.json): every real container gets one.
mkdir -p "$work/sbundle"
cp -a "$work/bundle/rootfs" "$work/sbundle/rootfs"
jq --slurpfile sc tests/data/podman-seccomp.json '.linux.seccomp = $sc[0]' \
    "$work/bundle/config.json" >"$work/sbundle/config.json"

# cmd RUNTIME BUNDLE ID: the command line that runs the bundle once.
cmd() {
    case $1 in
        nook) echo "$nook --root $work/nook run -b $2 $3" ;;
        runc) echo "runc --root $work/runc run -b $2 $3" ;;
        # crun refuses hybrid hosts that have controllers in cgroup v2; in a
        # private mount namespace without the unified mount it uses v1 only.
        crun) echo "unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; crun --root $work/crun run -b $2 $3'" ;;
    esac
}

names=()
for rt in nook runc crun; do
    if command -v "$rt" >/dev/null || [ "$rt" = nook ]; then
        if sh -c "$(cmd $rt "$work/bundle" probe-$rt)" >/dev/null 2>&1 &&
            sh -c "$(cmd $rt "$work/sbundle" probe-$rt)" >/dev/null 2>&1; then
            names+=("$rt")
            continue
        fi
    fi
    echo "SKIP: $rt cannot run the bench containers here" >&2
done
[ ${#names[@]} -gt 0 ] || { echo "bench: no runtime works" >&2; exit 1; }

for b in bundle sbundle; do
    if [ $b = bundle ]; then echo "== run of true"; else echo "== run of true, with Podman's seccomp profile"; fi
    if command -v hyperfine >/dev/null; then
        args=()
        for rt in "${names[@]}"; do args+=(-n "$rt" "$(cmd $rt "$work/$b" bench-$rt)"); done
        hyperfine -N --warmup 2 --runs "$runs" "${args[@]}" 2>/dev/null ||
            hyperfine --warmup 2 --runs "$runs" "${args[@]}"
    else
        for rt in "${names[@]}"; do
            start=$(date +%s%N)
            for _ in $(seq "$runs"); do sh -c "$(cmd $rt "$work/$b" bench-$rt)" >/dev/null; done
            end=$(date +%s%N)
            echo "$rt: $(((end - start) / runs / 1000)) us per run (mean of $runs)"
        done
    fi
done

# Peak memory: the largest resident set among the runtime's own processes
# (GNU time reports the maximum over the command and the children it waited
# for; the container's `true` is tiny next to any runtime).
echo "== peak resident memory of one run (KiB)"
for rt in "${names[@]}"; do
    for b in bundle sbundle; do
        kib=$(/usr/bin/time -f %M sh -c "$(cmd $rt "$work/$b" mem-$rt) >/dev/null" 2>&1 | tail -1)
        printf '%-5s %-8s %s\n' "$rt" "$([ $b = bundle ] && echo plain || echo seccomp)" "$kib"
    done
done

# The seccomp filter's cost: BPF instructions per syscall under Podman's
# default profile, counted by nook's test interpreter (src/seccomp/bench.rs).
cargo test --release --quiet --lib seccomp::bench -- --nocapture 2>/dev/null | grep -E '^(seccomp|  )'
