//! linux.netDevices: host interfaces moved into the container's network
//! namespace, renamed, with their addresses kept and brought up; and the
//! configurations that must be refused, leaving the host device in place.
//!
//! The devices are veth pairs made by each test: this kernel has no `dummy`
//! link type, and bridges cannot change namespace. The `a` end carries a
//! private test address (10.254.x.1/24) and is the one moved; nothing is
//! ever sent over it.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use serde_json::{Value, json};

static PAIRS: AtomicUsize = AtomicUsize::new(0);

/// A veth pair on the host: `a` (with `addr`) is for the container, `b`
/// stays. Both ends are deleted on drop, whatever the test did: deleting
/// one end deletes the pair, and a pair whose namespace died is gone.
struct Veth {
    a: String,
    b: String,
    addr: String,
}

impl Veth {
    /// None (after a SKIP line) when the kernel cannot make veth pairs.
    fn new() -> Option<Veth> {
        let n = PAIRS.fetch_add(1, Ordering::SeqCst);
        // At most 15 bytes: "nkt" + 5 digits of the pid + 2 of the count + a/b.
        let base = format!("nkt{:05}{:02}", std::process::id() % 100_000, n % 100);
        let v = Veth {
            a: format!("{base}a"),
            b: format!("{base}b"),
            addr: format!("10.254.{}.1/24", 100 + n % 100),
        };
        if !ip_ok(&["link", "add", &v.a, "type", "veth", "peer", "name", &v.b]) {
            skip("cannot create a veth pair (`ip link add ... type veth` failed)");
            return None;
        }
        ip(&["addr", "add", &v.addr, "dev", &v.a]);
        Some(v)
    }

    /// True while the host's namespace has the `a` end.
    fn on_host(&self) -> bool {
        ip_ok(&["link", "show", "dev", &self.a])
    }

    /// Panics unless `a` is still on the host with its address.
    fn assert_on_host(&self, context: &str) {
        assert!(self.on_host(), "{} left the host:\n{context}", self.a);
        let addrs = ip(&["-o", "addr", "show", "dev", &self.a]);
        assert!(
            addrs.contains(&self.addr),
            "{} lost {} on the host: {addrs}\n{context}",
            self.a,
            self.addr
        );
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for end in [&self.a, &self.b] {
            let _ = ip_ok(&["link", "del", "dev", end]);
        }
    }
}

/// A bridge on the host, deleted on drop: a device the kernel refuses to
/// move to another namespace.
struct Bridge {
    name: String,
}

impl Bridge {
    /// None (after a SKIP line) when the kernel cannot make bridges.
    fn new(name: String) -> Option<Bridge> {
        if !ip_ok(&["link", "add", &name, "type", "bridge"]) {
            skip("cannot create a bridge (`ip link add ... type bridge` failed)");
            return None;
        }
        Some(Bridge { name })
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = ip_ok(&["link", "del", "dev", &self.name]);
    }
}

fn set_devices(bundle: &mut Bundle, devices: Value) {
    bundle.edit(|c| c["linux"]["netDevices"] = devices);
}

/// Replaces the network namespace entry by `entry` (None removes it).
fn set_netns(bundle: &mut Bundle, entry: Option<Value>) {
    bundle.edit(|c| {
        let list = c["linux"]["namespaces"]
            .as_array_mut()
            .expect("spec has linux.namespaces");
        list.retain(|ns| ns["type"] != "network");
        list.extend(entry);
    });
}

/// `create` must fail with every needle in its message and leave nothing
/// ([`create_fails`]); returns the whole output as text.
fn create_fails_text(bundle: &Bundle, needles: &[&str]) -> String {
    create_fails(bundle, needles).to_string()
}

/// True when `dev` has IFF_UP in `ip link` output.
fn is_up(ip_link: &str, dev: &str) -> bool {
    link_flags(ip_link, dev).split(',').any(|f| f == "UP")
}

/// The flags of `dev` in `ip link` output, e.g. "BROADCAST,MULTICAST,UP".
fn link_flags<'a>(ip_link: &'a str, dev: &str) -> &'a str {
    let line = ip_link
        .lines()
        // A veth shows as "NAME@ifPEER".
        .find(|l| l.split(": ").nth(1).and_then(|n| n.split('@').next()) == Some(dev))
        .unwrap_or_else(|| panic!("no link {dev}:\n{ip_link}"));
    let start = line.find('<').expect("flags start") + 1;
    let end = line.find('>').expect("flags end");
    &line[start..end]
}

#[test]
fn device_moves_renamed_with_its_address_and_up() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    let nook = Nook::new();
    let mut bundle = Bundle::sh("ip link; echo ADDR; ip addr show dev ctr0");
    set_devices(&mut bundle, json!({ veth.a.as_str(): {"name": "ctr0"} }));
    let out = nook.run_bundle(&bundle).expect_ok();
    let (links, addrs) = out.stdout.split_once("ADDR\n").expect("marker");
    assert!(is_up(links, "ctr0"), "ctr0 is not up:\n{out}");
    assert!(!mentions(links, &veth.a), "the host name remained:\n{out}");
    assert!(
        addrs.contains(&format!("inet {} ", veth.addr)) && addrs.contains("scope global"),
        "the address was not kept:\n{out}"
    );
}

