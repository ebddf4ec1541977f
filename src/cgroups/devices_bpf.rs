//! Device rules on cgroup v2: there are no devices files, so access is
//! decided by a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
//! container's cgroup. nook emits the few instructions it needs itself
//! (libcgroups does this only behind its optional libbpf/rbpf feature).
//!
//! Semantics are v1's: the rules apply in order and the last one that
//! matches decides; a device no rule matches is denied. The program checks
//! the rules from the last to the first and returns at the first match.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// One rule: None fields match anything; `access` is BPF_DEVCG_ACC_* bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// BPF_DEVCG_DEV_BLOCK (1) or BPF_DEVCG_DEV_CHAR (2).
    pub typ: Option<u32>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

/// Parses "rwm" into BPF_DEVCG_ACC_{READ,WRITE,MKNOD} bits.
pub fn access_bits(s: &str) -> Result<u32> {
    let mut bits = 0;
    for c in s.chars() {
        bits |= match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            other => bail!("unknown device access {other:?} (want r, w, m)"),
        };
    }
    Ok(bits)
}

#[derive(Clone, Copy)]
struct Insn(u8, u8, i16, i32);

const R0: u8 = 0;
const R1: u8 = 1;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;
const R7: u8 = 7;
const R8: u8 = 8;

fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    Insn(0x61, dst | (src << 4), off, 0)
}
fn mov_reg(dst: u8, src: u8) -> Insn {
    Insn(0xbf, dst | (src << 4), 0, 0)
}
fn mov_imm(dst: u8, imm: i32) -> Insn {
    Insn(0xb7, dst, 0, imm)
}
fn and_imm(dst: u8, imm: i32) -> Insn {
    Insn(0x57, dst, 0, imm)
}
fn rsh_imm(dst: u8, imm: i32) -> Insn {
    Insn(0x77, dst, 0, imm)
}
fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
    Insn(0x55, dst, off, imm)
}
fn exit() -> Insn {
    Insn(0x95, 0, 0, 0)
}

/// The program as 8-byte instructions (struct bpf_insn).
pub fn program(rules: &[Rule]) -> Vec<u64> {
    let mut p = vec![
        ldx_w(R6, R1, 0), // access_type = (access << 16) | type
        mov_reg(R7, R6),
        and_imm(R7, 0xffff), // r7 = type
        mov_reg(R8, R6),
        rsh_imm(R8, 16),  // r8 = access asked for
        ldx_w(R4, R1, 4), // major
        ldx_w(R5, R1, 8), // minor
    ];
    for r in rules.iter().rev() {
        // Each test jumps past the rest of this rule's block when it fails.
        let mut tests: Vec<(u8, i32, bool)> = Vec::new();
        if let Some(t) = r.typ {
            tests.push((R7, t as i32, false));
        }
        if r.access & 7 != 7 {
            tests.push((R0, !(r.access as i32), true));
        }
        if let Some(m) = r.major {
            tests.push((R4, m as i32, false));
        }
        if let Some(m) = r.minor {
            tests.push((R5, m as i32, false));
        }
        let mut block = Vec::new();
        for (reg, imm, is_access) in tests {
            if is_access {
                block.push(mov_reg(R0, R8));
                block.push(and_imm(R0, imm));
                block.push(jne_imm(R0, 0, 0));
            } else {
                block.push(jne_imm(reg, imm, 0));
            }
        }
        block.push(mov_imm(R0, i32::from(r.allow)));
        block.push(exit());
        let len = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if insn.0 == 0x55 {
                insn.2 = (len - i - 1) as i16;
            }
        }
        let catch_all = len == 2;
        p.extend(block);
        // A rule that matches every device ends the program: the verifier
        // refuses code that cannot be reached.
        if catch_all {
            return encode(p);
        }
    }
    p.push(mov_imm(R0, 0));
    p.push(exit());
    encode(p)
}

fn encode(p: Vec<Insn>) -> Vec<u64> {
    p.into_iter()
        .map(|Insn(code, regs, off, imm)| {
            u64::from(code)
                | (u64::from(regs) << 8)
                | (u64::from(off as u16) << 16)
                | (u64::from(imm as u32) << 32)
        })
        .collect()
}

fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> std::io::Result<i64> {
    // SAFETY: bpf(2) reads (and for some commands writes) a zero-padded attr
    // union of the given size that lives for the whole call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

fn put_u32(a: &mut [u8; 128], at: usize, v: u32) {
    a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(a: &mut [u8; 128], at: usize, v: u64) {
    a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Loads the program for `rules` and attaches it to the cgroup v2 `dir`.
pub fn attach(dir: &Path, rules: &[Rule]) -> Result<()> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    let insns = program(rules);
    let license = c"Apache-2.0";
    let load = |log: &mut [u8]| -> std::io::Result<i64> {
        let mut attr = [0u8; 128];
        put_u32(&mut attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE);
        put_u32(&mut attr, 4, insns.len() as u32);
        put_u64(&mut attr, 8, insns.as_ptr() as u64);
        put_u64(&mut attr, 16, license.as_ptr() as u64);
        if !log.is_empty() {
            put_u32(&mut attr, 24, 1); // log_level
            put_u32(&mut attr, 28, log.len() as u32);
            put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
        }
        put_u32(&mut attr, 68, BPF_CGROUP_DEVICE); // expected_attach_type
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    // Without a log first (a log that overflows is itself an error); on a
    // failure, once more with the verifier's log for the message.
    let prog = load(&mut []).map_err(|e| {
        let mut log = vec![0u8; 1 << 16];
        let _ = load(&mut log);
        let text = String::from_utf8_lossy(&log);
        let last = text
            .trim_end_matches('\0')
            .trim()
            .lines()
            .last()
            .unwrap_or("")
            .to_string();
        anyhow::anyhow!("load the cgroup v2 device program: {e}: {last}")
    })?;
    // SAFETY: the kernel returned a new program fd that nothing else owns.
    let prog = unsafe { OwnedFd::from_raw_fd(prog as i32) };
    let cg = std::fs::File::open(dir).with_context(|| format!("open {}", dir.display()))?;
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, cg.as_raw_fd() as u32);
    put_u32(&mut attr, 4, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 8, BPF_CGROUP_DEVICE);
    put_u32(&mut attr, 12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut attr)
        .with_context(|| format!("attach the device program to {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_and_layout() {
        assert_eq!(access_bits("rwm").unwrap(), 7);
        assert_eq!(access_bits("r").unwrap(), 2);
        assert!(access_bits("x").is_err());
        let deny_all = Rule {
            allow: false,
            typ: None,
            major: None,
            minor: None,
            access: 7,
        };
        let null = Rule {
            allow: true,
            typ: Some(2),
            major: Some(1),
            minor: Some(3),
            access: 6,
        };
        let p = program(&[deny_all, null.clone()]);
        // 7 prologue + null (type, access x3, major, minor, mov, exit = 8)
        // + deny-all (mov, exit), which ends the program.
        assert_eq!(p.len(), 7 + 8 + 2);
        let no_catch_all = program(&[null]);
        assert_eq!(no_catch_all.len(), 7 + 8 + 2);
        // The first test of the null rule skips its 7 remaining instructions.
        let first = p[7];
        assert_eq!(first & 0xff, 0x55);
        assert_eq!((first >> 16) & 0xffff, 7);
        assert_eq!(*p.last().unwrap() & 0xff, 0x95);
    }
}
