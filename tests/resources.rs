//! `linux.resources` memory, pids and cpu (with cpuset) as cgroup v1 files,
//! the fields this host cannot honour, and `nook update`.
//!
//! Every container here gets its own cgroup in each v1 hierarchy below
//! nook's own (nook runs in this test's cgroups), so the files are read from
//! the host at the directory that /proc/<init>/cgroup names, and where useful
//! also from inside (the container has a cgroup namespace, so its
//! /sys/fs/cgroup/<controller> is its own cgroup). Only cgroups the tests'
//! containers made are ever written, and only by the runtime.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const MIB: i64 = 1024 * 1024;
/// What a v1 memory.limit_in_bytes reads when there is no limit (on 4 KiB pages).
const V1_UNLIMITED: &str = "9223372036854771712";

/// The cgroup path of `ctrl` in a /proc/<pid>/cgroup text.
fn cgroup_path_in(text: &str, ctrl: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        ctrls
            .split(',')
            .any(|c| c == ctrl)
            .then(|| path.to_string())
    })
}

/// The host directory of `pid`'s v1 cgroup for controller `ctrl`.
fn cgroup_dir(pid: i32, ctrl: &str) -> PathBuf {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/PID/cgroup");
    let path = cgroup_path_in(&text, ctrl)
        .unwrap_or_else(|| panic!("no {ctrl} cgroup for pid {pid}:\n{text}"));
    PathBuf::from(format!("/sys/fs/cgroup/{ctrl}{path}"))
}

/// Where the container `id` gets its `ctrl` cgroup by default: `<id>` below
/// nook's own cgroup, which is this test's (nook is our child). Used once the
/// init process is gone.
fn default_dir(ctrl: &str, id: &str) -> PathBuf {
    let text = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    let path = cgroup_path_in(&text, ctrl)
        .unwrap_or_else(|| panic!("this host has no v1 {ctrl} hierarchy:\n{text}"));
    let path = path.trim_end_matches('/');
    PathBuf::from(format!("/sys/fs/cgroup/{ctrl}{path}/{id}"))
}

/// One cgroup file, trimmed.
fn cg(dir: &Path, file: &str) -> String {
    let p = dir.join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Whether the host's root cgroup of `ctrl` has `file` (so children have it).
fn host_has(ctrl: &str, file: &str) -> bool {
    Path::new("/sys/fs/cgroup").join(ctrl).join(file).exists()
}

/// A bundle running `sh -c script` on a writable rootfs, with each key of
/// `resources` set in `linux.resources` (next to the default devices).
fn bundle_with(script: &str, resources: Value) -> Bundle {
    let mut b = Bundle::sh(script);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        let obj = resources.as_object().expect("resources is an object");
        for (k, v) in obj {
            c["linux"]["resources"][k] = v.clone();
        }
    });
    b
}

/// `run -d` of the bundle under a fresh id; returns the id and init pid.
fn start(nook: &Nook, bundle: &Bundle) -> (String, i32) {
    let id = nook.new_id();
    nook.run(&["run", "-d", "-b", bundle.path_str(), &id])
        .expect_ok();
    let pid = nook.pid(&id);
    (id, pid)
}

/// Wait for the container to create /tmp/ready, then return /tmp/<name>.
fn inside_file(bundle: &Bundle, name: &str) -> String {
    let tmp = bundle.rootfs().join("tmp");
    wait_until("the container's /tmp/ready", SETTLE, || {
        tmp.join("ready").exists()
    });
    fs::read_to_string(tmp.join(name)).unwrap_or_else(|e| panic!("read /tmp/{name}: {e}"))
}

/// The memory cgroup of a running container, checked to be where runc
/// puts it (`<nook's cgroup>/<id>`).
fn memory_dir(id: &str, pid: i32) -> PathBuf {
    let dir = cgroup_dir(pid, "memory");
    assert_eq!(dir, default_dir("memory", id), "memory cgroup of {id}");
    dir
}

// ---------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------

