//! The `tmpcopyup` mount option: a tmpfs that starts with a copy of what
//! the directory under it held (Podman asks for it on every `--tmpfs` and on
//! the tmpfs mounts of `--read-only` containers).
//!
//! The directory under the mount point is opened before the tmpfs goes on
//! top; that fd keeps reaching the hidden directory, so the copy reads from
//! it and writes into the new mount. Every step is relative to a directory
//! fd and never follows a symlink: the rootfs is the container's, and a
//! symlink planted in it must not make nook copy from or into the host.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{Context, Result, bail};
use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmodat, fstatat, mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat, symlinkat};

fn own(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: nix returned a fresh fd that only the caller holds.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Opens a directory entry of `dir` for reading, refusing symlinks.
fn open_dir_at(dir: &OwnedFd, name: &std::ffi::CStr) -> Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(own(openat(
        Some(dir.as_raw_fd()),
        name,
        flags,
        Mode::empty(),
    )?))
}

/// Copies the tree under `src` into `dst` (both directories), keeping
/// modes, owners and times. Sockets are skipped: a copy of one is not a
/// socket anyone listens on.
pub fn copy_tree(src: &OwnedFd, dst: &OwnedFd) -> Result<()> {
    // An explicit stack: a deep tree in a hostile rootfs must not overflow
    // nook's own stack.
    let mut work = vec![(src.try_clone()?, dst.try_clone()?, String::from("."))];
    while let Some((from, to, path)) = work.pop() {
        let mut dir = Dir::from_fd(nix::unistd::dup(from.as_raw_fd())?)
            .with_context(|| format!("read directory {path}"))?;
        for entry in dir.iter() {
            let entry = entry.with_context(|| format!("read directory {path}"))?;
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let child = format!("{path}/{}", name.to_string_lossy());
            let sub = copy_entry(&from, &to, name).with_context(|| format!("copy {child}"))?;
            if let Some((f, t)) = sub {
                work.push((f, t, child));
            }
        }
    }
    Ok(())
}

/// Copies one entry; for a directory, returns the pair to descend into.
fn copy_entry(
    from: &OwnedFd,
    to: &OwnedFd,
    name: &std::ffi::CStr,
) -> Result<Option<(OwnedFd, OwnedFd)>> {
    let st = fstatat(Some(from.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let mut descend = None;
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(Some(to.as_raw_fd()), name, Mode::from_bits_truncate(0o700))?;
            descend = Some((open_dir_at(from, name)?, open_dir_at(to, name)?));
        }
        SFlag::S_IFREG => {
            let src = own(openat(
                Some(from.as_raw_fd()),
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?);
            let dst = own(openat(
                Some(to.as_raw_fd()),
                name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )?);
            std::io::copy(&mut File::from(src), &mut File::from(dst))?;
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(Some(from.as_raw_fd()), name)?;
            symlinkat(target.as_os_str(), Some(to.as_raw_fd()), name)?;
        }
        SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
            mknodat(Some(to.as_raw_fd()), name, kind, mode, st.st_rdev)?;
        }
        SFlag::S_IFSOCK => return Ok(None),
        _ => bail!("unknown file type {:o}", st.st_mode),
    }
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    fchownat(
        Some(to.as_raw_fd()),
        name,
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if kind != SFlag::S_IFLNK {
        // After the chown, which clears set-id bits.
        fchmodat(
            Some(to.as_raw_fd()),
            name,
            mode,
            FchmodatFlags::FollowSymlink,
        )?;
    }
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    utimensat(
        Some(to.as_raw_fd()),
        name,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(descend)
}

/// The new mount's root takes the owner and mode of the directory it hides,
/// unless the options set them (tmpfs `mode=`, `uid=`, `gid=`).
pub fn copy_root_attrs(src: &OwnedFd, dst: &OwnedFd, data: &str) -> Result<()> {
    let st = nix::sys::stat::fstat(src.as_raw_fd())?;
    let given = |key: &str| data.split(',').any(|o| o.starts_with(key));
    let uid = (!given("uid=")).then(|| Uid::from_raw(st.st_uid));
    let gid = (!given("gid=")).then(|| Gid::from_raw(st.st_gid));
    nix::unistd::fchown(dst.as_raw_fd(), uid, gid)?;
    if !given("mode=") {
        nix::sys::stat::fchmod(
            dst.as_raw_fd(),
            Mode::from_bits_truncate(st.st_mode & 0o7777),
        )?;
    }
    Ok(())
}
