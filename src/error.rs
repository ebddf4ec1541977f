//! The few errors callers branch on. Everything else is an `anyhow::Error`
//! with context added where the call failed.

use std::fmt;

/// Sentinel errors that change what the CLI does (exit code, wording callers
/// match on). Wrapped inside `anyhow::Error`; find them with `downcast_ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No container with this id (runc: "container does not exist").
    NotExist,
    /// A container with this id is already there.
    Exists,
    /// The id breaks runc's rules.
    InvalidId(String),
    /// The command does not fit the container's status.
    BadState(String),
    /// A signal was sent to a container that is not running.
    NotRunning,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotExist => write!(f, "container does not exist"),
            Error::Exists => write!(f, "container with given ID already exists"),
            Error::InvalidId(id) => write!(f, "invalid container id format: {id:?}"),
            Error::BadState(msg) => write!(f, "{msg}"),
            Error::NotRunning => write!(f, "container not running"),
        }
    }
}

impl std::error::Error for Error {}

/// True when `err` (or anything in its chain) is the sentinel `want`.
pub fn is(err: &anyhow::Error, want: &Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<Error>().is_some_and(|e| e == want))
}