#[test]
fn host_loses_the_device_while_the_container_runs() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "100"]);
    set_devices(&mut bundle, json!({ veth.a.as_str(): {"name": "ctr0"} }));
    let id = nook.new_id();
    nook.create(&bundle, &id);
    assert!(!veth.on_host(), "{} is still on the host", veth.a);
    // The container's namespace has it, seen from outside with nsenter.
    let pid = nook.pid(&id).to_string();
    let inside = Command::new("nsenter")
        .args(["-t", &pid, "-n", "ip", "-o", "addr", "show", "dev", "ctr0"])
        .output()
        .expect("run nsenter");
    let text = String::from_utf8_lossy(&inside.stdout);
    assert!(text.contains(&veth.addr), "not in the container: {text}");
    nook.run(&["start", &id]).expect_ok();
    nook.run(&["kill", &id, "KILL"]).expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);
    nook.destroy(&id, &bundle);
    // A veth dies with the namespace; nook does not move it back.
    wait_until("the veth pair to go", SETTLE, || !veth.on_host());
}

#[test]
fn template_and_unrenamed_devices() {
    if skip_unless_root() {
        return;
    }
    let (Some(one), Some(two)) = (Veth::new(), Veth::new()) else {
        return;
    };
    let nook = Nook::new();
    let mut bundle = Bundle::sh("ip link; ip addr");
    set_devices(
        &mut bundle,
        json!({ one.a.as_str(): {"name": "ctr%d"}, two.a.as_str(): {} }),
    );
    let out = nook.run_bundle(&bundle).expect_ok();
    assert!(is_up(&out.stdout, "ctr0"), "{out}");
    assert!(is_up(&out.stdout, &two.a), "{out}");
    for addr in [&one.addr, &two.addr] {
        assert!(out.stdout.contains(addr.as_str()), "{addr} missing:\n{out}");
    }
}

#[test]
fn joined_network_namespace_keeps_the_device() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    let ns = NetNs::new();
    let nook = Nook::new();
    let mut bundle = Bundle::sh("ip addr show dev ctr0");
    set_netns(
        &mut bundle,
        Some(json!({"type": "network", "path": ns.path()})),
    );
    set_devices(&mut bundle, json!({ veth.a.as_str(): {"name": "ctr0"} }));
    let out = nook.run_bundle(&bundle).expect_ok();
    assert!(out.stdout.contains(&veth.addr), "{out}");
    // The namespace's owner, not nook, decides what happens to it next.
    let there = ip(&["-n", ns.name(), "-o", "addr", "show", "dev", "ctr0"]);
    assert!(there.contains(&veth.addr), "{there}");
}

#[test]
fn missing_host_interface_is_refused_and_nothing_moves() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    let mut bundle = Bundle::new();
    let missing = format!("{}x", veth.b);
    set_devices(
        &mut bundle,
        json!({ veth.a.as_str(): {"name": "ctr0"}, missing.as_str(): {} }),
    );
    // The log escapes the quotes around the name: needles leave them out.
    let out = create_fails_text(
        &bundle,
        &["linux.netDevices[", &missing, "no network interface"],
    );
    veth.assert_on_host(&out);
}

#[test]
fn devices_without_network_namespace_are_refused() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    let mut bundle = Bundle::new();
    set_netns(&mut bundle, None);
    set_devices(&mut bundle, json!({ veth.a.as_str(): {"name": "ctr0"} }));
    let out = create_fails_text(&bundle, &["linux.netDevices", "no network namespace"]);
    veth.assert_on_host(&out);
}

#[test]
fn joining_the_host_network_namespace_is_refused() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    let mut bundle = Bundle::new();
    let own = format!("/proc/{}/ns/net", std::process::id());
    set_netns(&mut bundle, Some(json!({"type": "network", "path": own})));
    set_devices(&mut bundle, json!({ veth.a.as_str(): {} }));
    let out = create_fails_text(&bundle, &["linux.netDevices", "nook's own"]);
    veth.assert_on_host(&out);
}

#[test]
fn name_taken_in_the_container_is_refused() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    let mut bundle = Bundle::new();
    set_devices(&mut bundle, json!({ veth.a.as_str(): {"name": "lo"} }));
    let needles = [
        "linux.netDevices[",
        &veth.a,
        "].name",
        "lo",
        "already exists",
    ];
    let out = create_fails_text(&bundle, &needles);
    veth.assert_on_host(&out);
}

#[test]
fn invalid_name_is_refused() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    let mut bundle = Bundle::new();
    set_devices(
        &mut bundle,
        json!({ veth.a.as_str(): {"name": "two words"} }),
    );
    let needles = ["linux.netDevices[", &veth.a, "].name", "whitespace"];
    let out = create_fails_text(&bundle, &needles);
    veth.assert_on_host(&out);
}

#[test]
fn failure_half_way_moves_the_moved_devices_back() {
    if skip_unless_root() {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    ip(&["link", "set", "dev", &veth.a, "up"]);
    // Sorted after the veth, so the veth has moved when the bridge fails.
    let Some(bridge) = Bridge::new(veth.a.replace('a', "c")) else {
        return;
    };
    let mut bundle = Bundle::new();
    set_devices(
        &mut bundle,
        json!({ veth.a.as_str(): {"name": "ctr0"}, bridge.name.as_str(): {"name": "ctr1"} }),
    );
    let out = create_fails_text(&bundle, &["linux.netDevices[", &bridge.name, "refused"]);
    veth.assert_on_host(&out);
    let links = ip(&["link", "show", "dev", &veth.a]);
    assert!(
        is_up(&links, &veth.a),
        "{} is no longer up: {links}",
        veth.a
    );
}
