//! What a container can leave behind on the host, and the checks for it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::unescape_mountinfo;

/// True if `needle` occurs in `hay` as a whole token: the character after it
/// must not continue a name, so `c-1` does not match inside `c-12`.
pub fn mentions(hay: &str, needle: &str) -> bool {
    let cont = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    hay.match_indices(needle).any(|(i, _)| {
        let before_ok = hay[..i].chars().next_back().is_none_or(|c| !cont(c));
        let after_ok = hay[i + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !cont(c));
        before_ok && after_ok
    })
}

/// The cgroup hierarchies mounted under /sys/fs/cgroup (v1 and v2 alike).
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let mut out = vec![];
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.procs").exists() {
        out.push(base.to_path_buf()); // pure v2 host
    }
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() && p.join("cgroup.procs").exists() {
                out.push(p);
            }
        }
    }
    out
}

/// Directories named `name` at most `depth` levels below `dir`.
fn find_dirs_named(dir: &Path, name: &str, depth: usize, found: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let p = e.path();
        if e.file_name().to_str() == Some(name) {
            found.push(p.clone());
        }
        find_dirs_named(&p, name, depth - 1, found);
    }
}

/// Live (non-zombie) processes that belong to the container: their cgroup
/// path ends in `/<id>`, their root or cwd lies in the bundle, or their
/// command line carries the id.
fn container_processes(id: &str, bundle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = vec![];
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let dir = e.path();
        let stat = fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Field 3 (after the parenthesised comm) is the state.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if matches!(state, None | Some("Z") | Some("X")) {
            continue;
        }
        let cgroup = fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
        let in_cgroup = cgroup
            .lines()
            .any(|l| l.ends_with(&format!("/{id}")) || l.contains(&format!("/{id}/")));
        let link = |n: &str| {
            fs::read_link(dir.join(n))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let in_bundle = [link("root"), link("cwd")]
            .iter()
            .any(|p| p == bundle || p.starts_with(&format!("{bundle}/")));
        let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if in_cgroup || in_bundle || mentions(&cmdline, id) {
            out.push(format!(
                "pid {pid}: {} | {}",
                cmdline.trim(),
                cgroup.replace('\n', " ")
            ));
        }
    }
    out
}

/// Everything a container with this id and bundle could have left behind.
pub fn leftovers(id: &str, bundle: &Path, root: &Path) -> Vec<String> {
    let mut found = vec![];
    let bundle_s = bundle.to_string_lossy().into_owned();

    // Ids the runtime must reject ("bad/id", "..") are checked by their
    // path components: a runtime that wrongly used one as a path would
    // have made directories with those names.
    let valid = !id.is_empty() && !id.contains('/') && id != "." && id != "..";
    let components: Vec<&str> = id
        .split('/')
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .collect();

    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in info.lines() {
        let l = unescape_mountinfo(l);
        if l.contains(&bundle_s) || (valid && mentions(&l, id)) {
            found.push(format!("mount: {l}"));
        }
    }

    for comp in &components {
        for h in cgroup_hierarchies() {
            let mut dirs = vec![];
            find_dirs_named(&h, comp, 7, &mut dirs);
            found.extend(dirs.iter().map(|d| format!("cgroup: {}", d.display())));
        }
    }
    if valid {
        let procs = container_processes(id, &bundle_s);
        found.extend(procs.into_iter().map(|p| format!("process: {p}")));
        let state = root.join(id);
        if state.symlink_metadata().is_ok() {
            found.push(format!("state dir: {}", state.display()));
        }
    }
    found
}

/// Panic unless nothing of the container is left: no mount mentioning the
/// bundle or id, no cgroup dir named after the id, no process of it, and no
/// state dir. Processes being reaped get up to 3 s to go away.
pub fn assert_no_leftovers(id: &str, bundle: &Path, root: &Path) {
    assert_no_leftovers_after(id, bundle, root, "");
}

/// Like [`assert_no_leftovers`], with the output of the last command in
/// the panic message.
pub fn assert_no_leftovers_after(id: &str, bundle: &Path, root: &Path, context: &str) {
    let start = Instant::now();
    loop {
        let found = leftovers(id, bundle, root);
        if found.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(3) {
            panic!(
                "container {id} left things behind:\n  {}\n{context}",
                found.join("\n  ")
            );
        }
        sleep(Duration::from_millis(50));
    }
}

/// The state root must hold no container at all (after rejected ids).
pub fn assert_root_empty(root: &Path) {
    let entries: BTreeSet<String> = fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    // A lock file or similar bookkeeping at the top is fine; a container
    // dir is not.
    let dirs: Vec<_> = entries.iter().filter(|n| root.join(n).is_dir()).collect();
    assert!(
        dirs.is_empty(),
        "state root {} has {dirs:?}",
        root.display()
    );
}

/// Poll `f` until it returns true, or panic after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        sleep(Duration::from_millis(20));
    }
}

/// Whether a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    match stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next())
    {
        None => false,
        Some(s) => s != "Z" && s != "X",
    }
}

/// Kill every process in cgroups named `id` and remove those cgroups.
/// Only ever called with ids from `unique_name`, which nothing else uses.
pub fn scrub_cgroups(id: &str) {
    let mut dirs = vec![];
    for h in cgroup_hierarchies() {
        find_dirs_named(&h, id, 7, &mut dirs);
    }
    if dirs.is_empty() {
        return;
    }
    for d in &dirs {
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    // Children before parents; give killed processes a moment to exit.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
    for _ in 0..50 {
        dirs.retain(|d| fs::remove_dir(d).is_err() && d.exists());
        if dirs.is_empty() {
            return;
        }
        sleep(Duration::from_millis(20));
    }
}
