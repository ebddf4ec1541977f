//! The generated programs, run in the interpreter: every action, operator,
//! architecture rule and jump form, with 64-bit edge cases.

use super::interp::{Data, run, trace};
use super::*;
use crate::seccomp::tables::{AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, Arch};
use crate::seccomp::translate::{self, *};

fn compile(v: serde_json::Value) -> Vec<Insn> {
    let p = translate::parse(v).unwrap();
    program(&translate::plan(&p).unwrap()).unwrap()
}

fn nr(name: &str) -> u32 {
    Arch::X86_64.number(name).unwrap()
}

/// Return value of `name(args)` on x86_64.
fn call(prog: &[Insn], name: &str, args: [u64; 6]) -> u32 {
    call_raw(prog, AUDIT_ARCH_X86_64, nr(name), args)
}

fn call_raw(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    run(prog, &Data { nr, arch, args }).0
}

fn a0(v: u64) -> [u64; 6] {
    [v, 0, 0, 0, 0, 0]
}

const EPERM: u32 = RET_ERRNO | 1;

#[test]
fn every_action() {
    let cases = [
        ("SCMP_ACT_KILL", None, RET_KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", None, RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", None, RET_KILL_PROCESS),
        ("SCMP_ACT_TRAP", None, RET_TRAP),
        ("SCMP_ACT_ERRNO", None, RET_ERRNO | 1),
        ("SCMP_ACT_ERRNO", Some(38), RET_ERRNO | 38),
        ("SCMP_ACT_TRACE", None, RET_TRACE | 1),
        ("SCMP_ACT_TRACE", Some(7), RET_TRACE | 7),
        ("SCMP_ACT_LOG", None, RET_LOG),
        ("SCMP_ACT_NOTIFY", None, RET_USER_NOTIF),
    ];
    for (action, errno, want) in cases {
        let mut rule = serde_json::json!({"names": ["mkdir"], "action": action});
        if let Some(e) = errno {
            rule["errnoRet"] = e.into();
        }
        let p = compile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/x", "syscalls": [rule]}));
        assert_eq!(call(&p, "mkdir", a0(0)), want, "{action}");
        assert_eq!(call(&p, "getpid", a0(0)), RET_ALLOW, "{action}");
    }
    let p = compile(
        serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5,
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    assert_eq!(call(&p, "getpid", a0(0)), RET_ALLOW);
    assert_eq!(call(&p, "read", a0(0)), RET_ERRNO | 5);
}

/// A profile allowing `personality` when arg 0 `op` `value` (else EPERM).
fn one_cond(op: &str, value: u64, value_two: u64) -> Vec<Insn> {
    compile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "op": op, "value": value, "valueTwo": value_two}]},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}))
}

#[test]
fn operators_on_64_bit_values() {
    let hi = 1u64 << 32;
    // Values around the comparand, with the high word below, equal, above.
    let samples = [
        0,
        1,
        5,
        6,
        7,
        0xffff_ffff,
        hi,
        hi + 5,
        hi + 6,
        hi + 7,
        2 * hi,
        2 * hi + 6,
        u64::MAX,
        u64::MAX - 1,
    ];
    for v in [6, hi + 6, u64::MAX - 1, 0] {
        for (op, f) in [
            ("SCMP_CMP_EQ", (|a, b| a == b) as fn(u64, u64) -> bool),
            ("SCMP_CMP_NE", |a, b| a != b),
            ("SCMP_CMP_LT", |a, b| a < b),
            ("SCMP_CMP_LE", |a, b| a <= b),
            ("SCMP_CMP_GT", |a, b| a > b),
            ("SCMP_CMP_GE", |a, b| a >= b),
        ] {
            let p = one_cond(op, v, 0);
            for &s in &samples {
                let want = if f(s, v) { RET_ALLOW } else { EPERM };
                assert_eq!(call(&p, "personality", a0(s)), want, "{s:#x} {op} {v:#x}");
            }
        }
    }
}

