#!/bin/bash
# Make an OCI bundle with a busybox root filesystem.
#
#   scripts/mkbundle.sh [-r RUNTIME] [-H HOSTNAME] DIR [COMMAND ARG...]
#
# DIR/rootfs gets a copy of the static busybox with one relative symlink per
# applet, the usual mount points and passwd/group files (root, nobody).
# DIR/config.json is written by `RUNTIME spec` (default: nook from PATH),
# then edited with jq: no terminal, and COMMAND as the process (default sh).
set -euo pipefail

usage() {
    echo "usage: $0 [-r RUNTIME] [-H HOSTNAME] DIR [COMMAND ARG...]" >&2
    exit 2
}

runtime=nook
hostname=
while getopts "r:H:h" opt; do
    case "$opt" in
    r) runtime=$OPTARG ;;
    H) hostname=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
dir=$1
shift
[ $# -ge 1 ] || set -- sh

busybox=/usr/bin/busybox
for tool in "$busybox" jq; do
    command -v "$tool" >/dev/null || {
        echo "$0: $tool not found (run 'make deps')" >&2
        exit 1
    }
done
if [ -e "$dir/config.json" ] || [ -e "$dir/rootfs" ]; then
    echo "$0: $dir already holds a bundle" >&2
    exit 1
fi

rootfs=$dir/rootfs
mkdir -p "$rootfs/bin"
cp "$busybox" "$rootfs/bin/busybox"
# Relative links, so that they resolve inside the container, not on the host.
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
mkdir -p "$rootfs"/{proc,sys,dev,etc,root,mnt,tmp}
chmod 1777 "$rootfs/tmp"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"

"$runtime" spec --bundle "$dir"
args_json=$(jq -n '$ARGS.positional' --args -- "$@")
jq --argjson args "$args_json" --arg host "$hostname" '
    .process.terminal = false
    | .process.args = $args
    | if $host != "" then .hostname = $host else . end
' "$dir/config.json" >"$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
