# `run` (create + start + wait, the runc CLI convention) exits with the exit
# status of the container process.
SPEC='runtime.md#lifecycle (runc run)'
DESC='run exits with the process status (42)'
ARGS=(sh -c 'exit 42')
EXPECT_EXIT=42
