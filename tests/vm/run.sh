#!/bin/bash
# Run a command as root inside a throw-away QEMU guest with pure cgroup v2.
#
#   tests/vm/run.sh [--timeout SECS] -- COMMAND [ARG...]
#   tests/vm/run.sh --prepare      only fill the cache (e.g. a CI cache step)
#
# The guest's root is this host's root, read-only over virtio-9p, under a
# tmpfs overlay; the repo is shared read-write at its own path and COMMAND
# runs there. /sys/fs/cgroup is cgroup2 (nsdelegate) with all controllers
# enabled in the root's cgroup.subtree_control. COMMAND's stdout and stderr
# are streamed, merged, to our stdout. The exit status is COMMAND's, or 125
# when the guest did not report one (boot failure, timeout, crash); the tail
# of the guest's serial console is then printed to stderr.
#
# The guest gets one 64 MiB virtio-blk disk for io controller tests; COMMAND
# finds it in NOOK_VM_BLOCKDEV (/dev/vda) and NOOK_VM_BLOCKDEV_MAJMIN.
# NOOK_VM=1 is set too.
#
# The first run prepares target/vm-cache/ (kernel, modules, initramfs; needs
# apt-get, see README.md); later runs only boot. Nothing is installed on the
# host and no host mount or cgroup is touched. See tests/vm/README.md.
#
# Environment: NOOK_VM_CACHE (cache dir), NOOK_VM_KERNEL_PKG (Debian kernel
# package, default: what linux-image-amd64 depends on), NOOK_VM_MEM (MiB,
# default 1024), NOOK_VM_SMP (default 2), NOOK_VM_CONSOLE=1 (print the whole
# serial console log after the run).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${NOOK_VM_CACHE:-$repo/target/vm-cache}
busybox=/usr/bin/busybox
# The modules the guest needs, by name; their dependencies are found from
# each .ko's modinfo and loaded first.
wanted_modules=(virtio_pci virtio_console virtio_blk 9pnet_virtio 9p overlay)
timeout_secs=300
prepare_only=0

log() { echo "vm: $*" >&2; }
die() {
    log "$*"
    exit 125
}

usage() {
    echo "usage: $0 [--timeout SECS] -- COMMAND [ARG...] | $0 --prepare" >&2
    exit 2
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --timeout)
            [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]] || usage
            timeout_secs=$2
            shift 2
            ;;
        --prepare)
            prepare_only=1
            shift
            ;;
        --) shift; break ;;
        *) usage ;;
        esac
    done
    [ $# -ge 1 ] || [ "$prepare_only" = 1 ] || usage
    command_args=("$@")
}

check_host() {
    [ "$(id -u)" = 0 ] || die "run as root (the guest's root must own the shared files)"
    local tool
    for tool in qemu-system-x86_64 apt-get apt-cache dpkg xz timeout flock mkfifo "$busybox"; do
        command -v "$tool" >/dev/null ||
            die "$tool not found (apt-get install qemu-system-x86 busybox-static xz-utils)"
    done
    # QEMU's -virtfs and -chardev options are comma-separated; the guest's
    # init sources these paths in single quotes.
    case "$repo$cache${TMPDIR:-}" in
    *,* | *\'*) die "paths must not contain commas or quotes: $repo, $cache" ;;
    esac
}

# --- preparation (cached) ---------------------------------------------------

# The kernel package: the override, else what linux-image-amd64 points to,
# else (no apt lists) the newest one already in the cache.
kernel_package() {
    if [ -n "${NOOK_VM_KERNEL_PKG:-}" ]; then
        echo "$NOOK_VM_KERNEL_PKG"
        return
    fi
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
    if [ -z "$pkg" ]; then
        pkg=$(find "$cache" -maxdepth 1 -name 'linux-image-*' -printf '%f\n' 2>/dev/null |
            sort -V | tail -n1)
    fi
    [ -n "$pkg" ] || die "cannot tell which kernel package to use (set NOOK_VM_KERNEL_PKG)"
    echo "$pkg"
}

# apt-get download into the current dir; apt-get update once if that fails
# (stale lists name a version the mirror no longer has).
download_package() {
    local pkg=$1
    if ! apt-get download "$pkg" >apt.log 2>&1; then
        log "apt-get download $pkg failed; running apt-get update"
        apt-get update >>apt.log 2>&1 || { cat apt.log >&2; die "apt-get update failed"; }
        apt-get download "$pkg" >>apt.log 2>&1 || { cat apt.log >&2; die "apt-get download $pkg failed"; }
    fi
}

