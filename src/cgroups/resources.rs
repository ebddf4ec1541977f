//! `linux.resources` → cgroup files. The plan (which file gets which value,
//! in which order, for v1 or v2) is pure and unit-tested without root; the
//! writes go into the container's own directories only.
//!
//! The mapping and the v1 → v2 conversions follow runc's, so a config
//! behaves the same under both runtimes: shares → cpu.weight, OCI swap (a
//! memory+swap total) → memory.swap.max (swap only), -1 → "max".

use anyhow::{Result, bail};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

/// Which cgroup interface the files are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// One write: the controller that owns the file, its name, the value, and
/// the config field it comes from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    pub field: &'static str,
}

fn w(controller: &'static str, file: &str, value: impl ToString, field: &'static str) -> Write {
    Write {
        controller,
        file: file.to_string(),
        value: value.to_string(),
        field,
    }
}

/// Everything the resources ask for, in the order it must be written.
/// `pids_limit` is read from the raw config: oci-spec cannot tell an absent
/// limit (leave it alone) from 0 (a real zero limit).
pub fn plan(r: &LinuxResources, pids_limit: Option<i64>, v: Version) -> Result<Vec<Write>> {
    refuse_unsupported(r)?;
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        match v {
            Version::V1 => memory_v1(m, &mut out)?,
            Version::V2 => memory_v2(m, &mut out)?,
        }
    }
    if let Some(c) = r.cpu() {
        match v {
            Version::V1 => cpu_v1(c, &mut out)?,
            Version::V2 => cpu_v2(c, &mut out)?,
        }
        cpuset(c, &mut out);
    }
    if let Some(limit) = pids_limit {
        let value = if limit < 0 {
            "max".to_string()
        } else {
            limit.to_string()
        };
        out.push(w("pids", "pids.max", value, "linux.resources.pids.limit"));
    }
    Ok(out)
}

/// Resource kinds that nook cannot apply yet fail clearly.
fn refuse_unsupported(r: &LinuxResources) -> Result<()> {
    let checks = [
        (r.block_io().is_some(), "blockIO"),
        (
            r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
            "hugepageLimits",
        ),
        (r.network().is_some(), "network"),
        (r.rdma().as_ref().is_some_and(|h| !h.is_empty()), "rdma"),
        (
            r.unified().as_ref().is_some_and(|h| !h.is_empty()),
            "unified",
        ),
    ];
    for (set, field) in checks {
        if set {
            bail!("linux.resources.{field} is not supported yet");
        }
    }
    Ok(())
}

/// -1 means unlimited; other negatives are errors.
fn limit_value(v: i64, field: &str, max: &str) -> Result<String> {
    match v {
        -1 => Ok(max.to_string()),
        n if n < 0 => bail!("{field} {n} is negative (only -1, unlimited, is allowed)"),
        n => Ok(n.to_string()),
    }
}

fn check_swap(m: &LinuxMemory) -> Result<()> {
    if let (Some(limit), Some(swap)) = (m.limit(), m.swap())
        && limit > 0
        && swap > 0
        && swap < limit
    {
        bail!(
            "linux.resources.memory.swap {swap} must not be below memory.limit {limit} (swap is memory+swap)"
        );
    }
    Ok(())
}

