//! `linux.resources` → cgroup files. The plan (which file gets which value,
//! in which order, for v1 or v2) is pure and unit-tested without root; the
//! writes go into the container's own directories only.
//!
//! The mapping and the v1 → v2 conversions follow runc's, so a config
//! behaves the same under both runtimes: shares → cpu.weight, OCI swap (a
//! memory+swap total) → memory.swap.max (swap only), -1 → "max".

use anyhow::{Result, bail};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxResources,
    LinuxThrottleDevice,
};

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
    /// Skipped when the kernel has no such file (e.g. hugetlb rsvd files).
    pub optional: bool,
}

fn w(controller: &'static str, file: &str, value: impl ToString, field: &'static str) -> Write {
    Write {
        controller,
        file: file.to_string(),
        value: value.to_string(),
        field,
        optional: false,
    }
}

/// Everything the resources ask for, in the order it must be written.
/// `pids_limit` is read from the raw config: oci-spec cannot tell an absent
/// limit (leave it alone) from 0 (a real zero limit).
pub fn plan(r: &LinuxResources, pids_limit: Option<i64>, v: Version) -> Result<Vec<Write>> {
    plan_layout(r, pids_limit, v, v)
}

/// As `plan`, with hugetlb on its own interface: on a hybrid host it lives
/// in the v2 hierarchy while the other controllers are v1.
pub fn plan_layout(
    r: &LinuxResources,
    pids_limit: Option<i64>,
    v: Version,
    hugetlb_v: Version,
) -> Result<Vec<Write>> {
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
    if let Some(b) = r.block_io() {
        match v {
            Version::V1 => block_io_v1(b, &mut out),
            Version::V2 => block_io_v2(b, &mut out),
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        hugetlb(h, hugetlb_v, &mut out)?;
    }
    if let Some(n) = r.network() {
        network(n, v, &mut out)?;
    }
    let mut rdma: Vec<_> = r.rdma().iter().flatten().collect();
    rdma.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, lim) in rdma {
        let mut parts = vec![dev.clone()];
        if let Some(h) = lim.hca_handles() {
            parts.push(format!("hca_handle={h}"));
        }
        if let Some(o) = lim.hca_objects() {
            parts.push(format!("hca_object={o}"));
        }
        out.push(w(
            "rdma",
            "rdma.max",
            parts.join(" "),
            "linux.resources.rdma",
        ));
    }
    unified(r, v, &mut out)?;
    Ok(out)
}

fn dev(major: i64, minor: i64) -> String {
    format!("{major}:{minor}")
}

fn block_io_v1(b: &LinuxBlockIo, out: &mut Vec<Write>) {
    if let Some(wt) = b.weight() {
        out.push(w(
            "blkio",
            "blkio.weight",
            wt,
            "linux.resources.blockIO.weight",
        ));
    }
    if let Some(lw) = b.leaf_weight() {
        out.push(w(
            "blkio",
            "blkio.leaf_weight",
            lw,
            "linux.resources.blockIO.leafWeight",
        ));
    }
    for d in b.weight_device().iter().flatten() {
        let field = "linux.resources.blockIO.weightDevice";
        if let Some(wt) = d.weight() {
            let v = format!("{} {wt}", dev(d.major(), d.minor()));
            out.push(w("blkio", "blkio.weight_device", v, field));
        }
        if let Some(lw) = d.leaf_weight() {
            let v = format!("{} {lw}", dev(d.major(), d.minor()));
            out.push(w("blkio", "blkio.leaf_weight_device", v, field));
        }
    }
    for (list, file, field) in throttles(b) {
        for t in list {
            let v = format!("{} {}", dev(t.major(), t.minor()), t.rate());
            out.push(w("blkio", &format!("blkio.throttle.{file}"), v, field));
        }
    }
}

fn list(v: &Option<Vec<LinuxThrottleDevice>>) -> &[LinuxThrottleDevice] {
    v.as_deref().unwrap_or_default()
}

/// The four throttle lists with their v1 file suffix and config field.
fn throttles(b: &LinuxBlockIo) -> [(&[LinuxThrottleDevice], &'static str, &'static str); 4] {
    [
        (
            list(b.throttle_read_bps_device()),
            "read_bps_device",
            "linux.resources.blockIO.throttleReadBpsDevice",
        ),
        (
            list(b.throttle_write_bps_device()),
            "write_bps_device",
            "linux.resources.blockIO.throttleWriteBpsDevice",
        ),
        (
            list(b.throttle_read_iops_device()),
            "read_iops_device",
            "linux.resources.blockIO.throttleReadIOPSDevice",
        ),
        (
            list(b.throttle_write_iops_device()),
            "write_iops_device",
            "linux.resources.blockIO.throttleWriteIOPSDevice",
        ),
    ]
}

