//! What the host can see of a container's init before and after `start`
//! (its stage name, no_new_privs), and a process.cwd that is a symlink.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::*;
use serde_json::json;

/// The value of one `Key:` line of /proc/PID/status.
fn status_field(pid: i32, key: &str) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("/proc/{pid}/status has no {key}:\n{text}"))
}

fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .expect("read comm")
        .trim_end()
        .to_string()
}

/// create, check init's comm and NoNewPrivs, start, check again, clean up.
fn check_init_before_and_after_start(no_new_privileges: bool) {
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "100"]);
    bundle.edit(|c| c["process"]["noNewPrivileges"] = json!(no_new_privileges));
    let want = if no_new_privileges { "1" } else { "0" };
    let id = nook.new_id();
    nook.create(&bundle, &id);
    let pid = nook.pid(&id);

    assert_eq!(comm(pid), "nook:init", "the blocked init's name");
    assert_eq!(
        status_field(pid, "NoNewPrivs"),
        want,
        "NoNewPrivs of the created init"
    );

    nook.run(&["start", &id]).expect_ok();
    wait_until("init to exec sleep", SETTLE, || comm(pid) == "sleep");
    assert_eq!(nook.pid(&id), pid);
    assert_eq!(
        status_field(pid, "NoNewPrivs"),
        want,
        "NoNewPrivs of the program"
    );

    nook.run(&["kill", &id, "KILL"]).expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn created_init_is_named_and_has_no_new_privs() {
    if skip_unless_root() {
        return;
    }
    check_init_before_and_after_start(true);
}

#[test]
fn created_init_without_no_new_privileges() {
    if skip_unless_root() {
        return;
    }
    let me = std::process::id() as i32;
    if status_field(me, "NoNewPrivs") == "1" {
        skip("the test itself runs with no_new_privs, which every child inherits");
        return;
    }
    check_init_before_and_after_start(false);
}

/// A rootfs passwd file that differs from any host's.
const PASSWD: &str = "root:x:0:0:cwd-symlink-test:/root:/bin/sh\n";

fn cwd_symlink_case(target: &str) {
    let nook = Nook::new();
    let mut bundle = Bundle::sh("pwd -P; cat passwd");
    fs::write(bundle.rootfs().join("etc/passwd"), PASSWD).expect("write passwd");
    symlink(target, bundle.rootfs().join("etclink")).expect("symlink");
    bundle.edit(|c| c["process"]["cwd"] = json!("/etclink"));
    let out = nook.output_of(&bundle);
    assert_eq!(
        out,
        format!("/etc\n{PASSWD}"),
        "cwd is not the container's /etc"
    );
}

#[test]
fn cwd_absolute_symlink_resolves_inside_the_rootfs() {
    if skip_unless_root() {
        return;
    }
    cwd_symlink_case("/etc");
}

#[test]
fn cwd_relative_symlink_cannot_climb_out_of_the_rootfs() {
    if skip_unless_root() {
        return;
    }
    cwd_symlink_case("../../../../../../etc");
}
