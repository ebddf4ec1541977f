//! Per-process kernel attributes from the spec, set by init just before it
//! runs the program: I/O priority, scheduling policy, execution domain
//! (personality) and NUMA memory policy. All are inherited across execve.

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Spec};
use serde::Deserialize;

/// The serde name of a spec enum value, for messages and tables.
fn json_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `process.ioPriority` → ioprio_set(IOPRIO_WHO_PROCESS, self).
pub fn apply_io_priority(process: &Process) -> Result<()> {
    let Some(io) = process.io_priority() else {
        return Ok(());
    };
    let class: i64 = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&io.priority()) {
        bail!(
            "process.ioPriority.priority {} is out of range 0..7",
            io.priority()
        );
    }
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let value = (class << 13) | io.priority();
    // SAFETY: ioprio_set takes three integers.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("process.ioPriority: ioprio_set");
    }
    Ok(())
}

/// struct sched_attr of sched_setattr(2), version 1 (with util clamps).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn policy_number(p: LinuxSchedulerPolicy) -> Result<u32> {
    Ok(match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
        LinuxSchedulerPolicy::SchedIso => {
            bail!("process.scheduler.policy SCHED_ISO is not implemented by Linux")
        }
    })
}

fn flag_bit(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// Checks `process.scheduler` as sched_setattr(2) would, before any fork.
pub fn validate_scheduler(process: &Process) -> Result<()> {
    let Some(s) = process.scheduler() else {
        return Ok(());
    };
    let policy = policy_number(*s.policy())?;
    let realtime = matches!(policy, 1 | 2);
    let prio = (*s.priority()).unwrap_or(0);
    if realtime && !(1..=99).contains(&prio) {
        bail!(
            "process.scheduler.priority {prio} must be 1..99 for {}",
            json_name(s.policy())
        );
    }
    if !realtime && prio != 0 {
        bail!(
            "process.scheduler.priority must be 0 for {}",
            json_name(s.policy())
        );
    }
    if let Some(n) = (*s.nice())
        && !(-20..=19).contains(&n)
    {
        bail!("process.scheduler.nice {n} is out of range -20..19");
    }
    if policy == 6 {
        let (r, d, p) = (
            (*s.runtime()).unwrap_or(0),
            (*s.deadline()).unwrap_or(0),
            (*s.period()).unwrap_or(0),
        );
        if r == 0 || r > d || (p != 0 && d > p) {
            bail!("process.scheduler: SCHED_DEADLINE needs 0 < runtime <= deadline <= period");
        }
    }
    Ok(())
}

/// `process.scheduler` → sched_setattr on init itself (kept across exec).
/// Runs before capabilities are dropped: real-time policies need CAP_SYS_NICE.
pub fn apply_scheduler(process: &Process) -> Result<()> {
    let Some(s) = process.scheduler() else {
        return Ok(());
    };
    let mut attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy_number(*s.policy())?,
        nice: (*s.nice()).unwrap_or(0),
        priority: (*s.priority()).unwrap_or(0) as u32,
        runtime: (*s.runtime()).unwrap_or(0),
        deadline: (*s.deadline()).unwrap_or(0),
        period: (*s.period()).unwrap_or(0),
        ..Default::default()
    };
    for f in s.flags().iter().flatten() {
        attr.flags |= flag_bit(*f);
    }
    // SAFETY: sched_setattr reads `size` bytes of a valid, initialised struct.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| {
            format!(
                "process.scheduler: sched_setattr({})",
                json_name(s.policy())
            )
        });
    }
    Ok(())
}

/// `linux.personality`: the execution domain (LINUX, LINUX32) and flags.
pub fn personality_value(spec: &Spec) -> Result<Option<libc::c_ulong>> {
    let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) else {
        return Ok(None);
    };
    let mut value: libc::c_ulong = match json_name(&p.domain()).as_str() {
        "LINUX" => 0x0000,
        "LINUX32" => 0x0008,
        other => bail!("linux.personality.domain {other:?} is not LINUX or LINUX32"),
    };
    for f in p.flags().iter().flatten() {
        value |= match f.as_str() {
            "UNAME26" => 0x0020000,
            "ADDR_NO_RANDOMIZE" => 0x0040000,
            "FDPIC_FUNCPTRS" => 0x0080000,
            "MMAP_PAGE_ZERO" => 0x0100000,
            "ADDR_COMPAT_LAYOUT" => 0x0200000,
            "READ_IMPLIES_EXEC" => 0x0400000,
            "ADDR_LIMIT_32BIT" => 0x0800000,
            "SHORT_INODE" => 0x1000000,
            "WHOLE_SECONDS" => 0x2000000,
            "STICKY_TIMEOUTS" => 0x4000000,
            "ADDR_LIMIT_3GB" => 0x8000000,
            other => bail!("linux.personality.flags: unknown flag {other:?}"),
        };
    }
    Ok(Some(value))
}

/// Sets the personality; runs last before execve.
pub fn apply_personality(spec: &Spec) -> Result<()> {
    if let Some(v) = personality_value(spec)? {
        // SAFETY: personality takes one integer.
        if unsafe { libc::personality(v) } == -1 {
            return Err(std::io::Error::last_os_error()).context("linux.personality");
        }
    }
    Ok(())
}

