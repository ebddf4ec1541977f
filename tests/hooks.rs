//! OCI hooks: the six kinds run in order, each at its point of the
//! lifecycle, in its namespaces, with the state JSON on stdin and exactly
//! the args and env of config.json; failures and timeouts name the hook.
//!
//! Every hook here is one shell script, written by the test into a temp dir
//! that is also bind-mounted at the same path inside the container, so the
//! same path resolves on the host (prestart ... createContainer, poststart,
//! poststop) and after pivot_root (startContainer).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// The hook script. `$1` says what to do, `$2` names the hook kind:
/// - `log`: append `KIND MNT-NS PID-NS STATE-JSON` to `DIR/log`;
/// - `argv`: write the shell's own argv and environ (from /proc, as the
///   kernel handed them over) to `DIR/argv.KIND`;
/// - `fail`: say so on stderr and exit 7;
/// - `sleep`: record the pid in `DIR/sleep.KIND`, then become `sleep 30`.
///
/// Only sh builtins, cat, readlink, tr and sleep: all exist both on the
/// host and in the busybox rootfs. PATH is set here because hooks get only
/// the env their config lists.
const SCRIPT: &str = r#"#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
dir=@DIR@
case "$1" in
log)
    state=$(cat)
    echo "$2 $(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/pid) $state" >> "$dir/log"
    ;;
argv)
    # The redirection of a builtin is opened by the shell itself, so this
    # /proc/self is the shell, whichever pid namespace /proc belongs to.
    read -r me rest < /proc/self/stat
    {
        tr '\0' '\n' < "/proc/$me/cmdline"
        echo --
        tr '\0' '\n' < "/proc/$me/environ"
    } > "$dir/argv.$2"
    ;;
fail)
    echo "$2 hook says no" >&2
    exit 7
    ;;
sleep)
    echo $$ > "$dir/sleep.$2"
    exec sleep 30
    ;;
*)
    echo "unknown mode $1" >&2
    exit 99
    ;;
esac
"#;

/// A temp dir with the hook script and the files it writes.
struct HookDir {
    dir: TempDir,
    script: PathBuf,
}

/// One line of the `log` mode.
#[derive(Debug)]
struct Logged {
    kind: String,
    mnt: String,
    pidns: String,
    state: Value,
}

