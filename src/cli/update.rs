//! `nook update`: new resource limits for a running container, from runc's
//! flags or a LinuxResources JSON document (`--resources FILE`, `-` = stdin).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::args::UpdateArgs;
use nook::container::lifecycle;

pub fn run(root: &Path, a: &UpdateArgs) -> Result<()> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported");
    }
    let mut doc = match &a.resources {
        Some(file) => read_resources(file)?,
        None => json!({}),
    };
    merge_flags(&mut doc, a)?;
    lifecycle::update(root, &a.id, &doc)
}

fn read_resources(file: &str) -> Result<Value> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("--resources -: read stdin")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("--resources {file}"))?;
    }
    serde_json::from_str(&text).with_context(|| format!("--resources {file}: invalid JSON"))
}

/// Flags override the document, field by field.
fn merge_flags(doc: &mut Value, a: &UpdateArgs) -> Result<()> {
    let mut set = |section: &str, key: &str, v: Value| {
        let obj = doc.as_object_mut().expect("resources is an object");
        let s = obj
            .entry(section)
            .or_insert_with(|| Value::Object(Map::new()));
        s[key] = v;
    };
    let bytes = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|s| parse_bytes(s).with_context(|| format!("--{flag} {s:?}")))
            .transpose()
    };
    for (flag, key, v) in [
        ("memory", "limit", &a.memory),
        ("memory-reservation", "reservation", &a.memory_reservation),
        ("memory-swap", "swap", &a.memory_swap),
        ("kernel-memory", "kernel", &a.kernel_memory),
        ("kernel-memory-tcp", "kernelTCP", &a.kernel_memory_tcp),
    ] {
        if let Some(n) = bytes(flag, v)? {
            set("memory", key, json!(n));
        }
    }
    let cpu: [(&str, Option<Value>); 7] = [
        ("period", a.cpu_period.map(Value::from)),
        ("quota", a.cpu_quota.map(Value::from)),
        ("shares", a.cpu_share.map(Value::from)),
        ("realtimePeriod", a.cpu_rt_period.map(Value::from)),
        ("realtimeRuntime", a.cpu_rt_runtime.map(Value::from)),
        ("cpus", a.cpuset_cpus.clone().map(Value::from)),
        ("mems", a.cpuset_mems.clone().map(Value::from)),
    ];
    for (key, v) in cpu {
        if let Some(v) = v {
            set("cpu", key, v);
        }
    }
    if let Some(p) = a.pids_limit {
        set("pids", "limit", json!(p));
    }
    if let Some(w) = a.blkio_weight {
        set("blockIO", "weight", json!(w));
    }
    Ok(())
}

/// "100M", "1g", "512k", "4096", "-1": binary multiples, as runc reads them.
fn parse_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let unit = unit.trim().trim_end_matches('b').trim_end_matches('i');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("unknown size unit"),
    };
    let n: f64 = num.parse().context("not a size")?;
    Ok((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_runc() {
        assert_eq!(parse_bytes("100M").unwrap(), 104_857_600);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512kb").unwrap(), 524_288);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("12x").is_err());
    }

    #[test]
    fn flags_override_the_document() {
        let a = UpdateArgs {
            memory: Some("1m".into()),
            pids_limit: Some(7),
            cpu_quota: Some(-1),
            ..Default::default()
        };
        let mut doc = json!({"memory": {"limit": 5, "reservation": 3}});
        merge_flags(&mut doc, &a).unwrap();
        assert_eq!(doc["memory"]["limit"], 1_048_576);
        assert_eq!(doc["memory"]["reservation"], 3);
        assert_eq!(doc["pids"]["limit"], 7);
        assert_eq!(doc["cpu"]["quota"], -1);
    }
}
