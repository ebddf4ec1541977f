//! The runtime side of the clone: what must happen in the parent before and
//! after the container process exists.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};
use nix::fcntl::{OFlag, open};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::InitConfig;
use super::clone::{Forked, clone3};
use super::sync::{self, ParentEnd, ToInit};
use crate::{cgroups, namespaces, netdev, userns};

/// The parent's view of a freshly cloned init.
pub struct Init {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub chan: ParentEnd,
}

/// Clones the container's init and places it in its cgroups. Returns once
/// init has been told to go on; its setup then runs concurrently.
pub fn spawn(cfg: &InitConfig) -> Result<Init> {
    let spec = &cfg.bundle.spec;
    let plan = namespaces::Plan::from_spec(spec);
    let mut joins = plan.open_joins()?;
    let mut clone_flags = plan.clone_flags();
    if let Some(made) = namespaces_in_joined_userns(spec, &plan, &joins)? {
        // They exist already, owned by the joined user namespace: init
        // joins them like any namespace given by path.
        clone_flags = CloneFlags::empty();
        joins.extend(made);
    }
    let (parent_end, init_end) = sync::pair()?;
    let fifo = open_path(&cfg.state_dir.join(crate::container::EXEC_FIFO))?;
    let cgroup_fd = match cgroups::manager::clone_into(cfg.cgroup_driver, cfg.cgroup_dirs) {
        Some(d) => Some(open_path(d)?),
        None => None,
    };
    // Keep /proc/<pid>/exe of nook code out of the container's reach until
    // execve: the dumpable flag is copied into the child by clone3.
    set_dumpable(false)?;
    let pending = PendingNamespaces::enter(spec, &plan, &joins)?;
    let forked = clone3(
        clone_flags.bits() as u64,
        cgroup_fd.as_ref().map(|f| f.as_fd()),
    );
    let forked = match forked {
        Ok(f) => f,
        Err(e) => {
            pending.leave()?;
            return Err(e);
        }
    };
    match forked {
        Forked::Child => {
            drop(parent_end);
            super::init::main(cfg, init_end, &joins, &fifo)
        }
        Forked::Parent { pid, pidfd } => {
            pending.leave()?;
            drop(init_end);
            cgroups::manager::enter(
                cfg.cgroup_driver,
                cfg.bundle,
                cfg.id,
                cfg.cgroup_dirs,
                pid.as_raw(),
            )
            .context("place the container process in its cgroups")?;
            if userns::is_new(spec) {
                userns::write_maps(spec, pid)?;
            }
            if userns::is_used(spec) {
                // Lowering oom_score_adj needs CAP_SYS_RESOURCE over the
                // runtime's user namespace, which init no longer has.
                if let Some(process) = spec.process() {
                    super::init::set_oom_score_adj(process, &pid.to_string())?;
                }
            }
            if netdev::wanted(spec) {
                let netns = netdev::target_netns(pid.as_raw(), &joins)?;
                netdev::move_into(spec, netns.as_fd())?;
            }
            parent_end.send(&ToInit::CgroupsReady)?;
            Ok(Init {
                pid,
                pidfd,
                chan: parent_end,
            })
        }
    }
}

pub(super) fn open_path(p: &Path) -> Result<OwnedFd> {
    open(p, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map(|fd| {
            use std::os::fd::FromRawFd;
            // SAFETY: `open` returned a fresh fd that only we own.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .with_context(|| format!("open {}", p.display()))
}

pub(super) fn set_dumpable(on: bool) -> Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes 0 or 1.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_DUMPABLE)");
    }
    Ok(())
}

/// The pid and time namespaces a process enters are those of its parent's
/// `*_for_children`: the parent sets them just before the clone and returns
/// to its own right after. A new time namespace must get its offsets before
/// any task enters it, so it is unshared (and written) here, not by clone3.
struct PendingNamespaces {
    restore: Vec<(CloneFlags, OwnedFd)>,
}

