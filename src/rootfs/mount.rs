//! One OCI `mounts` entry → syscalls.
//!
//! Every mount lands on an fd resolved inside the rootfs (see resolve.rs) and
//! is addressed as /proc/self/fd/N. Follow-up calls (bind remount, propagation,
//! mount_setattr) re-resolve the destination first: the old fd still points
//! at the directory *under* the new mount, and a remount must name the top.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{SFlag, fstat};
use nix::sys::statfs::{PROC_SUPER_MAGIC, statfs};
use nix::sys::statvfs::{FsFlags, fstatvfs};
use oci_spec::runtime::Mount;

use super::cgroup;
use super::options::{self, MountOptions, RecAttr};
use super::resolve::{Leaf, Root, clean, proc_fd};

/// What every mount entry needs besides itself.
pub struct MountCtx<'a> {
    pub root: &'a Root,
    /// Relative bind sources are relative to the bundle.
    pub bundle: &'a Path,
    pub new_cgroupns: bool,
}

/// One parsed entry, with names for error messages.
#[derive(Clone)]
pub struct Entry<'a> {
    pub index: usize,
    pub dest: &'a Path,
    pub typ: &'a str,
    pub source: Option<&'a Path>,
    pub opts: MountOptions,
}

impl Entry<'_> {
    pub fn describe(&self) -> String {
        let src = self
            .source
            .map_or("none".into(), |s| s.display().to_string());
        format!(
            "mounts[{}] ({} {src} on {})",
            self.index,
            self.typ,
            self.dest.display()
        )
    }
}

/// Files under /proc that may be bind-mounted over (lxcfs-style), as runc
/// allows; anything else inside /proc could hide or fake kernel interfaces.
const PROC_BIND_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/pressure",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Performs the `index`th entry of `spec.mounts()`.
pub fn mount_entry(ctx: &MountCtx, index: usize, m: &Mount) -> anyhow::Result<()> {
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = options::parse(m.options().as_deref().unwrap_or_default())
        .with_context(|| format!("mounts[{index}]"))?;
    // A relative destination is relative to "/" (config.md allows it on
    // Linux); cleaning it here keeps the /proc and /sys checks below exact.
    let dest = super::resolve::clean(m.destination());
    let mut e = Entry {
        index,
        dest: &dest,
        typ,
        source: m.source().as_deref(),
        opts,
    };
    if typ == "bind" {
        // Type "bind" alone means a plain (non-recursive) bind, as in runc;
        // "rbind" among the options adds MS_REC.
        e.opts.flags |= MsFlags::MS_BIND;
    }
    check_proc_destination(&e)?;
    if typ == "cgroup" {
        cgroup::mount_cgroup(ctx, &e)
    } else if e.opts.is_bind() {
        mount_bind(ctx, &e)
    } else {
        mount_fs(ctx, &e)
    }
}

/// A filesystem mount: proc, sysfs, tmpfs, devpts, mqueue, cgroup2, ...
fn mount_fs(ctx: &MountCtx, e: &Entry) -> anyhow::Result<()> {
    if matches!(e.typ, "proc" | "sysfs") {
        refuse_symlink(ctx.root, e)?;
    }
    let target = ctx
        .root
        .ensure(e.dest, Leaf::Dir)
        .with_context(|| e.describe())?;
    let source = e.source.unwrap_or(Path::new(e.typ));
    let copy_up = e.opts.copy_up && e.typ == "tmpfs";
    // What the tmpfs will hide, opened before it does (tmpcopyup).
    let lower = match copy_up {
        true => Some(open_dir(ctx.root, e)?),
        false => None,
    };
    // A read-only tmpfs would refuse the copy: it becomes read-only after.
    let mut flags = e.opts.flags;
    if copy_up {
        flags -= MsFlags::MS_RDONLY;
    }
    // Propagation goes in separate calls: mount(2) would treat it as a
    // propagation change of an existing mount instead of a new mount.
    let made = mnt(
        Some(source),
        &proc_fd(&target),
        Some(e.typ),
        flags,
        e.opts.data(),
    );
    match made {
        // In a user namespace that does not own the network (sysfs) or IPC
        // (mqueue) namespace the kernel refuses a fresh instance; the host's
        // own mount is the one the container would see anyway (runc does
        // the same).
        Err(nix::errno::Errno::EPERM) if matches!(e.typ, "sysfs" | "mqueue") => {
            drop(target);
            let host = if e.typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            let mut bind = e.clone();
            bind.source = Some(Path::new(host));
            bind.opts.flags |= MsFlags::MS_BIND | MsFlags::MS_REC;
            mount_bind(ctx, &bind)
        }
        other => {
            other.with_context(|| e.describe())?;
            if let Some(lower) = lower {
                copy_up_into(ctx.root, e, &lower)?;
            }
            finish(ctx.root, e)
        }
    }
}

