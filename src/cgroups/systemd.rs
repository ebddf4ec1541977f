//! The systemd cgroup driver: the container's cgroup is a transient unit
//! (a scope, or a slice) that systemd makes (on v1 and hybrid hosts nook
//! makes the same path in the hierarchies systemd leaves alone).
//!
//! nook talks to systemd over D-Bus with its own small client (`dbus.rs`):
//! libcgroups keeps its D-Bus client private behind a manager that would
//! also own the cgroupfs writes nook's `resources` plan already makes, and
//! zbus would pull in an async runtime's worth of crates for five calls.
//!
//! As runc does: limits systemd knows are unit properties (so systemd
//! keeps them, and `systemctl show` reports them), then every limit is
//! also written through cgroupfs by the same plan as the cgroupfs driver.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::dbus::{Call, Connection, Value};
use super::properties::prop;

/// How long a systemd job may take (runc waits 30 s too).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// The unit a container lives in, from linux.cgroupsPath "slice:prefix:name".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice, e.g. "system.slice" ("-.slice" is the root).
    pub slice: String,
    /// The unit, e.g. "nook-<id>.scope", or "<name>.slice".
    pub unit: String,
}

/// Parses a systemd-form cgroupsPath; an empty one is runc's default with
/// nook's prefix: system.slice, nook-<id>.scope.
pub fn parse_path(path: Option<&str>, id: &str) -> Result<UnitPath> {
    let path = path.unwrap_or_default();
    let parts: Vec<&str> = if path.is_empty() {
        vec!["", "nook", id]
    } else {
        path.split(':').collect()
    };
    let [slice, prefix, name] = parts[..] else {
        bail!(
            "linux.cgroupsPath: expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {path:?} instead"
        );
    };
    let slice = match slice {
        "" => "system.slice".to_string(),
        "-" => "-.slice".to_string(),
        s => s.to_string(),
    };
    check_slice(&slice).with_context(|| format!("linux.cgroupsPath {path:?}"))?;
    if name.is_empty() {
        bail!("linux.cgroupsPath {path:?}: the name part is empty");
    }
    let unit = if name.ends_with(".slice") {
        check_slice(name).with_context(|| format!("linux.cgroupsPath {path:?}"))?;
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_unit_chars(&unit).with_context(|| format!("linux.cgroupsPath {path:?}"))?;
    Ok(UnitPath { slice, unit })
}

/// Unit names are ASCII letters, digits and `:-_.\@` (systemd.unit(5)).
fn check_unit_chars(unit: &str) -> Result<()> {
    let ok = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
    if unit.len() > 255 || !unit.chars().all(ok) {
        bail!("{unit:?} is not a valid systemd unit name");
    }
    Ok(())
}

/// A slice name as systemd accepts it: "-.slice", or dash-separated
/// non-empty parts ending in ".slice".
fn check_slice(slice: &str) -> Result<()> {
    if slice == "-.slice" {
        return Ok(());
    }
    let Some(base) = slice.strip_suffix(".slice") else {
        bail!("slice {slice:?} does not end in .slice");
    };
    if base.is_empty() || base.split('-').any(str::is_empty) || slice.contains('/') {
        bail!("{slice:?} is not a valid slice name");
    }
    check_unit_chars(slice)
}

/// The cgroup path of a slice, as systemd nests them: "a-b-c.slice" is
/// /a.slice/a-b.slice/a-b-c.slice; "-.slice" is the root.
pub fn expand_slice(slice: &str) -> Result<PathBuf> {
    check_slice(slice)?;
    let mut out = PathBuf::from("/");
    if slice == "-.slice" {
        return Ok(out);
    }
    let base = slice.strip_suffix(".slice").unwrap_or(slice);
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push(format!("{prefix}.slice"));
    }
    Ok(out)
}

/// The unit's cgroup directory under the hierarchy mounted at `mount`
/// (systemd uses one path in every hierarchy). A slice unit sits where its
/// own name puts it (systemd derives a slice's parent from its name); a
/// scope sits in its slice.
pub fn unit_dir(mount: &Path, u: &UnitPath) -> Result<PathBuf> {
    if u.unit.ends_with(".slice") {
        let own = expand_slice(&u.unit)?;
        return Ok(mount.join(own.strip_prefix("/").unwrap_or(&own)));
    }
    let slice = expand_slice(&u.slice)?;
    Ok(mount
        .join(slice.strip_prefix("/").unwrap_or(&slice))
        .join(&u.unit))
}

