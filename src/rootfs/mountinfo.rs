//! /proc/self/mountinfo, just the fields the rootfs setup needs: which cgroup
//! hierarchies the host mounted where, and which mount holds the rootfs.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// One line of mountinfo (proc(5)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// Path inside the filesystem that is the root of this mount.
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Optional fields, e.g. "shared:1 master:2".
    pub optional: String,
    pub fs_type: String,
    /// Per-superblock options, e.g. "rw,cpu,cpuacct" for a cgroup v1 mount.
    pub super_opts: String,
}

/// Reads the calling process's mount table.
pub fn read() -> anyhow::Result<Vec<MountInfo>> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    Ok(parse(&text))
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    // id parent maj:min root mount_point opts [optional...] - type source super_opts
    let (head, tail) = line.split_once(" - ")?;
    let mut head = head.split(' ');
    let root = head.nth(3)?;
    let mount_point = head.next()?;
    let optional = head.skip(1).collect::<Vec<_>>().join(" ");
    let mut tail = tail.split(' ');
    let fs_type = tail.next()?;
    let super_opts = tail.nth(1).unwrap_or("");
    Some(MountInfo {
        root: PathBuf::from(unescape(root)),
        mount_point: PathBuf::from(unescape(mount_point)),
        optional,
        fs_type: fs_type.to_string(),
        super_opts: super_opts.to_string(),
    })
}

/// Undoes the kernel's octal escapes (\040 for space, \011, \012, \134).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount that `path` lives on: the longest mount point that is a prefix
/// of it (the last such line wins, as later mounts stack on earlier ones).
pub fn mount_of<'a>(mounts: &'a [MountInfo], path: &Path) -> Option<&'a MountInfo> {
    let mut best: Option<&MountInfo> = None;
    for m in mounts.iter().filter(|m| path.starts_with(&m.mount_point)) {
        let longer =
            best.is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len());
        if longer {
            best = Some(m);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 /sub /sys/fs/cgroup/systemd rw,relatime master:3 - cgroup cgroup rw,name=systemd
41 27 0:40 / /mnt/a\\040b rw - tmpfs none rw
";

    #[test]
    fn parses_fields() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].optional, "shared:1");
        assert_eq!(m[1].optional, "");
        assert_eq!(m[2].mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m[2].super_opts, "rw,cpu,cpuacct");
        assert_eq!(m[3].root, Path::new("/sub"));
        assert_eq!(m[3].fs_type, "cgroup");
        assert_eq!(m[4].mount_point, Path::new("/mnt/a b"));
    }

    #[test]
    fn finds_containing_mount() {
        let m = parse(SAMPLE);
        let at = |p: &str| mount_of(&m, Path::new(p)).unwrap().mount_point.clone();
        assert_eq!(at("/tmp/x/rootfs"), Path::new("/"));
        assert_eq!(
            at("/sys/fs/cgroup/cpu,cpuacct/x"),
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(at("/mnt/a b/c"), Path::new("/mnt/a b"));
    }
}
