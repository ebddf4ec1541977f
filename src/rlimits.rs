//! `process.rlimits`: names checked before the clone, limits set in the
//! container's init before it drops privileges.

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{PosixRlimit, Spec};

const RESOURCES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
];

fn name(r: &PosixRlimit) -> String {
    serde_json::to_value(r.typ())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    RESOURCES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

fn list(spec: &Spec) -> Vec<PosixRlimit> {
    spec.process()
        .as_ref()
        .and_then(|p| p.rlimits().clone())
        .unwrap_or_default()
}

/// Every rlimit must be known, given once, and have soft <= hard.
pub fn validate(spec: &Spec) -> Result<()> {
    let mut seen = Vec::new();
    for (i, r) in list(spec).iter().enumerate() {
        let n = name(r);
        if resource(&n).is_none() {
            bail!("process.rlimits[{i}]: unknown rlimit type {n:?}");
        }
        if seen.contains(&n) {
            bail!("process.rlimits[{i}]: {n} is given twice");
        }
        if r.soft() > r.hard() {
            bail!(
                "process.rlimits[{i}]: {n} soft limit {} is above its hard limit {}",
                r.soft(),
                r.hard()
            );
        }
        seen.push(n);
    }
    Ok(())
}

/// Sets every rlimit on the calling process.
pub fn apply(spec: &Spec) -> Result<()> {
    for r in list(spec) {
        let n = name(&r);
        let res = resource(&n).with_context(|| format!("unknown rlimit {n}"))?;
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads a valid, initialised struct.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            let err = std::io::Error::last_os_error();
            let hint = if err.raw_os_error() == Some(libc::EPERM) {
                " (raising a hard limit needs CAP_SYS_RESOURCE)"
            } else {
                ""
            };
            bail!(
                "process.rlimits {n} soft={} hard={}: {err}{hint}",
                r.soft(),
                r.hard()
            );
        }
    }
    Ok(())
}
