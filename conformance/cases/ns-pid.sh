# A new pid namespace: the process is pid 1 in it.
SPEC='config-linux.md#namespaces (pid)'
DESC='process is pid 1'
FILTER='.linux.namespaces |= (map(select(.type != "pid")) + [{type: "pid"}])'
ARGS=(sh -c 'echo $$')
EXPECT_OUT=1
