//! User namespaces: `linux.uidMappings`/`gidMappings` with a new user
//! namespace, seen from inside the container and from the host, the
//! fallbacks for mounts the kernel refuses in a user namespace, and the
//! errors for configs nook cannot honour (each leaving nothing behind).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::{Value, json};

const HOST_BASE: u32 = 100000;

fn map(container: u32, host: u32, size: u32) -> Value {
    json!({"containerID": container, "hostID": host, "size": size})
}

/// A bundle running `sh -c SCRIPT` in a new user namespace mapping
/// 0..65536 to HOST_BASE.. . The bundle directory must be searchable by the
/// mapped root, which is an unprivileged uid on the host.
fn userns_bundle(script: &str) -> Bundle {
    let mut b = Bundle::sh(script);
    std::fs::set_permissions(b.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([map(0, HOST_BASE, 65536)]);
        c["linux"]["gidMappings"] = json!([map(0, HOST_BASE, 65536)]);
    });
    b
}

fn status_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

#[test]
fn container_root_is_mapped_and_keeps_its_capabilities_inside() {
    if skip_unless_root() {
        return;
    }
    let mut b = userns_bundle(
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; \
         grep CapEff /proc/self/status; echo x > /dev/null && echo devnull-ok; \
         mount -t tmpfs none /mnt && echo mount-ok",
    );
    let caps = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = caps.clone();
        }
    });
    let out = Nook::new().output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(lines[1], "0", "{out}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    // CAP_SYS_ADMIN (21) and CAP_KILL (5), held over the namespace only.
    assert_eq!(
        status_field(lines[4], "CapEff"),
        format!("{:016x}", (1u64 << 21) | (1 << 5))
    );
    assert!(out.contains("devnull-ok"), "{out}");
    // CAP_SYS_ADMIN over its own mount namespace: it may mount.
    assert!(out.contains("mount-ok"), "{out}");
}

#[test]
fn host_sees_the_mapped_ids() {
    if skip_unless_root() {
        return;
    }
    let mut b = userns_bundle("sleep 100");
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["args"] = json!(["sleep", "100"]);
    });
    let nook = Nook::new();
    let id = nook.new_id();
    nook.create(&b, &id).expect_ok();
    nook.run(&["start", &id]).expect_ok();
    nook.wait_status(&id, "running", SETTLE);
    let pid = nook.pid(&id);
    // After execve the container process runs as the mapped host ids.
    let mut status = String::new();
    for _ in 0..100 {
        status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        if status_field(&status, "Name") == "sleep" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(status_field(&status, "Uid"), "101000 101000 101000 101000");
    assert_eq!(status_field(&status, "Gid"), "101000 101000 101000 101000");
    let host_ns = std::fs::read_link("/proc/self/ns/user").unwrap();
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_ne!(ns, host_ns, "container is in the host user namespace");
    nook.destroy(&id, &b);
}

#[test]
fn sysfs_falls_back_to_the_host_mount_without_a_network_namespace() {
    if skip_unless_root() {
        return;
    }
    let mut b = userns_bundle("ls /sys/class/net | grep -x lo");
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
    });
    assert_eq!(Nook::new().output_of(&b).trim(), "lo");
}

#[test]
fn terminal_works_in_a_user_namespace() {
    if skip_unless_root() {
        return;
    }
    // devpts' gid=5 option needs gid 5 mapped: it is (0..65536).
    let b = userns_bundle("test -c /dev/pts/ptmx && echo pts-ok");
    assert_eq!(Nook::new().output_of(&b).trim(), "pts-ok");
}

#[test]
fn mapping_errors_name_the_field_and_leave_nothing() {
    if skip_unless_root() {
        return;
    }
    // Mappings without a user namespace.
    let mut b = Bundle::new();
    b.edit(|c| c["linux"]["uidMappings"] = json!([map(0, HOST_BASE, 10)]));
    create_fails(
        &b,
        &["linux.uidMappings/gidMappings are set but linux.namespaces has no user namespace"],
    );
    // A user namespace without mappings.
    let mut b = userns_bundle("true");
    b.edit(|c| c["linux"]["uidMappings"] = json!([]));
    create_fails(
        &b,
        &["linux.uidMappings: a new user namespace needs at least one uid mapping"],
    );
    // process.user outside the mapping.
    let mut b = userns_bundle("true");
    b.edit(|c| c["process"]["user"] = json!({"uid": 70000, "gid": 0}));
    create_fails(&b, &["process.user.uid 70000 is not mapped"]);
    // Overlapping ranges.
    let mut b = userns_bundle("true");
    b.edit(|c| c["linux"]["gidMappings"] = json!([map(0, HOST_BASE, 10), map(5, 200000, 10)]));
    create_fails(&b, &["linux.gidMappings[1] overlaps linux.gidMappings[0]"]);
    // A user namespace joined by path with a new pid namespace.
    let mut b = userns_bundle("true");
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "user");
        ns.push(json!({"type": "user", "path": "/proc/self/ns/user"}));
        c["linux"].as_object_mut().unwrap().remove("uidMappings");
        c["linux"].as_object_mut().unwrap().remove("gidMappings");
    });
    create_fails(
        &b,
        &["a new pid namespace together with a user namespace joined by path is not supported yet"],
    );
    // A new user namespace with another namespace joined by path.
    let mut b = userns_bundle("true");
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "network", "path": "/proc/self/ns/net"}));
    });
    create_fails(
        &b,
        &["joining a network namespace by path together with a new user namespace"],
    );
}

#[test]
fn a_second_container_joins_the_first_ones_user_namespace() {
    if skip_unless_root() {
        return;
    }
    // The first container owns a user namespace (a pod's infra container).
    let mut infra = userns_bundle("sleep 100");
    infra.set_args(&["sleep", "100"]);
    let nook = Nook::new();
    let id = nook.new_id();
    nook.create(&infra, &id).expect_ok();
    let pid = nook.pid(&id);
    // The second joins it and its pid namespace, and gets new mount, uts,
    // ipc, network, cgroup and time namespaces owned by that user namespace.
    let mut app = Bundle::sh(
        "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; hostname; \
         mount -t tmpfs none /mnt && echo mount-ok",
    );
    std::fs::set_permissions(app.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    app.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        ns.push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
        ns.push(json!({"type": "pid", "path": format!("/proc/{pid}/ns/pid")}));
        ns.push(json!({"type": "time"}));
        c["hostname"] = json!("app");
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(["CAP_SYS_ADMIN"]);
        }
    });
    let out = nook.output_of(&app);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    let infra_user = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_eq!(lines[2], infra_user.to_str().unwrap(), "{out}");
    assert_eq!(lines[3], "app", "{out}");
    // CAP_SYS_ADMIN over a mount namespace the joined user namespace owns.
    assert_eq!(lines[4], "mount-ok", "{out}");
    nook.destroy(&id, &infra);
}
