//! The end of the pipeline that the container's init and `nook exec`
//! processes share: from a process inside the container's namespaces and
//! root to the execve of its program. What differs between the two is
//! chosen by `Role`, as runc's initStandard/initSetns and youki's
//! ContainerType do; everything else is one copy.
//!
//! ```text
//!   prepare: [cwd made: init only] rlimits, scheduler, I/O priority,
//!            [seccomp without no_new_privs], user + capabilities,
//!            environment, chdir(cwd), program lookup, umask,
//!            no_new_privs, [seccomp with no_new_privs]
//!   (init waits for `start` here; exec for its parent's Commit)
//!   exec:    fds closed on exec, memory policy, LSM labels, personality,
//!            execve
//! ```

use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::unistd::{AccessFlags, Gid, Uid, access};
use oci_spec::runtime::{Process, Spec};

use super::sync::InitEnd;
use crate::procattr::MemoryPolicy;
use crate::seccomp::Filter;
use crate::{capabilities, lsm, procattr, rlimits, seccomp, syscall};

/// Which process the pipeline is finishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The container's init (`create`): made the container, runs its program.
    Init,
    /// A process joining a running container (`exec`).
    Tenant,
}

/// What the shared tail needs. `spec` is the container's config with
/// `process` replaced by this process's settings, so that the per-process
/// helpers (rlimits, capabilities, labels) read the right ones.
pub struct Finish<'a> {
    pub role: Role,
    pub spec: &'a Spec,
    pub process: &'a Process,
    /// Added to process.env (socket activation).
    pub extra_env: &'a [String],
    /// fds 3..3+N pass to the program.
    pub preserve_fds: u32,
    pub memory_policy: Option<&'a MemoryPolicy>,
    /// How errors name the working directory ("process.cwd" or "--cwd").
    pub cwd_name: &'a str,
    /// The container's `linux.seccomp`, compiled: init and exec alike.
    pub seccomp: Option<&'a Filter>,
}

/// The program and environment, resolved inside the container.
pub struct Prepared {
    pub program: PathBuf,
    pub env: Vec<String>,
}

/// Every per-process setting that may fail, before the caller's last
/// handshake: after this, only the execve remains. A notifying seccomp
/// filter's listener goes to the parent over `chan`.
pub fn prepare(f: &Finish, chan: &InitEnd) -> Result<Prepared> {
    let process = f.process;
    if f.role == Role::Init {
        make_cwd(process)?;
    }
    rlimits::apply(f.spec)?;
    // Both may need capabilities that the user switch drops.
    procattr::apply_scheduler(process)?;
    procattr::apply_io_priority(process)?;
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the
    // user switch may drop: then it is loaded here, else at the end.
    seccomp::load_early(f.seccomp, process, chan)?;
    switch_user(f.spec, process)?;
    let env = environment(process, f.extra_env);
    // A missing cwd is an error for exec (as runc): it is not created then.
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).with_context(|| format!("{} {}", f.cwd_name, cwd.display()))?;
    let program = find_program(process, &env)?;
    finish_process(process)?;
    seccomp::load_late(f.seccomp, process, chan)?;
    Ok(Prepared { program, env })
}

/// process.cwd is created if missing, as runc does; init is already inside
/// the container's root, so the path cannot lead out of it.
fn make_cwd(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    if !cwd.exists() {
        std::fs::create_dir_all(cwd).with_context(|| format!("process.cwd {}", cwd.display()))?;
    }
    Ok(())
}

fn switch_user(spec: &Spec, process: &Process) -> Result<()> {
    let user = process.user();
    let caps = capabilities::Plan::from_spec(spec);
    if let Some(c) = &caps {
        c.before_user_switch()?;
    }
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).context("process.user.additionalGids: setgroups")?;
    nix::unistd::setresgid(
        Gid::from_raw(user.gid()),
        Gid::from_raw(user.gid()),
        Gid::from_raw(user.gid()),
    )
    .with_context(|| format!("process.user.gid {}", user.gid()))?;
    nix::unistd::setresuid(
        Uid::from_raw(user.uid()),
        Uid::from_raw(user.uid()),
        Uid::from_raw(user.uid()),
    )
    .with_context(|| format!("process.user.uid {}", user.uid()))?;
    if let Some(c) = &caps {
        c.after_user_switch()?;
    }
    Ok(())
}

