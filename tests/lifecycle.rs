//! The container lifecycle: run, create/start/kill/delete, state, list,
//! detached runs and pid files.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Poll until `state ID` succeeds and reports `running` (the container may
/// not exist yet while a foreground `run` is still creating it).
fn wait_running(nook: &Nook, id: &str) {
    wait_until(&format!("{id} running"), SETTLE, || {
        let out = nook.run(&["state", id]);
        out.ok()
            && serde_json::from_str::<Value>(&out.stdout).is_ok_and(|v| v["status"] == "running")
    });
}

#[test]
fn run_prints_the_output_of_the_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::sh("echo hello from nook");
    let id = nook.new_id();
    let out = nook
        .run(&["run", "--bundle", bundle.path_str(), &id])
        .expect_ok();
    assert_eq!(out.stdout, "hello from nook\n", "{out}");
    // Foreground run without --keep removes the container afterwards.
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn run_exits_with_the_container_exit_status() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::sh("exit 7");
    let id = nook.new_id();
    let out = nook.run(&["run", "-b", bundle.path_str(), &id]);
    assert_eq!(out.code(), 7, "{out}");
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn run_of_a_killed_container_exits_128_plus_signal() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    let run = nook.spawn(&["run", "-b", bundle.path_str(), &id]);
    wait_running(&nook, &id);
    nook.run(&["kill", &id, "KILL"]).expect_ok();
    let out = run.wait();
    assert_eq!(out.code(), 128 + 9, "{out}");
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn run_keep_leaves_the_stopped_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::sh("exit 3");
    let id = nook.new_id();
    let out = nook.run(&["run", "--keep", "-b", bundle.path_str(), &id]);
    assert_eq!(out.code(), 3, "{out}");
    assert_eq!(nook.status(&id), "stopped");
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn create_start_kill_delete() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    nook.create(&bundle, &id);

    let state = nook.state(&id);
    for key in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ] {
        assert!(state.get(key).is_some(), "state lacks {key}: {state}");
    }
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "created");
    assert_eq!(state["bundle"], bundle.path_str());
    let pid = state["pid"].as_i64().expect("pid") as i32;
    assert!(
        pid > 0 && pid_alive(pid),
        "created container has no live pid: {state}"
    );

    nook.run(&["start", &id]).expect_ok();
    assert_eq!(nook.status(&id), "running");
    assert_eq!(nook.pid(&id), pid, "start must exec in the created process");

    nook.run(&["kill", &id, "KILL"]).expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);

    nook.run(&["delete", &id]).expect_ok();
    nook.run(&["state", &id]).expect_err(&["does not exist"]);
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn created_container_has_not_run_its_process_yet() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("echo ran > /ran");
    bundle.edit(|c| c["root"]["readonly"] = false.into());
    let marker = bundle.rootfs().join("ran");
    let id = nook.new_id();
    nook.create(&bundle, &id);
    // Give a process that wrongly ran early a moment to show itself.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "process ran before start");
    nook.run(&["start", &id]).expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);
    assert_eq!(fs::read_to_string(&marker).unwrap_or_default(), "ran\n");
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn delete_without_force_removes_a_created_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    nook.create(&bundle, &id);
    let pid = nook.pid(&id);
    nook.run(&["delete", &id]).expect_ok();
    wait_until("created process to die", SETTLE, || !pid_alive(pid));
    nook.run(&["state", &id]).expect_err(&["does not exist"]);
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn kill_defaults_to_sigterm() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    // PID 1 of a pid namespace only gets SIGTERM if it handles it, so the
    // shell installs a handler first and then says so via a marker file.
    let mut bundle = Bundle::sh("trap 'exit 3' TERM; touch /ready; while :; do sleep 0.1; done");
    bundle.edit(|c| c["root"]["readonly"] = false.into());
    let id = nook.new_id();
    nook.create(&bundle, &id);
    nook.run(&["start", &id]).expect_ok();
    let ready = bundle.rootfs().join("ready");
    wait_until("trap installed", SETTLE, || ready.exists());
    nook.run(&["kill", &id]).expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);
    nook.destroy(&id, &bundle);
}

