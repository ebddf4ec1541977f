#!/bin/sh
# PID 1 of the test guest (busybox sh). tests/vm/run.sh packs this file into
# the initramfs as /init, next to /bin/busybox and /modules.
#
#   /init          stage 1, in the initramfs: load modules, build the new root
#   /init stage2   stage 2, PID 1 again after switch_root: run the command
#
# The host shares three directories over virtio-9p (mount tags):
#   hostroot  the host's / (read-only); the lower layer of the new root
#   work      the repo, read-write, mounted at its host path
#   ctl       this run's control dir: env (settings), cmd (the command as a
#             bash script); we write status (the command's exit status) there
# The command's stdout and stderr go to the virtio-serial port "nook.out".
# Anything that goes wrong ends in a reboot without a status file, which the
# host reports as exit status 125 along with the tail of the serial console.

bb=/bin/busybox

die() {
    echo "vm-init: $*" >&2
    $bb reboot -f
    # Should reboot fail, PID 1 exits: the kernel panics and, with panic=-1
    # and QEMU's -no-reboot, that also ends the VM.
    exit 1
}

# Mount or die, naming the target in the message.
mnt() {
    eval "target=\${$#}"
    $bb mount "$@" || die "mount $target failed"
}

stage1() {
    export PATH=/bin
    mnt -t proc proc /proc
    mnt -t sysfs sysfs /sys
    mnt -t devtmpfs devtmpfs /dev

    # No modules.dep in the Debian package; run.sh resolved the order.
    while read -r mod; do
        insmod "/modules/$mod.ko" || die "insmod $mod failed"
    done </modules/order

    mkdir -p /ctl /lower /rw /newroot
    mnt -t 9p -o trans=virtio,version=9p2000.L,msize=512000 ctl /ctl
    # WORKDIR: the repo's path on the host.
    . /ctl/env
    [ -n "$WORKDIR" ] || die "no WORKDIR in /ctl/env"

    # New root = host root (read-only, cache=loose: it does not change under
    # us) with a tmpfs upper layer, so the guest can write anywhere and none
    # of it reaches the host.
    mnt -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower
    mnt -t tmpfs -o mode=0755 tmpfs /rw
    mkdir -p /rw/upper /rw/work
    mnt -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot

    # Fresh kernel filesystems over the host's directories. /run and /tmp
    # get their own tmpfs, or host state (e.g. /run/runc) would show through.
    mnt -t proc proc /newroot/proc
    mnt -t sysfs sysfs /newroot/sys
    mnt -t devtmpfs devtmpfs /newroot/dev
    mkdir -p /newroot/dev/pts /newroot/dev/shm
    mnt -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /newroot/dev/pts
    mnt -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
    mnt -t tmpfs -o mode=0755 tmpfs /newroot/run
    mnt -t tmpfs -o mode=1777 tmpfs /newroot/tmp

    if [ "${LAYOUT:-v2}" = hybrid ]; then
        # Hybrid: v1 hierarchies for most controllers, cgroup2 at unified
        # keeps the rest (hugetlb among them), nothing enabled there.
        mnt -t tmpfs -o mode=0755 tmpfs /newroot/sys/fs/cgroup
        for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
            mkdir -p "/newroot/sys/fs/cgroup/$c"
            mnt -t cgroup -o "$c" cgroup "/newroot/sys/fs/cgroup/$c"
        done
        mkdir -p /newroot/sys/fs/cgroup/unified
        mnt -t cgroup2 cgroup2 /newroot/sys/fs/cgroup/unified
    elif [ "${LAYOUT#systemd}" != "$LAYOUT" ]; then
        # systemd mounts the cgroups itself and owns them (boot_systemd).
        :
    else
        # Pure cgroup v2 with every controller handed down from the root.
        mnt -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /newroot/sys/fs/cgroup
        for c in $(cat /newroot/sys/fs/cgroup/cgroup.controllers); do
            echo "+$c" >/newroot/sys/fs/cgroup/cgroup.subtree_control ||
                die "cannot enable cgroup controller $c"
        done
    fi

    # The repo, read-write at the same path as on the host. cache=mmap:
    # shared writable mmap (e.g. cargo, linkers) needs it.
    # Its mount point may sit on one of the fresh tmpfs above (a clone under
    # /tmp, say), so make it first.
    mkdir -p "/newroot$WORKDIR"
    mnt -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap work "/newroot$WORKDIR"

    # Stage 2 runs in the new root and needs busybox and this script there;
    # /run/vm is on the new root's tmpfs, so nothing lands on the host.
    mkdir -p /newroot/run/vm /newroot/run/vm-ctl
    cp $bb /init /newroot/run/vm/
    mnt --move /ctl /newroot/run/vm-ctl

    # switch_root, not chroot: a chrooted process cannot create user
    # namespaces, and setns to a mount namespace by path would land in the
    # initramfs. switch_root makes /newroot the real root.
    if [ "${LAYOUT#systemd}" != "$LAYOUT" ]; then
        boot_systemd
    fi
    exec switch_root /newroot /run/vm/busybox sh /run/vm/init stage2
    die "switch_root failed"
}

