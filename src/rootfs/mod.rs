//! Root filesystem setup inside the container's mount namespace.
//!
//! [`prepare_rootfs`] runs in the container's init, already in its new mount
//! namespace but still seeing the host's tree, and ends inside the new root:
//!
//! 1. propagation of "/" (default rslave) so nothing leaks back to the host;
//!    bind the rootfs on itself so it is a mount point (pivot.rs)
//! 2. each `mounts` entry, in order (mount.rs, cgroup.rs, options.rs), every
//!    destination resolved inside the rootfs without escaping it (resolve.rs)
//! 3. /dev: default and spec devices, symlinks, console (devices.rs)
//! 4. pivot_root, or move + chroot with --no-pivot (pivot.rs)
//!
//! [`finalize_rootfs`] then runs inside the new root, after anything that
//! still has to write there (sysctls, hostname): read-only and masked paths,
//! then the read-only root (paths.rs).

mod cgroup;
mod copyup;
mod devices;
pub use devices::bind_console;
mod mount;
mod mountinfo;
pub mod options;
mod paths;
mod pivot;
mod resolve;

use std::path::Path;

use anyhow::{Context, bail};
use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDeviceType, Spec};

use resolve::Root;

/// Everything the in-container rootfs setup needs.
pub struct RootfsConfig<'a> {
    /// The whole, validated spec.
    pub spec: &'a oci_spec::runtime::Spec,
    /// Absolute, canonical host path of `root.path`.
    pub rootfs: &'a Path,
    /// Absolute bundle directory: relative bind-mount sources resolve here.
    pub bundle: &'a Path,
    /// `--no-pivot`: move the rootfs onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The container has its own cgroup namespace (cgroup mounts show its root).
    pub new_cgroupns: bool,
}

/// Checks on `mounts`, `root` and the paths lists that need no syscalls; run before any fork.
pub fn validate(spec: &Spec) -> anyhow::Result<()> {
    match spec.root() {
        Some(root) if !root.path().as_os_str().is_empty() => {}
        _ => bail!("root.path must be set"),
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        validate_mount(i, m)?;
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    root_propagation(spec)?;
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if d.typ() == LinuxDeviceType::A {
            bail!("linux.devices[{i}].type \"a\" is not a device type (want c, b, u or p)");
        }
        if d.major() < 0 || d.minor() < 0 {
            bail!("linux.devices[{i}]: major and minor must not be negative");
        }
        let path = d.path();
        if !path.is_absolute() || !resolve::clean(path).starts_with("/dev/") {
            bail!("linux.devices[{i}].path {path:?} must be an absolute path under /dev");
        }
    }
    let lists = [
        ("maskedPaths", linux.masked_paths()),
        ("readonlyPaths", linux.readonly_paths()),
    ];
    for (name, list) in lists {
        for (i, p) in list.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                bail!("linux.{name}[{i}] {p:?} must be an absolute path");
            }
        }
    }
    Ok(())
}

fn validate_mount(i: usize, m: &oci_spec::runtime::Mount) -> anyhow::Result<()> {
    let dest = m.destination();
    if dest.as_os_str().is_empty() {
        bail!("mounts[{i}].destination must not be empty");
    }
    if !dest.is_absolute() {
        crate::logging::warn(&format!(
            "mounts[{i}].destination {dest:?} is not absolute; taken as relative to /"
        ));
    }
    let opts = options::parse(m.options().as_deref().unwrap_or_default())
        .with_context(|| format!("mounts[{i}] ({})", dest.display()))?;
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        bail!(
            "mounts[{i}] ({}): uidMappings/gidMappings are not supported yet",
            dest.display()
        );
    }
    let bind = opts.is_bind() || m.typ().as_deref() == Some("bind");
    if bind && m.source().is_none() {
        bail!(
            "mounts[{i}].source must be set for a bind mount to {}",
            dest.display()
        );
    }
    Ok(())
}

/// `linux.rootfsPropagation` as flags; None when unset (then rslave is used).
fn root_propagation(spec: &Spec) -> anyhow::Result<Option<MsFlags>> {
    let value = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref());
    match value {
        None | Some("") => Ok(None),
        Some(v) => match pivot::propagation_flags(v) {
            Some(flags) => Ok(Some(flags)),
            None => bail!(
                "linux.rootfsPropagation {v:?} must be one of shared, slave, private, unbindable"
            ),
        },
    }
}

/// Runs in the container's new mount namespace, before pivot.
///
/// `before_pivot` runs once the mounts and /dev are in place and the
/// process still sees the host's filesystem: the point where runtime.md
/// puts the createRuntime and createContainer hooks.
pub fn prepare_rootfs(
    cfg: &RootfsConfig,
    before_pivot: &mut dyn FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    check_mount_label(cfg.spec)?;
    let requested = root_propagation(cfg.spec)?;
    let propagation = requested.unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    pivot::prepare_root(cfg.rootfs, propagation)?;
    // Opened after the self-bind, so lookups start on the new mount.
    let root = Root::open(cfg.rootfs)?;
    let ctx = mount::MountCtx {
        root: &root,
        bundle: cfg.bundle,
        new_cgroupns: cfg.new_cgroupns,
    };
    for (i, m) in cfg.spec.mounts().iter().flatten().enumerate() {
        mount::mount_entry(&ctx, i, m)?;
    }
    devices::setup_dev(&root, cfg)?;
    // Holding no fd into the old tree once it is gone.
    drop(root);
    before_pivot()?;
    pivot::enter_root(cfg.rootfs, cfg.no_pivot)?;
    if let Some(flags) = requested {
        // The self-bind copied the old root's propagation; apply the asked one.
        mount::mnt(None, Path::new("/"), None, flags, None)
            .context("apply linux.rootfsPropagation to new /")?;
    }
    Ok(())
}

