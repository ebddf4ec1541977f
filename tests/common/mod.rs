//! Shared helpers for the black-box tests in `tests/*.rs`.
//!
//! Every test drives the real `nook` binary against real containers. The
//! helpers here only build bundles, run the binary with a private `--root`,
//! and check that nothing was left behind on the host afterwards.
//!
//! `NOOK_TEST_RUNTIME=/path/to/runc` points the whole suite at another
//! runtime. It exists to check the suite itself against a reference
//! implementation; a normal `cargo test` always uses the freshly built nook.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

mod bundle;
mod fdpass;
mod leftovers;
mod net;
mod seccomp_notify;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use bundle::*;
#[allow(unused_imports)]
pub use fdpass::*;
pub use leftovers::*;
#[allow(unused_imports)]
pub use net::*;
#[allow(unused_imports)]
pub use seccomp_notify::*;

/// Upper bound for one runtime command; a hang fails the test instead of CI.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a container may take to settle into a new status.
pub const SETTLE: Duration = Duration::from_secs(10);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The runtime binary under test.
pub fn nook_bin() -> PathBuf {
    match std::env::var_os("NOOK_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_nook")),
    }
}

/// A name no other test (in this or another test binary) uses.
pub fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("nooktest-{}-{}", std::process::id(), n)
}

/// Print a skip line that bypasses the test harness' output capture, so a
/// skipped case is visible in the log (and counted by `make test`).
pub fn skip(reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {reason}");
}

/// Returns true (after printing a SKIP line) when the test must be skipped
/// because it needs root. Use as `if skip_unless_root() { return; }`.
pub fn skip_unless_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        skip("containers need root (euid is not 0)");
        return true;
    }
    false
}

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop.
///
/// Before removing, any mount still below it is detached, so that a leaked
/// bind mount can never make the recursive removal reach outside the dir.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(suffix: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{}.{suffix}", unique_name()));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        detach_mounts_below(&self.path);
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Mount points at or below `dir`, from the host's mountinfo.
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

fn detach_mounts_below(dir: &Path) {
    let mut points = mounts_below(dir);
    // Deepest first, so that parents are still there while children go.
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// The result of one finished command.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Out {
    /// Exit code; a death by signal is reported as `128 + signal`.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            _ => -1,
        }
    }

    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Panics with the whole output unless the command exited 0.
    pub fn expect_ok(self) -> Out {
        assert!(self.ok(), "expected success:\n{self}");
        self
    }

    /// Panics unless the command failed and stderr contains every needle.
    pub fn expect_err(self, needles: &[&str]) -> Out {
        assert!(!self.ok(), "expected failure:\n{self}");
        assert_eq!(self.code(), 1, "errors exit with status 1:\n{self}");
        let first = self.stderr.lines().find(|l| !l.trim().is_empty());
        assert!(first.is_some(), "error without a message:\n{self}");
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}:\n{self}");
        }
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// A started command whose stdout/stderr go to files.
///
/// Files rather than pipes: after `create` or `run -d` the container keeps
/// the runtime's stdio, so a pipe would never reach EOF.
pub struct Running {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
    what: String,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Wait up to `timeout`; on timeout kill the command and panic.
    pub fn wait_timeout(mut self, timeout: Duration) -> Out {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return self.finish(status);
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let status = self.child.wait().expect("wait");
                let out = self.finish(status);
                panic!("timed out after {timeout:?}:\n{out}");
            }
            sleep(Duration::from_millis(5));
        }
    }

    pub fn wait(self) -> Out {
        self.wait_timeout(CMD_TIMEOUT)
    }

    /// SIGKILL the command itself (not its children) and reap it.
    pub fn kill9(mut self) -> Out {
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait");
        self.finish(status)
    }

    fn finish(self, status: ExitStatus) -> Out {
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        Out {
            status,
            stdout: read(&self.out),
            stderr: read(&self.err),
            what: self.what,
        }
    }
}