#[test]
fn memory_limits_are_written_to_the_v1_files() {
    if skip_unless_root() {
        return;
    }
    let memsw = host_has("memory", "memory.memsw.limit_in_bytes");
    let mut memory = json!({
        "limit": 64 * MIB,
        "reservation": 32 * MIB,
        "swappiness": 10,
        "disableOOMKiller": true,
    });
    if memsw {
        memory["swap"] = json!(128 * MIB);
    } else {
        skip("memory.swap: the host has no memory.memsw.limit_in_bytes (swap accounting off)");
    }
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes \
                  /sys/fs/cgroup/memory/memory.soft_limit_in_bytes >/tmp/inside; \
                  touch /tmp/ready; exec sleep 1000";
    let bundle = bundle_with(script, json!({ "memory": memory }));
    let nook = Nook::new();
    let (id, pid) = start(&nook, &bundle);
    let dir = memory_dir(&id, pid);

    assert_eq!(cg(&dir, "memory.limit_in_bytes"), (64 * MIB).to_string());
    assert_eq!(
        cg(&dir, "memory.soft_limit_in_bytes"),
        (32 * MIB).to_string()
    );
    if memsw {
        assert_eq!(
            cg(&dir, "memory.memsw.limit_in_bytes"),
            (128 * MIB).to_string(),
            "OCI swap is memory+swap"
        );
    }
    assert_eq!(cg(&dir, "memory.swappiness"), "10");
    let oom = cg(&dir, "memory.oom_control");
    assert!(
        oom.lines().any(|l| l == "oom_kill_disable 1"),
        "memory.oom_control:\n{oom}"
    );
    // The container sees the same limits in its own cgroup namespace.
    let inside = inside_file(&bundle, "inside");
    assert_eq!(
        inside.split_whitespace().collect::<Vec<_>>(),
        [(64 * MIB).to_string(), (32 * MIB).to_string()],
        "limits read inside the container"
    );
    nook.destroy(&id, &bundle);
}

#[test]
fn memory_limit_minus_one_is_unlimited() {
    if skip_unless_root() {
        return;
    }
    let bundle = bundle_with("exec sleep 1000", json!({"memory": {"limit": -1}}));
    let nook = Nook::new();
    let (id, pid) = start(&nook, &bundle);
    let dir = memory_dir(&id, pid);
    assert_eq!(cg(&dir, "memory.limit_in_bytes"), V1_UNLIMITED);
    nook.destroy(&id, &bundle);
}

/// The 16 MiB hog of the OOM test (swap capped too, if accountable).
fn hog_bundle() -> Bundle {
    let mut memory = json!({"limit": 16 * MIB});
    if host_has("memory", "memory.memsw.limit_in_bytes") {
        memory["swap"] = json!(16 * MIB);
    }
    bundle_with(
        "x=a; while true; do x=$x$x; done",
        json!({ "memory": memory }),
    )
}

#[test]
fn a_memory_hog_is_oom_killed() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = hog_bundle();

    // Foreground: the run reports the SIGKILL of the OOM killer as 137.
    let id = nook.new_id();
    let started = Instant::now();
    let out = nook
        .spawn(&["run", "-b", bundle.path_str(), &id])
        .wait_timeout(Duration::from_secs(15));
    assert_eq!(out.code(), 137, "the hog must die of SIGKILL:\n{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "OOM took {:?}",
        started.elapsed()
    );
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());

    // Detached: the stopped container's cgroup records the OOM.
    let id = nook.new_id();
    nook.run(&["run", "-d", "-b", bundle.path_str(), &id])
        .expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);
    let dir = default_dir("memory", &id);
    // The OOM shows as a kill in memory.oom_control (kernel 4.13+) or as a
    // failed charge. (This 6.18 kernel leaves the v1 failcnt files at 0, with
    // runc too; memsw fails first when it is as low as the limit.)
    let oom = cg(&dir, "memory.oom_control");
    let kills = oom
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .map(|n| n.parse::<u64>().expect("oom_kill count"))
        .unwrap_or(0);
    let failcnt = |file: &str| -> u64 {
        if !dir.join(file).exists() {
            return 0;
        }
        cg(&dir, file).parse().expect("failcnt is a number")
    };
    let failed = failcnt("memory.failcnt") + failcnt("memory.memsw.failcnt");
    assert!(
        kills >= 1 || failed > 0,
        "no trace of the OOM: failcnt {failed}, memory.oom_control:\n{oom}"
    );
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn a_tiny_memory_limit_still_runs_the_container() {
    if skip_unless_root() {
        return;
    }
    // The runtime's own setup must not be charged to the container.
    let bundle = bundle_with("echo ok", json!({"memory": {"limit": 4 * MIB}}));
    let nook = Nook::new();
    assert_eq!(nook.output_of(&bundle), "ok\n");
}

