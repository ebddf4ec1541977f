//! The `cgroup` mount type, which means "this host's cgroup hierarchies".
//!
//! On a cgroup2 host that is one cgroup2 mount. On a v1 or hybrid host there
//! is no single filesystem to mount, so (as runc does) the destination gets a
//! tmpfs holding one directory per hierarchy the host has mounted: a fresh
//! cgroup mount of that hierarchy when the container has its own cgroup
//! namespace (the kernel then shows the namespace root), otherwise a bind of
//! the host directory of this process's cgroup. Split out of mount.rs because
//! it is a small mount table of its own.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

use super::mount::{Entry, MountCtx, finish, mnt, remount_bind};
use super::mountinfo::{self, MountInfo};
use super::resolve::{Leaf, openat, proc_fd};

const HOST_CGROUP: &str = "/sys/fs/cgroup";

/// One host hierarchy, as it will appear under the destination.
#[derive(Debug, PartialEq, Eq)]
struct Hierarchy {
    /// Directory name under the destination: the host mount point's name,
    /// e.g. "cpu,cpuacct", "systemd", "unified".
    name: String,
    /// Mount data for a fresh mount ("cpu,cpuacct", "name=systemd"); None for cgroup2.
    controllers: Option<String>,
    /// Host directory of this process's cgroup in that hierarchy.
    host_dir: PathBuf,
}

/// Mounts the `cgroup` entry `e`.
pub fn mount_cgroup(ctx: &MountCtx, e: &Entry) -> anyhow::Result<()> {
    // What the host mounted at /sys/fs/cgroup decides the layout, not the
    // kernel's support: a hybrid host has cgroup2 too, but at .../unified.
    let host = statfs(HOST_CGROUP).with_context(|| format!("statfs {HOST_CGROUP}"))?;
    if host.filesystem_type() == CGROUP2_SUPER_MAGIC {
        mount_v2(ctx, e)?;
    } else {
        mount_v1(ctx, e)?;
    }
    finish(ctx.root, e)
}

/// Flags for a fresh mount: the entry's own, minus anything bind-related.
fn fs_flags(e: &Entry) -> MsFlags {
    e.opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
}

fn mount_v2(ctx: &MountCtx, e: &Entry) -> anyhow::Result<()> {
    let target = ctx
        .root
        .ensure(e.dest, Leaf::Dir)
        .with_context(|| e.describe())?;
    let cg2 = Path::new("cgroup2");
    match mnt(
        Some(cg2),
        &proc_fd(&target),
        Some("cgroup2"),
        fs_flags(e),
        None,
    ) {
        // Without a cgroup namespace the kernel may refuse a new cgroup2
        // superblock view (EPERM/EBUSY); show our own subtree instead.
        Err(Errno::EPERM | Errno::EBUSY) if !ctx.new_cgroupns => {
            let own = own_cgroups()?.into_iter().find(|(c, _)| c.is_empty());
            let rel = own.map(|(_, p)| p).unwrap_or_default();
            let src = Path::new(HOST_CGROUP).join(rel.trim_start_matches('/'));
            bind_sub(e, &src, &target, || {
                ctx.root.open_path(e.dest, OFlag::O_PATH)
            })
        }
        other => other.with_context(|| e.describe()),
    }
}

fn mount_v1(ctx: &MountCtx, e: &Entry) -> anyhow::Result<()> {
    let hierarchies = host_hierarchies().with_context(|| e.describe())?;
    let target = ctx
        .root
        .ensure(e.dest, Leaf::Dir)
        .with_context(|| e.describe())?;
    // The tmpfs is only a holder for directories: never suid, devices or exec.
    let tmpfs_flags = (fs_flags(e) - MsFlags::MS_RDONLY)
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    let tmpfs = Path::new("tmpfs");
    mnt(
        Some(tmpfs),
        &proc_fd(&target),
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
    )
    .with_context(|| format!("{}: tmpfs", e.describe()))?;
    // Reopen: `target` is the directory under the tmpfs, not the tmpfs.
    let dir = ctx
        .root
        .open_path(e.dest, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .with_context(|| format!("{}: reopen tmpfs", e.describe()))?;
    for h in &hierarchies {
        mount_hierarchy(ctx, e, &dir, h)
            .with_context(|| format!("{}: hierarchy {}", e.describe(), h.name))?;
    }
    if e.opts.flags.contains(MsFlags::MS_RDONLY) {
        // Last, so the directories and symlinks above could still be made.
        let top = ctx.root.open_path(e.dest, OFlag::O_PATH)?;
        remount_bind(&top, tmpfs_flags | MsFlags::MS_RDONLY, MsFlags::empty())
            .with_context(|| format!("{}: make tmpfs read-only", e.describe()))?;
    }
    Ok(())
}

/// One hierarchy directory inside the fresh tmpfs `dir` (nothing in it can be
/// a symlink planted by the image, so plain *at() calls are safe).
fn mount_hierarchy(ctx: &MountCtx, e: &Entry, dir: &OwnedFd, h: &Hierarchy) -> anyhow::Result<()> {
    let name = Path::new(&h.name);
    nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o755))
        .context("mkdir")?;
    let open = || {
        openat(
            dir,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
    };
    let sub = open().context("open")?;
    // In its own cgroup namespace the kernel roots a new mount at the
    // namespace root; without one a new mount would show the whole host tree.
    if ctx.new_cgroupns {
        let (fstype, data) = match &h.controllers {
            Some(c) => ("cgroup", Some(c.as_str())),
            None => ("cgroup2", None),
        };
        mnt(
            Some(Path::new(fstype)),
            &proc_fd(&sub),
            Some(fstype),
            fs_flags(e),
            data,
        )
        .with_context(|| format!("mount {fstype} {}", data.unwrap_or("")))?;
    } else {
        bind_sub(e, &h.host_dir, &sub, open)?;
    }
    // Co-mounted controllers: "cpu" and "cpuacct" → "cpu,cpuacct", as on hosts.
    for alias in h.name.split(',').filter(|a| *a != h.name) {
        match nix::unistd::symlinkat(name, Some(dir.as_raw_fd()), alias) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(err) => return Err(err).with_context(|| format!("symlink {alias} -> {}", h.name)),
        }
    }
    Ok(())
}

