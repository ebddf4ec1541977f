//! The container's filesystem: read-only root, spec mounts, /dev, masked
//! and read-only paths, and mount destinations that are hostile symlinks.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;
use serde_json::{Value, json};

/// One parsed line of /proc/<pid>/mountinfo.
struct MountLine {
    mount_point: String,
    mount_opts: Vec<String>,
    fs_type: String,
    super_opts: Vec<String>,
}

fn parse_mountinfo(text: &str) -> Vec<MountLine> {
    let split = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            Some(MountLine {
                mount_point: left.get(4)?.to_string(),
                mount_opts: split(left.get(5)?),
                fs_type: right.first()?.to_string(),
                super_opts: split(right.get(2).unwrap_or(&"")),
            })
        })
        .collect()
}

fn dir_listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn readonly_root_makes_the_rootfs_unwritable() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    for (readonly, want) in [(true, "readonly"), (false, "writable")] {
        let mut bundle = Bundle::sh("touch /probe 2>/dev/null && echo writable || echo readonly");
        bundle.edit(|c| c["root"]["readonly"] = json!(readonly));
        assert_eq!(
            nook.output_of(&bundle),
            format!("{want}\n"),
            "readonly={readonly}"
        );
        assert_eq!(bundle.rootfs().join("probe").exists(), !readonly);
    }
}

#[test]
fn tmpfs_mount_gets_its_options() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("stat -c %a /data; cat /proc/self/mountinfo");
    bundle.add_mount(json!({
        "destination": "/data",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "mode=1770", "size=1m"]
    }));
    let out = nook.output_of(&bundle);
    let (mode, info) = out.split_once('\n').expect("two parts");
    assert_eq!(mode, "1770", "{out}");
    let mounts = parse_mountinfo(info);
    let data = mounts
        .iter()
        .rfind(|m| m.mount_point == "/data")
        .unwrap_or_else(|| panic!("no mount on /data:\n{out}"));
    assert_eq!(data.fs_type, "tmpfs");
    for opt in ["nosuid", "nodev", "noexec"] {
        assert!(
            data.mount_opts.iter().any(|o| o == opt),
            "{opt} missing:\n{out}"
        );
    }
    assert!(
        data.super_opts.iter().any(|o| o == "size=1024k"),
        "size:\n{out}"
    );
}

#[test]
fn bind_mount_of_a_host_dir_respects_ro_and_rw() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let host = TempDir::new("hostdir");
    fs::write(host.path().join("hello.txt"), "from-host\n").unwrap();
    let script = "cat /hostdir/hello.txt; \
                  touch /hostdir/new 2>/dev/null && echo writable || echo readonly";
    for (opts, want) in [
        (json!(["rbind", "ro"]), "readonly"),
        (json!(["rbind", "rw"]), "writable"),
    ] {
        let mut bundle = Bundle::sh(script);
        bundle.add_mount(json!({
            "destination": "/hostdir",
            "type": "bind",
            "source": host.path(),
            "options": opts
        }));
        assert_eq!(nook.output_of(&bundle), format!("from-host\n{want}\n"));
        assert_eq!(host.path().join("new").exists(), want == "writable");
    }
}

#[test]
fn dev_has_the_standard_devices_and_fd_links() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::sh(
        "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T' /dev/$d; done; \
         for l in fd stdin stdout stderr; do echo \"/dev/$l -> $(readlink /dev/$l)\"; done; \
         head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; \
         echo x > /dev/null && echo null-ok; \
         echo x 2>/dev/null > /dev/full || echo full-refuses",
    );
    let out = nook.output_of(&bundle);
    let want = "\
/dev/null character special file 1:3
/dev/zero character special file 1:5
/dev/full character special file 1:7
/dev/random character special file 1:8
/dev/urandom character special file 1:9
/dev/tty character special file 5:0
/dev/fd -> /proc/self/fd
/dev/stdin -> /proc/self/fd/0
/dev/stdout -> /proc/self/fd/1
/dev/stderr -> /proc/self/fd/2
4
4
null-ok
full-refuses
";
    assert_eq!(out, want);
}

