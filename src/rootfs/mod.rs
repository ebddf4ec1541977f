//! Root filesystem setup inside the container's mount namespace.
//! (being written)
use std::path::Path;

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
    /// Host path of the pty slave to bind at /dev/console, when `process.terminal`.
    pub console: Option<&'a Path>,
}

/// Checks on `mounts`, `root` and the paths lists that need no syscalls; run before any fork.
pub fn validate(_spec: &oci_spec::runtime::Spec) -> anyhow::Result<()> {
    Ok(())
}

/// Runs in the container's new mount namespace, before pivot.
pub fn prepare_rootfs(_cfg: &RootfsConfig) -> anyhow::Result<()> {
    anyhow::bail!("rootfs: not written yet")
}

/// Runs after pivot: read-only root, masked and read-only paths.
pub fn finalize_rootfs(_cfg: &RootfsConfig) -> anyhow::Result<()> {
    Ok(())
}
