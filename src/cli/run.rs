//! `nook run`.

use std::path::Path;

use anyhow::Result;
use nook::container::lifecycle::{self, RunOptions};

use super::args::CreateArgs;

pub fn run(
    root: &Path,
    a: &CreateArgs,
    detach: bool,
    keep: bool,
    no_subreaper: bool,
    systemd_cgroup: bool,
) -> Result<i32> {
    let mut opts = super::create::options(a, systemd_cgroup)?;
    opts.keep_terminal = !detach;
    let run = RunOptions {
        detach,
        keep,
        no_subreaper,
    };
    lifecycle::run(root, &a.id, &opts, &run)
}
