//! The `process` and `linux` fields of config.json that shape the container
//! process (capabilities, rlimits, scheduling, I/O priority, personality,
//! memory policy, LSM labels) and its view of the rootfs (masked and
//! read-only paths, device nodes, sysctls), each observed from inside a real
//! container, plus the errors for values that cannot be applied.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A bundle running `sh -c SCRIPT` with `f` applied to its config.
fn sh_with(script: &str, f: impl FnOnce(&mut Value)) -> Bundle {
    let mut b = Bundle::sh(script);
    b.edit(f);
    b
}

/// Runs `sh -c SCRIPT` with `f` applied to the config; returns stdout.
fn output_with(script: &str, f: impl FnOnce(&mut Value)) -> String {
    Nook::new().output_of(&sh_with(script, f))
}

/// The value of a `Key:` line in a /proc/PID/status text.
fn status_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key}: line in\n{text}"))
}

/// A `key : value` line of /proc/PID/sched.
fn sched_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {key} line in\n{text}"))
}

/// Whether this test process has `cap` in its effective set.
fn host_has_cap(cap: u32) -> bool {
    let text = fs::read_to_string("/proc/self/status").expect("read status");
    let eff = u64::from_str_radix(&status_value(&text, "CapEff"), 16).expect("hex CapEff");
    eff & (1 << cap) != 0
}

/// create + start `sleep 100`, wait until it runs; returns (nook, id, pid).
fn start_sleeper(bundle: &mut Bundle) -> (Nook, String, i32) {
    bundle.set_args(&["sleep", "100"]);
    let nook = Nook::new();
    let id = nook.new_id();
    nook.create(bundle, &id);
    let pid = nook.pid(&id);
    nook.run(&["start", &id]).expect_ok();
    wait_until("init to exec sleep", SETTLE, || {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "sleep")
    });
    (nook, id, pid)
}

// ---------------------------------------------------------------------------
// process.capabilities
// ---------------------------------------------------------------------------

/// Capability names in bit order (linux/capability.h).
const CAPS: &[&str] = &[
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

const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_NICE: u32 = 23;
const CAP_SYS_RESOURCE: u32 = 24;

fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| {
        let bit = CAPS
            .iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("{n} is not in the test's table"));
        m | (1u64 << bit)
    })
}

/// The five Cap* masks of a /proc/PID/status text, in the order
/// Bnd, Eff, Prm, Inh, Amb.
fn cap_masks(out: &str) -> [u64; 5] {
    ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"].map(|k| {
        u64::from_str_radix(&status_value(out, k), 16)
            .unwrap_or_else(|e| panic!("{k} is not hex ({e}):\n{out}"))
    })
}

fn caps_json(bnd: &[&str], eff: &[&str], prm: &[&str], inh: &[&str], amb: &[&str]) -> Value {
    json!({
        "bounding": bnd, "effective": eff, "permitted": prm,
        "inheritable": inh, "ambient": amb,
    })
}

#[test]
fn capabilities_all_five_sets_as_root() {
    if skip_unless_root() {
        return;
    }
    // Root's execve recomputes permitted and effective as bounding |
    // inheritable | ambient, so the configured permitted/effective sets
    // equal the bounding set here: each of the five masks is then exactly
    // what the config names, whichever way a runtime orders its steps.
    // CAP_BPF and CAP_CHECKPOINT_RESTORE lie above bit 32.
    let bnd = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_KILL",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    let inh = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_BPF"];
    let amb = ["CAP_NET_BIND_SERVICE"];
    let host = fs::read_to_string("/proc/self/status").unwrap();
    let host_bnd = u64::from_str_radix(&status_value(&host, "CapBnd"), 16).unwrap();
    if cap_mask(&bnd) & !host_bnd != 0 {
        skip("the host's bounding set lacks a capability this test grants");
        return;
    }
    let cases = [
        (
            caps_json(&bnd, &bnd, &bnd, &inh, &amb),
            [
                cap_mask(&bnd),
                cap_mask(&bnd),
                cap_mask(&bnd),
                cap_mask(&inh),
                cap_mask(&amb),
            ],
        ),
        (caps_json(&[], &[], &[], &[], &[]), [0; 5]),
    ];
    for (caps, want) in cases {
        let bundle = sh_with("cat /proc/self/status", |c| {
            c["process"]["capabilities"] = caps.clone();
        });
        let got = cap_masks(&Nook::new().output_of(&bundle));
        assert_eq!(
            got.map(|m| format!("{m:016x}")),
            want.map(|m| format!("{m:016x}")),
            "[Bnd, Eff, Prm, Inh, Amb] for {caps}"
        );
    }
}

