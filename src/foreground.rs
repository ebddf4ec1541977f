//! A foreground `nook run`: nook stays the container's parent, forwards the
//! signals it gets to the container, relays the terminal when it holds the
//! pty master, reaps orphans as a subreaper must, and ends with the
//! container's exit status.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use crate::console;

/// Signals blocked and read from a signalfd; set up before the clone so that
/// none is lost (init unblocks its own).
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks every signal except those the kernel raises synchronously.
    pub fn block() -> Result<Signals> {
        let mut set = SigSet::all();
        for s in [
            Signal::SIGKILL,
            Signal::SIGSTOP,
            Signal::SIGSEGV,
            Signal::SIGBUS,
            Signal::SIGILL,
            Signal::SIGFPE,
            Signal::SIGTRAP,
            Signal::SIGSYS,
        ] {
            set.remove(s);
        }
        set.thread_block().context("block signals")?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
        Ok(Signals { fd })
    }
}

/// The container's exit code as a shell reports it: its status, or 128 +
/// the signal that killed it.
pub fn supervise(
    signals: Signals,
    pid: i32,
    pidfd: &OwnedFd,
    console: Option<OwnedFd>,
) -> Result<i32> {
    let stdin_tty = nix::unistd::isatty(0).unwrap_or(false);
    let _raw = match (&console, stdin_tty) {
        (Some(m), true) => {
            console::copy_size(0, m.as_raw_fd());
            console::RawMode::enter(0)
        }
        _ => None,
    };
    let mut relay = console.map(|m| Relay {
        master: std::fs::File::from(m),
        stdin_open: true,
    });
    loop {
        let mut fds = vec![pollfd(signals.fd.as_raw_fd())];
        if let Some(r) = &relay {
            fds.push(pollfd(r.master.as_raw_fd()));
            if r.stdin_open {
                fds.push(pollfd(0));
            }
        }
        // SAFETY: `fds` is a valid array of pollfds of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue;
        }
        // Signals first: a resize reaches the pty before input typed after it.
        if fds[0].revents != 0
            && let Some(code) = handle_signal(&signals, pid, pidfd, relay.as_ref())?
        {
            if let Some(mut r) = relay {
                // Drain what the program wrote last, without waiting for more.
                let fd = r.master.as_raw_fd();
                // SAFETY: F_GETFL/F_SETFL on our own open fd.
                unsafe {
                    libc::fcntl(
                        fd,
                        libc::F_SETFL,
                        libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
                    )
                };
                while r.copy_out() {}
            }
            return Ok(code);
        }
        if fds.len() > 1
            && fds[1].revents != 0
            && let Some(r) = relay.as_mut()
            && !r.copy_out()
        {
            relay = None;
        }
        if fds.len() > 2
            && fds[2].revents != 0
            && let Some(r) = relay.as_mut()
        {
            r.copy_in();
        }
    }
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Handles one pending signal; Some(code) once the container has exited.
fn handle_signal(
    signals: &Signals,
    pid: i32,
    pidfd: &OwnedFd,
    relay: Option<&Relay>,
) -> Result<Option<i32>> {
    let Some(info) = signals.fd.read_signal().context("read signalfd")? else {
        return Ok(None);
    };
    let sig = info.ssi_signo as i32;
    if sig == libc::SIGWINCH {
        if let Some(r) = relay {
            console::copy_size(0, r.master.as_raw_fd());
        }
        return Ok(None);
    }
    if sig != libc::SIGCHLD {
        let _ = crate::syscall::pidfd_send_signal(pidfd, sig);
        return Ok(None);
    }
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => {
                return Ok(Some(128 + s as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return Ok(None),
            Ok(_) => continue,
        }
    }
}

/// Copies between the caller's stdio and the pty master.
struct Relay {
    master: std::fs::File,
    stdin_open: bool,
}

impl Relay {
    /// Master → stdout. False once the pty has no more to give.
    fn copy_out(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        match self.master.read(&mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
                true
            }
        }
    }

    /// stdin → master; on EOF stop reading stdin.
    fn copy_in(&mut self) {
        let mut buf = [0u8; 8192];
        match std::io::stdin().lock().read(&mut buf) {
            Ok(0) | Err(_) => self.stdin_open = false,
            Ok(n) => {
                let _ = self.master.write_all(&buf[..n]);
            }
        }
    }
}
