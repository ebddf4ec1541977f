# linux.sysctl: a namespaced sysctl is set inside the container's own network
# namespace, without touching the host's value.
SPEC='config-linux.md#sysctl'
DESC='net.ipv4.ip_forward=1 in a new network namespace'
FILTER='.linux.sysctl = {"net.ipv4.ip_forward": "1"}
    | .linux.namespaces |= (map(select(.type != "network")) + [{type: "network"}])'
ARGS=(cat /proc/sys/net/ipv4/ip_forward)
EXPECT_OUT=1

setup() {
    cat /proc/sys/net/ipv4/ip_forward >"$CASE_DIR/host-before"
}

check() {
    [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$(cat "$CASE_DIR/host-before")" ] ||
        fail "host net.ipv4.ip_forward changed"
}
