//! `linux.seccomp`: the profile is compiled to a BPF program when the
//! config is loaded (so a bad profile fails before anything is created),
//! and init loads it at runc's moment:
//!
//! - without `noNewPrivileges`, before the user switch and the capability
//!   drop (`load_early`): loading a filter then needs CAP_SYS_ADMIN;
//! - with `noNewPrivileges`, as late as possible (`load_late`, just before
//!   init reports Ready), so that few of nook's own syscalls run under it.
//!
//! With SCMP_ACT_NOTIFY rules the kernel returns a listener fd; init sends
//! it to the parent over the sync socket, and the parent (in the host's
//! mount namespace) hands it to the agent at `listenerPath` with the
//! container's state, as runtime-spec's containerProcessState.
//!
//! nook generates the BPF itself rather than through seccompiler: seccompiler
//! builds single-architecture filters as a linear chain of rules, has no
//! SCMP_ACT_NOTIFY and knows the syscall numbers of x86_64/aarch64 only,
//! while OCI profiles need several architectures (x86_64 + x86 + x32),
//! notify, and a decision tree to stay fast; libc's sock_filter and BPF
//! constants are all the generator needs, so seccompiler is not used.

pub mod bpf;
pub mod tables;
pub mod translate;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, Result};
use oci_spec::runtime::Process;

use crate::process::sync::InitEnd;

/// A compiled profile, ready to load.
#[derive(Clone)]
pub struct Filter {
    program: Vec<bpf::Insn>,
    flags: u32,
    notify: bool,
    listener_path: Option<PathBuf>,
    listener_metadata: String,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .field("notify", &self.notify)
            .finish()
    }
}

/// Parses, checks and compiles the raw `linux.seccomp` value.
pub fn compile(value: serde_json::Value) -> Result<Filter> {
    let profile = translate::parse(value)?;
    let plan = translate::plan(&profile)?;
    let program = bpf::program(&plan).context("linux.seccomp")?;
    Ok(Filter {
        program,
        flags: plan.flags,
        notify: plan.notify,
        listener_path: profile.listener_path,
        listener_metadata: profile.listener_metadata.unwrap_or_default(),
    })
}

impl Filter {
    /// True when the filter has SCMP_ACT_NOTIFY rules: init then sends a
    /// listener fd before Ready.
    pub fn notifies(&self) -> bool {
        self.notify
    }
}

fn no_new_privileges(process: &Process) -> bool {
    process.no_new_privileges() == Some(true)
}

/// Loads the filter now unless noNewPrivileges defers it to `load_late`.
/// Call before the user switch and capability drop.
pub fn load_early(filter: Option<&Filter>, process: &Process, chan: &InitEnd) -> Result<()> {
    match filter {
        Some(f) if !no_new_privileges(process) => load_and_hand_over(f, chan),
        _ => Ok(()),
    }
}

/// Loads the filter when noNewPrivileges is set. Call after no_new_privs is
/// set, right before init reports Ready.
pub fn load_late(filter: Option<&Filter>, process: &Process, chan: &InitEnd) -> Result<()> {
    match filter {
        Some(f) if no_new_privileges(process) => load_and_hand_over(f, chan),
        _ => Ok(()),
    }
}

fn load_and_hand_over(f: &Filter, chan: &InitEnd) -> Result<()> {
    if let Some(listener) = load(f)? {
        chan.send_seccomp_listener(&listener)?;
        // Our copy closes here: the agent's is the only one left.
    }
    Ok(())
}

/// seccomp(SECCOMP_SET_MODE_FILTER): the listener fd when notifying.
fn load(f: &Filter) -> Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: f.program.len() as u16,
        filter: f.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `f.program`, which outlives the call; the
    // kernel copies the program before returning.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(f.flags),
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context("linux.seccomp: load the filter");
    }
    if !f.notify {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the kernel returns a fresh (close-on-exec)
    // fd that only we own.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }))
}

/// Parent side: sends the listener fd and the container's state (`state`,
/// the OCI state JSON) to the agent at `listenerPath`, as runtime-spec's
/// containerProcessState. Our copy of the fd closes on return.
pub fn hand_to_agent(f: &Filter, listener: OwnedFd, state: &str, pid: i32) -> Result<()> {
    let path = f
        .listener_path
        .as_ref()
        .context("linux.seccomp.listenerPath is not set")?;
    let what = || format!("linux.seccomp.listenerPath {}", path.display());
    let state: serde_json::Value = serde_json::from_str(state).with_context(what)?;
    let msg = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": f.listener_metadata,
        "state": state,
    });
    let sock = std::os::unix::net::UnixStream::connect(path).with_context(what)?;
    crate::console::send_fd(&sock, &listener, msg.to_string().as_bytes()).with_context(what)
}

#[cfg(test)]
mod bench;

/// The flags of `translate::FLAGS` that this kernel accepts: seccomp(2) with
/// a flag it knows and no program fails with EFAULT (or EACCES without the
/// privilege to load), with one it does not know with EINVAL.
pub fn supported_flags() -> Vec<&'static str> {
    translate::FLAGS
        .iter()
        .filter(|(_, bit)| {
            // WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
            let flags = if *bit == translate::FLAG_WAIT_KILLABLE_RECV {
                bit | translate::FLAG_NEW_LISTENER
            } else {
                *bit
            };
            // SAFETY: a null program pointer is never dereferenced: the
            // kernel checks the flags first and then fails to copy it.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    flags,
                    std::ptr::null::<libc::c_void>(),
                )
            };
            let errno = std::io::Error::last_os_error().raw_os_error();
            r == -1 && matches!(errno, Some(libc::EFAULT) | Some(libc::EACCES))
        })
        .map(|(name, _)| *name)
        .collect()
}
