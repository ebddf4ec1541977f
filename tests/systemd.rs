//! `--systemd-cgroup` on this host, which has no systemd as PID 1: a clear
//! one-line error and nothing left behind. The driver itself is tested with
//! systemd in the QEMU guest (tests/vm/systemd.sh).

mod common;

use common::*;

fn systemd_booted() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

#[test]
fn systemd_cgroup_without_systemd_fails_cleanly() {
    if skip_unless_root() {
        return;
    }
    if systemd_booted() {
        skip("this host runs systemd: the no-systemd error cannot be seen here");
        return;
    }
    let nook = Nook::new();
    for path in [
        None,
        Some("system.slice:nook:x"),
        Some("machine.slice:libpod:y"),
    ] {
        let mut bundle = Bundle::sh("true");
        bundle.edit(|c| {
            if let Some(p) = path {
                c["linux"]["cgroupsPath"] = p.into();
            }
        });
        let id = nook.new_id();
        let out = nook
            .run(&["--systemd-cgroup", "run", "-b", bundle.path_str(), &id])
            .expect_err(&["--systemd-cgroup", "systemd is not running"]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{out}");
        assert_no_leftovers(&id, bundle.path(), nook.root());
        // The flag also works after the command name, as in runc.
        let id = nook.new_id();
        nook.run(&["create", "--systemd-cgroup", "-b", bundle.path_str(), &id])
            .expect_err(&["systemd is not running"]);
        assert_no_leftovers(&id, bundle.path(), nook.root());
    }
}

#[test]
fn systemd_form_cgroups_path_needs_the_flag() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::sh("true");
    bundle.edit(|c| c["linux"]["cgroupsPath"] = "system.slice:nook:z".into());
    let id = nook.new_id();
    nook.run(&["run", "-b", bundle.path_str(), &id])
        .expect_err(&["linux.cgroupsPath", "--systemd-cgroup"]);
    assert_no_leftovers(&id, bundle.path(), nook.root());
}
