# runtime.md#create: if the container cannot be created (here root.path does
# not exist) create MUST fail, and no state is left behind: state fails, and
# the same id can then be created from a good bundle, and `list` omits it.
SPEC='runtime.md#create'
DESC='create with a missing root.path fails and leaves no state'
FILTER='.root.path = "no-such-rootfs"'
ARGS=(sleep 300)

main() {
    refuse "create with a missing rootfs" create "$ID" || return 1
    refuse "state after the failed create" state "$ID" || return 1
    # `list` is runc CLI, not runtime-spec, so it is only consulted if it works.
    local listed
    if listed=$(rt list -q </dev/null 2>/dev/null) && grep -Fxq -- "$ID" <<<"$listed"; then
        fail "list still shows $ID after the failed create"
        return 1
    fi
    jq '.root.path = "rootfs"' "$BUNDLE/config.json" >"$CASE_DIR/good.json" &&
        mv "$CASE_DIR/good.json" "$BUNDLE/config.json" || return 1
    step "create of the same id after the failed create" create "$ID" || return 1
    [ "$(status "$ID")" = created ] || fail "status after the second create is '$(status "$ID")'"
}
