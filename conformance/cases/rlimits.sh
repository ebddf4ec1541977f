# process.rlimits: soft and hard limits are both applied.
SPEC='config.md#posix-process (rlimits)'
DESC='RLIMIT_NOFILE soft 1001 hard 2002'
FILTER='.process.rlimits = [{type: "RLIMIT_NOFILE", soft: 1001, hard: 2002}]'
ARGS=(sh -c 'ulimit -n; ulimit -Hn')
EXPECT_OUT='1001
2002'