# Cut the uncompressed ELF kernel out of a bzImage: its payload is an xz
# stream; PVH boot (QEMU -kernel with an ELF) needs the vmlinux.
extract_vmlinux() {
    local vmlinuz=$1 out=$2 off
    for off in $(LC_ALL=C grep -aboP '\xFD7zXZ\x00' "$vmlinuz" | cut -d: -f1); do
        # xz complains about the bytes after the stream; the output counts.
        tail -c "+$((off + 1))" "$vmlinuz" | xz -dc >"$out.tmp" 2>/dev/null || true
        if [ "$(head -c4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
            mv "$out.tmp" "$out"
            return 0
        fi
    done
    rm -f "$out.tmp"
    die "no xz-compressed ELF found in $vmlinuz"
}

# modinfo's depends= of a .ko, comma-separated (read from the .modinfo
# strings, so kmod need not be installed).
module_depends() {
    tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1
}

# Copy the wanted modules and everything they depend on into $1/modules,
# with $1/modules/order listing them in load order (dependencies first).
collect_modules() {
    local dest=$1 moddir=$2 ko name
    declare -gA module_path=() module_seen=()
    module_order=()
    while IFS= read -r ko; do
        name=${ko##*/}
        name=${name%.ko}
        module_path[${name//-/_}]=$ko
    done < <(find "$moddir" -name '*.ko')
    for name in "${wanted_modules[@]}"; do
        visit_module "$name"
    done
    mkdir -p "$dest/modules"
    for name in "${module_order[@]}"; do
        cp "${module_path[$name]}" "$dest/modules/$name.ko"
    done
    printf '%s\n' "${module_order[@]}" >"$dest/modules/order"
}

# Depth-first: a module goes into the order after all of its dependencies.
visit_module() {
    local name=${1//-/_} dep deps
    [ -z "${module_seen[$name]:-}" ] || return 0
    module_seen[$name]=1
    [ -n "${module_path[$name]:-}" ] || die "kernel module $name not in the package"
    deps=$(module_depends "${module_path[$name]}")
    for dep in ${deps//,/ }; do
        visit_module "$dep"
    done
    module_order+=("$name")
}

# target/vm-cache/<kernel package>/{vmlinux,modules/}: downloaded and cut
# once; the .deb and the rest of the package are thrown away.
prepare_kernel() {
    local pkg=$1 dir=$cache/$1
    [ -f "$dir/ready" ] && return 0
    log "preparing kernel $pkg in $dir (first run only)"
    prep_tmp=$(mktemp -d "$cache/tmp.XXXXXX")
    (
        cd "$prep_tmp"
        download_package "$pkg"
        dpkg -x ./"$pkg"_*.deb root
    )
    rm -rf "$dir"
    mkdir -p "$dir"
    extract_vmlinux "$(echo "$prep_tmp"/root/boot/vmlinuz-*)" "$dir/vmlinux"
    collect_modules "$dir" "$prep_tmp/root/lib/modules"
    rm -rf "$prep_tmp"
    prep_tmp=
    touch "$dir/ready"
}

# The initramfs: static busybox, the modules and init.sh as /init. Rebuilt
# when any input changes (the key is a hash of all of them).
prepare_initramfs() {
    local kdir=$1 out=$2 key applet
    key=$(cat "$here/init.sh" "$busybox" "$kdir/modules/order" | sha256sum | cut -d' ' -f1)
    if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
        return 0
    fi
    log "building $out"
    prep_tmp=$(mktemp -d "$cache/tmp.XXXXXX")
    local stage=$prep_tmp
    mkdir -p "$stage"/{bin,dev,proc,sys}
    cp "$busybox" "$stage/bin/busybox"
    for applet in $("$busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
    done
    # The kernel opens /dev/console for init's stdio before devtmpfs exists.
    mknod -m 600 "$stage/dev/console" c 5 1
    cp -r "$kdir/modules" "$stage/modules"
    install -m 0755 "$here/init.sh" "$stage/init"
    (cd "$stage" && find . | "$busybox" cpio -o -H newc 2>/dev/null) >"$out.tmp"
    rm -rf "$stage"
    prep_tmp=
    mv "$out.tmp" "$out"
    echo "$key" >"$out.key"
}

prepare() {
    local pkg
    mkdir -p "$cache"
    # One preparer at a time; a second run waits, then finds it all cached.
    exec {lock_fd}>"$cache/lock"
    flock "$lock_fd"
    pkg=$(kernel_package)
    prepare_kernel "$pkg"
    prepare_initramfs "$cache/$pkg" "$cache/$pkg/initramfs.cpio"
    flock -u "$lock_fd"
    kernel=$cache/$pkg/vmlinux
    initramfs=$cache/$pkg/initramfs.cpio
}

# --- one run ----------------------------------------------------------------

prep_tmp=
ctl=
qemu_pid=
reader_pid=

# On any exit: stop what this script started (by pid: timeout passes the
# signal on to QEMU) and remove the temp dirs.
cleanup() {
    [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
    [ -z "$reader_pid" ] || kill "$reader_pid" 2>/dev/null || true
    [ -z "$ctl" ] || rm -rf "$ctl"
    [ -z "$prep_tmp" ] || rm -rf "$prep_tmp"
}

# The control dir shared with the guest as "ctl": settings, the command,
# the output FIFO, the serial log, the test disk; the guest adds "status".
make_ctl() {
    ctl=$(mktemp -d)
    printf "WORKDIR='%s'\n" "$repo" >"$ctl/env"
    # NOOK_VM_LAYOUT=hybrid: v1 controllers plus cgroup2 at unified, like
    # the development hosts, but in the guest where writing is harmless.
    # NOOK_VM_LAYOUT=systemd (pure v2) or systemd-hybrid: systemd as PID 1.
    printf "LAYOUT='%s'\n" "${NOOK_VM_LAYOUT:-v2}" >>"$ctl/env"
    {
        echo '# written by tests/vm/run.sh'
        printf '%q ' "${command_args[@]}"
        echo
    } >"$ctl/cmd"
    mkfifo "$ctl/out"
    truncate -s 64M "$ctl/disk.img"
}

qemu_args() {
    local append='console=ttyS0 panic=-1 rdinit=/init acpi=noirq tsc=reliable'
    append+=' no_timer_check mitigations=off random.trust_cpu=on loglevel=1'
    # The systemd layouts: systemd on cgroup v2 only, or on systemd's hybrid
    # layout (v1 controllers, cgroup2 at /sys/fs/cgroup/unified).
    case "${NOOK_VM_LAYOUT:-v2}" in
    systemd) append+=' systemd.unified_cgroup_hierarchy=1' ;;
    systemd-hybrid) append+=' systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=0' ;;
    esac
    qemu=(qemu-system-x86_64 -accel tcg -M pc -cpu max
        -m "${NOOK_VM_MEM:-1024}" -smp "${NOOK_VM_SMP:-2}"
        -nodefaults -no-user-config -display none -no-reboot -nic none
        -kernel "$kernel" -initrd "$initramfs" -append "$append"
        -serial "file:$ctl/console.log"
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
        -virtfs "local,path=$repo,mount_tag=work,security_model=none,multidevs=remap"
        -virtfs "local,path=$ctl,mount_tag=ctl,security_model=none"
        -device virtio-serial-pci
        -chardev "file,id=out,path=$ctl/out"
        -device virtserialport,chardev=out,name=nook.out
        -drive "file=$ctl/disk.img,format=raw,if=none,id=disk0"
        -device virtio-blk-pci,drive=disk0)
}

# Boot, stream the output, and return the guest's status (125 if none).
boot() {
    local rc=0 status
    qemu_args
    # The FIFO, not the file itself: a chardev file on our stdout would have
    # its own offset and clobber what else is written there.
    cat "$ctl/out" &
    reader_pid=$!
    timeout -k 10 "$timeout_secs" "${qemu[@]}" </dev/null &
    qemu_pid=$!
    wait "$qemu_pid" || rc=$?
    qemu_pid=
    # The reader ends at EOF once QEMU is gone, unless QEMU never opened
    # the FIFO: then it still waits in open(). Give it 2 s, then stop it.
    for _ in {1..20}; do
        kill -0 "$reader_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$reader_pid" 2>/dev/null || true
    wait
    reader_pid=

    [ "${NOOK_VM_CONSOLE:-0}" = 1 ] && cat "$ctl/console.log" >&2
    status=$(cat "$ctl/status" 2>/dev/null || true)
    if [[ $status =~ ^[0-9]+$ ]]; then
        return "$status"
    fi
    if [ "$rc" = 124 ]; then
        log "timed out after ${timeout_secs}s"
    else
        log "the guest reported no exit status (qemu exit status $rc)"
    fi
    log "serial console (last 30 lines):"
    if [ -s "$ctl/console.log" ]; then
        tail -n 30 "$ctl/console.log" >&2
    else
        log "(empty: loglevel=1 shows only panics and the final reboot)"
    fi
    return 125
}

main() {
    parse_args "$@"
    check_host
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    prepare
    [ "$prepare_only" = 0 ] || exit 0
    make_ctl
    local rc=0
    boot || rc=$?
    exit "$rc"
}

main "$@"