#[test]
fn ambient_capabilities_survive_the_switch_to_a_non_root_user() {
    if skip_unless_root() {
        return;
    }
    let bnd = [
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_CHOWN",
        "CAP_SETUID",
    ];
    let nbs = ["CAP_NET_BIND_SERVICE"];
    let inh = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
    let bundle = sh_with("id -u; cat /proc/self/status", |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = caps_json(&bnd, &nbs, &nbs, &inh, &nbs);
    });
    let out = Nook::new().output_of(&bundle);
    assert!(out.starts_with("1000\n"), "not running as uid 1000:\n{out}");
    let [cbnd, eff, prm, cinh, amb] = cap_masks(&out);
    let bit = 1u64 << CAP_NET_BIND_SERVICE;
    assert_ne!(amb & bit, 0, "CapAmb {amb:x} lacks CAP_NET_BIND_SERVICE");
    assert_ne!(eff & bit, 0, "CapEff {eff:x} lacks CAP_NET_BIND_SERVICE");
    // A non-root execve without file caps keeps exactly the ambient set.
    assert_eq!(amb, bit, "CapAmb");
    assert_eq!(eff, bit, "CapEff");
    assert_eq!(prm, bit, "CapPrm");
    assert_eq!(cinh, cap_mask(&inh), "CapInh");
    assert_eq!(cbnd, cap_mask(&bnd), "CapBnd");
}

#[test]
fn unknown_capability_is_skipped_with_a_warning() {
    if skip_unless_root() {
        return;
    }
    let known = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let with_foo = ["CAP_KILL", "CAP_FOO", "CAP_NET_BIND_SERVICE"];
    let bundle = sh_with("cat /proc/self/status", |c| {
        c["process"]["capabilities"] = caps_json(&with_foo, &with_foo, &with_foo, &[], &[]);
    });
    let nook = Nook::new();
    let out = nook.run_bundle(&bundle).expect_ok();
    assert!(
        out.stderr.contains("CAP_FOO"),
        "no warning naming CAP_FOO:\n{out}"
    );
    let bnd = u64::from_str_radix(&status_value(&out.stdout, "CapBnd"), 16).unwrap();
    let eff = u64::from_str_radix(&status_value(&out.stdout, "CapEff"), 16).unwrap();
    assert_eq!(bnd, cap_mask(&known), "the known names still apply:\n{out}");
    assert_eq!(eff, cap_mask(&known), "the known names still apply:\n{out}");
}

// ---------------------------------------------------------------------------
// process.noNewPrivileges
// ---------------------------------------------------------------------------

#[test]
fn no_new_privileges_true_and_false() {
    if skip_unless_root() {
        return;
    }
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let out = output_with("cat /proc/self/status", |c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
        });
        assert_eq!(
            status_value(&out, "NoNewPrivs"),
            want,
            "noNewPrivileges {nnp}"
        );
    }
}

// ---------------------------------------------------------------------------
// process.rlimits
// ---------------------------------------------------------------------------

/// (soft, hard) of a /proc/PID/limits line starting with `name`.
fn limits_line(text: &str, name: &str) -> (String, String) {
    let line = text
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name:?} in\n{text}"));
    let mut f = line[name.len()..].split_whitespace();
    (f.next().unwrap().to_string(), f.next().unwrap().to_string())
}

#[test]
fn rlimits_nofile_and_core_apply() {
    if skip_unless_root() {
        return;
    }
    let out = output_with("ulimit -n; ulimit -Hn; cat /proc/self/limits", |c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000},
            {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192},
        ]);
    });
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1000"), "ulimit -n:\n{out}");
    assert_eq!(lines.next(), Some("2000"), "ulimit -Hn:\n{out}");
    assert_eq!(
        limits_line(&out, "Max open files"),
        ("1000".into(), "2000".into())
    );
    assert_eq!(
        limits_line(&out, "Max core file size"),
        ("4096".into(), "8192".into())
    );
}

#[test]
fn unknown_rlimit_type_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]);
    });
    create_fails(&bundle, &["process.rlimits", "RLIMIT_FOO"]);
}

