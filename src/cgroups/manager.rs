//! nook's one cgroup interface over its two drivers: cgroupfs (nook makes
//! the directories) and systemd (a transient unit makes them). The driver
//! is recorded in the container's state, so every later command uses the
//! same one whether or not it was given --systemd-cgroup.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxResources, Spec};
use serde::{Deserialize, Serialize};

use super::properties;
use super::systemd::{self, Systemd, UnitPath};
use super::{apply_devices, apply_resources, enter_v1, hierarchies, host_version, resources};
use crate::spec::Bundle;

/// Which driver made the container's cgroups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "lowercase")]
pub enum Driver {
    #[default]
    Cgroupfs,
    /// A transient unit (scope or slice) in `slice`, stopped by `delete`.
    Systemd { unit: String, slice: String },
}

impl Driver {
    pub fn is_cgroupfs(&self) -> bool {
        *self == Driver::Cgroupfs
    }
}

/// Where a new container's cgroups will be: its driver, its directory in
/// each hierarchy, and which of those nook itself will create.
pub struct Plan {
    pub driver: Driver,
    pub dirs: Vec<PathBuf>,
    pub created: Vec<PathBuf>,
}

/// Plans the container's cgroups. With `systemd`, systemd must be
/// reachable and the unit must not exist yet: both are checked here,
/// before anything is recorded or made.
pub fn plan(spec: &Spec, id: &str, systemd: bool) -> Result<Plan> {
    if !systemd {
        let dirs = super::container_dirs(spec, id)?;
        let created = super::missing(&dirs);
        return Ok(Plan {
            driver: Driver::Cgroupfs,
            dirs,
            created,
        });
    }
    systemd::check_booted()?;
    let given = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let given = given.map(|p| p.to_string_lossy().into_owned());
    let u = systemd::parse_path(given.as_deref().filter(|p| !p.is_empty()), id)?;
    // One path in every hierarchy: systemd makes it where it manages the
    // controller, nook in the others (v1 cpuset, freezer, ... as runc).
    let mut dirs = Vec::new();
    for h in hierarchies()? {
        dirs.push(systemd::unit_dir(&h.mount, &u)?);
    }
    // What is not there yet is removed at delete (if systemd has not).
    let created = dirs.iter().filter(|d| !d.exists()).cloned().collect();
    let mut sd = Systemd::connect()?;
    if sd.unit_exists(&u.unit)? {
        bail!("linux.cgroupsPath: systemd unit {} already exists", u.unit);
    }
    Ok(Plan {
        driver: Driver::Systemd {
            unit: u.unit,
            slice: u.slice,
        },
        dirs,
        created,
    })
}

/// Before the clone: cgroupfs makes the directories and writes every limit
/// there, so init is born under them (CLONE_INTO_CGROUP on v2). systemd
/// only checks the limits convert; its unit needs init's pid.
pub fn prepare(plan: &Plan, bundle: &Bundle) -> Result<()> {
    let r = resources_of(&bundle.spec);
    match &plan.driver {
        Driver::Cgroupfs => {
            super::create(&plan.created)?;
            apply_devices(&bundle.spec, &plan.dirs)?;
            if let Some(r) = r {
                apply_resources(r, bundle.extra.pids_limit, &plan.dirs)?;
            }
        }
        Driver::Systemd { .. } => {
            if let Some(r) = r {
                properties::resource_properties(r, bundle.extra.pids_limit, host_version()?)?;
            }
        }
    }
    Ok(())
}

fn resources_of(spec: &Spec) -> Option<&LinuxResources> {
    spec.linux().as_ref().and_then(|l| l.resources().as_ref())
}

/// The v2 directory init is cloned straight into, if any: the cgroupfs
/// driver's. A systemd unit does not exist before init does.
pub fn clone_into<'a>(driver: &Driver, dirs: &'a [PathBuf]) -> Option<&'a PathBuf> {
    match driver {
        Driver::Cgroupfs => super::v2_dir(dirs),
        Driver::Systemd { .. } => None,
    }
}

