//! The systemd cgroup driver: the container's cgroup is a transient unit
//! (a scope, or a slice) that systemd makes (on v1 and hybrid hosts nook
//! makes the same path in the hierarchies systemd leaves alone).
//!
//! nook talks to systemd over D-Bus with its own small client (`dbus.rs`):
//! libcgroups keeps its D-Bus client private behind a manager that would
//! also own the cgroupfs writes nook's `resources` plan already makes, and
//! zbus would pull in an async runtime's worth of crates for five calls.
//!
//! As runc does: limits systemd knows are unit properties (so systemd
//! keeps them, and `systemctl show` reports them), then every limit is
//! also written through cgroupfs by the same plan as the cgroupfs driver.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use super::dbus::{Call, Connection, Value};
use super::resources::{self, Version};

/// How long a systemd job may take (runc waits 30 s too).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// The unit a container lives in, from linux.cgroupsPath "slice:prefix:name".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice, e.g. "system.slice" ("-.slice" is the root).
    pub slice: String,
    /// The unit, e.g. "nook-<id>.scope", or "<name>.slice".
    pub unit: String,
}

/// Parses a systemd-form cgroupsPath; an empty one is runc's default with
/// nook's prefix: system.slice, nook-<id>.scope.
pub fn parse_path(path: Option<&str>, id: &str) -> Result<UnitPath> {
    let path = path.unwrap_or_default();
    let parts: Vec<&str> = if path.is_empty() {
        vec!["", "nook", id]
    } else {
        path.split(':').collect()
    };
    let [slice, prefix, name] = parts[..] else {
        bail!(
            "linux.cgroupsPath: expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {path:?} instead"
        );
    };
    let slice = match slice {
        "" => "system.slice".to_string(),
        "-" => "-.slice".to_string(),
        s => s.to_string(),
    };
    check_slice(&slice).with_context(|| format!("linux.cgroupsPath {path:?}"))?;
    if name.is_empty() {
        bail!("linux.cgroupsPath {path:?}: the name part is empty");
    }
    let unit = if name.ends_with(".slice") {
        check_slice(name).with_context(|| format!("linux.cgroupsPath {path:?}"))?;
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_unit_chars(&unit).with_context(|| format!("linux.cgroupsPath {path:?}"))?;
    Ok(UnitPath { slice, unit })
}

/// Unit names are ASCII letters, digits and `:-_.\@` (systemd.unit(5)).
fn check_unit_chars(unit: &str) -> Result<()> {
    let ok = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
    if unit.len() > 255 || !unit.chars().all(ok) {
        bail!("{unit:?} is not a valid systemd unit name");
    }
    Ok(())
}

/// A slice name as systemd accepts it: "-.slice", or dash-separated
/// non-empty parts ending in ".slice".
fn check_slice(slice: &str) -> Result<()> {
    if slice == "-.slice" {
        return Ok(());
    }
    let Some(base) = slice.strip_suffix(".slice") else {
        bail!("slice {slice:?} does not end in .slice");
    };
    if base.is_empty() || base.split('-').any(str::is_empty) || slice.contains('/') {
        bail!("{slice:?} is not a valid slice name");
    }
    check_unit_chars(slice)
}

/// The cgroup path of a slice, as systemd nests them: "a-b-c.slice" is
/// /a.slice/a-b.slice/a-b-c.slice; "-.slice" is the root.
pub fn expand_slice(slice: &str) -> Result<PathBuf> {
    check_slice(slice)?;
    let mut out = PathBuf::from("/");
    if slice == "-.slice" {
        return Ok(out);
    }
    let base = slice.strip_suffix(".slice").unwrap_or(slice);
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push(format!("{prefix}.slice"));
    }
    Ok(out)
}