/// The properties a new unit gets besides its resources (as runc sets them).
pub fn unit_properties(u: &UnitPath, id: &str, pid: i32) -> Vec<(String, Value)> {
    let mut p = vec![prop(
        "Description",
        Value::Str(format!("nook container {id}")),
    )];
    if u.unit.ends_with(".slice") {
        // A slice's parent is named by Wants=; nook puts init in it itself.
        p.push(prop(
            "Wants",
            Value::Array("s".into(), vec![Value::Str(u.slice.clone())]),
        ));
    } else {
        p.push(prop("Slice", Value::Str(u.slice.clone())));
        p.push(prop("Delegate", Value::Bool(true)));
        p.push(prop(
            "PIDs",
            Value::Array("u".into(), vec![Value::U32(pid as u32)]),
        ));
    }
    p.push(prop("DefaultDependencies", Value::Bool(false)));
    // Accounting on for every controller, as runc: the controllers are
    // then enabled down to the unit even without a limit.
    for a in [
        "MemoryAccounting",
        "CPUAccounting",
        "IOAccounting",
        "TasksAccounting",
    ] {
        p.push(prop(a, Value::Bool(true)));
    }
    p
}

fn props_value(props: Vec<(String, Value)>) -> Value {
    let items = props
        .into_iter()
        .map(|(n, v)| Value::Struct(vec![Value::Str(n), Value::Variant(Box::new(v))]))
        .collect();
    Value::Array("(sv)".into(), items)
}

/// Checks that systemd is the init system before any bus traffic.
pub fn check_booted() -> Result<()> {
    if !Path::new("/run/systemd/system").is_dir() {
        bail!("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system)");
    }
    Ok(())
}

/// A connection to systemd's manager object.
pub struct Systemd {
    conn: Connection,
}

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

impl Systemd {
    /// Connects to the system bus and subscribes to job signals.
    pub fn connect() -> Result<Systemd> {
        check_booted()?;
        let conn = Connection::system().context("--systemd-cgroup")?;
        let mut s = Systemd { conn };
        let rule = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";
        s.conn
            .call(&Call {
                dest: "org.freedesktop.DBus",
                path: "/org/freedesktop/DBus",
                iface: "org.freedesktop.DBus",
                member: "AddMatch",
                args: vec![Value::Str(rule.into())],
            })
            .context("--systemd-cgroup: subscribe to systemd's JobRemoved signal")?;
        s.manager("Subscribe", vec![])
            .context("--systemd-cgroup: subscribe to systemd")?;
        Ok(s)
    }

    fn manager(&mut self, member: &str, args: Vec<Value>) -> Result<Vec<Value>> {
        self.conn.call(&Call {
            dest: DEST,
            path: PATH,
            iface: MANAGER,
            member,
            args,
        })
    }

    /// Waits for the job to finish; anything but "done" is an error.
    fn wait_job(&mut self, reply: &[Value], unit: &str, what: &str) -> Result<()> {
        let job = reply
            .first()
            .and_then(Value::as_str)
            .context("systemd returned no job")?
            .to_string();
        let result = self
            .conn
            .wait_signal("JobRemoved", JOB_TIMEOUT, |body| {
                (body.get(1).and_then(Value::as_str) == Some(job.as_str()))
                    .then(|| body.get(3).and_then(Value::as_str).map(String::from))
                    .flatten()
            })
            .with_context(|| format!("{what} {unit}"))?;
        if result != "done" {
            bail!("{what} {unit}: the systemd job ended with {result:?}");
        }
        Ok(())
    }

    /// Starts the transient unit with `props` and waits until it is up.
    pub fn start_unit(&mut self, unit: &str, props: Vec<(String, Value)>) -> Result<()> {
        let what = "start systemd unit";
        let reply = self
            .manager(
                "StartTransientUnit",
                vec![
                    Value::Str(unit.into()),
                    Value::Str("fail".into()),
                    props_value(props),
                    Value::Array("(sa(sv))".into(), vec![]),
                ],
            )
            .with_context(|| format!("{what} {unit}"))?;
        self.wait_job(&reply, unit, what)
    }

    /// Changes a running unit's properties (not persisted across reboots).
    pub fn set_properties(&mut self, unit: &str, props: Vec<(String, Value)>) -> Result<()> {
        self.manager(
            "SetUnitProperties",
            vec![
                Value::Str(unit.into()),
                Value::Bool(true),
                props_value(props),
            ],
        )
        .with_context(|| format!("set properties of systemd unit {unit}"))?;
        Ok(())
    }