impl HookDir {
    fn new() -> HookDir {
        let dir = TempDir::new("hooks");
        let script = dir.path().join("hook.sh");
        fs::write(&script, SCRIPT.replace("@DIR@", path_str(dir.path()))).expect("write hook");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod hook");
        HookDir { dir, script }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn script(&self) -> &str {
        path_str(&self.script)
    }

    /// A hook entry running the script in `mode` as hook `kind`.
    fn hook(&self, mode: &str, kind: &str) -> Value {
        json!({"path": self.script(), "args": [self.script(), mode, kind]})
    }

    /// How a failure of hook `kind[i]` must be named.
    fn name(&self, kind: &str, i: usize) -> String {
        format!("hooks.{kind}[{i}] ({})", self.script())
    }

    /// Bind this dir read-write at the same path inside the container.
    fn bind_into(&self, bundle: &mut Bundle) {
        bundle.add_mount(json!({
            "destination": path_str(self.path()),
            "type": "bind",
            "source": path_str(self.path()),
            "options": ["rbind", "rw"]
        }));
    }

    fn log_text(&self) -> String {
        fs::read_to_string(self.path().join("log")).unwrap_or_default()
    }

    fn log(&self) -> Vec<Logged> {
        let text = self.log_text();
        text.lines()
            .map(|l| {
                let mut parts = l.splitn(4, ' ');
                let mut next = || {
                    parts
                        .next()
                        .unwrap_or_else(|| panic!("short hook log line {l:?}"))
                        .to_string()
                };
                let (kind, mnt, pidns, state) = (next(), next(), next(), next());
                let state = serde_json::from_str(&state).unwrap_or_else(|e| {
                    panic!("hook {kind} got no state JSON on stdin ({e}): {state:?}")
                });
                Logged {
                    kind,
                    mnt,
                    pidns,
                    state,
                }
            })
            .collect()
    }

    /// The kinds in the log, in the order they ran.
    fn kinds(&self) -> Vec<String> {
        self.log().into_iter().map(|l| l.kind).collect()
    }
}

/// Replace the config's hooks by `hooks` (kind, entries).
fn set_hooks(bundle: &mut Bundle, hooks: &[(&str, Vec<Value>)]) {
    let mut obj = serde_json::Map::new();
    for (kind, list) in hooks {
        obj.insert(kind.to_string(), json!(list));
    }
    bundle.edit(|c| c["hooks"] = Value::Object(obj));
}

/// A bundle running `args`, with the hook dir bound in and, for each kind,
/// one `log` hook (or the entries given in `over`, which take precedence).
fn logging_bundle(h: &HookDir, args: &[&str], over: &[(&str, Vec<Value>)]) -> Bundle {
    let mut bundle = Bundle::new();
    bundle.set_args(args);
    h.bind_into(&mut bundle);
    let hooks: Vec<(&str, Vec<Value>)> = KINDS
        .iter()
        .map(|&k| match over.iter().find(|(o, _)| *o == k) {
            Some((_, list)) => (k, list.clone()),
            None => (k, vec![h.hook("log", k)]),
        })
        .collect();
    set_hooks(&mut bundle, &hooks);
    bundle
}

/// The namespace link of `pid` ("self" for the test itself).
fn ns(pid: &str, which: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{which}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{which}: {e}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn six_hooks_run_in_order_with_their_state_and_namespaces() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let h = HookDir::new();
    let bundle = logging_bundle(&h, &["true"], &[]);
    let id = nook.new_id();

    nook.create(&bundle, &id);
    let pid = nook.pid(&id);
    let init = pid.to_string();
    let (host_mnt, host_pidns) = (ns("self", "mnt"), ns("self", "pid"));
    let (init_mnt, init_pidns) = (ns(&init, "mnt"), ns(&init, "pid"));
    assert_ne!(host_mnt, init_mnt, "init has no mount namespace of its own");
    assert_ne!(
        host_pidns, init_pidns,
        "init has no pid namespace of its own"
    );
    assert_eq!(
        h.kinds(),
        ["prestart", "createRuntime", "createContainer"],
        "after create:\n{}",
        h.log_text()
    );

    nook.run(&["start", &id]).expect_ok();
    assert_eq!(
        h.kinds(),
        KINDS[..5],
        "after start (poststart must have run before start returns):\n{}",
        h.log_text()
    );
    nook.wait_status(&id, "stopped", SETTLE);
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());

    let log = h.log();
    let kinds: Vec<&str> = log.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, KINDS, "after delete:\n{}", h.log_text());

    // kind, (mount ns, pid ns), status, pid (None: not checked).
    type Want<'a> = (&'a str, (&'a str, &'a str), &'a str, Option<i64>);
    let host = (host_mnt.as_str(), host_pidns.as_str());
    let cont = (init_mnt.as_str(), init_pidns.as_str());
    let want: [Want; 6] = [
        ("prestart", host, "creating", Some(pid.into())),
        ("createRuntime", host, "creating", Some(pid.into())),
        ("createContainer", cont, "creating", Some(1)),
        ("startContainer", cont, "created", Some(1)),
        ("poststart", host, "running", Some(pid.into())),
        ("poststop", host, "stopped", None),
    ];
    for (l, (kind, (mnt, pidns), status, want_pid)) in log.iter().zip(want) {
        let ctx = format!("hook {kind}: {l:?}");
        assert_eq!(l.mnt, mnt, "mount namespace of {ctx}");
        assert_eq!(l.pidns, pidns, "pid namespace of {ctx}");
        assert_eq!(l.state["status"], json!(status), "status of {ctx}");
        assert_eq!(l.state["id"], json!(id), "id of {ctx}");
        assert_eq!(
            l.state["bundle"],
            json!(bundle.path_str()),
            "bundle of {ctx}"
        );
        assert!(l.state["ociVersion"].is_string(), "ociVersion of {ctx}");
        if let Some(p) = want_pid {
            assert_eq!(l.state["pid"], json!(p), "pid of {ctx}");
        }
    }
}

/// Parses what the `argv` mode wrote: (argv, environ).
fn argv_dump(h: &HookDir, kind: &str) -> (Vec<String>, Vec<String>) {
    let p = h.path().join(format!("argv.{kind}"));
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("hook {kind} wrote no {p:?}: {e}"));
    let (argv, env) = text
        .split_once("--\n")
        .unwrap_or_else(|| panic!("no separator in {text:?}"));
    let lines = |s: &str| s.split_terminator('\n').map(String::from).collect();
    (lines(argv), lines(env))
}

