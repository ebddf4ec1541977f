//! The container's init: nook code running inside the new namespaces, from
//! the clone to the execve of `process.args`. Each step is a named function
//! with its own error context; an error goes back to the parent as a message
//! and init exits.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{AccessFlags, Gid, Uid, access};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::InitConfig;
use super::sync::{InitEnd, ToInit, ToParent};
use crate::container::Status;
use crate::hooks::{self, Kind};
use crate::{
    capabilities, console, lsm, namespaces, procattr, rlimits, rootfs, seccomp, syscall, sysctl,
    userns,
};

/// Entry point of the child after clone3. Never returns.
pub fn main(
    cfg: &InitConfig,
    chan: InitEnd,
    joins: &[(LinuxNamespaceType, OwnedFd)],
    fifo: &OwnedFd,
) -> ! {
    let err = match run(cfg, &chan, joins, fifo) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let msg = format!("{err:#}");
    if chan.send(&ToParent::Error(msg.clone())).is_err() {
        // The parent is gone (after `create` returned): the caller's stderr
        // is the only place left to say why the program did not start.
        let _ = writeln!(std::io::stderr(), "nook: {msg}");
    }
    // SAFETY: _exit ends this process without running the parent's atexit
    // handlers or flushing its copied stdio buffers twice.
    unsafe { libc::_exit(1) }
}

fn run(
    cfg: &InitConfig,
    chan: &InitEnd,
    joins: &[(LinuxNamespaceType, OwnedFd)],
    fifo: &OwnedFd,
) -> Result<Infallible> {
    let spec = &cfg.bundle.spec;
    let process = spec.process().as_ref().context("process is missing")?;
    start_stage(cfg)?;
    chan.expect(ToInit::CgroupsReady)?;
    let new_userns = userns::is_new(spec);
    if new_userns {
        userns::become_root(spec)?;
    }
    enter_namespaces(spec, joins)?;
    if !cfg.no_new_keyring {
        join_session_keyring(cfg.id)?;
    }
    if !new_userns {
        set_oom_score_adj(process)?;
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
        let master = console::setup(process).context("process.terminal")?;
        chan.send_console(&master)?;
    }
    set_names(spec)?;
    sysctl::apply(spec)?;
    rootfs::finalize_rootfs(&rootfs_cfg).context("rootfs")?;
    make_cwd(process)?;
    rlimits::apply(spec)?;
    // Both may need capabilities that the user switch drops.
    procattr::apply_scheduler(process)?;
    procattr::apply_io_priority(process)?;
    seccomp::load_early(cfg.bundle.extra.seccomp.as_ref(), process, chan)?;
    switch_user(spec, process)?;
    let env = environment(process, cfg.extra_env);
    let program = find_program(process, &env)?;
    finish_process(process)?;
    seccomp::load_late(cfg.bundle.extra.seccomp.as_ref(), process, chan)?;
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
    match exec(cfg, process, &program, &env) {
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

/// First steps after the clone: name the stage, die with the parent until
/// committed, drop the state lock, and undo what nook's runtime set for
/// itself (blocked signals, ignored SIGPIPE) so the program starts clean.
fn start_stage(cfg: &InitConfig) -> Result<()> {
    syscall::set_process_name(crate::container::INIT_NAME);
    set_parent_death_signal(libc::SIGKILL)?;
    // SAFETY: closing our copy of the lock fd; nothing else in init uses it.
    unsafe { libc::close(cfg.lock_fd) };
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

fn set_parent_death_signal(sig: i32) -> Result<()> {
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
    if plan.is_new(LinuxNamespaceType::Cgroup) {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare cgroup namespace")?;
    }
    for (t, fd) in joins {
        if !matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            namespaces::join(*t, fd)?;
        }
    }
    Ok(())
}

/// A fresh session keyring per container, so containers do not share keys.
fn join_session_keyring(id: &str) -> Result<()> {
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

fn set_oom_score_adj(process: &Process) -> Result<()> {
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
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

/// process.cwd is created if missing, as runc does; init is already inside
/// the container's root, so the path cannot lead out of it.
fn make_cwd(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    if !cwd.exists() {
        std::fs::create_dir_all(cwd).with_context(|| format!("process.cwd {}", cwd.display()))?;
    }
    Ok(())
}

fn switch_user(spec: &Spec, process: &Process) -> Result<()> {
    let user = process.user();
    let caps = capabilities::Plan::from_spec(spec);
    if let Some(c) = &caps {
        c.before_user_switch()?;
    }
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).context("process.user.additionalGids: setgroups")?;
    nix::unistd::setresgid(
        Gid::from_raw(user.gid()),
        Gid::from_raw(user.gid()),
        Gid::from_raw(user.gid()),
    )
    .with_context(|| format!("process.user.gid {}", user.gid()))?;
    nix::unistd::setresuid(
        Uid::from_raw(user.uid()),
        Uid::from_raw(user.uid()),
        Uid::from_raw(user.uid()),
    )
    .with_context(|| format!("process.user.uid {}", user.uid()))?;
    if let Some(c) = &caps {
        c.after_user_switch()?;
    }
    Ok(())
}

/// The environment of the program: process.env, plus HOME when it is
/// missing (from the container's /etc/passwd, else "/"), as runc does.
fn environment(process: &Process, extra: &[String]) -> Vec<String> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    env.extend_from_slice(extra);
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(process.user().uid())));
    }
    env
}

fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
        .map(|f| f[5].to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// Resolves process.args[0] inside the container: a path with a slash as is
/// (relative to cwd), otherwise searched in the container's PATH.
fn find_program(process: &Process, env: &[String]) -> Result<PathBuf> {
    let arg0 = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .context("process.args is empty")?;
    let cwd = process.cwd();
    // Worded with the phrases callers map to exit codes 127 and 126
    // ("no such file or directory", "executable file not found in $PATH",
    // "permission denied"), checked as the process's own user.
    let check = |p: &Path| -> Option<&'static str> {
        match std::fs::metadata(p) {
            Err(_) => Some("no such file or directory"),
            Ok(m) if !m.is_file() => Some("permission denied"),
            Ok(_) => access(p, AccessFlags::X_OK)
                .err()
                .map(|_| "permission denied"),
        }
    };
    if arg0.contains('/') {
        return match check(&cwd.join(arg0)) {
            None => Ok(PathBuf::from(arg0)),
            Some(why) => bail!("process.args[0] {arg0:?}: {why}"),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    let mut denied = false;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        match check(&cwd.join(dir).join(arg0)) {
            None => return Ok(Path::new(dir).join(arg0)),
            Some("permission denied") => denied = true,
            Some(_) => {}
        }
    }
    if denied {
        bail!("process.args[0] {arg0:?}: permission denied");
    }
    bail!("process.args[0] {arg0:?}: executable file not found in $PATH")
}

/// The last per-process settings: umask, cwd, no_new_privs.
fn finish_process(process: &Process) -> Result<()> {
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).with_context(|| format!("process.cwd {}", cwd.display()))?;
    if process.no_new_privileges() == Some(true) {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes 1 and zeros.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).context("process.noNewPrivileges");
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

fn exec(cfg: &InitConfig, process: &Process, program: &Path, env: &[String]) -> Result<Infallible> {
    let cstr = |s: &[u8]| CString::new(s).context("NUL byte in process.args or process.env");
    let path = cstr(program.as_os_str().as_bytes())?;
    let args = process
        .args()
        .iter()
        .flatten()
        .map(|a| cstr(a.as_bytes()))
        .collect::<Result<Vec<_>>>()?;
    let env = env
        .iter()
        .map(|e| cstr(e.as_bytes()))
        .collect::<Result<Vec<_>>>()?;
    syscall::cloexec_from(3 + cfg.preserve_fds as i32)?;
    // Last, as they change how this very process behaves.
    procattr::apply_memory_policy(cfg.bundle.extra.memory_policy.as_ref())?;
    lsm::apply_exec_labels(&cfg.bundle.spec)?;
    procattr::apply_personality(&cfg.bundle.spec)?;
    let err = nix::unistd::execve(&path, &args, &env).unwrap_err();
    Err(err).with_context(|| format!("exec {}", program.display()))
}
