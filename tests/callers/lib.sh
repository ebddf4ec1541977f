# Shared by the caller suites (podman.sh, containerd.sh): result lines,
# counters and the busybox root filesystem. Sourced, not run.
#
# A suite defines case_* functions and calls run_cases; each case prints
# nothing on success, or calls fail/skip with a reason. One line per case:
#   PASS name | FAIL name: reason | SKIP name: reason
# and a closing "N passed, N failed, N skipped"; exit status 1 if any failed.

passed=0 failed=0 skipped=0

# parse_args LAST_HELP_LINE ARG...: `--runtime PATH|NAME` (default: the
# built nook) and `-h` (prints the suite's header comment up to that line);
# what is left are case names. Sets `runtime` (an absolute path) and `only`.
parse_args() {
    local help_end=$1
    shift
    runtime=$here/../../target/release/nook
    while [ $# -gt 0 ]; do
        case $1 in
            --runtime) runtime=$2; shift 2 ;;
            -h|--help) sed -n "2,${help_end}p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) break ;;
        esac
    done
    only="$*"
    runtime=$(readlink -f "$(command -v "$runtime" || echo "$runtime")")
}

# need BIN...: fail the suite's setup when a program is missing.
need() {
    local bin
    for bin in "$@"; do
        command -v "$bin" >/dev/null || { echo "FAIL setup: $bin is not installed (make deps)"; exit 1; }
    done
}

# snapshot_cgroups / remove_new_cgroups: the callers make cgroups of their
# own (Podman's parent, conmon's, containerd's namespace); the ones that
# appeared since the snapshot are removed, deepest first, and nothing older.
snapshot_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort >"$work/cgroups.before"
}
remove_new_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort |
        comm -13 "$work/cgroups.before" - | sort -r | xargs -r rmdir 2>/dev/null
}

# fail REASON / skip REASON: end the current case (cases run in subshells).
fail() { echo "$*" >"$work/verdict"; exit 1; }
skip() { echo "SKIP $*" >"$work/verdict"; exit 0; }

# want_eq WHAT GOT WANT
want_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# want_match WHAT GOT REGEX
want_match() { [[ $2 =~ $3 ]] || fail "$1: got '$2', want /$3/"; }

run_cases() {
    local c name verdict
    for c in $(declare -F | awk '{print $3}' | grep '^case_'); do
        name=${c#case_}
        if [ -n "${only:-}" ] && [[ " $only " != *" $name "* ]]; then continue; fi
        : >"$work/verdict"
        ( set -u; "$c" ) >"$work/case.log" 2>&1
        local rc=$?
        verdict=$(cat "$work/verdict")
        if [[ $verdict == SKIP* ]]; then
            echo "SKIP $name: ${verdict#SKIP }"; skipped=$((skipped + 1))
        elif [ $rc -eq 0 ]; then
            echo "PASS $name"; passed=$((passed + 1))
        else
            echo "FAIL $name: ${verdict:-exit $rc}"
            sed 's/^/    | /' "$work/case.log" | tail -20
            failed=$((failed + 1))
        fi
    done
    echo "$passed passed, $failed failed, $skipped skipped"
    [ $failed -eq 0 ]
}

# make_rootfs DIR: static busybox with its applets, as a container image root.
make_rootfs() {
    local dir=$1 a
    mkdir -p "$dir/bin" "$dir/etc" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/tmp" "$dir/root"
    cp /usr/bin/busybox "$dir/bin/busybox"
    for a in $(/usr/bin/busybox --list); do
        [ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
    echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$dir/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$dir/etc/group"
}