/// The unit's cgroup directory under the hierarchy mounted at `mount`
/// (systemd uses one path in every hierarchy). A slice unit sits where its
/// own name puts it (systemd derives a slice's parent from its name); a
/// scope sits in its slice.
pub fn unit_dir(mount: &Path, u: &UnitPath) -> Result<PathBuf> {
    if u.unit.ends_with(".slice") {
        let own = expand_slice(&u.unit)?;
        return Ok(mount.join(own.strip_prefix("/").unwrap_or(&own)));
    }
    let slice = expand_slice(&u.slice)?;
    Ok(mount
        .join(slice.strip_prefix("/").unwrap_or(&slice))
        .join(&u.unit))
}

fn prop(name: &str, v: Value) -> (String, Value) {
    (name.to_string(), v)
}

/// A cgroup limit in systemd's terms: "max" is infinity (u64::MAX).
fn limit(v: &str) -> Result<u64> {
    if v == "max" {
        return Ok(u64::MAX);
    }
    v.parse().with_context(|| format!("{v:?} is not a number"))
}

/// "0-3,5" as systemd's CPU/NUMA bitmask: byte i holds ids 8i..8i+7.
pub fn list_to_bitmask(list: &str) -> Result<Vec<u8>> {
    let mut bits: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: usize = lo.trim().parse().with_context(|| format!("{part:?}"))?;
        let hi: usize = hi.trim().parse().with_context(|| format!("{part:?}"))?;
        if lo > hi || hi >= 8192 {
            bail!("{part:?} is not a valid range");
        }
        for i in lo..=hi {
            if bits.len() <= i / 8 {
                bits.resize(i / 8 + 1, 0);
            }
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(bits)
}

/// cpu.max "quota period" as CPUQuotaPerSecUSec and CPUQuotaPeriodUSec.
/// systemd keeps the quota as whole percent of a CPU, so a fraction is
/// rounded up to the next 10 ms per second (as runc does); the cgroupfs
/// write that follows sets the exact value.
fn cpu_max(v: &str) -> Result<Vec<(String, Value)>> {
    let (quota, period) = v.split_once(' ').unwrap_or((v, "100000"));
    let period: u64 = period.parse().with_context(|| format!("{v:?}"))?;
    let per_sec = if quota == "max" {
        u64::MAX
    } else {
        let q: u64 = quota.parse().with_context(|| format!("{v:?}"))?;
        (q * 1_000_000 / period).div_ceil(10_000) * 10_000
    };
    Ok(vec![
        prop("CPUQuotaPerSecUSec", Value::U64(per_sec)),
        prop("CPUQuotaPeriodUSec", Value::U64(period)),
    ])
}

/// The unit property for one planned cgroupfs write, if systemd has one.
/// v1 files map to systemd's legacy names, as runc's v1 manager sets them;
/// `period` is the plan's cpu.cfs_period_us, for a v1 quota.
fn property_of(w: &resources::Write, period: &str) -> Result<Vec<(String, Value)>> {
    let v = w.value.as_str();
    let one = |name: &str, val: Value| Ok(vec![prop(name, val)]);
    match w.file.as_str() {
        "memory.limit_in_bytes" => one("MemoryLimit", Value::U64(v1_limit(v)?)),
        "cpu.shares" => one("CPUShares", Value::U64(limit(v)?)),
        "cpu.cfs_quota_us" if v == "-1" => cpu_max(&format!("max {period}")),
        "cpu.cfs_quota_us" => cpu_max(&format!("{v} {period}")),
        "blkio.weight" => one("BlockIOWeight", Value::U64(limit(v)?)),
        "memory.max" => one("MemoryMax", Value::U64(limit(v)?)),
        "memory.high" => one("MemoryHigh", Value::U64(limit(v)?)),
        "memory.low" => one("MemoryLow", Value::U64(limit(v)?)),
        "memory.min" => one("MemoryMin", Value::U64(limit(v)?)),
        "memory.swap.max" => one("MemorySwapMax", Value::U64(limit(v)?)),
        "cpu.weight" => one("CPUWeight", Value::U64(limit(v)?)),
        "cpu.max" => cpu_max(v),
        "cpuset.cpus" => one("AllowedCPUs", bytes(list_to_bitmask(v)?)),
        "cpuset.mems" => one("AllowedMemoryNodes", bytes(list_to_bitmask(v)?)),
        // systemd cannot say 0 tasks; 1 is the nearest (runc does the same).
        "pids.max" => one("TasksMax", Value::U64(limit(v)?.max(1))),
        "io.weight" => match v.strip_prefix("default ") {
            Some(n) => one("IOWeight", Value::U64(limit(n)?)),
            None => Ok(vec![]),
        },
        _ => Ok(vec![]),
    }
}

/// A v1 limit: -1 is unlimited.
fn v1_limit(v: &str) -> Result<u64> {
    if v == "-1" { Ok(u64::MAX) } else { limit(v) }
}

fn bytes(b: Vec<u8>) -> Value {
    Value::Array("y".into(), b.into_iter().map(Value::Byte).collect())
}

/// The unit properties for `r`: derived from the v2 cgroupfs plan, so the
/// conversions (and `unified` overrides, which come last) are the same as
/// the cgroupfs driver's. A later value for a property replaces an earlier.
pub fn resource_properties(
    r: &LinuxResources,
    pids_limit: Option<i64>,
    version: Version,
) -> Result<Vec<(String, Value)>> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let writes = resources::plan(r, pids_limit, version)?;
    let period = writes
        .iter()
        .find(|w| w.file == "cpu.cfs_period_us")
        .map_or("100000".to_string(), |w| w.value.clone());
    for w in writes {
        for (name, v) in property_of(&w, &period).with_context(|| w.field.to_string())? {
            out.retain(|(n, _)| *n != name);
            out.push((name, v));
        }
    }
    Ok(out)
}

