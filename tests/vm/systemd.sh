#!/bin/bash
# Run INSIDE the guest booted with NOOK_VM_LAYOUT=systemd (systemd is PID 1,
# pure cgroup v2):
#
#   NOOK_VM_LAYOUT=systemd tests/vm/run.sh -- tests/vm/systemd.sh
#
# nook --systemd-cgroup: the container runs in a transient scope in the
# slice its cgroupsPath names, systemd's properties and the cgroup files
# agree with the config, `update` changes both, and pause/resume/ps/events/
# kill --all/delete work WITHOUT --systemd-cgroup (the driver comes from the
# state). delete stops the unit; a bad cgroupsPath errors and leaves no unit.
# Prints PASS/FAIL lines and "N passed, N failed"; exit 1 on any failure.
set -u
cd "$(dirname "$0")/../.."
nook=${NOOK:-$PWD/target/release/nook}
root=/run/nook-systemd
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit; }
# expect NAME WANT GOT
expect() { if [ "$2" = "$3" ]; then ok "$1"; else ko "$1" "want '$2', got '$3'"; fi; }
prop() { systemctl show -P "$2" "$1" 2>&1; }

[ "${NOOK_VM:-}" = 1 ] || { echo "systemd.sh runs inside the QEMU guest" >&2; exit 2; }
[ "$(cat /proc/1/comm)" = systemd ] && [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] &&
    ok systemd-layout || { ko systemd-layout "PID 1 is $(cat /proc/1/comm)"; finish; }
# systemd joins the bus right after dbus.service starts; wait for it.
for _ in $(seq 100); do
    busctl status org.freedesktop.systemd1 >/dev/null 2>&1 && break
    sleep 0.2
done

work=$(mktemp -d)
trap 'for c in c1 c2 c3 c4 c6; do "$nook" --root $root delete --force $c >/dev/null 2>&1; done; rm -rf "$work"' EXIT
bundle=$work/bundle
scripts/mkbundle.sh -r "$nook" "$bundle" >"$work/mkbundle.log" 2>&1 || { ko mkbundle "$(cat "$work/mkbundle.log")"; finish; }
cp "$bundle/config.json" "$work/base.json"
# config JQ_FILTER: the bundle's config from the base one.
config() { jq "$1" "$work/base.json" >"$bundle/config.json"; }
run_d() { "$nook" --systemd-cgroup --root $root run -d --bundle "$bundle" "$1" >"$work/run.out" 2>&1; }

# --- a scope in system.slice, with limits --------------------------------
config '.process.args = ["sleep", "1000"]
  | .linux.cgroupsPath = "system.slice:nook:c1"
  | .linux.resources.memory = {limit: 67108864}
  | .linux.resources.pids = {limit: 32}
  | .linux.resources.cpu = {shares: 1024, quota: 50000, period: 100000, cpus: "0"}
  | .linux.resources.blockIO = {weight: 500}'
run_d c1 && ok run-scope || { ko run-scope "$(cat "$work/run.out")"; finish; }
pid=$("$nook" --root $root state c1 | jq -r .pid)
expect in-scope "0::/system.slice/nook-c1.scope" "$(cat "/proc/$pid/cgroup")"
dir=/sys/fs/cgroup/system.slice/nook-c1.scope
expect unit-active active "$(prop nook-c1.scope ActiveState)"
expect delegate yes "$(prop nook-c1.scope Delegate)"
expect prop-memory 67108864 "$(prop nook-c1.scope MemoryMax)"
expect prop-tasks 32 "$(prop nook-c1.scope TasksMax)"
expect prop-cpuweight 39 "$(prop nook-c1.scope CPUWeight)"
expect prop-quota 500ms "$(prop nook-c1.scope CPUQuotaPerSecUSec)"
expect prop-cpus 0 "$(prop nook-c1.scope AllowedCPUs)"
expect prop-devices strict "$(prop nook-c1.scope DevicePolicy)"
expect prop-ioweight 4950 "$(prop nook-c1.scope IOWeight)"
expect file-ioweight "default 4950" "$(head -n1 $dir/io.weight)"
expect file-memory 67108864 "$(cat $dir/memory.max)"
expect file-pids 32 "$(cat $dir/pids.max)"
expect file-cpuweight 39 "$(cat $dir/cpu.weight)"
expect file-cpumax "50000 100000" "$(cat $dir/cpu.max)"
expect file-cpus 0 "$(cat $dir/cpuset.cpus)"
expect state-driver systemd/nook-c1.scope \
    "$(jq -r '.cgroupDriver.driver + "/" + .cgroupDriver.unit' $root/c1/state.json)"

# Everything below runs without --systemd-cgroup: the state says systemd.
"$nook" --root $root update --memory 134217728 --pids-limit 64 c1 >"$work/u.out" 2>&1 ||
    ko update "$(cat "$work/u.out")"
expect update-prop-memory 134217728 "$(prop nook-c1.scope MemoryMax)"
expect update-prop-tasks 64 "$(prop nook-c1.scope TasksMax)"
expect update-file-memory 134217728 "$(cat $dir/memory.max)"
expect update-file-pids 64 "$(cat $dir/pids.max)"
"$nook" --root $root pause c1
expect pause "paused 1" "$("$nook" --root $root state c1 | jq -r .status) $(cat $dir/cgroup.freeze)"
"$nook" --root $root resume c1
expect resume "running 0" "$("$nook" --root $root state c1 | jq -r .status) $(cat $dir/cgroup.freeze)"
"$nook" --root $root ps --format json c1 | jq -e "index($pid)" >/dev/null &&
    ok ps || ko ps "$("$nook" --root $root ps --format json c1 2>&1)"
