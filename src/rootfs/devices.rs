//! /dev: default devices (config-linux.md §Default Devices), `linux.devices`,
//! the /dev symlinks of runtime-linux.md, /dev/ptmx and /dev/console.
//!
//! Runs before pivot_root, so host device paths are still reachable for the
//! bind-mount fallback used where mknod(2) is not allowed (EPERM, e.g. in a
//! user namespace).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag, makedev, mknodat, umask};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, symlinkat, unlinkat};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};

use super::RootfsConfig;
use super::mount::mnt;
use super::resolve::{Leaf, Root, clean, openat, proc_fd};

/// A device node to create.
struct Node {
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// config-linux.md §Default Devices, mode 0666 as runc creates them.
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// runtime-linux.md §/dev symbolic links (link name in /dev, target).
const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Restores the umask on drop: device modes must not be filtered by it.
struct UmaskGuard(Mode);

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        umask(self.0);
    }
}

/// Populates /dev as the spec asks.
pub fn setup_dev(root: &Root, cfg: &RootfsConfig) -> anyhow::Result<()> {
    let mounts = cfg.spec.mounts().as_deref().unwrap_or_default();
    let dev_mount = mounts
        .iter()
        .find(|m| clean(m.destination()) == Path::new("/dev"));
    // A bind-mounted /dev is someone's real /dev: never write into it.
    let dev_is_bind = dev_mount.is_some_and(is_bind);
    // Spec modes are exact (0666 for the defaults); the umask would cut them.
    let _umask = UmaskGuard(umask(Mode::empty()));
    if dev_mount.is_some() && !dev_is_bind {
        for (path, major, minor) in DEFAULT_DEVICES {
            let node = Node {
                path: PathBuf::from(path),
                kind: SFlag::S_IFCHR,
                major: *major,
                minor: *minor,
                mode: 0o666,
                uid: None,
                gid: None,
            };
            create_node(root, &node)?;
        }
        dev_symlinks(root, mounts)?;
    }
    // Spec devices are wanted even without a /dev mount (runc does the same),
    // but never written into a bind-mounted /dev.
    if !dev_is_bind {
        let devices = cfg.spec.linux().as_ref().and_then(|l| l.devices().as_ref());
        for (i, d) in devices.into_iter().flatten().enumerate() {
            let node = spec_node(d).with_context(|| format!("linux.devices[{i}]"))?;
            create_node(root, &node).with_context(|| format!("linux.devices[{i}]"))?;
        }
    }
    Ok(())
}

fn is_bind(m: &Mount) -> bool {
    let opts = m.options().as_deref().unwrap_or_default();
    m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind")
}

/// A `linux.devices` entry as a node (the type was checked by validate).
fn spec_node(d: &LinuxDevice) -> anyhow::Result<Node> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => anyhow::bail!("type \"a\" is not a device node type"),
    };
    Ok(Node {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid(),
        gid: d.gid(),
    })
}

/// mknod inside the root; an existing entry is left alone (runc does too).
fn create_node(root: &Root, node: &Node) -> anyhow::Result<()> {
    // mknodat on the resolved parent: the leaf name itself is never followed.
    let (parent, name) = root.ensure_parent(&node.path)?;
    let what = || format!("mknod {}", node.path.display());
    let dev = makedev(node.major, node.minor);
    let mode = Mode::from_bits_truncate(node.mode);
    match mknodat(Some(parent.as_raw_fd()), name, node.kind, mode, dev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) => return bind_host_node(&parent, Path::new(name), &node.path),
        Err(e) => return Err(e).with_context(what),
    }
    // We create as root, so only a requested owner needs a chown.
    if node.uid.is_some() || node.gid.is_some() {
        let (uid, gid) = (node.uid.map(Uid::from_raw), node.gid.map(Gid::from_raw));
        fchownat(
            Some(parent.as_raw_fd()),
            name,
            uid,
            gid,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .with_context(|| format!("chown {}", node.path.display()))?;
    }
    Ok(())
}

/// Where mknod is refused, bind the host's node of the same path onto an
/// empty file.
fn bind_host_node(parent: &OwnedFd, name: &Path, path: &Path) -> anyhow::Result<()> {
    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_RDONLY;
    let file = openat(parent, name, flags, Mode::from_bits_truncate(0o666))
        .with_context(|| format!("create {} for the device bind mount", path.display()))?;
    mnt(Some(path), &proc_fd(&file), None, MsFlags::MS_BIND, None)
        .with_context(|| format!("bind host device {} (mknod not permitted)", path.display()))
}

/// /dev/fd, stdin, stdout, stderr where absent; /dev/ptmx → pts/ptmx when
/// /dev/pts is a devpts, so ptys come from the container's own instance.
fn dev_symlinks(root: &Root, mounts: &[Mount]) -> anyhow::Result<()> {
    let dev = root.ensure(Path::new("/dev"), Leaf::Dir)?;
    for (link, target) in DEV_SYMLINKS {
        match symlinkat(*target, Some(dev.as_raw_fd()), *link) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).with_context(|| format!("symlink /dev/{link} -> {target}")),
        }
    }
    let devpts = mounts.iter().any(|m| {
        clean(m.destination()) == Path::new("/dev/pts") && m.typ().as_deref() == Some("devpts")
    });
    if devpts {
        // The image or a devtmpfs may carry a ptmx node of the host's instance.
        match unlinkat(Some(dev.as_raw_fd()), "ptmx", UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e).context("remove /dev/ptmx"),
        }
        symlinkat("pts/ptmx", Some(dev.as_raw_fd()), "ptmx")
            .context("symlink /dev/ptmx -> pts/ptmx")?;
    }
    Ok(())
}

/// Binds the terminal's pty slave at /dev/console. Runs after the pivot (the
/// pty comes from the container's own devpts), even on a bind-mounted /dev:
/// the terminal is the caller's choice.
pub fn bind_console(console: &Path) -> anyhow::Result<()> {
    let root = Root::open(Path::new("/"))?;
    let target = root.ensure(Path::new("/dev/console"), Leaf::File)?;
    mnt(
        Some(console),
        &proc_fd(&target),
        None,
        MsFlags::MS_BIND,
        None,
    )
    .with_context(|| format!("bind {} on /dev/console", console.display()))
}
