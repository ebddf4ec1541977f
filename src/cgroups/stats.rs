//! `events`: the container's statistics in runc's JSON shape (what
//! containerd and Podman read), from the v1 or v2 files of its cgroups, and
//! the OOM counter that turns into `{"type":"oom"}` events.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};

/// The directory among `dirs` that has `file`: file names are unique per
/// controller, on v1 and v2 alike.
fn find(dirs: &[PathBuf], file: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(file)).find(|p| p.exists())
}

fn read(dirs: &[PathBuf], file: &str) -> Option<String> {
    find(dirs, file).and_then(|p| fs::read_to_string(p).ok())
}

/// A number; "max" (v2) reads as u64::MAX, as runc reports an unlimited value.
fn num(dirs: &[PathBuf], file: &str) -> u64 {
    match read(dirs, file).as_deref().map(str::trim) {
        Some("max") => u64::MAX,
        Some(s) => s.parse().unwrap_or(0),
        None => 0,
    }
}

/// "key value" lines (memory.stat, cpu.stat, memory.events) as a map.
fn keyed(dirs: &[PathBuf], file: &str) -> BTreeMap<String, u64> {
    read(dirs, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn is_v2(dirs: &[PathBuf]) -> bool {
    find(dirs, "cgroup.controllers").is_some() && find(dirs, "memory.limit_in_bytes").is_none()
}

/// The `data` object of a runc stats event.
pub fn stats(dirs: &[PathBuf]) -> Value {
    let v2 = is_v2(dirs);
    json!({
        "cpu": if v2 { cpu_v2(dirs) } else { cpu_v1(dirs) },
        "memory": if v2 { memory_v2(dirs) } else { memory_v1(dirs) },
        "pids": pids(dirs),
        "blkio": if v2 { blkio_v2(dirs) } else { blkio_v1(dirs) },
        "hugetlb": hugetlb(dirs, v2),
    })
}

fn cpu_v1(dirs: &[PathBuf]) -> Value {
    let percpu: Vec<u64> = read(dirs, "cpuacct.usage_percpu")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    // cpuacct.stat counts USER_HZ (100/s) ticks; runc reports nanoseconds.
    let ticks = keyed(dirs, "cpuacct.stat");
    let ns = |k: &str| ticks.get(k).copied().unwrap_or(0) * 10_000_000;
    let t = keyed(dirs, "cpu.stat");
    json!({
        "usage": {"total": num(dirs, "cpuacct.usage"), "percpu": percpu, "kernel": ns("system"), "user": ns("user")},
        "throttling": {"periods": t.get("nr_periods"), "throttled_periods": t.get("nr_throttled"), "throttled_time": t.get("throttled_time")},
    })
}

fn cpu_v2(dirs: &[PathBuf]) -> Value {
    let t = keyed(dirs, "cpu.stat");
    let us = |k: &str| t.get(k).copied().unwrap_or(0) * 1000;
    json!({
        "usage": {"total": us("usage_usec"), "kernel": us("system_usec"), "user": us("user_usec")},
        "throttling": {"periods": t.get("nr_periods"), "throttled_periods": t.get("nr_throttled"), "throttled_time": us("throttled_usec")},
    })
}

fn usage(usage: u64, max: u64, limit: u64, failcnt: u64) -> Value {
    json!({"usage": usage, "max": max, "limit": limit, "failcnt": failcnt})
}

fn memory_v1(dirs: &[PathBuf]) -> Value {
    let raw = keyed(dirs, "memory.stat");
    let m = |f: &str| num(dirs, &format!("memory.{f}"));
    json!({
        "cache": raw.get("cache").copied().unwrap_or(0),
        "usage": usage(m("usage_in_bytes"), m("max_usage_in_bytes"), m("limit_in_bytes"), m("failcnt")),
        "swap": usage(m("memsw.usage_in_bytes"), m("memsw.max_usage_in_bytes"), m("memsw.limit_in_bytes"), m("memsw.failcnt")),
        "kernel": usage(m("kmem.usage_in_bytes"), m("kmem.max_usage_in_bytes"), m("kmem.limit_in_bytes"), m("kmem.failcnt")),
        "kernelTCP": usage(m("kmem.tcp.usage_in_bytes"), m("kmem.tcp.max_usage_in_bytes"), m("kmem.tcp.limit_in_bytes"), m("kmem.tcp.failcnt")),
        "raw": raw,
    })
}

fn memory_v2(dirs: &[PathBuf]) -> Value {
    let raw = keyed(dirs, "memory.stat");
    let events = keyed(dirs, "memory.events");
    let m = |f: &str| num(dirs, &format!("memory.{f}"));
    json!({
        "cache": raw.get("file").copied().unwrap_or(0),
        "usage": usage(m("current"), m("peak"), m("max"), events.get("max").copied().unwrap_or(0)),
        "swap": usage(m("swap.current"), m("swap.peak"), m("swap.max"), 0),
        "raw": raw,
    })
}

fn pids(dirs: &[PathBuf]) -> Value {
    // runc reports an unlimited pids.max as 0.
    let limit = match num(dirs, "pids.max") {
        u64::MAX => 0,
        n => n,
    };
    json!({"current": num(dirs, "pids.current"), "limit": limit})
}

/// "maj:min Op value" lines (v1 blkio) as runc's entries.
fn blkio_entries(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(json!({"major": major.parse::<u64>().ok()?, "minor": minor.parse::<u64>().ok()?, "op": op, "value": value.parse::<u64>().ok()?}))
        })
        .collect()
}