// ---------------------------------------------------------------------------
// pids
// ---------------------------------------------------------------------------

#[test]
fn pids_limit_caps_the_number_of_processes() {
    if skip_unless_root() {
        return;
    }
    // The subshell forks until the limit stops it (ash then gives up the
    // subshell); init records that and execs, without needing another fork.
    let script = "(for i in $(seq 100); do sleep 30 & done) 2>/tmp/forks; \
                  touch /tmp/ready; exec sleep 1000";
    let bundle = bundle_with(script, json!({"pids": {"limit": 20}}));
    let nook = Nook::new();
    let (id, pid) = start(&nook, &bundle);
    let dir = cgroup_dir(pid, "pids");
    assert_eq!(dir, default_dir("pids", &id));
    assert_eq!(cg(&dir, "pids.max"), "20");
    let forks = inside_file(&bundle, "forks");
    assert!(
        forks.contains("can't fork") || forks.contains("Resource temporarily unavailable"),
        "no fork failed under pids.max 20; stderr of the loop:\n{forks}"
    );
    let current: u64 = cg(&dir, "pids.current").parse().expect("pids.current");
    assert!(current <= 20, "pids.current is {current} with pids.max 20");
    assert!(
        current >= 10,
        "only {current} processes: the loop barely ran"
    );
    nook.destroy(&id, &bundle);
}

#[test]
fn pids_without_a_limit_are_max() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    for pids in [json!({"limit": -1}), json!({})] {
        let bundle = bundle_with("exec sleep 1000", json!({ "pids": pids }));
        let (id, pid) = start(&nook, &bundle);
        let dir = cgroup_dir(pid, "pids");
        assert_eq!(cg(&dir, "pids.max"), "max", "pids {pids}");
        nook.destroy(&id, &bundle);
    }
}

