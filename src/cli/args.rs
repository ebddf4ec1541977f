//! The command line as runc's callers write it. clap parses GNU-style flags;
//! a pre-pass first rewrites runc's other spellings: single-dash long flags
//! (`-bundle x`) and boolean flags with a value (`--detach=true`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Global flags and the command.
#[derive(Parser, Debug)]
#[command(
    name = "nook",
    about = "nook: a fast, daemonless OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// Directory for container state (tmpfs recommended)
    #[arg(long, global = true, default_value = "/run/nook", value_name = "DIR")]
    pub root: PathBuf,
    /// Write log lines to this file instead of stderr
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<String>,
    /// Log format
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug lines too
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver (cgroup v2 hosts booted with systemd)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (before the command, as in runc)
    #[arg(long, value_name = "true|false|auto", default_value = "auto")]
    pub rootless: String,
    /// Criu binary (accepted for compatibility; checkpointing is not supported)
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flags shared by `create` and `run`.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Bundle directory (holds config.json)
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Write the container's host pid to this file
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to (process.terminal)
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket to send the container process's pidfd to
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Move the rootfs onto / and chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Keep the caller's session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (from 3 up) to the container
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Container id
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (its process waits for `start`)
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and start a container; wait for it unless --detach
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container runs
        #[arg(short = 'd', long)]
        detach: bool,
        /// Do not delete the container after it exits
        #[arg(long)]
        keep: bool,
        /// Do not become a subreaper for the container's orphans
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Print the container's OCI state as JSON
    State { id: String },
    /// Send a signal to the container (default SIGTERM)
    Kill {
        /// Signal every process of the container
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container
    Delete {
        /// Kill the container first if it is running
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// List containers
    List {
        /// Output format
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Print only the ids
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        /// A spec for a rootless container
        #[arg(long)]
        rootless: bool,
        /// Directory to write config.json in
        #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
    },
    /// Run a new process inside a container
    Exec(Box<ExecArgs>),
    /// Pause all processes of a container (cgroup freezer)
    Pause { id: String },
    /// Resume a paused container
    Resume { id: String },
    /// List the processes of a container
    Ps {
        /// Output format: a `ps` table, or a JSON array of pids
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: ListFormat,
        id: String,
        /// Arguments for ps(1) (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Update a running container's resource limits
    Update(Box<UpdateArgs>),
    /// Print container statistics and OOM events as JSON lines
    Events {
        /// Print statistics once and exit
        #[arg(long)]
        stats: bool,
        /// Time between statistics (e.g. 5s, 500ms)
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Print what this runtime implements, as runtime-spec features JSON
    Features,
    /// Checkpoint a container (not supported)
    Checkpoint(Unsupported),
    /// Restore a container (not supported)
    Restore(Unsupported),
}

/// Arguments of a command that nook does not implement yet: accepted so the
/// error says so, instead of "unknown command".
#[derive(Args, Debug)]
pub struct Unsupported {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

/// Flags of `exec`, as runc's.
#[derive(Args, Debug, Clone, Default)]
pub struct ExecArgs {
    /// Unix socket to send the pty master to (with --tty and --detach)
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket to send the new process's pidfd to
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Set an environment variable (KEY=value; repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// User as uid[:gid] (numbers)
    #[arg(short = 'u', long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// An additional gid (repeatable)
    #[arg(
        short = 'g',
        long = "additional-gids",
        value_name = "GID",
        allow_hyphen_values = true
    )]
    pub additional_gids: Vec<String>,
    /// A process.json to run instead of the container's process settings
    #[arg(short = 'p', long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Return once the process runs, leaving it to the caller's subreaper
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the new process's host pid to this file
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process
    #[arg(long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to every set of the process (repeatable)
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass this many extra fds (from 3 up) to the process
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Run in an existing sub-cgroup: [CONTROLLER[,CONTROLLER]:]PATH (repeatable)
    #[arg(long = "cgroup", value_name = "[CTRL:]PATH")]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container (the process waits until it resumes)
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Container id
    pub id: String,
    /// The command and its arguments (not with --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Flags of `update`, as runc's.
#[derive(Args, Debug, Clone, Default)]
pub struct UpdateArgs {
    /// JSON file with a LinuxResources object ("-" for stdin)
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<String>,
    /// Memory limit in bytes (suffixes k, m, g; -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit (reservation)
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Kernel memory limit (deprecated, ignored)
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit (cgroup v1)
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for unlimited)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds (cgroup v1)
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds (cgroup v1)
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (e.g. 0-3,5)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (not supported yet)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Intel RDT L3 cache schema (not supported)
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported)
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// Container id
    pub id: String,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

/// Long flags nook knows, for the single-dash rewrite.
const LONG_FLAGS: &[&str] = &[
    "root",
    "log",
    "log-format",
    "debug",
    "systemd-cgroup",
    "rootless",
    "criu",
    "version",
    "help",
    "bundle",
    "pid-file",
    "console-socket",
    "pidfd-socket",
    "no-pivot",
    "no-new-keyring",
    "preserve-fds",
    "detach",
    "keep",
    "no-subreaper",
    "all",
    "force",
    "format",
    "quiet",
    "cwd",
    "env",
    "tty",
    "user",
    "additional-gids",
    "process",
    "process-label",
    "apparmor",
    "no-new-privs",
    "cap",
    "cgroup",
    "ignore-paused",
];

/// Short flags of `exec` that take a value: the value is not the id.
const EXEC_SHORT_VALUE: &[&str] = &["-e", "-u", "-g", "-p", "-c"];

/// Boolean long flags, for the `=true`/`=false` rewrite.
const BOOL_FLAGS: &[&str] = &[
    "stats",
    "debug",
    "systemd-cgroup",
    "no-pivot",
    "no-new-keyring",
    "detach",
    "keep",
    "no-subreaper",
    "all",
    "force",
    "quiet",
    "tty",
    "no-new-privs",
    "ignore-paused",
];

/// Rewrites runc's spellings into what clap parses. Stops at `--` and, for
/// commands that take a command line of their own, after the container id.
pub fn normalize(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    if let Some(argv0) = iter.next() {
        out.push(argv0);
    }
    let mut positionals = 0;
    let mut command: Option<String> = None;
    let mut passthrough = false;
    while let Some(a) = iter.next() {
        if passthrough || a == "--" {
            passthrough = true;
            out.push(a);
            continue;
        }
        let Some(body) = a.strip_prefix("--").or_else(|| long_single_dash(&a)) else {
            if command.as_deref() == Some("exec") && EXEC_SHORT_VALUE.contains(&a.as_str()) {
                out.push(a);
                out.extend(iter.next());
                continue;
            }
            if !a.starts_with('-') {
                positionals += 1;
                if command.is_none() {
                    command = Some(a.clone());
                } else if matches!(command.as_deref(), Some("exec" | "ps")) && positionals >= 2 {
                    passthrough = true;
                    // As in runc, everything after exec's id is the command,
                    // even words that look like exec's own flags.
                    if command.as_deref() == Some("exec") && iter.peek().is_some_and(|n| n != "--")
                    {
                        out.push(a);
                        out.push("--".into());
                        continue;
                    }
                }
            }
            out.push(a);
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        match value {
            Some(v) if BOOL_FLAGS.contains(&name) => match v {
                "true" | "1" | "t" | "T" | "TRUE" | "True" => out.push(format!("--{name}")),
                "false" | "0" | "f" | "F" | "FALSE" | "False" => {}
                _ => out.push(format!("--{name}={v}")),
            },
            Some(v) => out.push(format!("--{name}={v}")),
            None => out.push(format!("--{name}")),
        }
        let takes_value =
            !BOOL_FLAGS.contains(&name) && value.is_none() && LONG_FLAGS.contains(&name);
        if takes_value
            && !matches!(name, "help" | "version")
            && let Some(v) = iter.next()
        {
            out.push(v);
        }
    }
    out
}

/// `-bundle` → `bundle` when it names a known long flag.
fn long_single_dash(a: &str) -> Option<&str> {
    let body = a.strip_prefix('-')?;
    if body.starts_with('-') || body.len() < 2 {
        return None;
    }
    let name = body.split('=').next().unwrap_or(body);
    LONG_FLAGS.contains(&name).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[&str]) -> Vec<String> {
        normalize(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn runc_spellings() {
        assert_eq!(
            n(&["nook", "-root", "/r", "create", "-bundle", "b", "x"]),
            n(&["nook", "--root", "/r", "create", "--bundle", "b", "x"])
        );
        assert_eq!(
            n(&["nook", "run", "--detach=true", "x"]),
            vec!["nook", "run", "--detach", "x"]
        );
        assert_eq!(
            n(&["nook", "run", "--detach=false", "x"]),
            vec!["nook", "run", "x"]
        );
        assert_eq!(
            n(&["nook", "create", "--bundle=/b", "x"]),
            vec!["nook", "create", "--bundle=/b", "x"]
        );
        assert_eq!(
            n(&["nook", "kill", "x", "-9"]),
            vec!["nook", "kill", "x", "-9"]
        );
    }

    #[test]
    fn exec_command_line_untouched() {
        assert_eq!(
            n(&["nook", "exec", "x", "sh", "-bundle", "--detach=true"]),
            vec!["nook", "exec", "x", "--", "sh", "-bundle", "--detach=true"]
        );
        assert_eq!(
            n(&["nook", "exec", "x", "--pid-file", "p"]),
            vec!["nook", "exec", "x", "--", "--pid-file", "p"]
        );
    }

    #[test]
    fn exec_flag_values_are_not_the_id() {
        let cli = Cli::try_parse_from(n(&[
            "nook",
            "exec",
            "-e",
            "A=1",
            "-u",
            "5:6",
            "--process",
            "p.json",
            "-cwd",
            "/tmp",
            "--tty=false",
            "-g",
            "7",
            "--cgroup",
            "pids:sub",
            "c1",
            "sh",
            "-c",
            "exit 3",
        ]))
        .unwrap();
        match cli.command {
            Some(Command::Exec(a)) => {
                assert_eq!(a.id, "c1");
                assert_eq!(a.env, vec!["A=1"]);
                assert_eq!(a.user.as_deref(), Some("5:6"));
                assert_eq!(a.process, Some(PathBuf::from("p.json")));
                assert_eq!(a.cwd.as_deref(), Some("/tmp"));
                assert_eq!(a.additional_gids, vec!["7"]);
                assert_eq!(a.cgroup, vec!["pids:sub"]);
                assert!(!a.tty);
                assert_eq!(a.command, vec!["sh", "-c", "exit 3"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clap_accepts_normalized() {
        let cli = Cli::try_parse_from(n(&[
            "nook",
            "-log-format",
            "json",
            "run",
            "-d",
            "-bundle",
            "/b",
            "--keep=true",
            "c1",
        ]))
        .unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        match cli.command {
            Some(Command::Run {
                create,
                detach,
                keep,
                ..
            }) => {
                assert!(detach && keep);
                assert_eq!(create.bundle, PathBuf::from("/b"));
                assert_eq!(create.id, "c1");
            }
            other => panic!("{other:?}"),
        }
    }
}
