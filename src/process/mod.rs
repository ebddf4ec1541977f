//! How the container process comes to be.
//!
//! ```text
//!  nook create ──┐
//!   (parent)     │ validate spec, make state dir, cgroups, exec.fifo
//!                │ [pid/time ns: setns/unshare here, for the child only]
//!                ├── clone3(CLONE_PIDFD | CLONE_NEW* | CLONE_INTO_CGROUP) ──▶ init
//!                │                                                 (PID 1 of its pid ns)
//!                │   sync socket: CgroupsReady → Ready → Commit → Committed
//!                ▼                                                     │
//!    state.json "created", pid-file, exit 0               blocks opening exec.fifo
//!                                                                      │
//!  nook start ── opens exec.fifo, reads one byte ────────────────────▶ execve
//! ```
//!
//! One clone3 and no re-exec of the nook binary: the child runs nook's own
//! code (`init`) up to the execve of the container program. The protocol is
//! drawn in `sync`.
//!
//! `nook exec` runs the same pipeline for a process joining the container
//! (`exec`): one clone3 into the container's pid namespace and cgroup, setns
//! into the rest through the init's pidfd, then the tail that init and exec
//! share (`finish`, selected by `finish::Role`).

pub mod clone;
pub mod exec;
pub mod finish;
pub mod init;
pub mod parent;
pub mod sync;

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::spec::Bundle;

/// Everything the parent and init need to bring up one container process.
pub struct InitConfig<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    /// The container's state directory (holds exec.fifo).
    pub state_dir: &'a Path,
    /// The container's cgroup directories, one per hierarchy.
    pub cgroup_dirs: &'a [PathBuf],
    /// The driver that places init in them.
    pub cgroup_driver: &'a crate::cgroups::Driver,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`: keep the caller's session keyring.
    pub no_new_keyring: bool,
    /// `--preserve-fds N`: fds 3..3+N pass to the container program.
    pub preserve_fds: u32,
    /// The state-dir lock fd, which init closes first thing.
    pub lock_fd: RawFd,
    /// Added to process.env (socket activation: LISTEN_FDS, LISTEN_PID).
    pub extra_env: &'a [String],
    /// The container's OCI state as at creation, for the hooks init runs.
    pub state: &'a crate::container::state::OciState,
}

/// True when prestart or createRuntime hooks must run in the parent while
/// init waits before its pivot.
pub fn wants_runtime_hooks(spec: &oci_spec::runtime::Spec) -> bool {
    use crate::hooks::{Kind, list};
    !list(spec, Kind::Prestart).is_empty() || !list(spec, Kind::CreateRuntime).is_empty()
}