#[test]
fn rlimit_soft_above_hard_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 2000, "hard": 1000}]);
    });
    create_fails(&bundle, &["process.rlimits", "RLIMIT_NOFILE"]);
}

#[test]
fn rlimit_hard_above_the_hosts_needs_cap_sys_resource() {
    if skip_unless_root() {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(r, 0);
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let hard = (lim.rlim_max * 5).min(nr_open);
    if hard <= lim.rlim_max {
        skip("the host's nofile hard limit is already at fs.nr_open");
        return;
    }
    let mut bundle = Bundle::sh("ulimit -Hn");
    bundle.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard}]);
    });
    if host_has_cap(CAP_SYS_RESOURCE) {
        // A host that may raise it must do so.
        let out = Nook::new().output_of(&bundle);
        assert_eq!(out, format!("{hard}\n"));
    } else {
        create_fails(&bundle, &["process.rlimits", "RLIMIT_NOFILE"]);
    }
}

// ---------------------------------------------------------------------------
// process.oomScoreAdj
// ---------------------------------------------------------------------------

#[test]
fn oom_score_adj_applies() {
    if skip_unless_root() {
        return;
    }
    let out = output_with("cat /proc/self/oom_score_adj", |c| {
        c["process"]["oomScoreAdj"] = json!(500);
    });
    assert_eq!(out, "500\n");
}

#[test]
fn oom_score_adj_below_the_hosts_needs_cap_sys_resource() {
    if skip_unless_root() {
        return;
    }
    let own: i32 = fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let adj = own - 300;
    if adj < -1000 {
        skip("this process' oom_score_adj is already near -1000");
        return;
    }
    let mut bundle = Bundle::sh("cat /proc/self/oom_score_adj");
    bundle.edit(|c| c["process"]["oomScoreAdj"] = json!(adj));
    if host_has_cap(CAP_SYS_RESOURCE) {
        assert_eq!(Nook::new().output_of(&bundle), format!("{adj}\n"));
    } else {
        // Lowering it needs CAP_SYS_RESOURCE, which this host lacks.
        create_fails(&bundle, &["process.oomScoreAdj"]);
    }
}

#[test]
fn oom_score_adj_out_of_range_is_refused() {
    if skip_unless_root() {
        return;
    }
    for adj in [1001, -1001] {
        let mut bundle = Bundle::new();
        bundle.edit(|c| c["process"]["oomScoreAdj"] = json!(adj));
        create_fails(&bundle, &["process.oomScoreAdj"]);
    }
}

// ---------------------------------------------------------------------------
// process.ioPriority
// ---------------------------------------------------------------------------

const IOPRIO_CLASS_SHIFT: i64 = 13;

fn ioprio_get(pid: i32) -> i64 {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: ioprio_get only reads its integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, pid) };
    assert!(
        r >= 0,
        "ioprio_get({pid}): {}",
        std::io::Error::last_os_error()
    );
    r
}

#[test]
fn io_priority_is_set_on_the_container_process() {
    if skip_unless_root() {
        return;
    }
    for (class, prio, class_no, busybox) in [
        ("IOPRIO_CLASS_IDLE", 0, 3, "idle"),
        ("IOPRIO_CLASS_BE", 3, 2, "best-effort: prio 3"),
    ] {
        let prio_json = json!({"class": class, "priority": prio});
        // Inside: busybox ionice prints the calling process' priority.
        let out = output_with("ionice", |c| c["process"]["ioPriority"] = prio_json.clone());
        assert_eq!(out, format!("{busybox}\n"), "{class}");
        // From the host: the container's init itself.
        let mut bundle = Bundle::new();
        bundle.edit(|c| c["process"]["ioPriority"] = prio_json.clone());
        let (nook, id, pid) = start_sleeper(&mut bundle);
        let got = ioprio_get(pid);
        nook.destroy(&id, &bundle);
        assert_eq!(got, (class_no << IOPRIO_CLASS_SHIFT) | prio, "{class}");
    }
}

#[test]
fn io_priority_out_of_range_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8});
    });
    create_fails(&bundle, &["process.ioPriority"]);
}

// ---------------------------------------------------------------------------
// process.scheduler
// ---------------------------------------------------------------------------

#[test]
fn scheduler_batch_with_nice() {
    if skip_unless_root() {
        return;
    }
    let out = output_with("cat /proc/self/sched", |c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    });
    assert_eq!(sched_value(&out, "policy"), "3", "{out}");
    assert_eq!(sched_value(&out, "prio"), "127", "{out}");
}