/// Binds a host cgroup directory on `target`, then applies the entry's flags.
fn bind_sub(
    e: &Entry,
    src: &Path,
    target: &OwnedFd,
    reopen: impl Fn() -> nix::Result<OwnedFd>,
) -> anyhow::Result<()> {
    // Recursive: a host may have nested mounts inside a hierarchy.
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mnt(Some(src), &proc_fd(target), None, flags, None)
        .with_context(|| format!("bind {}", src.display()))?;
    let extra = fs_flags(e);
    if !extra.is_empty() {
        let top = reopen().context("reopen bind")?;
        remount_bind(&top, extra, e.opts.cleared)
            .with_context(|| format!("remount {}", src.display()))?;
    }
    Ok(())
}

/// Lines of /proc/self/cgroup as (controllers, path); "" is the cgroup2 line.
fn own_cgroups() -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string("/proc/self/cgroup").context("read /proc/self/cgroup")?;
    Ok(parse_cgroup_file(&text))
}

fn parse_cgroup_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _id = f.next()?;
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect()
}

fn host_hierarchies() -> anyhow::Result<Vec<Hierarchy>> {
    Ok(match_hierarchies(&own_cgroups()?, &mountinfo::read()?))
}

/// Pairs each host cgroup mount under /sys/fs/cgroup with this process's
/// cgroup in that hierarchy, in mount-table order (the order runc uses).
fn match_hierarchies(cgroups: &[(String, String)], mounts: &[MountInfo]) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for m in mounts
        .iter()
        .filter(|m| m.mount_point.parent() == Some(Path::new(HOST_CGROUP)))
    {
        let opts: Vec<&str> = m.super_opts.split(',').collect();
        let found = cgroups
            .iter()
            .find(|(controllers, _)| match m.fs_type.as_str() {
                "cgroup2" => controllers.is_empty(),
                "cgroup" => {
                    !controllers.is_empty() && controllers.split(',').all(|c| opts.contains(&c))
                }
                _ => false,
            });
        let (Some((controllers, path)), Some(name)) = (found, m.mount_point.file_name()) else {
            continue;
        };
        // The mount may show a subtree (its root field); our path is relative to it.
        let rel = Path::new(path)
            .strip_prefix(&m.root)
            .unwrap_or(Path::new(""));
        out.push(Hierarchy {
            name: name.to_string_lossy().into_owned(),
            controllers: (!controllers.is_empty()).then(|| controllers.clone()),
            host_dir: m.mount_point.join(rel),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_host() {
        let mounts = mountinfo::parse(
            "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
",
        );
        let cg = parse_cgroup_file(
            "9:name=systemd:/a\n4:memory:/m/x\n2:cpu,cpuacct:/\n7:pids:/\n0::/u\n",
        );
        let h = match_hierarchies(&cg, &mounts);
        let names: Vec<&str> = h.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["cpu,cpuacct", "memory", "systemd", "unified"]);
        assert_eq!(h[2].controllers.as_deref(), Some("name=systemd"));
        assert_eq!(h[1].host_dir, Path::new("/sys/fs/cgroup/memory/m/x"));
        assert_eq!(h[0].host_dir, Path::new("/sys/fs/cgroup/cpu,cpuacct/"));
        assert_eq!(h[3].controllers, None);
        assert_eq!(h[3].host_dir, Path::new("/sys/fs/cgroup/unified/u"));
    }
}
