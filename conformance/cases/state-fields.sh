# The state of runtime.md#state: ociVersion, id, status, pid and bundle (an
# absolute path), with the right types and values for a created container.
SPEC='runtime.md#state'
DESC='state JSON has ociVersion, id, status, pid, bundle'
ARGS=(sleep 300)

main() {
    step create create "$ID" || return 1
    local st problem
    st=$(state "$ID") || { fail "state failed$(last_err)"; return 1; }
    # One jq program that names the first field that is wrong.
    problem=$(jq -r --arg id "$ID" --arg bundle "$BUNDLE" '
        if (.ociVersion | type) != "string" or .ociVersion == "" then "ociVersion is \(.ociVersion)"
        elif .id != $id then "id is \(.id), want \($id)"
        elif .status != "created" then "status is \(.status), want created"
        elif (.pid | type) != "number" or .pid <= 0 then "pid is \(.pid), want a number > 0"
        elif .bundle != $bundle then "bundle is \(.bundle), want \($bundle)"
        elif has("annotations") and (.annotations | type) != "object"
            then "annotations is \(.annotations | type), want an object"
        else empty end' <<<"$st" 2>&1) || { fail "state is not JSON: $st"; return 1; }
    [ -z "$problem" ] || fail "$problem"
}
