//! The container's init: nook code running inside the new namespaces, from
//! the clone to the execve of `process.args`. Each step is a named function
//! with its own error context; an error goes back to the parent as a message
//! and init exits.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::InitConfig;
use super::finish::{self, Finish, Role};
use super::sync::{InitEnd, ToInit, ToParent};
use crate::container::Status;
use crate::hooks::{self, Kind};
use crate::{console, namespaces, rootfs, syscall, sysctl, userns};

/// Entry point of the child after clone3. Never returns.
pub fn main(
    cfg: &InitConfig,
    chan: InitEnd,
    joins: &[(LinuxNamespaceType, OwnedFd)],
    fifo: &OwnedFd,
) -> ! {
    match run(cfg, &chan, joins, fifo) {
        Ok(never) => match never {},
        Err(e) => chan.fail(e),
    }
}

fn run(
    cfg: &InitConfig,
    chan: &InitEnd,
    joins: &[(LinuxNamespaceType, OwnedFd)],
    fifo: &OwnedFd,
) -> Result<Infallible> {
    let spec = &cfg.bundle.spec;
    let process = spec.process().as_ref().context("process is missing")?;
    start_stage(crate::container::INIT_NAME, Some(cfg.lock_fd))?;
    chan.expect(ToInit::CgroupsReady)?;
    let new_userns = userns::is_new(spec);
    if new_userns {
        userns::become_root()?;
    }
    enter_namespaces(spec, joins)?;
    if !cfg.no_new_keyring {
        join_session_keyring(cfg.id)?;
    }
    if !userns::is_used(spec) {
        set_oom_score_adj(process, "self")?;
    }
    let rootfs_cfg = rootfs::RootfsConfig {
        spec,
        rootfs: &cfg.bundle.rootfs,
        bundle: &cfg.bundle.dir,
        no_pivot: cfg.no_pivot,
        new_cgroupns: namespaces::Plan::from_spec(spec).is_new(LinuxNamespaceType::Cgroup),
    };
    let mut before_pivot = || container_hooks(cfg, chan);
    rootfs::prepare_rootfs(&rootfs_cfg, &mut before_pivot).context("rootfs")?;
    if process.terminal() == Some(true) {
        let master = console::setup(process, true).context("process.terminal")?;
        chan.send_console(&master)?;
    }
    set_names(spec)?;
    sysctl::apply(spec)?;
    rootfs::finalize_rootfs(&rootfs_cfg).context("rootfs")?;
    let tail = Finish {
        role: Role::Init,
        spec,
        process,
        extra_env: cfg.extra_env,
        preserve_fds: cfg.preserve_fds,
        memory_policy: cfg.bundle.extra.memory_policy.as_ref(),
        cwd_name: "process.cwd",
        seccomp: cfg.bundle.extra.seccomp.as_ref(),
    };
    let prepared = finish::prepare(&tail, chan)?;
    chan.send(&ToParent::Ready)?;
    chan.expect(ToInit::Commit)?;
    // Committed: from here the container outlives its creator.
    set_parent_death_signal(0)?;
    chan.send(&ToParent::Committed)?;
    let mut start = wait_for_start(fifo)?;
    let started = hooks::run(
        hooks::list(spec, Kind::StartContainer),
        Kind::StartContainer,
        &cfg.state
            .for_hook(Status::Created, std::process::id() as i32),
    );
    if let Err(e) = started {
        fail_start(start, e)
    }
    start.write_all(b"0").context("write exec.fifo")?;
    match finish::exec(&tail, &prepared) {
        Ok(never) => match never {},
        Err(e) => fail_start(start, e),
    }
}

/// `start` reads exec.fifo until it closes at execve: an error after the
/// handshake goes there (and `start` prints it), and init exits.
fn fail_start(mut start: std::fs::File, err: anyhow::Error) -> ! {
    let _ = start.write_all(format!("E{err:#}").as_bytes());
    // SAFETY: _exit ends this process without running the parent's atexit
    // handlers or flushing its copied stdio buffers twice.
    unsafe { libc::_exit(1) }
}

