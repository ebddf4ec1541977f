#!/bin/bash
# OCI runtime-spec conformance suite for any runc-compatible runtime binary.
#
#   conformance/run.sh --runtime PATH [CASE...]   run cases (default: all) against PATH
#   conformance/run.sh --validate [--runtime PATH] [CASE...]
#                                                 run them against runc and crun first
#   conformance/run.sh --list                     list the cases and their spec sections
#
# Each case is conformance/cases/<name>.sh; see conformance/README.md for the
# variables and functions a case may define. One line per case is printed
# (PASS name / FAIL name: reason / SKIP name: reason), then a closing
# "N passed, N failed, N skipped". The exit status is 1 if any case failed.
#
# Every container lives under a private --root in a temp dir, with an id that
# holds this script's pid, so runs never collide with each other or with a
# runtime's default state dir (/run/runc, /run/crun, /run/nook). Containers
# are force-deleted after each case and again on exit, and the temp dir is
# removed, also when a case fails or the script is interrupted.
#
# Environment: CONFORMANCE_TIMEOUT (seconds per runtime command, default 30),
# CONFORMANCE_KEEP=1 (keep the temp dir with each case's bundle and output).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cases_dir=$here/cases
mkbundle=$here/../scripts/mkbundle.sh
# Seconds one runtime command may take before the case fails as hung.
step_timeout=${CONFORMANCE_TIMEOUT:-30}

usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------------------
# Work dir and cleanup. Cases run in subshells, so the ids they create are
# appended to a file that the EXIT trap (and the per-case cleanup) reads.

work=$(mktemp -d /tmp/conformance.XXXXXX) || exit 1
ids_file=$work/ids
: >"$ids_file"

# Force-delete every container recorded in the ids file, then empty it. If
# the runtime cannot delete (it is the thing under test), kill the container's
# init from its state instead, but only if that pid is in another pid
# namespace, so a stale, reused pid never hits a host process.
delete_recorded() {
    local runtime root id pid
    while IFS=$'\t' read -r runtime root id; do
        pid=$(timeout --foreground -k 5 "$step_timeout" "$runtime" --root "$root" state "$id" \
            2>/dev/null </dev/null | jq -r '.pid // 0' 2>/dev/null)
        timeout --foreground -k 5 "$step_timeout" "$runtime" --root "$root" delete --force "$id" \
            >/dev/null 2>&1 </dev/null && continue
        if [[ ${pid:-0} =~ ^[1-9][0-9]*$ ]] &&
            [ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
            kill -KILL "$pid" 2>/dev/null
        fi
    done <"$ids_file"
    : >"$ids_file"
}

cleanup() {
    delete_recorded
    if [ -n "${CONFORMANCE_KEEP:-}" ]; then
        echo "run.sh: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Helpers for case files. Inside a case these are set:
#   RUNTIME  absolute path of the runtime     RUNTIME_NAME  runc, crun, nook, ...
#   ROOT     the runtime's --root dir          CASE_DIR      scratch dir for this case
#   BUNDLE   the case's bundle                 ROOTFS        $BUNDLE/rootfs
#   ID       a unique container id, already recorded for cleanup
#   OUT ERR  files with the container's stdout and the runtime's stderr
#   RC       exit status of `run` (default flow only)

# Record why the case fails and return 1: `cond || fail "why"` in check and
# main functions. A recorded reason fails the case even if the function goes on
# and returns 0; the first reason recorded is the one reported.
fail() {
    [ -s "$CASE_DIR/reason" ] || printf '%s\n' "$*" >"$CASE_DIR/reason"
    return 1
}

# The runtime under test with the private state root. --foreground keeps the
# runtime in our process group, so Ctrl-C reaches it too: a runtime command
# left running after an interrupt could otherwise recreate --root after the
# cleanup removed it.
rt() {
    timeout --foreground -k 5 "$step_timeout" "$RUNTIME" --root "$ROOT" "$@"
}

# Print a fresh container id and record it for cleanup. Unique per script
# run, runtime and case; the ids file only holds the current case's ids, so
# its length numbers them (a counter variable would not survive $(new_id)).
new_id() {
    local id
    id=conf-$$-$suite_seq-$CASE_NAME-$(($(wc -l <"$ids_file") + 1))
    printf '%s\t%s\t%s\n' "$RUNTIME" "$ROOT" "$id" >>"$ids_file"
    echo "$id"
}

# Last non-empty line of the runtime's stderr, for failure reasons.
last_err() {
    local line
    line=$(grep -v '^[[:space:]]*$' "${1:-$ERR}" 2>/dev/null | tail -n 1)
    [ -n "$line" ] && printf ' (stderr: %.200s)' "$line"
}

# create ID [BUNDLE]: create the container with stdio on files, so the runtime
# returns without waiting for the container to close a pipe.
create() {
    rt create --bundle "${2:-$BUNDLE}" "$1" </dev/null >>"$OUT" 2>>"$ERR"
}

# step WHAT CMD...: run CMD; if it fails, fail with "WHAT failed" and its stderr.
step() {
    local what=$1
    shift
    "$@" </dev/null >>"$OUT" 2>>"$ERR"
    case $? in
    0) return 0 ;;
    124) fail "$what timed out after ${step_timeout}s" ;;
    *) fail "$what failed$(last_err)" ;;
    esac
}