expect events-limit 134217728 "$("$nook" --root $root events --stats c1 | jq -r .data.memory.usage.limit)"
"$nook" --root $root kill --all c1 KILL
for _ in $(seq 100); do
    [ "$("$nook" --root $root state c1 | jq -r .status)" = stopped ] && break
    sleep 0.1
done
expect kill-all stopped "$("$nook" --root $root state c1 | jq -r .status)"
"$nook" --root $root delete c1 >"$work/d.out" 2>&1 || ko delete "$(cat "$work/d.out")"
systemctl status nook-c1.scope >/dev/null 2>&1 && ko unit-gone "nook-c1.scope still known" || ok unit-gone
[ ! -e $dir ] && ok dir-gone || ko dir-gone "$dir still exists"
[ ! -e $root/c1 ] && ok state-gone || ko state-gone "$root/c1 still exists"

# --- Podman's form: machine.slice:libpod:<id>; delete --force while running
config '.process.args = ["sleep", "1000"] | .linux.cgroupsPath = "machine.slice:libpod:c2"'
run_d c2 && ok run-libpod || ko run-libpod "$(cat "$work/run.out")"
pid=$("$nook" --root $root state c2 | jq -r .pid)
expect in-machine-slice "0::/machine.slice/libpod-c2.scope" "$(cat "/proc/$pid/cgroup")"
"$nook" --root $root delete --force c2 >"$work/d.out" 2>&1 || ko delete-force "$(cat "$work/d.out")"
systemctl status libpod-c2.scope >/dev/null 2>&1 && ko libpod-unit-gone "still known" || ok libpod-unit-gone
[ ! -e /sys/fs/cgroup/machine.slice/libpod-c2.scope ] && ok libpod-dir-gone || ko libpod-dir-gone "still there"

# --- no cgroupsPath: runc's default with nook's prefix, in system.slice;
# a pids limit of 0 is TasksMax=1 (systemd has no 0), in the file too.
config '.process.args = ["sleep", "1000"] | del(.linux.cgroupsPath) | .linux.resources.pids = {limit: 0}'
run_d c3 && ok run-default || ko run-default "$(cat "$work/run.out")"
pid=$("$nook" --root $root state c3 | jq -r .pid)
expect default-path "0::/system.slice/nook-c3.scope" "$(cat "/proc/$pid/cgroup")"
expect pids-zero 1 "$(prop nook-c3.scope TasksMax)"
expect pids-zero-file 1 "$(cat /sys/fs/cgroup/system.slice/nook-c3.scope/pids.max)"
"$nook" --root $root delete --force c3 >/dev/null 2>&1
systemctl status nook-c3.scope >/dev/null 2>&1 && ko default-unit-gone "still known" || ok default-unit-gone

# --- a slice unit: name ending in .slice (init joins it through cgroupfs)
config '.process.args = ["sleep", "1000"] | .linux.cgroupsPath = "system.slice:nook:nooktest-c4.slice"'
run_d c4 && ok run-slice || ko run-slice "$(cat "$work/run.out")"
pid=$("$nook" --root $root state c4 | jq -r .pid)
expect in-slice "0::/nooktest.slice/nooktest-c4.slice" "$(cat "/proc/$pid/cgroup" 2>&1)"
"$nook" --root $root delete --force c4 >"$work/d.out" 2>&1 || ko delete-slice "$(cat "$work/d.out")"
systemctl status nooktest-c4.slice >/dev/null 2>&1 && ko slice-unit-gone "still known" || ok slice-unit-gone

# --- a cgroupsPath not in the systemd form: an error naming the field, and
# nothing left (no unit, no state).
config '.process.args = ["true"] | .linux.cgroupsPath = "/kubepods/bad"'
if run_d c5; then ko bad-path "run succeeded"; else
    grep -q 'linux.cgroupsPath.*slice:prefix:name' "$work/run.out" && ok bad-path ||
        ko bad-path "$(cat "$work/run.out")"
fi
[ ! -e $root/c5 ] && ok bad-path-no-state || ko bad-path-no-state "$root/c5 exists"
# --- a create that fails after systemd made the unit (a cgroupfs write
# fails) stops the unit again and leaves nothing.
config '.process.args = ["true"] | .linux.cgroupsPath = "system.slice:nook:c7"
  | .linux.resources.unified = {"memory.nosuchfile": "1"}'
if run_d c7; then ko failed-create "run succeeded"; else
    grep -q 'memory.nosuchfile' "$work/run.out" && ok failed-create || ko failed-create "$(cat "$work/run.out")"
fi
systemctl status nook-c7.scope >/dev/null 2>&1 && ko failed-create-unit-gone "still known" || ok failed-create-unit-gone
[ ! -e $root/c7 ] && ok failed-create-no-state || ko failed-create-no-state "$root/c7 exists"

# (nooktest.slice, the implicit parent of the c4 slice, is systemd's own.)
left=$(systemctl list-units --all --plain --no-legend 'nook-c*' 'libpod-*' 'nooktest-*' | awk '{print $1}')
expect no-units-left "" "$(echo $left)"

# --- devices: systemd's DeviceAllow program and nook's eBPF program both
# sit on the scope; allowed devices work, a denied one does not.
config '.process.args = ["sh", "-c", "echo x >/dev/null && head -c1 /dev/zero >/dev/null && echo allowed; head -c1 /dev/mem >/dev/null 2>&1 || echo denied"]
  | .linux.cgroupsPath = "system.slice:nook:c6"
  | .linux.devices = [{path: "/dev/mem", type: "c", major: 1, minor: 1, fileMode: 416}]'
out=$("$nook" --systemd-cgroup --root $root run --bundle "$bundle" c6 2>&1)
expect devices "allowed denied" "$(echo $out)"
"$nook" --root $root delete --force c6 >/dev/null 2>&1
finish