/// Whether a v1 cpu hierarchy with RT group scheduling is mounted.
fn rt_group_sched_v1() -> bool {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        f.len() > 3
            && f[2] == "cgroup"
            && f[3].split(',').any(|o| o == "cpu")
            && Path::new(f[1]).join("cpu.rt_runtime_us").exists()
    })
}

#[test]
fn scheduler_fifo_with_priority() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::sh("cat /proc/self/sched");
    bundle.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 10});
    });
    // Without CAP_SYS_NICE, or in a cgroup v1 cpu hierarchy with RT group
    // scheduling (a new cgroup there gets cpu.rt_runtime_us 0, and nook
    // cannot set linux.resources.cpu.realtimeRuntime), sched_setattr fails
    // with EPERM: that must be a clear error naming the field.
    if !host_has_cap(CAP_SYS_NICE) || rt_group_sched_v1() {
        create_fails(&bundle, &["process.scheduler", "SCHED_FIFO"]);
        return;
    }
    let out = Nook::new().output_of(&bundle);
    assert_eq!(sched_value(&out, "policy"), "1", "{out}");
    // Real-time priority p shows as prio 99 - p.
    assert_eq!(sched_value(&out, "prio"), "89", "{out}");
}

#[test]
fn scheduler_bad_values_are_refused() {
    if skip_unless_root() {
        return;
    }
    let cases = [
        (
            json!({"policy": "SCHED_FIFO", "priority": 0}),
            "process.scheduler.priority",
        ),
        (
            json!({"policy": "SCHED_OTHER", "nice": 30}),
            "process.scheduler.nice",
        ),
    ];
    for (sched, needle) in cases {
        let mut bundle = Bundle::new();
        bundle.edit(|c| c["process"]["scheduler"] = sched.clone());
        create_fails(&bundle, &[needle]);
    }
}

// ---------------------------------------------------------------------------
// linux.personality
// ---------------------------------------------------------------------------

fn host_machine() -> String {
    // SAFETY: an all-zero utsname is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct it is given.
    let r = unsafe { libc::uname(&mut u) };
    assert_eq!(r, 0);
    // SAFETY: the kernel NUL-terminates the field.
    unsafe { std::ffi::CStr::from_ptr(u.machine.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn personality_linux32_and_linux() {
    if skip_unless_root() {
        return;
    }
    let machine = host_machine();
    let want32 = match machine.as_str() {
        "x86_64" => "i686",
        "aarch64" => "armv8l",
        "ppc64le" | "ppc64" => "ppc",
        "s390x" => "s390",
        other => {
            skip(&format!("no known 32-bit machine name for {other}"));
            return;
        }
    };
    let uname = |domain: &str| {
        output_with("uname -m", |c| {
            c["linux"]["personality"] = json!({"domain": domain});
        })
    };
    assert_eq!(uname("LINUX32"), format!("{want32}\n"));
    assert_eq!(uname("LINUX"), format!("{machine}\n"));
}

#[test]
fn personality_unknown_flag_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["NOOK_FLAG"]});
    });
    create_fails(&bundle, &["linux.personality"]);
}

// ---------------------------------------------------------------------------
// linux.memoryPolicy
// ---------------------------------------------------------------------------

/// The policy column of every mapping in the container's numa_maps.
fn numa_policies(policy: Value) -> Vec<String> {
    let out = output_with("cat /proc/self/numa_maps", |c| {
        c["linux"]["memoryPolicy"] = policy;
    });
    let pols: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(str::to_string)
        .collect();
    assert!(!pols.is_empty(), "empty numa_maps:\n{out}");
    pols
}

#[test]
fn memory_policy_modes_apply() {
    if skip_unless_root() {
        return;
    }
    if !Path::new("/proc/self/numa_maps").exists() {
        skip("the kernel has no NUMA support (/proc/self/numa_maps missing)");
        return;
    }
    let cases = [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
    ];
    for (policy, want) in cases {
        let pols = numa_policies(policy.clone());
        // Mappings without a policy of their own show the task's policy.
        assert!(
            pols.iter().all(|p| p == want),
            "{policy}: expected every mapping to show {want:?}, got {pols:?}"
        );
    }
    let pols = numa_policies(json!({"mode": "MPOL_DEFAULT"}));
    assert!(pols.iter().all(|p| p == "default"), "{pols:?}");
}