/// The entry's destination opened for reading (it is a directory).
fn open_dir(root: &Root, e: &Entry) -> anyhow::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    root.open_path(e.dest, flags)
        .with_context(|| format!("{}: open destination", e.describe()))
}

/// tmpcopyup: copy what `lower` holds into the fresh tmpfs at the entry's
/// destination, then make it read-only if the entry asked for that.
fn copy_up_into(root: &Root, e: &Entry, lower: &OwnedFd) -> anyhow::Result<()> {
    let upper = open_dir(root, e)?;
    super::copyup::copy_root_attrs(lower, &upper, &e.opts.data)
        .and_then(|()| super::copyup::copy_tree(lower, &upper))
        .with_context(|| format!("{}: tmpcopyup", e.describe()))?;
    if e.opts.flags.contains(MsFlags::MS_RDONLY) {
        let top = reopen(root, e)?;
        let flags = MsFlags::MS_REMOUNT | e.opts.flags;
        mnt(None, &proc_fd(&top), None, flags, e.opts.data())
            .with_context(|| format!("{}: make read-only after tmpcopyup", e.describe()))?;
    }
    Ok(())
}

/// A bind mount, then the remount that applies ro/nosuid/... to it.
fn mount_bind(ctx: &MountCtx, e: &Entry) -> anyhow::Result<()> {
    let source = bind_source(ctx.bundle, e)?;
    // The source decides the mount point's kind: binding a file needs a file.
    let meta = std::fs::metadata(&source)
        .with_context(|| format!("{}: stat bind source {}", e.describe(), source.display()))?;
    let leaf = if meta.is_dir() { Leaf::Dir } else { Leaf::File };
    let target = ctx
        .root
        .ensure(e.dest, leaf)
        .with_context(|| e.describe())?;
    // MS_BIND ignores every other flag, hence the remount below.
    let flags = e.opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
    mnt(Some(&source), &proc_fd(&target), None, flags, None).with_context(|| e.describe())?;
    if !e.opts.remount_flags().is_empty() {
        let top = reopen(ctx.root, e)?;
        remount_bind(&top, e.opts.remount_flags(), e.opts.cleared).with_context(|| e.describe())?;
    }
    finish(ctx.root, e)
}

fn bind_source(bundle: &Path, e: &Entry) -> anyhow::Result<PathBuf> {
    let src = e
        .source
        .with_context(|| format!("{}: a bind mount needs a source", e.describe()))?;
    Ok(if src.is_absolute() {
        src.to_path_buf()
    } else {
        bundle.join(src)
    })
}

/// Propagation changes and recursive attributes, on the new mount.
pub fn finish(root: &Root, e: &Entry) -> anyhow::Result<()> {
    if e.opts.propagation.is_empty() && e.opts.recursive.is_empty() {
        return Ok(());
    }
    let top = reopen(root, e)?;
    for flag in &e.opts.propagation {
        mnt(None, &proc_fd(&top), None, *flag, None)
            .with_context(|| format!("{}: set propagation {flag:?}", e.describe()))?;
    }
    if !e.opts.recursive.is_empty() {
        set_attr_recursive(&top, e.opts.recursive)
            .with_context(|| format!("{}: mount_setattr", e.describe()))?;
    }
    Ok(())
}

/// The destination again, now resolving to the root of the new mount.
fn reopen(root: &Root, e: &Entry) -> anyhow::Result<OwnedFd> {
    root.open_path(e.dest, OFlag::O_PATH)
        .with_context(|| format!("{}: reopen destination", e.describe()))
}

