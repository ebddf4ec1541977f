//! create, start, run, kill and delete: the orchestration of a container's
//! life. State checks happen here; kernel work is in `process`, `rootfs` and
//! `cgroups`.

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{Container, EXEC_FIFO, Lock, Phase, ProcRef, State, Status, ensure_root, validate_id};
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
        hooks: None,
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
    let dirs = cgroups::container_dirs(&bundle.spec, &c.state.id)?;
    c.state.cgroup_created = cgroups::missing(&dirs);
    c.state.cgroup_dirs = dirs;
    c.state.hooks = bundle.spec.hooks().clone();
    c.save()?;
    cgroups::create(&c.state.cgroup_created)?;
    cgroups::apply_devices(&bundle.spec, &c.state.cgroup_dirs)?;
    make_exec_fifo(&c.dir)?;
    let base = c.state.oci(Status::Creating);
    let cfg = InitConfig {
        id: &c.state.id,
        bundle,
        state_dir: &c.dir,
        cgroup_dirs: &c.state.cgroup_dirs,
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
fn hand_over(
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
fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs =
        std::path::absolute(path).with_context(|| format!("--pid-file {}", path.display()))?;
    syscall::write_atomic(&abs, pid.to_string().as_bytes(), 0o644)
        .with_context(|| format!("--pid-file {}", path.display()))
}

/// `--pidfd-socket`: the init's pidfd sent over a unix socket with SCM_RIGHTS.
fn send_pidfd(path: &Path, pidfd: &OwnedFd) -> Result<()> {
    let what = || format!("--pidfd-socket {}", path.display());
    let sock = std::os::unix::net::UnixStream::connect(path).with_context(what)?;
    crate::console::send_fd(&sock, pidfd, b"pidfd").with_context(what)
}

/// `start`: releases a created container's init into the program.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let mut c = Container::load(root, id)?;
    let _lock = c.lock()?;
    c = Container::load(root, id)?;
    release(&mut c, None)
}

fn release(c: &mut Container, pidfd: Option<&OwnedFd>) -> Result<()> {
    match c.status() {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::BadState("cannot start a container that has stopped".into()).into());
        }
        s => return Err(Error::BadState(format!("cannot start an already {s} container")).into()),
    }
    let fifo_path = c.dir.join(EXEC_FIFO);
    let mut fifo = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .context("open exec.fifo")?;
    let owned;
    let pidfd = match pidfd {
        Some(p) => p,
        None => {
            owned = syscall::pidfd_open(c.state.init.pid)
                .map_err(|_| Error::BadState("cannot start a container that has stopped".into()))?;
            &owned
        }
    };
    wait_readable(&fifo, pidfd)?;
    // Init writes "0" once the startContainer hooks have passed; the fifo
    // then closes at its execve. "E<error>" says why the program did not run.
    set_blocking(&fifo)?;
    let mut reply = String::new();
    fifo.read_to_string(&mut reply).context("read exec.fifo")?;
    fs::remove_file(&fifo_path).context("remove exec.fifo")?;
    c.state.phase = Phase::Started;
    c.save()?;
    match reply.split_once('E') {
        _ if reply == "0" => {}
        Some((_, why)) => bail!("{why}"),
        None => bail!("container init exited before start"),
    }
    logging::debug(&format!("container {}: started", c.state.id));
    let state = c
        .state
        .oci(Status::Running)
        .for_hook(Status::Running, c.state.init.pid);
    if let Err(e) = hooks::run(hooks_of(c, Kind::Poststart), Kind::Poststart, &state) {
        // runtime.md: a failed poststart hook stops the container first.
        let _ = syscall::pidfd_send_signal(pidfd, libc::SIGKILL);
        syscall::pidfd_wait_exit(pidfd, 5000);
        return Err(e);
    }
    Ok(())
}

fn hooks_of(c: &Container, kind: Kind) -> &[oci_spec::runtime::Hook] {
    c.state
        .hooks
        .as_ref()
        .map(|h| kind.of(h))
        .unwrap_or_default()
}

fn set_blocking(f: &fs::File) -> Result<()> {
    let fd = f.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on our own open fd.
    let r = unsafe {
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) & !libc::O_NONBLOCK,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context("fcntl exec.fifo");
    }
    Ok(())
}

/// Waits until init writes to the fifo, or fails if init dies first.
fn wait_readable(fifo: &fs::File, pidfd: &OwnedFd) -> Result<()> {
    let mut fds = [
        libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: two valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e).context("poll exec.fifo");
        }
        if fds[0].revents & libc::POLLIN != 0 {
            return Ok(());
        }
        if fds[1].revents != 0 {
            bail!("container init exited before start");
        }
        if fds[0].revents != 0 {
            bail!("exec.fifo closed before start");
        }
    }
}

