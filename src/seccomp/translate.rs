//! `linux.seccomp` → a plan: per audit architecture, the whole syscall
//! number space cut into intervals, each with what the filter must do
//! there. Pure and unit-tested; `bpf` turns the plan into instructions.
//!
//! The section is parsed from the raw JSON with nook's own types, not
//! oci-spec's: oci-spec's enums reject an unknown action, operator or flag
//! before nook can say which rule holds it, and they cannot tell an absent
//! errnoRet from one that is set on an action that takes none.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::Deserialize;

use super::tables::{Arch, X32_SYSCALL_BIT};

/// The runtime-spec's seccomp object, as written in config.json.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<SyscallEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallEntry {
    #[serde(default)]
    pub names: Vec<String>,
    pub action: String,
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<ArgEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgEntry {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// A comparison of one 64-bit syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == value_two`
    MaskedEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    pub arg: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

/// Conditions that must all hold for `action` (a SECCOMP_RET_* value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub conds: Vec<Cond>,
    pub action: u32,
}

/// What the filter does for the syscall numbers of one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leaf {
    /// Return this action, whatever the arguments.
    Ret(u32),
    /// Try the rules in order; none matching gives `fallback`.
    Rules {
        rules: Vec<Rule>,
        fallback: u32,
        /// Compare whole 64-bit arguments (else the low word only).
        wide: bool,
    },
}

/// One audit architecture: `intervals[i].0` is the first syscall number of
/// interval i, which runs to the next one's start; the first starts at 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchPlan {
    pub audit: u32,
    pub intervals: Vec<(u32, Leaf)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The native architecture first: it is checked first.
    pub arches: Vec<ArchPlan>,
    /// For a call from an architecture not in the filter.
    pub bad_arch: u32,
    /// SECCOMP_FILTER_FLAG_* bits, NEW_LISTENER included when notifying.
    pub flags: u32,
    pub notify: bool,
}

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 1 << 1;
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// Parses the raw `linux.seccomp` value; errors name the field.
pub fn parse(value: serde_json::Value) -> Result<Profile> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("linux.seccomp.{path}: {}", e.into_inner())
    })
}

/// Every action name `action` accepts (for `nook features`).
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// Every operator name `operator` accepts.
pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// Every flag name `flag` accepts, with its SECCOMP_FILTER_FLAG_* bit.
pub const FLAGS: &[(&str, u32)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", FLAG_SPEC_ALLOW),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        FLAG_WAIT_KILLABLE_RECV,
    ),
];

/// The architectures nook has syscall tables for.
pub const ARCHS: &[&str] = &[
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
];

/// An action name (plus errnoRet) → SECCOMP_RET_* value. `field` names the
/// config field for errors.
fn action(name: &str, errno: Option<u32>, field: &str, errno_field: &str) -> Result<u32> {
    let with_errno = |base: u32| -> Result<u32> {
        let e = errno.unwrap_or(EPERM);
        if e > 0xffff {
            bail!("{errno_field}: {e} does not fit in a seccomp return value");
        }
        Ok(base | e)
    };
    let ret = match name {
        // runc maps SCMP_ACT_KILL to killing the thread, as libseccomp does.
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => RET_KILL_PROCESS,
        "SCMP_ACT_TRAP" => RET_TRAP,
        "SCMP_ACT_ERRNO" => return with_errno(RET_ERRNO),
        "SCMP_ACT_TRACE" => return with_errno(RET_TRACE),
        "SCMP_ACT_ALLOW" => RET_ALLOW,
        "SCMP_ACT_LOG" => RET_LOG,
        "SCMP_ACT_NOTIFY" => RET_USER_NOTIF,
        other => bail!("{field}: unknown action {other:?}"),
    };
    if let Some(e) = errno {
        bail!(
            "{errno_field}: errno {e} is only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {name}"
        );
    }
    Ok(ret)
}

