# linux.seccomp: SCMP_ACT_KILL ends the caller with SIGSYS (exit 128+31 as
# the shell sees it), while the shell that does not make the call goes on
# (sync runs in a subshell: busybox runs some applets in-process).
SPEC='config-linux.md#seccomp (SCMP_ACT_KILL)'
DESC='sync is killed by SIGSYS'
FILTER='.linux.seccomp = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["sync"], "action": "SCMP_ACT_KILL"}]
}'
ARGS=(sh -c '(sync); echo rc=$?')
EXPECT_LINES=('rc=159')

