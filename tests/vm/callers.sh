#!/bin/sh
# Runs in a guest (tests/vm/run.sh): nook under real Podman and containerd
# (tests/callers) on the guest's cgroup layout. With systemd as PID 1
# (NOOK_VM_LAYOUT=systemd) Podman uses its systemd cgroup manager, so it
# calls nook with --systemd-cgroup and machine.slice:libpod:<id> paths.
cd "$(dirname "$0")/../.." || exit 1
status=0
if [ -d /run/systemd/system ]; then
    NOOK_PODMAN_CGROUP_MANAGER=systemd tests/callers/podman.sh || status=1
else
    tests/callers/podman.sh || status=1
fi
tests/callers/containerd.sh || status=1
exit $status
