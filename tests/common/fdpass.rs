//! Unix sockets that receive an fd (the pty master of `--console-socket`,
//! the pidfd of `--pidfd-socket`), and reading a pty or pipe to its end.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

use super::{Running, TempDir, path_str};

/// A listening SOCK_STREAM unix socket in its own temp dir.
pub struct FdListener {
    _dir: TempDir,
    path: PathBuf,
    listener: UnixListener,
}

impl FdListener {
    pub fn new(name: &str) -> FdListener {
        let dir = TempDir::new("sock");
        let path = dir.path().join(name);
        let listener = UnixListener::bind(&path).expect("bind unix listener");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        FdListener {
            _dir: dir,
            path,
            listener,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        path_str(&self.path)
    }

    /// Accepts the runtime's connection and receives the one fd it sends.
    /// `cmd` is the runtime command that connects: if it exits without
    /// having connected, or nothing arrives within `timeout`, this panics
    /// with its output.
    pub fn receive_fd(&self, cmd: &mut Option<Running>, timeout: Duration) -> (OwnedFd, Vec<u8>) {
        let start = Instant::now();
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => return recv_fd(&stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept on {}: {e}", self.path.display()),
            }
            let exited = cmd
                .as_mut()
                .is_some_and(|r| r.child.try_wait().expect("try_wait").is_some());
            if exited {
                // One more look: the connection may have been queued just
                // before the command exited.
                if let Ok((stream, _)) = self.listener.accept() {
                    return recv_fd(&stream);
                }
                let out = cmd.take().expect("command").wait();
                panic!(
                    "the runtime exited without connecting to {}:\n{out}",
                    self.path.display()
                );
            }
            if start.elapsed() > timeout {
                let out = cmd.take().map(|r| r.kill9().to_string());
                panic!(
                    "nothing connected to {} within {timeout:?}\n{}",
                    self.path.display(),
                    out.unwrap_or_default()
                );
            }
            sleep(Duration::from_millis(10));
        }
    }
}

/// Receives one message from a connected stream and returns the single fd
/// of its SCM_RIGHTS message, plus the message's data bytes.
pub fn recv_fd(stream: &UnixStream) -> (OwnedFd, Vec<u8>) {
    stream.set_nonblocking(false).expect("blocking stream");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    let bytes = msg.bytes;
    let mut fds: Vec<RawFd> = vec![];
    for c in msg.cmsgs().expect("control messages fit") {
        if let ControlMessageOwned::ScmRights(r) = c {
            fds.extend(r);
        }
    }
    let owned: Vec<OwnedFd> = fds
        .iter()
        // SAFETY: SCM_RIGHTS just installed these fds in this process and
        // nothing else owns them.
        .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    assert_eq!(
        owned.len(),
        1,
        "expected exactly one fd in SCM_RIGHTS, got {fds:?}"
    );
    let data = buf[..bytes].to_vec();
    (owned.into_iter().next().expect("one fd"), data)
}

/// Reads `fd` until EOF or EIO (a pty master whose slave is gone). Panics,
/// with what was read so far, if that takes longer than `timeout`.
pub fn read_to_end(fd: &OwnedFd, timeout: Duration) -> String {
    let start = Instant::now();
    let mut out = Vec::new();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            panic!(
                "no EOF within {timeout:?}; read so far:\n{}",
                String::from_utf8_lossy(&out)
            );
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(1000) as libc::c_int;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EINTR), "poll: {e}");
            continue;
        }
        if r == 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a buffer of the given length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            out.extend_from_slice(&buf[..n as usize]);
            continue;
        }
        if n == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EIO) => break,
            Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
            _ => panic!("read: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes all of `data` to `fd`.
pub fn write_all(fd: &OwnedFd, data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        // SAFETY: writing from a valid buffer of the given length.
        let n = unsafe { libc::write(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EINTR), "write: {e}");
            continue;
        }
        rest = &rest[n as usize..];
    }
}
