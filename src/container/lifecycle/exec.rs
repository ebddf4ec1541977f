//! `exec`: a new process in a running container. The container must be
//! created, running, or paused (with --ignore-paused); its process is the
//! config's `process` with the flags on top, or a process.json.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process, Spec};

use super::create::{send_pidfd, write_pid_file};
use crate::container::{Container, Status};
use crate::error::Error;
use crate::process::exec::{self, ExecConfig, Tenant};
use crate::process::sync::{ToInit, ToParent};
use crate::{capabilities, cgroups, foreground, logging, spec, syscall};

/// Options of `exec`, as runc's flags.
#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    /// `--process FILE`: a process.json instead of the config's process.
    pub process_file: Option<PathBuf>,
    /// The command after the id.
    pub args: Vec<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    /// `uid[:gid]`.
    pub user: Option<String>,
    pub additional_gids: Vec<String>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// `--cgroup [controller[,controller]:]path`, each as given.
    pub cgroups: Vec<String>,
    pub ignore_paused: bool,
}

/// `exec`: runs the process; returns 0 once it runs (--detach), else its
/// exit status as a shell reports it.
pub fn exec(root: &Path, id: &str, opts: &ExecOptions) -> Result<i32> {
    let c = Container::load(root, id)?;
    // The lock only covers reading a consistent state: held while the new
    // process is set up, it would block a `resume` that a process joining a
    // paused container waits for.
    let c = {
        let _lock = c.lock()?;
        Container::load(root, id)?
    };
    check_status(c.status(), opts.ignore_paused)?;
    let (container_spec, extra) = load_config(&c)?;
    let process = build_process(container_spec.process().as_ref(), opts)?;
    let terminal = process.terminal() == Some(true);
    check_terminal(terminal, opts)?;
    let mut spec = container_spec;
    spec.set_process(Some(process));
    validate(&spec)?;
    let init_pidfd = syscall::pidfd_open(c.state.init.pid).map_err(|_| stopped())?;
    // The pidfd names the process from now on; check it is still the init.
    if !c.state.init.alive() {
        return Err(stopped());
    }
    let cgroup_dirs = cgroups::sub::dirs(&c.state.cgroup_dirs, &opts.cgroups)?;
    let cfg = ExecConfig {
        id: &c.state.id,
        spec: &spec,
        memory_policy: extra.memory_policy.as_ref(),
        init_pid: c.state.init.pid,
        init_pidfd: &init_pidfd,
        cgroup_dirs: &cgroup_dirs,
        preserve_fds: opts.preserve_fds,
        no_new_keyring: c.state.no_new_keyring,
        seccomp: extra.seccomp.as_ref(),
        cwd_name: if opts.cwd.is_some() {
            "--cwd"
        } else {
            "process.cwd"
        },
    };
    // Blocked before the clone so that none is lost; the child unblocks its own.
    let signals = match opts.detach {
        true => None,
        false => Some(foreground::Signals::block()?),
    };
    let tenant = exec::spawn(&cfg)?;
    let console = match start(&c, &tenant, &cfg, opts, terminal) {
        Ok(console) => console,
        Err(e) => {
            exec::kill_and_reap(tenant.pid, &tenant.pidfd);
            return Err(e);
        }
    };
    logging::debug(&format!("container {id}: exec'd pid {}", tenant.pid));
    match signals {
        // The process is nook's child: nook's exit hands it to the caller's
        // subreaper (or the host's init).
        None => Ok(0),
        Some(s) => foreground::supervise(s, tenant.pid.as_raw(), &tenant.pidfd, console),
    }
}

fn stopped() -> anyhow::Error {
    Error::BadState("cannot exec in a stopped container".into()).into()
}

/// The statuses exec refuses, worded as runc's.
fn check_status(status: Status, ignore_paused: bool) -> Result<()> {
    match status {
        Status::Stopped => Err(stopped()),
        Status::Paused if !ignore_paused => Err(Error::BadState(
            "cannot exec in a paused container (use --ignore-paused to override)".into(),
        )
        .into()),
        Status::Creating => {
            Err(Error::BadState("cannot exec in a container that is being created".into()).into())
        }
        _ => Ok(()),
    }
}