fn operator(name: &str, field: &str) -> Result<Op> {
    Ok(match name {
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
        other => bail!("{field}: unknown operator {other:?}"),
    })
}

fn flag(name: &str, field: &str) -> Result<u32> {
    match FLAGS.iter().find(|(n, _)| *n == name) {
        Some((_, bit)) => Ok(*bit),
        None => bail!("{field}: unknown flag {name:?}"),
    }
}

/// The architectures of the filter: the native one first, then the listed
/// ones in order, without repeats.
fn architectures(p: &Profile) -> Result<Vec<Arch>> {
    let mut out: Vec<Arch> = Arch::native().into_iter().collect();
    for (i, name) in p.architectures.iter().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let arch = match Arch::parse(name) {
            Ok(a) => a,
            Err(true) => bail!(
                "{field}: {name} is not supported by nook (SCMP_ARCH_X86_64, SCMP_ARCH_X86, \
                 SCMP_ARCH_X32, SCMP_ARCH_AARCH64 and SCMP_ARCH_ARM are)"
            ),
            Err(false) => bail!("{field}: unknown architecture {name:?}"),
        };
        if !out.contains(&arch) {
            out.push(arch);
        }
    }
    Ok(out)
}

/// One profile entry, checked, as rules (without the syscall numbers).
/// Conditions on distinct arguments are ANDed; when an argument index
/// repeats, runc adds every condition as a rule of its own (so all of them
/// are ORed), and so does nook.
fn entry_rules(i: usize, e: &SyscallEntry) -> Result<Vec<Rule>> {
    let field = format!("linux.seccomp.syscalls[{i}]");
    let act = action(
        &e.action,
        e.errno_ret,
        &format!("{field}.action"),
        &format!("{field}.errnoRet"),
    )?;
    // The filter is live before the listener reaches the agent: a notified
    // call on the way there would wait forever. runc refuses `write` (its
    // pipe); nook refuses it too, for the same profiles to work in both, and
    // `sendmsg`, which carries the fd over nook's sync socket.
    if act == RET_USER_NOTIF
        && let Some(n) = e.names.iter().find(|n| *n == "write" || *n == "sendmsg")
    {
        bail!(
            "{field}: SCMP_ACT_NOTIFY cannot be used for the {n} syscall (init needs it to hand the listener over)"
        );
    }
    let mut conds = Vec::new();
    let mut seen = [0u8; 6];
    for (j, a) in e.args.iter().enumerate() {
        let af = format!("{field}.args[{j}]");
        if a.index >= 6 {
            bail!(
                "{af}.index: {} is out of range (syscalls have 6 arguments, 0..5)",
                a.index
            );
        }
        seen[a.index as usize] += 1;
        conds.push(Cond {
            arg: a.index as u8,
            op: operator(&a.op, &format!("{af}.op"))?,
            value: a.value,
            value_two: a.value_two,
        });
    }
    if seen.iter().any(|&n| n > 1) {
        return Ok(conds
            .into_iter()
            .map(|c| Rule {
                conds: vec![c],
                action: act,
            })
            .collect());
    }
    Ok(vec![Rule { conds, action: act }])
}

