//! The container's cgroups on cgroupfs: v1, v2 and hybrid hosts.
//!
//! nook makes one cgroup per hierarchy for each container, records the
//! directories it is about to create in the container's state before it
//! creates them (so that `delete --force` after a crash finds them), places
//! the init process there, and removes only what it created.
//!
//! This is nook's own code rather than libcgroups' managers: those place a
//! relative cgroupsPath under the hierarchy root and own the whole cgroup
//! they are given, while nook (as runc) puts the default path under its own
//! cgroup, joins a pre-existing cgroup without removing or resetting it, and
//! on a hybrid host drives hugetlb through the cgroup2 mount.

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

mod dbus;
mod devices_bpf;
pub mod manager;
pub mod properties;
pub mod resources;
pub mod stats;
pub mod sub;
pub mod systemd;
pub use manager::Driver;
use oci_spec::runtime::{LinuxResources, Spec};

/// One mounted cgroup hierarchy of the host.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. /sys/fs/cgroup/memory.
    pub mount: PathBuf,
    /// v1: the controllers or `name=` of the hierarchy ("memory", "name=systemd").
    /// v2: empty.
    pub controllers: String,
    /// The path of the mount's root within the hierarchy (mountinfo field 4).
    pub root: PathBuf,
}

impl Hierarchy {
    /// True for the cgroup2 hierarchy.
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }
}

/// The hierarchies mounted on this host, from /proc/self/mountinfo.
pub fn hierarchies() -> Result<Vec<Hierarchy>> {
    let info = fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let controllers = match post[0] {
            "cgroup2" => String::new(),
            "cgroup" => post[2]
                .split(',')
                .filter(|o| is_controller_option(o))
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        let mount = PathBuf::from(pre[4]);
        // Keep one mount per hierarchy: the first seen (the host's).
        if out.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        out.push(Hierarchy {
            mount,
            controllers,
            root: PathBuf::from(pre[3]),
        });
    }
    Ok(out)
}

fn is_controller_option(o: &str) -> bool {
    const NOT: &[&str] = &[
        "rw",
        "ro",
        "nosuid",
        "nodev",
        "noexec",
        "relatime",
        "noatime",
        "clone_children",
        "xattr",
        "nsdelegate",
    ];
    !NOT.contains(&o) && !o.starts_with("release_agent=")
}

/// The process's own cgroup path in each hierarchy, from /proc/self/cgroup.
fn own_paths() -> Result<Vec<(String, PathBuf)>> {
    let s = fs::read_to_string("/proc/self/cgroup").context("read /proc/self/cgroup")?;
    Ok(s.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            Some((ctrl.to_string(), PathBuf::from(path)))
        })
        .collect())
}

