//! Safe path resolution inside the rootfs.
//!
//! The rootfs belongs to the image, so any component of a mount destination
//! may be a symlink, and an absolute symlink such as `etc -> /etc` must mean
//! the container's /etc, never the host's. Resolution therefore goes through
//! openat2(2) with RESOLVE_IN_ROOT (the kernel treats the rootfs fd as "/"
//! for absolute links and "..") and RESOLVE_NO_MAGICLINKS (no /proc/*/fd
//! style escapes). Callers then mount onto the resulting fd through its
//! /proc/self/fd/N path, so nothing re-walks the string afterwards.
//! Path strings are never joined onto the host rootfs path by hand.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;

/// struct open_how of linux/openat2.h (libc's is non-exhaustive, so it can't
/// be built here).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The kernel answers EAGAIN when a rename or mount raced the lookup.
const EAGAIN_RETRIES: usize = 32;

/// Takes ownership of a descriptor a successful syscall just returned.
pub fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes a fresh descriptor returned by a successful
    // open-like call, which nothing else owns or will close.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The path that reaches an open descriptor, for mount(2) and friends.
pub fn proc_fd(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// openat(2) relative to a directory fd, always O_CLOEXEC.
pub fn openat(dir: &OwnedFd, name: &Path, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(Some(dir.as_raw_fd()), name, flags | OFlag::O_CLOEXEC, mode).map(owned)
}

/// openat2(2) with the given RESOLVE_* flags, retrying the kernel's EAGAIN.
fn openat2(dir: &OwnedFd, path: &Path, flags: OFlag, resolve: u64) -> nix::Result<OwnedFd> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (flags | OFlag::O_CLOEXEC).bits() as u64,
        mode: 0,
        resolve,
    };
    for _ in 0..EAGAIN_RETRIES {
        // SAFETY: cpath is a valid NUL-terminated string and `how` a live
        // open_how of the size passed; the kernel reads both and only returns
        // a new fd (or -1), which we take ownership of right away.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                cpath.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if ret >= 0 {
            return Ok(owned(ret as RawFd));
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => continue,
            e => return Err(e),
        }
    }
    Err(Errno::EAGAIN)
}

/// What to create at the end of a path that does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    Dir,
    /// An empty regular file: the mount point for a bind of a file or device.
    File,
}

/// A directory that paths are resolved inside, never escaping it.
pub struct Root {
    fd: OwnedFd,
    /// Host path, only for error messages.
    host: PathBuf,
}