/// After the clone, while init waits on the sync socket and runs nothing of
/// the container: puts it in its cgroups. systemd starts the unit with
/// PIDs=[init] and every limit it knows (so init is under them from its
/// first moment there), then the cgroupfs writes follow, as in runc.
pub fn enter(driver: &Driver, bundle: &Bundle, id: &str, dirs: &[PathBuf], pid: i32) -> Result<()> {
    let Driver::Systemd { unit, slice } = driver else {
        return enter_v1(dirs, pid);
    };
    let u = UnitPath {
        unit: unit.clone(),
        slice: slice.clone(),
    };
    let mut props = systemd::unit_properties(&u, id, pid);
    let r = resources_of(&bundle.spec);
    if let Some(r) = r {
        let version = host_version()?;
        props.extend(properties::resource_properties(
            r,
            bundle.extra.pids_limit,
            version,
        )?);
    }
    let rules = r.and_then(|r| r.devices().clone()).unwrap_or_default();
    props.extend(properties::device_properties(
        &rules,
        super::DEFAULT_DEVICE_RULES,
    ));
    let mut sd = Systemd::connect()?;
    sd.start_unit(unit, props)?;
    // The hierarchies systemd does not manage get the same path from nook
    // (parents first; v1 cpuset copies its parent's cpus and mems).
    super::create(&super::missing(dirs))?;
    // A slice takes no PIDs=, and on v1 systemd places init only in the
    // hierarchies it manages: init joins the rest through cgroupfs (runc too).
    if unit.ends_with(".slice") || host_version()? == resources::Version::V1 {
        enter_all(dirs, pid)?;
    }
    apply_devices(&bundle.spec, dirs)?;
    if let Some(r) = r {
        apply_resources(r, systemd_pids_limit(bundle.extra.pids_limit), dirs)?;
    }
    Ok(())
}

/// systemd has no TasksMax of 0 and sets 1 instead (runc maps it the same
/// way); the file gets the same 1 so that the unit and the cgroup agree.
fn systemd_pids_limit(limit: Option<i64>) -> Option<i64> {
    limit.map(|l| if l == 0 { 1 } else { l })
}

fn enter_all(dirs: &[PathBuf], pid: i32) -> Result<()> {
    for d in dirs {
        let f = d.join("cgroup.procs");
        std::fs::write(&f, pid.to_string()).with_context(|| format!("write {}", f.display()))?;
    }
    Ok(())
}

/// `update`: systemd's properties first (so systemd does not later undo
/// the change), then the cgroupfs writes.
pub fn update(
    driver: &Driver,
    dirs: &[PathBuf],
    r: &LinuxResources,
    pids_limit: Option<i64>,
) -> Result<()> {
    let mut pids_limit = pids_limit;
    if let Driver::Systemd { unit, .. } = driver {
        let props = properties::resource_properties(r, pids_limit, host_version()?)?;
        if !props.is_empty() {
            Systemd::connect()?.set_properties(unit, props)?;
        }
        pids_limit = systemd_pids_limit(pids_limit);
    }
    apply_resources(r, pids_limit, dirs)
}

/// Removes what the driver made: stops the unit (systemd removes its
/// cgroup), and the directories nook created.
pub fn destroy(driver: &Driver, created: &[PathBuf]) -> Result<()> {
    if let Driver::Systemd { unit, .. } = driver {
        Systemd::connect()?.stop_unit(unit)?;
    }
    super::remove(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_in_state_json() {
        let d = Driver::Systemd {
            unit: "nook-a.scope".into(),
            slice: "system.slice".into(),
        };
        let j = serde_json::to_value(&d).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"driver": "systemd", "unit": "nook-a.scope", "slice": "system.slice"})
        );
        assert_eq!(serde_json::from_value::<Driver>(j).unwrap(), d);
        assert!(Driver::default().is_cgroupfs());
    }
}
