//! `nook exec`: a new process joins a running container (namespaces,
//! cgroups, capabilities, root), with runc's flags, exit statuses and
//! errors; detached and conmon-style calls; and the protections of create
//! (no fd leaks, nook out of the container's reach).

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use common::*;
use serde_json::json;

/// A running container (`sleep`), detached, with a known hostname.
fn running(nook: &Nook) -> (Bundle, String) {
    running_with(nook, |_| {})
}

fn running_with(nook: &Nook, edit: impl FnOnce(&mut serde_json::Value)) -> (Bundle, String) {
    let mut bundle = Bundle::sh("sleep 1000");
    bundle.edit(|c| {
        c["hostname"] = json!("exec-host");
        edit(c);
    });
    let id = nook.new_id();
    nook.run(&["run", "-d", "--bundle", bundle.path_str(), &id])
        .expect_ok();
    (bundle, id)
}

/// `exec FLAGS ID COMMAND`.
fn exec_flags(nook: &Nook, flags: &[&str], id: &str, cmd: &[&str]) -> Out {
    let mut all = vec!["exec"];
    all.extend_from_slice(flags);
    all.push(id);
    all.extend_from_slice(cmd);
    nook.run(&all)
}

fn exec(nook: &Nook, id: &str, cmd: &[&str]) -> Out {
    exec_flags(nook, &[], id, cmd)
}

/// runc's exec fails with status 255 and "exec failed: ...".
fn expect_exec_err(out: Out, needles: &[&str]) -> Out {
    assert_eq!(out.code(), 255, "exec errors exit 255 (as runc):\n{out}");
    assert!(out.stderr.contains("exec failed: "), "{out}");
    for n in needles {
        assert!(out.stderr.contains(n), "stderr lacks {n:?}:\n{out}");
    }
    out
}

/// Lines of `key:` from a `KEY=value` listing printed by a script.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in:\n{text}"))
}

#[test]
fn exec_joins_the_container() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    // With a time namespace too, which the new process must be born in.
    // A seccomp filter that denies mkdir, which exec'd processes get too.
    let (bundle, id) = running_with(&nook, |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "time"}));
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    let script = r#"
        echo host=$(hostname)
        echo pid=$$
        echo cgroup=$(cat /proc/self/cgroup | tr '\n' ' ')
        echo initcgroup=$(cat /proc/1/cgroup | tr '\n' ' ')
        echo mounts=$(cat /proc/self/mountinfo | md5sum)
        echo initmounts=$(cat /proc/1/mountinfo | md5sum)
        for ns in mnt uts ipc net pid cgroup time; do
            echo ns-$ns=$(readlink /proc/self/ns/$ns)
            echo initns-$ns=$(readlink /proc/1/ns/$ns)
        done
        echo capeff=$(grep CapEff /proc/self/status)
        echo initcapeff=$(grep CapEff /proc/1/status)
        echo seccomp=$(grep '^Seccomp:' /proc/self/status)
        echo initseccomp=$(grep '^Seccomp:' /proc/1/status)
        echo root=$(ls /)
        mkdir /tmp/made 2>/dev/null && echo mkdir=allowed || echo mkdir=denied
    "#;
    let out = exec(&nook, &id, &["sh", "-c", script]).expect_ok();
    let o = &out.stdout;
    assert_eq!(field(o, "host"), "exec-host", "{out}");
    let pid: i32 = field(o, "pid").parse().unwrap();
    assert!(pid > 1 && pid < 20, "pid {pid} is not a small pid:\n{out}");
    assert_eq!(field(o, "seccomp"), "Seccomp: 2", "{out}");
    assert_eq!(
        field(o, "mkdir"),
        "denied",
        "the filter does not apply:\n{out}"
    );
    for (mine, init) in [
        ("cgroup", "initcgroup"),
        ("mounts", "initmounts"),
        ("capeff", "initcapeff"),
        ("seccomp", "initseccomp"),
    ] {
        assert_eq!(field(o, mine), field(o, init), "{mine}:\n{out}");
    }
    for ns in ["mnt", "uts", "ipc", "net", "pid", "cgroup", "time"] {
        let (mine, init) = (format!("ns-{ns}"), format!("initns-{ns}"));
        assert_eq!(field(o, &mine), field(o, &init), "{ns} namespace:\n{out}");
    }
    // The container's root, not the host's.
    assert!(!field(o, "root").contains("home"), "{out}");
    nook.destroy(&id, &bundle);
}

