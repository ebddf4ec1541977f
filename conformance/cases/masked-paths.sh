# linux.maskedPaths: each path is masked so that it cannot be read. Covers a
# file and a directory under /proc and /sys, and a file and a directory of the
# rootfs itself.
SPEC='config-linux.md#masked-paths'
DESC='masked files read empty, masked dirs list empty'
FILTER='.linux.maskedPaths = ["/proc/timer_list", "/sys/firmware",
    "/etc/conformance-secret", "/etc/conformance-dir"]'
ARGS=(sh -c '
    echo "timer_list=$(wc -c </proc/timer_list)"
    echo "firmware=$(ls -A /sys/firmware | wc -l)"
    echo "file=$(cat /etc/conformance-secret)"
    echo "dir=$(ls -A /etc/conformance-dir | wc -l)"')
EXPECT_LINES=(timer_list=0 firmware=0 file= dir=0)

setup() {
    # Masking must hide something: the host's copies are not empty.
    [ -n "$(head -c 1 /proc/timer_list 2>/dev/null)" ] || { fail "host has no /proc/timer_list to mask"; return 1; }
    [ -n "$(ls -A /sys/firmware)" ] || { fail "host /sys/firmware is empty"; return 1; }
    echo secret >"$ROOTFS/etc/conformance-secret" &&
        mkdir "$ROOTFS/etc/conformance-dir" &&
        echo secret >"$ROOTFS/etc/conformance-dir/inner"
}
