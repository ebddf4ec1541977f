//! `pause`, `resume` and `ps`: the container's processes through its cgroup.

use std::path::Path;

use anyhow::Result;

use crate::cgroups;
use crate::container::{Container, Lock, Status};
use crate::error::Error;

/// `pause`: freezes every process of a created or running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let _lock = Lock::acquire(&c.dir)?;
    match c.status() {
        Status::Running | Status::Created => cgroups::freeze(&c.state.cgroup_dirs, true),
        Status::Paused => Err(Error::BadState("container already paused".into()).into()),
        _ => Err(Error::NotRunning.into()),
    }
}

/// `resume`: thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let _lock = Lock::acquire(&c.dir)?;
    match c.status() {
        Status::Paused => cgroups::freeze(&c.state.cgroup_dirs, false),
        _ => Err(Error::BadState("container not paused".into()).into()),
    }
}

/// `ps`: the host pids of every process in the container's cgroups.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let c = Container::load(root, id)?;
    Ok(cgroups::pids(&c.state.cgroup_dirs))
}