#[test]
fn cap_adds_a_capability() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let eff = |out: &Out| -> u64 {
        let line = out.stdout.trim();
        u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16)
            .unwrap_or_else(|_| panic!("no CapEff in:\n{out}"))
    };
    let plain = eff(&exec(&nook, &id, &["grep", "CapEff", "/proc/self/status"]).expect_ok());
    let added = exec_flags(
        &nook,
        &["--cap", "CAP_SYS_ADMIN"],
        &id,
        &["grep", "CapEff", "/proc/self/status"],
    )
    .expect_ok();
    let sys_admin = 1u64 << 21;
    assert_eq!(plain & sys_admin, 0, "CAP_SYS_ADMIN is in the default set");
    assert_eq!(eff(&added), plain | sys_admin, "{added}");
    nook.destroy(&id, &bundle);
}

#[test]
fn process_file_sets_user_cwd_and_env() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let dir = TempDir::new("proc");
    let file = dir.path().join("process.json");
    let process = json!({
        "args": ["sh", "-c", "echo id=$(id -u):$(id -g); echo cwd=$(pwd); echo foo=$FOO; echo home=$HOME"],
        "cwd": "/tmp",
        "env": ["FOO=from-file", "PATH=/bin"],
        "user": {"uid": 1000, "gid": 1000}
    });
    fs::write(&file, process.to_string()).unwrap();
    let out = exec_flags(&nook, &["--process", path_str(&file)], &id, &[]).expect_ok();
    assert_eq!(field(&out.stdout, "id"), "1000:1000", "{out}");
    assert_eq!(field(&out.stdout, "cwd"), "/tmp", "{out}");
    assert_eq!(field(&out.stdout, "foo"), "from-file", "{out}");
    assert_eq!(
        field(&out.stdout, "home"),
        "/",
        "HOME for a user without passwd entry:\n{out}"
    );
    nook.destroy(&id, &bundle);
}

#[test]
fn flags_set_env_cwd_user_and_groups() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let script = "echo id=$(id -u):$(id -g); echo groups=$(id -G); echo cwd=$(pwd); \
                  echo a=$A; echo path=$PATH; echo home=$HOME";
    let flags = [
        "-e",
        "A=b",
        "-e",
        "PATH=/bin",
        "--cwd",
        "/etc",
        "-u",
        "1000:1000",
        "-g",
        "10",
        "--additional-gids",
        "20",
    ];
    let out = exec_flags(&nook, &flags, &id, &["sh", "-c", script]).expect_ok();
    let o = &out.stdout;
    assert_eq!(field(o, "id"), "1000:1000", "{out}");
    assert_eq!(field(o, "groups"), "1000 10 20", "{out}");
    assert_eq!(field(o, "cwd"), "/etc", "{out}");
    assert_eq!(field(o, "a"), "b", "{out}");
    assert_eq!(
        field(o, "path"),
        "/bin",
        "-e replaces the config's PATH:\n{out}"
    );
    // Root's HOME from the container's /etc/passwd, for uid 0.
    let home = exec(&nook, &id, &["sh", "-c", "echo home=$HOME"]).expect_ok();
    assert_eq!(field(&home.stdout, "home"), "/root", "{home}");
    nook.destroy(&id, &bundle);
}

#[test]
fn exit_status_is_the_process_s() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    assert_eq!(exec(&nook, &id, &["sh", "-c", "exit 7"]).code(), 7);
    assert_eq!(exec(&nook, &id, &["sh", "-c", "kill -9 $$"]).code(), 137);
    assert_eq!(exec(&nook, &id, &["true"]).code(), 0);
    nook.destroy(&id, &bundle);
}

#[test]
fn foreground_signals_reach_the_process() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let run = nook.spawn(&["exec", &id, "sleep", "100"]);
    sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = run.wait();
    assert_eq!(out.code(), 128 + 15, "{out}");
    nook.destroy(&id, &bundle);
}

