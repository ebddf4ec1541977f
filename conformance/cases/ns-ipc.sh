# A new IPC namespace: a different namespace from the caller's, with no
# System V message queues, semaphores or shared memory from the host.
SPEC='config-linux.md#namespaces (ipc)'
DESC='ipc namespace differs from the host one and is empty'
FILTER='.linux.namespaces |= (map(select(.type != "ipc")) + [{type: "ipc"}])'
ARGS=(sh -c 'readlink /proc/self/ns/ipc
    cat /proc/sysvipc/msg /proc/sysvipc/sem /proc/sysvipc/shm | grep -vc "^ *key" || true')

check() {
    local host_ns
    host_ns=$(readlink /proc/self/ns/ipc)
    [ "$(sed -n 1p "$OUT")" != "$host_ns" ] || fail "container shares the host ipc namespace $host_ns"
    [ "$(sed -n 2p "$OUT")" = 0 ] || fail "SysV IPC objects visible: $(sed -n 2p "$OUT")"
}
