# linux.seccomp: a syscall matched by an SCMP_ACT_ERRNO rule fails with the
# rule's errnoRet (28, ENOSPC) instead of running; others are allowed.
SPEC='config-linux.md#seccomp (SCMP_ACT_ERRNO, errnoRet)'
DESC='mkdir fails with errnoRet ENOSPC'
FILTER='.linux.seccomp = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]
}'
ARGS=(sh -c 'mkdir /dev/shm/x 2>&1; echo rc=$?; test -d /dev/shm/x || echo absent')
EXPECT_LINES=(
    "mkdir: can't create directory '/dev/shm/x': No space left on device"
    'rc=1'
    'absent'
)
