//! nook: an OCI runtime. The library owns the container's whole life; the
//! binary in `src/main.rs` is a thin CLI over it.

pub mod capabilities;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod error;
pub mod features;
pub mod foreground;
pub mod hooks;
pub mod logging;
pub mod lsm;
pub mod namespaces;
pub mod netdev;
pub mod procattr;
pub mod process;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub mod syscall;
pub mod sysctl;
pub mod userns;

pub use error::Error;

/// The OCI runtime-spec version nook implements.
pub const OCI_VERSION: &str = "1.3.0";