/// MS_REMOUNT|MS_BIND with `flags`. A remount replaces all per-mount flags,
/// and in a user namespace the kernel locks nosuid/nodev/noexec/ro/atime
/// inherited from a more privileged mount: dropping one gives EPERM. On EPERM,
/// keep what the mount already has (unless the user explicitly cleared it,
/// which cannot be honoured) and retry once.
pub fn remount_bind(top: &OwnedFd, flags: MsFlags, cleared: MsFlags) -> anyhow::Result<()> {
    let base = MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    let target = proc_fd(top);
    match mnt(None, &target, None, base | flags, None) {
        Err(Errno::EPERM) => {}
        other => return other.context("remount bind"),
    }
    // statvfs shows the flags the mount has now, locked ones included.
    let current = statvfs_flags(top)?;
    let locked = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if current.intersects(cleared & locked) {
        bail!(
            "remount bind: {:?} is locked on the source mount",
            current & cleared & locked
        );
    }
    let mut keep = current & locked;
    // Atime is locked too, but only keep it if the user didn't pick one.
    if !flags.intersects(atime_mask()) {
        keep |= current & atime_mask();
    }
    mnt(None, &target, None, base | flags | keep, None).context("remount bind keeping locked flags")
}

/// Flags of the mount `fd` is on, as MS_* values.
pub fn statvfs_flags(fd: &impl AsFd) -> anyhow::Result<MsFlags> {
    let st = fstatvfs(fd).context("statvfs")?;
    let table = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_SYNCHRONOUS, MsFlags::MS_SYNCHRONOUS),
        (FsFlags::ST_MANDLOCK, MsFlags::MS_MANDLOCK),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    let f = st.flags();
    Ok(table
        .iter()
        .filter(|(st, _)| f.contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
}

fn atime_mask() -> MsFlags {
    MsFlags::MS_NOATIME | MsFlags::MS_NODIRATIME | MsFlags::MS_RELATIME | MsFlags::MS_STRICTATIME
}

/// mount_setattr(2) on the mount `fd` is the root of, and all mounts below.
pub fn set_attr_recursive(fd: &OwnedFd, attr: RecAttr) -> nix::Result<()> {
    let mut ma = libc::mount_attr {
        attr_set: attr.set,
        attr_clr: attr.clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the empty path with AT_EMPTY_PATH makes the kernel act on `fd`
    // itself; `ma` is a live mount_attr of the size passed, only read.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &mut ma as *mut libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// proc and sysfs must land on a real directory: mounting them through a
/// symlink let images redirect them (CVE-2019-16884, CVE-2019-19921).
fn refuse_symlink(root: &Root, e: &Entry) -> anyhow::Result<()> {
    let fd = match root.open_path(e.dest, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(err) => return Err(err).with_context(|| e.describe()),
    };
    let st = fstat(fd.as_raw_fd()).with_context(|| e.describe())?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        bail!(
            "{}: {} must be mounted on a plain directory, not a symlink or file",
            e.describe(),
            e.typ
        );
    }
    Ok(())
}

/// Nothing but procfs goes on /proc, and inside /proc only the few files of
/// [`PROC_BIND_ALLOWED`]: covering e.g. /proc/sys or /proc/self/attr would
/// hide the real interfaces from later security checks.
fn check_proc_destination(e: &Entry) -> anyhow::Result<()> {
    let dest = clean(e.dest);
    if !dest.starts_with("/proc") {
        return Ok(());
    }
    if dest == Path::new("/proc") {
        if e.typ == "proc" {
            return Ok(());
        }
        // A bind of another procfs (e.g. from a sibling container) is fine.
        let src = e.source.filter(|_| e.opts.is_bind());
        if src
            .and_then(|s| statfs(s).ok())
            .is_some_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC)
        {
            return Ok(());
        }
        bail!("{}: /proc can only be a procfs mount", e.describe());
    }
    if PROC_BIND_ALLOWED.iter().any(|p| dest == Path::new(p)) {
        return Ok(());
    }
    bail!("{}: mounting inside /proc is not allowed", e.describe())
}

/// mount(2) with plain optional arguments.
pub fn mnt(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    nix::mount::mount(source, target, fstype, flags, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(dest: &'a str, typ: &'a str, opts: &[&str]) -> Entry<'a> {
        let v: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        Entry {
            index: 0,
            dest: Path::new(dest),
            typ,
            source: None,
            opts: options::parse(&v).unwrap(),
        }
    }

    #[test]
    fn proc_destinations() {
        assert!(check_proc_destination(&entry("/proc", "proc", &[])).is_ok());
        assert!(check_proc_destination(&entry("/proc", "tmpfs", &[])).is_err());
        assert!(check_proc_destination(&entry("/proc/cpuinfo", "bind", &["bind"])).is_ok());
        assert!(check_proc_destination(&entry("/proc/sys", "tmpfs", &[])).is_err());
        assert!(check_proc_destination(&entry("/x/../proc/self", "bind", &["rbind"])).is_err());
        assert!(check_proc_destination(&entry("/processes", "tmpfs", &[])).is_ok());
    }
}
