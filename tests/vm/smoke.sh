#!/bin/bash
# Smoke test of nook on pure cgroup v2. Runs INSIDE the test guest:
#
#   tests/vm/run.sh -- tests/vm/smoke.sh      (or: make vm-test)
#
# Checks the guest's cgroup setup, then runs a busybox container of the
# default spec (which has a cgroup namespace) with `nook run` and looks at
# its cgroup from both sides, then one with memory and pids limits. Prints
# PASS/FAIL/SKIP lines and a closing "N passed, N failed" (", N skipped"
# added when there are skips); the exit status is 1 if anything failed.
# The nook binary is built on the host (target/release/nook); this script
# builds nothing.
set -uo pipefail

nook=${NOOK:-target/release/nook}
state=/run/nook-vm
id=vm-smoke-$$
mem_limit=67108864
pids_limit=32
# Seconds one nook command may take; the guest CPU is emulated (TCG).
step_timeout=60

passed=0
failed=0
skipped=0
pass() {
    echo "PASS $1"
    passed=$((passed + 1))
}
fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}
skip() {
    echo "SKIP $1: $2"
    skipped=$((skipped + 1))
}
# check NAME REASON COMMAND...: PASS if COMMAND succeeds, else FAIL with REASON.
check() {
    local name=$1 reason=$2
    shift 2
    if "$@"; then pass "$name"; else fail "$name" "$reason"; fi
}
finish() {
    local skips=
    [ "$skipped" = 0 ] || skips=", $skipped skipped"
    echo "$passed passed, $failed failed$skips"
    [ "$failed" = 0 ]
    exit
}