/// SELinux is the only user of `linux.mountLabel`: fine to ignore where it
/// is off, but never silently where it would matter.
fn check_mount_label(spec: &Spec) -> anyhow::Result<()> {
    let label = spec
        .linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref());
    let selinux_on = Path::new("/sys/fs/selinux/enforce").exists();
    if label.is_some_and(|l| !l.is_empty()) && selinux_on {
        bail!("linux.mountLabel: SELinux mount labels are not supported yet");
    }
    Ok(())
}

/// Runs after pivot: read-only root, masked and read-only paths.
pub fn finalize_rootfs(cfg: &RootfsConfig) -> anyhow::Result<()> {
    let linux = cfg.spec.linux().as_ref();
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default();
    let readonly = linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default();
    let readonly_root = cfg
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if masked.is_empty() && readonly.is_empty() && !readonly_root {
        return Ok(());
    }
    let root = Root::open(Path::new("/"))?;
    // runc's order: read-only paths, masks, then "/" (the mount points of
    // the masks must still be reachable, which a read-only fs allows).
    paths::readonly_paths(&root, readonly)?;
    paths::mask_paths(&root, masked)?;
    if readonly_root {
        paths::readonly_root(&root)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    fn err(json: &str) -> String {
        validate(&spec(json)).unwrap_err().to_string()
    }

    const ROOT: &str = r#""root": {"path": "rootfs"}"#;

    #[test]
    fn default_spec_is_valid() {
        validate(&Spec::default()).unwrap();
    }

    #[test]
    fn root_path_required() {
        let e = err(r#"{"ociVersion": "1.2.1", "root": {"path": ""}}"#);
        assert!(e.contains("root.path"), "{e}");
        let e = err(r#"{"ociVersion": "1.2.1"}"#);
        assert!(e.contains("root.path"), "{e}");
    }

    #[test]
    fn mount_destinations() {
        let m = |d: &str| {
            format!(
                r#"{{"ociVersion": "1.2.1", {ROOT}, "mounts": [{{"destination": "/a"}}, {{"destination": "{d}"}}]}}"#
            )
        };
        validate(&spec(&m("x"))).unwrap();
        let e = err(&m(""));
        assert!(e.contains("mounts[1].destination must not be empty"), "{e}");
        validate(&spec(&m("/ok"))).unwrap();
    }

    #[test]
    fn mount_options_and_types() {
        let m = |t: &str, o: &str| {
            format!(
                r#"{{"ociVersion": "1.2.1", {ROOT}, "mounts": [{{"destination": "/a", "type": "{t}", "options": [{o}]}}]}}"#
            )
        };
        validate(&spec(&m("weirdfs", r#""size=1k""#))).unwrap();
        let e = format!(
            "{:#}",
            validate(&spec(&m("tmpfs", r#""idmap""#))).unwrap_err()
        );
        assert!(
            e.contains("mounts[0]") && e.contains("idmap") && e.contains("not supported yet"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            validate(&spec(&m("bind", r#""ridmap""#))).unwrap_err()
        );
        assert!(e.contains("mounts[0]") && e.contains("ridmap"), "{e}");
        let e = err(&m("none", r#""rbind""#));
        assert!(e.contains("mounts[0].source"), "{e}");
    }

    #[test]
    fn rootfs_propagation() {
        let p = |v: &str| {
            format!(r#"{{"ociVersion": "1.2.1", {ROOT}, "linux": {{"rootfsPropagation": "{v}"}}}}"#)
        };
        for ok in ["", "shared", "rslave", "private", "unbindable"] {
            validate(&spec(&p(ok))).unwrap();
        }
        let e = err(&p("sideways"));
        assert!(e.contains("linux.rootfsPropagation"), "{e}");
    }

    #[test]
    fn devices() {
        let d = |t: &str, path: &str| {
            format!(
                r#"{{"ociVersion": "1.2.1", {ROOT}, "linux": {{"devices": [{{"path": "/dev/a", "type": "c"}}, {{"path": "{path}", "type": "{t}", "major": 1, "minor": 3}}]}}}}"#
            )
        };
        validate(&spec(&d("p", "/dev/fifo"))).unwrap();
        let e = err(&d("a", "/dev/x"));
        assert!(e.contains("linux.devices[1].type"), "{e}");
        let e = err(&d("c", "/dev/../etc/x"));
        assert!(e.contains("linux.devices[1].path"), "{e}");
        let e = err(&d("c", "dev/x"));
        assert!(e.contains("linux.devices[1].path"), "{e}");
    }

    #[test]
    fn paths_lists() {
        let l = format!(
            r#"{{"ociVersion": "1.2.1", {ROOT}, "linux": {{"maskedPaths": ["/ok", "rel"]}}}}"#
        );
        let e = err(&l);
        assert!(e.contains("linux.maskedPaths[1]"), "{e}");
    }
}
