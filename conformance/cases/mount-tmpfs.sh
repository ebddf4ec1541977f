# A tmpfs mount with options: the destination is created, the filesystem
# options (mode, size) reach the kernel and the flags (nosuid, nodev, noexec)
# are applied.
SPEC='config.md#mounts'
DESC='tmpfs at a new path with nosuid,nodev,noexec,mode=1770,size=2m'
FILTER='.mounts += [{destination: "/conformance/tmp", type: "tmpfs", source: "tmpfs",
    options: ["nosuid", "nodev", "noexec", "mode=1770", "size=2m"]}]'
ARGS=(sh -c '
    awk "\$2 == \"/conformance/tmp\" { print \"fstype=\" \$3; print \$4 }" /proc/self/mounts | tr , "\n"
    stat -c "perm=%a" /conformance/tmp
    echo x >/conformance/tmp/f && echo writable')
EXPECT_LINES=(fstype=tmpfs rw nosuid nodev noexec size=2048k mode=1770 perm=1770 writable)
