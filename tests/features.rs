//! `nook features`: the document validates against the runtime-spec features
//! schema (tests/data/features-schema.json, written from features.md and
//! features-linux.md), and what it advertises is checked against real
//! containers wherever this host can run the feature.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::{Value, json};

fn features() -> Value {
    let out = Nook::new().run(&["features"]).expect_ok();
    serde_json::from_str(&out.stdout).expect("features prints JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// Validates `doc` with python3-jsonschema (installed by `make deps`);
/// returns the validator's complaint, if any.
fn schema_errors(doc: &Value) -> Option<String> {
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/features-schema.json"
    );
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft7Validator.check_schema(schema)\n\
                  jsonschema.validate(json.load(sys.stdin), schema)\n";
    let mut child = Command::new("python3")
        .args(["-c", script, schema])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (make deps installs python3-jsonschema)");
    serde_json::to_writer(child.stdin.take().unwrap(), doc).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !err.contains("No module named 'jsonschema'"),
        "python3-jsonschema is missing: run make deps"
    );
    (!out.status.success()).then_some(err)
}

#[test]
fn document_validates_against_the_schema() {
    let doc = features();
    if let Some(err) = schema_errors(&doc) {
        panic!("features output does not validate:\n{err}\n{doc:#}");
    }
    assert_eq!(doc["ociVersionMax"], json!(nook::OCI_VERSION));
    // The validator itself must be able to fail: a namespace type the spec
    // does not define is refused.
    let mut bad = doc.clone();
    bad["linux"]["namespaces"] = json!(["mount", "bogus"]);
    assert!(
        schema_errors(&bad).is_some(),
        "schema accepted a bogus namespace"
    );
}

#[test]
fn advertised_namespaces_all_work_in_one_container() {
    if skip_unless_root() {
        return;
    }
    let doc = features();
    let names = strings(&doc["linux"]["namespaces"]);
    let proc_name = |n: &str| match n {
        "network" => "net".to_string(),
        "mount" => "mnt".to_string(),
        other => other.to_string(),
    };
    let script: Vec<String> = names
        .iter()
        .map(|n| format!("readlink /proc/self/ns/{}", proc_name(n)))
        .collect();
    let mut b = Bundle::sh(&script.join("; "));
    // The mapped root must be able to reach the rootfs.
    std::fs::set_permissions(
        b.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    b.edit(|c| {
        c["linux"]["namespaces"] =
            json!(names.iter().map(|n| json!({"type": n})).collect::<Vec<_>>());
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    let out = Nook::new().output_of(&b);
    assert_eq!(out.lines().count(), names.len(), "{out}");
    for (n, line) in names.iter().zip(out.lines()) {
        let host = std::fs::read_link(format!("/proc/self/ns/{}", proc_name(n))).unwrap();
        assert_ne!(line, host.to_str().unwrap(), "{n} namespace is not new");
    }
}

#[test]
fn advertised_mount_options_are_applied() {
    if skip_unless_root() {
        return;
    }
    let doc = features();
    // bind, rbind and remount need a source mount of their own: tests/mounts.rs
    // covers them. Every other option goes on a tmpfs of its own.
    let opts: Vec<String> = strings(&doc["mountOptions"])
        .into_iter()
        .filter(|o| !matches!(o.as_str(), "bind" | "rbind" | "remount"))
        .collect();
    let mut b = Bundle::sh("grep -c ' /opt/m' /proc/self/mountinfo");
    for (i, o) in opts.iter().enumerate() {
        b.add_mount(json!({"destination": format!("/opt/m{i}"), "type": "tmpfs", "source": "tmpfs", "options": [o]}));
    }
    let out = Nook::new().output_of(&b);
    assert_eq!(out.trim(), opts.len().to_string(), "options: {opts:?}");
}

#[test]
fn advertised_capabilities_are_accepted_up_to_the_host_last_cap() {
    if skip_unless_root() {
        return;
    }
    let caps = strings(&features()["linux"]["capabilities"]);
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut b = Bundle::sh("grep CapBnd /proc/self/status");
    b.edit(|c| c["process"]["capabilities"]["bounding"] = json!(caps));
    let out = Nook::new().output_of(&b);
    let bnd = u64::from_str_radix(out.split_whitespace().nth(1).unwrap(), 16).unwrap();
    // The host's own bounding set limits what a container can get.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let host_bnd = host
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    let known = if caps.len() > last {
        (1u64 << (last + 1)) - 1
    } else {
        (1u64 << caps.len()) - 1
    };
    assert_eq!(bnd, known & host_bnd);
}

#[test]
fn advertised_hooks_all_run() {
    if skip_unless_root() {
        return;
    }
    let doc = features();
    let log = TempDir::new("hooks");
    let file = log.path().join("ran");
    let mut b = Bundle::new();
    let kinds = strings(&doc["hooks"]);
    b.edit(|c| {
        for k in &kinds {
            // createContainer and startContainer run in the container's mount
            // namespace, where the host file is not visible: they only have
            // to succeed there.
            // Both paths resolve in either mount namespace: the host's
            // busybox and the rootfs copy are at /bin/busybox there.
            let hook = match k.as_str() {
                "createContainer" | "startContainer" => json!({"path": "/bin/busybox", "args": ["true"]}),
                _ => json!({"path": BUSYBOX, "args": ["sh", "-c", format!("echo {k} >> {}", file.display())]}),
            };
            c["hooks"][k] = json!([hook]);
        }
    });
    Nook::new().run_bundle(&b).expect_ok();
    let ran = std::fs::read_to_string(&file).unwrap_or_default();
    for k in ["prestart", "createRuntime", "poststart", "poststop"] {
        assert!(ran.lines().any(|l| l == k), "{k} did not run: {ran:?}");
    }
}

#[test]
fn advertised_memory_policies_are_applied() {
    if skip_unless_root() {
        return;
    }
    let doc = features();
    for mode in strings(&doc["linux"]["memoryPolicy"]["modes"]) {
        let nodes = !matches!(mode.as_str(), "MPOL_DEFAULT" | "MPOL_LOCAL");
        let mut b = Bundle::new();
        b.edit(|c| {
            c["linux"]["memoryPolicy"] = json!({"mode": mode});
            if nodes {
                c["linux"]["memoryPolicy"]["nodes"] = json!("0");
            }
        });
        let out = Nook::new().run_bundle(&b);
        assert!(out.ok(), "{mode}: {out}");
    }
    for flag in strings(&doc["linux"]["memoryPolicy"]["flags"]) {
        let mut b = Bundle::new();
        b.edit(|c| {
            c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]})
        });
        let out = Nook::new().run_bundle(&b);
        assert!(out.ok(), "{flag}: {out}");
    }
}