#[test]
fn hooks_get_exactly_their_args_and_env() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let h = HookDir::new();
    // /bin/sh runs the script so that argv[0] survives: a #! script would
    // see the kernel's argv, not ours. /bin/sh exists on the host and in
    // the rootfs alike; in the rootfs it is busybox, which picks the applet
    // by argv[0], so startContainer's argv[0] is "sh" (still not the path).
    let argv0 = |kind: &str| match kind {
        "startContainer" => "sh".to_string(),
        _ => format!("argv0-of-{kind}"),
    };
    let hook = |kind: &str| {
        json!({
            "path": "/bin/sh",
            "args": [argv0(kind), h.script(), "argv", kind, "two words", ""],
            "env": ["HOOK_A=1", "HOOK_B=with space=and equals", "EMPTY="]
        })
    };
    let over: Vec<(&str, Vec<Value>)> = KINDS.iter().map(|&k| (k, vec![hook(k)])).collect();
    let bundle = logging_bundle(&h, &["true"], &over);
    let id = nook.new_id();
    // The runtime's own environment must not reach any hook.
    let run = |args: &[&str]| {
        let mut cmd = nook.command(args);
        cmd.env("NOOK_TEST_LEAK", "leaked");
        nook.spawn_cmd(cmd).wait().expect_ok()
    };
    run(&["create", "--bundle", bundle.path_str(), &id]);
    run(&["start", &id]);
    nook.wait_status(&id, "stopped", SETTLE);
    run(&["delete", &id]);
    assert_no_leftovers(&id, bundle.path(), nook.root());

    for kind in KINDS {
        let (argv, mut env) = argv_dump(&h, kind);
        assert_eq!(
            argv,
            [
                argv0(kind).as_str(),
                h.script(),
                "argv",
                kind,
                "two words",
                ""
            ],
            "argv of hook {kind}"
        );
        env.sort();
        assert_eq!(
            env,
            ["EMPTY=", "HOOK_A=1", "HOOK_B=with space=and equals"],
            "environment of hook {kind}"
        );
    }
}

#[test]
fn a_failing_create_time_hook_fails_create_and_names_it() {
    if skip_unless_root() {
        return;
    }
    for (kind, before) in [
        ("prestart", &[][..]),
        ("createRuntime", &["prestart"][..]),
        ("createContainer", &["prestart", "createRuntime"][..]),
    ] {
        let h = HookDir::new();
        // The failing hook is the second of its kind, after a logging one.
        let bundle = logging_bundle(
            &h,
            &["true"],
            &[(kind, vec![h.hook("log", kind), h.hook("fail", kind)])],
        );
        let name = h.name(kind, 1);
        let said = format!("{kind} hook says no");
        let out = create_fails(&bundle, &[&name, &said]);
        // Every hook up to the failing one ran, nothing after it but the
        // poststop of the cleanup.
        let mut want: Vec<&str> = before.to_vec();
        want.extend([kind, "poststop"]);
        assert_eq!(h.kinds(), want, "hooks run for a failing {kind}:\n{out}");
        let stop = h.log().pop().expect("poststop ran");
        assert_eq!(stop.state["status"], json!("stopped"), "{stop:?}");
    }
}

#[test]
fn a_hook_that_outlives_its_timeout_is_killed_and_create_fails() {
    if skip_unless_root() {
        return;
    }
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let h = HookDir::new();
        let mut hook = h.hook("sleep", kind);
        hook["timeout"] = json!(1);
        let bundle = logging_bundle(&h, &["true"], &[(kind, vec![hook])]);
        let name = h.name(kind, 0);
        let start = Instant::now();
        let out = create_fails(&bundle, &[&name, "timed out"]);
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "create took {took:?} with a 1 s hook timeout:\n{out}"
        );
        let pidfile = h.path().join(format!("sleep.{kind}"));
        let recorded = fs::read_to_string(&pidfile).unwrap_or_default();
        assert!(
            !recorded.is_empty(),
            "the {kind} hook never started:\n{out}"
        );
        if kind != "createContainer" {
            // In the host pid namespace, so the pid is the host's.
            let pid: i32 = recorded.trim().parse().expect("pid");
            wait_until(
                &format!("the timed-out {kind} hook (pid {pid}) to die"),
                Duration::from_secs(3),
                || !pid_alive(pid),
            );
        }
    }
}

