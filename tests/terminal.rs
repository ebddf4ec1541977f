//! process.terminal: the pty master sent over `--console-socket`, a
//! foreground `run` relaying the caller's own terminal, and the flag rules.

mod common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A bundle running an interactive `sh` on a terminal.
fn terminal_bundle() -> Bundle {
    let mut bundle = Bundle::new();
    bundle.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!(["sh"]);
    });
    bundle
}

fn set_winsize(fd: &OwnedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one valid winsize.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
}

#[test]
fn console_socket_receives_the_pty_master() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = terminal_bundle();
    bundle.edit(|c| c["process"]["consoleSize"] = json!({"height": 40, "width": 120}));
    let sock = FdListener::new("console.sock");
    let id = nook.new_id();
    let mut create = Some(nook.spawn(&[
        "create",
        "--console-socket",
        sock.path_str(),
        "--bundle",
        bundle.path_str(),
        &id,
    ]));
    let (master, _) = sock.receive_fd(&mut create, Duration::from_secs(30));
    let out = create.take().expect("create still pending").wait();
    let out = out.expect_ok();

    // The received fd is a pty master: TIOCGPTN answers on masters only.
    let mut n: libc::c_uint = 99;
    // SAFETY: TIOCGPTN writes one unsigned int.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    assert_eq!(r, 0, "the received fd is not a pty master\n{out}");
    assert_eq!(nook.status(&id), "created");

    nook.run(&["start", &id]).expect_ok();
    write_all(&master, b"echo marker-$((6*7)); stty size; tty; exit 5\n");
    let text = read_to_end(&master, Duration::from_secs(30));
    assert!(text.contains("marker-42"), "no marker in:\n{text}");
    assert!(text.contains("40 120"), "consoleSize not applied:\n{text}");
    assert!(
        text.contains("/dev/pts/0"),
        "tty is not /dev/pts/0:\n{text}"
    );

    nook.wait_status(&id, "stopped", SETTLE);
    nook.run(&["delete", &id]).expect_ok();
    assert_no_leftovers(&id, bundle.path(), nook.root());
}

#[test]
fn foreground_run_relays_the_callers_terminal() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = terminal_bundle();
    let id = nook.new_id();
    let pty = nix::pty::openpty(None, None).expect("openpty");
    set_winsize(&pty.master, 33, 101);
    let errfile = TempDir::new("stderr");
    let errpath = errfile.path().join("stderr");

    let mut cmd = nook.command(&["run", "--bundle", bundle.path_str(), &id]);
    cmd.stdin(Stdio::from(pty.slave.try_clone().expect("dup slave")))
        .stdout(Stdio::from(pty.slave.try_clone().expect("dup slave")))
        .stderr(std::fs::File::create(&errpath).expect("stderr file"));
    // SAFETY: setsid and ioctl are async-signal-safe; nothing allocates.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn nook run");
    // Only nook may hold the slave now, so the master sees EIO when it ends.
    drop(cmd);
    drop(pty.slave);

    // The size at start, then a resize (SIGWINCH to nook, which copies the
    // new size to the container's pty) before the shell reads on.
    write_all(&pty.master, b"stty size; read x; stty size; exit 3\n");
    sleep(Duration::from_millis(500));
    set_winsize(&pty.master, 50, 132);
    sleep(Duration::from_millis(300));
    write_all(&pty.master, b"go\n");
    let text = read_to_end(&pty.master, Duration::from_secs(30));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if start.elapsed() > CMD_TIMEOUT {
            let _ = child.kill();
            panic!("nook run did not exit; output:\n{text}");
        }
        sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read_to_string(&errpath).unwrap_or_default();
    let context = format!("exit: {status:?}\n--- pty ---\n{text}\n--- stderr ---\n{stderr}");
    assert!(
        text.contains("33 101"),
        "the terminal size did not reach the container:\n{context}"
    );
    assert!(
        text.contains("50 132"),
        "the resize did not reach the container:\n{context}"
    );
    assert_eq!(status.code(), Some(3), "{context}");
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &context);
}

#[test]
fn terminal_without_console_socket_is_refused_by_create() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let bundle = terminal_bundle();
    let id = nook.new_id();
    let out = nook
        .run(&["create", "--bundle", bundle.path_str(), &id])
        .expect_err(&["--console-socket"]);
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
}

#[test]
fn console_socket_without_terminal_is_refused() {
    if skip_unless_root() {
        return;
    }
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sh"]);
    let sock = FdListener::new("console.sock");
    let id = nook.new_id();
    let out = nook
        .run(&[
            "create",
            "--console-socket",
            sock.path_str(),
            "--bundle",
            bundle.path_str(),
            &id,
        ])
        .expect_err(&["process.terminal"]);
    assert_no_leftovers_after(&id, bundle.path(), nook.root(), &out.to_string());
}