    /// Whether systemd has the unit loaded.
    pub fn unit_exists(&mut self, unit: &str) -> Result<bool> {
        match self.manager("GetUnit", vec![Value::Str(unit.into())]) {
            Ok(_) => Ok(true),
            Err(e)
                if e.to_string()
                    .starts_with("org.freedesktop.systemd1.NoSuchUnit") =>
            {
                Ok(false)
            }
            Err(e) => Err(e).with_context(|| format!("look up systemd unit {unit}")),
        }
    }

    /// Stops the unit and waits; a unit that is already gone is fine.
    pub fn stop_unit(&mut self, unit: &str) -> Result<()> {
        let what = "stop systemd unit";
        let reply = match self.manager(
            "StopUnit",
            vec![Value::Str(unit.into()), Value::Str("replace".into())],
        ) {
            Ok(r) => r,
            Err(e)
                if e.to_string()
                    .starts_with("org.freedesktop.systemd1.NoSuchUnit") =>
            {
                return Ok(());
            }
            Err(e) => return Err(e).with_context(|| format!("{what} {unit}")),
        };
        self.wait_job(&reply, unit, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(p: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
        p.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn paths() {
        let u = parse_path(Some("system.slice:nook:abc"), "x").unwrap();
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.unit, "nook-abc.scope");
        let d = parse_path(None, "c1").unwrap();
        assert_eq!(
            (d.slice.as_str(), d.unit.as_str()),
            ("system.slice", "nook-c1.scope")
        );
        let s = parse_path(Some("machine.slice:libpod:my-pod.slice"), "x").unwrap();
        assert_eq!(s.unit, "my-pod.slice");
        assert_eq!(parse_path(Some("-:p:n"), "x").unwrap().slice, "-.slice");
        assert_eq!(parse_path(Some(":p:n"), "x").unwrap().slice, "system.slice");
        assert_eq!(parse_path(Some("a.slice::n"), "x").unwrap().unit, "n.scope");
        let e = parse_path(Some("/kubepods/x"), "x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux.cgroupsPath") && e.contains("slice:prefix:name"),
            "{e}"
        );
        assert!(parse_path(Some("system:nook:x"), "x").is_err());
        assert!(parse_path(Some("a--b.slice:nook:x"), "x").is_err());
        assert!(parse_path(Some("system.slice:nook:"), "x").is_err());
        assert!(parse_path(Some("system.slice:nook:a/b"), "x").is_err());
    }

    #[test]
    fn slices_expand_as_systemd_does() {
        assert_eq!(expand_slice("-.slice").unwrap(), PathBuf::from("/"));
        assert_eq!(
            expand_slice("system.slice").unwrap(),
            PathBuf::from("/system.slice")
        );
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            PathBuf::from("/a.slice/a-b.slice/a-b-c.slice")
        );
        assert!(expand_slice("a-.slice").is_err());
        assert!(expand_slice("-a.slice").is_err());
        assert!(expand_slice("a.scope").is_err());
        let u = parse_path(Some("machine-x.slice:libpod:c"), "c").unwrap();
        assert_eq!(
            unit_dir(Path::new("/sys/fs/cgroup"), &u).unwrap(),
            PathBuf::from("/sys/fs/cgroup/machine.slice/machine-x.slice/libpod-c.scope")
        );
        let s = parse_path(Some("system.slice:p:ab-c.slice"), "c").unwrap();
        assert_eq!(
            unit_dir(Path::new("/sys/fs/cgroup"), &s).unwrap(),
            PathBuf::from("/sys/fs/cgroup/ab.slice/ab-c.slice")
        );
    }

    #[test]
    fn scope_and_slice_properties() {
        let scope = parse_path(Some("system.slice:nook:a"), "a").unwrap();
        let p = unit_properties(&scope, "a", 42);
        assert_eq!(get(&p, "Slice"), Some(&Value::Str("system.slice".into())));
        assert_eq!(get(&p, "Delegate"), Some(&Value::Bool(true)));
        assert_eq!(
            get(&p, "PIDs"),
            Some(&Value::Array("u".into(), vec![Value::U32(42)]))
        );
        let slice = parse_path(Some("system.slice:nook:a.slice"), "a").unwrap();
        let p = unit_properties(&slice, "a", 42);
        assert!(get(&p, "PIDs").is_none() && get(&p, "Wants").is_some());
    }
}