/// The environment of the program: process.env, plus HOME when it is
/// missing (from the container's /etc/passwd, else "/"), as runc does.
fn environment(process: &Process, extra: &[String]) -> Vec<String> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    env.extend_from_slice(extra);
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(process.user().uid())));
    }
    env
}

fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
        .map(|f| f[5].to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// Resolves process.args[0] inside the container: a path with a slash as is
/// (relative to cwd), otherwise searched in the container's PATH.
fn find_program(process: &Process, env: &[String]) -> Result<PathBuf> {
    let arg0 = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .context("process.args is empty")?;
    let cwd = process.cwd();
    // Worded with the phrases callers map to exit codes 127 and 126
    // ("no such file or directory", "executable file not found in $PATH",
    // "permission denied"), checked as the process's own user.
    let check = |p: &Path| -> Option<&'static str> {
        match std::fs::metadata(p) {
            Err(_) => Some("no such file or directory"),
            Ok(m) if !m.is_file() => Some("permission denied"),
            Ok(_) => access(p, AccessFlags::X_OK)
                .err()
                .map(|_| "permission denied"),
        }
    };
    if arg0.contains('/') {
        return match check(&cwd.join(arg0)) {
            None => Ok(PathBuf::from(arg0)),
            Some(why) => bail!("process.args[0] {arg0:?}: {why}"),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    let mut denied = false;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        match check(&cwd.join(dir).join(arg0)) {
            None => return Ok(Path::new(dir).join(arg0)),
            Some("permission denied") => denied = true,
            Some(_) => {}
        }
    }
    if denied {
        bail!("process.args[0] {arg0:?}: permission denied");
    }
    bail!("process.args[0] {arg0:?}: executable file not found in $PATH")
}

/// The last per-process settings: umask, no_new_privs.
fn finish_process(process: &Process) -> Result<()> {
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    if process.no_new_privileges() == Some(true) {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes 1 and zeros.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).context("process.noNewPrivileges");
        }
    }
    Ok(())
}

/// The execve of the program, after the settings that change how this very
/// process behaves. Returns only with an error.
pub fn exec(f: &Finish, p: &Prepared) -> Result<Infallible> {
    let cstr = |s: &[u8]| CString::new(s).context("NUL byte in process.args or process.env");
    let path = cstr(p.program.as_os_str().as_bytes())?;
    let args = f
        .process
        .args()
        .iter()
        .flatten()
        .map(|a| cstr(a.as_bytes()))
        .collect::<Result<Vec<_>>>()?;
    let env = p
        .env
        .iter()
        .map(|e| cstr(e.as_bytes()))
        .collect::<Result<Vec<_>>>()?;
    syscall::cloexec_from(3 + f.preserve_fds as i32)?;
    // Last, as they change how this very process behaves.
    procattr::apply_memory_policy(f.memory_policy)?;
    lsm::apply_exec_labels(f.spec)?;
    procattr::apply_personality(f.spec)?;
    let err = nix::unistd::execve(&path, &args, &env).unwrap_err();
    Err(err).with_context(|| format!("exec {}", p.program.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_added_only_when_missing() {
        let mut p = Process::default();
        p.set_env(Some(vec!["HOME=/h".into(), "A=1".into()]));
        assert_eq!(environment(&p, &["B=2".into()]), ["HOME=/h", "A=1", "B=2"]);
        p.set_env(Some(vec!["A=1".into()]));
        let env = environment(&p, &[]);
        assert!(env.iter().any(|e| e.starts_with("HOME=")), "{env:?}");
    }
}
