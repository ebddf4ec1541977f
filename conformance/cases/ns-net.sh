# A new network namespace holds only the loopback interface.
SPEC='config-linux.md#namespaces (network)'
DESC='network namespace has only lo'
FILTER='.linux.namespaces |= (map(select(.type != "network")) + [{type: "network"}])'
ARGS=(sh -c 'readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "')

check() {
    local host_ns
    host_ns=$(readlink /proc/self/ns/net)
    [ "$(sed -n 1p "$OUT")" != "$host_ns" ] || fail "container shares the host network namespace"
    [ "$(sed -n '2,$p' "$OUT" | tr '\n' ' ')" = "lo " ] ||
        fail "interfaces: $(sed -n '2,$p' "$OUT" | tr '\n' ' '), want only lo"
}
