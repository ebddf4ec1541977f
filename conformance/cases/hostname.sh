# hostname is set in the container's UTS namespace.
SPEC='config.md#hostname'
DESC='hostname is set'
FILTER='.hostname = "conformance-host"'
ARGS=(hostname)
EXPECT_OUT=conformance-host