fn memory_v1(m: &LinuxMemory, out: &mut Vec<Write>) -> Result<()> {
    check_swap(m)?;
    // Both limits: the kernel wants memsw >= limit at every step, so the
    // applier retries in the other order (see `apply`); here limit first.
    if let Some(l) = m.limit() {
        let v = limit_value(l, "linux.resources.memory.limit", "-1")?;
        out.push(w(
            "memory",
            "memory.limit_in_bytes",
            v,
            "linux.resources.memory.limit",
        ));
    }
    if let Some(s) = m.swap() {
        let v = limit_value(s, "linux.resources.memory.swap", "-1")?;
        out.push(w(
            "memory",
            "memory.memsw.limit_in_bytes",
            v,
            "linux.resources.memory.swap",
        ));
    }
    if let Some(r) = m.reservation() {
        let v = limit_value(r, "linux.resources.memory.reservation", "-1")?;
        out.push(w(
            "memory",
            "memory.soft_limit_in_bytes",
            v,
            "linux.resources.memory.reservation",
        ));
    }
    if let Some(k) = m.kernel_tcp() {
        let v = limit_value(k, "linux.resources.memory.kernelTCP", "-1")?;
        out.push(w(
            "memory",
            "memory.kmem.tcp.limit_in_bytes",
            v,
            "linux.resources.memory.kernelTCP",
        ));
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            bail!("linux.resources.memory.swappiness {s} is above 100");
        }
        out.push(w(
            "memory",
            "memory.swappiness",
            s,
            "linux.resources.memory.swappiness",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        out.push(w(
            "memory",
            "memory.oom_control",
            1,
            "linux.resources.memory.disableOOMKiller",
        ));
    }
    if m.use_hierarchy() == Some(true) {
        out.push(w(
            "memory",
            "memory.use_hierarchy",
            1,
            "linux.resources.memory.useHierarchy",
        ));
    }
    warn_kernel(m);
    Ok(())
}

fn warn_kernel(m: &LinuxMemory) {
    if m.kernel().is_some() {
        // Kernel memory limits are gone from Linux 6.x; runc ignores them too.
        crate::logging::warn("linux.resources.memory.kernel is deprecated and ignored");
    }
}

fn memory_v2(m: &LinuxMemory, out: &mut Vec<Write>) -> Result<()> {
    check_swap(m)?;
    if let Some(l) = m.limit() {
        let v = limit_value(l, "linux.resources.memory.limit", "max")?;
        out.push(w("memory", "memory.max", v, "linux.resources.memory.limit"));
    }
    if let Some(s) = m.swap() {
        let v = match (s, m.limit()) {
            (-1, _) => "max".to_string(),
            (0, _) => "0".to_string(),
            (s, Some(l)) if l > 0 => (s - l).to_string(),
            _ => bail!(
                "linux.resources.memory.swap needs a memory.limit on cgroup v2 (swap is memory+swap)"
            ),
        };
        out.push(w(
            "memory",
            "memory.swap.max",
            v,
            "linux.resources.memory.swap",
        ));
    }
    if let Some(r) = m.reservation() {
        let v = limit_value(r, "linux.resources.memory.reservation", "max")?;
        out.push(w(
            "memory",
            "memory.low",
            v,
            "linux.resources.memory.reservation",
        ));
    }
    let v1_only = [
        (m.kernel_tcp().is_some(), "kernelTCP"),
        (m.swappiness().is_some(), "swappiness"),
        (m.disable_oom_killer() == Some(true), "disableOOMKiller"),
    ];
    for (set, field) in v1_only {
        if set {
            bail!("linux.resources.memory.{field} has no cgroup v2 equivalent");
        }
    }
    warn_kernel(m);
    Ok(())
}

fn cpu_v1(c: &LinuxCpu, out: &mut Vec<Write>) -> Result<()> {
    if let Some(s) = c.shares() {
        out.push(w("cpu", "cpu.shares", s, "linux.resources.cpu.shares"));
    }
    // Period before quota: the kernel checks quota against the period.
    if let Some(p) = c.period() {
        check_period(p)?;
        out.push(w(
            "cpu",
            "cpu.cfs_period_us",
            p,
            "linux.resources.cpu.period",
        ));
    }
    if let Some(q) = c.quota() {
        let v = limit_value(q, "linux.resources.cpu.quota", "-1")?;
        out.push(w("cpu", "cpu.cfs_quota_us", v, "linux.resources.cpu.quota"));
    }
    if let Some(b) = c.burst() {
        out.push(w("cpu", "cpu.cfs_burst_us", b, "linux.resources.cpu.burst"));
    }
    if let Some(p) = c.realtime_period() {
        out.push(w(
            "cpu",
            "cpu.rt_period_us",
            p,
            "linux.resources.cpu.realtimePeriod",
        ));
    }
    if let Some(r) = c.realtime_runtime() {
        out.push(w(
            "cpu",
            "cpu.rt_runtime_us",
            r,
            "linux.resources.cpu.realtimeRuntime",
        ));
    }
    if let Some(i) = c.idle() {
        out.push(w("cpu", "cpu.idle", i, "linux.resources.cpu.idle"));
    }
    Ok(())
}

fn check_period(p: u64) -> Result<()> {
    if !(1000..=1_000_000).contains(&p) {
        bail!("linux.resources.cpu.period {p} is outside 1000..1000000 microseconds");
    }
    Ok(())
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), as runc converts it.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

fn cpu_v2(c: &LinuxCpu, out: &mut Vec<Write>) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s > 0) {
        out.push(w(
            "cpu",
            "cpu.weight",
            shares_to_weight(s),
            "linux.resources.cpu.shares",
        ));
    }
    if c.quota().is_some() || c.period().is_some() {
        let period = c.period().unwrap_or(100_000);
        check_period(period)?;
        let quota = match c.quota() {
            None | Some(-1) => "max".to_string(),
            Some(q) => limit_value(q, "linux.resources.cpu.quota", "max")?,
        };
        out.push(w(
            "cpu",
            "cpu.max",
            format!("{quota} {period}"),
            "linux.resources.cpu.quota",
        ));
    }
    if let Some(b) = c.burst() {
        out.push(w("cpu", "cpu.max.burst", b, "linux.resources.cpu.burst"));
    }
    if let Some(i) = c.idle() {
        out.push(w("cpu", "cpu.idle", i, "linux.resources.cpu.idle"));
    }
    if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
        bail!("linux.resources.cpu.realtimeRuntime/realtimePeriod have no cgroup v2 equivalent");
    }
    Ok(())
}

