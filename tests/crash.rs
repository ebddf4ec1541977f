//! Crash safety: the runtime may be SIGKILLed at any moment of `create` or
//! `run`; a following `delete --force` must succeed and leave no mount,
//! cgroup, process or state dir behind.

mod common;

use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

/// Delays spread evenly over 0..=60 ms, each shifted by a little jitter so
/// repeated runs probe slightly different moments.
fn delays(n: u64) -> Vec<Duration> {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (0..n)
        .map(|i| {
            let even = i * 60 / (n - 1).max(1);
            let jitter = (seed.wrapping_mul(i + 1).wrapping_add(i * 7919)) % 3;
            Duration::from_millis((even + jitter).min(60))
        })
        .collect()
}

/// Start `args` (ending in the id), SIGKILL the runtime after each delay,
/// then force-delete and check for leftovers.
fn kill_mid_way(subcommand: &[&str], iterations: u64) {
    let nook = Nook::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["sleep", "1000"]);
    for (i, delay) in delays(iterations).into_iter().enumerate() {
        let id = nook.new_id();
        let mut args: Vec<&str> = subcommand.to_vec();
        args.extend(["--bundle", bundle.path_str(), &id]);
        let running = nook.spawn(&args);
        sleep(delay);
        let killed = running.kill9();
        let del = nook.run(&["delete", "--force", &id]);
        let context = format!("iteration {i}, killed after {delay:?}\n{killed}\n{del}");
        assert!(del.ok(), "delete --force failed:\n{context}");
        assert_no_leftovers_after(&id, bundle.path(), nook.root(), &context);
    }
}

#[test]
fn sigkill_during_create_leaves_nothing_after_delete_force() {
    if skip_unless_root() {
        return;
    }
    kill_mid_way(&["create"], 15);
}

#[test]
fn sigkill_during_run_leaves_nothing_after_delete_force() {
    if skip_unless_root() {
        return;
    }
    kill_mid_way(&["run"], 8);
}

#[test]
fn delays_cover_the_whole_window() {
    let d = delays(15);
    assert_eq!(d.len(), 15);
    assert!(d[0] <= Duration::from_millis(2));
    assert!(d[14] >= Duration::from_millis(58));
    assert!(d.iter().all(|x| *x <= Duration::from_millis(60)));
}