/// A shell line printing "<bytes or entries> <path>" for each path.
fn measure_script(paths: &[(String, bool)]) -> String {
    paths
        .iter()
        .map(|(p, is_dir)| {
            if *is_dir {
                format!("echo \"$(ls -A {p} 2>/dev/null | wc -l) {p}\"; ")
            } else {
                format!("echo \"$(cat {p} 2>/dev/null | wc -c) {p}\"; ")
            }
        })
        .collect()
}

fn measured_sizes(out: &str) -> Vec<(u64, String)> {
    out.lines()
        .map(|l| {
            let (n, p) = l.trim().split_once(' ').expect("size and path");
            (n.parse().expect("number"), p.to_string())
        })
        .collect()
}

#[test]
fn masked_paths_of_the_default_spec_are_hidden() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    let masked: Vec<String> = bundle.config()["linux"]["maskedPaths"]
        .as_array()
        .expect("default spec has maskedPaths")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    assert!(masked.iter().any(|p| p == "/proc/kcore"), "{masked:?}");
    let present: Vec<(String, bool)> = masked
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| (p.clone(), Path::new(p).is_dir()))
        .collect();
    bundle.set_args(&["sh", "-c", &measure_script(&present)]);

    // Control run without masking: which paths would show something?
    let saved = bundle.config()["linux"]["maskedPaths"].clone();
    bundle.edit(|c| c["linux"]["maskedPaths"] = json!([]));
    let visible: Vec<String> = measured_sizes(&nook.output_of(&bundle))
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(_, p)| p)
        .collect();
    if visible.is_empty() {
        skip("no masked path of the default spec has content on this host");
        return;
    }

    bundle.edit(|c| c["linux"]["maskedPaths"] = saved);
    let out = nook.output_of(&bundle);
    for (n, p) in measured_sizes(&out) {
        assert_eq!(n, 0, "{p} is not masked:\n{out}");
    }
    assert_eq!(measured_sizes(&out).len(), present.len(), "{out}");
}

#[test]
fn readonly_paths_of_the_default_spec_are_read_only() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("cat /proc/self/mountinfo");
    let readonly: Vec<String> = bundle.config()["linux"]["readonlyPaths"]
        .as_array()
        .expect("default spec has readonlyPaths")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    assert!(readonly.iter().any(|p| p == "/proc/sys"), "{readonly:?}");
    bundle.edit(|c| c["root"]["readonly"] = json!(false));
    let out = nook.output_of(&bundle);
    let mounts = parse_mountinfo(&out);
    for p in readonly.iter().filter(|p| Path::new(p).exists()) {
        let m = mounts
            .iter()
            .rfind(|m| &m.mount_point == p)
            .unwrap_or_else(|| panic!("{p} is not a mount of its own:\n{out}"));
        assert!(
            m.mount_opts.iter().any(|o| o == "ro"),
            "{p} is writable:\n{out}"
        );
    }
}

