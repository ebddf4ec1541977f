//! AppArmor and SELinux: `process.apparmorProfile`, `process.selinuxLabel`
//! and `linux.mountLabel`. Each is applied when its LSM is enabled; when it
//! is not, asking for it is an error, as in runc (a label that cannot be
//! applied must not be ignored silently).

use std::path::Path;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::Spec;

/// True when AppArmor is enabled on this host.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'))
}

/// True when SELinux is enabled on this host.
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Refuses labels for an LSM the host does not have, before any fork.
pub fn validate(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref();
    if let Some(p) = process
        .and_then(|p| p.apparmor_profile().as_deref())
        .filter(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        bail!("process.apparmorProfile {p:?} is set but AppArmor is not enabled on this host");
    }
    if let Some(l) = process
        .and_then(|p| p.selinux_label().as_deref())
        .filter(|l| !l.is_empty())
        && !selinux_enabled()
    {
        bail!("process.selinuxLabel {l:?} is set but SELinux is not enabled on this host");
    }
    Ok(())
}

/// Sets the labels the program gets at execve: runs just before it.
pub fn apply_exec_labels(spec: &Spec) -> Result<()> {
    let Some(process) = spec.process().as_ref() else {
        return Ok(());
    };
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        // The per-LSM attribute directory exists since Linux 5.8; older
        // kernels have only the shared one.
        let path = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        std::fs::write(path, format!("exec {profile}"))
            .with_context(|| format!("process.apparmorProfile {profile:?}"))?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        std::fs::write("/proc/self/attr/exec", label)
            .with_context(|| format!("process.selinuxLabel {label:?}"))?;
    }
    Ok(())
}
