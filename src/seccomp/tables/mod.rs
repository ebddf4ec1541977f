//! Syscall name → number, one table per architecture nook can put in a
//! filter. The tables are generated (scripts/gen-seccomp-tables.sh) from
//! the kernel's uapi headers as shipped in linux-raw-sys; x32 numbers
//! already carry __X32_SYSCALL_BIT (0x40000000).

mod aarch64;
mod arm;
mod x32;
mod x86;
mod x86_64;

/// The architectures nook knows syscall numbers for, by libseccomp name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
}

/// AUDIT_ARCH_* values (linux/audit.h): what the kernel puts in
/// seccomp_data.arch.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// x32 calls arrive under AUDIT_ARCH_X86_64 with this bit in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

impl Arch {
    /// The libseccomp / runtime-spec name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
            Arch::Arm => "SCMP_ARCH_ARM",
        }
    }

    pub fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
            Arch::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// 64-bit arguments are compared whole; on 32-bit ABIs only the low
    /// word, with the rule's value truncated, as libseccomp does.
    pub fn wide_args(self) -> bool {
        matches!(self, Arch::X86_64 | Arch::Aarch64)
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => x86_64::X86_64,
            Arch::X86 => x86::X86,
            Arch::X32 => x32::X32,
            Arch::Aarch64 => aarch64::AARCH64,
            Arch::Arm => arm::ARM,
        }
    }

    /// The syscall number of `name` on this architecture.
    pub fn number(self, name: &str) -> Option<u32> {
        let t = self.table();
        t.binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| t[i].1)
    }

    /// Every syscall number of this architecture.
    pub fn numbers(self) -> impl Iterator<Item = u32> {
        self.table().iter().map(|(_, n)| *n)
    }

    /// The architecture nook itself runs as: always part of the filter.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "x86") {
            Some(Arch::X86)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "arm") {
            Some(Arch::Arm)
        } else {
            None
        }
    }

    /// Parses a libseccomp architecture name. Err(true) for a name
    /// libseccomp knows but nook has no table for, Err(false) for others.
    pub fn parse(name: &str) -> Result<Arch, bool> {
        Ok(match name {
            "SCMP_ARCH_NATIVE" => return Arch::native().ok_or(true),
            "SCMP_ARCH_X86_64" => Arch::X86_64,
            "SCMP_ARCH_X86" => Arch::X86,
            "SCMP_ARCH_X32" => Arch::X32,
            "SCMP_ARCH_AARCH64" => Arch::Aarch64,
            "SCMP_ARCH_ARM" => Arch::Arm,
            "SCMP_ARCH_MIPS"
            | "SCMP_ARCH_MIPS64"
            | "SCMP_ARCH_MIPS64N32"
            | "SCMP_ARCH_MIPSEL"
            | "SCMP_ARCH_MIPSEL64"
            | "SCMP_ARCH_MIPSEL64N32"
            | "SCMP_ARCH_PPC"
            | "SCMP_ARCH_PPC64"
            | "SCMP_ARCH_PPC64LE"
            | "SCMP_ARCH_S390"
            | "SCMP_ARCH_S390X"
            | "SCMP_ARCH_PARISC"
            | "SCMP_ARCH_PARISC64"
            | "SCMP_ARCH_RISCV64"
            | "SCMP_ARCH_LOONGARCH64"
            | "SCMP_ARCH_M68K"
            | "SCMP_ARCH_SH"
            | "SCMP_ARCH_SHEB" => {
                return Err(true);
            }
            _ => return Err(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_known_numbers_match() {
        for a in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm] {
            let t = a.table();
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "{a:?} unsorted");
        }
        assert_eq!(Arch::X86_64.number("read"), Some(0));
        assert_eq!(Arch::X86_64.number("clone3"), Some(435));
        assert_eq!(Arch::X86.number("write"), Some(4));
        assert_eq!(Arch::X86.number("socketcall"), Some(102));
        assert_eq!(Arch::X32.number("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(Arch::X32.number("execve"), Some(X32_SYSCALL_BIT | 520));
        assert_eq!(
            Arch::X32.number("rt_sigaction"),
            Some(X32_SYSCALL_BIT | 512)
        );
        assert_eq!(Arch::Aarch64.number("openat"), Some(56));
        assert_eq!(Arch::Aarch64.number("open"), None);
        assert_eq!(Arch::Arm.number("cacheflush"), Some(0x0f_0002));
        assert_eq!(Arch::X86_64.number("no_such_call"), None);
    }
}