/// Normalises a cgroupsPath lexically; `..` may not climb above its start.
fn clean(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => {
                bail!(
                    "linux.cgroupsPath {:?} leaves the cgroup hierarchy",
                    path.display()
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The container's cgroup directory in every hierarchy. An absolute
/// cgroupsPath is taken from each hierarchy's root; a relative one, or the
/// default `<id>`, from nook's own cgroup there (as runc does).
pub fn container_dirs(spec: &Spec, id: &str) -> Result<Vec<PathBuf>> {
    let given = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let given = given.filter(|p| !p.as_os_str().is_empty());
    if let Some(p) = &given
        && p.to_string_lossy().contains(':')
    {
        bail!(
            "linux.cgroupsPath {:?} is in the systemd form slice:prefix:name: it needs --systemd-cgroup",
            p.display()
        );
    }
    let (absolute, rel) = match &given {
        Some(p) => (p.is_absolute(), clean(p)?),
        None => (false, PathBuf::from(id)),
    };
    if rel.as_os_str().is_empty() {
        bail!(
            "linux.cgroupsPath {:?} names the root cgroup",
            given.unwrap_or_default().display()
        );
    }
    let own = own_paths()?;
    let mut dirs = Vec::new();
    for h in hierarchies()? {
        let base = if absolute {
            PathBuf::new()
        } else {
            let key = if h.is_v2() {
                ""
            } else {
                h.controllers.as_str()
            };
            let mine = own
                .iter()
                .find(|(c, _)| c == key)
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            // The mount may show only part of the hierarchy (its root).
            clean(mine.strip_prefix(&h.root).unwrap_or(&mine))?
        };
        dirs.push(h.mount.join(base).join(&rel));
    }
    Ok(dirs)
}

/// The directories among `dirs` (and their missing parents) that do not exist
/// yet, parents first: exactly what `create` will make and `remove` undo.
pub fn missing(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let mut chain = Vec::new();
        let mut cur = Some(d.as_path());
        while let Some(p) = cur {
            if p.exists() {
                break;
            }
            chain.push(p.to_path_buf());
            cur = p.parent();
        }
        out.extend(chain.into_iter().rev());
    }
    out
}

/// Creates the planned directories (parents first).
pub fn create(planned: &[PathBuf]) -> Result<()> {
    for d in planned {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("create cgroup {}", d.display())),
        }
        inherit_cpuset(d)?;
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with no cpus and mems, and a process cannot
/// join it then (ENOSPC): copy both from the parent, as runc does.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    // On v2 an empty cpuset.cpus already means "the parent's".
    if is_v2_dir(dir) {
        return Ok(());
    }
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        let Ok(current) = fs::read_to_string(&own) else {
            return Ok(());
        };
        if !current.trim().is_empty() {
            continue;
        }
        let Some(parent) = dir.parent() else { continue };
        let value = fs::read_to_string(parent.join(file))
            .with_context(|| format!("read {}", parent.join(file).display()))?;
        fs::write(&own, value.trim()).with_context(|| format!("write {}", own.display()))?;
    }
    Ok(())
}

/// Moves `pid` into each v1 directory (v2 is joined through CLONE_INTO_CGROUP).
pub fn enter_v1(dirs: &[PathBuf], pid: i32) -> Result<()> {
    for d in dirs.iter().filter(|d| !is_v2_dir(d)) {
        let f = d.join("cgroup.procs");
        fs::write(&f, pid.to_string()).with_context(|| format!("write {}", f.display()))?;
    }
    Ok(())
}

/// The v2 directory among `dirs`, if the host has a v2 hierarchy.
pub fn v2_dir(dirs: &[PathBuf]) -> Option<&PathBuf> {
    dirs.iter().find(|d| is_v2_dir(d))
}