/// Compiles and checks a profile into a plan.
pub fn plan(p: &Profile) -> Result<Plan> {
    let default = action(
        &p.default_action,
        p.default_errno_ret,
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    if default == RET_USER_NOTIF {
        bail!("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action");
    }
    let mut entries = Vec::new();
    for (i, e) in p.syscalls.iter().enumerate() {
        entries.push((e, entry_rules(i, e)?));
    }
    let notify = entries
        .iter()
        .any(|(_, r)| r.iter().any(|r| r.action == RET_USER_NOTIF));
    if notify
        && p.listener_path
            .as_ref()
            .is_none_or(|l| l.as_os_str().is_empty())
    {
        bail!("linux.seccomp: SCMP_ACT_NOTIFY is used but listenerPath is not set");
    }
    let flags = filter_flags(p, notify)?;
    let arches = architectures(p)?;
    Ok(Plan {
        arches: arch_plans(&arches, &entries, default),
        bad_arch: RET_KILL_THREAD,
        flags,
        notify,
    })
}

/// linux.seccomp.flags as SECCOMP_FILTER_FLAG_* bits for seccomp(2).
fn filter_flags(p: &Profile, notify: bool) -> Result<u32> {
    let mut flags = 0;
    for (i, f) in p.flags.iter().enumerate() {
        flags |= flag(f, &format!("linux.seccomp.flags[{i}]"))?;
    }
    if notify {
        flags |= FLAG_NEW_LISTENER;
        // TSYNC with a listener needs TSYNC_ESRCH (seccomp(2)).
        if flags & FLAG_TSYNC != 0 {
            flags |= FLAG_TSYNC_ESRCH;
        }
    } else {
        // Only meaningful for a listener; the kernel refuses it without one.
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }
    Ok(flags)
}

/// One plan per audit architecture, in the order of `arches`.
fn arch_plans(
    arches: &[Arch],
    entries: &[(&SyscallEntry, Vec<Rule>)],
    default: u32,
) -> Vec<ArchPlan> {
    let stub = enosys_stub(default);
    let part = |a: Arch| {
        arches
            .contains(&a)
            .then(|| arch_intervals(a, entries, default, stub))
    };
    let mut plans: Vec<ArchPlan> = Vec::new();
    for arch in arches {
        let audit = arch.audit();
        if plans.iter().any(|a| a.audit == audit) {
            continue;
        }
        let intervals = if audit == Arch::X86_64.audit() {
            // One audit arch, two ABIs: x32 calls have bit 30 set. An ABI
            // not in the filter gets the bad-arch action, as libseccomp does.
            let low = part(Arch::X86_64).unwrap_or_else(|| vec![(0, Leaf::Ret(RET_KILL_THREAD))]);
            let high = part(Arch::X32)
                .unwrap_or_else(|| vec![(X32_SYSCALL_BIT, Leaf::Ret(RET_KILL_THREAD))]);
            let mut all: Vec<_> = low
                .into_iter()
                .filter(|(lo, _)| *lo < X32_SYSCALL_BIT)
                .collect();
            all.extend(high);
            merge(all)
        } else {
            arch_intervals(*arch, entries, default, stub)
        };
        plans.push(ArchPlan { audit, intervals });
    }
    plans
}

/// What numbers above the highest one the profile names get: ENOSYS, so
/// that a C library falls back from a syscall newer than the profile (clone3
/// → clone), as runc's patchbpf stub does; none when the default action
/// already lets calls through or already answers ENOSYS.
fn enosys_stub(default: u32) -> Option<u32> {
    let permissive = matches!(default & 0xffff_0000, RET_ALLOW | RET_LOG | RET_TRACE);
    (!permissive && default != RET_ERRNO | ENOSYS).then_some(RET_ERRNO | ENOSYS)
}

/// The intervals of one ABI's number space, from its syscall table.
fn arch_intervals(
    arch: Arch,
    entries: &[(&SyscallEntry, Vec<Rule>)],
    default: u32,
    stub: Option<u32>,
) -> Vec<(u32, Leaf)> {
    let mut by_nr: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    let mut highest: Option<u32> = None;
    for (e, rules) in entries {
        for name in &e.names {
            let Some(nr) = arch.number(name) else {
                // Unknown here (another ABI's call, or newer than nook's
                // tables): skipped for this arch, as runc does.
                crate::logging::debug(&format!(
                    "seccomp: syscall {name:?} is unknown on {}, skipped",
                    arch.name()
                ));
                continue;
            };
            highest = highest.max(Some(nr));
            // A rule whose action is the default changes nothing; runc drops
            // it, so that it does not shadow a later rule either.
            let kept = rules.iter().filter(|r| r.action != default).cloned();
            by_nr.entry(nr).or_default().extend(kept);
        }
    }
    let base = if arch == Arch::X32 {
        X32_SYSCALL_BIT
    } else {
        0
    };
    let mut out = vec![(base, Leaf::Ret(default))];
    for (nr, rules) in by_nr {
        out.push((nr, leaf(rules, default, arch.wide_args())));
        if let Some(next) = nr.checked_add(1) {
            out.push((next, Leaf::Ret(default)));
        }
    }
    if let (Some(h), Some(ret)) = (highest, stub)
        && let Some(next) = h.checked_add(1)
    {
        out.retain(|(lo, _)| *lo <= h);
        out.push((next, Leaf::Ret(ret)));
    }
    merge(out)
}

/// The leaf of one syscall: its rules up to the first unconditional one.
fn leaf(rules: Vec<Rule>, default: u32, wide: bool) -> Leaf {
    let mut kept = Vec::new();
    for r in rules {
        if r.conds.is_empty() {
            if kept.is_empty() {
                return Leaf::Ret(r.action);
            }
            return Leaf::Rules {
                rules: kept,
                fallback: r.action,
                wide,
            };
        }
        kept.push(r);
    }
    if kept.is_empty() {
        return Leaf::Ret(default);
    }
    Leaf::Rules {
        rules: kept,
        fallback: default,
        wide,
    }
}

/// Sorts by start (the last of equal starts wins) and joins neighbours
/// with the same leaf.
fn merge(mut v: Vec<(u32, Leaf)>) -> Vec<(u32, Leaf)> {
    v.reverse();
    v.sort_by_key(|(lo, _)| *lo);
    v.dedup_by_key(|(lo, _)| *lo);
    let mut out: Vec<(u32, Leaf)> = Vec::with_capacity(v.len());
    for (lo, leaf) in v {
        if out.last().is_some_and(|(_, l)| *l == leaf) {
            continue;
        }
        out.push((lo, leaf));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn advertised_names_are_the_accepted_ones() {
        for a in super::ACTIONS {
            let errno = matches!(*a, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE").then_some(1);
            super::action(a, errno, "f", "e").unwrap();
        }
        for o in super::OPERATORS {
            super::operator(o, "f").unwrap();
        }
        for a in super::ARCHS {
            crate::seccomp::tables::Arch::parse(a).unwrap();
        }
    }

    use super::*;

    fn profile(v: serde_json::Value) -> Profile {
        parse(v).unwrap()
    }

    fn err(v: serde_json::Value) -> String {
        match parse(v) {
            Ok(p) => format!("{:#}", plan(&p).unwrap_err()),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn errors_name_the_rule() {
        let base = |s: serde_json::Value| {
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO"}, s]})
        };
        let e = err(base(
            serde_json::json!({"names": ["getpid"], "action": "SCMP_ACT_FOO"}),
        ));
        assert!(
            e.contains("linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_FOO\""),
            "{e}"
        );
        let e = err(base(
            serde_json::json!({"names": ["getpid"], "action": "SCMP_ACT_KILL", "errnoRet": 5}),
        ));
        assert!(e.contains("linux.seccomp.syscalls[1].errnoRet"), "{e}");
        let e = err(base(
            serde_json::json!({"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}),
        ));
        assert!(
            e.contains("linux.seccomp.syscalls[1].args[0].op: unknown operator \"SCMP_CMP_FOO\""),
            "{e}"
        );
        let e = err(base(
            serde_json::json!({"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
        ));
        assert!(
            e.contains("syscalls[1].args[0].index: 6 is out of range"),
            "{e}"
        );
        let e = err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "NOPE"]}),
        );
        assert!(
            e.contains("linux.seccomp.flags[1]: unknown flag \"NOPE\""),
            "{e}"
        );
        let e = err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PPC64LE"]}),
        );
        assert!(
            e.contains("architectures[0]: SCMP_ARCH_PPC64LE is not supported by nook"),
            "{e}"
        );
        let e = err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
        );
        assert!(
            e.contains("architectures[0]: unknown architecture \"SCMP_ARCH_Z80\""),
            "{e}"
        );
        let e = err(serde_json::json!({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}));
        assert!(e.contains("linux.seccomp.defaultErrnoRet"), "{e}");
        let e = err(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}));
        assert!(e.contains("cannot be the default action"), "{e}");
        let e = err(base(
            serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}),
        ));
        assert!(e.contains("listenerPath is not set"), "{e}");
        for call in ["write", "sendmsg"] {
            let mut v =
                base(serde_json::json!({"names": ["mkdir", call], "action": "SCMP_ACT_NOTIFY"}));
            v["listenerPath"] = "/x".into();
            let e = err(v);
            let want =
                format!("syscalls[1]: SCMP_ACT_NOTIFY cannot be used for the {call} syscall");
            assert!(e.contains(&want), "{e}");
        }
        let e = err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": "x", "op": "SCMP_CMP_EQ"}]}]}),
        );
        assert!(e.contains("linux.seccomp.syscalls[0].args[0].value"), "{e}");
    }

    #[test]
    fn listener_path_without_notify_is_accepted() {
        let p = profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"]}),
        );
        let plan = plan(&p).unwrap();
        assert!(!plan.notify);
        assert_eq!(plan.flags, FLAG_TSYNC);
    }

    #[test]
    fn notify_sets_listener_flags() {
        let p = profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
        );
        let plan = plan(&p).unwrap();
        assert!(plan.notify);
        assert_eq!(
            plan.flags,
            FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH | FLAG_WAIT_KILLABLE_RECV
        );
    }

    #[test]
    fn repeated_argument_index_splits_the_rule() {
        let e: SyscallEntry = serde_json::from_value(serde_json::json!({"names": ["x"],
            "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}))
        .unwrap();
        let rules = entry_rules(0, &e).unwrap();
        assert_eq!(rules.len(), 3);
        assert!(rules.iter().all(|r| r.conds.len() == 1));
        let e: SyscallEntry = serde_json::from_value(serde_json::json!({"names": ["x"],
            "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}))
        .unwrap();
        assert_eq!(entry_rules(0, &e).unwrap()[0].conds.len(), 2);
    }

    #[test]
    fn intervals_cover_the_number_space() {
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read", "write", "close"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["mkdir", "unknown_call"], "action": "SCMP_ACT_ERRNO"}]}));
        let plan = plan(&p).unwrap();
        assert_eq!(plan.arches.len(), 2);
        let x64 = &plan.arches[0];
        assert_eq!(x64.audit, Arch::X86_64.audit());
        let eperm = Leaf::Ret(RET_ERRNO | 1);
        let enosys = Leaf::Ret(RET_ERRNO | 38);
        // read, write, close are 0..=3 minus open (2); mkdir (83) is the highest named.
        assert_eq!(
            x64.intervals,
            vec![
                (0, Leaf::Ret(RET_ALLOW)),
                (2, eperm.clone()),
                (3, Leaf::Ret(RET_ALLOW)),
                (4, eperm.clone()),
                (84, enosys.clone()),
                (X32_SYSCALL_BIT, Leaf::Ret(RET_KILL_THREAD)),
            ]
        );
        let x86 = &plan.arches[1];
        assert_eq!(x86.intervals.last(), Some(&(40, enosys)));
    }

    #[test]
    fn no_stub_when_default_is_permissive_or_enosys() {
        assert_eq!(enosys_stub(RET_ALLOW), None);
        assert_eq!(enosys_stub(RET_LOG), None);
        assert_eq!(enosys_stub(RET_TRACE | 1), None);
        assert_eq!(enosys_stub(RET_ERRNO | 38), None);
        assert_eq!(enosys_stub(RET_ERRNO | 1), Some(RET_ERRNO | 38));
        assert_eq!(enosys_stub(RET_KILL_PROCESS), Some(RET_ERRNO | 38));
    }
}
