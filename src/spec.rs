//! Loading `config.json` and checking everything that can be checked before
//! any process is forked, so that bad input fails fast and leaves nothing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// A loaded bundle: its directory, the parsed spec and the resolved rootfs.
pub struct Bundle {
    /// Absolute, canonical bundle directory.
    pub dir: PathBuf,
    /// The parsed `config.json`.
    pub spec: Spec,
    /// Absolute, canonical `root.path`.
    pub rootfs: PathBuf,
    /// Fields nook reads from the raw config itself.
    pub extra: Extra,
}

/// Config fields that oci-spec cannot represent faithfully, parsed by nook.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// `linux.memoryPolicy` (oci-spec 0.10 lacks MPOL_LOCAL).
    pub memory_policy: Option<crate::procattr::MemoryPolicy>,
    /// `linux.resources.pids.limit`, None when absent (oci-spec reads an
    /// absent limit as 0, which is a real limit since runtime-spec 1.3).
    pub pids_limit: Option<i64>,
    /// `linux.seccomp`, compiled (see `seccomp::translate` for why nook
    /// parses it itself).
    pub seccomp: Option<crate::seccomp::Filter>,
}

/// Loads and validates `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = bundle
        .canonicalize()
        .with_context(|| format!("bundle {}", bundle.display()))?;
    let path = dir.join("config.json");
    let data = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    let (spec, extra) = parse_full(&data)?;
    let rootfs = resolve_rootfs(&dir, &spec)?;
    validate(&spec)?;
    if let Some(p) = &extra.memory_policy {
        p.to_args()?;
    }
    Ok(Bundle {
        dir,
        spec,
        rootfs,
        extra,
    })
}

/// Parses config.json text, checking ociVersion before the rest so that a
/// config from a future major version gets a precise message.
pub fn parse(data: &[u8]) -> Result<Spec> {
    parse_full(data).map(|(spec, _)| spec)
}

/// As `parse`, also returning the fields nook parses itself.
pub fn parse_full(data: &[u8]) -> Result<(Spec, Extra)> {
    let mut value: serde_json::Value =
        serde_json::from_slice(data).context("config.json: invalid JSON")?;
    let version = value
        .get("ociVersion")
        .and_then(|v| v.as_str())
        .context("config.json: ociVersion is missing")?;
    check_version(version)?;
    crate::capabilities::drop_unknown(&mut value);
    let mut extra = Extra {
        pids_limit: value
            .pointer("/linux/resources")
            .and_then(crate::cgroups::resources::raw_pids_limit),
        ..Extra::default()
    };
    if let Some(p) = value
        .get_mut("linux")
        .and_then(|l| l.as_object_mut())
        .and_then(|l| l.remove("memoryPolicy"))
    {
        extra.memory_policy =
            Some(serde_json::from_value(p).context("config.json: linux.memoryPolicy")?);
    }
    if let Some(s) = value
        .get_mut("linux")
        .and_then(|l| l.as_object_mut())
        .and_then(|l| l.remove("seccomp"))
        .filter(|s| !s.is_null())
    {
        extra.seccomp = Some(crate::seccomp::compile(s)?);
    }
    // serde_path_to_error names the field a bad value sits in
    // (e.g. `linux.devices[0].type`), which serde_json alone does not.
    let spec = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("config.json: {path}: {}", e.into_inner())
    })?;
    Ok((spec, extra))
}

fn check_version(version: &str) -> Result<()> {
    let major = version.split('.').next().unwrap_or("");
    if major != "1" {
        bail!("config.json: ociVersion {version:?} is not supported (nook implements 1.x)");
    }
    Ok(())
}

fn resolve_rootfs(dir: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .context("config.json: root is missing")?;
    if root.path().as_os_str().is_empty() {
        bail!("config.json: root.path is empty");
    }
    let path = dir.join(root.path());
    let rootfs = path
        .canonicalize()
        .with_context(|| format!("root.path {}", path.display()))?;
    if !rootfs.is_dir() {
        bail!("root.path {}: not a directory", rootfs.display());
    }
    Ok(rootfs)
}

/// All checks that need no syscalls.
pub fn validate(spec: &Spec) -> Result<()> {
    validate_process(spec)?;
    validate_namespaces(spec)?;
    validate_unsupported(spec)?;
    crate::rootfs::validate(spec)?;
    crate::capabilities::validate(spec)?;
    crate::rlimits::validate(spec)?;
    crate::netdev::validate(spec)?;
    crate::lsm::validate(spec)?;
    crate::hooks::validate(spec)?;
    crate::procattr::personality_value(spec)?;
    if let Some(p) = spec.process() {
        crate::procattr::validate_scheduler(p)?;
    }
    Ok(())
}

pub fn validate_process(spec: &Spec) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .context("config.json: process is missing")?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("process.args must not be empty");
    }
    if !process.cwd().is_absolute() {
        bail!(
            "process.cwd {:?} must be an absolute path",
            process.cwd().display()
        );
    }
    for (i, e) in process.env().iter().flatten().enumerate() {
        if !e.contains('=') || e.starts_with('=') {
            bail!("process.env[{i}] {e:?} is not of the form KEY=value");
        }
    }
    if let Some(adj) = process.oom_score_adj()
        && !(-1000..=1000).contains(&adj)
    {
        bail!("process.oomScoreAdj {adj} is out of range -1000..1000");
    }
    Ok(())
}

