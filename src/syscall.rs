//! Small wrappers over syscalls that nix does not cover, and file helpers.
//! Raw `libc` calls live here and in `process/clone.rs`.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// What /proc/<pid>/stat says about a live process.
pub struct ProcInfo {
    /// Start time in clock ticks since boot: with the pid, it names one process.
    pub start_time: u64,
    /// True for a zombie or dead task (it has exited).
    pub exited: bool,
}

/// Reads a process's start time and run state; None when it does not exist.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some(ProcInfo {
        start_time: stat.starttime,
        exited: matches!(stat.state, 'Z' | 'X' | 'x'),
    })
}

/// True when `pid` is alive and is the same process that started at `start_time`.
pub fn same_process_alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && proc_info(pid).is_some_and(|i| i.start_time == start_time && !i.exited)
}

/// pidfd_open(2): a handle that keeps naming this process even if the pid is reused.
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal(fd: &OwnedFd, sig: i32) -> std::io::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until the process behind a pidfd has exited, up to `timeout_ms`.
/// Returns true when it has.
pub fn pidfd_wait_exit(fd: &OwnedFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return r > 0;
    }
}

/// Marks every fd from `first` up close-on-exec, so that nothing of nook's
/// reaches the container program.
pub fn cloexec_from(first: RawFd) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes flags on the caller's own fds.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    // Fallback for kernels without CLOSE_RANGE_CLOEXEC: walk /proc/self/fd.
    for entry in fs::read_dir("/proc/self/fd").context("read /proc/self/fd")? {
        let fd: RawFd = match entry?.file_name().to_string_lossy().parse() {
            Ok(fd) => fd,
            Err(_) => continue,
        };
        if fd >= first {
            // SAFETY: setting FD_CLOEXEC on an fd number is harmless even if stale.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    Ok(())
}

/// Writes a file atomically: a temporary file in the same directory, its
/// data written, then renamed over the target. Readers see the old or the new file,
/// never half of one.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    };
    write()
        .inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
        .with_context(|| format!("write {}", path.display()))
}

/// prctl(PR_SET_NAME): the name `ps` shows for this stage of nook.
pub fn set_process_name(name: &str) {
    if let Ok(c) = std::ffi::CString::new(name) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of up to 16 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr(), 0, 0, 0) };
    }
}
