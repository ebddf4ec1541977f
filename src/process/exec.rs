//! `nook exec`: a new process inside a running container, through the same
//! clone3, sync protocol and finishing tail as the container's init (the
//! protocol is drawn in `sync`).
//!
//! The pid and time namespaces a process lives in are fixed when it is
//! born, so the parent enters them "for children" around the clone3, and
//! the new process is born inside the container's pid namespace (with a
//! small PID there) and directly in its v2 cgroup: one clone, no second
//! fork. It is nook's own child, so that `--detach` hands it to the
//! caller's subreaper when nook exits. The other namespaces (the user
//! namespace first) it joins itself, all at once through the init's pidfd.

use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, CpuSet};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::clone::{Forked, clone3};
use super::finish::{self, Finish, Role};
use super::init;
use super::parent::{open_path, set_dumpable};
use super::sync::{self, InitEnd, ParentEnd, ToInit, ToParent};
use crate::procattr::MemoryPolicy;
use crate::{cgroups, console, namespaces, userns};

/// Name of the exec stage in /proc/<pid>/comm until it execs the program.
pub const EXEC_NAME: &str = "nook:exec";

/// Everything the parent and the new process need.
pub struct ExecConfig<'a> {
    pub id: &'a str,
    /// The container's config with `process` replaced by this process.
    pub spec: &'a Spec,
    pub memory_policy: Option<&'a MemoryPolicy>,
    /// The container's init, whose namespaces and root are joined.
    pub init_pid: i32,
    pub init_pidfd: &'a OwnedFd,
    /// The cgroup directories to join: the container's, or sub-cgroups.
    pub cgroup_dirs: &'a [PathBuf],
    pub preserve_fds: u32,
    /// The container was made with --no-new-keyring.
    pub no_new_keyring: bool,
    /// How errors name the working directory ("--cwd" or "process.cwd").
    pub cwd_name: &'a str,
    /// The container's seccomp filter, which exec'd processes get too.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
}

/// The parent's view of the new process.
pub struct Tenant {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub chan: ParentEnd,
}

/// Namespace types joined "for children" by the parent, and by the new
/// process itself (the user namespace first: the others are owned by it).
const FOR_CHILDREN: &[LinuxNamespaceType] = &[LinuxNamespaceType::Pid, LinuxNamespaceType::Time];
const DIRECT: &[LinuxNamespaceType] = &[
    LinuxNamespaceType::User,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
];

/// The namespace types among `of` that the container has.
fn container_types(spec: &Spec, of: &[LinuxNamespaceType]) -> Vec<LinuxNamespaceType> {
    let plan = namespaces::Plan::from_spec(spec);
    of.iter().copied().filter(|t| plan.has(*t)).collect()
}

/// Clones the new process into the container's pid namespace and cgroups.
/// Returns once it has been told to go on; it then joins the rest.
pub fn spawn(cfg: &ExecConfig) -> Result<Tenant> {
    let (parent_end, child_end) = sync::pair()?;
    let root = open_path(Path::new(&format!("/proc/{}/root", cfg.init_pid)))
        .context("open the container's root")?;
    let cgroup_fd = match cgroups::v2_dir(cfg.cgroup_dirs) {
        Some(d) => Some(open_path(d)?),
        None => None,
    };
    let affinity = Affinity::from_spec(cfg.spec)?;
    // /proc/<pid>/exe of nook code stays out of the container's reach until
    // execve: the dumpable flag is copied into the child by clone3.
    set_dumpable(false)?;
    let own_affinity = affinity.enter_initial()?;
    let restore = match enter_for_children(cfg) {
        Ok(r) => r,
        Err(e) => {
            Affinity::leave_initial(own_affinity)?;
            return Err(e);
        }
    };
    let forked = clone3(0, cgroup_fd.as_ref().map(|f| f.as_fd()));
    if let Ok(Forked::Child) = forked {
        // The child keeps the namespaces and CPUs it was born with.
        drop(parent_end);
        main(cfg, child_end, &root, &affinity)
    }
    // The parent goes back to its own namespaces and CPUs at once.
    let left = leave_for_children(restore).and_then(|_| Affinity::leave_initial(own_affinity));
    match forked? {
        Forked::Child => unreachable!("the child ran main above"),
        Forked::Parent { pid, pidfd } => {
            drop(child_end);
            let placed = left
                .and_then(|_| cgroups::enter_v1(cfg.cgroup_dirs, pid.as_raw()))
                .context("place the new process in the container's cgroups")
                .and_then(|_| parent_end.send(&ToInit::CgroupsReady));
            if let Err(e) = placed {
                kill_and_reap(pid, &pidfd);
                return Err(e);
            }
            Ok(Tenant {
                pid,
                pidfd,
                chan: parent_end,
            })
        }
    }
}

