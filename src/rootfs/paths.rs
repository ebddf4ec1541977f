//! After pivot_root: read-only root, `linux.maskedPaths`, `linux.readonlyPaths`.
//!
//! The container's own procfs is at /proc now, and the image (or a process
//! sharing a mount) may have swapped any path for a symlink. So each path is
//! opened with O_PATH|O_NOFOLLOW inside the root (resolve.rs) and the mount
//! goes on that fd's /proc/self/fd/N: a symlink is masked itself, never
//! followed to wherever it points.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{SFlag, fstat, major, minor};

use super::mount::{mnt, remount_bind, set_attr_recursive, statvfs_flags};
use super::options::RecAttr;
use super::resolve::{Root, proc_fd};

/// Remounts "/" read-only, keeping its other flags (nosuid, nodev, atime...):
/// a remount replaces all of them, and some may be locked.
pub fn readonly_root(root: &Root) -> anyhow::Result<()> {
    let top = root.open_path(Path::new("/"), OFlag::O_PATH)?;
    let flags = statvfs_flags(&top).context("statvfs /")?;
    let all = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags;
    mnt(None, Path::new("/"), None, all, None).context("remount / read-only (root.readonly)")
}

/// Opens `path` without following a final symlink; None when it is missing.
fn open_nofollow(root: &Root, path: &str) -> anyhow::Result<Option<OwnedFd>> {
    match root.open_path(Path::new(path), OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("open {path}")),
    }
}

fn file_type(fd: &OwnedFd) -> nix::Result<SFlag> {
    let st = fstat(fd.as_raw_fd())?;
    Ok(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)
}

/// Masks each path: a directory under an empty read-only tmpfs, anything
/// else under /dev/null.
pub fn mask_paths(root: &Root, paths: &[String]) -> anyhow::Result<()> {
    let mut null: Option<OwnedFd> = None;
    for (i, path) in paths.iter().enumerate() {
        let what = || format!("linux.maskedPaths[{i}] {path}");
        let Some(fd) = open_nofollow(root, path).with_context(what)? else {
            continue;
        };
        if file_type(&fd).with_context(what)? == SFlag::S_IFDIR {
            let tmpfs = Path::new("tmpfs");
            mnt(
                Some(tmpfs),
                &proc_fd(&fd),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )
            .with_context(what)?;
        } else {
            if null.is_none() {
                null = Some(open_dev_null(root)?);
            }
            let src = null.as_ref().map(proc_fd);
            mnt(src.as_deref(), &proc_fd(&fd), None, MsFlags::MS_BIND, None).with_context(what)?;
        }
    }
    Ok(())
}

/// The container's /dev/null, checked to really be the null device: masking
/// with an image-supplied file or a symlink to one would expose rather than
/// hide (CVE-2025-31133).
fn open_dev_null(root: &Root) -> anyhow::Result<OwnedFd> {
    let fd = root
        .open_path(Path::new("/dev/null"), OFlag::O_PATH | OFlag::O_NOFOLLOW)
        .context("open /dev/null to mask paths with")?;
    let st = fstat(fd.as_raw_fd()).context("stat /dev/null")?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 {
        bail!("/dev/null in the container is not the null device (char 1:3); cannot mask paths");
    }
    Ok(fd)
}

/// Makes each path, and every mount below it, read-only: bind it on itself
/// (so it is a mount of its own), then mount_setattr(AT_RECURSIVE).
pub fn readonly_paths(root: &Root, paths: &[String]) -> anyhow::Result<()> {
    for (i, path) in paths.iter().enumerate() {
        let what = || format!("linux.readonlyPaths[{i}] {path}");
        let Some(fd) = open_nofollow(root, path).with_context(what)? else {
            continue;
        };
        if file_type(&fd).with_context(what)? == SFlag::S_IFLNK {
            bail!("{}: is a symlink; refusing to follow it", what());
        }
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        mnt(Some(&proc_fd(&fd)), &proc_fd(&fd), None, flags, None).with_context(what)?;
        // The bind is on top now; `fd` still names what is underneath.
        let top = open_nofollow(root, path)?.with_context(what)?;
        let ro = RecAttr {
            set: libc::MOUNT_ATTR_RDONLY,
            clear: 0,
        };
        match set_attr_recursive(&top, ro) {
            Ok(()) => {}
            // Before Linux 5.12: only the top mount can be made read-only.
            Err(Errno::ENOSYS) => {
                let keep = statvfs_flags(&top).with_context(what)?;
                remount_bind(&top, keep | MsFlags::MS_RDONLY, MsFlags::empty())
                    .with_context(what)?;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("{}: mount_setattr read-only", what()));
            }
        }
    }
    Ok(())
}
