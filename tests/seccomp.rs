//! linux.seccomp in real containers: Podman's default profile, errno and
//! kill actions, argument conditions, the x86 ABI through `int 0x80`, the
//! ENOSYS answer for syscalls newer than a profile, flags, SCMP_ACT_NOTIFY
//! with a listener, the filter under a non-root user, and malformed
//! profiles.
//!
//! tests/data/podman-seccomp.json is `linux.seccomp` of the config.json
//! that Podman 4.3.1 (Debian 12) generates for `podman create` of a busybox
//! image. tests/data/seccomp-probe.c is built here with gcc into a static
//! probe that makes one chosen call and prints the result.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const SIGSYS_EXIT: i32 = 128 + libc::SIGSYS;

fn podman_profile() -> Value {
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/podman-seccomp.json"),
    )
    .expect("read the Podman profile");
    serde_json::from_str(&text).expect("profile is JSON")
}

/// The probe binary, built once per test process into cargo's scratch dir
/// for tests (built under a private name, then renamed into place, so that
/// concurrent test processes never see half a file); None without gcc and a
/// static C library.
fn probe() -> Option<&'static Path> {
    static PROBE: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let tmp = dir.join(format!("seccomp-probe.{}", std::process::id()));
            let out = dir.join("seccomp-probe");
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seccomp-probe.c");
            let ok = Command::new("gcc")
                .args(["-static", "-pthread", "-O1", "-o"])
                .arg(&tmp)
                .arg(&src)
                .status()
                .is_ok_and(|s| s.success());
            (ok && fs::rename(&tmp, &out).is_ok()).then_some(out)
        })
        .as_deref()
}

/// A bundle running `args` with the probe at /probe and `seccomp` set.
/// None when the probe cannot be built (the SKIP line is printed).
fn bundle_with(args: &[&str], seccomp: Value) -> Option<Bundle> {
    let Some(p) = probe() else {
        skip("gcc with a static C library (gcc, libc6-dev) is needed to build the probe");
        return None;
    };
    let mut b = Bundle::new();
    fs::copy(p, b.rootfs().join("probe")).expect("copy the probe");
    b.set_args(args);
    b.edit(|c| c["linux"]["seccomp"] = seccomp);
    Some(b)
}

/// Runs `sh -c SCRIPT` under `seccomp`; returns stdout (the run must succeed).
fn sh_output(script: &str, seccomp: Value) -> Option<String> {
    // The probe exits 1 after printing an errno; the run itself must succeed.
    let script = format!("{script}\ntrue");
    let b = bundle_with(&["sh", "-c", &script], seccomp)?;
    Some(Nook::new().output_of(&b))
}

fn allow_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

#[test]
fn busybox_runs_under_the_podman_profile() {
    if skip_unless_root() {
        return;
    }
    let script = "echo hello; ls / >/dev/null; mkdir /dev/shm/d && touch /dev/shm/d/f && ls /dev/shm/d; \
                  for i in 1 2 3; do (echo child $i) & done; wait; \
                  /probe threads 4; /probe status; grep NoNewPrivs /proc/self/status";
    let Some(out) = sh_output(script, podman_profile()) else {
        return;
    };
    for want in [
        "hello",
        "f\n",
        "child 1",
        "child 3",
        "ok 4",
        "Seccomp:\t2",
        "Seccomp_filters:\t1",
        "NoNewPrivs:\t1",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
}

#[test]
fn denied_syscall_returns_the_errno() {
    if skip_unless_root() {
        return;
    }
    // errnoRet, and EPERM when it is absent.
    for (errno, message) in [
        (Some(28), "No space left on device"),
        (None, "Operation not permitted"),
    ] {
        let mut rule = json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"});
        if let Some(e) = errno {
            rule["errnoRet"] = json!(e);
        }
        let script = "mkdir /dev/shm/x; echo rc=$?; test -d /dev/shm/x || echo absent";
        let Some(b) = bundle_with(&["sh", "-c", script], allow_but(json!([rule]))) else {
            return;
        };
        let out = Nook::new().run_bundle(&b).expect_ok();
        assert!(out.stderr.contains(message), "{out}");
        assert!(out.stdout.contains("rc=1\nabsent"), "{out}");
    }
}

#[test]
fn argument_conditions_select_the_rule() {
    if skip_unless_root() {
        return;
    }
    // The Podman shape: personality(0) and (8) let through, anything else
    // EPERM; a 64-bit value whose high word differs must not pass as 8.
    // (SCMP_ACT_LOG lets the call through: rules whose action is the
    // default, ALLOW here, are dropped as runc does.) The first matching
    // rule decides.
    let profile = allow_but(json!([
        {"names": ["personality"], "action": "SCMP_ACT_LOG",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_LOG",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]));
    let script = "for v in 0 8 0x20000 0x100000008; do echo \"$v $(/probe personality $v)\"; done";
    let Some(out) = sh_output(script, profile) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("0 ok"), "{out}");
    assert!(lines[1].starts_with("8 ok"), "{out}");
    assert_eq!(lines[2], "0x20000 errno 1", "{out}");
    assert_eq!(lines[3], "0x100000008 errno 1", "{out}");
}

#[test]
fn int80_calls_are_filtered_by_the_x86_rules() {
    if skip_unless_root() {
        return;
    }
    // getpid is 20 on i386 (writev on x86_64) and 39 on x86_64.
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}]});
    let script = "echo \"i386-20 $(/probe int80 20)\"; echo \"x64-39 $(/probe syscall 39)\"; \
                  echo \"x64-110 $(/probe syscall 110)\"";
    let Some(out) = sh_output(script, profile) else {
        return;
    };
    assert!(out.contains("i386-20 errno 99"), "{out}");
    assert!(out.contains("x64-39 errno 99"), "{out}");
    assert!(out.contains("x64-110 ok"), "{out}");
    // Without SCMP_ARCH_X86 in the filter, an int 0x80 call is killed.
    let b = bundle_with(&["/probe", "int80", "20"], allow_but(json!([]))).unwrap();
    let out = Nook::new().run_bundle(&b);
    assert_eq!(out.code(), SIGSYS_EXIT, "{out}");
}