#[test]
fn a_failing_start_container_hook_fails_start_and_stops_the_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let h = HookDir::new();
    let bundle = logging_bundle(
        &h,
        &["true"],
        &[("startContainer", vec![h.hook("fail", "startContainer")])],
    );
    let id = nook.new_id();
    nook.create(&bundle, &id);
    let pid = nook.pid(&id);
    nook.run(&["start", &id])
        .expect_err(&[&h.name("startContainer", 0), "startContainer hook says no"]);
    nook.wait_status(&id, "stopped", SETTLE);
    wait_until("init to exit", SETTLE, || !pid_alive(pid));
    assert_eq!(
        h.kinds(),
        ["prestart", "createRuntime", "createContainer"],
        "poststart must not run when startContainer fails:\n{}",
        h.log_text()
    );
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
    assert_eq!(
        h.kinds().last().map(String::as_str),
        Some("poststop"),
        "{}",
        h.log_text()
    );
}

#[test]
fn a_failing_poststart_hook_fails_start_after_killing_the_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let h = HookDir::new();
    let bundle = logging_bundle(
        &h,
        &["sleep", "100"],
        &[("poststart", vec![h.hook("fail", "poststart")])],
    );
    let id = nook.new_id();
    nook.create(&bundle, &id);
    let pid = nook.pid(&id);
    nook.run(&["start", &id])
        .expect_err(&[&h.name("poststart", 0), "poststart hook says no"]);
    assert!(
        !pid_alive(pid),
        "the program still runs after start failed on poststart"
    );
    assert_eq!(nook.status(&id), "stopped");
    assert_eq!(h.kinds(), KINDS[..4], "{}", h.log_text());
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
    assert_eq!(
        h.kinds().last().map(String::as_str),
        Some("poststop"),
        "{}",
        h.log_text()
    );
}

#[test]
fn a_failing_poststop_hook_is_only_a_warning() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let h = HookDir::new();
    // runtime.md: the remaining poststop hooks still run.
    let bundle = logging_bundle(
        &h,
        &["true"],
        &[(
            "poststop",
            vec![h.hook("fail", "poststop"), h.hook("log", "poststop")],
        )],
    );
    let id = nook.new_id();
    nook.create(&bundle, &id);
    nook.run(&["start", &id]).expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);
    let out = nook.run(&["delete", &id]);
    assert_eq!(out.code(), 0, "delete must succeed:\n{out}");
    let name = h.name("poststop", 0);
    assert!(
        out.stderr.contains(&name) && out.stderr.contains("poststop hook says no"),
        "no warning naming {name} with the hook's output:\n{out}"
    );
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
    assert_eq!(
        h.kinds(),
        KINDS,
        "the second poststop hook did not run after the first failed:\n{}",
        h.log_text()
    );
}

#[test]
fn hook_paths_must_be_absolute_and_timeouts_positive() {
    if skip_unless_root() {
        return;
    }
    let h = HookDir::new();
    let relative = json!({"path": "hook.sh", "args": ["hook.sh", "log", "poststop"]});
    let bundle = logging_bundle(
        &h,
        &["true"],
        &[("poststop", vec![h.hook("log", "poststop"), relative])],
    );
    create_fails(&bundle, &["hooks.poststop[1].path", "hook.sh"]);
    assert_eq!(h.log_text(), "", "a hook ran despite an invalid config");

    for timeout in [0, -1] {
        let mut bad = h.hook("log", "createRuntime");
        bad["timeout"] = json!(timeout);
        let bundle = logging_bundle(&h, &["true"], &[("createRuntime", vec![bad])]);
        create_fails(&bundle, &["hooks.createRuntime[0].timeout"]);
        assert_eq!(
            h.log_text(),
            "",
            "a hook ran despite timeout {timeout} (invalid)"
        );
    }
}

#[test]
fn foreground_run_runs_every_hook_and_poststop_last() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let h = HookDir::new();
    let bundle = logging_bundle(&h, &["true"], &[]);
    nook.run_bundle(&bundle).expect_ok();
    assert_eq!(h.kinds(), KINDS, "{}", h.log_text());
    let stop = h.log().pop().expect("poststop ran");
    assert_eq!(stop.state["status"], json!("stopped"), "{stop:?}");
}
