//! Mount option strings (config.md "Linux mount options") → what the kernel takes.
//!
//! Pure and table-driven: every recognised option is one row of [`TABLE`], so
//! adding an option is adding a row, and the tests below need no root.

use nix::mount::MsFlags;

/// What one option does.
#[derive(Clone, Copy, Debug)]
enum Effect {
    /// Turn a mount(2) flag on.
    Set(MsFlags),
    /// Turn a mount(2) flag off (and remember the user asked for it off).
    Clear(MsFlags),
    /// A propagation change: needs its own mount(2) call after the mount.
    Propagation(MsFlags),
    /// mount_setattr(AT_RECURSIVE) attribute to set.
    RecSet(u64),
    /// mount_setattr(AT_RECURSIVE) attribute to clear.
    RecClear(u64),
    /// mount_setattr access-time mode: the kernel wants all of
    /// MOUNT_ATTR__ATIME cleared and exactly one mode set.
    RecAtime(u64),
    /// tmpcopyup: fill a new tmpfs with what the directory under it held.
    CopyUp,
    /// Known to the spec but not implemented: refuse rather than ignore.
    Unsupported,
}

use Effect::*;

/// MS_NOSYMFOLLOW is not among nix's MsFlags constants.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// The option table of config.md, plus runc's spellings of the same flags.
const TABLE: &[(&str, Effect)] = &[
    ("defaults", Set(MsFlags::empty())),
    ("ro", Set(MsFlags::MS_RDONLY)),
    ("rw", Clear(MsFlags::MS_RDONLY)),
    ("nosuid", Set(MsFlags::MS_NOSUID)),
    ("suid", Clear(MsFlags::MS_NOSUID)),
    ("nodev", Set(MsFlags::MS_NODEV)),
    ("dev", Clear(MsFlags::MS_NODEV)),
    ("noexec", Set(MsFlags::MS_NOEXEC)),
    ("exec", Clear(MsFlags::MS_NOEXEC)),
    ("sync", Set(MsFlags::MS_SYNCHRONOUS)),
    ("async", Clear(MsFlags::MS_SYNCHRONOUS)),
    ("dirsync", Set(MsFlags::MS_DIRSYNC)),
    ("remount", Set(MsFlags::MS_REMOUNT)),
    ("mand", Set(MsFlags::MS_MANDLOCK)),
    ("nomand", Clear(MsFlags::MS_MANDLOCK)),
    ("noatime", Set(MsFlags::MS_NOATIME)),
    ("atime", Clear(MsFlags::MS_NOATIME)),
    ("nodiratime", Set(MsFlags::MS_NODIRATIME)),
    ("diratime", Clear(MsFlags::MS_NODIRATIME)),
    ("relatime", Set(MsFlags::MS_RELATIME)),
    ("norelatime", Clear(MsFlags::MS_RELATIME)),
    ("strictatime", Set(MsFlags::MS_STRICTATIME)),
    ("nostrictatime", Clear(MsFlags::MS_STRICTATIME)),
    ("lazytime", Set(MsFlags::MS_LAZYTIME)),
    ("nolazytime", Clear(MsFlags::MS_LAZYTIME)),
    ("iversion", Set(MsFlags::MS_I_VERSION)),
    ("noiversion", Clear(MsFlags::MS_I_VERSION)),
    ("silent", Set(MsFlags::MS_SILENT)),
    ("loud", Clear(MsFlags::MS_SILENT)),
    ("nosymfollow", Set(MS_NOSYMFOLLOW)),
    ("symfollow", Clear(MS_NOSYMFOLLOW)),
    ("bind", Set(MsFlags::MS_BIND)),
    ("rbind", Set(MsFlags::MS_BIND.union(MsFlags::MS_REC))),
    ("shared", Propagation(MsFlags::MS_SHARED)),
    (
        "rshared",
        Propagation(MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ),
    ("slave", Propagation(MsFlags::MS_SLAVE)),
    (
        "rslave",
        Propagation(MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ),
    ("private", Propagation(MsFlags::MS_PRIVATE)),
    (
        "rprivate",
        Propagation(MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ),
    ("unbindable", Propagation(MsFlags::MS_UNBINDABLE)),
    (
        "runbindable",
        Propagation(MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
    ),
    ("rro", RecSet(libc::MOUNT_ATTR_RDONLY)),
    ("rrw", RecClear(libc::MOUNT_ATTR_RDONLY)),
    ("rnosuid", RecSet(libc::MOUNT_ATTR_NOSUID)),
    ("rsuid", RecClear(libc::MOUNT_ATTR_NOSUID)),
    ("rnodev", RecSet(libc::MOUNT_ATTR_NODEV)),
    ("rdev", RecClear(libc::MOUNT_ATTR_NODEV)),
    ("rnoexec", RecSet(libc::MOUNT_ATTR_NOEXEC)),
    ("rexec", RecClear(libc::MOUNT_ATTR_NOEXEC)),
    ("rnodiratime", RecSet(libc::MOUNT_ATTR_NODIRATIME)),
    ("rdiratime", RecClear(libc::MOUNT_ATTR_NODIRATIME)),
    ("rnosymfollow", RecSet(libc::MOUNT_ATTR_NOSYMFOLLOW)),
    ("rsymfollow", RecClear(libc::MOUNT_ATTR_NOSYMFOLLOW)),
    // Access time is one 3-way mode, not independent bits, so each "r*atime"
    // option names the mode it leaves behind. Without noatime/strictatime the
    // kernel default is relatime, hence ratime/rnostrictatime → relatime and
    // rnorelatime → strictatime (mount(8): "norelatime: see strictatime").
    ("rnoatime", RecAtime(libc::MOUNT_ATTR_NOATIME)),
    ("ratime", RecAtime(libc::MOUNT_ATTR_RELATIME)),
    ("rrelatime", RecAtime(libc::MOUNT_ATTR_RELATIME)),
    ("rnorelatime", RecAtime(libc::MOUNT_ATTR_STRICTATIME)),
    ("rstrictatime", RecAtime(libc::MOUNT_ATTR_STRICTATIME)),
    ("rnostrictatime", RecAtime(libc::MOUNT_ATTR_RELATIME)),
    ("tmpcopyup", CopyUp),
    ("idmap", Unsupported),
    ("ridmap", Unsupported),
];

/// The option names nook applies (for `nook features`): the table without
/// the ones it recognises only to refuse.
pub fn supported() -> impl Iterator<Item = &'static str> {
    TABLE
        .iter()
        .filter(|(_, effect)| !matches!(effect, Unsupported))
        .map(|(name, _)| *name)
}

/// Attributes for mount_setattr(2) with AT_RECURSIVE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecAttr {
    pub set: u64,
    pub clear: u64,
}

impl RecAttr {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }
}

/// One mount entry's options, split by the syscall that applies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount(2) call itself (MS_BIND/MS_REC included).
    pub flags: MsFlags,
    /// Flags the user explicitly turned off ("rw", "dev", ...): a remount
    /// that would have to keep one of these locked on must fail instead.
    pub cleared: MsFlags,
    /// Propagation changes, in order, each its own mount(2) call.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes for mount_setattr(2).
    pub recursive: RecAttr,
    /// Unknown options, comma-joined, as filesystem data (as runc does).
    pub data: String,
    /// tmpcopyup was given.
    pub copy_up: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            recursive: RecAttr::default(),
            data: String::new(),
            copy_up: false,
        }
    }
}

