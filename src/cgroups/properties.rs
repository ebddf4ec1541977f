//! systemd unit properties for a container's resources and devices, as
//! runc's systemd managers set them. Pure conversions, unit-tested without
//! root; `systemd.rs` sends them.

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use super::dbus::Value;
use super::resources::{self, Version};

pub(super) fn prop(name: &str, v: Value) -> (String, Value) {
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
}
