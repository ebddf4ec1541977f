//! `nook exec`.

use std::path::Path;

use anyhow::Result;
use nook::container::lifecycle::{self, ExecOptions};

use super::args::ExecArgs;

/// Context on every exec error: runc prints "exec failed: ..." and exits
/// 255 (main.rs maps this marker to that status).
#[derive(Debug)]
pub struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("exec failed")
    }
}

pub fn run(root: &Path, a: &ExecArgs) -> Result<i32> {
    let opts = ExecOptions {
        process_file: a.process.clone(),
        args: a.command.clone(),
        tty: a.tty,
        console_socket: a.console_socket.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        cwd: a.cwd.clone(),
        env: a.env.clone(),
        user: a.user.clone(),
        additional_gids: a.additional_gids.clone(),
        caps: a.cap.clone(),
        no_new_privs: a.no_new_privs,
        apparmor: a.apparmor.clone(),
        process_label: a.process_label.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        cgroups: a.cgroup.clone(),
        ignore_paused: a.ignore_paused,
    };
    lifecycle::exec(root, &a.id, &opts).map_err(|e| e.context(Failed))
}