impl MountOptions {
    /// A bind mount, by option (type "bind" is checked by the caller).
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Flags that a bind mount can only get through a second, remount call.
    pub fn remount_flags(&self) -> MsFlags {
        self.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }

    /// Filesystem data, or None when there is none.
    pub fn data(&self) -> Option<&str> {
        (!self.data.is_empty()).then_some(self.data.as_str())
    }
}

/// Parses a mount's option list; the error names the first unsupported option.
pub fn parse(options: &[String]) -> anyhow::Result<MountOptions> {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let Some((_, effect)) = TABLE.iter().find(|(name, _)| name == opt) else {
            // Not a VFS option: the filesystem gets it (e.g. tmpfs "size=64k").
            data.push(opt);
            continue;
        };
        match *effect {
            Set(f) => {
                out.flags |= f;
                out.cleared -= f;
            }
            Clear(f) => {
                out.flags -= f;
                out.cleared |= f;
            }
            Propagation(f) => out.propagation.push(f),
            RecSet(a) => {
                out.recursive.set |= a;
                out.recursive.clear &= !a;
            }
            RecClear(a) => {
                out.recursive.clear |= a;
                out.recursive.set &= !a;
            }
            RecAtime(mode) => {
                out.recursive.set = (out.recursive.set & !libc::MOUNT_ATTR__ATIME) | mode;
                out.recursive.clear |= libc::MOUNT_ATTR__ATIME;
            }
            CopyUp => out.copy_up = true,
            Unsupported => anyhow::bail!("mount option {opt:?} is not supported yet"),
        }
    }
    out.data = data.join(",");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        let v: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        parse(&v).unwrap()
    }

    #[test]
    fn every_row_is_unique() {
        for (i, (a, _)) in TABLE.iter().enumerate() {
            assert!(TABLE[i + 1..].iter().all(|(b, _)| a != b), "{a} twice");
        }
    }

    #[test]
    fn default_spec_options() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data(), Some("mode=755,size=65536k"));
        assert!(o.propagation.is_empty() && o.recursive.is_empty());
        let o = p(&["nosuid", "noexec", "newinstance", "ptmxmode=0666", "gid=5"]);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,gid=5");
        assert_eq!(p(&[]).data(), None);
    }

    #[test]
    fn later_option_wins() {
        let o = p(&["ro", "rw"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
        let o = p(&["rw", "ro"]);
        assert!(o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.is_empty());
        let o = p(&["nodev", "dev", "exec", "noexec"]);
        assert_eq!(o.flags, MsFlags::MS_NOEXEC);
        assert_eq!(o.cleared, MsFlags::MS_NODEV);
    }

    #[test]
    fn bind_and_remount_flags() {
        let o = p(&["rbind", "ro", "nosuid"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.remount_flags(), MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        let o = p(&["bind"]);
        assert!(o.is_bind() && o.remount_flags().is_empty());
        assert!(!p(&["remount", "ro"]).is_bind());
    }

    #[test]
    fn propagation_kept_in_order() {
        let o = p(&["rbind", "rprivate", "shared", "unbindable"]);
        assert_eq!(
            o.propagation,
            vec![
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                MsFlags::MS_SHARED,
                MsFlags::MS_UNBINDABLE
            ]
        );
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&["rro", "rnosuid", "rnodev", "rexec"]);
        let want = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
        assert_eq!(o.recursive.set, want);
        assert_eq!(o.recursive.clear, libc::MOUNT_ATTR_NOEXEC);
        let o = p(&["rro", "rrw"]);
        assert_eq!(o.recursive.set, 0);
        assert_eq!(o.recursive.clear, libc::MOUNT_ATTR_RDONLY);
        assert!(o.flags.is_empty());
    }

    #[test]
    fn recursive_atime_is_one_mode() {
        let o = p(&["rnoatime"]);
        assert_eq!(o.recursive.set, libc::MOUNT_ATTR_NOATIME);
        assert_eq!(o.recursive.clear, libc::MOUNT_ATTR__ATIME);
        let o = p(&["rnoatime", "rstrictatime", "rnodiratime"]);
        let want = libc::MOUNT_ATTR_STRICTATIME | libc::MOUNT_ATTR_NODIRATIME;
        assert_eq!(o.recursive.set, want);
        let o = p(&["rstrictatime", "ratime"]);
        assert_eq!(o.recursive.set, libc::MOUNT_ATTR_RELATIME);
        assert_eq!(o.recursive.clear, libc::MOUNT_ATTR__ATIME);
    }

    #[test]
    fn tmpcopyup_is_a_flag_of_its_own() {
        let o = p(&["tmpcopyup", "ro"]);
        assert!(o.copy_up && o.flags.contains(MsFlags::MS_RDONLY) && o.data.is_empty());
    }

    #[test]
    fn unsupported_options_are_errors() {
        for opt in ["idmap", "ridmap"] {
            let err = parse(&[opt.to_string()]).unwrap_err().to_string();
            assert!(
                err.contains(opt) && err.contains("not supported yet"),
                "{err}"
            );
        }
    }

    #[test]
    fn atime_flags_for_mount2() {
        assert_eq!(p(&["noatime"]).flags, MsFlags::MS_NOATIME);
        assert!(p(&["noatime", "atime"]).flags.is_empty());
        assert_eq!(
            p(&["relatime", "nodiratime"]).flags,
            MsFlags::MS_RELATIME | MsFlags::MS_NODIRATIME
        );
        assert_eq!(p(&["nosymfollow"]).flags.bits(), libc::MS_NOSYMFOLLOW);
        assert_eq!(
            p(&["lazytime", "sync", "dirsync", "mand"]).flags.bits(),
            libc::MS_LAZYTIME | libc::MS_SYNCHRONOUS | libc::MS_DIRSYNC | libc::MS_MANDLOCK
        );
    }
}