/// DevicePolicy=strict with a DeviceAllow entry per allow rule (the spec's
/// and nook's defaults). systemd's list can only allow, so a deny rule is
/// left out and a rule systemd cannot name is widened ("char-*"): its
/// program is then a superset of nook's own eBPF program, which stays
/// attached next to it and decides exactly (both must allow).
pub fn device_properties(rules: &[LinuxDeviceCgroup], defaults: &[&str]) -> Vec<(String, Value)> {
    let mut allow: Vec<(String, String)> = Vec::new();
    let mut add = |typ: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
        let kinds: &[&str] = match typ {
            "b" => &["block"],
            "c" | "u" => &["char"],
            _ => &["char", "block"],
        };
        for kind in kinds {
            let path = match (major.filter(|m| *m >= 0), minor.filter(|m| *m >= 0)) {
                (Some(ma), Some(mi)) => format!("/dev/{kind}/{ma}:{mi}"),
                _ => format!("{kind}-*"),
            };
            allow.push((path, access.to_string()));
        }
    };
    for r in rules.iter().filter(|r| r.allow()) {
        let typ = r.typ().map(|t| t.as_str().to_string()).unwrap_or_default();
        add(
            &typ,
            r.major(),
            r.minor(),
            r.access().as_deref().unwrap_or("rwm"),
        );
    }
    for d in defaults {
        let mut f = d.split(' ');
        let (typ, nums, access) = (
            f.next().unwrap_or("a"),
            f.next().unwrap_or("*:*"),
            f.next().unwrap_or("rwm"),
        );
        let (ma, mi) = nums.split_once(':').unwrap_or(("*", "*"));
        add(typ, ma.parse().ok(), mi.parse().ok(), access);
    }
    allow.dedup();
    let entries = allow
        .into_iter()
        .map(|(p, a)| Value::Struct(vec![Value::Str(p), Value::Str(a)]))
        .collect();
    vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", Value::Array("(ss)".into(), entries)),
    ]
}