#[test]
fn memory_policy_bad_values_are_refused() {
    if skip_unless_root() {
        return;
    }
    for policy in [
        json!({"mode": "MPOL_BIND"}),
        json!({"mode": "MPOL_FOO", "nodes": "0"}),
        json!({"mode": "MPOL_BIND", "nodes": "5-1"}),
    ] {
        let mut bundle = Bundle::new();
        bundle.edit(|c| c["linux"]["memoryPolicy"] = policy.clone());
        create_fails(&bundle, &["linux.memoryPolicy"]);
    }
}

// ---------------------------------------------------------------------------
// LSM labels and Intel RDT on a host without them
// ---------------------------------------------------------------------------

fn apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim_start().starts_with('Y'))
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

#[test]
fn apparmor_profile_without_apparmor_is_refused() {
    if skip_unless_root() {
        return;
    }
    if apparmor_enabled() {
        skip("AppArmor is enabled on this host");
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| c["process"]["apparmorProfile"] = json!("nook-test-profile"));
    create_fails(&bundle, &["process.apparmorProfile"]);
}

#[test]
fn selinux_labels_without_selinux_are_refused() {
    if skip_unless_root() {
        return;
    }
    if selinux_enabled() {
        skip("SELinux is enabled on this host");
        return;
    }
    let label = "system_u:system_r:container_t:s0:c1,c2";
    let mut bundle = Bundle::new();
    bundle.edit(|c| c["process"]["selinuxLabel"] = json!(label));
    create_fails(&bundle, &["process.selinuxLabel"]);

    let label = "system_u:object_r:container_file_t:s0:c1,c2";
    let mut bundle = Bundle::new();
    bundle.edit(|c| c["linux"]["mountLabel"] = json!(label));
    create_fails(&bundle, &["linux.mountLabel"]);
}

#[test]
fn intel_rdt_without_resctrl_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    if mounts
        .lines()
        .any(|l| l.split(' ').nth(2) == Some("resctrl"))
    {
        skip("resctrl is mounted on this host");
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        c["linux"]["intelRdt"] = json!({"closID": "nooktest", "l3CacheSchema": "L3:0=f"});
    });
    create_fails(&bundle, &["linux.intelRdt"]);
}

// ---------------------------------------------------------------------------
// linux.maskedPaths and linux.readonlyPaths
// ---------------------------------------------------------------------------

#[test]
fn masked_files_and_directories_read_empty() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::sh(
        "echo \"file:$(cat /etc/secret)\"; \
         echo \"dir:$(ls -A /etc/secretdir)\"; \
         echo \"proc:$(wc -c < /proc/timer_list)\"; \
         echo \"other:$(cat /etc/visible)\"",
    );
    let rootfs = bundle.rootfs();
    fs::write(rootfs.join("etc/secret"), "top secret\n").unwrap();
    fs::create_dir(rootfs.join("etc/secretdir")).unwrap();
    fs::write(rootfs.join("etc/secretdir/key"), "key\n").unwrap();
    fs::write(rootfs.join("etc/visible"), "shown\n").unwrap();
    bundle.edit(|c| {
        c["linux"]["maskedPaths"] = json!(["/etc/secret", "/etc/secretdir", "/proc/timer_list"]);
    });
    let out = Nook::new().output_of(&bundle);
    assert_eq!(out, "file:\ndir:\nproc:0\nother:shown\n");
    // Masking hides; it must not change the rootfs.
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/secret")).unwrap(),
        "top secret\n"
    );
    assert!(rootfs.join("etc/secretdir/key").exists());
}

#[test]
fn masked_path_that_does_not_exist_is_skipped() {
    if skip_unless_root() {
        return;
    }
    let out = output_with("echo ran; ls -d /no /etc/nothing 2>&1; true", |c| {
        c["linux"]["maskedPaths"] = json!(["/no/such/path", "/etc/nothing"]);
    });
    // Nothing may be created for a missing path.
    assert_eq!(
        out,
        "ran\nls: /no: No such file or directory\nls: /etc/nothing: No such file or directory\n"
    );
}