impl Root {
    /// Opens the directory that will act as "/" for every lookup.
    pub fn open(host: &Path) -> anyhow::Result<Root> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(host, flags, Mode::empty())
            .map(owned)
            .with_context(|| format!("open rootfs {}", host.display()))?;
        Ok(Root {
            fd,
            host: host.to_path_buf(),
        })
    }

    /// Opens `path` (container-absolute or relative) inside the root.
    /// O_NOFOLLOW in `flags` applies to the last component only.
    pub fn open_path(&self, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        openat2(&self.fd, &relative(path), flags, resolve)
    }

    /// Resolves `path` inside the root, creating what is missing: directories
    /// one component at a time (mkdirat on the already-resolved parent), then
    /// `leaf`. Returns an O_PATH fd of the final object.
    pub fn ensure(&self, path: &Path, leaf: Leaf) -> anyhow::Result<OwnedFd> {
        // Fast path: mount points such as /proc or /dev usually exist.
        match self.open_path(path, OFlag::O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e).with_context(|| self.what("resolve", path)),
        }
        self.walk_creating(path, leaf)
    }

    /// Walks `path` one component at a time from the root with O_NOFOLLOW
    /// lookups, expanding symlinks by hand: an absolute target restarts at
    /// the root, `..` never climbs above it, and a dangling link is followed
    /// to its (missing) target, which is then created inside the root.
    fn walk_creating(&self, path: &Path, leaf: Leaf) -> anyhow::Result<OwnedFd> {
        const MAX_LINKS: usize = 40;
        let mut queue: VecDeque<OsString> = parts(path).into();
        let mut stack: Vec<OwnedFd> = vec![self.fd.try_clone().context("dup rootfs fd")?];
        let mut walked = PathBuf::from("/");
        let mut links = 0;
        while let Some(name) = queue.pop_front() {
            if name == ".." {
                if stack.len() > 1 {
                    stack.pop();
                    walked.pop();
                }
                continue;
            }
            walked.push(&name);
            let cur = stack.last().expect("the root stays on the stack");
            let name_p = Path::new(&name);
            let st = nix::sys::stat::fstatat(
                Some(cur.as_raw_fd()),
                name_p,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            );
            let next = match st {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Errno::ELOOP).with_context(|| self.what("resolve", path));
                    }
                    let target = nix::fcntl::readlinkat(Some(cur.as_raw_fd()), name_p)
                        .with_context(|| self.what("readlink", &walked))?;
                    let target = PathBuf::from(target);
                    walked.pop();
                    if target.is_absolute() {
                        stack.truncate(1);
                        walked = PathBuf::from("/");
                    }
                    for p in parts(&target).into_iter().rev() {
                        queue.push_front(p);
                    }
                    continue;
                }
                Ok(_) => {
                    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW;
                    openat(cur, name_p, flags, Mode::empty())
                        .with_context(|| self.what("open", &walked))?
                }
                Err(Errno::ENOENT) if queue.is_empty() && leaf == Leaf::File => {
                    self.create_file(cur, name_p, &walked)?
                }
                Err(Errno::ENOENT) => self.create_dir(cur, name_p, &walked)?,
                Err(e) => return Err(e).with_context(|| self.what("resolve", &walked)),
            };
            stack.push(next);
        }
        Ok(stack.pop().expect("the root stays on the stack"))
    }

    /// Resolves the parent of `path` (creating directories) and returns it
    /// with the final name, for the *at() calls that create the leaf itself.
    pub fn ensure_parent<'p>(&self, path: &'p Path) -> anyhow::Result<(OwnedFd, &'p OsStr)> {
        let name = path
            .file_name()
            .with_context(|| format!("{} has no final component", path.display()))?;
        let parent = path.parent().unwrap_or(Path::new("/"));
        Ok((self.ensure(parent, Leaf::Dir)?, name))
    }

    fn create_dir(&self, parent: &OwnedFd, name: &Path, full: &Path) -> anyhow::Result<OwnedFd> {
        match nix::sys::stat::mkdirat(
            Some(parent.as_raw_fd()),
            name,
            Mode::from_bits_truncate(0o755),
        ) {
            // EEXIST: lost a race, or a dangling symlink; the open below tells.
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).with_context(|| self.what("mkdir", full)),
        }
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
        openat(parent, name, flags, Mode::empty())
            .with_context(|| self.what("open new directory", full))
    }

    fn create_file(&self, parent: &OwnedFd, name: &Path, full: &Path) -> anyhow::Result<OwnedFd> {
        // O_EXCL|O_NOFOLLOW: never truncate or write through an existing entry.
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_RDONLY;
        openat(parent, name, flags, Mode::from_bits_truncate(0o644))
            .with_context(|| self.what("create mount-point file", full))
    }

    fn what(&self, op: &str, path: &Path) -> String {
        format!("{op} {} in rootfs {}", path.display(), self.host.display())
    }
}

/// The normal and `..` components of a path, in order.
fn parts(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// `path` with its leading "/" dropped ("." for the root itself): openat2
/// resolves it from the root fd either way, but this keeps messages tidy.
fn relative(path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel.to_path_buf()
    }
}

/// Lexically cleans an absolute path ("." dropped, ".." pops, clamped at "/"),
/// for checks on what a destination *names*; lookups use [`Root`].
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean(Path::new("/a/./b/../c")), Path::new("/a/c"));
        assert_eq!(clean(Path::new("/../../proc")), Path::new("/proc"));
        assert_eq!(clean(Path::new("dev//null")), Path::new("/dev/null"));
        assert_eq!(clean(Path::new("/")), Path::new("/"));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative(Path::new("/")), Path::new("."));
        assert_eq!(relative(Path::new("/etc/x")), Path::new("etc/x"));
        assert_eq!(relative(Path::new("etc")), Path::new("etc"));
    }
}
