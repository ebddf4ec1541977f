//! The parent ↔ init protocol: typed messages over one SOCK_SEQPACKET pair,
//! one message per datagram (JSON; a handful per container, so size and
//! speed do not matter and the format stays debuggable).
//!
//! ```text
//!   parent (nook create / run)                 init (container process)
//!   ──────────────────────────                 ────────────────────────
//!   clone3(namespaces, INTO_CGROUP) ─────────▶ born in its namespaces
//!   place pid in v1 cgroups
//!   [new user ns: uid_map, gid_map]
//!   CgroupsReady ─────────────────────────────▶ [new user ns: setresuid(0)]
//!                                              unshare cgroupns (if asked)
//!                                              setns joined namespaces
//!                                              rootfs, mounts, /dev
//!                                    ◀──────── RunHooks     (if any hooks)
//!   prestart, createRuntime hooks
//!   HooksDone ────────────────────────────────▶ createContainer hooks
//!                                              pivot_root
//!                                    ◀──────── Console + pty fd (terminal)
//!                                              hostname, sysctl, paths, rlimits
//!                                              seccomp (no noNewPrivileges)
//!                                              user, caps, cwd
//!                                              seccomp (noNewPrivileges)
//!                                    ◀──────── SeccompListener + fd (notify)
//!   send it to listenerPath
//!                                    ◀──────── Ready        (or Error{msg})
//!   state.json: created, pid-file
//!   Commit ───────────────────────────────────▶ clear PDEATHSIG
//!                                    ◀──────── Committed
//!   exit (create) / start (run)                open exec.fifo: blocks
//!                                              until `start` opens it
//!   nook start: reads exec.fifo until EOF      startContainer hooks
//!                                              write "0" (or "E<error>")
//!                                              execve: the fifo closes
//!   poststart hooks
//! ```
//!
//! `nook exec` runs the same protocol with a process that joins the running
//! container (see `process::exec`); it has no fifo and no hooks, and its
//! parent learns from EOF that the execve happened:
//!
//! ```text
//!   parent (nook exec)                         exec'd process
//!   ──────────────────                         ──────────────
//!   setns(init pidfd, PID|TIME) for children
//!   clone3(INTO_CGROUP) ─────────────────────▶ born in the pid/time ns
//!   place pid in v1 cgroups (or sub-cgroups)
//!   CgroupsReady ─────────────────────────────▶ execCPUAffinity.final
//!                                              setns(init pidfd, MNT|UTS|..)
//!                                              chroot to init's root
//!                                    ◀──────── Console + pty fd (terminal)
//!                                              rlimits, seccomp, user, cwd
//!   listener to the seccomp agent    ◀──────── [SeccompListener + fd]
//!                                    ◀──────── Ready        (or Error{msg})
//!   console to --console-socket
//!   Commit ───────────────────────────────────▶ clear PDEATHSIG, execve
//!   EOF: running (or Error{msg}: exec failed)
//!   pid-file; exit (--detach) or wait
//! ```
//!
//! Every wait on the init side ends with EOF if the parent dies, and init then
//! exits: a killed `nook create` never leaves a half-made container running.

use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};

/// Messages from the parent to init.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToInit {
    /// The parent has placed init in all its cgroups.
    CgroupsReady,
    /// The runtime-namespace hooks (prestart, createRuntime) have run.
    HooksDone,
    /// The container is recorded as created: init may outlive the parent.
    Commit,
}

/// Messages from init to the parent.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToParent {
    /// Setup is done; init will block on exec.fifo once committed.
    Ready,
    /// Mounts are done: run prestart and createRuntime hooks now.
    RunHooks,
    /// The pty master follows in SCM_RIGHTS (process.terminal).
    Console,
    /// The seccomp listener fd follows in SCM_RIGHTS (SCMP_ACT_NOTIFY).
    SeccompListener,
    /// Init acknowledged Commit.
    Committed,
    /// Setup failed; the text is the whole error chain.
    Error(String),
}

const MAX_MSG: usize = 64 * 1024;

fn send<T: Serialize>(fd: &OwnedFd, msg: &T) -> Result<()> {
    let buf = serde_json::to_vec(msg)?;
    socket::send(fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL)
        .context("send on the sync socket")?;
    Ok(())
}

fn recv<T: for<'a> Deserialize<'a>>(fd: &OwnedFd, peer: &str) -> Result<T> {
    let mut buf = vec![0u8; MAX_MSG];
    let n = loop {
        match socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.context("receive on the sync socket")?,
        }
    };
    if n == 0 {
        bail!("{peer} exited unexpectedly");
    }
    serde_json::from_slice(&buf[..n]).map_err(|e| anyhow!("bad message from {peer}: {e}"))
}