#[test]
fn masked_symlink_does_not_mask_its_target() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::sh("cat /etc/target; cat /data/target2");
    let rootfs = bundle.rootfs();
    fs::write(rootfs.join("etc/target"), "still here\n").unwrap();
    symlink("/etc/target", rootfs.join("etc/link")).unwrap();
    fs::create_dir(rootfs.join("data")).unwrap();
    fs::write(rootfs.join("data/target2"), "me too\n").unwrap();
    symlink("../data/target2", rootfs.join("etc/rellink")).unwrap();
    bundle.edit(|c| {
        c["linux"]["maskedPaths"] = json!(["/etc/link", "/etc/rellink"]);
    });
    let nook = Nook::new();
    let out = nook.run_bundle(&bundle);
    assert!(out.ok(), "{out}");
    assert_eq!(out.stdout, "still here\nme too\n", "{out}");
    assert_eq!(
        fs::read_link(rootfs.join("etc/link")).unwrap(),
        Path::new("/etc/target")
    );
}

#[test]
fn readonly_path_is_read_only_while_the_root_is_writable() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::sh(
        "cat /data/file; \
         if touch /data/x 2>/dev/null; then echo data:rw; else echo data:ro; fi; \
         if echo y >> /data/file 2>/dev/null; then echo file:rw; else echo file:ro; fi; \
         if touch /rootok; then echo root:rw; else echo root:ro; fi",
    );
    let rootfs = bundle.rootfs();
    fs::create_dir(rootfs.join("data")).unwrap();
    fs::write(rootfs.join("data/file"), "content\n").unwrap();
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["readonlyPaths"] = json!(["/data"]);
    });
    let out = Nook::new().output_of(&bundle);
    assert_eq!(out, "content\ndata:ro\nfile:ro\nroot:rw\n");
    assert!(!rootfs.join("data/x").exists());
    assert_eq!(
        fs::read_to_string(rootfs.join("data/file")).unwrap(),
        "content\n"
    );
    assert!(rootfs.join("rootok").exists());
}

// ---------------------------------------------------------------------------
// linux.devices
// ---------------------------------------------------------------------------

#[test]
fn devices_of_each_type_are_created() {
    if skip_unless_root() {
        return;
    }
    let out = output_with(
        "for d in /dev/nook-null /dev/nook-fifo /dev/nook-loop; do \
           stat -c '%n|%t %T|%a|%u %g|%F' $d; done",
        |c| {
            c["linux"]["devices"] = json!([
                {"path": "/dev/nook-null", "type": "c", "major": 1, "minor": 3,
                 "fileMode": 0o640, "uid": 1000, "gid": 1001},
                {"path": "/dev/nook-fifo", "type": "p", "fileMode": 0o600},
                {"path": "/dev/nook-loop", "type": "b", "major": 7, "minor": 0,
                 "fileMode": 0o660, "uid": 0, "gid": 6},
            ]);
        },
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "/dev/nook-null|1 3|640|1000 1001|character special file",
            "/dev/nook-fifo|0 0|600|0 0|fifo",
            "/dev/nook-loop|7 0|660|0 6|block special file",
        ],
        "{out}"
    );
}

#[test]
fn device_with_bad_type_is_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        c["linux"]["devices"] =
            json!([{"path": "/dev/nook-x", "type": "x", "major": 1, "minor": 3}]);
    });
    create_fails(&bundle, &["linux.devices[0].type"]);
}

#[test]
fn device_outside_dev_is_refused() {
    if skip_unless_root() {
        return;
    }
    for path in ["/etc/nook-null", "/dev/../etc/nook-null"] {
        let mut bundle = Bundle::new();
        bundle.edit(|c| {
            c["root"]["readonly"] = json!(false);
            c["linux"]["devices"] = json!([{"path": path, "type": "c", "major": 1, "minor": 3}]);
        });
        create_fails(&bundle, &["linux.devices[0]"]);
        assert!(
            !bundle.rootfs().join("etc/nook-null").exists(),
            "{path} was created"
        );
    }
}

// ---------------------------------------------------------------------------
// linux.sysctl and linux.timeOffsets
// ---------------------------------------------------------------------------

fn without_namespace(c: &mut Value, ns: &str) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces array")
        .retain(|n| n["type"] != ns);
}

#[test]
fn sysctls_apply_inside_their_namespaces_only() {
    if skip_unless_root() {
        return;
    }
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    let out = output_with(
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax",
        |c| {
            c["linux"]["sysctl"] = json!({
                "net.ipv4.ip_forward": fwd,
                "kernel.shmmax": "123456789",
            });
        },
    );
    assert_eq!(out, format!("{fwd}\n123456789\n"));
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd,
        "the host's ip_forward changed"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shm,
        "the host's shmmax changed"
    );
}

