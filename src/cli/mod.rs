//! The `nook` command line: global flags, then one small module per command
//! that parses its flags and calls one library function.

pub mod args;
mod create;
mod delete;
mod events;
pub mod exec;
mod features;
mod kill;
mod list;
#[cfg(test)]
mod man;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

use anyhow::{Result, bail};
use clap::Parser;

use args::{Cli, Command, LogFormat};
use nook::logging;

/// Parses argv and runs the command; returns the process exit code.
pub fn main(argv: Vec<String>) -> Result<i32> {
    let cli = match Cli::try_parse_from(args::normalize(argv)) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            return Ok(code);
        }
    };
    let format = match cli.log_format {
        LogFormat::Text => logging::Format::Text,
        LogFormat::Json => logging::Format::Json,
    };
    logging::init(cli.log.as_deref(), format, cli.debug)?;
    if cli.version {
        println!(
            "nook version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            nook::OCI_VERSION
        );
        return Ok(0);
    }
    check_global(&cli)?;
    let root = cli.root.clone();
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        return Ok(0);
    };
    if matches!(
        command,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    ) && !nix::unistd::geteuid().is_root()
    {
        bail!("nook must run as root: rootless containers are not supported yet");
    }
    match command {
        Command::Create(a) => create::run(&root, &a, cli.systemd_cgroup).map(|_| 0),
        Command::Start { id } => start::run(&root, &id).map(|_| 0),
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper,
        } => run::run(
            &root,
            &create,
            detach,
            keep,
            no_subreaper,
            cli.systemd_cgroup,
        ),
        Command::State { id } => state::run(&root, &id).map(|_| 0),
        Command::Kill { all, id, signal } => kill::run(&root, &id, &signal, all).map(|_| 0),
        Command::Delete { force, id } => delete::run(&root, &id, force).map(|_| 0),
        Command::List { format, quiet } => list::run(&root, format, quiet).map(|_| 0),
        Command::Spec { rootless, bundle } => spec::run(&bundle, rootless).map(|_| 0),
        Command::Exec(a) => exec::run(&root, &a),
        Command::Pause { id } => nook::container::lifecycle::pause(&root, &id).map(|_| 0),
        Command::Resume { id } => nook::container::lifecycle::resume(&root, &id).map(|_| 0),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps::run(&root, &id, format, &ps_args).map(|_| 0),
        Command::Update(a) => update::run(&root, &a).map(|_| 0),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(&root, &id, &interval, stats).map(|_| 0),
        Command::Features => features::run().map(|_| 0),
        Command::Checkpoint(_) | Command::Restore(_) => {
            bail!("checkpoint and restore are not supported")
        }
    }
}

/// Global flags whose feature is not there yet fail clearly.
fn check_global(cli: &Cli) -> Result<()> {
    match cli.rootless.as_str() {
        "auto" | "false" => {}
        "true" => bail!("--rootless=true: rootless containers are not supported yet"),
        other => bail!("--rootless: invalid value {other:?} (true, false or auto)"),
    }
    Ok(())
}
