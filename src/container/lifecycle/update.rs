//! `update`: new resource limits, applied to a live container's cgroups.

use std::path::Path;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::LinuxResources;

use crate::cgroups::{self, resources};
use crate::container::{Container, Lock, Status};
use crate::error::Error;

/// Applies a LinuxResources document (raw JSON, so that an absent pids
/// limit stays absent) to a created, running or paused container.
pub fn update(root: &Path, id: &str, doc: &serde_json::Value) -> Result<()> {
    let c = Container::load(root, id)?;
    let _lock = Lock::acquire(&c.dir)?;
    if !matches!(
        c.status(),
        Status::Created | Status::Running | Status::Paused
    ) {
        return Err(Error::NotRunning.into());
    }
    let r: LinuxResources = serde_path_to_error::deserialize(doc.clone())
        .map_err(|e| anyhow::anyhow!("resources: {}: {}", e.path(), e.inner()))?;
    check_before_update(&r, &c)?;
    let pids = resources::raw_pids_limit(doc);
    cgroups::manager::update(&c.state.cgroup_driver, &c.state.cgroup_dirs, &r, pids)
        .context("update")
}

/// memory.checkBeforeUpdate (cgroup v2): refuse a limit below the current
/// usage instead of letting the kernel OOM-kill the container.
fn check_before_update(r: &LinuxResources, c: &Container) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    let (Some(true), Some(limit)) = (m.check_before_update(), m.limit()) else {
        return Ok(());
    };
    if limit < 0 {
        return Ok(());
    }
    for d in &c.state.cgroup_dirs {
        if let Ok(cur) = std::fs::read_to_string(d.join("memory.current"))
            && let Ok(cur) = cur.trim().parse::<i64>()
            && cur > limit
        {
            bail!(
                "linux.resources.memory.limit {limit} is below the current usage {cur} (checkBeforeUpdate)"
            );
        }
    }
    Ok(())
}