#[test]
fn foreground_tty_is_relayed() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let out = exec_flags(&nook, &["-t"], &id, &["sh", "-c", "tty; exit 3"]);
    assert_eq!(out.code(), 3, "{out}");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
    nook.destroy(&id, &bundle);
}

/// The pid in a pid file: alive, not nook's child, in the container's pid
/// namespace with a small pid there.
fn check_detached(pid_file: &Path, init: i32, exec_pid: i32) -> i32 {
    let pid: i32 = fs::read_to_string(pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid file holds a number");
    assert!(pid_alive(pid), "the detached process {pid} is gone");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid: i32 = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(ppid, exec_pid, "the process is still nook's child");
    let nspid: Vec<i32> = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(nspid.len(), 2, "not in a nested pid namespace: {status}");
    assert!(nspid[1] < 20, "pid in the container {nspid:?}");
    let ns = |p: i32| fs::read_link(format!("/proc/{p}/ns/pid")).unwrap();
    assert_eq!(ns(pid), ns(init), "not in the container's pid namespace");
    pid
}

#[test]
fn detached_exec_writes_the_pid_file() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let dir = TempDir::new("pidfile");
    let pid_file = dir.path().join("exec.pid");
    let run = nook.spawn(&[
        "exec",
        "-d",
        "--pid-file",
        path_str(&pid_file),
        &id,
        "sleep",
        "100",
    ]);
    let exec_pid = run.pid();
    let out = run.wait().expect_ok();
    assert_eq!(out.stdout, "", "detached exec prints nothing:\n{out}");
    let pid = check_detached(&pid_file, nook.pid(&id), exec_pid);
    nook.destroy(&id, &bundle);
    assert!(!pid_alive(pid), "the exec'd process outlived its container");
}

#[test]
fn pidfd_socket_gets_the_new_process() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let dir = TempDir::new("pidfd");
    let pid_file = dir.path().join("exec.pid");
    let sock = FdListener::new("pidfd.sock");
    let mut run = Some(nook.spawn(&[
        "exec",
        "-d",
        "--pid-file",
        path_str(&pid_file),
        "--pidfd-socket",
        sock.path_str(),
        &id,
        "sleep",
        "100",
    ]));
    let (pidfd, _) = sock.receive_fd(&mut run, Duration::from_secs(30));
    run.take().unwrap().wait().expect_ok();
    let pid = fs::read_to_string(&pid_file).unwrap();
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
    let fd_pid = info.lines().find_map(|l| l.strip_prefix("Pid:"));
    assert_eq!(fd_pid.map(str::trim), Some(pid.trim()), "{info}");
    nook.destroy(&id, &bundle);
}

#[test]
fn conmon_style_exec_with_console_socket() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let dir = TempDir::new("conmon");
    let pid_file = dir.path().join("exec.pid");
    let file = dir.path().join("process.json");
    let process = json!({
        "terminal": true,
        "args": ["sh", "-c", "tty; read line; echo got-$line; exit 4"],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0}
    });
    fs::write(&file, process.to_string()).unwrap();
    let sock = FdListener::new("console.sock");
    let mut run = Some(nook.spawn(&[
        "exec",
        "--pid-file",
        path_str(&pid_file),
        "--process",
        path_str(&file),
        "--detach",
        "--console-socket",
        sock.path_str(),
        &id,
    ]));
    let (master, _) = sock.receive_fd(&mut run, Duration::from_secs(30));
    let run = run.take().unwrap();
    let exec_pid = run.pid();
    run.wait().expect_ok();
    let pid = check_detached(&pid_file, nook.pid(&id), exec_pid);
    write_all(&master, b"hello\n");
    let text = read_to_end(&master, Duration::from_secs(30));
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("got-hello"), "{text}");
    wait_until("the exec'd process exits", SETTLE, || !pid_alive(pid));
    nook.destroy(&id, &bundle);
}

#[test]
fn paused_container_needs_ignore_paused() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    nook.run(&["pause", &id]).expect_ok();
    expect_exec_err(
        exec(&nook, &id, &["true"]),
        &["cannot exec in a paused container (use --ignore-paused to override)"],
    );
    // With --ignore-paused the process joins the frozen cgroup and runs
    // once the container resumes.
    let mut run = nook.spawn(&["exec", "--ignore-paused", &id, "echo", "resumed"]);
    sleep(Duration::from_millis(500));
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "exec ran in a paused container"
    );
    nook.run(&["resume", &id]).expect_ok();
    let out = run.wait().expect_ok();
    assert_eq!(out.stdout, "resumed\n", "{out}");
    nook.destroy(&id, &bundle);
}