#[test]
fn x32_calls_never_slip_past_the_rules() {
    if skip_unless_root() {
        return;
    }
    // getpid with the x32 bit (0x40000000 | 39), made from a 64-bit process:
    // the filter sees it whether or not the kernel runs x32 programs.
    let x32_getpid = "0x40000027";
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}]});
    let script = format!("echo \"x32 $(/probe syscall {x32_getpid})\"");
    let Some(out) = sh_output(&script, profile) else {
        return;
    };
    assert!(out.contains("x32 errno 99"), "{out}");
    // Without SCMP_ARCH_X32 in the filter an x32 call is killed, never
    // taken for the x86_64 call of the same number.
    let b = bundle_with(&["/probe", "syscall", x32_getpid], allow_but(json!([]))).unwrap();
    let out = Nook::new().run_bundle(&b);
    assert_eq!(out.code(), SIGSYS_EXIT, "{out}");
}

#[test]
fn kill_actions_kill_with_sigsys() {
    if skip_unless_root() {
        return;
    }
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
    ] {
        let profile = allow_but(json!([{"names": ["getppid"], "action": action}]));
        let Some(b) = bundle_with(&["/probe", "syscall", "110"], profile) else {
            return;
        };
        let out = Nook::new().run_bundle(&b);
        assert_eq!(out.code(), SIGSYS_EXIT, "{action}: {out}");
    }
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    if skip_unless_root() {
        return;
    }
    // Podman's profile with an EPERM default and nothing from clone3 (435)
    // on: glibc's pthread_create gets ENOSYS from clone3 and uses clone.
    let mut profile = podman_profile();
    profile["defaultErrnoRet"] = json!(1);
    let newer = [
        "clone3",
        "close_range",
        "openat2",
        "pidfd_getfd",
        "faccessat2",
        "process_madvise",
        "epoll_pwait2",
        "mount_setattr",
        "quotactl_fd",
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
        "memfd_secret",
        "process_mrelease",
        "futex_waitv",
        "set_mempolicy_home_node",
        "cachestat",
        "fchmodat2",
        "map_shadow_stack",
        "futex_wake",
        "futex_wait",
        "futex_requeue",
        "statmount",
        "listmount",
        "lsm_get_self_attr",
        "lsm_set_self_attr",
        "lsm_list_modules",
        "mseal",
    ];
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        let names = rule["names"].as_array_mut().unwrap();
        names.retain(|n| !newer.contains(&n.as_str().unwrap()));
    }
    // tuxcall (184) is in no profile: the default errno, not ENOSYS.
    let script = "/probe threads 2; echo \"clone3 $(/probe syscall 435)\"; \
                  echo \"tuxcall $(/probe syscall 184)\"; echo \"big $(/probe syscall 1000)\"";
    let Some(out) = sh_output(script, profile) else {
        return;
    };
    assert!(out.contains("ok 2"), "{out}");
    assert!(out.contains("clone3 errno 38"), "{out}");
    assert!(out.contains("tuxcall errno 1"), "{out}");
    assert!(out.contains("big errno 38"), "{out}");
}

