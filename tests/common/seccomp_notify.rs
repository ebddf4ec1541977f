//! Answering seccomp notifications in tests (the agent side of
//! SCMP_ACT_NOTIFY).

use std::os::fd::{AsRawFd, OwnedFd};

// SECCOMP_IOCTL_NOTIF_RECV / _SEND: _IOWR('!', 0|1, struct) (seccomp.h).
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// Answers one notification on `listener` with `-errno`; returns its nr.
pub fn answer_one(listener: &OwnedFd, errno: i32) -> i32 {
    // SAFETY: seccomp_notif is plain data; all-zero is a valid value.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV fills a seccomp_notif we own.
    let r = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_RECV, &mut req) };
    assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    let mut resp = libc::seccomp_notif_resp {
        id: req.id,
        val: 0,
        error: -errno,
        flags: 0,
    };
    // SAFETY: NOTIF_SEND reads a seccomp_notif_resp we own.
    let r = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_SEND, &mut resp) };
    assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
    req.data.nr
}