/// The properties a new unit gets besides its resources (as runc sets them).
pub fn unit_properties(u: &UnitPath, id: &str, pid: i32) -> Vec<(String, Value)> {
    let mut p = vec![prop(
        "Description",
        Value::Str(format!("nook container {id}")),
    )];
    if u.unit.ends_with(".slice") {
        // A slice's parent is named by Wants=; nook puts init in it itself.
        p.push(prop(
            "Wants",
            Value::Array("s".into(), vec![Value::Str(u.slice.clone())]),
        ));
    } else {
        p.push(prop("Slice", Value::Str(u.slice.clone())));
        p.push(prop("Delegate", Value::Bool(true)));
        p.push(prop(
            "PIDs",
            Value::Array("u".into(), vec![Value::U32(pid as u32)]),
        ));
    }
    p.push(prop("DefaultDependencies", Value::Bool(false)));
    // Accounting on for every controller, as runc: the controllers are
    // then enabled down to the unit even without a limit.
    for a in [
        "MemoryAccounting",
        "CPUAccounting",
        "IOAccounting",
        "TasksAccounting",
    ] {
        p.push(prop(a, Value::Bool(true)));
    }
    p
}

fn props_value(props: Vec<(String, Value)>) -> Value {
    let items = props
        .into_iter()
        .map(|(n, v)| Value::Struct(vec![Value::Str(n), Value::Variant(Box::new(v))]))
        .collect();
    Value::Array("(sv)".into(), items)
}

/// Checks that systemd is the init system before any bus traffic.
pub fn check_booted() -> Result<()> {
    if !Path::new("/run/systemd/system").is_dir() {
        bail!("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system)");
    }
    Ok(())
}

/// A connection to systemd's manager object.
pub struct Systemd {
    conn: Connection,
}

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

impl Systemd {
    /// Connects to the system bus and subscribes to job signals.
    pub fn connect() -> Result<Systemd> {
        check_booted()?;
        let conn = Connection::system().context("--systemd-cgroup")?;
        let mut s = Systemd { conn };
        let rule = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";
        s.conn
            .call(&Call {
                dest: "org.freedesktop.DBus",
                path: "/org/freedesktop/DBus",
                iface: "org.freedesktop.DBus",
                member: "AddMatch",
                args: vec![Value::Str(rule.into())],
            })
            .context("--systemd-cgroup: subscribe to systemd's JobRemoved signal")?;
        s.manager("Subscribe", vec![])
            .context("--systemd-cgroup: subscribe to systemd")?;
        Ok(s)
    }

    fn manager(&mut self, member: &str, args: Vec<Value>) -> Result<Vec<Value>> {
        self.conn.call(&Call {
            dest: DEST,
            path: PATH,
            iface: MANAGER,
            member,
            args,
        })
    }

    /// Waits for the job to finish; anything but "done" is an error.
    fn wait_job(&mut self, reply: &[Value], unit: &str, what: &str) -> Result<()> {
        let job = reply
            .first()
            .and_then(Value::as_str)
            .context("systemd returned no job")?
            .to_string();
        let result = self
            .conn
            .wait_signal("JobRemoved", JOB_TIMEOUT, |body| {
                (body.get(1).and_then(Value::as_str) == Some(job.as_str()))
                    .then(|| body.get(3).and_then(Value::as_str).map(String::from))
                    .flatten()
            })
            .with_context(|| format!("{what} {unit}"))?;
        if result != "done" {
            bail!("{what} {unit}: the systemd job ended with {result:?}");
        }
        Ok(())
    }

    /// Starts the transient unit with `props` and waits until it is up.
    pub fn start_unit(&mut self, unit: &str, props: Vec<(String, Value)>) -> Result<()> {
        let what = "start systemd unit";
        let reply = self
            .manager(
                "StartTransientUnit",
                vec![
                    Value::Str(unit.into()),
                    Value::Str("fail".into()),
                    props_value(props),
                    Value::Array("(sa(sv))".into(), vec![]),
                ],
            )
            .with_context(|| format!("{what} {unit}"))?;
        self.wait_job(&reply, unit, what)
    }