#[test]
fn net_sysctl_without_a_network_namespace_is_refused() {
    if skip_unless_root() {
        return;
    }
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        without_namespace(c, "network");
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": fwd});
    });
    create_fails(&bundle, &["linux.sysctl", "network"]);
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd,
        "the host's ip_forward changed"
    );
}

#[test]
fn host_wide_sysctl_is_refused() {
    if skip_unless_root() {
        return;
    }
    let host = fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    let mut bundle = Bundle::new();
    bundle.edit(|c| c["linux"]["sysctl"] = json!({"vm.swappiness": "17"}));
    create_fails(&bundle, &["linux.sysctl", "vm.swappiness"]);
    assert_eq!(fs::read_to_string("/proc/sys/vm/swappiness").unwrap(), host);
}

#[test]
fn time_offsets_without_a_time_namespace_are_refused() {
    if skip_unless_root() {
        return;
    }
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        without_namespace(c, "time");
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 1000000, "nanosecs": 0}});
    });
    create_fails(&bundle, &["linux.timeOffsets"]);
}

#[test]
fn time_offsets_shift_the_clocks_of_a_time_namespace() {
    if skip_unless_root() {
        return;
    }
    if !Path::new("/proc/self/ns/time").exists() {
        skip("the kernel has no time namespaces");
        return;
    }
    let host_uptime = || -> f64 {
        let s = fs::read_to_string("/proc/uptime").unwrap();
        s.split_whitespace().next().unwrap().parse().unwrap()
    };
    let before = host_uptime();
    let out = output_with("cat /proc/uptime", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 1000000, "nanosecs": 0}});
    });
    let after = host_uptime();
    let inside: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        inside >= before + 1_000_000.0 && inside <= after + 1_000_000.0 + 1.0,
        "uptime inside {inside}, host {before}..{after}"
    );
}

// ---------------------------------------------------------------------------
// HOME
// ---------------------------------------------------------------------------

#[test]
fn home_comes_from_passwd_when_env_lacks_it() {
    if skip_unless_root() {
        return;
    }
    // The test rootfs' passwd gives root the home /root; uid 4242 is not
    // in it.
    let passwd = fs::read_to_string(Bundle::new().rootfs().join("etc/passwd")).unwrap();
    assert!(passwd.contains("root:x:0:0:root:/root:"), "{passwd}");
    let cases = [
        (0, vec!["PATH=/bin"], "/root"),
        (4242, vec!["PATH=/bin"], "/"),
        (0, vec!["PATH=/bin", "HOME=/custom"], "/custom"),
    ];
    for (uid, env, want) in cases {
        let out = output_with("echo \"$HOME\"", |c| {
            c["process"]["user"] = json!({"uid": uid, "gid": uid});
            c["process"]["env"] = json!(env);
        });
        assert_eq!(out, format!("{want}\n"), "uid {uid}, env {env:?}");
    }
}

// ---------------------------------------------------------------------------
// Unknown names in enum-valued fields
// ---------------------------------------------------------------------------

#[test]
fn unknown_enum_names_are_refused_naming_their_field() {
    if skip_unless_root() {
        return;
    }
    // (section, key, value); the message must name "section.key".
    let cases = [
        (
            "process",
            "ioPriority",
            json!({"class": "IOPRIO_CLASS_FOO", "priority": 0}),
        ),
        ("process", "scheduler", json!({"policy": "SCHED_FOO"})),
        ("linux", "personality", json!({"domain": "LINUX64"})),
    ];
    let mut failures = vec![];
    for (section, key, value) in cases {
        let field = format!("{section}.{key}");
        let mut bundle = Bundle::new();
        bundle.edit(|c| c[section][key] = value);
        let nook = Nook::new();
        let id = nook.new_id();
        let out = nook.run(&["create", "--bundle", bundle.path_str(), &id]);
        assert!(!out.ok(), "{field}: an unknown name was accepted:\n{out}");
        assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
        if !out.stderr.contains(&field) {
            failures.push(format!("{field}: {}", out.stderr.trim()));
        }
    }
    assert!(
        failures.is_empty(),
        "errors that do not name their field:\n{}",
        failures.join("\n")
    );
}
