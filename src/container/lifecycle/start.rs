//! `start` and `run`: releasing init into the program.

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::create::{CreateOptions, Created, create};
use super::hooks_of;
use super::stop::destroy_with_kill;
use crate::container::{Container, EXEC_FIFO, Lock, Phase, Status};
use crate::error::Error;
use crate::hooks::{self, Kind};
use crate::{logging, syscall};

/// `start`: releases a created container's init into the program.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let mut c = Container::load(root, id)?;
    let _lock = c.lock()?;
    c = Container::load(root, id)?;
    release(&mut c, None)
}

pub(super) fn release(c: &mut Container, pidfd: Option<&OwnedFd>) -> Result<()> {
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
