#!/bin/bash
# Run INSIDE the guest booted with NOOK_VM_LAYOUT=hybrid (tests/vm/run.sh):
# hugepageLimits on a hybrid host, whose v1 hierarchies lack hugetlb, go
# through the cgroup2 mount at /sys/fs/cgroup/unified (runc fails there).
# Prints PASS/FAIL lines and "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
nook=${NOOK:-$PWD/target/release/nook}
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit; }

[ "${NOOK_VM:-}" = 1 ] || { echo "hybrid.sh runs inside the QEMU guest" >&2; exit 2; }
[ -d /sys/fs/cgroup/memory ] && [ "$(stat -fc %T /sys/fs/cgroup/unified)" = cgroup2fs ] &&
    grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && ok hybrid-layout ||
    { ko hybrid-layout "not a hybrid layout with hugetlb on cgroup2"; finish; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle
scripts/mkbundle.sh -r "$nook" "$bundle" >"$work/mkbundle.log" 2>&1 || { ko mkbundle "$(cat "$work/mkbundle.log")"; finish; }
jq '.process.args = ["sh", "-c", "cat /proc/self/cgroup; sleep 2"]
    | .linux.resources.hugepageLimits = [{pageSize: "2MB", limit: 4194304}]
    | .linux.resources.memory = {limit: 67108864}' "$bundle/config.json" >"$work/c" &&
    mv "$work/c" "$bundle/config.json"
"$nook" --root /run/nook-hybrid run -d --bundle "$bundle" hyb >"$work/run.out" 2>&1 ||
    { ko run "$(cat "$work/run.out")"; finish; }
pid=$("$nook" --root /run/nook-hybrid state hyb | jq -r .pid)
mem=$(sed -n 's/^[0-9]*:memory://p' "/proc/$pid/cgroup")
uni=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
echo "memory cgroup $mem, unified cgroup $uni"
[ "$(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes")" = 67108864 ] && ok v1-memory ||
    ko v1-memory "memory.limit_in_bytes is $(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes")"
[ "$(cat "/sys/fs/cgroup/unified$uni/hugetlb.2MB.max" 2>&1)" = 4194304 ] && ok unified-hugetlb ||
    ko unified-hugetlb "hugetlb.2MB.max in unified$uni: $(cat "/sys/fs/cgroup/unified$uni/hugetlb.2MB.max" 2>&1)"
"$nook" --root /run/nook-hybrid delete --force hyb >/dev/null 2>&1
[ ! -e "/sys/fs/cgroup/unified$uni" ] && ok removed || ko removed "unified$uni still exists"
finish