/// `linux.memoryPolicy`, read from the raw config: oci-spec 0.10 lacks
/// MPOL_LOCAL, so nook parses this field itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MemoryPolicy {
    pub mode: String,
    #[serde(default)]
    pub nodes: Option<String>,
    #[serde(default)]
    pub flags: Option<Vec<String>>,
}

/// Memory policy modes by name, with their set_mempolicy(2) values.
pub const MPOL_MODES: &[(&str, libc::c_int)] = &[
    ("MPOL_DEFAULT", 0),
    ("MPOL_PREFERRED", 1),
    ("MPOL_BIND", 2),
    ("MPOL_INTERLEAVE", 3),
    ("MPOL_LOCAL", 4),
    ("MPOL_PREFERRED_MANY", 5),
    ("MPOL_WEIGHTED_INTERLEAVE", 6),
];

/// Mode flags by name, with the bits they add to the mode.
pub const MPOL_FLAGS: &[(&str, libc::c_int)] = &[
    ("MPOL_F_NUMA_BALANCING", 1 << 13),
    ("MPOL_F_RELATIVE_NODES", 1 << 14),
    ("MPOL_F_STATIC_NODES", 1 << 15),
];

fn lookup(table: &[(&str, libc::c_int)], name: &str) -> Option<libc::c_int> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The policy as set_mempolicy(2) arguments: mode|flags and a node mask.
pub struct MemoryPolicyArgs {
    mode: libc::c_int,
    mask: Vec<libc::c_ulong>,
}

impl MemoryPolicy {
    /// Checks the policy and turns it into syscall arguments.
    pub fn to_args(&self) -> Result<MemoryPolicyArgs> {
        let mode = lookup(MPOL_MODES, &self.mode)
            .with_context(|| format!("linux.memoryPolicy.mode {:?} is unknown", self.mode))?;
        let nodes = self
            .nodes
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        match (mode, nodes) {
            (0 | 4, Some(_)) => bail!("linux.memoryPolicy: {} takes no nodes", self.mode),
            (2 | 3 | 5 | 6, None) => bail!("linux.memoryPolicy: {} needs nodes", self.mode),
            _ => {}
        }
        let mut flags = 0;
        for f in self.flags.iter().flatten() {
            flags |= lookup(MPOL_FLAGS, f)
                .with_context(|| format!("linux.memoryPolicy.flags: unknown flag {f:?}"))?;
        }
        let mask = match nodes {
            Some(n) => node_mask(n).with_context(|| format!("linux.memoryPolicy.nodes {n:?}"))?,
            None => Vec::new(),
        };
        Ok(MemoryPolicyArgs {
            mode: mode | flags,
            mask,
        })
    }
}

/// "0-3,7" → a bitmask of unsigned longs.
fn node_mask(list: &str) -> Result<Vec<libc::c_ulong>> {
    const MAX_NODE: u32 = 4095;
    let bits = libc::c_ulong::BITS;
    let mut mask: Vec<libc::c_ulong> = Vec::new();
    for part in list.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>()?, b.trim().parse::<u32>()?),
            None => {
                let n = part.trim().parse::<u32>()?;
                (n, n)
            }
        };
        if a > b || b > MAX_NODE {
            bail!("bad node range {part:?}");
        }
        for n in a..=b {
            let word = (n / bits) as usize;
            if mask.len() <= word {
                mask.resize(word + 1, 0);
            }
            mask[word] |= 1 << (n % bits);
        }
    }
    Ok(mask)
}

/// set_mempolicy(2) on init itself; the policy is inherited across execve.
pub fn apply_memory_policy(policy: Option<&MemoryPolicy>) -> Result<()> {
    let Some(p) = policy else { return Ok(()) };
    let args = p.to_args()?;
    let maxnode = (args.mask.len() as libc::c_ulong) * libc::c_ulong::from(libc::c_ulong::BITS) + 1;
    let ptr = if args.mask.is_empty() {
        std::ptr::null()
    } else {
        args.mask.as_ptr()
    };
    // SAFETY: set_mempolicy reads `maxnode - 1` bits from a valid mask (or none).
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, args.mode, ptr, maxnode) };
    if r != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("linux.memoryPolicy: set_mempolicy({})", p.mode));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: &str, nodes: Option<&str>, flags: &[&str]) -> MemoryPolicy {
        MemoryPolicy {
            mode: mode.into(),
            nodes: nodes.map(Into::into),
            flags: Some(flags.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn memory_policy_arguments() {
        let a = policy("MPOL_BIND", Some("0-2,5"), &["MPOL_F_STATIC_NODES"])
            .to_args()
            .unwrap();
        assert_eq!(a.mode, 2 | (1 << 15));
        assert_eq!(a.mask, vec![0b100111]);
        assert!(policy("MPOL_LOCAL", None, &[]).to_args().is_ok());
        assert!(policy("MPOL_LOCAL", Some("0"), &[]).to_args().is_err());
        assert!(policy("MPOL_BIND", None, &[]).to_args().is_err());
        assert!(policy("MPOL_NOPE", None, &[]).to_args().is_err());
        assert!(policy("MPOL_BIND", Some("3-1"), &[]).to_args().is_err());
        let big = policy("MPOL_INTERLEAVE", Some("64"), &[])
            .to_args()
            .unwrap();
        assert_eq!(big.mask, vec![0, 1]);
    }

    #[test]
    fn personality_flags() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {"personality": {"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}}
        }))
        .unwrap();
        assert_eq!(personality_value(&spec).unwrap(), Some(0x0008 | 0x0040000));
    }
}
