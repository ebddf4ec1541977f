# runtime.md#delete: deleting a container that is not stopped MUST have no
# effect and MUST generate an error.
SPEC='runtime.md#delete'
DESC='delete (without --force) of a running container fails'
ARGS=(sleep 300)

main() {
    step create create "$ID" || return 1
    step start rt start "$ID" || return 1
    wait_status "$ID" running || return 1
    refuse "delete of a running container" rt delete "$ID" || return 1
    [ "$(status "$ID")" = running ] || fail "status after the refused delete is '$(status "$ID")'"
}
