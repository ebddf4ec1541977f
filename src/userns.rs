//! A new user namespace: `linux.uidMappings` and `linux.gidMappings`.
//!
//! clone3 creates the user namespace first and every other new namespace
//! owned by it, so init holds all capabilities over its own mounts, network
//! and pid namespace. The parent (root in the runtime's namespace) writes the
//! id maps while init waits for CgroupsReady; init then becomes uid/gid 0 of
//! the namespace when 0 is mapped, as runc does, and switches to
//! `process.user` at the end like any container.
//!
//! A user namespace joined by path must own the container's new namespaces,
//! which clone3 cannot do (it would make them in the runtime's user
//! namespace). `process::parent` has a short-lived helper join the user
//! namespace and unshare them there; init then joins the user namespace
//! first and the helper's namespaces after it. Joining other namespaces by
//! path together with a *new* user namespace is refused: they belong to
//! the runtime's user namespace, which the container has no rights over.

use anyhow::{Context, Result, bail};
use nix::unistd::{Gid, Pid, Uid};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::namespaces::Plan;

/// `linux.uidMappings` and `linux.gidMappings`, empty when absent.
fn mappings(spec: &Spec) -> (&[LinuxIdMapping], &[LinuxIdMapping]) {
    let linux = spec.linux().as_ref();
    let uids = linux.and_then(|l| l.uid_mappings().as_deref());
    let gids = linux.and_then(|l| l.gid_mappings().as_deref());
    (uids.unwrap_or(&[]), gids.unwrap_or(&[]))
}

/// Checks the namespace entry against the mappings, before anything exists.
pub fn validate(spec: &Spec, ns: &Plan) -> Result<()> {
    let (uids, gids) = mappings(spec);
    if ns.join_path(LinuxNamespaceType::User).is_some() {
        if !uids.is_empty() || !gids.is_empty() {
            bail!(
                "linux.uidMappings/gidMappings are set but the user namespace is joined by path (its mappings are fixed)"
            );
        }
        // A pid namespace can only be entered once its first process
        // exists, so nook cannot make one inside a joined user namespace
        // and still clone the container's init as its PID 1.
        if ns.is_new(LinuxNamespaceType::Pid) {
            bail!(
                "linux.namespaces: a new pid namespace together with a user namespace joined by path is not supported yet"
            );
        }
        return Ok(());
    }
    if ns.is_new(LinuxNamespaceType::User)
        && let Some(t) = [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Cgroup,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Time,
        ]
        .into_iter()
        .find(|t| ns.join_path(*t).is_some())
    {
        bail!(
            "linux.namespaces: joining a {} namespace by path together with a new user namespace is not supported yet",
            crate::namespaces::name(t)
        );
    }
    if !ns.is_new(LinuxNamespaceType::User) {
        if !uids.is_empty() || !gids.is_empty() {
            bail!(
                "linux.uidMappings/gidMappings are set but linux.namespaces has no user namespace"
            );
        }
        return Ok(());
    }
    if uids.is_empty() {
        bail!("linux.uidMappings: a new user namespace needs at least one uid mapping");
    }
    if gids.is_empty() {
        bail!("linux.gidMappings: a new user namespace needs at least one gid mapping");
    }
    check_maps("linux.uidMappings", uids)?;
    check_maps("linux.gidMappings", gids)?;
    if let Some(user) = spec.process().as_ref().map(|p| p.user()) {
        if to_host(uids, user.uid()).is_none() {
            bail!(
                "process.user.uid {} is not mapped by linux.uidMappings",
                user.uid()
            );
        }
        if to_host(gids, user.gid()).is_none() {
            bail!(
                "process.user.gid {} is not mapped by linux.gidMappings",
                user.gid()
            );
        }
    }
    Ok(())
}

/// The kernel takes at most 340 lines, each with a non-zero size, and no two
/// ranges may overlap inside the namespace; checked here to name the entry.
fn check_maps(field: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    if maps.len() > 340 {
        bail!(
            "{field}: {} entries, the kernel takes at most 340",
            maps.len()
        );
    }
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            bail!("{field}[{i}].size must not be 0");
        }
        let end = |m: &LinuxIdMapping, start: u32| u64::from(start) + u64::from(m.size());
        if end(m, m.container_id()) > 1 << 32 || end(m, m.host_id()) > 1 << 32 {
            bail!("{field}[{i}]: the range passes the largest id (4294967295)");
        }
        for (j, o) in maps.iter().enumerate().take(i) {
            let overlap = u64::from(m.container_id()) < end(o, o.container_id())
                && u64::from(o.container_id()) < end(m, m.container_id());
            if overlap {
                bail!("{field}[{i}] overlaps {field}[{j}] inside the container");
            }
        }
    }
    Ok(())
}

