//! Running `ip` (iproute2), and named network namespaces for the tests.

use std::process::{Command, Stdio};

use super::unique_name;

/// `ip ARGS` with all output discarded; true when it exited 0.
pub fn ip_ok(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run ip (iproute2)")
        .success()
}

/// `ip ARGS`, which must succeed; returns stdout.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct NetNs {
    name: String,
}

impl NetNs {
    pub fn new() -> NetNs {
        let name = unique_name();
        ip(&["netns", "add", &name]);
        NetNs { name }
    }

    /// The name given to `ip netns` (for `ip -n NAME ...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip_ok(&["netns", "del", &self.name]);
    }
}