#[test]
fn stopped_and_unknown_containers() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::new();
    let id = nook.new_id();
    nook.run(&["run", "-d", "--bundle", bundle.path_str(), &id])
        .expect_ok();
    nook.wait_status(&id, "stopped", SETTLE);
    let dir = TempDir::new("pidfile");
    let pid_file = dir.path().join("exec.pid");
    let pf = path_str(&pid_file);
    expect_exec_err(
        exec_flags(&nook, &["--pid-file", pf], &id, &["true"]),
        &["cannot exec in a stopped container"],
    );
    expect_exec_err(
        nook.run(&["exec", "--pid-file", pf, "no-such-container", "true"]),
        &["container does not exist"],
    );
    assert!(!pid_file.exists(), "a failed exec wrote its pid file");
    nook.destroy(&id, &bundle);
}

#[test]
fn bad_arguments_are_named_and_leave_nothing() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let dir = TempDir::new("bad");
    let pid_file = dir.path().join("exec.pid");
    let pf = path_str(&pid_file);
    let bad_json = dir.path().join("bad.json");
    fs::write(&bad_json, "{\"args\": 5}").unwrap();
    // (flags, command, what the error names)
    let cases: Vec<(Vec<&str>, Vec<&str>, &str)> = vec![
        (vec!["-u", "abc"], vec!["true"], "--user"),
        (vec!["-u", "1:x"], vec!["true"], "--user"),
        (
            vec!["--cwd", "/no/such/dir"],
            vec!["true"],
            "--cwd /no/such/dir",
        ),
        (vec!["--cwd", "relative"], vec!["true"], "--cwd"),
        (
            vec!["--process", "/no/such/p.json"],
            vec![],
            "--process /no/such/p.json",
        ),
        (vec!["--process", path_str(&bad_json)], vec![], "--process"),
        (vec!["-e", "NOEQUALS"], vec!["true"], "--env"),
        (vec!["-g", "-1"], vec!["true"], "--additional-gids"),
        (
            vec![],
            vec!["no-such-program"],
            "executable file not found in $PATH",
        ),
        (vec![], vec![], "process args cannot be empty"),
        (vec!["-t", "-d"], vec!["true"], "console socket"),
        (vec!["--cgroup", "a:b:c"], vec!["true"], "--cgroup"),
        (
            vec!["--cgroup", "pids:no-such-sub"],
            vec!["true"],
            "--cgroup",
        ),
    ];
    for (flags, cmd, needle) in cases {
        let mut all = vec!["--pid-file", pf];
        all.extend(flags.iter().copied());
        let out = expect_exec_err(exec_flags(&nook, &all, &id, &cmd), &[needle]);
        let first = out.stderr.lines().filter(|l| !l.is_empty()).count();
        assert_eq!(first, 1, "not a one-line error:\n{out}");
        assert!(!pid_file.exists(), "pid file left by {flags:?} {cmd:?}");
    }
    // Nothing but the container's own process is left in its cgroup.
    let ps = nook.run(&["ps", "--format", "json", &id]).expect_ok();
    let pids: Vec<i32> = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(pids, [nook.pid(&id)], "a failed exec left a process:\n{ps}");
    nook.destroy(&id, &bundle);
}

#[test]
fn twenty_execs_in_parallel() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let runs: Vec<Running> = (0..20)
        .map(|i| {
            nook.spawn(&[
                "exec",
                &id,
                "sh",
                "-c",
                &format!("echo n-{i}; exit {}", i % 3),
            ])
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let out = run.wait();
        assert_eq!(out.code(), (i % 3) as i32, "{out}");
        assert_eq!(out.stdout, format!("n-{i}\n"), "{out}");
    }
    nook.destroy(&id, &bundle);
}

/// The fd numbers the exec'd shell holds (see tests/fds.rs).
const LIST_SHELL_FDS: &str = "ls /proc/$$/fd; true";