#[test]
fn masked_eq_uses_both_words() {
    let mask = 0xff00_0000_0000_00f0u64;
    let p = one_cond("SCMP_CMP_MASKED_EQ", mask, 0x1200_0000_0000_0030);
    for (arg, ok) in [
        (0x1200_0000_0000_0030u64, true),
        (0x12ff_ffff_ffff_ff3f, true),
        (0x1300_0000_0000_0030, false),
        (0x1200_0000_0000_0040, false),
        (0x0000_0000_0000_0030, false),
    ] {
        let want = if ok { RET_ALLOW } else { EPERM };
        assert_eq!(call(&p, "personality", a0(arg)), want, "{arg:#x}");
    }
}

#[test]
fn narrow_abis_compare_the_low_word_only() {
    // On i386 a rule value of u64::MAX means 0xffffffff, as in libseccomp.
    let p = one_cond("SCMP_CMP_EQ", u64::MAX, 0);
    let pers = Arch::X86.number("personality").unwrap();
    assert_eq!(
        call_raw(&p, AUDIT_ARCH_I386, pers, a0(0xffff_ffff)),
        RET_ALLOW
    );
    assert_eq!(call_raw(&p, AUDIT_ARCH_I386, pers, a0(0xffff_fffe)), EPERM);
    // ... while x86_64 compares all 64 bits.
    assert_eq!(call(&p, "personality", a0(0xffff_ffff)), EPERM);
    assert_eq!(call(&p, "personality", a0(u64::MAX)), RET_ALLOW);
}

