# The lifecycle of runtime.md: create leaves the container "created" with the
# pid of a live process, start makes it "running", kill KILL makes it
# "stopped", and after delete the container is gone, so state fails.
SPEC='runtime.md#lifecycle'
DESC='create, start, kill KILL, delete with the status after each'
ARGS=(sleep 300)

main() {
    step create create "$ID" || return 1
    local st pid
    st=$(state "$ID") || { fail "state after create failed$(last_err)"; return 1; }
    [ "$(jq -r .status <<<"$st")" = created ] ||
        { fail "status after create is '$(jq -r .status <<<"$st")', want 'created'"; return 1; }
    pid=$(jq -r .pid <<<"$st")
    [[ $pid =~ ^[0-9]+$ ]] && [ "$pid" -gt 0 ] ||
        { fail "pid after create is '$pid', want > 0"; return 1; }
    [ -d "/proc/$pid" ] || { fail "pid $pid from state is not a live process"; return 1; }
    step start rt start "$ID" || return 1
    wait_status "$ID" running || return 1
    step "kill KILL" rt kill "$ID" KILL || return 1
    wait_status "$ID" stopped || return 1
    step delete rt delete "$ID" || return 1
    refuse "state after delete" state "$ID" || return 1
}