# NOOK_VM_LAYOUT=systemd or systemd-hybrid (run.sh picks the cgroup layout
# on the kernel command line): systemd (the host's /lib/systemd/systemd) becomes
# PID 1 and boots straight into nook-vm.service, which runs stage 2. Only
# that unit, D-Bus and what they pull in start; units that are slow under
# emulation or touch host devices are masked. All of it is written into the
# overlay's upper layer (guest RAM).
boot_systemd() {
    etc=/newroot/etc/systemd/system
    mkdir -p "$etc"
    cat >"$etc/nook-vm.service" <<'UNIT'
[Unit]
Description=nook VM test command (tests/vm/init.sh stage2)
DefaultDependencies=no
Wants=dbus.service
After=dbus.service
[Service]
Type=oneshot
ExecStart=/run/vm/busybox sh /run/vm/init stage2
TimeoutStartSec=infinity
UNIT
    # The host's fstab names the host's disks: none of them are here.
    : >/newroot/etc/fstab
    # The host may be a container (Docker's marker file): the guest is not,
    # and systemd must read the kernel command line, not /proc/1/cmdline.
    rm -f /newroot/.dockerenv
    for u in systemd-udevd.service systemd-udev-trigger.service \
        systemd-udev-settle.service systemd-random-seed.service \
        systemd-timesyncd.service systemd-pstore.service \
        systemd-journal-flush.service systemd-binfmt.service \
        systemd-firstboot.service systemd-repart.service \
        systemd-machine-id-commit.service systemd-remount-fs.service \
        systemd-hwdb-update.service ldconfig.service \
        proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount \
        sys-kernel-tracing.mount sys-kernel-config.mount \
        sys-fs-fuse-connections.mount dev-hugepages.mount \
        podman.socket getty.target timers.target remote-fs.target \
        cryptsetup.target veritysetup.target integritysetup.target \
        systemd-pcrphase.service systemd-pcrphase-sysinit.service; do
        ln -sf /dev/null "$etc/$u"
    done
    exec switch_root /newroot /lib/systemd/systemd --unit=nook-vm.service \
        --log-level=warning --show-status=no
    die "switch_root to systemd failed"
}

# The /dev node of the virtio-serial port with this name.
port_dev() {
    for f in /sys/class/virtio-ports/*/name; do
        if [ "$($bb cat "$f")" = "$1" ]; then
            p=${f%/name}
            echo "/dev/${p##*/}"
            return 0
        fi
    done
    return 1
}

stage2() {
    bb=/run/vm/busybox
    ctl=/run/vm-ctl
    . $ctl/env
    out=$(port_dev nook.out) || die "no virtio-serial port nook.out"
    $bb hostname nook-vm
    $bb ip link set lo up

    # The test block device (run.sh attaches one virtio-blk disk).
    if [ -b /dev/vda ]; then
        export NOOK_VM_BLOCKDEV=/dev/vda
        NOOK_VM_BLOCKDEV_MAJMIN=$($bb cat /sys/block/vda/dev)
        export NOOK_VM_BLOCKDEV_MAJMIN
    fi
    export NOOK_VM=1 HOME=/root TERM=dumb LANG=C.UTF-8
    export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

    cd "$WORKDIR" || die "cd $WORKDIR failed"
    /bin/bash $ctl/cmd </dev/null >"$out" 2>&1
    rc=$?
    # Write, then rename: the host must never read half a number.
    { echo $rc >$ctl/status.new && $bb mv $ctl/status.new $ctl/status; } ||
        echo "vm-init: cannot write the exit status $rc" >&2
    $bb sync
    $bb reboot -f
}

case "${1:-}" in
stage2) stage2 ;;
*) stage1 ;;
esac
die "unreachable"