fn blkio_v1(dirs: &[PathBuf]) -> Value {
    let entries = |f: &str| blkio_entries(&read(dirs, f).unwrap_or_default());
    json!({
        "ioServiceBytesRecursive": entries("blkio.throttle.io_service_bytes_recursive"),
        "ioServicedRecursive": entries("blkio.throttle.io_serviced_recursive"),
    })
}

fn blkio_v2(dirs: &[PathBuf]) -> Value {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in read(dirs, "io.stat").unwrap_or_default().lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(json!({"major": major, "minor": minor, "op": op, "value": value}));
        }
    }
    json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios})
}

fn hugetlb(dirs: &[PathBuf], v2: bool) -> Value {
    let mut out = serde_json::Map::new();
    let Ok(entries) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Value::Object(out);
    };
    for e in entries.flatten() {
        // hugepages-2048kB → 2MB, as the cgroup files name it.
        let name = e.file_name().to_string_lossy().to_string();
        let Some(kb) = name
            .strip_prefix("hugepages-")
            .and_then(|s| s.strip_suffix("kB"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let size = page_size_name(kb);
        let h = |f: &str| num(dirs, &format!("hugetlb.{size}.{f}"));
        let stat = if v2 {
            let events = keyed(dirs, &format!("hugetlb.{size}.events"));
            json!({"usage": h("current"), "max": 0, "failcnt": events.get("max").copied().unwrap_or(0)})
        } else {
            json!({"usage": h("usage_in_bytes"), "max": h("max_usage_in_bytes"), "failcnt": h("failcnt")})
        };
        out.insert(size, stat);
    }
    Value::Object(out)
}

fn page_size_name(kb: u64) -> String {
    if kb >= 1 << 20 {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

/// How many times the kernel OOM-killed in the container's memory cgroup.
pub fn oom_kills(dirs: &[PathBuf]) -> u64 {
    let v1 = keyed(dirs, "memory.oom_control");
    if let Some(n) = v1.get("oom_kill") {
        return *n;
    }
    keyed(dirs, "memory.events")
        .get("oom_kill")
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_lines_and_page_sizes() {
        let e = blkio_entries("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0]["op"], "Read");
        assert_eq!(e[0]["value"], 4096);
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1 << 20), "1GB");
        assert_eq!(page_size_name(64), "64KB");
    }

    #[test]
    fn missing_files_read_as_zero() {
        let dirs = [PathBuf::from("/nonexistent")];
        assert_eq!(num(&dirs, "pids.current"), 0);
        assert_eq!(pids(&dirs)["limit"], 0);
    }
}