#[test]
fn pids_limit_zero_is_applied_or_refused_clearly() {
    if skip_unless_root() {
        return;
    }
    // `true` needs no fork. Either outcome is acceptable; a half-made
    // container is not.
    let bundle = bundle_with("true", json!({"pids": {"limit": 0}}));
    let nook = Nook::new();
    let id = nook.new_id();
    let out = nook.run(&["run", "-d", "-b", bundle.path_str(), &id]);
    if out.ok() {
        // runc treats 0 as "unset" on v1 (the spec parser cannot tell it
        // from a missing limit); writing 0 is fine too.
        nook.wait_status(&id, "stopped", SETTLE);
        let max = cg(&default_dir("pids", &id), "pids.max");
        assert!(
            max == "max" || max == "0",
            "pids.max for limit 0 is {max:?}"
        );
        nook.run(&["delete", &id]).expect_ok();
    } else {
        out.expect_err(&["linux.resources.pids"]);
    }
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

// ---------------------------------------------------------------------------
// cpu and cpuset
// ---------------------------------------------------------------------------

#[test]
fn cpu_shares_quota_and_cpuset_are_written() {
    if skip_unless_root() {
        return;
    }
    let cpu = json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"});
    let script = "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us >/tmp/quota; nproc >/tmp/nproc; \
                  touch /tmp/ready; exec sleep 1000";
    let bundle = bundle_with(script, json!({ "cpu": cpu }));
    let nook = Nook::new();
    let (id, pid) = start(&nook, &bundle);
    let cpu_dir = cgroup_dir(pid, "cpu");
    assert_eq!(cpu_dir, default_dir("cpu", &id));
    assert_eq!(cg(&cpu_dir, "cpu.shares"), "512");
    assert_eq!(cg(&cpu_dir, "cpu.cfs_quota_us"), "50000");
    assert_eq!(cg(&cpu_dir, "cpu.cfs_period_us"), "100000");
    let cpuset = cgroup_dir(pid, "cpuset");
    assert_eq!(cg(&cpuset, "cpuset.cpus"), "0");
    assert_eq!(cg(&cpuset, "cpuset.mems"), "0");
    assert_eq!(inside_file(&bundle, "quota").trim(), "50000");
    assert_eq!(
        inside_file(&bundle, "nproc").trim(),
        "1",
        "affinity inside with cpus \"0\""
    );
    nook.destroy(&id, &bundle);
}

#[test]
fn cpu_realtime_is_written_or_refused_clearly() {
    if skip_unless_root() {
        return;
    }
    if !host_has("cpu", "cpu.rt_runtime_us") {
        skip("cpu.rt_runtime_us: the host's cpu cgroup has no RT group scheduling");
        return;
    }
    let cpu = json!({"realtimeRuntime": 10000, "realtimePeriod": 1000000});
    let bundle = bundle_with("exec sleep 1000", json!({ "cpu": cpu }));
    let nook = Nook::new();
    let id = nook.new_id();
    let out = nook.run(&["run", "-d", "-b", bundle.path_str(), &id]);
    if out.ok() {
        let dir = cgroup_dir(nook.pid(&id), "cpu");
        assert_eq!(cg(&dir, "cpu.rt_period_us"), "1000000");
        assert_eq!(cg(&dir, "cpu.rt_runtime_us"), "10000");
        nook.destroy(&id, &bundle);
    } else {
        // The parent may have no RT budget to hand out.
        out.expect_err(&["linux.resources.cpu.realtimeRuntime"]);
        assert_no_leftovers(&id, bundle.path(), nook.root());
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn swap_below_the_memory_limit_is_refused() {
    if skip_unless_root() {
        return;
    }
    let bundle = bundle_with(
        "true",
        json!({"memory": {"limit": 64 * MIB, "swap": 32 * MIB}}),
    );
    create_fails(&bundle, &["linux.resources.memory.swap"]);
}

#[test]
fn cpu_quota_with_period_zero_is_refused() {
    if skip_unless_root() {
        return;
    }
    let bundle = bundle_with("true", json!({"cpu": {"quota": 50000, "period": 0}}));
    create_fails(&bundle, &["linux.resources.cpu"]);
}

#[test]
fn resources_this_host_cannot_apply_are_refused() {
    if skip_unless_root() {
        return;
    }
    let mut cases = vec![];
    if !host_has("blkio", "blkio.weight") && !host_has("blkio", "blkio.bfq.weight") {
        cases.push((json!({"blockIO": {"weight": 500}}), "blockIO"));
    } else {
        skip("blockIO.weight: this host has a blkio weight file");
    }
    if !host_has("net_cls", "net_cls.classid") {
        cases.push((
            json!({"network": {"classID": 0x100001}}),
            "linux.resources.network",
        ));
    } else {
        skip("network.classID: this host has net_cls");
    }
    if !host_has("rdma", "rdma.max") {
        cases.push((
            json!({"rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 10000}}}),
            "rdma",
        ));
    } else {
        skip("rdma: this host has an rdma controller");
    }
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        cases.push((
            json!({"unified": {"memory.high": "100000000"}}),
            "linux.resources.unified",
        ));
    } else {
        skip("unified: this host is pure cgroup v2");
    }
    for (resources, needle) in cases {
        let bundle = bundle_with("true", resources);
        create_fails(&bundle, &[needle]);
    }
}

// ---------------------------------------------------------------------------
// nook update
// ---------------------------------------------------------------------------

/// `update --resources -` with `json` on stdin.
fn update_from_stdin(nook: &Nook, id: &str, json: &str) -> Out {
    let mut cmd = nook.command(&["update", "--resources", "-", id]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?} <<< {json}");
    let mut child = cmd.spawn().expect("spawn nook update");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(json.as_bytes()).expect("write stdin");
    }
    let o = child.wait_with_output().expect("wait for nook update");
    Out {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        what,
    }
}

#[test]
fn update_changes_limits_of_a_running_container() {
    if skip_unless_root() {
        return;
    }
    let bundle = bundle_with("exec sleep 1000", json!({}));
    let nook = Nook::new();
    let (id, pid) = start(&nook, &bundle);
    let mem = memory_dir(&id, pid);
    let pids = cgroup_dir(pid, "pids");
    let cpu = cgroup_dir(pid, "cpu");
    let cpuset = cgroup_dir(pid, "cpuset");

    nook.run(&["update", "--memory", "100M", &id]).expect_ok();
    assert_eq!(cg(&mem, "memory.limit_in_bytes"), (100 * MIB).to_string());
    nook.run(&["update", "--memory", &(70 * MIB).to_string(), &id])
        .expect_ok();
    assert_eq!(cg(&mem, "memory.limit_in_bytes"), (70 * MIB).to_string());

    nook.run(&["update", "--pids-limit", "30", &id]).expect_ok();
    assert_eq!(cg(&pids, "pids.max"), "30");

    nook.run(&[
        "update",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        &id,
    ])
    .expect_ok();
    assert_eq!(cg(&cpu, "cpu.cfs_quota_us"), "20000");
    assert_eq!(cg(&cpu, "cpu.cfs_period_us"), "100000");

    nook.run(&["update", "--cpu-share", "256", &id]).expect_ok();
    assert_eq!(cg(&cpu, "cpu.shares"), "256");

    nook.run(&["update", "--cpuset-cpus", "0", &id]).expect_ok();
    assert_eq!(cg(&cpuset, "cpuset.cpus"), "0");

    // A LinuxResources object from a file...
    let file = bundle.path().join("resources.json");
    fs::write(
        &file,
        json!({"memory": {"limit": 50 * MIB}, "pids": {"limit": 40}}).to_string(),
    )
    .expect("write resources.json");
    nook.run(&["update", "--resources", path_str(&file), &id])
        .expect_ok();
    assert_eq!(cg(&mem, "memory.limit_in_bytes"), (50 * MIB).to_string());
    assert_eq!(cg(&pids, "pids.max"), "40");

    // ...and from stdin.
    let body = json!({"memory": {"limit": 40 * MIB}, "cpu": {"shares": 300}}).to_string();
    let out = update_from_stdin(&nook, &id, &body);
    assert!(out.ok(), "expected success:\n{out}");
    assert_eq!(cg(&mem, "memory.limit_in_bytes"), (40 * MIB).to_string());
    assert_eq!(cg(&cpu, "cpu.shares"), "300");

    assert_eq!(nook.status(&id), "running", "the updates left it running");
    nook.destroy(&id, &bundle);
}

#[test]
fn update_of_a_stopped_or_unknown_container_fails() {
    if skip_unless_root() {
        return;
    }
    let bundle = bundle_with("true", json!({}));
    let nook = Nook::new();
    let (id, _) = start(&nook, &bundle);
    nook.wait_status(&id, "stopped", SETTLE);
    let out = nook.run(&["update", "--memory", "100M", &id]);
    assert!(!out.ok(), "update of a stopped container succeeded:\n{out}");
    assert_eq!(out.code(), 1, "errors exit with status 1:\n{out}");
    assert!(
        out.stderr.contains("not running") || out.stderr.contains("stopped"),
        "stderr does not say the container is not running:\n{out}"
    );
    nook.run(&["update", "--memory", "100M", "nope-no-such-id"])
        .expect_err(&["does not exist"]);
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn block_io_throttles_are_written_to_the_v1_files() {
    if skip_unless_root() {
        return;
    }
    // The device of the filesystem under the test: a real block device here.
    let meta = fs::metadata("/").expect("stat /");
    let rdev = std::os::linux::fs::MetadataExt::st_dev(&meta);
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    if !Path::new(&format!("/sys/dev/block/{major}:{minor}")).exists() {
        skip("/ is not on a block device here");
        return;
    }
    let nook = Nook::new();
    let bundle = bundle_with(
        "sleep 100",
        json!({"blockIO": {
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]
        }}),
    );
    let (id, pid) = start(&nook, &bundle);
    let dir = cgroup_dir(pid, "blkio");
    assert_eq!(
        cg(&dir, "blkio.throttle.read_bps_device"),
        format!("{major}:{minor} 1048576")
    );
    assert_eq!(
        cg(&dir, "blkio.throttle.write_iops_device"),
        format!("{major}:{minor} 100")
    );
    nook.destroy(&id, &bundle);
    assert_no_leftovers(&id, bundle.path(), nook.root());
}
