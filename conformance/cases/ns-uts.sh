# A new UTS namespace: a different namespace from the caller's, so setting the
# hostname does not change the host's.
SPEC='config-linux.md#namespaces (uts)'
DESC='uts namespace differs from the host one'
FILTER='.hostname = "conformance-uts"
    | .linux.namespaces |= (map(select(.type != "uts")) + [{type: "uts"}])'
ARGS=(sh -c 'readlink /proc/self/ns/uts; hostname')

check() {
    local host_ns
    host_ns=$(readlink /proc/self/ns/uts)
    [ "$(sed -n 1p "$OUT")" != "$host_ns" ] || fail "container shares the host uts namespace $host_ns"
    [ "$(sed -n 2p "$OUT")" = conformance-uts ] || fail "hostname '$(sed -n 2p "$OUT")', want conformance-uts"
    [ "$(hostname)" != conformance-uts ] || fail "host hostname changed"
}