fn validate_namespaces(spec: &Spec) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, ns) in crate::namespaces::list(spec).iter().enumerate() {
        if !seen.insert(ns.typ()) {
            let t = crate::namespaces::name(ns.typ());
            bail!("linux.namespaces[{i}]: duplicate {t} namespace");
        }
        if let Some(p) = ns.path()
            && !p.is_absolute()
        {
            bail!(
                "linux.namespaces[{i}].path {:?} must be an absolute path",
                p.display()
            );
        }
    }
    let ns = crate::namespaces::Plan::from_spec(spec);
    if !ns.is_new(LinuxNamespaceType::Mount) {
        bail!("linux.namespaces: a new mount namespace is required (nook does not join one)");
    }
    crate::userns::validate(spec, &ns)?;
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !ns.is_new(LinuxNamespaceType::Uts)
    {
        bail!("hostname is set but linux.namespaces has no new uts namespace");
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !ns.is_new(LinuxNamespaceType::Uts)
    {
        bail!("domainname is set but linux.namespaces has no new uts namespace");
    }
    let offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref());
    if offsets.is_some_and(|o| !o.is_empty()) && !ns.is_new(LinuxNamespaceType::Time) {
        bail!("linux.timeOffsets is set but linux.namespaces has no new time namespace");
    }
    crate::sysctl::validate(spec, &ns)?;
    Ok(())
}

/// Fields that a later part of nook implements fail clearly until then:
/// never silently ignored.
fn validate_unsupported(spec: &Spec) -> Result<()> {
    let unsupported = |field: &str| -> Result<()> { bail!("{field} is not supported yet") };
    if let Some(l) = spec.linux() {
        let checks = [(
            l.intel_rdt().is_some() && resctrl_mounted(),
            "linux.intelRdt",
        )];
        for (set, field) in checks {
            if set {
                unsupported(field)?;
            }
        }
        if l.intel_rdt().is_some() && !resctrl_mounted() {
            bail!(
                "linux.intelRdt is set but resctrl is not mounted at /sys/fs/resctrl on this host"
            );
        }
        if l.mount_label().as_deref().is_some_and(|m| !m.is_empty())
            && !crate::lsm::selinux_enabled()
        {
            bail!("linux.mountLabel is set but SELinux is not enabled on this host");
        }
        crate::cgroups::validate_resources(l.resources().as_ref(), None)?;
    }
    Ok(())
}

fn resctrl_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| m.contains(" - resctrl "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
        })
    }

    fn check(v: serde_json::Value) -> Result<()> {
        let spec = parse(v.to_string().as_bytes())?;
        validate(&spec)
    }

    #[test]
    fn accepts_minimal() {
        check(minimal()).unwrap();
    }

    #[test]
    fn rejects_major_version() {
        let mut v = minimal();
        v["ociVersion"] = "2.0.0".into();
        let e = format!("{:#}", check(v).unwrap_err());
        assert!(e.contains("ociVersion \"2.0.0\""), "{e}");
    }

    #[test]
    fn rejects_invalid_json() {
        let e = format!("{:#}", parse(b"{nope").unwrap_err());
        assert!(e.contains("config.json: invalid JSON"), "{e}");
    }

    #[test]
    fn rejects_duplicate_namespace() {
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "mount"}]);
        let e = format!("{:#}", check(v).unwrap_err());
        assert!(e.contains("duplicate mount namespace"), "{e}");
    }

    #[test]
    fn rejects_hostname_without_uts() {
        let mut v = minimal();
        v["hostname"] = "x".into();
        let e = format!("{:#}", check(v).unwrap_err());
        assert!(e.contains("no new uts namespace"), "{e}");
    }

    #[test]
    fn rejects_relative_cwd_and_empty_args() {
        let mut v = minimal();
        v["process"]["cwd"] = "tmp".into();
        assert!(format!("{:#}", check(v).unwrap_err()).contains("process.cwd"));
        let mut v = minimal();
        v["process"]["args"] = serde_json::json!([]);
        assert!(format!("{:#}", check(v).unwrap_err()).contains("process.args"));
    }

    #[test]
    fn unknown_capabilities_are_skipped() {
        let mut v = minimal();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_KILL", "CAP_FOO"]});
        let spec = parse(v.to_string().as_bytes()).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
    }

    #[test]
    fn mappings_need_a_user_namespace() {
        let mut v = minimal();
        v["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        let e = format!("{:#}", check(v).unwrap_err());
        assert!(
            e.contains(
                "linux.uidMappings/gidMappings are set but linux.namespaces has no user namespace"
            ),
            "{e}"
        );
    }

    #[test]
    fn seccomp_is_compiled_at_load() {
        let mut v = minimal();
        v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]});
        let (_, extra) = parse_full(v.to_string().as_bytes()).unwrap();
        assert!(extra.seccomp.is_some());
        v["linux"]["seccomp"]["syscalls"][0]["action"] = "SCMP_ACT_FOO".into();
        let e = format!("{:#}", parse(v.to_string().as_bytes()).unwrap_err());
        assert!(
            e.contains("linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_FOO\""),
            "{e}"
        );
    }
}