impl PendingNamespaces {
    fn enter(
        spec: &Spec,
        plan: &namespaces::Plan,
        joins: &[(LinuxNamespaceType, OwnedFd)],
    ) -> Result<PendingNamespaces> {
        let mut me = PendingNamespaces {
            restore: Vec::new(),
        };
        for (t, fd) in joins {
            if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                let own = if *t == LinuxNamespaceType::Pid {
                    "pid"
                } else {
                    "time"
                };
                me.restore
                    .push((namespaces::flag(*t), namespaces::open_own(own)?));
                namespaces::join(*t, fd)?;
            }
        }
        let made_time = joins.iter().any(|(t, _)| *t == LinuxNamespaceType::Time)
            && plan.join_path(LinuxNamespaceType::Time).is_none();
        if plan.is_new(LinuxNamespaceType::Time) && !made_time {
            let newtime = namespaces::flag(LinuxNamespaceType::Time);
            me.restore.push((newtime, namespaces::open_own("time")?));
            nix::sched::unshare(newtime).context("unshare time namespace")?;
            write_time_offsets(spec)?;
        }
        Ok(me)
    }

    fn leave(self) -> Result<()> {
        for (flag, fd) in self.restore.iter().rev() {
            nix::sched::setns(fd.as_fd(), *flag).context("return to nook's own namespace")?;
        }
        Ok(())
    }
}

/// With a user namespace joined by path, the container's new namespaces
/// must belong to it. A helper process joins it, unshares them (time as the
/// namespace of its future children, its offsets written before anyone
/// enters), and waits; nook opens them through /proc and kills it. (A pid
/// namespace cannot be made this way: its `pid_for_children` link opens
/// only once a first process lives in it; `userns::validate` refuses it.) The cgroup namespace is left to init, which unshares it after
/// joining the user namespace, once it sits in its cgroup.
fn namespaces_in_joined_userns(
    spec: &Spec,
    plan: &namespaces::Plan,
    joins: &[(LinuxNamespaceType, OwnedFd)],
) -> Result<Option<Vec<(LinuxNamespaceType, OwnedFd)>>> {
    let Some((_, user)) = joins.iter().find(|(t, _)| *t == LinuxNamespaceType::User) else {
        return Ok(None);
    };
    use LinuxNamespaceType::*;
    let wanted: Vec<(LinuxNamespaceType, &str)> = [
        (Mount, "mnt"),
        (Uts, "uts"),
        (Ipc, "ipc"),
        (Network, "net"),
        (Time, "time_for_children"),
    ]
    .into_iter()
    .filter(|(t, _)| plan.is_new(*t))
    .collect();
    let flags = wanted
        .iter()
        .fold(CloneFlags::empty(), |f, (t, _)| f | namespaces::flag(*t));
    let (ready_r, ready_w) = nix::unistd::pipe().context("pipe for the namespace helper")?;
    let nook = nix::unistd::getpid();
    // SAFETY: nook is single-threaded here; the child only makes syscalls
    // and leaves with _exit.
    match unsafe { nix::unistd::fork() }.context("fork the namespace helper")? {
        nix::unistd::ForkResult::Child => {
            drop(ready_r);
            // Never outlive a nook killed before it kills this helper.
            // SAFETY: PR_SET_PDEATHSIG takes a signal number.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            if nix::unistd::getppid() != nook {
                // SAFETY: leave without running the parent's atexit handlers.
                unsafe { libc::_exit(1) }
            }
            let made = nix::sched::setns(user.as_fd(), CloneFlags::CLONE_NEWUSER)
                .context("join the user namespace")
                .and_then(|()| nix::sched::unshare(flags).context("unshare namespaces"))
                .and_then(|()| match plan.is_new(LinuxNamespaceType::Time) {
                    true => write_time_offsets(spec),
                    false => Ok(()),
                });
            let byte: &[u8] = if made.is_ok() { b"1" } else { b"0" };
            let _ = nix::unistd::write(&ready_w, byte);
            // Wait to be killed: the namespaces must live until opened.
            nix::unistd::pause();
            // SAFETY: leave without running the parent's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(ready_w);
            let mut byte = [0u8; 1];
            let n = nix::unistd::read(ready_r.as_raw_fd(), &mut byte);
            let opened = match (n, byte[0]) {
                (Ok(1), b'1') => wanted
                    .iter()
                    .map(|(t, name)| {
                        let p = format!("/proc/{child}/ns/{name}");
                        let f = std::fs::File::open(&p).with_context(|| format!("open {p}"))?;
                        Ok((*t, OwnedFd::from(f)))
                    })
                    .collect::<Result<Vec<_>>>(),
                _ => Err(anyhow::anyhow!(
                    "linux.namespaces: cannot make the container's namespaces inside the joined user namespace"
                )),
            };
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child, None);
            opened.map(Some)
        }
    }
}

fn write_time_offsets(spec: &Spec) -> Result<()> {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in offsets {
        let clock = match clock.as_str() {
            "monotonic" | "boottime" => clock,
            other => {
                anyhow::bail!("linux.timeOffsets: unknown clock {other:?} (monotonic or boottime)")
            }
        };
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", text).context("write linux.timeOffsets")
}