/// The parent's end: sends `ToInit`, receives `ToParent`.
pub struct ParentEnd(OwnedFd);

/// Init's end: sends `ToParent`, receives `ToInit`.
pub struct InitEnd(OwnedFd);

/// A connected pair, close-on-exec on both ends.
pub fn pair() -> Result<(ParentEnd, InitEnd)> {
    let (a, b) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair for parent/init sync")?;
    Ok((ParentEnd(a), InitEnd(b)))
}

impl ParentEnd {
    /// Receives the pty master that init sends with `ToParent::Console`.
    pub fn recv_console(&self) -> Result<OwnedFd> {
        self.recv_fd(ToParent::Console, "the pty master")
    }

    /// Receives the listener fd init sends with `ToParent::SeccompListener`.
    pub fn recv_seccomp_listener(&self) -> Result<OwnedFd> {
        self.recv_fd(ToParent::SeccompListener, "the seccomp listener")
    }

    /// Receives a message `want` that carries one fd.
    fn recv_fd(&self, want: ToParent, what: &str) -> Result<OwnedFd> {
        use nix::sys::socket::{ControlMessageOwned, recvmsg};
        use std::os::fd::FromRawFd;
        let mut buf = vec![0u8; MAX_MSG];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            self.0.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .with_context(|| format!("receive {what}"))?;
        let mut fd = None;
        for c in msg.cmsgs().context("read control messages")? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the kernel installed these fds for us; we own them now.
                fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
            }
        }
        let n = msg.bytes;
        let parsed: ToParent = serde_json::from_slice(&buf[..n])
            .map_err(|e| anyhow!("bad message from container init: {e}"))?;
        match (parsed, fd) {
            (m, Some(fd)) if m == want => Ok(fd),
            (ToParent::Error(e), _) => Err(anyhow!(e)),
            (m, _) => bail!("container init sent {m:?} where {what} was expected"),
        }
    }

    pub fn send(&self, msg: &ToInit) -> Result<()> {
        send(&self.0, msg)
    }

    pub fn recv(&self) -> Result<ToParent> {
        recv(&self.0, "container init")
    }

    /// After `Commit` to an exec'd process: EOF means its execve succeeded
    /// (the socket is close-on-exec); an `Error` says why it failed.
    pub fn wait_exec(&self) -> Result<()> {
        let mut buf = vec![0u8; MAX_MSG];
        let n = loop {
            match socket::recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.context("receive on the sync socket")?,
            }
        };
        if n == 0 {
            return Ok(());
        }
        match serde_json::from_slice(&buf[..n]) {
            Ok(ToParent::Error(e)) => Err(anyhow!(e)),
            Ok(m) => bail!("the new process sent {m:?} where its execve was expected"),
            Err(e) => bail!("bad message from the new process: {e}"),
        }
    }

    /// Waits for `want`; an `Error` from init becomes this call's error.
    pub fn expect(&self, want: ToParent) -> Result<()> {
        match self.recv()? {
            m if m == want => Ok(()),
            ToParent::Error(e) => Err(anyhow!(e)),
            m => bail!("container init sent {m:?} where {want:?} was expected"),
        }
    }
}

impl InitEnd {
    /// Sends the pty master to the parent.
    pub fn send_console(&self, master: &OwnedFd) -> Result<()> {
        let data = serde_json::to_vec(&ToParent::Console)?;
        crate::console::send_fd(&self.0, master, &data).context("send the pty master to nook")
    }

    /// Sends the seccomp listener fd to the parent.
    pub fn send_seccomp_listener(&self, listener: &OwnedFd) -> Result<()> {
        let data = serde_json::to_vec(&ToParent::SeccompListener)?;
        crate::console::send_fd(&self.0, listener, &data)
            .context("send the seccomp listener to nook")
    }

    pub fn send(&self, msg: &ToParent) -> Result<()> {
        send(&self.0, msg)
    }

    /// The child's last word when its setup fails: the whole error chain
    /// to the parent, then exit without running anything of the parent's.
    pub fn fail(&self, err: anyhow::Error) -> ! {
        let msg = format!("{err:#}");
        if self.send(&ToParent::Error(msg.clone())).is_err() {
            // The parent is gone (after `create` returned): the caller's
            // stderr is the only place left to say why the program did not
            // start.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "nook: {msg}");
        }
        // SAFETY: _exit ends this process without running the parent's
        // atexit handlers or flushing its copied stdio buffers twice.
        unsafe { libc::_exit(1) }
    }

    /// Waits for `want` from the parent; any other outcome is an error.
    pub fn expect(&self, want: ToInit) -> Result<()> {
        match recv::<ToInit>(&self.0, "nook parent")? {
            m if m == want => Ok(()),
            m => bail!("parent sent {m:?} where {want:?} was expected"),
        }
    }
}
