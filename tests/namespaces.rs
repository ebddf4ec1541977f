//! linux.namespaces: time namespaces with offsets, joining namespaces by
//! path (a named netns, another container's uts), cgroup namespaces, and
//! the configurations that must be refused.

mod common;

use common::*;
use serde_json::{Value, json};

/// Replaces the namespace entry of type `typ` (or appends one) by `entry`;
/// `None` removes it.
fn set_namespace(bundle: &mut Bundle, typ: &str, entry: Option<Value>) {
    bundle.edit(|c| {
        let list = c["linux"]["namespaces"]
            .as_array_mut()
            .expect("spec has linux.namespaces");
        list.retain(|ns| ns["type"] != typ);
        if let Some(e) = entry {
            list.push(e);
        }
    });
}

/// Foreground run under a fresh id; checks for leftovers and success.
fn run_ok(nook: &Nook, bundle: &Bundle) -> (String, Out) {
    let id = nook.new_id();
    let out = nook.run(&["run", "--bundle", bundle.path_str(), &id]);
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
    (id, out.expect_ok())
}

fn host_uptime() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").expect("read /proc/uptime");
    parse_uptime(&text)
}

fn parse_uptime(text: &str) -> f64 {
    text.split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("bad uptime {text:?}"))
}

#[test]
fn time_namespace_applies_time_offsets() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("cat /proc/self/timens_offsets; echo uptime:; cat /proc/uptime");
    set_namespace(&mut bundle, "time", Some(json!({"type": "time"})));
    bundle.edit(|c| {
        c["linux"]["timeOffsets"] = json!({
            "boottime": {"secs": 86400},
            "monotonic": {"secs": 3600}
        })
    });
    let before = host_uptime();
    let (_, out) = run_ok(&nook, &bundle);
    let after = host_uptime();
    let (offsets, uptime) = out
        .stdout
        .split_once("uptime:\n")
        .unwrap_or_else(|| panic!("unexpected output:\n{out}"));
    let offset = |clock: &str| -> Vec<&str> {
        offsets
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&clock))
            .unwrap_or_else(|| panic!("no {clock} line:\n{out}"))[1..]
            .to_vec()
    };
    assert_eq!(offset("boottime"), ["86400", "0"], "{out}");
    assert_eq!(offset("monotonic"), ["3600", "0"], "{out}");
    let inside = parse_uptime(uptime);
    assert!(
        inside >= before + 86400.0 && inside <= after + 86400.0 + 1.0,
        "uptime inside {inside}, host {before}..{after}:\n{out}"
    );
}

#[test]
fn network_namespace_is_joined_by_path() {
    if skip_unless_root() {
        return;
    }
    let ns = NetNs::new();
    // A dummy link; kernels built without the dummy driver get a bridge
    // of the same name instead (any link that only this netns has will do).
    let add = |kind| ["-n", ns.name(), "link", "add", "nookdummy0", "type", kind];
    if !ip_ok(&add("dummy")) {
        ip(&add("bridge"));
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("ip link");
    set_namespace(
        &mut bundle,
        "network",
        Some(json!({"type": "network", "path": ns.path()})),
    );
    let (_, out) = run_ok(&nook, &bundle);
    assert!(
        out.stdout.contains("nookdummy0"),
        "the named netns was not joined:\n{out}"
    );
    // The named netns itself outlives the container.
    assert!(
        std::path::Path::new(&ns.path()).exists(),
        "{} is gone",
        ns.path()
    );
}

#[test]
fn uts_namespace_of_another_container_is_joined() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut a = Bundle::new();
    a.set_args(&["sleep", "100"]);
    a.edit(|c| c["hostname"] = json!("alpha"));
    let a_id = nook.new_id();
    nook.create(&a, &a_id);
    nook.run(&["start", &a_id]).expect_ok();
    let a_pid = nook.pid(&a_id);

    let mut b = Bundle::sh("hostname");
    b.edit(|c| {
        c.as_object_mut().expect("object").remove("hostname");
    });
    set_namespace(
        &mut b,
        "uts",
        Some(json!({"type": "uts", "path": format!("/proc/{a_pid}/ns/uts")})),
    );
    let (_, out) = run_ok(&nook, &b);
    assert_eq!(out.stdout, "alpha\n", "{out}");

    assert_eq!(nook.status(&a_id), "running", "joining disturbed A");
    nook.run(&["kill", &a_id, "KILL"]).expect_ok();
    nook.wait_status(&a_id, "stopped", SETTLE);
    nook.run(&["delete", &a_id]).expect_ok();
    assert_no_leftovers(&a_id, a.path(), nook.root());
}

#[test]
fn namespace_path_that_is_not_a_namespace_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    set_namespace(
        &mut bundle,
        "network",
        Some(json!({"type": "network", "path": "/etc/passwd"})),
    );
    create_fails(&bundle, &["linux.namespaces", "/etc/passwd"]);
}

#[test]
fn namespace_path_of_the_wrong_type_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    // The test's own uts namespace: a real namespace file, of another type.
    let uts = format!("/proc/{}/ns/uts", std::process::id());
    set_namespace(
        &mut bundle,
        "network",
        Some(json!({"type": "network", "path": uts})),
    );
    let out = create_fails(&bundle, &["linux.namespaces", &uts]);
    assert!(
        out.stderr.contains("not a network namespace"),
        "the message does not name the expected type:\n{out}"
    );
}

#[test]
fn duplicate_namespace_type_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "ipc"}))
    });
    create_fails(&bundle, &["linux.namespaces", "duplicate", "ipc"]);
}

#[test]
fn hostname_without_uts_namespace_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| c["hostname"] = json!("somehost"));
    set_namespace(&mut bundle, "uts", None);
    create_fails(&bundle, &["hostname", "uts"]);
}

#[test]
fn user_namespace_without_mappings_is_refused() {
    if skip_unless_root() {
        return;
    }
    // The working cases are in tests/userns.rs.
    let mut bundle = Bundle::new();
    set_namespace(&mut bundle, "user", Some(json!({"type": "user"})));
    create_fails(
        &bundle,
        &["linux.uidMappings", "needs at least one uid mapping"],
    );
}

/// The path fields of /proc/self/cgroup lines (`ID:CONTROLLERS:PATH`).
fn cgroup_paths(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.splitn(3, ':')
                .nth(2)
                .unwrap_or_else(|| panic!("bad cgroup line {l:?}"))
                .to_string()
        })
        .collect()
}

#[test]
fn cgroup_namespace_hides_the_cgroup_path() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("cat /proc/self/cgroup");
    set_namespace(&mut bundle, "cgroup", Some(json!({"type": "cgroup"})));
    let (_, out) = run_ok(&nook, &bundle);
    let paths = cgroup_paths(&out.stdout);
    assert!(!paths.is_empty(), "{out}");
    assert!(
        paths.iter().all(|p| p == "/"),
        "a cgroup namespace must show only /:\n{out}"
    );
}

#[test]
fn without_cgroup_namespace_the_container_cgroup_shows() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("cat /proc/self/cgroup");
    set_namespace(&mut bundle, "cgroup", None);
    let (id, out) = run_ok(&nook, &bundle);
    let paths = cgroup_paths(&out.stdout);
    assert!(
        paths.iter().any(|p| p.ends_with(&format!("/{id}"))),
        "no cgroup path ends in the container id {id}:\n{out}"
    );
}
