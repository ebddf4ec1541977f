//! `process.terminal`: a pty from the container's own devpts instance, its
//! slave as the process's stdio and controlling terminal (and bound at
//! /dev/console), its master handed to the caller: over `--console-socket`
//! with SCM_RIGHTS as runc does, or kept by a foreground `nook run`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};
use nix::fcntl::{OFlag, open};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use nix::sys::stat::Mode;
use oci_spec::runtime::Process;

nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_read_bad!(get_winsize, libc::TIOCGWINSZ, libc::winsize);

/// Runs in init after the pivot (or in an exec'd process inside the
/// container's root): makes the pty, wires the slave up as the controlling
/// terminal and fds 0-2, and returns the master. Only init's terminal is
/// bound at /dev/console.
pub fn setup(process: &Process, bind_console: bool) -> Result<OwnedFd> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let raw = open("/dev/ptmx", flags, Mode::empty()).context("open the container's /dev/ptmx")?;
    // SAFETY: `open` returned a fresh fd that only we own.
    let master = unsafe { OwnedFd::from_raw_fd(raw) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from a valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(std::io::Error::last_os_error()).context("unlock pty");
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int to a valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } != 0 {
        return Err(std::io::Error::last_os_error()).context("get pty number");
    }
    // TIOCGPTPEER opens the slave from the master itself: no path lookup
    // that the container's /dev/pts could redirect.
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd or -1.
    let peer = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        )
    };
    if peer < 0 {
        return Err(std::io::Error::last_os_error()).context("open pty slave");
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(peer) };
    nix::unistd::fchown(
        slave.as_raw_fd(),
        Some(nix::unistd::Uid::from_raw(process.user().uid())),
        None,
    )
    .context("chown pty slave to process.user.uid")?;
    if let Some(size) = process.console_size() {
        let ws = libc::winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a valid winsize.
        unsafe { set_winsize(master.as_raw_fd(), &ws) }.context("process.consoleSize")?;
    }
    if bind_console {
        crate::rootfs::bind_console(Path::new(&format!("/dev/pts/{n}")))?;
    }
    nix::unistd::setsid().context("setsid")?;
    // SAFETY: TIOCSCTTY with 0 makes the slave our controlling terminal.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("set controlling terminal");
    }
    for fd in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), fd).context("dup pty slave onto stdio")?;
    }
    Ok(master)
}

/// Sends the pty master to a `--console-socket` listener (conmon, the
/// containerd shim): one message, the fd in SCM_RIGHTS, a name as data.
pub fn send_to_socket(path: &Path, master: &OwnedFd) -> Result<()> {
    let what = || format!("--console-socket {}", path.display());
    let sock = std::os::unix::net::UnixStream::connect(path).with_context(what)?;
    send_fd(&sock, master, b"/dev/ptmx").with_context(what)
}

/// Sends one fd with `data` over a connected unix socket.
pub fn send_fd(sock: &impl AsRawFd, fd: &OwnedFd, data: &[u8]) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(data)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// Copies the size of terminal `from` to pty `to` (foreground run, SIGWINCH).
pub fn copy_size(from: i32, to: i32) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: both ioctls use a valid winsize; errors just leave the size.
    unsafe {
        if get_winsize(from, &mut ws).is_ok() {
            let _ = set_winsize(to, &ws);
        }
    }
}

/// Puts the caller's terminal in raw mode for a foreground run and restores
/// it when dropped.
pub struct RawMode {
    fd: i32,
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    /// None when `fd` is not a terminal.
    pub fn enter(fd: i32) -> Option<RawMode> {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        // SAFETY: borrowing fd 0/1 of our own process for the call.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let saved = tcgetattr(bfd).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(bfd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{SetArg, tcsetattr};
        // SAFETY: the fd was valid when raw mode was entered and stays open.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let _ = tcsetattr(bfd, SetArg::TCSANOW, &self.saved);
    }
}
