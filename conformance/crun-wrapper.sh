#!/bin/sh
# Run crun as a runc-compatible runtime on this host, for `run.sh --runtime`.
#
# The host has a hybrid cgroup layout: cgroup v1 controllers under
# /sys/fs/cgroup plus a cgroup2 mount at /sys/fs/cgroup/unified. crun 1.8
# treats the presence of that cgroup2 mount as "use the unified hierarchy"
# and then fails to place the container. Unmounting it in a private mount
# namespace (so the host keeps it) makes crun fall back to plain cgroup v1.
# The unmount may fail if there is nothing to unmount; that is fine.
#
# Everything crun keeps on disk lives under --root, outside the private
# mount namespace's changes, so successive invocations see the same state.
exec unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' crun "$@"