fn cpuset(c: &LinuxCpu, out: &mut Vec<Write>) {
    // mems before cpus does not matter; both must be non-empty on v1.
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        out.push(w("cpuset", "cpuset.cpus", cpus, "linux.resources.cpu.cpus"));
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        out.push(w("cpuset", "cpuset.mems", mems, "linux.resources.cpu.mems"));
    }
}

/// `linux.resources.pids.limit` as the raw config gives it: None when the
/// key is absent (the limit is left as it is), else the value.
pub fn raw_pids_limit(resources: &serde_json::Value) -> Option<i64> {
    resources.get("pids")?.get("limit")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn files(ws: &[Write]) -> Vec<(String, String)> {
        ws.iter()
            .map(|w| (w.file.clone(), w.value.clone()))
            .collect()
    }

    fn pair(f: &str, v: &str) -> (String, String) {
        (f.to_string(), v.to_string())
    }

    #[test]
    fn memory_v1_and_v2() {
        let r =
            res(serde_json::json!({"memory": {"limit": 1000, "swap": 3000, "reservation": 500}}));
        let v1 = plan(&r, None, Version::V1).unwrap();
        assert_eq!(
            files(&v1),
            vec![
                pair("memory.limit_in_bytes", "1000"),
                pair("memory.memsw.limit_in_bytes", "3000"),
                pair("memory.soft_limit_in_bytes", "500")
            ]
        );
        let v2 = plan(&r, None, Version::V2).unwrap();
        assert_eq!(
            files(&v2),
            vec![
                pair("memory.max", "1000"),
                pair("memory.swap.max", "2000"),
                pair("memory.low", "500")
            ]
        );
        let r = res(serde_json::json!({"memory": {"limit": -1, "swap": -1}}));
        assert_eq!(
            files(&plan(&r, None, Version::V2).unwrap()),
            vec![pair("memory.max", "max"), pair("memory.swap.max", "max")]
        );
        let bad = res(serde_json::json!({"memory": {"limit": 3000, "swap": 1000}}));
        assert!(
            plan(&bad, None, Version::V1)
                .unwrap_err()
                .to_string()
                .contains("memory.swap")
        );
        let v1only = res(serde_json::json!({"memory": {"swappiness": 10}}));
        assert!(plan(&v1only, None, Version::V2).is_err());
    }

    #[test]
    fn cpu_conversions() {
        let r = res(
            serde_json::json!({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"}}),
        );
        assert_eq!(
            files(&plan(&r, None, Version::V1).unwrap()),
            vec![
                pair("cpu.shares", "1024"),
                pair("cpu.cfs_period_us", "100000"),
                pair("cpu.cfs_quota_us", "50000"),
                pair("cpuset.cpus", "0-1")
            ]
        );
        assert_eq!(
            files(&plan(&r, None, Version::V2).unwrap()),
            vec![
                pair("cpu.weight", "39"),
                pair("cpu.max", "50000 100000"),
                pair("cpuset.cpus", "0-1")
            ]
        );
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        let rt = res(serde_json::json!({"cpu": {"realtimeRuntime": 1000}}));
        assert!(plan(&rt, None, Version::V2).is_err());
        let p = res(serde_json::json!({"cpu": {"period": 0}}));
        assert!(plan(&p, None, Version::V1).is_err());
    }

    #[test]
    fn pids_limit_semantics() {
        let r = res(serde_json::json!({}));
        assert!(plan(&r, None, Version::V1).unwrap().is_empty());
        assert_eq!(
            files(&plan(&r, Some(-1), Version::V2).unwrap()),
            vec![pair("pids.max", "max")]
        );
        assert_eq!(
            files(&plan(&r, Some(0), Version::V1).unwrap()),
            vec![pair("pids.max", "0")]
        );
        assert_eq!(raw_pids_limit(&serde_json::json!({"pids": {}})), None);
        assert_eq!(
            raw_pids_limit(&serde_json::json!({"pids": {"limit": 0}})),
            Some(0)
        );
    }
}