/// blkio weight (10..1000) to io.weight (1..10000), as runc converts it.
pub fn blkio_weight_to_io(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

fn block_io_v2(b: &LinuxBlockIo, out: &mut Vec<Write>) {
    if let Some(wt) = b.weight().filter(|w| *w > 0) {
        let v = format!("default {}", blkio_weight_to_io(wt));
        out.push(w("io", "io.weight", v, "linux.resources.blockIO.weight"));
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(wt) = d.weight().filter(|w| *w > 0) {
            let v = format!("{} {}", dev(d.major(), d.minor()), blkio_weight_to_io(wt));
            out.push(w(
                "io",
                "io.weight",
                v,
                "linux.resources.blockIO.weightDevice",
            ));
        }
    }
    let keys = ["rbps", "wbps", "riops", "wiops"];
    for ((list, _, field), key) in throttles(b).into_iter().zip(keys) {
        for t in list {
            let v = format!("{} {key}={}", dev(t.major(), t.minor()), t.rate());
            out.push(w("io", "io.max", v, field));
        }
    }
}

fn hugetlb(h: &LinuxHugepageLimit, v: Version, out: &mut Vec<Write>) -> Result<()> {
    let size = h.page_size();
    let f = "linux.resources.hugepageLimits";
    if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("{f} pageSize {size:?} is not a size like 2MB");
    }
    match v {
        Version::V1 => {
            let file = format!("hugetlb.{size}.limit_in_bytes");
            out.push(w("hugetlb", &file, h.limit(), f));
        }
        Version::V2 => {
            let limit = limit_value(h.limit(), f, "max")?;
            out.push(w("hugetlb", &format!("hugetlb.{size}.max"), &limit, f));
            // Reservations are limited too where the kernel accounts them.
            let mut rsvd = w("hugetlb", &format!("hugetlb.{size}.rsvd.max"), limit, f);
            rsvd.optional = true;
            out.push(rsvd);
        }
    }
    Ok(())
}

fn network(n: &LinuxNetwork, v: Version, out: &mut Vec<Write>) -> Result<()> {
    if v == Version::V2 {
        bail!("linux.resources.network has no cgroup v2 equivalent (net_cls and net_prio are v1)");
    }
    if let Some(id) = n.class_id() {
        out.push(w(
            "net_cls",
            "net_cls.classid",
            id,
            "linux.resources.network.classID",
        ));
    }
    for p in n.priorities().iter().flatten() {
        let v = format!("{} {}", p.name(), p.priority());
        out.push(w(
            "net_prio",
            "net_prio.ifpriomap",
            v,
            "linux.resources.network.priorities",
        ));
    }
    Ok(())
}

/// `unified`: cgroup v2 files by name, written as given after the
/// structured fields (so they override them, as runc does).
fn unified(r: &LinuxResources, v: Version, out: &mut Vec<Write>) -> Result<()> {
    let Some(map) = r.unified().as_ref().filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    if v == Version::V1 {
        bail!("linux.resources.unified needs a cgroup v2 host");
    }
    let mut keys: Vec<_> = map.iter().collect();
    keys.sort();
    for (k, val) in keys {
        let ctrl = k.split_once('.').map(|(c, _)| c).unwrap_or("");
        if k.contains('/') || ctrl.is_empty() {
            bail!("linux.resources.unified key {k:?} is not a cgroup file name");
        }
        let controller: &'static str = match ctrl {
            "memory" => "memory",
            "cpu" => "cpu",
            "cpuset" => "cpuset",
            "io" => "io",
            "pids" => "pids",
            "hugetlb" => "hugetlb",
            "rdma" => "rdma",
            "misc" => "misc",
            "cgroup" => {
                bail!("linux.resources.unified key {k:?}: cgroup core files are not settable")
            }
            other => bail!("linux.resources.unified key {k:?}: unknown controller {other:?}"),
        };
        out.push(w(controller, k, val, "linux.resources.unified"));
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
    fn block_io_hugetlb_network_rdma_unified() {
        let r = res(serde_json::json!({
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}],
                        "weightDevice": [{"major": 8, "minor": 0, "weight": 10}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 1048576}],
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 1000}}
        }));
        assert_eq!(
            files(&plan(&r, None, Version::V1).unwrap()),
            vec![
                pair("blkio.weight", "500"),
                pair("blkio.weight_device", "8:0 10"),
                pair("blkio.throttle.read_bps_device", "8:0 100"),
                pair("hugetlb.2MB.limit_in_bytes", "1048576"),
                pair("rdma.max", "mlx5_1 hca_handle=3 hca_object=1000")
            ]
        );
        let v2 = plan(&r, None, Version::V2).unwrap();
        assert_eq!(
            files(&v2),
            vec![
                pair("io.weight", "default 4950"),
                pair("io.weight", "8:0 1"),
                pair("io.max", "8:0 rbps=100"),
                pair("hugetlb.2MB.max", "1048576"),
                pair("hugetlb.2MB.rsvd.max", "1048576"),
                pair("rdma.max", "mlx5_1 hca_handle=3 hca_object=1000")
            ]
        );
        assert!(v2[4].optional);
        let net = res(
            serde_json::json!({"network": {"classID": 7, "priorities": [{"name": "eth0", "priority": 3}]}}),
        );
        assert_eq!(
            files(&plan(&net, None, Version::V1).unwrap()),
            vec![
                pair("net_cls.classid", "7"),
                pair("net_prio.ifpriomap", "eth0 3")
            ]
        );
        assert!(plan(&net, None, Version::V2).is_err());
        let uni = res(serde_json::json!({"unified": {"memory.high": "1000", "cpu.weight": "7"}}));
        assert_eq!(
            files(&plan(&uni, None, Version::V2).unwrap()),
            vec![pair("cpu.weight", "7"), pair("memory.high", "1000")]
        );
        assert!(plan(&uni, None, Version::V1).is_err());
        let bad = res(serde_json::json!({"unified": {"../x": "1"}}));
        assert!(plan(&bad, None, Version::V2).is_err());
        let core = res(serde_json::json!({"unified": {"cgroup.procs": "1"}}));
        assert!(plan(&core, None, Version::V2).is_err());
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(1000), 10000);
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
