//! `linux.sysctl`: checked against the container's namespaces, then written
//! under the container's own /proc/sys.

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::namespaces::Plan;

const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

fn entries(spec: &Spec) -> Vec<(String, String)> {
    let mut v: Vec<_> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    v.sort();
    v
}

/// Which namespace a sysctl key belongs to; None when it is host-wide.
fn namespace_of(key: &str) -> Option<LinuxNamespaceType> {
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// Each key must belong to a namespace the container owns, as runc requires.
pub fn validate(spec: &Spec, ns: &Plan) -> Result<()> {
    for (key, _) in entries(spec) {
        let normalized = key.replace('/', ".");
        if key.is_empty() || key.contains("..") || key.starts_with('.') {
            bail!("linux.sysctl {key:?}: invalid name");
        }
        match namespace_of(&normalized) {
            None => {
                bail!("linux.sysctl {key:?} is not namespaced and cannot be set in a container")
            }
            Some(t) if !ns.is_new(t) => {
                let t = crate::namespaces::name(t);
                bail!("linux.sysctl {key:?} requires a new {t} namespace")
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Writes every sysctl; runs in the container after its /proc is mounted.
pub fn apply(spec: &Spec) -> Result<()> {
    for (key, value) in entries(spec) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value.as_bytes())
            .with_context(|| format!("linux.sysctl {key:?}: write {path}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sysctl: serde_json::Value, ns: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.0",
            "linux": {"sysctl": sysctl, "namespaces": ns}
        }))
        .unwrap()
    }

    #[test]
    fn net_needs_netns() {
        let s = spec(
            serde_json::json!({"net.ipv4.ip_forward": "1"}),
            serde_json::json!([{"type": "mount"}]),
        );
        let e = validate(&s, &Plan::from_spec(&s)).unwrap_err().to_string();
        assert!(e.contains("requires a new network namespace"), "{e}");
        let s = spec(
            serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}),
            serde_json::json!([{"type": "network"}, {"type": "ipc"}]),
        );
        validate(&s, &Plan::from_spec(&s)).unwrap();
    }

    #[test]
    fn host_wide_keys_refused() {
        let s = spec(
            serde_json::json!({"vm.swappiness": "1"}),
            serde_json::json!([]),
        );
        let e = validate(&s, &Plan::from_spec(&s)).unwrap_err().to_string();
        assert!(e.contains("not namespaced"), "{e}");
    }
}
