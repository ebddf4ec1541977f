# linux.readonlyPaths: each path is made read-only, while the rest of a
# writable rootfs stays writable (the /conformance-rw control).
SPEC='config-linux.md#readonly-paths'
DESC='readonlyPaths become read-only mounts; others stay writable'
FILTER='.root.readonly = false | .linux.readonlyPaths = ["/proc/sys", "/conformance-ro"]'
ARGS=(sh -c '
    for d in /conformance-ro /conformance-rw; do
        if touch $d/probe 2>/dev/null; then echo "$d=writable"; else echo "$d=readonly"; fi
    done
    awk "\$2 == \"/proc/sys\" { split(\$4, o, \",\"); print \"/proc/sys=\" o[1] }" /proc/self/mounts')
EXPECT_LINES=(/conformance-ro=readonly /conformance-rw=writable /proc/sys=ro)

setup() {
    mkdir "$ROOTFS/conformance-ro" "$ROOTFS/conformance-rw"
}
