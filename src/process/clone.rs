//! clone3: the one place a process is forked, and its only raw `unsafe`.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use anyhow::{Result, bail};
use nix::unistd::Pid;

/// Which side of the clone we are on.
pub enum Forked {
    /// In the parent: the child's pid and a pidfd for it.
    Parent { pid: Pid, pidfd: OwnedFd },
    /// In the new child process.
    Child,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks with `flags` (CLONE_NEW* bits), always with CLONE_PIDFD, and born
/// directly in the cgroup v2 directory `cgroup` when given.
///
/// The caller must be single-threaded: like fork, the child gets a copy of the
/// address space with only the calling thread.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked> {
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        // CLONE_INTO_CGROUP (0x200000000): a clone3-only flag above 32 bits.
        args.flags |= 0x2_0000_0000;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without CLONE_VM behaves like fork: the child runs on a
    // copy of this stack. `args` and `pidfd` outlive the call, and nook is
    // single-threaded here, so the child's copy of the heap is consistent.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        0 => Ok(Forked::Child),
        n if n > 0 => Ok(Forked::Parent {
            pid: Pid::from_raw(n as i32),
            // SAFETY: the kernel filled in a new pidfd that nothing else owns.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
        _ => {
            let err = std::io::Error::last_os_error();
            bail!("clone3 of the container process: {err}")
        }
    }
}