/// A terminal needs somewhere to go, and a socket needs a detached terminal:
/// runc's rules, with its wording.
fn check_terminal(terminal: bool, opts: &ExecOptions) -> Result<()> {
    if opts.detach && terminal && opts.console_socket.is_none() {
        bail!("cannot allocate tty if nook will detach without setting console socket");
    }
    if (!opts.detach || !terminal) && opts.console_socket.is_some() {
        bail!("cannot use console socket if nook will not detach or allocate tty");
    }
    Ok(())
}

/// The container's config: read from its bundle at exec time, as runc does.
fn load_config(c: &Container) -> Result<(Spec, spec::Extra)> {
    let path = c.state.bundle.join("config.json");
    let data = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    spec::parse_full(&data)
}

/// The parent's side of the protocol after the clone: the pty, the seccomp
/// listener to its agent, Ready, the console to its socket, Commit, the
/// execve; then the pid file and pidfd.
fn start(
    c: &Container,
    t: &Tenant,
    cfg: &ExecConfig,
    opts: &ExecOptions,
    terminal: bool,
) -> Result<Option<OwnedFd>> {
    let mut console = match terminal {
        true => Some(t.chan.recv_console()?),
        false => None,
    };
    if let Some(f) = cfg.seccomp.filter(|f| f.notifies()) {
        let listener = t.chan.recv_seccomp_listener()?;
        let pid = t.pid.as_raw();
        let state = c.state.oci(Status::Running).for_hook(Status::Running, pid);
        crate::seccomp::hand_to_agent(f, listener, &state, pid)?;
    }
    t.chan.expect(ToParent::Ready)?;
    if let (Some(s), Some(m)) = (&opts.console_socket, &console) {
        crate::console::send_to_socket(s, m)?;
        console = None;
    }
    t.chan.send(&ToInit::Commit)?;
    t.chan.wait_exec()?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, t.pid.as_raw())?;
    }
    if let Some(s) = &opts.pidfd_socket {
        send_pidfd(s, &t.pidfd)?;
    }
    Ok(console)
}

/// Process-level checks of config.json, for the process exec builds.
fn validate(spec: &Spec) -> Result<()> {
    spec::validate_process(spec)?;
    capabilities::validate(spec)?;
    crate::rlimits::validate(spec)?;
    crate::lsm::validate(spec)?;
    if let Some(p) = spec.process() {
        crate::procattr::validate_scheduler(p)?;
    }
    exec::Affinity::from_spec(spec).map(|_| ())
}

/// The process to run: the config's process (a fresh terminal setting) or
/// the `--process` file, with the flags on top. Settings a process.json
/// leaves out (capabilities, rlimits, LSM labels, oomScoreAdj,
/// execCPUAffinity) are the container's, as in runc.
pub fn build_process(base: Option<&Process>, opts: &ExecOptions) -> Result<Process> {
    let base = base.cloned().unwrap_or_default();
    let mut p = match &opts.process_file {
        Some(f) => inherit(read_process(f)?, &base),
        None => {
            let mut p = base;
            p.set_terminal(Some(false));
            p
        }
    };
    // Without --process the command line is the whole of args (as runc:
    // never the config's own program).
    if !opts.args.is_empty() || opts.process_file.is_none() {
        p.set_args(Some(opts.args.clone()));
    }
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("process args cannot be empty (give a command after the id, or --process)");
    }
    if let Some(cwd) = &opts.cwd {
        if !cwd.starts_with('/') {
            bail!("--cwd {cwd:?} must be an absolute path");
        }
        p.set_cwd(PathBuf::from(cwd));
    }
    if opts.tty {
        p.set_terminal(Some(true));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &opts.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &opts.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    p.set_env(Some(merge_env(
        p.env().as_deref().unwrap_or_default(),
        &opts.env,
    )?));
    apply_user(&mut p, opts)?;
    add_caps(&mut p, &opts.caps);
    Ok(p)
}

fn read_process(path: &Path) -> Result<Process> {
    let what = || format!("--process {}", path.display());
    let data = std::fs::read(path).with_context(what)?;
    let value: serde_json::Value = serde_json::from_slice(&data).with_context(what)?;
    // Unknown capability names are skipped with a warning, as in config.json.
    let mut wrapped = serde_json::json!({ "process": value });
    capabilities::drop_unknown(&mut wrapped);
    serde_path_to_error::deserialize(wrapped["process"].take()).map_err(|e| {
        let field = e.path().to_string();
        anyhow::anyhow!("--process {}: {field}: {}", path.display(), e.into_inner())
    })
}

