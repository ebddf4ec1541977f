# user.umask is the umask of the process.
SPEC='config.md#posix-platform-user (umask)'
DESC='umask 027 is in effect'
FILTER='.process.user.umask = 23'
ARGS=(sh -c 'umask')
EXPECT_OUT=0027
