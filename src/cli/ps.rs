//! `nook ps`: the container's processes, as a `ps` table or a JSON array.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use nook::container::lifecycle;

use super::args::ListFormat;

pub fn run(root: &Path, id: &str, format: ListFormat, ps_args: &[String]) -> Result<()> {
    let pids = lifecycle::pids(root, id)?;
    if format == ListFormat::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = Command::new("ps").args(&args).output().context("run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    print!("{}", filter(&String::from_utf8_lossy(&out.stdout), &pids)?);
    Ok(())
}

/// Keeps ps's header and the lines whose PID column is one of `pids`.
fn filter(table: &str, pids: &[i32]) -> Result<String> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps output has no PID column (give ps options that print it)");
    };
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_lines() {
        let t = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep\n";
        assert_eq!(
            filter(t, &[42]).unwrap(),
            "UID PID PPID CMD\nroot 42 1 sleep\n"
        );
        assert!(filter("UID CMD\n", &[1]).is_err());
    }
}
