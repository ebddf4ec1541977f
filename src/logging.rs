//! runc-compatible log output. containerd and conmon read the `--log` file, so
//! its lines look like runc's: logrus text (`time="…" level=error msg="…"`) or
//! JSON (`{"level":"error","msg":"…","time":"…"}`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

/// Output format of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<File>,
    format: Format,
    debug: bool,
}

static LOGGER: Mutex<Logger> = Mutex::new(Logger {
    file: None,
    format: Format::Text,
    debug: false,
});

/// Sets up logging from the global flags. Without `--log`, lines go to stderr.
pub fn init(path: Option<&str>, format: Format, debug: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let file = match path {
        Some(p) if !p.is_empty() => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("--log {p}"))?,
        ),
        _ => None,
    };
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    *l = Logger {
        file,
        format,
        debug,
    };
    Ok(())
}

/// True when a `--log` file is in use (errors then also go to stderr plainly).
pub fn has_file() -> bool {
    LOGGER.lock().map(|l| l.file.is_some()).unwrap_or(false)
}

/// Writes one line at `level` ("debug", "info", "warning", "error").
pub fn log(level: &str, msg: &str) {
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if level == "debug" && !l.debug {
        return;
    }
    let line = format_line(l.format, level, msg, &now_rfc3339(false));
    match l.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Logs a warning.
pub fn warn(msg: &str) {
    log("warning", msg);
}

/// Logs a debug line (only with `--debug`).
pub fn debug(msg: &str) {
    log("debug", msg);
}

fn format_line(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": time});
            format!("{v}\n")
        }
        Format::Text => {
            let quoted = serde_json::to_string(msg).unwrap_or_default();
            format!("time=\"{time}\" level={level} msg={quoted}\n")
        }
    }
}

/// The current UTC time as RFC 3339, with nanoseconds when `nanos`.
pub fn now_rfc3339(nanos: bool) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(
        now.as_secs(),
        if nanos {
            Some(now.subsec_nanos())
        } else {
            None
        },
    )
}

/// Formats seconds since the epoch as RFC 3339 UTC (civil-from-days algorithm).
pub fn rfc3339(secs: u64, nanos: Option<u32>) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = nanos.map(|n| format!(".{n:09}")).unwrap_or_default();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400, None), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339(1_795_628_893, Some(5)),
            "2026-11-25T17:48:13.000000005Z"
        );
    }

    #[test]
    fn lines_match_runc() {
        let t = format_line(Format::Text, "error", "container \"a\" x", "T");
        assert_eq!(t, "time=\"T\" level=error msg=\"container \\\"a\\\" x\"\n");
        let j = format_line(Format::Json, "error", "boom", "T");
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom");
        assert_eq!(v["time"], "T");
    }
}
