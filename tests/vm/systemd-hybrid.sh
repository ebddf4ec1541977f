#!/bin/bash
# Run INSIDE the guest booted with NOOK_VM_LAYOUT=systemd-hybrid (systemd is
# PID 1 on its hybrid layout: v1 controllers, cgroup2 at unified):
#
#   NOOK_VM_LAYOUT=systemd-hybrid tests/vm/run.sh -- tests/vm/systemd-hybrid.sh
#
# nook --systemd-cgroup on v1: systemd makes the scope in the hierarchies it
# manages, nook makes the same path in the others and joins init there;
# limits are legacy unit properties and v1 files; pause uses the v1 freezer;
# delete stops the unit and removes every directory of it.
# Prints PASS/FAIL lines and "N passed, N failed"; exit 1 on any failure.
set -u
cd "$(dirname "$0")/../.."
nook=${NOOK:-$PWD/target/release/nook}
root=/run/nook-systemd
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit; }
expect() { if [ "$2" = "$3" ]; then ok "$1"; else ko "$1" "want '$2', got '$3'"; fi; }
prop() { systemctl show -P "$2" "$1" 2>&1; }

[ "${NOOK_VM:-}" = 1 ] || { echo "systemd-hybrid.sh runs inside the QEMU guest" >&2; exit 2; }
[ "$(cat /proc/1/comm)" = systemd ] && [ -d /sys/fs/cgroup/memory ] &&
    [ "$(stat -fc %T /sys/fs/cgroup/unified)" = cgroup2fs ] && ok systemd-hybrid-layout ||
    { ko systemd-hybrid-layout "PID 1 $(cat /proc/1/comm); $(ls /sys/fs/cgroup | tr '\n' ' ')"; finish; }
for _ in $(seq 100); do
    busctl status org.freedesktop.systemd1 >/dev/null 2>&1 && break
    sleep 0.2
done

work=$(mktemp -d)
trap '"$nook" --root $root delete --force h1 >/dev/null 2>&1; rm -rf "$work"' EXIT
bundle=$work/bundle
scripts/mkbundle.sh -r "$nook" "$bundle" >"$work/mkbundle.log" 2>&1 || { ko mkbundle "$(cat "$work/mkbundle.log")"; finish; }
jq '.process.args = ["sleep", "1000"]
  | .linux.cgroupsPath = "system.slice:nook:h1"
  | .linux.resources.memory = {limit: 67108864}
  | .linux.resources.pids = {limit: 32}
  | .linux.resources.cpu = {shares: 512, cpus: "0"}' "$bundle/config.json" >"$work/c" &&
    mv "$work/c" "$bundle/config.json"
"$nook" --systemd-cgroup --root $root run -d --bundle "$bundle" h1 >"$work/run.out" 2>&1 &&
    ok run || { ko run "$(cat "$work/run.out")"; finish; }
pid=$("$nook" --root $root state h1 | jq -r .pid)
scope=/system.slice/nook-h1.scope
cat "/proc/$pid/cgroup"
for c in memory pids cpu,cpuacct cpuset freezer devices name=systemd; do
    expect "in-$c" "$scope" "$(grep -E "^[0-9]+:$c:" "/proc/$pid/cgroup" | cut -d: -f3)"
done
expect in-unified "$scope" "$(sed -n 's/^0:://p' "/proc/$pid/cgroup")"
expect prop-memory 67108864 "$(prop nook-h1.scope MemoryLimit)"
expect prop-tasks 32 "$(prop nook-h1.scope TasksMax)"
expect prop-shares 512 "$(prop nook-h1.scope CPUShares)"
expect file-memory 67108864 "$(cat /sys/fs/cgroup/memory$scope/memory.limit_in_bytes)"
expect file-pids 32 "$(cat /sys/fs/cgroup/pids$scope/pids.max)"
expect file-shares 512 "$(cat /sys/fs/cgroup/cpu,cpuacct$scope/cpu.shares)"
expect file-cpus 0 "$(cat /sys/fs/cgroup/cpuset$scope/cpuset.cpus)"
"$nook" --root $root update --memory 134217728 h1 >"$work/u.out" 2>&1 || ko update "$(cat "$work/u.out")"
expect update-prop 134217728 "$(prop nook-h1.scope MemoryLimit)"
expect update-file 134217728 "$(cat /sys/fs/cgroup/memory$scope/memory.limit_in_bytes)"
"$nook" --root $root pause h1
expect pause "paused FROZEN" "$("$nook" --root $root state h1 | jq -r .status) $(cat /sys/fs/cgroup/freezer$scope/freezer.state)"
"$nook" --root $root resume h1
expect resume running "$("$nook" --root $root state h1 | jq -r .status)"
"$nook" --root $root delete --force h1 >"$work/d.out" 2>&1 || ko delete "$(cat "$work/d.out")"
systemctl status nook-h1.scope >/dev/null 2>&1 && ko unit-gone "still known" || ok unit-gone
left=$(ls -d /sys/fs/cgroup/*$scope 2>/dev/null | tr '\n' ' ')
expect dirs-gone "" "$left"
finish
