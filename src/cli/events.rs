//! `nook events`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use nook::container::lifecycle;

pub fn run(root: &Path, id: &str, interval: &str, stats: bool) -> Result<()> {
    let interval = parse_duration(interval)?;
    lifecycle::events(root, id, interval, stats, &mut std::io::stdout().lock())
}

/// "5s", "500ms", "1m", "2" (seconds): the durations runc's --interval takes.
fn parse_duration(s: &str) -> Result<Duration> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let Ok(n) = num.parse::<f64>() else {
        bail!("--interval {s:?}: not a duration");
    };
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("--interval {s:?}: unknown unit {unit:?}"),
    };
    if secs <= 0.0 {
        bail!("--interval {s:?} must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5x").is_err());
    }
}
