# process.noNewPrivileges: the no_new_privs bit is set.
SPEC='config.md#linux-process (noNewPrivileges)'
DESC='NoNewPrivs is 1'
FILTER='.process.noNewPrivileges = true'
ARGS=(cat /proc/self/status)
EXPECT_LINES=($'NoNewPrivs:\t1')
