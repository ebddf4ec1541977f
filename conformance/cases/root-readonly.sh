# root.readonly true: the root filesystem MUST be read-only inside the container.
SPEC='config.md#root (readonly)'
DESC='root.readonly=true makes / read-only'
FILTER='.root.readonly = true'
ARGS=(sh -c 'if touch /probe 2>/dev/null; then echo writable; else echo readonly; fi')
EXPECT_OUT=readonly
