# root.readonly false: the control for root-readonly; / is writable and the
# write lands in the bundle's rootfs.
SPEC='config.md#root (readonly)'
DESC='root.readonly=false leaves / writable'
FILTER='.root.readonly = false'
ARGS=(sh -c 'if echo hello >/probe 2>/dev/null; then echo writable; else echo readonly; fi')
EXPECT_OUT=writable

check() {
    [ "$(cat "$ROOTFS/probe" 2>/dev/null)" = hello ] ||
        fail "file written in the container is not in the rootfs"
}