/// Just before the pivot: the parent runs prestart and createRuntime hooks
/// in the runtime namespace, then init runs createContainer hooks here, in
/// the container's namespaces (the pid they see is init's in its own pid
/// namespace).
fn container_hooks(cfg: &InitConfig, chan: &InitEnd) -> Result<()> {
    let spec = &cfg.bundle.spec;
    if super::wants_runtime_hooks(spec) {
        chan.send(&ToParent::RunHooks)?;
        chan.expect(ToInit::HooksDone)?;
    }
    let state = cfg
        .state
        .for_hook(Status::Creating, std::process::id() as i32);
    hooks::run(
        hooks::list(spec, Kind::CreateContainer),
        Kind::CreateContainer,
        &state,
    )
}

/// First steps after the clone (init and exec): name the stage, die with
/// the parent until committed, drop the state lock, and undo what nook's
/// runtime set for itself (blocked signals, ignored SIGPIPE) so the program
/// starts clean.
pub(super) fn start_stage(name: &str, lock_fd: Option<i32>) -> Result<()> {
    syscall::set_process_name(name);
    set_parent_death_signal(libc::SIGKILL)?;
    if let Some(fd) = lock_fd {
        // SAFETY: closing our copy of the lock fd; nothing else here uses it.
        unsafe { libc::close(fd) };
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    )
    .context("reset signal mask")?;
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL has no handler code to be unsafe.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    Ok(())
}

pub(super) fn set_parent_death_signal(sig: i32) -> Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number (0 clears it).
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_PDEATHSIG)");
    }
    Ok(())
}

/// On a v1 or hybrid host the parent has only now placed init in its
/// cgroups; a cgroup namespace unshared earlier would have the host's cgroup
/// as its root. So the cgroup namespace is made here, and joined ones after.
fn enter_namespaces(spec: &Spec, joins: &[(LinuxNamespaceType, OwnedFd)]) -> Result<()> {
    let plan = namespaces::Plan::from_spec(spec);
    // A joined user namespace first: it owns the namespaces made for the
    // container, and the new cgroup namespace must belong to it as well.
    if let Some((t, fd)) = joins.iter().find(|(t, _)| *t == LinuxNamespaceType::User) {
        namespaces::join(*t, fd)?;
        userns::become_root()?;
    }
    if plan.is_new(LinuxNamespaceType::Cgroup) {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare cgroup namespace")?;
    }
    for (t, fd) in joins {
        if !matches!(
            t,
            LinuxNamespaceType::Pid | LinuxNamespaceType::Time | LinuxNamespaceType::User
        ) {
            namespaces::join(*t, fd)?;
        }
    }
    Ok(())
}

/// A fresh session keyring per container, so containers do not share keys.
pub(super) fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = CString::new(format!("_ses.{id}"))?;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING) reads a NUL-terminated name.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        // Kernels without keyrings (ENOSYS) or with a full quota are not fatal, as in runc.
        if !matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EDQUOT)) {
            return Err(e).context("join a new session keyring (see --no-new-keyring)");
        }
    }
    Ok(())
}

/// process.oomScoreAdj for the process `pid` ("self", or a pid number).
pub(super) fn set_oom_score_adj(process: &Process, pid: &str) -> Result<()> {
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
            .with_context(|| format!("process.oomScoreAdj {adj}"))?;
    }
    Ok(())
}

fn set_names(spec: &Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).with_context(|| format!("hostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        let c = CString::new(d)?;
        // SAFETY: setdomainname reads `len` bytes of a valid buffer.
        if unsafe { libc::setdomainname(c.as_ptr(), d.len()) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("domainname {d:?}"));
        }
    }
    Ok(())
}

/// Blocks until `nook start` opens exec.fifo for reading. The fifo was
/// opened O_PATH before the pivot; it is reopened for writing through
/// /proc/self/fd. The returned file is close-on-exec: `start` sees EOF once
/// the program runs.
fn wait_for_start(fifo: &OwnedFd) -> Result<std::fs::File> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .context("open exec.fifo")
}