fn fd_numbers(text: &str) -> Vec<u32> {
    let mut fds: Vec<u32> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    fds.sort();
    fds
}

#[test]
fn no_fd_leaks_and_preserve_fds() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let out = exec(&nook, &id, &["sh", "-c", LIST_SHELL_FDS]).expect_ok();
    assert_eq!(fd_numbers(&out.stdout), [0, 1, 2], "{out}");

    let data = TempDir::new("fds");
    let three = data.path().join("three");
    fs::write(&three, "content of fd three\n").unwrap();
    let f3 = fs::File::open(&three).unwrap();
    let f4 = fs::File::open("/proc/self/status").unwrap();
    let script = format!("cat /proc/self/fd/3; echo fds:; {LIST_SHELL_FDS}");
    let mut cmd = nook.command(&["exec", "--preserve-fds", "1", &id, "sh", "-c", &script]);
    let (r3, r4) = (f3.as_raw_fd(), f4.as_raw_fd());
    // SAFETY: only fcntl/dup2/close (async-signal-safe) after the fork.
    unsafe {
        cmd.pre_exec(move || {
            let h3 = libc::fcntl(r3, libc::F_DUPFD_CLOEXEC, 100);
            let h4 = libc::fcntl(r4, libc::F_DUPFD_CLOEXEC, 100);
            for (h, t) in [(h3, 3), (h4, 4)] {
                if h < 0 || libc::dup2(h, t) < 0 || libc::fcntl(t, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(h);
            }
            Ok(())
        });
    }
    let out = nook.spawn_cmd(cmd).wait().expect_ok();
    let (contents, fds) = out.stdout.split_once("fds:\n").expect("fd list");
    assert_eq!(contents, "content of fd three\n", "{out}");
    assert_eq!(
        fd_numbers(fds),
        [0, 1, 2, 3],
        "fd 4 (not preserved) leaked:\n{out}"
    );
    nook.destroy(&id, &bundle);
}

/// The container's cgroup directory in the v1 hierarchy of `controller`.
fn v1_dir(init: i32, controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{init}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })?;
    let dir = PathBuf::from(format!("/sys/fs/cgroup/{controller}{path}"));
    dir.is_dir().then_some(dir)
}

#[test]
fn cgroup_flag_runs_in_a_sub_cgroup() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let Some(pids) = v1_dir(nook.pid(&id), "pids") else {
        skip("no v1 pids hierarchy (the v2 guest checks --cgroup there)");
        nook.destroy(&id, &bundle);
        return;
    };
    let sub = pids.join("sub");
    fs::create_dir(&sub).unwrap();
    let script = "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup";
    let out = exec_flags(&nook, &["--cgroup", "pids:sub"], &id, &["sh", "-c", script]);
    let _ = fs::remove_dir(&sub);
    let out = out.expect_ok();
    let (mine, init) = out.stdout.split_once("---\n").expect("two listings");
    assert_eq!(mine.lines().count(), init.lines().count(), "{out}");
    for (mine, theirs) in mine.lines().zip(init.lines()) {
        if mine.contains(":pids:") {
            let want = format!("{}/sub", theirs.trim_end_matches('/'));
            assert_eq!(mine, want, "{out}");
        } else {
            assert_eq!(
                mine, theirs,
                "other hierarchies keep the container's cgroup"
            );
        }
    }
    nook.destroy(&id, &bundle);
}