fn inherit(mut p: Process, base: &Process) -> Process {
    if p.capabilities().is_none() {
        p.set_capabilities(base.capabilities().clone());
    }
    if p.rlimits().is_none() {
        p.set_rlimits(base.rlimits().clone());
    }
    if p.apparmor_profile().is_none() {
        p.set_apparmor_profile(base.apparmor_profile().clone());
    }
    if p.selinux_label().is_none() {
        p.set_selinux_label(base.selinux_label().clone());
    }
    if p.oom_score_adj().is_none() {
        p.set_oom_score_adj(base.oom_score_adj());
    }
    if p.exec_cpu_affinity().is_none() {
        p.set_exec_cpu_affinity(base.exec_cpu_affinity().clone());
    }
    p
}

/// `-e KEY=value` on top of the environment: a key given again replaces
/// the earlier value in place, as the environment of runc's exec does.
fn merge_env(base: &[String], add: &[String]) -> Result<Vec<String>> {
    let mut env = base.to_vec();
    for e in add {
        let Some((key, _)) = e.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            bail!("--env {e:?}: not of the form KEY=value");
        };
        let prefix = format!("{key}=");
        match env.iter_mut().find(|x| x.starts_with(&prefix)) {
            Some(x) => *x = e.clone(),
            None => env.push(e.clone()),
        }
    }
    Ok(env)
}

/// `--user uid[:gid]` and `--additional-gids`, numbers only (as runc).
fn apply_user(p: &mut Process, opts: &ExecOptions) -> Result<()> {
    let mut user = p.user().clone();
    if let Some(u) = &opts.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let num = |s: &str| s.parse::<u32>();
        user.set_uid(
            num(uid).map_err(|_| anyhow::anyhow!("--user {u:?}: uid {uid:?} is not a number"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                num(g).map_err(|_| anyhow::anyhow!("--user {u:?}: gid {g:?} is not a number"))?,
            );
        }
    }
    if !opts.additional_gids.is_empty() {
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        for g in &opts.additional_gids {
            let n: u32 = g.parse().map_err(|_| {
                anyhow::anyhow!("--additional-gids {g:?}: must be a positive number")
            })?;
            gids.push(n);
        }
        user.set_additional_gids(Some(gids));
    }
    p.set_user(user);
    Ok(())
}

