//! Making the rootfs "/": root propagation, pivot_root, and --no-pivot.

use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::Context;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, umount2};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use super::mount::mnt;
use super::mountinfo;
use super::resolve::owned;

/// `linux.rootfsPropagation` → mount flags; always recursive, so no mount
/// below "/" keeps propagating to the host. None for an unknown value.
pub fn propagation_flags(value: &str) -> Option<MsFlags> {
    let kind = match value.strip_prefix('r').unwrap_or(value) {
        "shared" => MsFlags::MS_SHARED,
        "slave" => MsFlags::MS_SLAVE,
        "private" => MsFlags::MS_PRIVATE,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => return None,
    };
    Some(kind | MsFlags::MS_REC)
}

/// Step 1: stop propagation to the host, then bind the rootfs onto itself so
/// it is a mount point (pivot_root needs one).
pub fn prepare_root(rootfs: &Path, propagation: MsFlags) -> anyhow::Result<()> {
    mnt(None, Path::new("/"), None, propagation, None).with_context(|| {
        format!("set propagation {propagation:?} of / (linux.rootfsPropagation)")
    })?;
    if propagation.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) {
        // An unbindable mount cannot be the source of the bind below, and
        // pivot_root refuses a new root whose parent mount is shared (the
        // bind would also copy that); so make the rootfs's own mount private.
        make_parent_private(rootfs)?;
    }
    let rec_bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mnt(Some(rootfs), rootfs, None, rec_bind, None)
        .with_context(|| format!("bind rootfs {} onto itself", rootfs.display()))
}

fn make_parent_private(rootfs: &Path) -> anyhow::Result<()> {
    let mounts = mountinfo::read()?;
    let parent = rootfs.parent().unwrap_or(rootfs);
    let Some(m) = mountinfo::mount_of(&mounts, parent) else {
        return Ok(());
    };
    mnt(None, &m.mount_point, None, MsFlags::MS_PRIVATE, None).with_context(|| {
        format!(
            "make {} (parent mount of the rootfs) private",
            m.mount_point.display()
        )
    })
}

/// Step 4: make the rootfs "/" and drop the host's tree. Leaves cwd at "/".
pub fn enter_root(rootfs: &Path, no_pivot: bool) -> anyhow::Result<()> {
    if no_pivot {
        move_root(rootfs)
    } else {
        pivot(rootfs)
    }
}

/// pivot_root(".", "."): the old root ends up stacked on the new one, so no
/// put_old directory is needed inside the image; then detach it.
fn pivot(rootfs: &Path) -> anyhow::Result<()> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old_root = nix::fcntl::open("/", flags, Mode::empty())
        .map(owned)
        .context("open old /")?;
    chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    pivot_root(".", ".").with_context(|| format!("pivot_root to {}", rootfs.display()))?;
    // The old root is now mounted over "."; reach it via the saved fd.
    fchdir(old_root.as_raw_fd()).context("fchdir old root")?;
    // Slave first, so the detach below cannot propagate to the host's mounts.
    let slave = MsFlags::MS_SLAVE | MsFlags::MS_REC;
    mnt(None, Path::new("."), None, slave, None).context("make old root rslave")?;
    umount2(".", MntFlags::MNT_DETACH).context("detach old root")?;
    chdir("/").context("chdir / after pivot_root")
}

/// --no-pivot (e.g. when / is a ramfs, where pivot_root fails): move the
/// rootfs over "/" and chroot into it. Weaker: the old root stays mounted
/// underneath, only hidden by the chroot.
fn move_root(rootfs: &Path) -> anyhow::Result<()> {
    chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    mnt(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)
        .with_context(|| format!("move mount {} to /", rootfs.display()))?;
    chroot(".").context("chroot into rootfs")?;
    chdir("/").context("chdir / after chroot")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagation_values() {
        let rec = MsFlags::MS_REC;
        assert_eq!(propagation_flags("rslave"), Some(MsFlags::MS_SLAVE | rec));
        assert_eq!(propagation_flags("shared"), Some(MsFlags::MS_SHARED | rec));
        assert_eq!(
            propagation_flags("private"),
            Some(MsFlags::MS_PRIVATE | rec)
        );
        assert_eq!(
            propagation_flags("runbindable"),
            Some(MsFlags::MS_UNBINDABLE | rec)
        );
        assert_eq!(propagation_flags("rrslave"), None);
        assert_eq!(propagation_flags("bogus"), None);
        assert_eq!(propagation_flags(""), None);
    }
}
