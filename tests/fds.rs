//! File descriptors: what the container program inherits (nothing beyond
//! stdio, plus `--preserve-fds`), and the pidfd of `--pidfd-socket`.

mod common;

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use common::*;

/// The fd numbers in the shell's own /proc/PID/fd, listed by a child `ls`
/// (so that ls's own directory fd is not among them). The trailing `true`
/// keeps sh from exec'ing ls in its place.
const LIST_SHELL_FDS: &str = "ls /proc/$$/fd; true";

fn fd_numbers(text: &str) -> Vec<u32> {
    let mut fds: Vec<u32> = text
        .split_whitespace()
        .map(|f| {
            f.parse()
                .unwrap_or_else(|_| panic!("not an fd number {f:?} in:\n{text}"))
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn the_program_inherits_only_stdio() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = Bundle::sh(LIST_SHELL_FDS);
    let id = nook.new_id();
    let mut cmd = nook.command(&["run", "--bundle", bundle.path_str(), &id]);
    // Give nook an extra inherited fd without CLOEXEC, as a careless caller
    // would: it must not reach the container either.
    let extra = fs::File::open("/proc/self/status").expect("open");
    let raw = extra.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 || libc::fcntl(7, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = nook.spawn_cmd(cmd).wait();
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
    let out = out.expect_ok();
    assert_eq!(fd_numbers(&out.stdout), [0, 1, 2], "{out}");
}

/// Dups `files` onto fds 3, 4, ... of the spawned command, without CLOEXEC.
fn with_fds(cmd: &mut std::process::Command, files: &[&fs::File]) {
    let raws: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: only fcntl/dup2/close, which are async-signal-safe; the
    // vector was allocated before the fork.
    unsafe {
        cmd.pre_exec(move || {
            // First move every source above the targets, so that no dup2
            // overwrites a source still to be copied.
            let mut high = [0i32; 16];
            for (i, &fd) in raws.iter().enumerate() {
                high[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, &h) in high[..raws.len()].iter().enumerate() {
                let target = 3 + i as i32;
                if libc::dup2(h, target) < 0 || libc::fcntl(target, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(h);
            }
            Ok(())
        });
    }
}

#[test]
fn preserve_fds_passes_exactly_that_many() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let data = TempDir::new("fds");
    let paths: Vec<_> = ["three", "four", "five"]
        .iter()
        .map(|n| {
            let p = data.path().join(n);
            fs::write(&p, format!("content of fd {n}\n")).expect("write");
            p
        })
        .collect();
    let files: Vec<fs::File> = paths
        .iter()
        .map(|p| fs::File::open(p).expect("open"))
        .collect();
    let bundle = Bundle::sh(&format!(
        "cat /proc/self/fd/3 /proc/self/fd/4; echo fds:; {LIST_SHELL_FDS}"
    ));
    let id = nook.new_id();
    let mut cmd = nook.command(&[
        "run",
        "--preserve-fds",
        "2",
        "--bundle",
        bundle.path_str(),
        &id,
    ]);
    with_fds(&mut cmd, &[&files[0], &files[1], &files[2]]);
    let out = nook.spawn_cmd(cmd).wait();
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
    let out = out.expect_ok();
    let (contents, fds) = out
        .stdout
        .split_once("fds:\n")
        .unwrap_or_else(|| panic!("no fd list:\n{out}"));
    assert_eq!(
        contents, "content of fd three\ncontent of fd four\n",
        "{out}"
    );
    assert_eq!(
        fd_numbers(fds),
        [0, 1, 2, 3, 4],
        "fd 5 (not preserved) or another fd reached the container:\n{out}"
    );
}

#[test]
fn pidfd_socket_receives_a_pidfd_of_init() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "100"]);
    let sock = FdListener::new("pidfd.sock");
    let id = nook.new_id();
    let mut create = Some(nook.spawn(&[
        "create",
        "--pidfd-socket",
        sock.path_str(),
        "--bundle",
        bundle.path_str(),
        &id,
    ]));
    let (pidfd, _) = sock.receive_fd(&mut create, Duration::from_secs(30));
    create.take().expect("create pending").wait().expect_ok();
    let pid = nook.pid(&id);

    let fdinfo = fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
        .expect("read fdinfo");
    let fd_pid = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("fdinfo has no Pid: line, not a pidfd:\n{fdinfo}"));
    assert_eq!(fd_pid, pid.to_string(), "pidfd refers to another process");
    assert_eq!(pidfd_send_signal(&pidfd, 0), 0, "signal 0 via the pidfd");

    // It keeps referring to init across start, and reports its exit.
    nook.run(&["start", &id]).expect_ok();
    assert!(!pidfd_readable(&pidfd, 0), "pidfd readable while init runs");
    nook.run(&["kill", &id, "KILL"]).expect_ok();
    assert!(
        pidfd_readable(&pidfd, 10_000),
        "pidfd did not report the exit of init"
    );
    nook.wait_status(&id, "stopped", SETTLE);
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> i64 {
    // SAFETY: pidfd_send_signal with a null siginfo and no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    }
}

fn pidfd_readable(pidfd: &OwnedFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    r > 0 && pfd.revents & libc::POLLIN != 0
}

#[test]
fn socket_activation_fds_pass_only_when_listen_pid_is_nook() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let data = TempDir::new("listen");
    let files: Vec<fs::File> = ["first", "second"]
        .iter()
        .map(|n| {
            let p = data.path().join(n);
            fs::write(&p, format!("listen fd {n}\n")).expect("write");
            fs::File::open(&p).expect("open")
        })
        .collect();
    let bundle = Bundle::sh(
        "echo \"${LISTEN_FDS-unset} ${LISTEN_PID-unset}\"; \
         cat <&3 2>/dev/null; cat <&4 2>/dev/null; echo fds:; ls /proc/$$/fd; true",
    );
    // `$$` of the wrapper shell is the pid nook gets, as exec keeps it;
    // 1 is never nook (and is the pid the container sees LISTEN_PID as).
    for (listen_pid, passed) in [("$$", true), ("1", false)] {
        let id = nook.new_id();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("LISTEN_PID={listen_pid} exec \"$0\" \"$@\""))
            .arg(nook_bin())
            .args(["--root", path_str(nook.root())])
            .args(["run", "--bundle", bundle.path_str(), &id])
            .env("LISTEN_FDS", "2")
            .env_remove("LISTEN_FDNAMES");
        with_fds(&mut cmd, &[&files[0], &files[1]]);
        let out = nook.spawn_cmd(cmd).wait();
        assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
        let out = out.expect_ok();
        let (head, fds) = out
            .stdout
            .split_once("fds:\n")
            .unwrap_or_else(|| panic!("no fd list:\n{out}"));
        if passed {
            assert_eq!(
                head, "2 1\nlisten fd first\nlisten fd second\n",
                "LISTEN_PID=nook: {out}"
            );
            assert_eq!(fd_numbers(fds), [0, 1, 2, 3, 4], "{out}");
        } else {
            assert_eq!(head, "unset unset\n", "LISTEN_PID=1 (not nook): {out}");
            assert_eq!(fd_numbers(fds), [0, 1, 2], "{out}");
        }
    }
}