    /// Changes a running unit's properties (not persisted across reboots).
    pub fn set_properties(&mut self, unit: &str, props: Vec<(String, Value)>) -> Result<()> {
        self.manager(
            "SetUnitProperties",
            vec![
                Value::Str(unit.into()),
                Value::Bool(true),
                props_value(props),
            ],
        )
        .with_context(|| format!("set properties of systemd unit {unit}"))?;
        Ok(())
    }

    /// Whether systemd has the unit loaded.
    pub fn unit_exists(&mut self, unit: &str) -> Result<bool> {
        match self.manager("GetUnit", vec![Value::Str(unit.into())]) {
            Ok(_) => Ok(true),
            Err(e)
                if e.to_string()
                    .starts_with("org.freedesktop.systemd1.NoSuchUnit") =>
            {
                Ok(false)
            }
            Err(e) => Err(e).with_context(|| format!("look up systemd unit {unit}")),
        }
    }

    /// Stops the unit and waits; a unit that is already gone is fine.
    pub fn stop_unit(&mut self, unit: &str) -> Result<()> {
        let what = "stop systemd unit";
        let reply = match self.manager(
            "StopUnit",
            vec![Value::Str(unit.into()), Value::Str("replace".into())],
        ) {
            Ok(r) => r,
            Err(e)
                if e.to_string()
                    .starts_with("org.freedesktop.systemd1.NoSuchUnit") =>
            {
                return Ok(());
            }
            Err(e) => return Err(e).with_context(|| format!("{what} {unit}")),
        };
        self.wait_job(&reply, unit, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn get<'a>(p: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
        p.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn paths() {
        let u = parse_path(Some("system.slice:nook:abc"), "x").unwrap();
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.unit, "nook-abc.scope");
        let d = parse_path(None, "c1").unwrap();
        assert_eq!(
            (d.slice.as_str(), d.unit.as_str()),
            ("system.slice", "nook-c1.scope")
        );
        let s = parse_path(Some("machine.slice:libpod:my-pod.slice"), "x").unwrap();
        assert_eq!(s.unit, "my-pod.slice");
        assert_eq!(parse_path(Some("-:p:n"), "x").unwrap().slice, "-.slice");
        assert_eq!(parse_path(Some(":p:n"), "x").unwrap().slice, "system.slice");
        assert_eq!(parse_path(Some("a.slice::n"), "x").unwrap().unit, "n.scope");
        let e = parse_path(Some("/kubepods/x"), "x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux.cgroupsPath") && e.contains("slice:prefix:name"),
            "{e}"
        );
        assert!(parse_path(Some("system:nook:x"), "x").is_err());
        assert!(parse_path(Some("a--b.slice:nook:x"), "x").is_err());
        assert!(parse_path(Some("system.slice:nook:"), "x").is_err());
        assert!(parse_path(Some("system.slice:nook:a/b"), "x").is_err());
    }

