//! The container handle: id, state directory, recorded state; loading,
//! listing and locking. Operations live in `lifecycle`.

pub mod lifecycle;
pub mod state;

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::Error;
pub use state::{Phase, ProcRef, State, Status};

/// Name of the FIFO that holds init before `start`.
pub const EXEC_FIFO: &str = "exec.fifo";

/// A container known to nook.
pub struct Container {
    /// Its state directory, `<root>/<id>`.
    pub dir: PathBuf,
    pub state: State,
}

/// Checks an id as runc does: letters, digits, `_ + - .`, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()).into())
    }
}

/// Makes the state root (0700) if it is missing.
pub fn ensure_root(root: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_context(|| format!("create state root {}", root.display()))
}

impl Container {
    /// The state directory of `id` under `root`.
    pub fn dir_of(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    /// Loads a container; `Error::NotExist` when there is none.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = Container::dir_of(root, id);
        if !dir.join("state.json").exists() {
            return Err(Error::NotExist.into());
        }
        let state = State::load(&dir)?;
        Ok(Container { dir, state })
    }

    /// Every container under `root`, sorted by id; unreadable ones skipped.
    pub fn list(root: &Path) -> Result<Vec<Container>> {
        let entries = match fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("read {}", root.display())),
        };
        let mut out: Vec<Container> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| Container::load(root, &e.file_name().to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.state.id.cmp(&b.state.id));
        Ok(out)
    }

    /// The status, derived from the recorded phase and the live process.
    pub fn status(&self) -> Status {
        let s = &self.state;
        if s.init.pid == 0 {
            return if s.phase == Phase::Creating && s.creator.alive() {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !s.init.alive() {
            return Status::Stopped;
        }
        match s.phase {
            Phase::Creating if s.creator.alive() => Status::Creating,
            Phase::Creating => Status::Stopped,
            // Still waiting on exec.fifo: the fifo is there and init has not
            // exec'd yet (a `start` killed midway may leave the fifo behind).
            _ if self.dir.join(EXEC_FIFO).exists() && init_waiting(s.init.pid) => Status::Created,
            _ if crate::cgroups::is_frozen(&s.cgroup_dirs) => Status::Paused,
            _ => Status::Running,
        }
    }

    /// Saves the state.
    pub fn save(&self) -> Result<()> {
        self.state.save(&self.dir)
    }

    /// Takes the container's lock: commands that change a container hold it
    /// for their whole run, so two of them never interleave.
    pub fn lock(&self) -> Result<Lock> {
        Lock::acquire(&self.dir)
    }
}

/// Name of the init stage in /proc/<pid>/comm until it execs the program.
pub const INIT_NAME: &str = "nook:init";

fn init_waiting(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == INIT_NAME)
}

/// An exclusive flock on a container's state directory, released on drop.
pub struct Lock(File);

impl Lock {
    /// Blocks until the lock on `dir` is ours.
    pub fn acquire(dir: &Path) -> Result<Lock> {
        let f = File::open(dir).with_context(|| format!("open {}", dir.display()))?;
        loop {
            // SAFETY: flock on an fd we own.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return Ok(Lock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e).with_context(|| format!("lock {}", dir.display()));
            }
        }
    }

    /// The raw fd, so that the container's init can close its copy at once.
    pub fn raw_fd(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_runc() {
        for ok in ["a", "abc-1_2+3.4", "A.b"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", "a:b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
