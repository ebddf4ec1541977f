//! `kill`, `delete` and `state`.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::hooks_of;
use crate::container::{Container, Lock, Status, validate_id};
use crate::error::Error;
use crate::hooks::{self, Kind};
use crate::{cgroups, logging, syscall};

/// `kill`: sends `sig` to init (`all`: to every process of the container).
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if !status.can_kill() {
        // runc accepts `kill --all` of a stopped container as a no-op.
        return if all && status == Status::Stopped {
            Ok(())
        } else {
            Err(Error::NotRunning.into())
        };
    }
    let pidfd = syscall::pidfd_open(c.state.init.pid).map_err(|_| Error::NotRunning)?;
    // The pidfd pins the process: check it is still the one recorded.
    if !c.state.init.alive() {
        return Err(Error::NotRunning.into());
    }
    if all {
        cgroups::signal_all(&c.state.cgroup_dirs, sig)?;
    }
    syscall::pidfd_send_signal(&pidfd, sig)
        .with_context(|| format!("send signal {sig} to container init"))
}

/// `delete`: removes a stopped (or, as runc, a created) container; with
/// `force`, kills a running one first.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    validate_id(id)?;
    let dir = Container::dir_of(root, id);
    if !dir.exists() {
        return if force {
            Ok(())
        } else {
            Err(Error::NotExist.into())
        };
    }
    let _lock = Lock::acquire(&dir)?;
    let c = match Container::load(root, id) {
        Ok(c) => c,
        // A create killed before its first state write left only the directory.
        Err(_) if !dir.join("state.json").exists() => {
            if !dir.exists() {
                return if force {
                    Ok(())
                } else {
                    Err(Error::NotExist.into())
                };
            }
            return fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()));
        }
        Err(e) => return Err(e),
    };
    let status = c.status();
    if !force && !status.can_delete() {
        return Err(Error::BadState(format!(
            "cannot delete container {id} that is not stopped: {status}"
        ))
        .into());
    }
    destroy_with_kill(&c)
}

/// Kills whatever is left of the container, then removes it.
pub(super) fn destroy_with_kill(c: &Container) -> Result<()> {
    // The pidfd pins the process; checking the start time after opening it
    // makes sure a reused pid is never signalled.
    if let Ok(pidfd) = syscall::pidfd_open(c.state.init.pid)
        && c.state.init.alive()
    {
        let _ = syscall::pidfd_send_signal(&pidfd, libc::SIGKILL);
        // A paused (v1-frozen) container only dies once thawed.
        if cgroups::is_frozen(&c.state.cgroup_dirs) {
            let _ = cgroups::freeze(&c.state.cgroup_dirs, false);
        }
        syscall::pidfd_wait_exit(&pidfd, 5000);
    }
    cgroups::kill_all(&c.state.cgroup_dirs);
    destroy(c)
}

/// Removes the cgroups nook created and the state directory, in that order,
/// so that a failure leaves the state behind for another `delete`.
pub(super) fn destroy(c: &Container) -> Result<()> {
    logging::debug(&format!("container {}: removing", c.state.id));
    cgroups::manager::destroy(&c.state.cgroup_driver, &c.state.cgroup_created)?;
    fs::remove_dir_all(&c.dir).with_context(|| format!("remove {}", c.dir.display()))?;
    // After the container is gone and before delete returns; a failure is
    // only a warning (runtime.md).
    let state = c.state.oci(Status::Stopped).for_hook(Status::Stopped, 0);
    hooks::run_all_warn(hooks_of(c, Kind::Poststop), Kind::Poststop, &state);
    Ok(())
}

/// `state`: the OCI state object.
pub fn state(root: &Path, id: &str) -> Result<crate::container::state::OciState> {
    let c = Container::load(root, id)?;
    Ok(c.state.oci(c.status()))
}