/// `run` up to the running program: create, then start in-process.
pub fn create_and_start(root: &Path, id: &str, opts: &CreateOptions) -> Result<Created> {
    let mut created = create(root, id, opts)?;
    if let Err(e) = release(&mut created.container, Some(&created.pidfd)) {
        let _ = destroy_with_kill(&created.container);
        return Err(e);
    }
    Ok(created)
}

/// `kill`: sends `sig` to init (`all`: to every process of the container).
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if !status.can_kill() {
        // runc accepts `kill --all` of a stopped container as a no-op.
        return if all && status == Status::Stopped {
            Ok(())
        } else {
            Err(Error::NotRunning.into())
        };
    }
    let pidfd = syscall::pidfd_open(c.state.init.pid).map_err(|_| Error::NotRunning)?;
    // The pidfd pins the process: check it is still the one recorded.
    if !c.state.init.alive() {
        return Err(Error::NotRunning.into());
    }
    if all {
        for pid in cgroups::pids(&c.state.cgroup_dirs) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::try_from(sig).ok(),
            );
        }
    }
    syscall::pidfd_send_signal(&pidfd, sig)
        .with_context(|| format!("send signal {sig} to container init"))
}

/// `delete`: removes a stopped (or, as runc, a created) container; with
/// `force`, kills a running one first.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    validate_id(id)?;
    let dir = Container::dir_of(root, id);
    if !dir.exists() {
        return if force {
            Ok(())
        } else {
            Err(Error::NotExist.into())
        };
    }
    let _lock = Lock::acquire(&dir)?;
    let c = match Container::load(root, id) {
        Ok(c) => c,
        // A create killed before its first state write left only the directory.
        Err(_) if !dir.join("state.json").exists() => {
            if !dir.exists() {
                return if force {
                    Ok(())
                } else {
                    Err(Error::NotExist.into())
                };
            }
            return fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()));
        }
        Err(e) => return Err(e),
    };
    let status = c.status();
    if !force && !status.can_delete() {
        return Err(Error::BadState(format!(
            "cannot delete container {id} that is not stopped: {status}"
        ))
        .into());
    }
    destroy_with_kill(&c)
}

/// Kills whatever is left of the container, then removes it.
fn destroy_with_kill(c: &Container) -> Result<()> {
    // The pidfd pins the process; checking the start time after opening it
    // makes sure a reused pid is never signalled.
    if let Ok(pidfd) = syscall::pidfd_open(c.state.init.pid)
        && c.state.init.alive()
    {
        let _ = syscall::pidfd_send_signal(&pidfd, libc::SIGKILL);
        syscall::pidfd_wait_exit(&pidfd, 5000);
    }
    cgroups::kill_all(&c.state.cgroup_dirs);
    destroy(c)
}

/// Removes the cgroups nook created and the state directory, in that order,
/// so that a failure leaves the state behind for another `delete`.
fn destroy(c: &Container) -> Result<()> {
    logging::debug(&format!("container {}: removing", c.state.id));
    cgroups::remove(&c.state.cgroup_created)?;
    fs::remove_dir_all(&c.dir).with_context(|| format!("remove {}", c.dir.display()))?;
    // After the container is gone and before delete returns; a failure is
    // only a warning (runtime.md).
    let state = c.state.oci(Status::Stopped).for_hook(Status::Stopped, 0);
    if let Err(e) = hooks::run(hooks_of(c, Kind::Poststop), Kind::Poststop, &state) {
        logging::warn(&format!("{e:#}"));
    }
    Ok(())
}

/// `state`: the OCI state object.
pub fn state(root: &Path, id: &str) -> Result<super::state::OciState> {
    let c = Container::load(root, id)?;
    Ok(c.state.oci(c.status()))
}

/// Options that only `run` has.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    pub detach: bool,
    pub keep: bool,
    pub no_subreaper: bool,
}

/// `run`: create and start; in the foreground, forward signals to the
/// container, wait for it, remove it (unless `keep`) and return its exit
/// status as a shell reports it.
pub fn run(root: &Path, id: &str, opts: &CreateOptions, run: &RunOptions) -> Result<i32> {
    if run.detach {
        create_and_start(root, id, opts)?;
        return Ok(0);
    }
    if !run.no_subreaper {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes 0 or 1.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let signals = crate::foreground::Signals::block()?;
    let mut created = create_and_start(root, id, opts)?;
    created.lock = None;
    let console = created.console.take();
    let pid = created.container.state.init.pid;
    let code = crate::foreground::supervise(signals, pid, &created.pidfd, console)?;
    if !run.keep {
        let dir = &created.container.dir;
        if dir.exists() {
            let _lock = Lock::acquire(dir)?;
            destroy_with_kill(&created.container)?;
        }
    }
    Ok(code)
}
