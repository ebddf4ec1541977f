//! Failures: each must exit 1 with a one-line message in the wording callers
//! match on, and must leave nothing behind.

mod common;

use common::*;
use serde_json::json;

#[test]
fn missing_bundle_is_named() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let id = nook.new_id();
    let missing = std::env::temp_dir().join(format!("{}.missing", unique_name()));
    let missing_s = path_str(&missing);
    nook.run(&["create", "--bundle", missing_s, &id])
        .expect_err(&[missing_s]);
    assert_no_leftovers(&id, &missing, nook.root());
    assert!(!missing.exists(), "create made the missing bundle dir");
}

#[test]
fn missing_config_json_is_named() {
    if skip_unless_root() {
        return;
    }
    let bundle = Bundle::new();
    std::fs::remove_file(bundle.path().join("config.json")).unwrap();
    create_fails(&bundle, &["config.json"]);
}

#[test]
fn invalid_json_is_reported_against_config_json() {
    if skip_unless_root() {
        return;
    }
    let bundle = Bundle::new();
    bundle.write_raw_config("{ \"ociVersion\": \"1.0.2\", ");
    create_fails(&bundle, &["config.json"]);
}

#[test]
fn unsupported_oci_version_major_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| c["ociVersion"] = json!("2.0.0"));
    create_fails(&bundle, &["ociVersion"]);
}

#[test]
fn missing_rootfs_is_named() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    let out = create_fails(&bundle, &[]);
    assert!(
        out.stderr.contains("root.path") || out.stderr.contains("no-such-rootfs"),
        "the message names neither root.path nor the missing dir:\n{out}"
    );
}

#[test]
fn missing_executable_fails_at_create_and_is_named() {
    if skip_unless_root() {
        return;
    }
    for prog in ["no-such-program", "/bin/no-such-binary"] {
        let mut bundle = Bundle::new();
        bundle.set_args(&[prog]);
        create_fails(&bundle, &[prog]);
    }
}

#[test]
fn bad_container_ids_are_refused() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::new();
    for id in ["bad/id", "..", "../escape"] {
        let out = nook
            .run(&["create", "--bundle", bundle.path_str(), id])
            .expect_err(&[]);
        // runc says "invalid container ID format"; any casing will do.
        let msg = out.stderr.to_lowercase();
        assert!(msg.contains("invalid container id"), "{out}");
        assert_no_leftovers(id, bundle.path(), nook.root());
        assert_root_empty(nook.root());
        assert!(!nook.root().join("bad").exists());
        assert!(!nook.root().parent().unwrap().join("escape").exists());
    }
}

#[test]
fn unknown_ids_do_not_exist() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let id = unique_name();
    for args in [
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
    ] {
        nook.run(&args).expect_err(&["does not exist"]);
    }
    // Forced delete of an unknown id is not an error (runc behaviour).
    nook.run(&["delete", "--force", &id]).expect_ok();
    assert_root_empty(nook.root());
}

#[test]
fn duplicate_id_is_refused_and_the_first_container_survives() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    nook.create(&bundle, &id);
    let pid = nook.pid(&id);
    let other = Bundle::new();
    nook.run(&["create", "--bundle", other.path_str(), &id])
        .expect_err(&["already exists"]);
    let state = nook.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"].as_i64(), Some(pid as i64));
    assert_eq!(state["bundle"], bundle.path_str());
    assert!(pid_alive(pid));
    nook.destroy(&id, &bundle);
    assert_no_leftovers(&id, other.path(), nook.root());
}

#[test]
fn start_of_a_running_container_is_refused() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    nook.create(&bundle, &id);
    nook.run(&["start", &id]).expect_ok();
    nook.run(&["start", &id]).expect_err(&["cannot start"]);
    assert_eq!(nook.status(&id), "running");
    nook.destroy(&id, &bundle);
}

#[test]
fn delete_of_a_running_container_needs_force() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    nook.create(&bundle, &id);
    nook.run(&["start", &id]).expect_ok();
    let pid = nook.pid(&id);
    nook.run(&["delete", &id])
        .expect_err(&["cannot delete container", "not stopped"]);
    assert_eq!(nook.status(&id), "running");
    assert!(pid_alive(pid));
    nook.destroy(&id, &bundle);
    assert!(!pid_alive(pid));
}

#[test]
fn kill_of_a_stopped_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::sh("exit 0");
    let id = nook.new_id();
    nook.create(&bundle, &id);
    nook.run(&["start", &id]).expect_ok();
    nook.wait_status(&id, "stopped", std::time::Duration::from_secs(10));
    nook.run(&["kill", &id, "KILL"])
        .expect_err(&["container not running"]);
    // With --all there is nothing to do, which is not an error.
    nook.run(&["kill", "--all", &id, "KILL"]).expect_ok();
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn unknown_signal_is_refused_and_nothing_is_sent() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    nook.create(&bundle, &id);
    nook.run(&["start", &id]).expect_ok();
    // A bad name must be named back; a number out of range just fails.
    for sig in ["SIGFOO", "FOO"] {
        nook.run(&["kill", &id, sig]).expect_err(&["FOO"]);
    }
    nook.run(&["kill", &id, "99999"]).expect_err(&[]);
    assert_eq!(nook.status(&id), "running");
    assert!(pid_alive(nook.pid(&id)));
    nook.destroy(&id, &bundle);
}
