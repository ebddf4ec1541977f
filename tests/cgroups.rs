//! The container's processes through its cgroups: pause, resume, ps and
//! kill --all, on this host's cgroups (v1 freezer here; cgroup v2 is covered
//! in the QEMU guest of tests/vm).

mod common;

use common::*;
use serde_json::Value;

/// The freezer file of a container process, read from the host.
fn freezer_state(pid: i32) -> String {
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    for line in cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrl, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if ctrl == "freezer" {
            let file = format!("/sys/fs/cgroup/freezer{path}/freezer.state");
            return std::fs::read_to_string(&file)
                .expect("read freezer.state")
                .trim()
                .to_string();
        }
        if ctrl.is_empty() && !std::path::Path::new("/sys/fs/cgroup/freezer").exists() {
            let file = format!("/sys/fs/cgroup{path}/cgroup.freeze");
            return std::fs::read_to_string(&file)
                .expect("read cgroup.freeze")
                .trim()
                .to_string();
        }
    }
    panic!("no freezer cgroup for pid {pid}:\n{cgroup}");
}

fn running(nook: &Nook, script: &str, edit: impl FnOnce(&mut Value)) -> (String, Bundle) {
    let mut bundle = Bundle::sh(script);
    bundle.edit(edit);
    let id = nook.new_id();
    nook.run(&["run", "-d", "-b", bundle.path_str(), &id])
        .expect_ok();
    (id, bundle)
}

#[test]
fn pause_freezes_and_resume_thaws_the_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (id, bundle) = running(&nook, "sleep 1000", |_| {});
    let pid = nook.pid(&id);
    nook.run(&["pause", &id]).expect_ok();
    assert_eq!(nook.status(&id), "paused");
    assert!(matches!(freezer_state(pid).as_str(), "FROZEN" | "1"));
    nook.run(&["pause", &id]).expect_err(&["already paused"]);
    nook.run(&["resume", &id]).expect_ok();
    assert_eq!(nook.status(&id), "running");
    assert!(matches!(freezer_state(pid).as_str(), "THAWED" | "0"));
    nook.run(&["resume", &id]).expect_err(&["not paused"]);

    // A paused container is removed by delete --force, quickly and wholly.
    nook.run(&["pause", &id]).expect_ok();
    nook.run(&["delete", "--force", &id]).expect_ok();
    assert!(!pid_alive(pid));
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn pause_of_a_stopped_container_is_refused() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (id, bundle) = running(&nook, "true", |_| {});
    nook.wait_status(&id, "stopped", SETTLE);
    nook.run(&["pause", &id])
        .expect_err(&["container not running"]);
    nook.run(&["resume", &id]).expect_err(&["not paused"]);
    nook.run(&["pause", "nope-no-such-id"])
        .expect_err(&["does not exist"]);
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn ps_lists_the_processes_of_the_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (id, bundle) = running(&nook, "sleep 1001 & exec sleep 1002", |_| {});
    let init = nook.pid(&id);
    let mut pids: Vec<i32> = Vec::new();
    wait_until("two processes in the cgroup", SETTLE, || {
        let out = nook.run(&["ps", "--format", "json", &id]).expect_ok();
        pids = serde_json::from_str(out.stdout.trim()).expect("ps json");
        pids.len() == 2
    });
    assert!(pids.contains(&init), "{pids:?} lacks init {init}");
    let table = nook.run(&["ps", &id]).expect_ok().stdout;
    let header = table.lines().next().unwrap_or_default();
    assert!(header.contains("PID"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(
        table.contains("sleep 1001") && table.contains("sleep 1002"),
        "{table}"
    );
    // Extra arguments go to ps(1).
    let custom = nook.run(&["ps", &id, "-o", "pid,comm"]).expect_ok().stdout;
    assert!(
        custom
            .lines()
            .next()
            .unwrap_or_default()
            .contains("COMMAND"),
        "{custom}"
    );
    nook.destroy(&id, &bundle);
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn kill_all_signals_every_process_of_the_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    // In the host's pid namespace killing init leaves its children alive:
    // only --all reaches them.
    let no_pidns = |c: &mut Value| {
        let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.retain(|n| n["type"] != "pid");
    };
    let (id, bundle) = running(&nook, "sleep 1003 & exec sleep 1004", no_pidns);
    let mut pids: Vec<i32> = Vec::new();
    wait_until("two processes in the cgroup", SETTLE, || {
        let out = nook.run(&["ps", "--format", "json", &id]).expect_ok();
        pids = serde_json::from_str(out.stdout.trim()).expect("ps json");
        pids.len() == 2
    });
    nook.run(&["kill", "--all", &id, "KILL"]).expect_ok();
    wait_until("every process gone", SETTLE, || {
        pids.iter().all(|p| !pid_alive(*p))
    });
    nook.wait_status(&id, "stopped", SETTLE);
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn events_report_stats_and_an_oom() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let limits = |c: &mut Value| {
        c["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 16 << 20, "swap": 16 << 20});
        c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 50});
    };
    // Waits for /tmp/go, then eats memory until the OOM killer ends it.
    let hog = "while [ ! -e /tmp/go ]; do sleep 0.05; done; x=a; while true; do x=$x$x; done";
    let (id, bundle) = running(&nook, hog, limits);
    let out = nook.run(&["events", "--stats", &id]).expect_ok();
    let ev: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON stats event");
    assert_eq!(ev["type"], "stats", "{out}");
    assert_eq!(ev["id"], id.as_str(), "{out}");
    assert_eq!(ev["data"]["pids"]["limit"], 50, "{out}");
    assert!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{out}"
    );
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 16 << 20, "{out}");
    assert!(ev["data"]["cpu"]["usage"]["total"].is_u64(), "{out}");

    // Streaming: stats lines, then an oom event, then the stream ends with the container.
    let stream = nook.spawn(&["events", "--interval", "200ms", &id]);
    std::fs::write(bundle.rootfs().join("tmp/go"), "").expect("start the hog");
    let out = stream.wait();
    assert!(out.ok(), "{out}");
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(lines.iter().any(|l| l["type"] == "stats"), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "oom" && l["id"] == id.as_str()),
        "{out}"
    );
    nook.wait_status(&id, "stopped", SETTLE);
    nook.run(&["events", "--stats", &id])
        .expect_err(&["container not running"]);
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}