/// The runtime with its own private state root (`--root`), so tests never
/// touch /run/nook and can run in parallel. Containers it made are
/// force-deleted on drop.
pub struct Nook {
    dir: TempDir,
    root: PathBuf,
    ids: std::sync::Mutex<Vec<String>>,
}

impl Default for Nook {
    fn default() -> Self {
        Nook::new()
    }
}

impl Nook {
    pub fn new() -> Nook {
        let dir = TempDir::new("nook");
        let root = dir.path().join("root");
        fs::create_dir_all(dir.path().join("io")).expect("mkdir io");
        Nook {
            dir,
            root,
            ids: Default::default(),
        }
    }

    /// The `--root` passed to every command.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh container id, remembered for cleanup.
    pub fn new_id(&self) -> String {
        let id = unique_name();
        self.track(&id);
        id
    }

    /// Remember an id for the force-delete on drop.
    pub fn track(&self, id: &str) {
        self.ids.lock().unwrap().push(id.to_string());
    }

    /// A command with `--root` already set. Stdio is not configured.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(nook_bin());
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Start a command with stdout/stderr redirected to fresh files.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Running {
        self.spawn_cmd(self.command(args))
    }

    /// Start a prepared command with stdout/stderr redirected to files.
    pub fn spawn_cmd(&self, mut cmd: Command) -> Running {
        let n = unique_name();
        let out = self.dir.path().join("io").join(format!("{n}.out"));
        let err = self.dir.path().join("io").join(format!("{n}.err"));
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("stdout file"))
            .stderr(fs::File::create(&err).expect("stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot execute {}: {e}", nook_bin().display()));
        Running {
            child,
            out,
            err,
            what,
        }
    }

    /// Run to completion (bounded by CMD_TIMEOUT).
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Out {
        self.spawn(args).wait()
    }

    /// `create --bundle B ID`, which must succeed.
    pub fn create(&self, bundle: &Bundle, id: &str) -> Out {
        self.track(id);
        self.run(&["create", "--bundle", path_str(bundle.path()), id])
            .expect_ok()
    }

    /// `state ID`, parsed; panics if the command fails.
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]).expect_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{out}"))
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .expect("state.status is a string")
            .to_string()
    }

    pub fn pid(&self, id: &str) -> i32 {
        let pid = self.state(id)["pid"]
            .as_i64()
            .expect("state.pid is a number");
        pid as i32
    }

    /// Poll `state` until the status is `want` (at most `timeout`).
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let got = self.status(id);
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "{id}: status stayed {got:?}, expected {want:?}"
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// Foreground `run` of the bundle under a fresh id; afterwards nothing of
    /// the container may be left. Returns the finished command.
    pub fn run_bundle(&self, bundle: &Bundle) -> Out {
        let id = self.new_id();
        let out = self.run(&["run", "--bundle", bundle.path_str(), &id]);
        assert_no_leftovers_after(&id, bundle.path(), self.root(), &out.to_string());
        out
    }

    /// Like [`Nook::run_bundle`], and the run must exit 0; returns stdout.
    pub fn output_of(&self, bundle: &Bundle) -> String {
        self.run_bundle(bundle).expect_ok().stdout
    }

    /// `delete --force`, which must succeed, then check that nothing is left.
    pub fn destroy(&self, id: &str, bundle: &Bundle) {
        self.run(&["delete", "--force", id]).expect_ok();
        assert_no_leftovers(id, bundle.path(), self.root());
    }
}

impl Drop for Nook {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap());
        for id in ids {
            if let Ok(mut c) = self
                .command(&["delete", "--force", id.as_str()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                let _ = c.wait();
            }
            // If the runtime leaked cgroups (a test has failed on that
            // already), remove them so the host stays clean for later runs.
            scrub_cgroups(&id);
        }
    }
}

/// `create` of `bundle` under a fresh id must fail (exit 1) with every
/// needle in its message and leave nothing behind.
pub fn create_fails(bundle: &Bundle, needles: &[&str]) -> Out {
    let nook = Nook::new();
    let id = nook.new_id();
    let out = nook
        .run(&["create", "--bundle", bundle.path_str(), &id])
        .expect_err(needles);
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
    out
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}
