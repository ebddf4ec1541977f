//! `nook spec`: writes a starting config.json for a busybox-like rootfs.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Value, json};

pub fn run(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    let spec = template(rootless);
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    spec.serialize(&mut serde_json::Serializer::with_formatter(&mut buf, fmt))?;
    buf.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::anyhow!("File {} exists. Remove it first", path.display())
            }
            _ => anyhow::Error::new(e).context(format!("create {}", path.display())),
        })?;
    f.write_all(&buf)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    let mut m = json!({"destination": dest, "type": typ, "source": source});
    if !options.is_empty() {
        m["options"] = json!(options);
    }
    m
}

/// The default spec: runc's defaults, with the cgroup namespace on.
pub fn template(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": nook::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "nook",
        "mounts": [
            mount("/proc", "proc", "proc", &[]),
            mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
            mount("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
            mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
            mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi", "/sys/devices/virtual/powercap"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        make_rootless(&mut spec);
    }
    spec
}

/// As runc's `spec --rootless`: a user namespace mapping the caller to root,
/// no network namespace or cgroup resources, and /sys bound from the host.
fn make_rootless(spec: &mut Value) {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let linux = &mut spec["linux"];
    linux["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}]);
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    let mounts = spec["mounts"].as_array_mut().expect("mounts is an array");
    for m in mounts.iter_mut() {
        if m["destination"] == "/dev/pts" {
            m["options"] = json!([
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620"
            ]);
        }
        if m["destination"] == "/sys" {
            *m = mount(
                "/sys",
                "none",
                "/sys",
                &["rbind", "nosuid", "noexec", "nodev", "ro"],
            );
        }
    }
    mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_validates() {
        let mut v = template(false);
        v["process"]["terminal"] = false.into();
        let spec = nook::spec::parse(v.to_string().as_bytes()).unwrap();
        nook::spec::validate(&spec).unwrap();
    }

    #[test]
    fn rootless_has_user_namespace() {
        let v = template(true);
        assert!(
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "user")
        );
        assert!(v["linux"].get("resources").is_none());
    }
}
