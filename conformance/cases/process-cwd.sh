# process.cwd is the working directory of the process.
SPEC='config.md#process (cwd)'
DESC='the process starts in cwd'
FILTER='.process.cwd = "/etc"'
ARGS=(pwd)
EXPECT_OUT=/etc
