# A read-only bind mount of a host directory: its contents are visible and
# writes fail, on the host side too.
SPEC='config.md#mounts'
DESC='bind of a host dir with rbind,ro: readable, not writable'
FILTER='.mounts += [{destination: "/conformance/host", type: "bind",
    source: ($work + "/hostdir"), options: ["rbind", "ro"]}]'
ARGS=(sh -c '
    cat /conformance/host/token
    if touch /conformance/host/new 2>/dev/null; then echo writable; else echo readonly; fi')
EXPECT_LINES=(token-from-host readonly)

setup() {
    mkdir "$CASE_DIR/hostdir" && echo token-from-host >"$CASE_DIR/hostdir/token"
}

check() {
    [ ! -e "$CASE_DIR/hostdir/new" ] || fail "write reached the host directory"
}
