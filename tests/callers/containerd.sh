#!/bin/bash
# nook under real containerd: a private containerd daemon, its runc v2 shim
# (containerd-shim-runc-v2) told to use nook as its runc binary, driven with
# ctr. The shim calls the runtime as it calls runc: create with a pid file
# and console socket, start, exec --detach --process, kill, delete, pause,
# resume, and reads `events --stats` style data from cgroups itself.
#
#   tests/callers/containerd.sh [--runtime PATH] [CASE...]   (default: target/release/nook)
#
# The daemon, its root and state, and the image (an OCI archive of busybox
# built here, no registry) live in a temp dir and go away at the end; the
# "native" snapshotter keeps image storage free of mounts. Cgroups made while
# the suite runs are removed at the end; nothing older is touched.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
parse_args 14 "$@"
need containerd ctr containerd-shim-runc-v2

work=$(mktemp -d /tmp/nook-containerd.XXXXXX) || exit 1
snapshot_cgroups
sock=$work/containerd.sock
ns=nooktest

cat >"$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
EOF

c() { ctr --address "$sock" --namespace $ns "$@"; }
crun_() { c run --runc-binary "$runtime" --snapshotter native "$@"; }

daemon=
cleanup() {
    local t
    for t in $(c tasks ls -q 2>/dev/null); do c tasks kill -s KILL "$t" >/dev/null 2>&1; done
    sleep 0.2
    for t in $(c tasks ls -q 2>/dev/null); do c tasks delete -f "$t" >/dev/null 2>&1; done
    for t in $(c containers ls -q 2>/dev/null); do c containers rm "$t" >/dev/null 2>&1; done
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    remove_new_cgroups
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && c version >/dev/null 2>&1 && break; sleep 0.1; done
c version >/dev/null 2>&1 || { echo "FAIL setup: containerd did not start"; tail "$work/containerd.log"; exit 1; }

# An OCI image archive (oci-layout, index.json, blobs) of a busybox rootfs.
blob() { # FILE MEDIATYPE → moves FILE into blobs, prints its descriptor
    local d s
    d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
    mv "$1" "$work/oci/blobs/sha256/$d"
    printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$d" "$s"
}
make_image() {
    mkdir -p "$work/oci/blobs/sha256"
    make_rootfs "$work/rootfs"
    tar -C "$work/rootfs" -cf "$work/layer.tar" .
    local diff layer config manifest
    diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    layer=$(blob "$work/layer.tar" application/vnd.oci.image.layer.v1.tar)
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$diff" >"$work/config.json"
    config=$(blob "$work/config.json" application/vnd.oci.image.config.v1+json)
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
        "$config" "$layer" >"$work/manifest.json"
    manifest=$(blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)
    printf '{"schemaVersion":2,"manifests":[%s]}' \
        "${manifest%\}},\"annotations\":{\"org.opencontainers.image.ref.name\":\"localhost/nook-busybox:latest\"}}" \
        >"$work/oci/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
    tar -C "$work/oci" -cf "$work/image.tar" .
    c images import --snapshotter native --base-name localhost/nook-busybox "$work/image.tar" >/dev/null
}
make_image || { echo "FAIL setup: image import"; exit 1; }
img=localhost/nook-busybox:latest
c images ls -q | grep -qx "$img" || { echo "FAIL setup: image $img missing after import"; exit 1; }

# ---------------------------------------------------------------------------

case_run_echo() {
    local out
    out=$(crun_ --rm $img t-echo echo hello) || fail "ctr run: $out"
    want_eq output "$out" hello
}

case_exit_code() {
    crun_ --rm $img t-exit sh -c 'exit 3'
    want_eq "exit status" $? 3
}

case_default_seccomp_profile() {
    local out
    out=$(crun_ --rm --seccomp $img t-sec grep Seccomp: /proc/self/status)
    want_match status "$out" 'Seccomp:[[:space:]]+2'
}

case_tty() {
    local out
    out=$(script -qec "ctr --address $sock --namespace $ns run --runc-binary $runtime --snapshotter native --rm -t $img t-tty tty" /dev/null </dev/null | tr -d '\r')
    want_match tty "$out" '/dev/pts/0'
}

case_exec_pause_kill() {
    crun_ -d $img t-ex sleep 100 >/dev/null || fail "run -d"
    local out
    out=$(c tasks exec --exec-id e1 t-ex sh -c 'echo $$') || fail "exec: $out"
    [ "$out" -lt 100 ] || fail "exec pid $out is not in the container's pid namespace"
    c tasks exec --exec-id e2 t-ex sh -c 'exit 4'
    want_eq "exec exit status" $? 4
    c tasks pause t-ex || fail "pause"
    want_match "paused" "$(c tasks ls | grep t-ex)" PAUSED
    c tasks resume t-ex || fail "resume"
    want_match "running" "$(c tasks ls | grep t-ex)" RUNNING
    c tasks kill -s KILL t-ex || fail "kill"
    for _ in $(seq 50); do c tasks ls | grep t-ex | grep -q STOPPED && break; sleep 0.1; done
    want_match "stopped" "$(c tasks ls | grep t-ex)" STOPPED
    c tasks delete t-ex >/dev/null || fail "task delete"
    c containers rm t-ex || fail "container rm"
}

# memory_limit TASK: the memory limit of the task's cgroup, read on the host.
memory_limit() {
    local pid path
    pid=$(c tasks ls | awk -v t="$1" '$1 == t {print $2}')
    path=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ || $2 == "" {print $3; exit}' "/proc/$pid/cgroup")
    if [ -f "/sys/fs/cgroup/memory$path/memory.limit_in_bytes" ]; then
        cat "/sys/fs/cgroup/memory$path/memory.limit_in_bytes"
    else
        cat "/sys/fs/cgroup$path/memory.max"
    fi
}

case_memory_limit_and_metrics() {
    crun_ -d --memory-limit 67108864 $img t-mem sleep 100 >/dev/null || fail "run -d"
    local out
    want_eq "memory limit" "$(memory_limit t-mem)" 67108864
    out=$(c tasks metrics t-mem 2>&1) || fail "metrics: $out"
    want_match metrics "$out" 'memory'
    c tasks kill -s KILL t-mem >/dev/null
    sleep 0.3
    c tasks delete -f t-mem >/dev/null
    c containers rm t-mem
}

case_extra_flags() {
    local out
    out=$(crun_ --rm --net-host --privileged $img t-x1 sh -c 'grep CapEff /proc/self/status')
    want_match privileged "$out" 'CapEff:[[:space:]]+000001ffffffffff|CapEff:[[:space:]]+0000003fffffffff|CapEff:[[:space:]]+000001fffeffffff'
    out=$(crun_ --rm --mount type=bind,src=/etc,dst=/hostetc,options=rbind:ro $img t-x2 sh -c \
        'cat /hostetc/hostname >/dev/null && echo mounted; touch /hostetc/x 2>/dev/null || echo ro')
    want_eq bind-mount "$(echo $out)" "mounted ro"
    out=$(crun_ --rm --cpus 0.5 --memory-limit 33554432 --env A=b $img t-x3 sh -c 'echo $A')
    want_eq env "$out" b
}

run_cases