fn is_v2_dir(d: &Path) -> bool {
    nix::sys::statfs::statfs(d)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Every process in any of `dirs`.
pub fn pids(dirs: &[PathBuf]) -> Vec<i32> {
    let mut out = Vec::new();
    for d in dirs {
        if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// SIGKILLs every process in `dirs` until none is left (bounded).
pub fn kill_all(dirs: &[PathBuf]) {
    for _ in 0..200 {
        let p = pids(dirs);
        if p.is_empty() {
            return;
        }
        for pid in p {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        // Frozen tasks (v1) only die once thawed.
        if is_frozen(dirs) {
            let _ = freeze(dirs, false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Removes the directories nook created, deepest first, retrying briefly
/// while the kernel still counts exiting processes.
pub fn remove(created: &[PathBuf]) -> Result<()> {
    for d in created.iter().rev() {
        let mut tries = 0;
        loop {
            match fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e).with_context(|| format!("remove cgroup {}", d.display())),
            }
        }
    }
    Ok(())
}

/// The cgroup interface that resources are written for on this host: v2
/// only on a pure cgroup v2 host (a hybrid host keeps its controllers in v1).
pub fn host_version() -> Result<resources::Version> {
    let any_v1 = hierarchies()?.iter().any(|h| !h.is_v2());
    Ok(if any_v1 {
        resources::Version::V1
    } else {
        resources::Version::V2
    })
}

/// The interface hugetlb is written through: v2 on a hybrid host whose v1
/// hierarchies lack it but whose cgroup2 mount has it (runc fails there).
fn hugetlb_version(hier: &[Hierarchy], main: resources::Version) -> resources::Version {
    let in_v1 = hier
        .iter()
        .any(|h| h.controllers.split(',').any(|c| c == "hugetlb"));
    let in_v2 = hier.iter().filter(|h| h.is_v2()).any(|h| {
        fs::read_to_string(h.mount.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
    });
    if main == resources::Version::V1 && !in_v1 && in_v2 {
        resources::Version::V2
    } else {
        main
    }
}

/// Checks the resources against this host before any fork: the same plan
/// that `apply_resources` writes.
pub fn validate_resources(r: Option<&LinuxResources>, pids_limit: Option<i64>) -> Result<()> {
    let Some(r) = r else { return Ok(()) };
    let hier = hierarchies()?;
    let v = host_version()?;
    let huge = hugetlb_version(&hier, v);
    for wr in resources::plan_layout(r, pids_limit, v, huge)? {
        let version = if wr.controller == "hugetlb" { huge } else { v };
        if !host_has(&hier, wr.controller, version) {
            bail!(
                "{}: this host has no {} cgroup controller",
                wr.field,
                wr.controller
            );
        }
    }
    Ok(())
}

/// Whether the host has `controller` on the interface it is written through.
fn host_has(hier: &[Hierarchy], controller: &str, v: resources::Version) -> bool {
    hier.iter().any(|h| match v {
        resources::Version::V1 => h.controllers.split(',').any(|c| c == controller),
        resources::Version::V2 => {
            h.is_v2()
                && fs::read_to_string(h.mount.join("cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c == controller))
        }
    })
}

/// Writes the resources into the container's cgroups (at create, before
/// any process is there, and for `update`).
pub fn apply_resources(
    r: &LinuxResources,
    pids_limit: Option<i64>,
    dirs: &[PathBuf],
) -> Result<()> {
    let hier = hierarchies()?;
    let main = host_version()?;
    let huge = hugetlb_version(&hier, main);
    let writes = resources::plan_layout(r, pids_limit, main, huge)?;
    let mut i = 0;
    while i < writes.len() {
        let wr = &writes[i];
        let version = if wr.controller == "hugetlb" {
            huge
        } else {
            main
        };
        let dir = controller_dir(&hier, dirs, wr.controller, version)
            .with_context(|| wr.field.to_string())?;
        if version == resources::Version::V2 {
            enable_v2_controller(&hier, &dir, wr.controller)
                .with_context(|| wr.field.to_string())?;
        }
        if wr.optional && !dir.join(&wr.file).exists() {
            i += 1;
            continue;
        }
        match write_file(&dir, wr) {
            // v1 keeps memsw >= limit at every step: raising both means
            // memsw first. Retry the pair in the other order.
            Err(e)
                if wr.file == "memory.limit_in_bytes"
                    && writes
                        .get(i + 1)
                        .is_some_and(|n| n.file == "memory.memsw.limit_in_bytes") =>
            {
                let next = &writes[i + 1];
                write_file(&dir, next)?;
                write_file(&dir, wr).map_err(|_| e)?;
                i += 1;
            }
            r => r?,
        }
        i += 1;
    }
    Ok(())
}

fn write_file(dir: &Path, wr: &resources::Write) -> Result<()> {
    let path = dir.join(&wr.file);
    if !path.exists() {
        bail!(
            "{}: this host's {} controller has no {}",
            wr.field,
            wr.controller,
            wr.file
        );
    }
    fs::write(&path, &wr.value)
        .with_context(|| format!("{}: write {:?} to {}", wr.field, wr.value, path.display()))
}

/// The container's directory that holds `controller`'s files.
fn controller_dir(
    hier: &[Hierarchy],
    dirs: &[PathBuf],
    controller: &str,
    v: resources::Version,
) -> Result<PathBuf> {
    let owner = hier.iter().find(|h| match v {
        resources::Version::V1 => h.controllers.split(',').any(|c| c == controller),
        resources::Version::V2 => h.is_v2(),
    });
    let Some(h) = owner else {
        bail!("this host has no {controller} cgroup controller");
    };
    let dir = dirs.iter().find(|d| d.starts_with(&h.mount)).cloned();
    dir.with_context(|| format!("the container has no cgroup in the {controller} hierarchy"))
}

/// On v2 a controller's files exist in a cgroup only when every ancestor
/// enables it for its children: enable it where it is missing, from the top.
fn enable_v2_controller(hier: &[Hierarchy], dir: &Path, controller: &str) -> Result<()> {
    let Some(h) = hier.iter().find(|h| h.is_v2() && dir.starts_with(&h.mount)) else {
        return Ok(());
    };
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(&h.mount))
        .collect();
    chain.reverse();
    for a in chain {
        let available = fs::read_to_string(a.join("cgroup.controllers")).unwrap_or_default();
        if !available.split_whitespace().any(|c| c == controller) {
            bail!(
                "the {controller} controller is not available in {}",
                a.display()
            );
        }
        let enabled = fs::read_to_string(a.join("cgroup.subtree_control")).unwrap_or_default();
        if !enabled.split_whitespace().any(|c| c == controller) {
            let file = a.join("cgroup.subtree_control");
            fs::write(&file, format!("+{controller}"))
                .with_context(|| format!("enable {controller} in {}", file.display()))?;
        }
    }
    Ok(())
}

/// Devices every container may use, as runc allows by default: mknod of any
/// node, and the default devices of config-linux.md plus ptys.
pub(crate) const DEFAULT_DEVICE_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// One spec rule as an eBPF device rule.
fn bpf_rule(r: &oci_spec::runtime::LinuxDeviceCgroup) -> Result<devices_bpf::Rule> {
    let typ = match r.typ().map(|t| t.as_str().to_string()).as_deref() {
        None | Some("a") => None,
        Some("b") => Some(1),
        Some("c") | Some("u") => Some(2),
        Some(other) => bail!("type {other:?} is not a cgroup device type (a, b or c)"),
    };
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map(|n| n as u32);
    let access = devices_bpf::access_bits(r.access().as_deref().unwrap_or("rwm"))?;
    Ok(devices_bpf::Rule {
        allow: r.allow(),
        typ,
        major: num(r.major()),
        minor: num(r.minor()),
        access,
    })
}

/// "c 1:3 rwm" (the default rules) as an eBPF device rule.
fn parse_default_rule(rule: &str) -> devices_bpf::Rule {
    let mut f = rule.split(' ');
    let (t, nums, access) = (
        f.next().unwrap_or("a"),
        f.next().unwrap_or("*:*"),
        f.next().unwrap_or("rwm"),
    );
    let (major, minor) = nums.split_once(':').unwrap_or(("*", "*"));
    devices_bpf::Rule {
        allow: true,
        typ: match t {
            "b" => Some(1),
            "c" => Some(2),
            _ => None,
        },
        major: major.parse().ok(),
        minor: minor.parse().ok(),
        access: devices_bpf::access_bits(access).unwrap_or(7),
    }
}

/// Applies `linux.resources.devices`: on a v1 devices hierarchy, deny all,
/// then the spec's rules in order, then the defaults.
pub fn apply_devices(spec: &Spec, dirs: &[PathBuf]) -> Result<()> {
    let rules = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let Some(dir) = dirs.iter().find(|d| d.join("devices.allow").exists()) else {
        // cgroup v2: the same rules as an eBPF program on the container's cgroup.
        let Some(v2) = v2_dir(dirs) else {
            if rules.is_empty() {
                return Ok(());
            }
            bail!(
                "linux.resources.devices: the host has neither a v1 devices controller nor cgroup v2"
            );
        };
        let mut bpf_rules = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            bpf_rules.push(bpf_rule(r).with_context(|| format!("linux.resources.devices[{i}]"))?);
        }
        for rule in DEFAULT_DEVICE_RULES {
            bpf_rules.push(parse_default_rule(rule));
        }
        return devices_bpf::attach(v2, &bpf_rules).context("linux.resources.devices");
    };
    let write = |file: &str, rule: &str| -> Result<()> {
        fs::write(dir.join(file), rule)
            .with_context(|| format!("linux.resources.devices: write {rule:?} to {file}"))
    };
    write("devices.deny", "a")?;
    for (i, r) in rules.iter().enumerate() {
        let typ = r
            .typ()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "a".into());
        let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_else(|| "*".into());
        let access = r.access().clone().unwrap_or_else(|| "rwm".into());
        let rule = if typ == "a" {
            "a".to_string()
        } else {
            format!("{typ} {}:{} {access}", num(r.major()), num(r.minor()))
        };
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(file, &rule).with_context(|| format!("linux.resources.devices[{i}]"))?;
    }
    for rule in DEFAULT_DEVICE_RULES {
        write("devices.allow", rule)?;
    }
    Ok(())
}

/// The file that freezes the container's cgroup and the value that means
/// frozen: the v1 freezer where the host has one, else v2's cgroup.freeze.
fn freezer(dirs: &[PathBuf]) -> Option<(PathBuf, &'static str, &'static str)> {
    if let Some(d) = dirs.iter().find(|d| d.join("freezer.state").exists()) {
        return Some((d.join("freezer.state"), "FROZEN", "THAWED"));
    }
    dirs.iter()
        .find(|d| d.join("cgroup.freeze").exists())
        .map(|d| (d.join("cgroup.freeze"), "1", "0"))
}

/// Freezes (`on`) or thaws every process of the container and waits until
/// the kernel reports it done.
pub fn freeze(dirs: &[PathBuf], on: bool) -> Result<()> {
    let Some((file, frozen, thawed)) = freezer(dirs) else {
        bail!("the container's cgroups have no freezer (v1 freezer controller or cgroup v2)");
    };
    let want = if on { frozen } else { thawed };
    let what = if on { "freeze" } else { "thaw" };
    for _ in 0..1000 {
        // v1 can stay FREEZING while tasks are busy; writing again retries.
        fs::write(&file, want).with_context(|| format!("{what}: write {}", file.display()))?;
        if frozen_state(&file)? == on {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("{what}: {} did not reach {want}", file.display())
}

/// Whether the freezer file says frozen (v2: cgroup.events "frozen 1").
fn frozen_state(file: &Path) -> Result<bool> {
    if file.ends_with("freezer.state") {
        let s = fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        return Ok(s.trim() == "FROZEN");
    }
    let events = file.with_file_name("cgroup.events");
    let s = fs::read_to_string(&events).with_context(|| format!("read {}", events.display()))?;
    Ok(s.lines().any(|l| l == "frozen 1"))
}

/// Signals every process of the container without racing forks: freeze,
/// signal, thaw (v1 and v2); SIGKILL on v2 goes through cgroup.kill.
pub fn signal_all(dirs: &[PathBuf], sig: i32) -> Result<()> {
    if sig == libc::SIGKILL
        && let Some(d) = dirs.iter().find(|d| d.join("cgroup.kill").exists())
        && freezer(dirs).is_some_and(|(f, _, _)| f.ends_with("cgroup.freeze"))
    {
        return fs::write(d.join("cgroup.kill"), "1")
            .with_context(|| format!("write {}", d.join("cgroup.kill").display()));
    }
    let frozen = freeze(dirs, true).is_ok();
    let signal = nix::sys::signal::Signal::try_from(sig).ok();
    for pid in pids(dirs) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    }
    if frozen {
        freeze(dirs, false)?;
    }
    Ok(())
}

/// True when the container's cgroup is frozen (v1 freezer or v2 cgroup.freeze).
pub fn is_frozen(dirs: &[PathBuf]) -> bool {
    dirs.iter().any(|d| {
        fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
            || fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_refuses_escape() {
        assert_eq!(clean(Path::new("/a/../b")).unwrap(), PathBuf::from("b"));
        assert!(clean(Path::new("../../etc")).is_err());
        assert!(clean(Path::new("/a/../../x")).is_err());
    }
}
