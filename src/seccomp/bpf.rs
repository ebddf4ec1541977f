//! The plan as a classic BPF program for SECCOMP_SET_MODE_FILTER.
//!
//! Layout: load `arch`, one `jeq` per architecture (native first), the
//! bad-arch return; then per architecture, load `nr` and a binary decision
//! tree of `jge` over the plan's intervals, ending in a `ret` or, for the
//! few syscalls with argument conditions, in their rules. Everything up to
//! an unconditional return only loads `arch`/`nr`, jumps and returns, so the
//! kernel's action cache (5.11+) proves such syscalls always allowed and
//! skips the filter for them.
//!
//! Jumps go to labels; the assembler turns a conditional jump whose target
//! is beyond the 8-bit offset into a short jump over `ja` (32-bit offset).

use anyhow::{Result, bail};

use super::translate::{ArchPlan, Cond, Leaf, Op, Plan};

pub use libc::sock_filter as Insn;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const ALU_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets into struct seccomp_data.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Next,
    Label(usize),
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Label(usize),
    Stmt(u16, u32),
    Jump(u16, u32, Target, Target),
}

#[derive(Default)]
struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn place(&mut self, l: usize) {
        self.items.push(Item::Label(l));
    }
    fn load(&mut self, off: u32) {
        self.items.push(Item::Stmt(LD_W_ABS, off));
    }
    fn and(&mut self, k: u32) {
        self.items.push(Item::Stmt(ALU_AND_K, k));
    }
    fn ret(&mut self, k: u32) {
        self.items.push(Item::Stmt(RET_K, k));
    }
    fn jump(&mut self, op: u16, k: u32, jt: Target, jf: Target) {
        self.items.push(Item::Jump(op, k, jt, jf));
    }

    /// Lays the items out, widening too-long jumps until every offset fits.
    fn assemble(&self) -> Result<Vec<Insn>> {
        let mut long = vec![false; self.items.len()];
        loop {
            let (pos, labels) = self.layout(&long);
            let mut changed = false;
            for (i, item) in self.items.iter().enumerate() {
                if let Item::Jump(_, _, jt, jf) = *item
                    && !long[i]
                {
                    let far = |t: Target| match t {
                        Target::Next => false,
                        Target::Label(l) => labels[l] - (pos[i] + 1) > 255,
                    };
                    if far(jt) || far(jf) {
                        long[i] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                return self.emit(&long, &pos, &labels);
            }
        }
    }

    /// Position of each item and each label for the given jump widths.
    fn layout(&self, long: &[bool]) -> (Vec<usize>, Vec<usize>) {
        let mut pos = Vec::with_capacity(self.items.len());
        let mut labels = vec![usize::MAX; self.labels];
        let mut at = 0;
        for (i, item) in self.items.iter().enumerate() {
            pos.push(at);
            at += match item {
                Item::Label(l) => {
                    labels[*l] = at;
                    0
                }
                Item::Jump(..) if long[i] => 3,
                _ => 1,
            };
        }
        (pos, labels)
    }

    fn emit(&self, long: &[bool], pos: &[usize], labels: &[usize]) -> Result<Vec<Insn>> {
        let insn = |code: u16, jt: u8, jf: u8, k: u32| Insn { code, jt, jf, k };
        let mut out = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            let next = pos[i] + if long[i] { 3 } else { 1 };
            let dest = |t: Target| match t {
                Target::Next => next,
                Target::Label(l) => labels[l],
            };
            match *item {
                Item::Label(_) => {}
                Item::Stmt(code, k) => out.push(insn(code, 0, 0, k)),
                Item::Jump(op, k, jt, jf) if !long[i] => {
                    let off = |t| (dest(t) - pos[i] - 1) as u8;
                    out.push(insn(op, off(jt), off(jf), k));
                }
                Item::Jump(op, k, jt, jf) => {
                    out.push(insn(op, 0, 1, k));
                    out.push(insn(JA, 0, 0, (dest(jt) - pos[i] - 2) as u32));
                    out.push(insn(JA, 0, 0, (dest(jf) - pos[i] - 3) as u32));
                }
            }
        }
        if out.len() > MAX_INSNS {
            bail!(
                "the filter needs {} BPF instructions, more than the kernel's limit of {MAX_INSNS}",
                out.len()
            );
        }
        Ok(out)
    }
}

/// The whole program for a plan.
pub fn program(plan: &Plan) -> Result<Vec<Insn>> {
    let mut a = Asm::default();
    a.load(OFF_ARCH);
    let sections: Vec<usize> = plan.arches.iter().map(|_| a.label()).collect();
    for (arch, l) in plan.arches.iter().zip(&sections) {
        a.jump(JEQ, arch.audit, Target::Label(*l), Target::Next);
    }
    a.ret(plan.bad_arch);
    for (arch, l) in plan.arches.iter().zip(&sections) {
        a.place(*l);
        arch_section(&mut a, arch);
    }
    a.assemble()
}

fn arch_section(a: &mut Asm, arch: &ArchPlan) {
    a.load(OFF_NR);
    tree(a, &arch.intervals);
}

