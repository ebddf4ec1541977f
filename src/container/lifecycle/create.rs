//! `create`: from a bundle to an init process waiting on exec.fifo.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::stop::destroy_with_kill;
use crate::container::{
    Container, EXEC_FIFO, Lock, Phase, ProcRef, State, Status, ensure_root, validate_id,
};
use crate::error::Error;
use crate::hooks::{self, Kind};
use crate::process::{
    InitConfig, parent,
    sync::{ToInit, ToParent},
};
use crate::{cgroups, logging, spec, syscall};

/// Options of `create` (and of `run`).
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    /// Where to send the pty master when process.terminal is true.
    pub console_socket: Option<PathBuf>,
    /// A foreground `run` keeps the pty master itself (no socket needed).
    pub keep_terminal: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Added to process.env (socket activation).
    pub extra_env: Vec<String>,
    /// `--systemd-cgroup`: the cgroups are a systemd unit.
    pub systemd_cgroup: bool,
}

/// A container just created by this process: still its parent.
pub struct Created {
    pub container: Container,
    pub pidfd: OwnedFd,
    /// The pty master, when `keep_terminal` and process.terminal.
    pub console: Option<OwnedFd>,
    /// Held until the caller is done with the container's setup.
    pub lock: Option<Lock>,
}

/// `create`: sets the container up and leaves init blocked before exec.
pub fn create(root: &Path, id: &str, opts: &CreateOptions) -> Result<Created> {
    validate_id(id)?;
    let bundle = spec::load(&opts.bundle)?;
    check_terminal(&bundle.spec, opts)?;
    ensure_root(root)?;
    let dir = Container::dir_of(root, id);
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Error::Exists.into()),
        Err(e) => return Err(e).with_context(|| format!("create {}", dir.display())),
    }
    let lock = match Lock::acquire(&dir) {
        Ok(l) => l,
        Err(e) => {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let state = State {
        oci_version: bundle.spec.version().clone(),
        id: id.to_string(),
        phase: Phase::Creating,
        init: ProcRef::default(),
        creator: ProcRef::current(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: logging::now_rfc3339(true),
        owner: String::new(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        cgroup_dirs: Vec::new(),
        cgroup_created: Vec::new(),
        cgroup_driver: cgroups::Driver::Cgroupfs,
        hooks: None,
        no_new_keyring: opts.no_new_keyring,
    };
    let mut c = Container { dir, state };
    match build(&mut c, &bundle, &lock, opts) {
        Ok((pidfd, console)) => Ok(Created {
            container: c,
            pidfd,
            console,
            lock: Some(lock),
        }),
        Err(e) => {
            if let Err(ce) = destroy_with_kill(&c) {
                logging::warn(&format!("cleanup after failed create: {ce:#}"));
            }
            Err(e)
        }
    }
}

/// A terminal needs somewhere to go, and a socket needs a terminal: the
/// same rules, and the same reasons, as runc.
fn check_terminal(spec: &oci_spec::runtime::Spec, opts: &CreateOptions) -> Result<()> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    match (terminal, &opts.console_socket) {
        (true, None) if !opts.keep_terminal => {
            bail!("process.terminal is true but no --console-socket was given to receive the pty")
        }
        (false, Some(_)) => bail!("--console-socket was given but process.terminal is false"),
        _ => Ok(()),
    }
}

/// The steps of `create` after the state directory exists. Everything is
/// recorded in state.json before it is made, so that `delete --force` can
/// undo a `create` killed at any point.
fn build(
    c: &mut Container,
    bundle: &spec::Bundle,
    lock: &Lock,
    opts: &CreateOptions,
) -> Result<(OwnedFd, Option<OwnedFd>)> {
    let plan = cgroups::manager::plan(&bundle.spec, &c.state.id, opts.systemd_cgroup)?;
    c.state.cgroup_created = plan.created.clone();
    c.state.cgroup_dirs = plan.dirs.clone();
    c.state.cgroup_driver = plan.driver.clone();
    c.state.hooks = bundle.spec.hooks().clone();
    c.save()?;
    // Limits are in place before any process joins the cgroups.
    cgroups::manager::prepare(&plan, bundle)?;
    make_exec_fifo(&c.dir)?;
    let base = c.state.oci(Status::Creating);
    let cfg = InitConfig {
        id: &c.state.id,
        bundle,
        state_dir: &c.dir,
        cgroup_dirs: &c.state.cgroup_dirs,
        cgroup_driver: &c.state.cgroup_driver,
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        lock_fd: lock.raw_fd(),
        extra_env: &opts.extra_env,
        state: &base,
    };
    let init = parent::spawn(&cfg)?;
    logging::debug(&format!(
        "container {}: init is pid {}",
        c.state.id, init.pid
    ));
    c.state.init = ProcRef::of(init.pid.as_raw());
    c.save()?;
    if crate::process::wants_runtime_hooks(&bundle.spec) {
        init.chan.expect(ToParent::RunHooks)?;
        let state = c
            .state
            .oci(Status::Creating)
            .for_hook(Status::Creating, init.pid.as_raw());
        hooks::run(
            hooks::list(&bundle.spec, Kind::Prestart),
            Kind::Prestart,
            &state,
        )?;
        hooks::run(
            hooks::list(&bundle.spec, Kind::CreateRuntime),
            Kind::CreateRuntime,
            &state,
        )?;
        init.chan.send(&ToInit::HooksDone)?;
    }
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let console = if terminal {
        Some(init.chan.recv_console()?)
    } else {
        None
    };
    if let Some(f) = bundle.extra.seccomp.as_ref().filter(|f| f.notifies()) {
        let listener = init.chan.recv_seccomp_listener()?;
        let state = c
            .state
            .oci(Status::Creating)
            .for_hook(Status::Creating, init.pid.as_raw());
        crate::seccomp::hand_to_agent(f, listener, &state, init.pid.as_raw())?;
    }
    init.chan.expect(ToParent::Ready)?;
    c.state.phase = Phase::Created;
    c.save()?;
    let console = hand_over(opts, &init.pidfd, init.pid.as_raw(), console)?;
    init.chan.send(&ToInit::Commit)?;
    init.chan.expect(ToParent::Committed)?;
    Ok((init.pidfd, console))
}

/// exec.fifo: writable by init whatever user it becomes; the 0700 state
/// directory keeps everyone else out.
fn make_exec_fifo(dir: &Path) -> Result<()> {
    let fifo = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .context("create exec.fifo")?;
    fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .context("chmod exec.fifo")
}

/// What the caller asked to receive once the container is created: the pid
/// file, the pidfd, the pty master (which a foreground run keeps instead).
pub(super) fn hand_over(
    opts: &CreateOptions,
    pidfd: &OwnedFd,
    pid: i32,
    console: Option<OwnedFd>,
) -> Result<Option<OwnedFd>> {
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    if let Some(s) = &opts.pidfd_socket {
        send_pidfd(s, pidfd)?;
    }
    match (&opts.console_socket, console) {
        (Some(s), Some(m)) => {
            crate::console::send_to_socket(s, &m)?;
            Ok(None)
        }
        (_, console) => Ok(console),
    }
}

/// Writes the pid file atomically (a reader never sees it half written).
pub(super) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs =
        std::path::absolute(path).with_context(|| format!("--pid-file {}", path.display()))?;
    syscall::write_atomic(&abs, pid.to_string().as_bytes(), 0o644)
        .with_context(|| format!("--pid-file {}", path.display()))
}

/// `--pidfd-socket`: the init's pidfd sent over a unix socket with SCM_RIGHTS.
pub(super) fn send_pidfd(path: &Path, pidfd: &OwnedFd) -> Result<()> {
    let what = || format!("--pidfd-socket {}", path.display());
    let sock = std::os::unix::net::UnixStream::connect(path).with_context(what)?;
    crate::console::send_fd(&sock, pidfd, b"pidfd").with_context(what)
}
