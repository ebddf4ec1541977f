//! OCI hooks: each runs with the container's state JSON on stdin, its
//! `path`, `args`, `env` and `timeout` honoured, at the point and in the
//! namespace that runtime.md gives it. Failures name the hook.

use std::io::{Read, Seek, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Hook, Hooks, Spec};

/// The six hook kinds, by their config.json names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    /// Every kind, in the order of a container's life.
    pub const ALL: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];

    /// The config.json name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `hooks`.
    #[allow(deprecated)]
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        let list = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// The hooks of `kind` in the spec (none when `hooks` is absent).
pub fn list(spec: &Spec, kind: Kind) -> &[Hook] {
    spec.hooks()
        .as_ref()
        .map(|h| kind.of(h))
        .unwrap_or_default()
}

/// Checks every hook before any fork: an absolute path, a positive timeout.
pub fn validate(spec: &Spec) -> Result<()> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    for kind in Kind::ALL {
        for (i, h) in kind.of(hooks).iter().enumerate() {
            let what = format!("hooks.{}[{i}]", kind.name());
            if !h.path().is_absolute() {
                bail!(
                    "{what}.path {:?} must be an absolute path",
                    h.path().display()
                );
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                bail!("{what}.timeout must be greater than zero");
            }
        }
    }
    Ok(())
}

/// Runs every hook of `kind` in order, each with `state` on stdin; the
/// first failure stops the rest and is the error.
pub fn run(hooks: &[Hook], kind: Kind, state: &str) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state)
            .with_context(|| format!("hooks.{}[{i}] ({})", kind.name(), h.path().display()))?;
    }
    Ok(())
}

/// Runs every hook of `kind`, each even if an earlier one failed, and only
/// warns about failures: what runtime.md asks of poststop hooks.
pub fn run_all_warn(hooks: &[Hook], kind: Kind, state: &str) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(h, state) {
            let path = h.path().display();
            crate::logging::warn(&format!("hooks.{}[{i}] ({path}): {e:#}", kind.name()));
        }
    }
}

fn run_one(h: &Hook, state: &str) -> Result<()> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    cmd.args(args.iter().skip(1))
        .env_clear()
        .stdin(Stdio::piped());
    // Output goes to an anonymous memory file, not a pipe: a hook that
    // writes a lot must not block while nook waits for it.
    let out =
        nix::sys::memfd::memfd_create(c"nook-hook", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
            .context("memfd for hook output")?;
    let mut out = std::fs::File::from(out);
    cmd.stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out.try_clone()?));
    for e in h.env().iter().flatten() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    // SAFETY: only async-signal-safe calls between fork and exec: the hook
    // starts with no blocked signals whatever nook had blocked for itself.
    unsafe {
        cmd.pre_exec(|| {
            let empty = nix::sys::signal::SigSet::empty();
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&empty),
                None,
            )
            .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().context("start hook")?;
    // A hook that does not read its stdin must not fail the write.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = h.timeout().map(|t| Duration::from_secs(t as u64));
    let status = wait(&mut child, timeout)?;
    drop(cmd);
    let mut output = String::new();
    let _ = out.seek(std::io::SeekFrom::Start(0));
    let _ = out.take(4096).read_to_string(&mut output);
    let Some(status) = status else {
        bail!(
            "timed out after {}s and was killed",
            h.timeout().unwrap_or_default()
        );
    };
    if status.success() {
        return Ok(());
    }
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    };
    let output = output.trim();
    if output.is_empty() {
        bail!("{how}");
    }
    bail!("{how}: {}", output.replace('\n', " "))
}

/// Waits for the hook; None when it outlived its timeout (then it is killed).
fn wait(
    child: &mut std::process::Child,
    timeout: Option<Duration>,
) -> Result<Option<std::process::ExitStatus>> {
    let Some(timeout) = timeout else {
        return Ok(Some(child.wait().context("wait for hook")?));
    };
    let deadline = Instant::now() + timeout;
    let pidfd = crate::syscall::pidfd_open(child.id() as i32).context("pidfd of hook")?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if crate::syscall::pidfd_wait_exit(&pidfd, left.as_millis().min(i32::MAX as u128) as i32) {
            return Ok(Some(child.wait().context("wait for hook")?));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
    }
}
