//! `events`: statistics once (`--stats`) or every interval, and OOM events
//! as they happen, one JSON object a line, as runc writes them.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cgroups::stats;
use crate::container::{Container, Status};
use crate::error::Error;

/// Writes events for container `id` to `out` until it stops (or once).
pub fn events(
    root: &Path,
    id: &str,
    interval: Duration,
    once: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let c = Container::load(root, id)?;
    if !matches!(
        c.status(),
        Status::Created | Status::Running | Status::Paused
    ) {
        return Err(Error::NotRunning.into());
    }
    let dirs = &c.state.cgroup_dirs;
    let emit = |out: &mut dyn Write, v: serde_json::Value| -> Result<()> {
        writeln!(out, "{v}")
            .and_then(|_| out.flush())
            .context("write event")
    };
    let stat = || json!({"type": "stats", "id": id, "data": stats::stats(dirs)});
    if once {
        return emit(out, stat());
    }
    // OOM kills are polled often; statistics every interval.
    let poll = interval.min(Duration::from_millis(100));
    let mut ooms = stats::oom_kills(dirs);
    let mut next = Instant::now();
    while c.status() != Status::Stopped {
        let now_ooms = stats::oom_kills(dirs);
        if now_ooms > ooms {
            ooms = now_ooms;
            emit(out, json!({"type": "oom", "id": id}))?;
        }
        if Instant::now() >= next {
            emit(out, stat())?;
            next = Instant::now() + interval;
        }
        std::thread::sleep(poll);
    }
    // The last OOM may be what stopped it.
    if stats::oom_kills(dirs) > ooms {
        emit(out, json!({"type": "oom", "id": id}))?;
    }
    Ok(())
}