#[test]
fn conditions_and_rules() {
    let p = compile(
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        // ANDed: distinct arguments.
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [
            {"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]},
        // ORed: the same argument twice (runc's behaviour).
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]},
        // Several rules for one syscall: the first that matches decides.
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2, "args": [
            {"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3, "args": [
            {"index": 1, "value": 0o600, "op": "SCMP_CMP_GE"}]},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4}]}),
    );
    assert_eq!(call(&p, "socket", [16, 3, 9, 0, 0, 0]), RET_ERRNO | 22);
    assert_eq!(call(&p, "socket", [16, 3, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(call(&p, "socket", [2, 1, 9, 0, 0, 0]), RET_ALLOW);
    assert_eq!(call(&p, "kill", [1, 9, 0, 0, 0, 0]), EPERM);
    assert_eq!(call(&p, "kill", [1, 15, 0, 0, 0, 0]), EPERM);
    assert_eq!(call(&p, "kill", [1, 2, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(call(&p, "mkdir", [0, 0o700, 0, 0, 0, 0]), RET_ERRNO | 2);
    assert_eq!(call(&p, "mkdir", [0, 0o755, 0, 0, 0, 0]), RET_ERRNO | 3);
    assert_eq!(call(&p, "mkdir", [0, 0o500, 0, 0, 0, 0]), RET_ERRNO | 4);
}

#[test]
fn architectures() {
    let p = compile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}));
    // Each arch with its own numbers: i386 mkdir is 39 (getpid on x86_64).
    let i386_mkdir = Arch::X86.number("mkdir").unwrap();
    assert_eq!(call_raw(&p, AUDIT_ARCH_I386, i386_mkdir, a0(0)), EPERM);
    assert_eq!(
        call_raw(&p, AUDIT_ARCH_X86_64, i386_mkdir, a0(0)),
        RET_ALLOW
    );
    assert_eq!(call(&p, "mkdir", a0(0)), EPERM);
    assert_eq!(call_raw(&p, AUDIT_ARCH_AARCH64, 34, a0(0)), EPERM); // mkdirat
    // An arch not in the filter: killed, as libseccomp's default bad-arch action.
    assert_eq!(call_raw(&p, 0x4000_0028, 39, a0(0)), RET_KILL_THREAD);
    // x32 not listed: any x32 call is killed, never matched as x86_64.
    assert_eq!(
        call_raw(&p, AUDIT_ARCH_X86_64, X32 | nr("getpid"), a0(0)),
        RET_KILL_THREAD
    );
}

const X32: u32 = crate::seccomp::tables::X32_SYSCALL_BIT;

#[test]
fn x32_calls_use_the_x32_table() {
    let p = compile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getpid", "rt_sigaction", "read"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(
        call_raw(&p, AUDIT_ARCH_X86_64, X32 | nr("getpid"), a0(0)),
        RET_ALLOW
    );
    // x32's rt_sigaction is 512 | bit, not x86_64's 13.
    assert_eq!(call_raw(&p, AUDIT_ARCH_X86_64, X32 | 512, a0(0)), RET_ALLOW);
    assert_eq!(call_raw(&p, AUDIT_ARCH_X86_64, X32 | 13, a0(0)), EPERM);
    assert_eq!(call_raw(&p, AUDIT_ARCH_X86_64, 13, a0(0)), RET_ALLOW);
    // Above the highest named x32 number: ENOSYS.
    assert_eq!(
        call_raw(&p, AUDIT_ARCH_X86_64, X32 | 600, a0(0)),
        RET_ERRNO | 38
    );
    assert_eq!(
        call_raw(&p, AUDIT_ARCH_X86_64, u32::MAX, a0(0)),
        RET_ERRNO | 38
    );
}

#[test]
fn enosys_above_the_highest_named_number() {
    let p = compile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read", "write", "clone"], "action": "SCMP_ACT_ALLOW"}]}));
    let clone = nr("clone");
    assert_eq!(call_raw(&p, AUDIT_ARCH_X86_64, clone, a0(0)), RET_ALLOW);
    assert_eq!(call_raw(&p, AUDIT_ARCH_X86_64, clone - 1, a0(0)), EPERM);
    assert_eq!(call(&p, "clone3", a0(0)), RET_ERRNO | 38);
    assert_eq!(
        call_raw(&p, AUDIT_ARCH_X86_64, clone + 1, a0(0)),
        RET_ERRNO | 38
    );
    assert_eq!(
        call_raw(&p, AUDIT_ARCH_X86_64, X32 - 1, a0(0)),
        RET_ERRNO | 38
    );
    // The default still applies when a profile names nothing above.
    let p = compile(serde_json::json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(call(&p, "clone", a0(0)), RET_KILL_PROCESS);
    assert_eq!(call_raw(&p, AUDIT_ARCH_X86_64, 1000, a0(0)), RET_ERRNO | 38);
}

#[test]
fn long_jumps_are_correct() {
    // Many conditional rules make the tree's jumps exceed 255 instructions.
    let names: Vec<&str> = [
        "read",
        "write",
        "openat",
        "close",
        "mmap",
        "futex",
        "personality",
    ]
    .into_iter()
    .collect();
    let mut rules = Vec::new();
    for i in 0..60u64 {
        rules.push(
            serde_json::json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1,
            "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"},
                     {"index": 1, "value": i, "op": "SCMP_CMP_GE"}]}),
        );
    }
    rules.push(serde_json::json!({"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}));
    let p = compile(serde_json::json!({"defaultAction": "SCMP_ACT_KILL", "syscalls": rules}));
    assert!(p.len() > 600, "{}", p.len());
    assert!(p.iter().any(|i| i.code == JA && i.k > 255));
    for n in &names {
        for i in [0u64, 17, 59] {
            assert_eq!(
                call(&p, n, [i, i, 0, 0, 0, 0]),
                RET_ERRNO | (i as u32 + 1),
                "{n} {i}"
            );
        }
        assert_eq!(call(&p, n, [3, 2, 0, 0, 0, 0]), RET_KILL_THREAD, "{n}");
    }
    assert_eq!(call(&p, "getpid", a0(0)), RET_ALLOW);
}

#[test]
fn prefix_is_cacheable() {
    // On the path of a syscall without conditions there are only loads of
    // arch/nr, jumps and returns: what the kernel's action cache evaluates.
    let p = compile(
        serde_json::from_str(include_str!("../../../tests/data/podman-seccomp.json")).unwrap(),
    );
    let path = |name: &str| {
        let d = Data {
            nr: nr(name),
            arch: AUDIT_ARCH_X86_64,
            args: [0; 6],
        };
        let (ret, pcs) = trace(&p, &d);
        let simple = pcs.iter().all(|&pc| match p[pc].code {
            LD_W_ABS => p[pc].k == OFF_NR || p[pc].k == OFF_ARCH,
            JA | JEQ | JGT | JGE | RET_K => true,
            _ => false,
        });
        (ret, simple)
    };
    for name in ["read", "write", "futex", "openat", "clone", "execve"] {
        assert_eq!(path(name), (RET_ALLOW, true), "{name}");
    }
    assert_eq!(path("personality"), (RET_ALLOW, false));
    assert!(!path("socket").1);
}
