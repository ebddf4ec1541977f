//! The container process as seen from inside: pid, hostname, environment,
//! working directory, user and umask.

mod common;

use common::*;
use serde_json::json;

#[test]
fn the_container_process_is_pid_1() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::sh("echo $$");
    assert_eq!(nook.output_of(&bundle), "1\n");
}

#[test]
fn hostname_is_set_in_a_new_uts_namespace() {
    if skip_unless_root() {
        return;
    }
    let host_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let nook = Nook::new();
    let mut bundle = Bundle::sh("hostname; cat /proc/sys/kernel/hostname");
    bundle.edit(|c| c["hostname"] = json!("nook-test-host"));
    assert_eq!(nook.output_of(&bundle), "nook-test-host\nnook-test-host\n");
    let host_after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(host_before, host_after, "the host's hostname changed");
}

#[test]
fn environment_is_exactly_process_env() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("echo \"$GREETING|$EMPTY|$PATH\"; env");
    bundle.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "GREETING=hello world", "EMPTY="]);
    });
    let id = nook.new_id();
    // A variable of the runtime's own environment must not reach the container.
    let mut cmd = nook.command(&["run", "--bundle", bundle.path_str(), &id]);
    cmd.env("NOOK_TEST_LEAK", "leaked");
    let out = nook.spawn_cmd(cmd).wait().expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("hello world||/bin"), "{out}");
    assert!(
        !out.stdout.contains("NOOK_TEST_LEAK"),
        "host env leaked:\n{out}"
    );
}

#[test]
fn cwd_is_honoured() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("pwd");
    bundle.edit(|c| c["process"]["cwd"] = json!("/tmp"));
    assert_eq!(nook.output_of(&bundle), "/tmp\n");
}

#[test]
fn missing_cwd_is_created_inside_the_rootfs() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("pwd");
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["cwd"] = json!("/work/deep/dir");
    });
    assert_eq!(nook.output_of(&bundle), "/work/deep/dir\n");
    assert!(bundle.rootfs().join("work/deep/dir").is_dir());
}

#[test]
fn user_uid_gid_and_additional_gids_apply() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("id -u; id -g; id -G");
    bundle.edit(|c| {
        c["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [10, 20]});
    });
    let out = nook.output_of(&bundle);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "65534", "uid: {out}");
    assert_eq!(lines[1], "65534", "gid: {out}");
    let mut groups: Vec<u32> = lines[2]
        .split_whitespace()
        .map(|g| g.parse().expect("numeric group"))
        .collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups, [10, 20, 65534], "groups: {out}");
}

#[test]
fn umask_is_applied() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("umask");
    bundle.edit(|c| c["process"]["user"]["umask"] = json!(0o027));
    assert_eq!(nook.output_of(&bundle), "0027\n");
}