/// `--cap`: added to all five sets, as runc does; unknown names are
/// skipped with a warning, as runc does.
fn add_caps(p: &mut Process, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let mut new = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        let upper = n.to_ascii_uppercase();
        let full = match upper.starts_with("CAP_") {
            true => upper,
            false => format!("CAP_{upper}"),
        };
        match serde_json::from_value::<Capability>(serde_json::json!(full))
            .ok()
            .filter(|c| capabilities::number(c).is_some())
        {
            Some(c) => new.push(c),
            None => unknown.push(n.as_str()),
        }
    }
    if !unknown.is_empty() {
        logging::warn(&format!(
            "--cap: ignoring unknown capabilities {}",
            unknown.join(", ")
        ));
    }
    let add = |set: &Option<Capabilities>| -> Option<Capabilities> {
        let mut set = set.clone().unwrap_or_default();
        set.extend(new.iter().copied());
        Some(set)
    };
    let mut caps: LinuxCapabilities = p.capabilities().clone().unwrap_or_default();
    caps.set_bounding(add(caps.bounding()));
    caps.set_effective(add(caps.effective()));
    caps.set_inheritable(add(caps.inheritable()));
    caps.set_permitted(add(caps.permitted()));
    caps.set_ambient(add(caps.ambient()));
    p.set_capabilities(Some(caps));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_process() -> Process {
        serde_json::from_value(serde_json::json!({
            "terminal": true,
            "args": ["sleep", "1000"],
            "cwd": "/",
            "env": ["PATH=/bin", "A=1"],
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10}],
            "oomScoreAdj": 5
        }))
        .unwrap()
    }

    fn opts(args: &[&str]) -> ExecOptions {
        ExecOptions {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn flags_on_top_of_the_config_process() {
        let mut o = opts(&["sh"]);
        o.env = vec!["A=2".into(), "B=3".into()];
        o.user = Some("5:6".into());
        o.additional_gids = vec!["7".into()];
        o.cwd = Some("/tmp".into());
        o.caps = vec!["sys_admin".into(), "CAP_NOPE".into()];
        o.no_new_privs = true;
        let p = build_process(Some(&config_process()), &o).unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["sh"]);
        assert_eq!(p.terminal(), Some(false), "a fresh terminal setting");
        assert_eq!(p.env().as_ref().unwrap(), &["PATH=/bin", "A=2", "B=3"]);
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        assert_eq!(p.user().additional_gids().as_ref().unwrap(), &[7]);
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(p.no_new_privileges(), Some(true));
        let caps = p.capabilities().as_ref().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.ambient()] {
            assert!(set.as_ref().unwrap().contains(&Capability::SysAdmin));
        }
        assert!(
            caps.bounding()
                .as_ref()
                .unwrap()
                .contains(&Capability::Kill)
        );
        assert_eq!(p.oom_score_adj(), Some(5));
    }

    #[test]
    fn the_command_line_is_the_whole_of_args() {
        let e = build_process(Some(&config_process()), &opts(&[])).unwrap_err();
        assert!(
            format!("{e}").contains("process args cannot be empty"),
            "{e}"
        );
    }

    #[test]
    fn process_file_inherits_what_it_leaves_out() {
        let dir = std::env::temp_dir().join(format!("nook-exec-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.json");
        std::fs::write(
            &file,
            r#"{"args": ["id"], "cwd": "/", "user": {"uid": 1, "gid": 1}, "terminal": true}"#,
        )
        .unwrap();
        let o = ExecOptions {
            process_file: Some(file.clone()),
            ..Default::default()
        };
        let p = build_process(Some(&config_process()), &o).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["id"]);
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.user().uid(), 1);
        assert!(
            p.env().as_ref().is_none_or(|e| e.is_empty()),
            "env is the file's"
        );
        assert!(p.capabilities().is_some() && p.rlimits().is_some());
        assert_eq!(p.oom_score_adj(), Some(5));
    }

    #[test]
    fn bad_flags_are_named() {
        for (o, needle) in [
            (
                ExecOptions {
                    user: Some("x".into()),
                    ..opts(&["sh"])
                },
                "--user",
            ),
            (
                ExecOptions {
                    user: Some("1:".into()),
                    ..opts(&["sh"])
                },
                "--user",
            ),
            (
                ExecOptions {
                    env: vec!["X".into()],
                    ..opts(&["sh"])
                },
                "--env",
            ),
            (
                ExecOptions {
                    env: vec!["=x".into()],
                    ..opts(&["sh"])
                },
                "--env",
            ),
            (
                ExecOptions {
                    cwd: Some("tmp".into()),
                    ..opts(&["sh"])
                },
                "--cwd",
            ),
            (
                ExecOptions {
                    additional_gids: vec!["-1".into()],
                    ..opts(&["sh"])
                },
                "--additional-gids",
            ),
            (
                ExecOptions {
                    process_file: Some("/no/such".into()),
                    ..opts(&[])
                },
                "--process /no/such",
            ),
        ] {
            let e = format!(
                "{:#}",
                build_process(Some(&config_process()), &o).unwrap_err()
            );
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn statuses_as_runc() {
        assert!(check_status(Status::Running, false).is_ok());
        assert!(check_status(Status::Created, false).is_ok());
        assert!(check_status(Status::Paused, true).is_ok());
        let e = check_status(Status::Paused, false).unwrap_err();
        assert!(format!("{e}").contains("--ignore-paused"));
        let e = check_status(Status::Stopped, true).unwrap_err();
        assert_eq!(format!("{e}"), "cannot exec in a stopped container");
    }

    #[test]
    fn terminal_rules_as_runc() {
        let mut o = opts(&["sh"]);
        assert!(
            check_terminal(true, &o).is_ok(),
            "foreground tty: nook relays"
        );
        o.detach = true;
        assert!(
            check_terminal(true, &o).is_err(),
            "detached tty needs a socket"
        );
        o.console_socket = Some("/s".into());
        assert!(check_terminal(true, &o).is_ok());
        assert!(check_terminal(false, &o).is_err(), "socket without tty");
    }
}
