#!/bin/bash
# nook under real Podman (and so conmon): Podman calls the runtime exactly as
# it calls runc, with its own seccomp profile, console sockets, pid files,
# `exec --detach` for every exec, and cgroupfs resource limits.
#
#   tests/callers/podman.sh [--runtime PATH] [CASE...]   (default: target/release/nook)
#
# Everything Podman keeps lives in a temp dir: image store (vfs driver, so no
# storage mounts), run root, containers.conf, events log. Cgroups that
# appear while the suite runs (Podman's cgroup parent, conmon's cgroup) are
# removed at the end; nothing that existed before is touched.
#
# NOOK_PODMAN_CGROUP_MANAGER=systemd makes Podman use its systemd cgroup
# manager (it then calls the runtime with --systemd-cgroup and
# machine.slice:libpod:<id> paths); the default is cgroupfs.
#
# This host's bounding set lacks CAP_SYS_RESOURCE, so the test containers.conf
# sets the ulimits Podman would otherwise try to raise (see README).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
parse_args 13 "$@"
need podman conmon

work=$(mktemp -d /tmp/nook-podman.XXXXXX) || exit 1
snapshot_cgroups

cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "${NOOK_PODMAN_CGROUP_MANAGER:-cgroupfs}"
events_logger = "file"
events_logfile_path = "$work/events.log"
runtime = "nook"
[engine.runtimes]
nook = ["$runtime"]
EOF
export CONTAINERS_CONF=$work/containers.conf
# conmon makes its console sockets under TMPDIR: keep them in the work dir.
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp
pm() {
    podman --root "$work/storage" --runroot "$work/run" --storage-driver vfs \
        --tmpdir "$work/tmp" "$@"
}

cleanup() {
    pm rm -af -t 0 >/dev/null 2>&1
    pm system reset -f >/dev/null 2>&1
    remove_new_cgroups
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | pm import -q - localhost/nook-busybox >/dev/null ||
    { echo "FAIL setup: podman import"; exit 1; }
img=localhost/nook-busybox

# ---------------------------------------------------------------------------

case_run_echo() {
    local out
    out=$(pm run --rm $img echo hello) || fail "podman run: $out"
    want_eq output "$out" hello
}

case_exit_code() {
    pm run --rm $img sh -c 'exit 3'
    want_eq "exit status" $? 3
}

case_default_seccomp_profile() {
    local out
    out=$(pm run --rm $img sh -c 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status | tr -s "\t\n" "  "')
    want_match status "$out" 'Seccomp: 2 '
}

case_seccomp_denies() {
    # Podman's profile refuses unshare without CAP_SYS_ADMIN.
    local out
    out=$(pm run --rm $img unshare -m true 2>&1)
    [ $? -ne 0 ] || fail "unshare succeeded under the default profile"
    want_match error "$out" 'Operation not permitted'
}

case_unconfined() {
    local out
    out=$(pm run --rm --security-opt seccomp=unconfined $img grep Seccomp: /proc/self/status)
    want_match status "$out" 'Seccomp:[[:space:]]+0'
}

case_tty() {
    local out
    out=$(pm run --rm -t $img tty | tr -d '\r')
    want_eq tty "$out" /dev/pts/0
}

case_detached_exec() {
    pm run -d --name ex --hostname box $img sleep 100 >/dev/null || fail "run -d"
    local out
    out=$(pm exec ex hostname) || fail "exec hostname: $out"
    want_eq hostname "$out" box
    out=$(pm exec ex sh -c 'echo $$') || fail "exec pid: $out"
    [ "$out" -lt 100 ] || fail "exec pid $out is not in the container's pid namespace"
    pm exec ex sh -c 'exit 5'
    want_eq "exec exit status" $? 5
    out=$(pm exec -t ex tty | tr -d '\r')
    want_match "exec tty" "$out" '^/dev/pts/[0-9]+$'
    out=$(pm exec -u 65534 ex id -u)
    want_eq "exec user" "$out" 65534
    out=$(pm exec -e FOO=bar ex sh -c 'echo $FOO')
    want_eq "exec env" "$out" bar
    pm rm -f -t 0 ex >/dev/null
}

case_pause_unpause() {
    pm run -d --name pz $img sleep 100 >/dev/null || fail "run -d"
    pm pause pz >/dev/null || fail "pause"
    want_eq state "$(pm inspect -f '{{.State.Status}}' pz)" paused
    pm unpause pz >/dev/null || fail "unpause"
    want_eq state "$(pm inspect -f '{{.State.Status}}' pz)" running
    pm rm -f -t 0 pz >/dev/null
}

case_stop_and_kill() {
    pm run -d --name st $img sleep 100 >/dev/null || fail "run -d"
    pm kill -s USR1 st >/dev/null || fail "kill"
    pm wait st >/dev/null
    want_eq state "$(pm inspect -f '{{.State.Status}}' st)" exited
    pm start st >/dev/null || fail "restart"
    pm stop -t 1 st >/dev/null || fail "stop"
    want_eq state "$(pm inspect -f '{{.State.Status}}' st)" exited
    pm rm st >/dev/null || fail "rm"
}

case_resources() {
    local out
    out=$(pm run --rm --memory 64m --pids-limit 50 --cpu-shares 512 $img sh -c \
        'for f in memory/memory.limit_in_bytes pids/pids.max cpu/cpu.shares memory.max pids.max cpu.weight; do
             [ -f /sys/fs/cgroup/$f ] && cat /sys/fs/cgroup/$f; done | tr "\n" " "')
    # cgroup v1 values, or the v2 ones (cpu.weight of shares 512 is 20).
    want_match limits "$out" '^(67108864 50 512 |67108864 50 20 )$'
}

case_update() {
    pm update --help >/dev/null 2>&1 || skip "this podman has no update command"
    pm run -d --name up --memory 64m $img sleep 100 >/dev/null || fail "run -d"
    pm update --memory 96m up >/dev/null || fail "update"
    local out
    out=$(pm exec up sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max')
    want_eq "memory limit" "$out" 100663296
    pm rm -f -t 0 up >/dev/null
}

case_logs_and_top() {
    pm run -d --name lg $img sh -c 'echo logged; sleep 100' >/dev/null || fail "run -d"
    sleep 0.5
    want_eq logs "$(pm logs lg)" logged
    local out
    out=$(pm top lg pid comm | tail -n +2 | awk '{print $2}' | sort | tr '\n' ' ')
    want_match top "$out" 'sleep'
    pm rm -f -t 0 lg >/dev/null
}

case_read_only_with_tmpfs() {
    # Podman asks for tmpcopyup on --tmpfs and on the tmpfs mounts of a
    # --read-only container.
    local out
    out=$(pm run --rm --read-only --tmpfs /opt $img sh -c \
        'touch /opt/x && echo tmpfs-ok; touch /bin/x 2>/dev/null || echo root-ro')
    want_eq output "$(echo $out)" "tmpfs-ok root-ro"
}

case_user_namespace() {
    local out
    out=$(pm run --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 $img \
        sh -c 'id -u; cat /proc/self/uid_map' | tr -s ' \n' ' ')
    want_eq "id and uid_map" "$out" "0 0 100000 65536 "
}

case_many_execs() {
    pm run -d --name me $img sleep 100 >/dev/null || fail "run -d"
    local i pids=() bad=0
    for i in $(seq 10); do pm exec me true & pids+=($!); done
    for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
    want_eq "failed execs" $bad 0
    pm rm -f -t 0 me >/dev/null
}

run_cases
