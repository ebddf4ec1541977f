//! `process.capabilities`: the five sets, applied around the user switch so
//! that they survive it (bounding first, then keep-caps across setuid, then
//! effective/permitted/inheritable, then ambient).

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Spec};

use crate::logging;

/// Capability names in kernel order: the index is the capability number.
const NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Every capability name nook knows, in kernel order.
pub fn names() -> &'static [&'static str] {
    NAMES
}

/// The kernel number of a capability.
pub fn number(cap: &Capability) -> Option<u32> {
    let v = serde_json::to_value(cap).ok()?;
    let name = v.as_str()?;
    NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

/// Removes capability names nook does not know from a raw config, with a
/// warning, as runc does (a profile written for a newer kernel still runs).
pub fn drop_unknown(config: &mut serde_json::Value) {
    let Some(caps) = config
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return;
    };
    let mut unknown = Vec::new();
    for (_, set) in caps.iter_mut() {
        if let Some(list) = set.as_array_mut() {
            list.retain(|c| {
                let known = c
                    .as_str()
                    .is_some_and(|s| NAMES.contains(&s.to_ascii_uppercase().as_str()));
                if !known {
                    unknown.push(c.to_string());
                }
                known
            });
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        logging::warn(&format!(
            "process.capabilities: ignoring unknown capabilities {}",
            unknown.join(", ")
        ));
    }
}

/// The highest capability this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// Every name must map to a capability number nook knows.
pub fn validate(spec: &Spec) -> Result<()> {
    let Some(caps) = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
    else {
        return Ok(());
    };
    for set in sets(caps).into_iter().flatten() {
        for c in set {
            if number(c).is_none() {
                bail!("process.capabilities: unknown capability {c:?}");
            }
        }
    }
    Ok(())
}

fn sets(c: &LinuxCapabilities) -> [Option<&Capabilities>; 5] {
    [
        c.bounding().as_ref(),
        c.effective().as_ref(),
        c.inheritable().as_ref(),
        c.permitted().as_ref(),
        c.ambient().as_ref(),
    ]
}

/// A capability set as a 64-bit mask, leaving out what the kernel lacks.
fn mask(set: Option<&Capabilities>, last: u32) -> u64 {
    let mut m = 0u64;
    for c in set.into_iter().flatten() {
        match number(c) {
            Some(n) if n <= last => m |= 1 << n,
            _ => logging::warn(&format!(
                "capability {c} is not known to this kernel; skipped"
            )),
        }
    }
    m
}

/// The sets resolved to masks, computed once before the user switch.
pub struct Plan {
    bounding: u64,
    effective: u64,
    inheritable: u64,
    permitted: u64,
    ambient: u64,
    last: u32,
}

impl Plan {
    /// None when `process.capabilities` is absent: then nook leaves the
    /// capabilities alone except for dropping them all at a non-root setuid,
    /// which the kernel does by itself.
    pub fn from_spec(spec: &Spec) -> Option<Plan> {
        let caps = spec.process().as_ref()?.capabilities().as_ref()?;
        let last = last_cap();
        let [b, e, i, p, a] = sets(caps);
        Some(Plan {
            bounding: mask(b, last),
            effective: mask(e, last),
            inheritable: mask(i, last),
            permitted: mask(p, last),
            ambient: mask(a, last),
            last,
        })
    }

    /// Step 1, before setuid: shrink the bounding set and keep permitted
    /// capabilities across the uid change.
    pub fn before_user_switch(&self) -> Result<()> {
        for cap in 0..=self.last {
            if self.bounding & (1 << cap) == 0 {
                // SAFETY: PR_CAPBSET_DROP takes a capability number.
                let r =
                    unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
                if r != 0 {
                    return Err(std::io::Error::last_os_error()).with_context(|| {
                        format!("drop {} from the bounding set", NAMES[cap as usize])
                    });
                }
            }
        }
        // SAFETY: PR_SET_KEEPCAPS takes 0 or 1.
        if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_KEEPCAPS)");
        }
        Ok(())
    }

    /// Step 2, after setuid: set effective, permitted, inheritable, then ambient.
    pub fn after_user_switch(&self) -> Result<()> {
        // SAFETY: PR_SET_KEEPCAPS takes 0 or 1.
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
        capset(self.effective, self.permitted, self.inheritable)
            .context("capset of process.capabilities")?;
        // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no further arguments.
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        };
        for cap in 0..=self.last {
            if self.ambient & (1 << cap) == 0 {
                continue;
            }
            let raise = libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong;
            // SAFETY: PR_CAP_AMBIENT_RAISE takes a capability number.
            let r = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, raise, cap as libc::c_ulong, 0, 0) };
            if r != 0 {
                // As runc: an ambient capability outside permitted or
                // inheritable cannot be raised; warn and go on.
                logging::warn(&format!(
                    "cannot raise ambient capability {}: {}",
                    NAMES[cap as usize],
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(())
    }
}

fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let half = |m: u64, i: u32| (m >> (32 * i)) as u32;
    let data: [Data; 2] = [0, 1].map(|i| Data {
        effective: half(effective, i),
        permitted: half(permitted, i),
        inheritable: half(inheritable, i),
    });
    // SAFETY: capset reads a v3 header and two data structs, both valid here.
    let r = unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_kernel() {
        assert_eq!(number(&Capability::Chown), Some(0));
        assert_eq!(number(&Capability::NetBindService), Some(10));
        assert_eq!(number(&Capability::SysAdmin), Some(21));
        assert_eq!(number(&Capability::CheckpointRestore), Some(40));
    }
}