# This script creates cgroups: never let it near a host's hierarchy.
if [ "${NOOK_VM:-}" != 1 ] || [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    echo "$0: run me in the test guest: tests/vm/run.sh -- $0" >&2
    exit 2
fi

work=$(mktemp -d)
cleanup() {
    local c
    for c in "$id" "$id-limits" "$id-exec"; do
        timeout "$step_timeout" "$nook" --root "$state" delete --force "$c" >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

# --- the guest --------------------------------------------------------------

check cgroup2-mounted "/sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup)" \
    test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs
check cgroup2-nsdelegate "no nsdelegate in the mount options" \
    grep -q ' /sys/fs/cgroup .* cgroup2 .*nsdelegate' /proc/self/mountinfo
for c in memory pids cpu io; do
    check "controller-$c" "not in the root's cgroup.subtree_control" \
        grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control
done

blockdev_ok() {
    [ -b "${NOOK_VM_BLOCKDEV:-}" ] &&
        [ "$(stat -Lc '%Hr:%Lr' "$NOOK_VM_BLOCKDEV")" = "${NOOK_VM_BLOCKDEV_MAJMIN:-}" ]
}
check blockdev "NOOK_VM_BLOCKDEV='${NOOK_VM_BLOCKDEV:-}' NOOK_VM_BLOCKDEV_MAJMIN='${NOOK_VM_BLOCKDEV_MAJMIN:-}'" \
    blockdev_ok

tools_ok=1
for tool in "$nook" jq /usr/bin/busybox; do
    command -v "$tool" >/dev/null || {
        fail "tool-${tool##*/}" "$tool not found (nook: make build on the host; others: make deps)"
        tools_ok=0
    }
done
[ "$tools_ok" = 1 ] || finish
pass tools

# --- containers -------------------------------------------------------------

# One busybox bundle for both containers: mkbundle's few hundred `ln`
# processes take a while under TCG. Each container gets its own config.json
# from the default spec's, edited by jq.
bundle=$work/bundle
make_bundle() {
    if ! scripts/mkbundle.sh -r "$nook" "$bundle" >"$work/mkbundle.log" 2>&1; then
        fail mkbundle "$(cat "$work/mkbundle.log")"
        return 1
    fi
    cp "$bundle/config.json" "$work/config.default.json"
    pass mkbundle
}

# set_config SCRIPT [JQ-ARG...] JQ-FILTER: the default config, with
# `sh -c SCRIPT` as the process, edited by JQ-FILTER.
set_config() {
    local script=$1
    shift
    jq --arg script "$script" "${@:1:$#-1}" \
        ".process.args = [\"sh\", \"-c\", \$script] | ${!#}" \
        "$work/config.default.json" >"$bundle/config.json"
}

# The default spec's container: it prints its cgroup and the controllers
# of its /sys/fs/cgroup, then waits until we create /tmp/stop in its rootfs,
# so that we can look at its cgroup while it runs.
default_container() {
    local out=$work/default.out run_pid pid= path= dir rc=0
    set_config 'cat /proc/self/cgroup
        echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
        while [ ! -e /tmp/stop ]; do sleep 0.1; done' .

    timeout "$step_timeout" "$nook" --root "$state" run --bundle "$bundle" "$id" >"$out" 2>&1 &
    run_pid=$!
    # Wait for the container's output (or for `run` to end).
    for _ in $(seq $((step_timeout * 10))); do
        grep -q '^controllers:' "$out" && break
        kill -0 "$run_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "--- in the container"
    cat "$out"
    check cgroupns-root "/proc/self/cgroup is not 0::/ (the default spec has a cgroup namespace)" \
        grep -qx '0::/' "$out"
    check container-cgroupfs "no cgroup2 controllers at the container's /sys/fs/cgroup" \
        grep -q '^controllers: .*memory' "$out"

    # The same process, seen from the guest's root cgroup namespace.
    pid=$(timeout "$step_timeout" "$nook" --root "$state" state "$id" 2>/dev/null | jq -r '.pid // empty')
    [ -z "$pid" ] || path=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null)
    dir=/sys/fs/cgroup$path
    if [ -n "$path" ] && [ "$path" != / ] && [ -d "$dir" ]; then
        pass cgroup-dir
        echo "--- in the guest: $dir (pid $pid)"
        ls -C -w 100 "$dir"
        echo "cgroup.procs: $(tr '\n' ' ' <"$dir/cgroup.procs")"
        check cgroup-procs "pid $pid not in $dir/cgroup.procs" grep -qx "$pid" "$dir/cgroup.procs"
    else
        fail cgroup-dir "no cgroup below the root for pid '${pid:-?}' (path '${path:-?}')"
    fi

    # pause and resume through cgroup.freeze.
    if [ -n "$path" ] && [ "$path" != / ]; then
        "$nook" --root "$state" pause "$id" >"$work/pause.out" 2>&1
        check pause "frozen not 1 in $dir/cgroup.events: $(cat "$work/pause.out")" \
            grep -qx 'frozen 1' "$dir/cgroup.events"
        check pause-status "state is not paused" \
            sh -c "'$nook' --root '$state' state '$id' | grep -q '\"paused\"'"
        "$nook" --root "$state" resume "$id" >"$work/resume.out" 2>&1
        check resume "frozen not 0 in $dir/cgroup.events: $(cat "$work/resume.out")" \
            grep -qx 'frozen 0' "$dir/cgroup.events"
    fi

    # Let the container exit; `run` then deletes it and its cgroup.
    touch "$bundle/rootfs/tmp/stop"
    wait "$run_pid" || rc=$?
    check run-exit "nook run exited $rc: $(tail -n 3 "$out" | tr '\n' ' ')" test "$rc" = 0
    if [ -n "$path" ] && [ "$path" != / ]; then
        check cgroup-removed "$dir still exists after run" test ! -e "$dir"
    fi
}

# Memory and pids limits, read back inside the container through its
# cgroup namespace. SKIP while nook rejects the fields as not supported.
limits_container() {
    local out=$work/limits.out rc=0
    set_config 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max' \
        --argjson mem "$mem_limit" --argjson pids "$pids_limit" \
        '.linux.resources.memory = {limit: $mem} | .linux.resources.pids = {limit: $pids}'
    timeout "$step_timeout" "$nook" --root "$state" run --bundle "$bundle" "$id-limits" \
        >"$out" 2>&1 || rc=$?
    echo "--- limits container"
    cat "$out"
    if grep 'level=error' "$out" | grep -q 'linux.resources.* is not supported yet'; then
        skip limits "$(grep 'level=error' "$out" | grep -o 'linux.resources.* is not supported yet' | head -n1)"
        return
    fi
    check limits "want memory.max $mem_limit, pids.max $pids_limit, exit 0; got exit $rc" \
        test "$rc" = 0 -a "$(grep -v 'level=' "$out" | tr '\n' ' ')" = "$mem_limit $pids_limit "
}

# blockIO throttles and weights on the guest's test disk and a 2MB
# hugepage limit, read back inside the container (io.max, io.weight,
# hugetlb.2MB.max).
io_hugetlb_container() {
    local out=$work/io.out rc=0 majmin=${NOOK_VM_BLOCKDEV_MAJMIN:-}
    if [ -z "$majmin" ]; then
        skip io-hugetlb "no test block device in this guest"
        return
    fi
    # A per-device io.weight needs a weight-based controller on the disk:
    # iocost (built into Debian's kernel), switched on at the root.
    echo "$majmin enable=1" >/sys/fs/cgroup/io.cost.qos ||
        fail io-cost "cannot enable iocost on $majmin"
    set_config 'cat /sys/fs/cgroup/io.max /sys/fs/cgroup/hugetlb.2MB.max /sys/fs/cgroup/io.weight' \
        --argjson maj "${majmin%%:*}" --argjson min "${majmin##*:}" \
        '.linux.resources.blockIO = {throttleWriteBpsDevice: [{major: $maj, minor: $min, rate: 1048576}],
                                     weight: 500, weightDevice: [{major: $maj, minor: $min, weight: 100}]}
         | .linux.resources.hugepageLimits = [{pageSize: "2MB", limit: 4194304}]'
    timeout "$step_timeout" "$nook" --root "$state" run --bundle "$bundle" "$id-io" \
        >"$out" 2>&1 || rc=$?
    echo "--- io/hugetlb container"
    cat "$out"
    check io-max "want '$majmin rbps=max wbps=1048576 ...' in io.max, exit 0; got exit $rc" \
        grep -q "^$majmin rbps=max wbps=1048576" "$out"
    check hugetlb-max "want hugetlb.2MB.max 4194304" grep -qx 4194304 "$out"
    # blkio weights 500 and 100 as io.weight (iocost's file, built into
    # Debian's kernel): runc's conversion to 1..10000 gives 4950 and 910.
    check io-weight "want 'default 4950' and '$majmin 910' in io.weight" \
        sh -c "grep -qx 'default 4950' '$out' && grep -qx '$majmin 910' '$out'"
}