#[test]
fn symlinked_mount_destinations_stay_inside_the_rootfs() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let victim = TempDir::new("victim");
    fs::write(victim.path().join("keep"), "keep\n").unwrap();
    let victim_s = path_str(victim.path()).to_string();
    // A unique name under the host's /etc: it must never be created.
    let etc_probe = Path::new("/etc").join(unique_name());

    let mut bundle = Bundle::sh("cat /proc/self/mountinfo");
    let mnt = bundle.rootfs().join("mnt");
    // Absolute link to a host dir, relative link climbing out of the
    // rootfs, and the classic absolute /etc link.
    symlink(&victim_s, mnt.join("abs")).unwrap();
    symlink(
        format!("../../../../../../../../..{victim_s}"),
        mnt.join("rel"),
    )
    .unwrap();
    symlink("/etc", mnt.join("etc")).unwrap();
    let probe_name = etc_probe.file_name().unwrap().to_str().unwrap();
    for dest in [
        "/mnt/abs/a".to_string(),
        "/mnt/rel/b".to_string(),
        format!("/mnt/etc/{probe_name}"),
    ] {
        bundle.add_mount(json!({
            "destination": dest,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "size=64k"]
        }));
    }

    let host_mounts_before = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let result = nook.run_bundle(&bundle);
    let escaped_etc = etc_probe.exists();
    if escaped_etc {
        let _ = fs::remove_dir(&etc_probe);
    }
    let host_mounts_after = fs::read_to_string("/proc/self/mountinfo").unwrap();

    assert!(
        !escaped_etc,
        "a mount escaped to the host's {}",
        etc_probe.display()
    );
    assert_eq!(
        dir_listing(victim.path()),
        BTreeSet::from(["keep".to_string()]),
        "a mount escaped into the host dir {victim_s}"
    );
    for (what, text) in [
        ("before", &host_mounts_before),
        ("after", &host_mounts_after),
    ] {
        assert!(
            !text.contains(&victim_s) && !text.contains(probe_name),
            "host mount table {what} the run mentions a target:\n{text}"
        );
    }

    // Inside, the tmpfs mounts sit where the links resolve within the rootfs.
    let out = result.expect_ok().stdout;
    let inside: Vec<String> = parse_mountinfo(&out)
        .into_iter()
        .filter(|m| m.fs_type == "tmpfs")
        .map(|m| m.mount_point)
        .collect();
    for want in [
        format!("{victim_s}/a"),
        format!("{victim_s}/b"),
        format!("/etc/{probe_name}"),
    ] {
        assert!(inside.contains(&want), "no tmpfs on {want} inside:\n{out}");
        let in_rootfs = bundle.rootfs().join(want.trim_start_matches('/'));
        assert!(in_rootfs.is_dir(), "{} not created", in_rootfs.display());
    }
}

/// A tree under /opt/up in the rootfs: a file with a mode and an owner, a
/// nested directory, a symlink to a host path, and a fifo.
fn copy_up_tree(b: &Bundle) {
    use std::os::unix::fs::{PermissionsExt, chown};
    let up = b.rootfs().join("opt/up");
    fs::create_dir_all(up.join("deep/er")).unwrap();
    fs::write(up.join("deep/er/f"), "nested\n").unwrap();
    fs::write(up.join("secret"), "s\n").unwrap();
    fs::set_permissions(up.join("secret"), fs::Permissions::from_mode(0o640)).unwrap();
    chown(up.join("secret"), Some(1000), Some(1001)).unwrap();
    fs::set_permissions(&up, fs::Permissions::from_mode(0o751)).unwrap();
    symlink("/etc/hostname", up.join("link")).unwrap();
    nix::unistd::mkfifo(
        &up.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_what_it_hides() {
    if skip_unless_root() {
        return;
    }
    let mut b = Bundle::sh(
        "cd /opt/up && cat deep/er/f && stat -c '%a %u %g' secret . && readlink link && \
         stat -c %F fifo && grep -c ' /opt/up .* - tmpfs ' /proc/self/mountinfo && \
         echo new > added && echo written",
    );
    copy_up_tree(&b);
    b.add_mount(
        json!({"destination": "/opt/up", "type": "tmpfs", "source": "tmpfs",
                       "options": ["tmpcopyup", "nosuid", "size=1m"]}),
    );
    let out = Nook::new().output_of(&b);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "nested",
            "640 1000 1001",
            "751 0 0",
            "/etc/hostname",
            "fifo",
            "1",
            "written"
        ],
        "{out}"
    );
    // The copy is in the tmpfs: the rootfs did not change, and the symlink
    // was copied as a link, never followed to the host's file.
    assert!(!b.rootfs().join("opt/up/added").exists());
}

#[test]
fn tmpcopyup_with_ro_is_read_only_after_the_copy() {
    if skip_unless_root() {
        return;
    }
    let mut b = Bundle::sh(
        "cat /opt/up/deep/er/f; touch /opt/up/x 2>/dev/null && echo writable || echo refused",
    );
    copy_up_tree(&b);
    b.add_mount(
        json!({"destination": "/opt/up", "type": "tmpfs", "source": "tmpfs",
                       "options": ["tmpcopyup", "ro", "mode=755"]}),
    );
    let out = Nook::new().output_of(&b);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["nested", "refused"],
        "{out}"
    );
}
