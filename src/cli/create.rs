//! `nook create`.

use std::path::Path;

use anyhow::Result;
use nook::container::lifecycle::{self, CreateOptions};

use super::args::CreateArgs;

/// Turns the shared create/run flags into library options.
pub fn options(a: &CreateArgs) -> Result<CreateOptions> {
    Ok(CreateOptions {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        console_socket: a.console_socket.clone(),
        keep_terminal: false,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
    })
}

pub fn run(root: &Path, a: &CreateArgs) -> Result<()> {
    lifecycle::create(root, &a.id, &options(a)?)?;
    Ok(())
}