# memory.max OOM-kills a hog, and `events` reports it (and stats before).
oom_container() {
    local out=$work/oom.out ev=$work/oom.events rc=0
    set_config 'while [ ! -e /tmp/go ]; do sleep 0.05; done; x=a; while true; do x=$x$x; done' \
        '.linux.resources.memory = {limit: 33554432, swap: 33554432}'
    rm -f "$bundle/rootfs/tmp/go"
    if ! timeout "$step_timeout" "$nook" --root "$state" run -d --bundle "$bundle" "$id-oom" >"$out" 2>&1; then
        fail oom "run -d failed: $(cat "$out")"
        return
    fi
    timeout "$step_timeout" "$nook" --root "$state" events --interval 200ms "$id-oom" >"$ev" 2>&1 &
    local events_pid=$!
    sleep 0.5
    touch "$bundle/rootfs/tmp/go"
    wait "$events_pid" || rc=$?
    echo "--- oom events"
    cut -c1-100 "$ev"
    check oom-stats "no stats event (events exit $rc)" grep -q '"type":"stats"' "$ev"
    check oom-event "no oom event (events exit $rc)" grep -q '"type":"oom"' "$ev"
    "$nook" --root "$state" delete --force "$id-oom" >/dev/null 2>&1
}

# cpu.max and pids.max inside, a fork loop stopped by pids.max, and a
# live `update` of both.
cpu_pids_update_container() {
    local out=$work/cpu.out cg
    # ash exits when a fork fails, so the forks run in a subshell, and the
    # shell then waits on a fifo with a builtin: it never forks again.
    set_config '(for i in $(seq 20); do sleep 30 & done) 2>/tmp/forks.err
        read x </tmp/block' \
        '.linux.resources.cpu = {quota: 50000, period: 100000} | .linux.resources.pids = {limit: 8} | .root.readonly = false'
    rm -f "$bundle/rootfs/tmp/block" "$bundle/rootfs/tmp/forks.err"
    mkfifo "$bundle/rootfs/tmp/block"
    if ! timeout "$step_timeout" "$nook" --root "$state" run -d --bundle "$bundle" "$id-cpu" >"$out" 2>&1; then
        fail cpu-pids "run -d failed: $(cat "$out")"
        return
    fi
    local pid path
    pid=$("$nook" --root "$state" state "$id-cpu" | jq -r .pid)
    path=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
    cg=/sys/fs/cgroup$path
    for _ in $(seq 50); do [ -s "$bundle/rootfs/tmp/forks.err" ] && break; sleep 0.1; done
    check cpu-max "cpu.max is '$(cat "$cg/cpu.max")'" grep -qx '50000 100000' "$cg/cpu.max"
    check pids-max "pids.max is '$(cat "$cg/pids.max")'" grep -qx 8 "$cg/pids.max"
    check pids-fork-limit "pids.current $(cat "$cg/pids.current") > 8 or no fork failed" \
        sh -c "[ \$(cat '$cg/pids.current') -le 8 ] && [ -s '$bundle/rootfs/tmp/forks.err' ]"
    "$nook" --root "$state" update --cpu-quota 20000 --pids-limit 12 "$id-cpu" >"$out" 2>&1
    check update-cpu "cpu.max after update is '$(cat "$cg/cpu.max")': $(cat "$out")" grep -qx '20000 100000' "$cg/cpu.max"
    check update-pids "pids.max after update is '$(cat "$cg/pids.max")'" grep -qx 12 "$cg/pids.max"
    "$nook" --root "$state" delete --force "$id-cpu" >/dev/null 2>&1
    check cpu-cgroup-removed "$cg still exists after delete --force" test ! -e "$cg"
}

