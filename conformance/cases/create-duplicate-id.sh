# runtime.md#create: the id MUST be unique across containers; creating a
# second container with an id in use MUST fail and leave the first alone.
SPEC='runtime.md#create'
DESC='create with an id in use fails; the first container is untouched'
ARGS=(sleep 300)

main() {
    step create create "$ID" || return 1
    local pid
    pid=$(state "$ID" | jq -r .pid)
    refuse "second create with the same id" create "$ID" || return 1
    local st
    st=$(state "$ID") || { fail "state of the first container failed$(last_err)"; return 1; }
    [ "$(jq -r '"\(.status) \(.pid)"' <<<"$st")" = "created $pid" ] ||
        fail "first container changed: $(jq -c '{status, pid}' <<<"$st"), was created $pid"
}
