//! What nook records about a container, and the status derived from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::syscall;

/// How far nook itself got with the container. The status callers see is
/// derived from this and from the live process (see `Container::status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `create` is under way (or died midway).
    Creating,
    /// init is set up and waits on exec.fifo.
    Created,
    /// `start` released init.
    Started,
}

/// The OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    /// The runtime-spec name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// `start` needs a created container.
    pub fn can_start(self) -> bool {
        self == Status::Created
    }

    /// Signals go to created, running and paused containers.
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }

    /// `delete` without --force: stopped ones, and created ones (as runc).
    pub fn can_delete(self) -> bool {
        matches!(self, Status::Stopped | Status::Created)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A process named by pid and start time, so that a reused pid is not
/// mistaken for it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcRef {
    /// The calling process.
    pub fn current() -> ProcRef {
        let pid = std::process::id() as i32;
        ProcRef::of(pid)
    }

    /// A live process by pid (start time 0 if it is already gone).
    pub fn of(pid: i32) -> ProcRef {
        let start_time = syscall::proc_info(pid).map(|i| i.start_time).unwrap_or(0);
        ProcRef { pid, start_time }
    }

    /// True when this very process is still running (not a zombie).
    pub fn alive(&self) -> bool {
        syscall::same_process_alive(self.pid, self.start_time)
    }
}

/// The contents of `<root>/<id>/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub phase: Phase,
    /// The container's init process; pid 0 until it is cloned.
    #[serde(default)]
    pub init: ProcRef,
    /// The `nook create`/`run` that is making the container.
    pub creator: ProcRef,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Every cgroup directory the container's processes live in.
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// The cgroup directories nook created (parents first) and will remove.
    #[serde(default)]
    pub cgroup_created: Vec<PathBuf>,
    /// The cgroup driver (and systemd unit) that made the cgroups; absent
    /// in the JSON for cgroupfs.
    #[serde(default, skip_serializing_if = "crate::cgroups::Driver::is_cgroupfs")]
    pub cgroup_driver: crate::cgroups::Driver,
    /// The config's hooks: poststart and poststop run after the bundle may
    /// have changed, so they are kept here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// `create --no-new-keyring`: exec'd processes keep the caller's keyring too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_new_keyring: bool,
}

impl State {
    /// Writes the state atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let data = serde_json::to_vec(self)?;
        syscall::write_atomic(&dir.join("state.json"), &data, 0o600)
    }

    /// Reads `dir/state.json`.
    pub fn load(dir: &Path) -> Result<State> {
        let path = dir.join("state.json");
        let data = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_slice(&data).with_context(|| format!("parse {}", path.display()))
    }

    /// The OCI state object (with runc's extra fields rootfs, created, owner).
    pub fn oci(&self, status: Status) -> OciState {
        OciState {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.init.pid
            },
            status: status.as_str().to_string(),
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// The state object `nook state` prints, in runc's field order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl OciState {
    /// The JSON given to hooks: this state with `status` and `pid` as the
    /// hook's point in the lifecycle and its pid namespace see them.
    pub fn for_hook(&self, status: Status, pid: i32) -> String {
        let mut s = self.clone();
        s.status = status.as_str().to_string();
        s.pid = pid;
        serde_json::to_string(&s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates() {
        assert!(Status::Created.can_start());
        assert!(!Status::Running.can_start());
        assert!(Status::Paused.can_kill());
        assert!(!Status::Stopped.can_kill());
        assert!(Status::Created.can_delete());
        assert!(!Status::Running.can_delete());
    }
}