# The eBPF device program: /dev/null is allowed by default, a node for
# /dev/mem (1:1) made in the container is not.
devices_container() {
    local out=$work/dev.out rc=0
    set_config 'head -c 1 /dev/zero >/dev/null && echo zero-ok
        head -c 1 /dev/nook-mem >/dev/null 2>&1 && echo mem-readable || echo mem-denied' \
        '.linux.devices = [{path: "/dev/nook-mem", type: "c", major: 1, minor: 1, fileMode: 384}]'
    timeout "$step_timeout" "$nook" --root "$state" run --bundle "$bundle" "$id-dev" >"$out" 2>&1 || rc=$?
    echo "--- devices container"
    cat "$out"
    check device-allowed "/dev/zero was not readable (exit $rc)" grep -qx zero-ok "$out"
    check device-denied "/dev/mem (1:1) was readable despite the deny rule" grep -qx mem-denied "$out"
}

# `nook exec` on v2: the new process is born in the container's cgroup
# (CLONE_INTO_CGROUP) and cgroup namespace; --cgroup puts it in a
# sub-cgroup; --ignore-paused joins a frozen cgroup and runs on resume.
exec_container() {
    local c=$id-exec out=$work/exec.out pid dir path sub rc=0
    set_config 'sleep 1000' .
    if ! timeout "$step_timeout" "$nook" --root "$state" run -d --bundle "$bundle" "$c" >"$out" 2>&1; then
        fail exec "run -d failed: $(cat "$out")"
        return
    fi
    pid=$("$nook" --root "$state" state "$c" | jq -r .pid)
    path=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
    dir=/sys/fs/cgroup$path
    timeout "$step_timeout" "$nook" --root "$state" exec "$c" cat /proc/self/cgroup >"$out" 2>&1
    check exec-cgroupns "exec's /proc/self/cgroup is not 0::/: $(cat "$out")" grep -qx '0::/' "$out"
    timeout "$step_timeout" "$nook" --root "$state" exec -d --pid-file "$work/exec.pid" "$c" sleep 100 >"$out" 2>&1
    check exec-v2-cgroup "detached exec not in $path: $(cat "$out") $(cat "/proc/$(cat "$work/exec.pid" 2>/dev/null)/cgroup" 2>&1)" \
        grep -qx "0::$path" "/proc/$(cat "$work/exec.pid" 2>/dev/null)/cgroup"
    sub=$dir/sub
    mkdir "$sub"
    timeout "$step_timeout" "$nook" --root "$state" exec --cgroup sub "$c" cat /proc/self/cgroup >"$out" 2>&1
    check exec-cgroup-sub "--cgroup sub: $(cat "$out")" grep -qx '0::/sub' "$out"
    timeout "$step_timeout" "$nook" --root "$state" exec --cgroup memory,pids:sub "$c" cat /proc/self/cgroup >"$out" 2>&1
    check exec-cgroup-ctrl-sub "--cgroup memory,pids:sub: $(cat "$out")" grep -qx '0::/sub' "$out"
    rmdir "$sub"
    "$nook" --root "$state" pause "$c" >/dev/null 2>&1
    timeout "$step_timeout" "$nook" --root "$state" exec --ignore-paused "$c" echo resumed >"$out" 2>&1 &
    local exec_pid=$!
    sleep 2
    check exec-paused-waits "exec ran while paused: $(cat "$out")" kill -0 "$exec_pid"
    "$nook" --root "$state" resume "$c" >/dev/null 2>&1
    wait "$exec_pid" || rc=$?
    check exec-ignore-paused "exit $rc: $(cat "$out")" grep -qx resumed "$out"
    timeout "$step_timeout" "$nook" --root "$state" delete --force "$c" >/dev/null 2>&1
    check exec-cleanup "$dir still exists after delete" test ! -e "$dir"
}

make_bundle || finish
exec_container
default_container
limits_container
io_hugetlb_container
oom_container
cpu_pids_update_container
devices_container
finish
