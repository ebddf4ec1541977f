//! How many BPF instructions a syscall costs under Podman's default profile
//! (tests/data/podman-seccomp.json), counted by the test interpreter.
//! `make bench` prints it (scripts/bench.sh runs this test with
//! --nocapture). For comparison, runc 1.5 with libseccomp's binary tree
//! averages about 22 instructions (at most 32), a linear filter about 300.

use super::bpf::interp::{Data, run};
use super::tables::{AUDIT_ARCH_X86_64, Arch};

fn podman() -> Vec<super::bpf::Insn> {
    let text = include_str!("../../tests/data/podman-seccomp.json");
    let plan = super::translate::plan(
        &super::translate::parse(serde_json::from_str(text).unwrap()).unwrap(),
    )
    .unwrap();
    super::bpf::program(&plan).unwrap()
}

fn count(prog: &[super::bpf::Insn], nr: u32) -> usize {
    let d = Data {
        nr,
        arch: AUDIT_ARCH_X86_64,
        args: [0; 6],
    };
    run(prog, &d).1
}

#[test]
fn podman_profile_instruction_counts() {
    let prog = podman();
    // Every x86_64 syscall the kernel has (args 0).
    let counts: Vec<usize> = Arch::X86_64.numbers().map(|n| count(&prog, n)).collect();
    let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
    let worst = *counts.iter().max().unwrap();
    println!(
        "seccomp (Podman 4.3 default profile, {} instructions): {} x86_64 syscalls: \
         mean {mean:.1}, max {worst} BPF instructions per syscall",
        prog.len(),
        counts.len()
    );
    for name in ["read", "write", "futex", "openat", "personality"] {
        let n = Arch::X86_64.number(name).unwrap();
        println!("  {name:<12} {} instructions", count(&prog, n));
    }
    assert!(
        mean < 22.0,
        "mean {mean} is not better than libseccomp's 22"
    );
}