/// The host id that `id` inside the namespace maps to.
pub fn to_host(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let off = id.checked_sub(m.container_id())?;
        (off < m.size()).then(|| m.host_id() + off)
    })
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Parent side: writes the id maps of init's new user namespace. Each file
/// takes one write(2) with every line.
pub fn write_maps(spec: &Spec, pid: Pid) -> Result<()> {
    let (uids, gids) = mappings(spec);
    std::fs::write(format!("/proc/{pid}/gid_map"), map_text(gids))
        .context("write linux.gidMappings")?;
    std::fs::write(format!("/proc/{pid}/uid_map"), map_text(uids))
        .context("write linux.uidMappings")?;
    Ok(())
}

/// Whether the config asks for a new user namespace.
pub fn is_new(spec: &Spec) -> bool {
    Plan::from_spec(spec).is_new(LinuxNamespaceType::User)
}

/// Whether the container runs in a user namespace of its own or a joined one.
pub fn is_used(spec: &Spec) -> bool {
    Plan::from_spec(spec).has(LinuxNamespaceType::User)
}

/// Once in a mapped user namespace (made or joined): take uid and gid 0 of
/// it where they are mapped (EINVAL says they are not), so that setup runs
/// as the container's root, as runc does. The capabilities the process holds
/// in the namespace stay (the effective ids go from unmapped to 0).
pub fn become_root() -> Result<()> {
    let (g, u) = (Gid::from_raw(0), Uid::from_raw(0));
    match nix::unistd::setresgid(g, g, g) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e).context("setresgid(0) in the user namespace"),
    }
    match nix::unistd::setresuid(u, u, u) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => Ok(()),
        Err(e) => Err(e).context("setresuid(0) in the user namespace"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: serde_json::Value) -> Spec {
        let mut v = serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "user"}]}
        });
        for (k, val) in extra.as_object().unwrap() {
            v["linux"][k] = val.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn err(extra: serde_json::Value) -> String {
        let s = spec(extra);
        format!("{:#}", validate(&s, &Plan::from_spec(&s)).unwrap_err())
    }

    #[test]
    fn mappings_are_checked() {
        let map =
            |c: u32, h: u32, n: u32| serde_json::json!({"containerID": c, "hostID": h, "size": n});
        assert!(err(serde_json::json!({})).contains("linux.uidMappings: a new user namespace"));
        assert!(
            err(serde_json::json!({"uidMappings": [map(0, 1000, 10)]}))
                .contains("linux.gidMappings")
        );
        let e = err(
            serde_json::json!({"uidMappings": [map(0, 1000, 10), map(5, 2000, 10)], "gidMappings": [map(0, 1000, 10)]}),
        );
        assert!(
            e.contains("linux.uidMappings[1] overlaps linux.uidMappings[0]"),
            "{e}"
        );
        let e = err(
            serde_json::json!({"uidMappings": [map(0, 1000, 0)], "gidMappings": [map(0, 1000, 10)]}),
        );
        assert!(e.contains("linux.uidMappings[0].size must not be 0"), "{e}");
        let e = err(
            serde_json::json!({"uidMappings": [map(1, 1000, 10)], "gidMappings": [map(0, 1000, 10)]}),
        );
        assert!(e.contains("process.user.uid 0 is not mapped"), "{e}");
        let ok = spec(
            serde_json::json!({"uidMappings": [map(0, 100000, 65536)], "gidMappings": [map(0, 100000, 65536)]}),
        );
        validate(&ok, &Plan::from_spec(&ok)).unwrap();
    }

    #[test]
    fn ids_translate() {
        let maps: Vec<LinuxIdMapping> = serde_json::from_value(serde_json::json!([
            {"containerID": 0, "hostID": 100000, "size": 10},
            {"containerID": 1000, "hostID": 5000, "size": 1}
        ]))
        .unwrap();
        assert_eq!(to_host(&maps, 0), Some(100000));
        assert_eq!(to_host(&maps, 9), Some(100009));
        assert_eq!(to_host(&maps, 10), None);
        assert_eq!(to_host(&maps, 1000), Some(5000));
        assert_eq!(map_text(&maps), "0 100000 10\n1000 5000 1\n");
    }
}
