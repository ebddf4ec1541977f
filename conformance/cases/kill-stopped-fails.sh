# runtime.md#kill: signalling a container that is neither created nor running
# MUST have no effect and MUST generate an error.
SPEC='runtime.md#kill'
DESC='kill of a stopped container fails'
ARGS=(true)

main() {
    step create create "$ID" || return 1
    step start rt start "$ID" || return 1
    wait_status "$ID" stopped || return 1
    refuse "kill KILL of a stopped container" rt kill "$ID" KILL || return 1
    [ "$(status "$ID")" = stopped ] || fail "status after the refused kill is '$(status "$ID")'"
}