/// While the exec'd process is still nook code (frozen mid-setup in a
/// frozen sub-cgroup), the container sees it but cannot read its exe; once
/// thawed it becomes the program.
#[test]
fn nook_is_out_of_reach_during_setup() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let Some(freezer) = v1_dir(nook.pid(&id), "freezer") else {
        skip("no v1 freezer hierarchy");
        nook.destroy(&id, &bundle);
        return;
    };
    let sub = freezer.join("hold");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("freezer.state"), "FROZEN").unwrap();
    let held = nook.spawn(&["exec", "--cgroup", "freezer:hold", &id, "echo", "thawed"]);
    wait_until("the exec'd process is in the frozen cgroup", SETTLE, || {
        !fs::read_to_string(sub.join("cgroup.procs"))
            .unwrap_or_default()
            .trim()
            .is_empty()
    });
    // Frozen right after the clone, it may not have named its stage yet:
    // "nook" or "nook:exec", nook code either way.
    let probe = "for p in /proc/[0-9]*; do case $(cat $p/comm) in nook*) \
                 echo seen; readlink $p/exe || echo denied;; esac; done";
    let out = exec(&nook, &id, &["sh", "-c", probe]);
    fs::write(sub.join("freezer.state"), "THAWED").unwrap();
    let done = held.wait();
    let _ = fs::remove_dir(&sub);
    let out = out.expect_ok();
    assert!(
        out.stdout.contains("seen"),
        "nook:exec not visible in the container:\n{out}"
    );
    assert!(
        out.stdout.contains("denied"),
        "the container read nook's exe:\n{out}"
    );
    assert!(!out.stdout.contains("nook"), "{out}");
    assert_eq!(done.expect_ok().stdout, "thawed\n");
    nook.destroy(&id, &bundle);
}

#[test]
fn exec_joins_a_user_namespace() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let map = |host: u32| json!([{"containerID": 0, "hostID": host, "size": 65536}]);
    let (bundle, id) = running_with(&nook, |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map(200_000);
        c["linux"]["gidMappings"] = map(200_000);
    });
    let script = "echo user=$(readlink /proc/self/ns/user); \
                  echo inituser=$(readlink /proc/1/ns/user); \
                  echo uidmap=$(cat /proc/self/uid_map); echo id=$(id -u):$(id -g); \
                  echo capeff=$(grep CapEff /proc/self/status); \
                  echo initcapeff=$(grep CapEff /proc/1/status)";
    let out = exec(&nook, &id, &["sh", "-c", script]).expect_ok();
    let o = &out.stdout;
    assert_eq!(field(o, "user"), field(o, "inituser"), "{out}");
    assert!(field(o, "uidmap").contains("200000"), "{out}");
    assert_eq!(field(o, "id"), "0:0", "{out}");
    assert_eq!(field(o, "capeff"), field(o, "initcapeff"), "{out}");
    // From the host, the exec'd process runs as the mapped uid.
    let dir = TempDir::new("userns");
    let pid_file = dir.path().join("exec.pid");
    exec_flags(
        &nook,
        &["-d", "--pid-file", path_str(&pid_file)],
        &id,
        &["sleep", "100"],
    )
    .expect_ok();
    let pid = fs::read_to_string(&pid_file).unwrap();
    let status = fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.contains("200000"), "{uid}");
    nook.destroy(&id, &bundle);
}

/// An exec'd process under a notifying filter: its own listener goes to
/// the container's seccomp agent, with the state of a running container.
#[test]
fn exec_hands_its_seccomp_listener_to_the_agent() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let agent = FdListener::new("agent.sock");
    let (bundle, id) = running_with(&nook, |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "listenerPath": agent.path_str(),
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    // The init's listener, sent at create.
    let (_init_listener, _) = agent.receive_fd(&mut None, Duration::from_secs(30));
    let mut run = Some(nook.spawn(&["exec", &id, "sh", "-c", "mkdir /tmp/x; echo rc=$?"]));
    let (listener, data) = agent.receive_fd(&mut run, Duration::from_secs(30));
    let state: serde_json::Value = serde_json::from_slice(&data).expect("JSON state");
    assert_eq!(state["state"]["status"], "running", "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    answer_one(&listener, libc::ENOSPC);
    let out = run.take().unwrap().wait().expect_ok();
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(out.stderr.contains("No space left on device"), "{out}");
    nook.destroy(&id, &bundle);
}

#[test]
fn exec_cpu_affinity_final() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let (bundle, id) = running(&nook);
    let dir = TempDir::new("aff");
    let file = dir.path().join("process.json");
    let process = json!({
        "args": ["grep", "Cpus_allowed_list", "/proc/self/status"],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0},
        "execCPUAffinity": {"initial": "0", "final": "0"}
    });
    fs::write(&file, process.to_string()).unwrap();
    let out = exec_flags(&nook, &["--process", path_str(&file)], &id, &[]).expect_ok();
    assert!(out.stdout.trim().ends_with("\t0"), "{out}");
    nook.destroy(&id, &bundle);
}