#[test]
fn unadvertised_features_are_refused() {
    if skip_unless_root() {
        return;
    }
    let doc = features();
    assert_eq!(
        doc["linux"]["mountExtensions"]["idmap"]["enabled"],
        json!(false)
    );
    let mut b = Bundle::new();
    b.add_mount(
        json!({"destination": "/opt/x", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
    );
    create_fails(&b, &["idmap"]);
    assert_eq!(doc["linux"]["intelRdt"]["enabled"], json!(false));
    // A joined user namespace cannot own a new pid namespace.
    let mut b = Bundle::new();
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user", "path": "/proc/self/ns/user"}));
    });
    create_fails(
        &b,
        &["a new pid namespace together with a user namespace joined by path"],
    );
}

#[test]
fn advertised_seccomp_names_are_all_accepted_in_one_profile() {
    if skip_unless_root() {
        return;
    }
    let doc = features();
    let sc = &doc["linux"]["seccomp"];
    assert_eq!(sc["enabled"], json!(true));
    // Rules on syscalls busybox `true` never makes, one per action and per
    // operator. NOTIFY needs a listener: tests/seccomp.rs covers it.
    let unused = [
        "acct",
        "swapon",
        "swapoff",
        "reboot",
        "kexec_load",
        "init_module",
        "delete_module",
        "pivot_root",
        "settimeofday",
        "adjtimex",
        "quotactl",
        "nfsservctl",
        "vhangup",
    ];
    let mut names = unused.iter();
    let mut rules = Vec::new();
    for a in strings(&sc["actions"]) {
        if a == "SCMP_ACT_NOTIFY" {
            continue;
        }
        rules.push(json!({"names": [names.next().unwrap()], "action": a}));
    }
    let ops: Vec<Value> = strings(&sc["operators"])
        .iter()
        .enumerate()
        .map(|(i, op)| json!({"index": i % 6, "value": 7, "valueTwo": 7, "op": op}))
        .collect();
    rules.push(json!({"names": [names.next().unwrap()], "action": "SCMP_ACT_ERRNO", "args": ops}));
    let mut b = Bundle::sh("grep Seccomp: /proc/self/status");
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": sc["archs"],
            "flags": sc["supportedFlags"],
            "syscalls": rules,
        });
    });
    let out = Nook::new().output_of(&b);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2"]
    );
    let known = strings(&sc["knownFlags"]);
    for f in strings(&sc["supportedFlags"]) {
        assert!(known.contains(&f), "{f} supported but not known");
    }
}
