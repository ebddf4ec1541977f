//! The command line itself: --version, --help, `spec`, runc's flag
//! spellings and JSON logging.

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn run_plain(args: &[&str]) -> Out {
    let nook = Nook::new();
    let mut cmd = Command::new(nook_bin());
    cmd.args(args);
    nook.spawn_cmd(cmd).wait()
}

#[test]
fn version_names_the_crate_version() {
    let out = run_plain(&["--version"]).expect_ok();
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")), "{out}");
}

#[test]
fn help_lists_the_commands() {
    let out = run_plain(&["--help"]).expect_ok();
    for cmd in [
        "create", "start", "run", "state", "kill", "delete", "list", "spec",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(cmd)),
            "--help does not list {cmd}:\n{out}"
        );
    }
}

#[test]
fn unknown_command_fails() {
    let out = run_plain(&["no-such-command"]);
    assert!(!out.ok(), "{out}");
}

fn spec_in(dir: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["spec"];
    args.extend_from_slice(extra);
    args.extend(["--bundle", path_str(dir)]);
    run_plain(&args).expect_ok();
    let text = fs::read_to_string(dir.join("config.json")).expect("config.json written");
    serde_json::from_str(&text).expect("config.json is JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn spec_writes_a_runc_like_default_config() {
    let dir = TempDir::new("spec");
    let c = spec_in(dir.path(), &[]);
    assert!(
        c["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{c}"
    );
    assert_eq!(c["process"]["terminal"], true);
    assert_eq!(strings(&c["process"]["args"]), ["sh"]);
    assert_eq!(c["process"]["cwd"], "/");
    assert_eq!(c["root"]["path"], "rootfs");
    assert!(c["hostname"].as_str().is_some_and(|h| !h.is_empty()), "{c}");
    let namespaces: Vec<String> = c["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n["type"].as_str().map(str::to_string))
        .collect();
    for ns in ["pid", "network", "ipc", "uts", "mount", "cgroup"] {
        assert!(
            namespaces.iter().any(|n| n == ns),
            "no {ns} namespace: {namespaces:?}"
        );
    }
    let mounts: Vec<String> = c["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["destination"].as_str().map(str::to_string))
        .collect();
    for m in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"] {
        assert!(mounts.iter().any(|d| d == m), "no {m} mount: {mounts:?}");
    }
    assert!(strings(&c["linux"]["maskedPaths"]).contains(&"/proc/kcore".into()));
    assert!(strings(&c["linux"]["readonlyPaths"]).contains(&"/proc/sys".into()));
}

#[test]
fn spec_without_bundle_writes_to_the_current_dir() {
    let dir = TempDir::new("spec-cwd");
    let nook = Nook::new();
    let mut cmd = Command::new(nook_bin());
    cmd.arg("spec").current_dir(dir.path());
    nook.spawn_cmd(cmd).wait().expect_ok();
    assert!(dir.path().join("config.json").is_file());
}

#[test]
fn spec_refuses_to_overwrite_config_json() {
    let dir = TempDir::new("spec-exists");
    let config = dir.path().join("config.json");
    fs::write(&config, "sentinel").unwrap();
    let out = run_plain(&["spec", "--bundle", path_str(dir.path())]);
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("config.json"), "{out}");
    assert_eq!(fs::read_to_string(&config).unwrap(), "sentinel");
}

#[test]
fn spec_rootless_adds_a_user_namespace_and_mappings() {
    let dir = TempDir::new("spec-rootless");
    let c = spec_in(dir.path(), &["--rootless"]);
    let has_user = c["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .any(|n| n["type"] == "user");
    assert!(has_user, "{c}");
    assert!(
        c["linux"]["uidMappings"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{c}"
    );
    assert!(
        c["linux"]["gidMappings"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{c}"
    );
}

/// Check one RFC 3339 timestamp such as 2024-05-01T12:00:00.5+02:00.
fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let date_time_ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !date_time_ok {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

#[test]
fn rfc3339_checker_is_strict() {
    assert!(is_rfc3339("2024-05-01T12:00:00Z"));
    assert!(is_rfc3339("2024-05-01T12:00:00.123456789+02:00"));
    assert!(!is_rfc3339("2024-05-01 12:00:00"));
    assert!(!is_rfc3339("2024-05-01T12:00:00"));
    assert!(!is_rfc3339("1714564800"));
}

#[test]
fn json_log_records_the_error() {
    let nook = Nook::new();
    let dir = TempDir::new("log");
    let log = dir.path().join("nook.log");
    let id = unique_name();
    let cmd = {
        let mut c = Command::new(nook_bin());
        c.arg("--root")
            .arg(nook.root())
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "state", &id]);
        c
    };
    let out = nook.spawn_cmd(cmd).wait().expect_err(&["does not exist"]);
    let text = fs::read_to_string(&log).unwrap_or_else(|e| panic!("no log file ({e}):\n{out}"));
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let err = entries
        .iter()
        .find(|e| e["level"] == "error")
        .unwrap_or_else(|| panic!("no error entry in the log:\n{text}"));
    let msg = err["msg"].as_str().expect("msg is a string");
    assert!(msg.contains("does not exist"), "{text}");
    let time = err["time"].as_str().expect("time is a string");
    assert!(is_rfc3339(time), "time {time:?} is not RFC 3339");
}

#[test]
fn runc_flag_spellings_are_accepted() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    let dash = nook.new_id();
    let equals = nook.new_id();
    let detach = nook.new_id();
    let b = bundle.path_str();
    nook.run(&["create", "-bundle", b, &dash]).expect_ok();
    nook.run(&["create", &format!("--bundle={b}"), &equals])
        .expect_ok();
    nook.run(&["run", "--detach=true", "-b", b, &detach])
        .expect_ok();
    assert_eq!(nook.status(&dash), "created");
    assert_eq!(nook.status(&equals), "created");
    assert_eq!(nook.status(&detach), "running");

    // A global flag in --flag=value form reaches the same state root.
    let mut cmd = Command::new(nook_bin());
    cmd.arg(format!("--root={}", path_str(nook.root())))
        .args(["state", &dash])
        .stdin(Stdio::null());
    let out = nook.spawn_cmd(cmd).wait().expect_ok();
    assert!(out.stdout.contains(&dash), "{out}");

    for id in [&dash, &equals, &detach] {
        nook.destroy(id, &bundle);
    }
}

#[test]
fn rootless_mode_is_refused_clearly() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::sh("true");
    let id = nook.new_id();
    let mut cmd = Command::new(nook_bin());
    cmd.args(["--rootless=true", "--root", path_str(nook.root())])
        .args(["run", "--bundle", bundle.path_str(), &id])
        .stdin(Stdio::null());
    let out = nook
        .spawn_cmd(cmd)
        .wait()
        .expect_err(&["--rootless", "not supported yet"]);
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());

    // A non-root caller gets the same answer, before anything is created.
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(nook_bin())
        .args(["--root", path_str(nook.root())])
        .args(["run", "--bundle", bundle.path_str(), &id])
        .stdin(Stdio::null());
    let out = nook.spawn_cmd(cmd).wait().expect_err(&["must run as root"]);
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
}