#[test]
fn kill_accepts_signal_numbers_and_sig_names() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    for sig in ["9", "SIGKILL"] {
        let id = nook.new_id();
        nook.create(&bundle, &id);
        nook.run(&["start", &id]).expect_ok();
        nook.run(&["kill", &id, sig]).expect_ok();
        nook.wait_status(&id, "stopped", SETTLE);
        nook.destroy(&id, &bundle);
    }
}

#[test]
fn detached_run_returns_and_leaves_the_container_running() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    nook.run(&["run", "-d", "-b", bundle.path_str(), &id])
        .expect_ok();
    assert_eq!(nook.status(&id), "running");
    let pid = nook.pid(&id);
    assert!(pid_alive(pid));
    nook.run(&["kill", &id, "KILL"]).expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);
    nook.run(&["delete", &id]).expect_ok();
    assert!(!pid_alive(pid));
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn pid_file_holds_the_container_pid() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::new();
    let tmp = TempDir::new("pidfile");
    let pid_file = tmp.path().join("container.pid");
    let id = nook.new_id();
    nook.run(&[
        "create",
        "--pid-file",
        path_str(&pid_file),
        "--bundle",
        bundle.path_str(),
        &id,
    ])
    .expect_ok();
    let text = fs::read_to_string(&pid_file).expect("pid file written");
    let from_file: i32 = text.trim().parse().expect("pid file holds a number");
    assert_eq!(from_file, nook.pid(&id));
    nook.destroy(&id, &bundle);
}

#[test]
fn list_shows_created_containers_in_every_format() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let ids: BTreeSet<String> = (0..2).map(|_| nook.new_id()).collect();
    for id in &ids {
        nook.create(&bundle, id);
    }

    let table = nook.run(&["list"]).expect_ok();
    let mut lines = table.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{table}"
    );
    for id in &ids {
        let row = table
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cols| cols.first() == Some(&id.as_str()))
            .unwrap_or_else(|| panic!("{id} not listed:\n{table}"));
        assert_eq!(row[1], nook.pid(id).to_string(), "{table}");
        assert_eq!(row[2], "created", "{table}");
        assert_eq!(row[3], bundle.path_str(), "{table}");
    }

    let out = nook.run(&["list", "--format", "json"]).expect_ok();
    let json: Value = serde_json::from_str(&out.stdout).expect("list json");
    let entries = json.as_array().expect("list json is an array");
    let listed: BTreeSet<String> = entries
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(listed, ids, "{out}");
    for e in entries {
        assert_eq!(e["status"], "created", "{out}");
        assert_eq!(e["bundle"], bundle.path_str(), "{out}");
        let id = e["id"].as_str().unwrap_or_default();
        assert_eq!(e["pid"].as_i64(), Some(nook.pid(id) as i64), "{out}");
    }

    let quiet = nook.run(&["list", "-q"]).expect_ok();
    let listed: BTreeSet<String> = quiet.stdout.lines().map(str::to_string).collect();
    assert_eq!(listed, ids, "{quiet}");

    for id in &ids {
        nook.destroy(id, &bundle);
    }
    let empty = nook.run(&["list", "-q"]).expect_ok();
    assert_eq!(empty.stdout.trim(), "", "{empty}");
}

#[test]
fn concurrent_create_of_one_id_lets_exactly_one_win() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let id = nook.new_id();
    let args = ["create", "-b", bundle.path_str(), id.as_str()];
    let a = nook.spawn(&args);
    let b = nook.spawn(&args);
    let (a, b) = (a.wait(), b.wait());
    let (won, lost) = match (a.ok(), b.ok()) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        _ => panic!("exactly one create must succeed:\n{a}\n{b}"),
    };
    lost.expect_err(&["already exists"]);
    // The winner's container is intact.
    assert_eq!(nook.status(&id), "created", "{won}");
    assert!(pid_alive(nook.pid(&id)));
    nook.destroy(&id, &bundle);
}
