//! create, start, run, exec, kill and delete: the orchestration of a container's
//! life, one file per operation. State checks happen here; kernel work is in
//! `process`, `rootfs` and `cgroups`.

mod create;
mod events;
mod exec;
mod pause;
mod start;
mod stop;
mod update;

pub use create::{CreateOptions, Created, create};
pub use events::events;
pub use exec::{ExecOptions, build_process, exec};
pub use pause::{pause, pids, resume};
pub use start::{RunOptions, create_and_start, run, start};
pub use stop::{delete, kill, state};
pub use update::update;

use super::Container;
use crate::hooks::Kind;

/// The hooks of `kind` recorded in the container's state.
pub(super) fn hooks_of(c: &Container, kind: Kind) -> &[oci_spec::runtime::Hook] {
    c.state
        .hooks
        .as_ref()
        .map(|h| kind.of(h))
        .unwrap_or_default()
}
