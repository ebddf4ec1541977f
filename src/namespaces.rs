//! Which namespaces the container gets, and how each is reached: a new one
//! made by clone3 (or unshare, where the kernel needs that), or an existing
//! one joined by path with setns.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

/// The namespaces of `linux.namespaces`, as given.
pub fn list(spec: &Spec) -> Vec<LinuxNamespace> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
}

/// The container's namespaces: each type at most once, with an optional path.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    entries: Vec<(LinuxNamespaceType, Option<PathBuf>)>,
}

impl Plan {
    /// Builds the plan from `linux.namespaces` (validated elsewhere).
    pub fn from_spec(spec: &Spec) -> Self {
        let entries = list(spec)
            .into_iter()
            .map(|ns| {
                (
                    ns.typ(),
                    ns.path().clone().filter(|p| !p.as_os_str().is_empty()),
                )
            })
            .collect();
        Plan { entries }
    }

    /// True when the spec lists this namespace type at all.
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.entries.iter().any(|(typ, _)| *typ == t)
    }

    /// True when the container gets a new namespace of this type.
    pub fn is_new(&self, t: LinuxNamespaceType) -> bool {
        self.entries.iter().any(|(typ, p)| *typ == t && p.is_none())
    }

    /// The path to join for this type, if any.
    pub fn join_path(&self, t: LinuxNamespaceType) -> Option<&Path> {
        self.entries
            .iter()
            .find(|(typ, _)| *typ == t)
            .and_then(|(_, p)| p.as_deref())
    }

    /// Flags for the namespaces that clone3 itself creates. Time and cgroup
    /// namespaces are left out: see `process::parent` and `process::init`.
    pub fn clone_flags(&self) -> CloneFlags {
        let mut flags = CloneFlags::empty();
        for (t, f) in [
            // The user namespace is made first and owns all the others.
            (LinuxNamespaceType::User, CloneFlags::CLONE_NEWUSER),
            (LinuxNamespaceType::Mount, CloneFlags::CLONE_NEWNS),
            (LinuxNamespaceType::Uts, CloneFlags::CLONE_NEWUTS),
            (LinuxNamespaceType::Ipc, CloneFlags::CLONE_NEWIPC),
            (LinuxNamespaceType::Network, CloneFlags::CLONE_NEWNET),
            (LinuxNamespaceType::Pid, CloneFlags::CLONE_NEWPID),
        ] {
            if self.is_new(t) {
                flags |= f;
            }
        }
        flags
    }

    /// Opens every namespace to be joined, checking that each path really is
    /// a namespace of the stated type. Done before the clone so that a bad
    /// path fails early and leaves nothing behind.
    pub fn open_joins(&self) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
        let mut out = Vec::new();
        for (t, path) in &self.entries {
            let Some(path) = path else { continue };
            let fd = open_ns(*t, path)?;
            out.push((*t, fd));
        }
        Ok(out)
    }
}

/// The name config.json uses for a namespace type ("network", "mount", ...).
pub fn name(t: LinuxNamespaceType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| t.to_string())
}

/// The CLONE_NEW* flag of a namespace type.
pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    CloneFlags::from_bits_retain(t as libc::c_int)
}

fn open_ns(t: LinuxNamespaceType, path: &Path) -> Result<OwnedFd> {
    let file = File::open(path)
        .with_context(|| format!("linux.namespaces: {} path {}", name(t), path.display()))?;
    // NS_GET_NSTYPE (_IO(0xb7, 0x3)) returns the CLONE_NEW* type of an nsfs file.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: the ioctl takes no argument and only reads the fd.
    let got = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE) };
    if got < 0 || got != t as libc::c_int {
        bail!(
            "linux.namespaces: {} path {} is not a {} namespace",
            name(t),
            path.display(),
            name(t)
        );
    }
    Ok(file.into())
}

/// Joins one namespace by an fd opened with `Plan::open_joins`.
pub fn join(t: LinuxNamespaceType, fd: &OwnedFd) -> Result<()> {
    nix::sched::setns(fd.as_fd(), flag(t))
        .with_context(|| format!("setns into {} namespace", name(t)))
}

/// Opens the caller's own namespace of a type, to return to it later.
pub fn open_own(name: &str) -> Result<OwnedFd> {
    let f = File::open(format!("/proc/self/ns/{name}"))
        .with_context(|| format!("open /proc/self/ns/{name}"))?;
    Ok(f.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_flags_skip_joined_and_special() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.0",
            "linux": {"namespaces": [
                {"type": "mount"}, {"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"},
                {"type": "cgroup"}, {"type": "time"}
            ]}
        }))
        .unwrap();
        let plan = Plan::from_spec(&spec);
        let f = plan.clone_flags();
        assert!(f.contains(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID));
        assert!(!f.contains(CloneFlags::CLONE_NEWNET));
        assert!(!f.contains(CloneFlags::CLONE_NEWCGROUP));
        assert!(plan.is_new(LinuxNamespaceType::Time));
        assert_eq!(
            plan.join_path(LinuxNamespaceType::Network),
            Some(Path::new("/proc/1/ns/net"))
        );
    }
}
