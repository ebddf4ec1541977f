//! Test bundles: a busybox rootfs and the config.json of `nook spec`.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{TempDir, nook_bin, path_str};

/// A bundle in a temp dir: a busybox rootfs plus the config.json that
/// `nook spec` writes, edited for tests (no terminal, chosen args, ...).
pub struct Bundle {
    dir: TempDir,
    config: Value,
}

/// Where the statically linked busybox lives on Debian (busybox-static).
pub const BUSYBOX: &str = "/usr/bin/busybox";

impl Bundle {
    /// A bundle that runs `true`. Panics if busybox or `nook spec` fail.
    pub fn new() -> Bundle {
        let dir = TempDir::new("bundle");
        make_rootfs(&dir.path().join("rootfs"));
        let config = generate_spec(dir.path());
        let mut b = Bundle { dir, config };
        b.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(["true"]);
        });
        b
    }

    /// A bundle whose process is `sh -c SCRIPT`.
    pub fn sh(script: &str) -> Bundle {
        let mut b = Bundle::new();
        b.set_args(&["sh", "-c", script]);
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> &str {
        path_str(self.dir.path())
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Change the config and rewrite config.json.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.config);
        let text = serde_json::to_string_pretty(&self.config).expect("serialize");
        fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.edit(|c| c["process"]["args"] = json!(args));
    }

    /// Append one entry to `mounts`.
    pub fn add_mount(&mut self, mount: Value) {
        self.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .expect("spec has a mounts array")
                .push(mount)
        });
    }

    /// Replace config.json by raw text (for the malformed-config tests).
    pub fn write_raw_config(&self, text: &str) {
        fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

/// Run `nook spec` in `dir` and return the parsed config.json.
/// `NOOK_TEST_SPEC_RUNTIME` may name another runtime for this step only.
fn generate_spec(dir: &Path) -> Value {
    let bin = std::env::var_os("NOOK_TEST_SPEC_RUNTIME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(nook_bin);
    let out = Command::new(&bin)
        .arg("spec")
        .arg("--bundle")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot execute {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} spec failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(dir.join("config.json")).expect("spec wrote config.json");
    serde_json::from_str(&text).expect("spec wrote valid JSON")
}

/// A minimal root filesystem: a copy of static busybox with a relative
/// symlink for each applet, the usual mount points, and passwd/group files
/// with root and nobody.
pub fn make_rootfs(rootfs: &Path) {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} missing: install busybox-static (`make deps`)"
    );
    let bin = rootfs.join("bin");
    fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
    fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets = String::from_utf8_lossy(&list.stdout).into_owned();
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        // Relative links: absolute ones would point at the host's busybox.
        symlink("busybox", bin.join(applet)).expect("applet symlink");
    }
    for d in ["proc", "sys", "dev", "tmp", "etc", "root", "mnt"] {
        fs::create_dir_all(rootfs.join(d)).expect("mkdir in rootfs");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write passwd");
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("write group");
}
