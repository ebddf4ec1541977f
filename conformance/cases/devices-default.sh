# The default devices every Linux container gets, with their major:minor, and
# the /dev symlinks to /proc/self/fd (runtime-linux.md "Dev symbolic links").
SPEC='config-linux.md#default-devices'
DESC='null zero full random urandom tty char devices; /dev/fd, stdin, stdout, stderr links'
ARGS=(sh -c '
    for d in null zero full random urandom tty; do stat -c "%n %F %t:%T" /dev/$d; done
    for l in fd stdin stdout stderr; do echo "/dev/$l -> $(readlink /dev/$l)"; done')
EXPECT_LINES=(
    '/dev/null character special file 1:3'
    '/dev/zero character special file 1:5'
    '/dev/full character special file 1:7'
    '/dev/random character special file 1:8'
    '/dev/urandom character special file 1:9'
    '/dev/tty character special file 5:0'
    '/dev/fd -> /proc/self/fd'
    '/dev/stdin -> /proc/self/fd/0'
    '/dev/stdout -> /proc/self/fd/1'
    '/dev/stderr -> /proc/self/fd/2'
)
