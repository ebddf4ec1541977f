# user.uid, user.gid and user.additionalGids set all the process's ids
# (real, effective, saved and filesystem) and its supplementary groups.
SPEC='config.md#posix-platform-user'
DESC='uid, gid and additionalGids as shown in /proc/self/status'
FILTER='.process.user = {uid: 1234, gid: 2345, additionalGids: [11, 22]}'
ARGS=(sh -c 'grep -E "^(Uid|Gid|Groups):" /proc/self/status | tr -s " \t" "  " | sed "s/ $//"')
EXPECT_LINES=('Uid: 1234 1234 1234 1234' 'Gid: 2345 2345 2345 2345' 'Groups: 11 22')