    #[test]
    fn slices_expand_as_systemd_does() {
        assert_eq!(expand_slice("-.slice").unwrap(), PathBuf::from("/"));
        assert_eq!(
            expand_slice("system.slice").unwrap(),
            PathBuf::from("/system.slice")
        );
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            PathBuf::from("/a.slice/a-b.slice/a-b-c.slice")
        );
        assert!(expand_slice("a-.slice").is_err());
        assert!(expand_slice("-a.slice").is_err());
        assert!(expand_slice("a.scope").is_err());
        let u = parse_path(Some("machine-x.slice:libpod:c"), "c").unwrap();
        assert_eq!(
            unit_dir(Path::new("/sys/fs/cgroup"), &u).unwrap(),
            PathBuf::from("/sys/fs/cgroup/machine.slice/machine-x.slice/libpod-c.scope")
        );
        let s = parse_path(Some("system.slice:p:ab-c.slice"), "c").unwrap();
        assert_eq!(
            unit_dir(Path::new("/sys/fs/cgroup"), &s).unwrap(),
            PathBuf::from("/sys/fs/cgroup/ab.slice/ab-c.slice")
        );
    }

    #[test]
    fn resources_become_properties() {
        let r = res(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 134217728, "reservation": 1024},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-2,9", "mems": "0"},
            "blockIO": {"weight": 500}
        }));
        let p = resource_properties(&r, Some(0), Version::V2).unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(67108864)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(67108864)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(1024)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(get(&p, "AllowedCPUs"), Some(&bytes(vec![0b111, 0b10])));
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&bytes(vec![1])));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(1)));
        assert_eq!(get(&p, "IOWeight"), Some(&Value::U64(4950)));
        let p = resource_properties(&res(serde_json::json!({})), Some(-1), Version::V2).unwrap();
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
        assert!(
            resource_properties(&res(serde_json::json!({})), None, Version::V2)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn quota_rounds_up_and_unified_overrides() {
        let r = res(serde_json::json!({
            "cpu": {"quota": 12345, "period": 100000},
            "memory": {"limit": 1000},
            "unified": {"memory.max": "max", "memory.high": "500", "pids.max": "7"}
        }));
        let p = resource_properties(&r, None, Version::V2).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(130_000)));
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "MemoryHigh"), Some(&Value::U64(500)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(7)));
        assert_eq!(p.iter().filter(|(n, _)| n == "MemoryMax").count(), 1);
        let q = cpu_max("max 100000").unwrap();
        assert_eq!(q[0].1, Value::U64(u64::MAX));
    }

    #[test]
    fn v1_properties_use_legacy_names() {
        let r = res(serde_json::json!({
            "memory": {"limit": -1},
            "cpu": {"shares": 512, "quota": 25000, "period": 50000},
            "blockIO": {"weight": 300}
        }));
        let p = resource_properties(&r, Some(5), Version::V1).unwrap();
        assert_eq!(get(&p, "MemoryLimit"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "CPUShares"), Some(&Value::U64(512)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(50_000)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&Value::U64(300)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(5)));
        assert!(get(&p, "MemoryMax").is_none() && get(&p, "CPUWeight").is_none());
    }

    #[test]
    fn bitmasks() {
        assert_eq!(list_to_bitmask("0").unwrap(), vec![1]);
        assert_eq!(list_to_bitmask("1,3-4").unwrap(), vec![0b11010]);
        assert_eq!(list_to_bitmask("8").unwrap(), vec![0, 1]);
        assert!(list_to_bitmask("3-1").is_err());
        assert!(list_to_bitmask("x").is_err());
    }

    #[test]
    fn devices_widen_but_never_narrow() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
            {"allow": true, "type": "b", "major": 8, "access": "r"}
        ]))
        .unwrap();
        let p = device_properties(&rules, &["c *:* m", "c 1:3 rwm"]);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("strict".into())));
        let Some(Value::Array(_, list)) = get(&p, "DeviceAllow") else {
            panic!("no DeviceAllow")
        };
        let pairs: Vec<String> = list
            .iter()
            .map(|v| match v {
                Value::Struct(f) => {
                    format!("{} {}", f[0].as_str().unwrap(), f[1].as_str().unwrap())
                }
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            pairs,
            [
                "/dev/char/10:200 rw",
                "block-* r",
                "char-* m",
                "/dev/char/1:3 rwm"
            ]
        );
    }

    #[test]
    fn scope_and_slice_properties() {
        let scope = parse_path(Some("system.slice:nook:a"), "a").unwrap();
        let p = unit_properties(&scope, "a", 42);
        assert_eq!(get(&p, "Slice"), Some(&Value::Str("system.slice".into())));
        assert_eq!(get(&p, "Delegate"), Some(&Value::Bool(true)));
        assert_eq!(
            get(&p, "PIDs"),
            Some(&Value::Array("u".into(), vec![Value::U32(42)]))
        );
        let slice = parse_path(Some("system.slice:nook:a.slice"), "a").unwrap();
        let p = unit_properties(&slice, "a", 42);
        assert!(get(&p, "PIDs").is_none() && get(&p, "Wants").is_some());
    }
}
