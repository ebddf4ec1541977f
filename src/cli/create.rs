//! `nook create`.

use std::path::Path;

use anyhow::Result;
use nook::container::lifecycle::{self, CreateOptions};

use super::args::CreateArgs;

/// Turns the shared create/run flags into library options.
pub fn options(a: &CreateArgs, systemd_cgroup: bool) -> Result<CreateOptions> {
    let listen = listen_fds();
    let mut extra_env = Vec::new();
    if listen > 0 {
        extra_env = vec![format!("LISTEN_FDS={listen}"), "LISTEN_PID=1".to_string()];
    }
    Ok(CreateOptions {
        extra_env,
        systemd_cgroup,
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        console_socket: a.console_socket.clone(),
        keep_terminal: false,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        // Socket-activation fds come first (from 3), then --preserve-fds.
        preserve_fds: listen + a.preserve_fds,
    })
}

pub fn run(root: &Path, a: &CreateArgs, systemd_cgroup: bool) -> Result<()> {
    lifecycle::create(root, &a.id, &options(a, systemd_cgroup)?)?;
    Ok(())
}

/// Socket activation, as runc does it: when systemd (or any activator)
/// handed nook LISTEN_FDS fds meant for this very process, they pass on to
/// the container as fds 3.., with LISTEN_FDS and LISTEN_PID=1 in its env.
fn listen_fds() -> u32 {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let n = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok());
    match n {
        Some(n) if for_us => n,
        _ => 0,
    }
}