/// Kills a new process that will not run after all, and reaps it, so that
/// a failed exec leaves no process behind.
pub fn kill_and_reap(pid: Pid, pidfd: &OwnedFd) {
    let _ = crate::syscall::pidfd_send_signal(pidfd, libc::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// Enters the container's pid and time namespaces for the next child;
/// returns the parent's own, to go back to right after the clone.
fn enter_for_children(cfg: &ExecConfig) -> Result<Vec<(CloneFlags, OwnedFd)>> {
    let types = container_types(cfg.spec, FOR_CHILDREN);
    let mut restore = Vec::new();
    for t in &types {
        let own = if *t == LinuxNamespaceType::Pid {
            "pid"
        } else {
            "time"
        };
        restore.push((namespaces::flag(*t), namespaces::open_own(own)?));
    }
    if let Err(e) = join(cfg.init_pidfd, cfg.init_pid, &types) {
        leave_for_children(restore)?;
        return Err(e);
    }
    Ok(restore)
}

fn leave_for_children(restore: Vec<(CloneFlags, OwnedFd)>) -> Result<()> {
    for (flag, fd) in restore.iter().rev() {
        nix::sched::setns(fd.as_fd(), *flag).context("return to nook's own namespace")?;
    }
    Ok(())
}

/// Joins the init's namespaces of `types`: all at once through its pidfd
/// (Linux 5.8+), else one by one through /proc/<pid>/ns/*, all opened
/// before any is joined (a mount namespace changes what /proc is).
fn join(pidfd: &OwnedFd, pid: i32, types: &[LinuxNamespaceType]) -> Result<()> {
    if types.is_empty() {
        return Ok(());
    }
    let flags = types
        .iter()
        .fold(CloneFlags::empty(), |f, t| f | namespaces::flag(*t));
    match nix::sched::setns(pidfd.as_fd(), flags) {
        Ok(()) => return Ok(()),
        Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => {
            return Err(e)
                .context("setns into the container's namespaces (through the init's pidfd)");
        }
    }
    let mut fds = Vec::new();
    for t in types {
        let path = format!("/proc/{pid}/ns/{}", proc_name(*t));
        let f = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
        fds.push((*t, OwnedFd::from(f)));
    }
    for (t, fd) in &fds {
        namespaces::join(*t, fd)?;
    }
    Ok(())
}

/// The entry name under /proc/<pid>/ns of a namespace type.
fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
        LinuxNamespaceType::User => "user",
    }
}

/// Entry point of the new process after clone3. Never returns.
fn main(cfg: &ExecConfig, chan: InitEnd, root: &OwnedFd, affinity: &Affinity) -> ! {
    match run(cfg, &chan, root, affinity) {
        Ok(never) => match never {},
        Err(e) => chan.fail(e),
    }
}

fn run(cfg: &ExecConfig, chan: &InitEnd, root: &OwnedFd, aff: &Affinity) -> Result<Infallible> {
    let process = cfg.spec.process().as_ref().context("process is missing")?;
    init::start_stage(EXEC_NAME, None)?;
    chan.expect(ToInit::CgroupsReady)?;
    // Joining a cpuset cgroup may have reset the affinity: set it now.
    aff.apply_final()?;
    // Before the user namespace: lowering it needs CAP_SYS_RESOURCE over
    // the runtime's user namespace.
    init::set_oom_score_adj(process, "self")?;
    join(
        cfg.init_pidfd,
        cfg.init_pid,
        &container_types(cfg.spec, DIRECT),
    )?;
    if userns::is_new(cfg.spec) {
        // As init did: uid/gid 0 of the namespace (when mapped) until the
        // switch to process.user.
        userns::become_root()?;
    }
    enter_root(root)?;
    if !cfg.no_new_keyring {
        init::join_session_keyring(cfg.id)?;
    }
    if process.terminal() == Some(true) {
        let master = console::setup(process, false).context("--tty")?;
        chan.send_console(&master)?;
    }
    let tail = Finish {
        role: Role::Tenant,
        spec: cfg.spec,
        process,
        extra_env: &[],
        preserve_fds: cfg.preserve_fds,
        memory_policy: cfg.memory_policy,
        cwd_name: cfg.cwd_name,
        seccomp: cfg.seccomp,
    };
    let prepared = finish::prepare(&tail, chan)?;
    chan.send(&ToParent::Ready)?;
    chan.expect(ToInit::Commit)?;
    // Committed: the program outlives nook (with --detach).
    init::set_parent_death_signal(0)?;
    finish::exec(&tail, &prepared)
}