/// A balanced binary search over interval starts: `jge` to the right half,
/// fall through to the left one.
fn tree(a: &mut Asm, iv: &[(u32, Leaf)]) {
    if iv.len() == 1 {
        return leaf(a, &iv[0].1);
    }
    let mid = iv.len() / 2;
    let right = a.label();
    a.jump(JGE, iv[mid].0, Target::Label(right), Target::Next);
    tree(a, &iv[..mid]);
    a.place(right);
    tree(a, &iv[mid..]);
}

fn leaf(a: &mut Asm, leaf: &Leaf) {
    match leaf {
        Leaf::Ret(k) => a.ret(*k),
        Leaf::Rules {
            rules,
            fallback,
            wide,
        } => {
            for r in rules {
                let fail = a.label();
                for c in &r.conds {
                    cond(a, c, *wide, fail);
                }
                a.ret(r.action);
                a.place(fail);
            }
            a.ret(*fallback);
        }
    }
}

/// Offsets of the low and high 32-bit words of argument `i`.
fn arg_words(i: u8) -> (u32, u32) {
    let base = OFF_ARGS + 8 * u32::from(i);
    if cfg!(target_endian = "little") {
        (base, base + 4)
    } else {
        (base + 4, base)
    }
}

/// Falls through when the condition holds, jumps to `fail` otherwise.
/// 64-bit comparisons are unsigned: the high words decide unless they are
/// equal, then the low words do. On 32-bit ABIs only the low word counts.
fn cond(a: &mut Asm, c: &Cond, wide: bool, fail: usize) {
    let (lo_off, hi_off) = arg_words(c.arg);
    let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
    let (fail, next) = (Target::Label(fail), Target::Next);
    if c.op == Op::MaskedEq {
        let (dh, dl) = ((c.value_two >> 32) as u32, c.value_two as u32);
        if wide {
            a.load(hi_off);
            a.and(vh);
            a.jump(JEQ, dh, next, fail);
        }
        a.load(lo_off);
        a.and(vl);
        a.jump(JEQ, dl, next, fail);
        return;
    }
    // Each op as (jump on the low word, whether its truth means a match).
    let (low_op, low_true_matches) = match c.op {
        Op::Eq => (JEQ, true),
        Op::Ne => (JEQ, false),
        Op::Gt => (JGT, true),
        Op::Ge => (JGE, true),
        Op::Lt => (JGE, false),
        Op::Le => (JGT, false),
        Op::MaskedEq => unreachable!(),
    };
    let matched = a.label();
    let yes = Target::Label(matched);
    if wide {
        a.load(hi_off);
        match c.op {
            // Different high words: EQ fails, NE matches.
            Op::Eq => a.jump(JEQ, vh, next, fail),
            Op::Ne => a.jump(JEQ, vh, next, yes),
            // A higher high word decides: GT/GE match, LT/LE fail; a
            // lower one decides the other way; equal ones leave it to
            // the low words.
            Op::Gt | Op::Ge => {
                a.jump(JGT, vh, yes, next);
                a.jump(JEQ, vh, next, fail);
            }
            _ => {
                a.jump(JGT, vh, fail, next);
                a.jump(JEQ, vh, next, yes);
            }
        }
    }
    a.load(lo_off);
    if low_true_matches {
        a.jump(low_op, vl, yes, fail);
    } else {
        a.jump(low_op, vl, fail, yes);
    }
    a.place(matched);
}

#[cfg(test)]
pub mod interp {
    //! A classic-BPF interpreter for the instructions `program` emits: the
    //! tests' oracle, and the instruction counter for the speed report.
    use super::*;

    /// seccomp_data for one call.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Data {
        pub nr: u32,
        pub arch: u32,
        pub args: [u64; 6],
    }

    fn word(d: &Data, off: u32) -> u32 {
        match off {
            OFF_NR => d.nr,
            OFF_ARCH => d.arch,
            o if (OFF_ARGS..OFF_ARGS + 48).contains(&o) && o % 4 == 0 => {
                let i = ((o - OFF_ARGS) / 8) as usize;
                let hi = ((o - OFF_ARGS) % 8 == 4) == cfg!(target_endian = "little");
                if hi {
                    (d.args[i] >> 32) as u32
                } else {
                    d.args[i] as u32
                }
            }
            o => panic!("load of offset {o}"),
        }
    }

    /// Runs the program: (return value, instructions executed).
    pub fn run(prog: &[Insn], d: &Data) -> (u32, usize) {
        let (ret, pcs) = trace(prog, d);
        (ret, pcs.len())
    }

    /// Runs the program: (return value, index of each instruction executed).
    pub fn trace(prog: &[Insn], d: &Data) -> (u32, Vec<usize>) {
        let (mut pc, mut acc, mut pcs) = (0usize, 0u32, Vec::new());
        loop {
            let i = prog[pc];
            pcs.push(pc);
            pc += 1;
            match i.code {
                LD_W_ABS => acc = word(d, i.k),
                ALU_AND_K => acc &= i.k,
                RET_K => return (i.k, pcs),
                JA => pc += i.k as usize,
                JEQ | JGT | JGE => {
                    let t = match i.code {
                        JEQ => acc == i.k,
                        JGT => acc > i.k,
                        _ => acc >= i.k,
                    };
                    pc += usize::from(if t { i.jt } else { i.jf });
                }
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }
}

#[cfg(test)]
mod tests;