#[test]
fn flags_are_applied() {
    if skip_unless_root() {
        return;
    }
    let mut profile =
        allow_but(json!([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]));
    profile["flags"] = json!([
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
    ]);
    let Some(out) = sh_output("/probe syscall 110", profile) else {
        return;
    };
    assert_eq!(out.trim(), "errno 5");
}

#[test]
fn filter_is_loaded_before_the_user_switch_without_no_new_privileges() {
    if skip_unless_root() {
        return;
    }
    let Some(mut b) = bundle_with(
        &[
            "sh",
            "-c",
            "id -u; /probe status; grep NoNewPrivs /proc/self/status; /probe syscall 110; true",
        ],
        allow_but(json!([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7}])),
    ) else {
        return;
    };
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let out = Nook::new().output_of(&b);
    for want in ["1000\n", "Seccomp:\t2", "NoNewPrivs:\t0", "errno 7"] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
}

#[test]
fn notify_hands_the_listener_to_the_agent() {
    if skip_unless_root() {
        return;
    }
    // Loaded late (noNewPrivileges) and early (before the user switch).
    notify_case(true);
    notify_case(false);
}

fn notify_case(no_new_privileges: bool) {
    let agent = FdListener::new("agent.sock");
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": agent.path_str(), "listenerMetadata": "meta-1",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]});
    let Some(mut b) = bundle_with(&["sh", "-c", "mkdir /dev/shm/x; echo rc=$?"], profile) else {
        return;
    };
    b.edit(|c| c["process"]["noNewPrivileges"] = json!(no_new_privileges));
    let nook = Nook::new();
    let id = nook.new_id();
    let mut run = Some(nook.spawn(&["run", "--bundle", b.path_str(), &id]));
    let (listener, data) = agent.receive_fd(&mut run, Duration::from_secs(30));
    let state: Value = serde_json::from_slice(&data).expect("containerProcessState is JSON");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "meta-1", "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    assert!(state["ociVersion"].is_string(), "{state}");
    assert_eq!(state["state"]["id"], json!(id), "{state}");
    assert_eq!(state["state"]["status"], "creating", "{state}");
    // busybox mkdir makes mkdir(2) on x86_64 (83); the agent says ENOSPC.
    let nr = answer_one(&listener, libc::ENOSPC);
    assert!(
        nr == libc::SYS_mkdir as i32 || nr == libc::SYS_mkdirat as i32,
        "{nr}"
    );
    let out = run.take().unwrap().wait().expect_ok();
    assert!(out.stderr.contains("No space left on device"), "{out}");
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert_no_leftovers(&id, b.path(), nook.root());
}

#[test]
fn malformed_profiles_are_refused_naming_the_rule() {
    if skip_unless_root() {
        return;
    }
    let getpid = json!({"names": ["getpid"], "action": "SCMP_ACT_ALLOW"});
    let cases = [
        (
            allow_but(json!([getpid, {"names": ["read"], "action": "SCMP_ACT_FOO"}])),
            "linux.seccomp.syscalls[1].action: unknown action",
        ),
        (
            allow_but(json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BIGGER"}]}])),
            "linux.seccomp.syscalls[0].args[0].op: unknown operator",
        ),
        (
            allow_but(
                json!([getpid, getpid, {"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]),
            ),
            "linux.seccomp.syscalls[2].errnoRet",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
            "linux.seccomp.architectures[0]: unknown architecture",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}),
            "linux.seccomp.flags[0]: unknown flag",
        ),
        (
            allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])),
            "listenerPath is not set",
        ),
    ];
    for (profile, needle) in cases {
        let mut b = Bundle::new();
        b.edit(|c| c["linux"]["seccomp"] = profile);
        create_fails(&b, &[needle]);
    }
    let mut b = Bundle::new();
    b.edit(|c| {
        c["linux"]["seccomp"] = allow_but(json!([{"names": ["read"], "action": "SCMP_ACT_FOO"}]))
    });
    create_fails(&b, &["SCMP_ACT_FOO"]);
}

#[test]
fn unreachable_listener_fails_create_and_leaves_nothing() {
    if skip_unless_root() {
        return;
    }
    let dir = TempDir::new("agent");
    let missing = dir.path().join("no-agent.sock");
    let mut b = Bundle::new();
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": path_str(&missing),
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})
    });
    create_fails(&b, &["linux.seccomp.listenerPath", "no-agent.sock"]);
}