/// Takes the init's root as this process's root and cwd: right after a
/// pivot_root and after a --no-pivot chroot alike (setns into a mount
/// namespace alone would leave us at the namespace's root mount).
fn enter_root(root: &OwnedFd) -> Result<()> {
    nix::unistd::fchdir(root.as_raw_fd()).context("enter the container's root")?;
    nix::unistd::chroot(".").context("chroot to the container's root")?;
    nix::unistd::chdir("/").context("chdir / in the container")
}

/// process.execCPUAffinity: `initial` while the process is being set up
/// (set on the parent around the clone, so the child is born with it, before
/// it joins any cgroup), `final` once it is in the container's cgroups.
pub struct Affinity {
    initial: Option<CpuSet>,
    last: Option<CpuSet>,
}

impl Affinity {
    /// Parses the process's execCPUAffinity; a bad list is an error.
    pub fn from_spec(spec: &Spec) -> Result<Affinity> {
        let a = spec
            .process()
            .as_ref()
            .and_then(|p| p.exec_cpu_affinity().clone());
        let parse = |v: Option<&String>, field: &str| -> Result<Option<CpuSet>> {
            match v.filter(|s| !s.is_empty()) {
                Some(s) => cpu_set(s)
                    .with_context(|| format!("process.execCPUAffinity.{field} {s:?}"))
                    .map(Some),
                None => Ok(None),
            }
        };
        Ok(Affinity {
            initial: parse(a.as_ref().and_then(|a| a.initial().as_ref()), "initial")?,
            last: parse(
                a.as_ref().and_then(|a| a.cpu_affinity_final().as_ref()),
                "final",
            )?,
        })
    }

    /// Sets `initial` on the caller; returns the affinity to go back to.
    fn enter_initial(&self) -> Result<Option<CpuSet>> {
        let Some(set) = &self.initial else {
            return Ok(None);
        };
        let own = nix::sched::sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
        nix::sched::sched_setaffinity(Pid::from_raw(0), set)
            .context("process.execCPUAffinity.initial")?;
        Ok(Some(own))
    }

    fn leave_initial(own: Option<CpuSet>) -> Result<()> {
        if let Some(own) = own {
            nix::sched::sched_setaffinity(Pid::from_raw(0), &own)
                .context("restore nook's CPU affinity")?;
        }
        Ok(())
    }

    fn apply_final(&self) -> Result<()> {
        if let Some(set) = &self.last {
            nix::sched::sched_setaffinity(Pid::from_raw(0), set)
                .context("process.execCPUAffinity.final")?;
        }
        Ok(())
    }
}

/// A CPU list ("0-3,7") as a CpuSet.
fn cpu_set(list: &str) -> Result<CpuSet> {
    let mut set = CpuSet::new();
    for part in list.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            _ => bail!("not a CPU list (like 0-3,7)"),
        };
        for cpu in a..=b {
            set.set(cpu)
                .map_err(|_| anyhow::anyhow!("CPU {cpu} is beyond {}", CpuSet::count()))?;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        let s = cpu_set("0-2,5").unwrap();
        for (cpu, want) in [(0, true), (2, true), (3, false), (5, true)] {
            assert_eq!(s.is_set(cpu).unwrap(), want, "{cpu}");
        }
        for bad in ["", "a", "3-1", "1,", "-1", "99999"] {
            assert!(cpu_set(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespace_split() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.0",
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}]}
        }))
        .unwrap();
        assert_eq!(
            container_types(&spec, FOR_CHILDREN),
            [LinuxNamespaceType::Pid]
        );
        assert_eq!(
            container_types(&spec, DIRECT),
            [LinuxNamespaceType::Mount, LinuxNamespaceType::Uts]
        );
    }
}
