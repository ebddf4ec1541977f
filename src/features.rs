//! `nook features`: what this build of nook implements, as the JSON of
//! runtime-spec features.md and features-linux.md. Every list comes from the
//! table the code itself uses, so the report cannot drift from the behaviour.
//! Per the spec it describes nook, not the host: a feature the host lacks
//! (AppArmor here, say) is still listed when nook implements it.

use serde_json::{Value, json};

use crate::{capabilities, hooks, procattr, rootfs, seccomp};

/// The oldest config version nook accepts.
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// Namespace types nook can create or join (a user namespace can only be
/// new: joining one by path is refused, see `userns`).
pub const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

fn names(table: &'static [(&'static str, libc::c_int)]) -> Vec<&'static str> {
    table.iter().map(|(n, _)| *n).collect()
}

/// The features document.
pub fn features() -> Value {
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": hooks::Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "mountOptions": rootfs::options::supported().collect::<Vec<_>>(),
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities::names(),
            "cgroup": cgroup(),
            "seccomp": {
                "enabled": true,
                "actions": seccomp::translate::ACTIONS,
                "operators": seccomp::translate::OPERATORS,
                "archs": seccomp::translate::ARCHS,
                "knownFlags": seccomp::translate::FLAGS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                "supportedFlags": seccomp::supported_flags(),
            },
            // The labels are written for execve when the host has the LSM;
            // without it a config that asks for one is refused.
            "apparmor": { "enabled": true },
            "selinux": { "enabled": true },
            "intelRdt": { "enabled": false },
            "memoryPolicy": {
                "modes": names(procattr::MPOL_MODES),
                "flags": names(procattr::MPOL_FLAGS),
            },
            "mountExtensions": { "idmap": { "enabled": false } },
            "netDevices": { "enabled": true },
        },
        "annotations": {
            "nook.version": env!("CARGO_PKG_VERSION"),
        },
    })
}

fn cgroup() -> Value {
    json!({
        "v1": true,
        "v2": true,
        "systemd": true,
        "systemdUser": false,
        "rdma": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_complete_and_unique() {
        let f = features();
        for list in [&f["hooks"], &f["mountOptions"], &f["linux"]["capabilities"]] {
            let v: Vec<&str> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            let mut sorted = v.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), v.len(), "duplicates in {v:?}");
        }
        assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
        let opts = f["mountOptions"].as_array().unwrap();
        assert!(opts.iter().any(|o| o == "rro"));
        assert!(opts.iter().any(|o| o == "tmpcopyup"));
        assert!(!opts.iter().any(|o| o == "idmap"));
        assert!(
            f["linux"]["memoryPolicy"]["modes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == "MPOL_LOCAL")
        );
    }
}