# refuse WHAT CMD...: CMD must fail; if it succeeds, fail with "WHAT succeeded".
refuse() {
    local what=$1
    shift
    "$@" </dev/null >>"$OUT" 2>>"$ERR"
    case $? in
    0) fail "$what succeeded, want an error" ;;
    124) fail "$what timed out after ${step_timeout}s, want an error" ;;
    *) return 0 ;;
    esac
}

# state ID: print the runtime's state JSON; fails if the runtime does.
state() {
    rt state "$1" 2>>"$ERR" </dev/null
}

# status ID: print .status from the state JSON (empty if state fails).
status() {
    state "$1" | jq -r '.status' 2>/dev/null
}

# wait_status ID WANT [SECONDS]: poll until the status is WANT.
wait_status() {
    local id=$1 want=$2 deadline=$((SECONDS + ${3:-5})) got
    while :; do
        got=$(status "$id")
        [ "$got" = "$want" ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && break
        sleep 0.1
    done
    fail "status of $id is '${got:-<state failed>}', want '$want'"
}

# cap_mask CAP_X...: the 16-hex-digit mask /proc/self/status shows for a set.
# Capability numbers from linux/capability.h, in order from 0.
cap_names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID
    SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW
    IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT
    SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
    AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM
    BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
cap_mask() {
    local cap i mask=0
    for cap in "$@"; do
        for i in "${!cap_names[@]}"; do
            [ "CAP_${cap_names[i]}" = "$cap" ] && mask=$((mask | (1 << i)))
        done
    done
    printf '%016x\n' "$mask"
}

# ---------------------------------------------------------------------------
# Running one case.

# Case variables are reset before each case file is sourced.
reset_case() {
    unset -f setup check main
    DESC='' SPEC='' FILTER='.' SKIP_ON='' SKIP_REASON=''
    ARGS=(sh -c 'echo no ARGS set')
    EXPECT_EXIT=0
    unset EXPECT_OUT
    EXPECT_LINES=() EXPECT_MATCH=() REJECT_LINES=()
}

# The default flow: `run` the container and compare its output and status.
default_main() {
    rt run --bundle "$BUNDLE" "$ID" </dev/null >"$OUT" 2>"$ERR"
    RC=$?
    if [ "$RC" -eq 124 ] && [ "$EXPECT_EXIT" -ne 124 ]; then
        fail "run timed out after ${step_timeout}s"
        return 1
    fi
    if [ "$RC" -ne "$EXPECT_EXIT" ]; then
        fail "exit status $RC, want $EXPECT_EXIT$(last_err)"
        return 1
    fi
    local want line
    if [ -n "${EXPECT_OUT+set}" ] && [ "$(cat "$OUT")" != "$EXPECT_OUT" ]; then
        fail "output '$(head -c 200 "$OUT" | tr '\n' '|')', want '$(tr '\n' '|' <<<"$EXPECT_OUT")'"
        return 1
    fi
    for want in "${EXPECT_LINES[@]}"; do
        grep -Fxq -- "$want" "$OUT" && continue
        fail "no line '$want' in output '$(head -c 300 "$OUT" | tr '\n' '|')'"
        return 1
    done
    for want in "${EXPECT_MATCH[@]}"; do
        grep -Eq -- "$want" "$OUT" && continue
        fail "no line matching /$want/ in output '$(head -c 300 "$OUT" | tr '\n' '|')'"
        return 1
    done
    for line in "${REJECT_LINES[@]}"; do
        grep -Fxq -- "$line" "$OUT" || continue
        fail "unexpected line '$line' in output"
        return 1
    done
    if declare -F check >/dev/null; then
        check || return 1
    fi
    return 0
}

# run_case NAME: prepare the bundle, source the case and run it. Runs in a
# subshell; writes "PASS", "FAIL" or "SKIP" to $CASE_DIR/result.
run_case() {
    CASE_NAME=$1
    CASE_DIR=$run_dir/$CASE_NAME
    BUNDLE=$CASE_DIR/bundle
    ROOTFS=$BUNDLE/rootfs
    OUT=$CASE_DIR/stdout
    ERR=$CASE_DIR/stderr
    mkdir -p "$CASE_DIR"
    : >"$OUT"
    : >"$ERR"
    reset_case
    # shellcheck source=/dev/null
    if ! source "$cases_dir/$CASE_NAME.sh"; then
        fail "case file does not load"
        echo FAIL >"$CASE_DIR/result"
        return
    fi
    local skip
    for skip in $SKIP_ON; do
        if [ "$skip" = "$RUNTIME_NAME" ]; then
            fail "${SKIP_REASON:-declared SKIP_ON=$skip}"
            echo SKIP >"$CASE_DIR/result"
            return
        fi
    done
    cp -a "$template/." "$BUNDLE"
    if declare -F setup >/dev/null && ! setup; then
        [ -s "$CASE_DIR/reason" ] || fail "setup failed"
        echo FAIL >"$CASE_DIR/result"
        return
    fi
    local args_json
    args_json=$(jq -n '$ARGS.positional' --args -- "${ARGS[@]}")
    if ! jq --argjson args "$args_json" --arg work "$CASE_DIR" --arg bundle "$BUNDLE" \
        ".process.args = \$args | $FILTER" "$BUNDLE/config.json" >"$CASE_DIR/config.json" ||
        ! mv "$CASE_DIR/config.json" "$BUNDLE/config.json"; then
        fail "jq filter failed"
        echo FAIL >"$CASE_DIR/result"
        return
    fi
    ID=$(new_id)
    local ok
    if declare -F main >/dev/null; then
        main && ok=1
    else
        default_main && ok=1
    fi
    if [ -n "${ok:-}" ] && [ ! -s "$CASE_DIR/reason" ]; then
        echo PASS >"$CASE_DIR/result"
    else
        [ -s "$CASE_DIR/reason" ] || fail "check failed$(last_err)"
        echo FAIL >"$CASE_DIR/result"
    fi
}

# Name of a runtime, from the first word of `--version` (runc, crun, nook).
runtime_name() {
    local name
    name=$("$1" --version 2>/dev/null </dev/null | awk 'NR == 1 { print $1 }')
    echo "${name:-$(basename "$1")}"
}

# Absolute path of a runtime given as a path or a command name.
resolve_runtime() {
    local path=$1
    case $path in
    */*) ;;
    *) path=$(command -v "$path") || return 1 ;;
    esac
    [ -x "$path" ] || return 1
    echo "$(cd "$(dirname "$path")" && pwd)/$(basename "$path")"
}

# run_suite RUNTIME: run the selected cases, print one line each and the
# totals, and record each result in results[<runtime name>,<case>].
run_suite() {
    RUNTIME=$(resolve_runtime "$1") || {
        echo "run.sh: runtime '$1' not found or not executable" >&2
        return 2
    }
    RUNTIME_NAME=$(runtime_name "$RUNTIME")
    suite_seq=$((${suite_seq:-0} + 1))
    run_dir=$work/$suite_seq-$RUNTIME_NAME
    ROOT=$run_dir/state
    template=$run_dir/template
    mkdir -p "$ROOT"
    if ! "$mkbundle" -r "$RUNTIME" "$template" sh >"$run_dir/mkbundle.log" 2>&1; then
        echo "run.sh: cannot make a bundle with '$RUNTIME spec':" >&2
        cat "$run_dir/mkbundle.log" >&2
        return 2
    fi
    local name result reason passed=0 failed=0 skipped=0
    for name in "${selected[@]}"; do
        (run_case "$name") >"$run_dir/$name.log" 2>&1
        delete_recorded
        result=$(cat "$run_dir/$name/result" 2>/dev/null || echo FAIL)
        reason=$(cat "$run_dir/$name/reason" 2>/dev/null || echo "case aborted")
        case $result in
        PASS) echo "PASS $name"; passed=$((passed + 1)) ;;
        SKIP) echo "SKIP $name: $reason"; skipped=$((skipped + 1)) ;;
        *) echo "FAIL $name: $reason"; failed=$((failed + 1)) ;;
        esac
        results[$RUNTIME_NAME,$name]=$result
    done
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    suite_names+=("$RUNTIME_NAME")
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
}

# ---------------------------------------------------------------------------
# Main.

runtime='' validate='' list=''
selected=()
while [ $# -gt 0 ]; do
    case $1 in
    --runtime) [ $# -ge 2 ] || usage; runtime=$2; shift 2 ;;
    --runtime=*) runtime=${1#*=}; shift ;;
    --validate) validate=1; shift ;;
    --list) list=1; shift ;;
    -h | --help) usage ;;
    -*) echo "run.sh: unknown option $1" >&2; usage ;;
    *) selected+=("$1"); shift ;;
    esac
done

for tool in jq timeout unshare; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 2; }
done
if [ ${#selected[@]} -eq 0 ]; then
    for file in "$cases_dir"/*.sh; do
        name=${file##*/}
        selected+=("${name%.sh}")
    done
fi
for name in "${selected[@]}"; do
    [ -f "$cases_dir/$name.sh" ] || { echo "run.sh: no case $name" >&2; exit 2; }
done

if [ -n "$list" ]; then
    for name in "${selected[@]}"; do
        (reset_case; source "$cases_dir/$name.sh"; printf '%-26s %-34s %s\n' "$name" "$SPEC" "$DESC")
    done
    exit 0
fi
[ -n "$runtime$validate" ] || usage
[ "$(id -u)" = 0 ] || echo "run.sh: warning: not root; most cases need root" >&2

declare -A results=()
suite_names=()
total_passed=0 total_failed=0 total_skipped=0
exit_status=0
if [ -n "$validate" ]; then
    # The reference runtimes: a FAIL here is a bug in the case (or in the
    # reference, which the case must then declare with SKIP_ON and a comment).
    for ref in runc "$here/crun-wrapper.sh"; do
        echo "== $ref"
        run_suite "$ref" || exit_status=1
    done
fi
if [ -n "$runtime" ]; then
    [ -n "$validate" ] && echo "== $runtime"
    run_suite "$runtime" || exit_status=1
fi
if [ ${#suite_names[@]} -gt 1 ]; then
    echo "== results per runtime"
    printf '%-26s' case
    printf ' %-6s' "${suite_names[@]}"
    echo
    for name in "${selected[@]}"; do
        printf '%-26s' "$name"
        for rname in "${suite_names[@]}"; do
            printf ' %-6s' "${results[$rname,$name]:-?}"
        done
        echo
    done
    echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
fi
exit "$exit_status"
