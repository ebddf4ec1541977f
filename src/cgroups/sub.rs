//! `exec --cgroup [CONTROLLER[,CONTROLLER]:]PATH`: run the new process in
//! an existing sub-cgroup of the container's cgroup, as runc does. Without
//! a controller the path applies to every hierarchy; with controllers, to
//! the v1 hierarchies holding them (the others keep the container's own
//! cgroup). On cgroup v2 there is one hierarchy, so one path.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};

use super::{Hierarchy, hierarchies};

/// The parsed `--cgroup` arguments: controller ("" for all) → sub-path.
pub fn parse(args: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for a in args {
        let parts: Vec<&str> = a.splitn(3, ':').collect();
        let (ctrls, path) = match parts.as_slice() {
            [path] if args.len() == 1 => (vec![""], *path),
            [_] => {
                bail!("--cgroup {a}: give every path a <controller>: prefix when there are several")
            }
            [ctrls, path] => (ctrls.split(',').collect(), *path),
            _ => bail!("--cgroup {a}: expected [<controller>[,<controller>]:]<path>"),
        };
        let sub = relative(a, path)?;
        for c in ctrls {
            if c.is_empty() && parts.len() == 2 {
                bail!("--cgroup {a}: empty controller name");
            }
            if out.insert(c.to_string(), sub.clone()).is_some() {
                bail!("--cgroup: controller {c} is given more than once");
            }
        }
    }
    Ok(out)
}

/// The sub-path, which must stay inside the container's cgroup.
fn relative(arg: &str, path: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                bail!("--cgroup {arg}: the path may not leave the container's cgroup")
            }
        }
    }
    if out.as_os_str().is_empty() {
        bail!("--cgroup {arg}: empty path");
    }
    Ok(out)
}

/// The directories the exec'd process joins: each of the container's
/// `dirs`, or the sub-cgroup asked for in its hierarchy (which must exist).
pub fn dirs(dirs: &[PathBuf], args: &[String]) -> Result<Vec<PathBuf>> {
    if args.is_empty() {
        return Ok(dirs.to_vec());
    }
    let subs = parse(args)?;
    let hier = hierarchies()?;
    let pure_v2 = hier.iter().all(|h| h.is_v2());
    let mut used = Vec::new();
    let mut out = Vec::new();
    for d in dirs {
        let h = hier.iter().find(|h| d.starts_with(&h.mount));
        let sub = match h {
            Some(h) => pick(h, &subs, pure_v2, &mut used)?,
            None => subs.get(""),
        };
        let Some(sub) = sub else {
            out.push(d.clone());
            continue;
        };
        let dir = d.join(sub);
        if !dir.is_dir() {
            bail!(
                "--cgroup {}: {} does not exist (the sub-cgroup must be made first)",
                sub.display(),
                dir.display()
            );
        }
        out.push(dir);
    }
    for c in subs.keys().filter(|c| !c.is_empty()) {
        if !used.contains(c) {
            bail!("--cgroup {c}:...: the container has no cgroup with controller {c}");
        }
    }
    Ok(out)
}

/// The sub-path for one hierarchy. On a pure v2 host a controller prefix
/// names the one hierarchy, as long as every prefix gives the same path; on
/// a hybrid host the cgroup2 mount follows only a path without prefix.
fn pick<'a>(
    h: &Hierarchy,
    subs: &'a BTreeMap<String, PathBuf>,
    pure_v2: bool,
    used: &mut Vec<String>,
) -> Result<Option<&'a PathBuf>> {
    if let Some(all) = subs.get("") {
        return Ok(Some(all));
    }
    if h.is_v2() {
        if !pure_v2 {
            return Ok(None);
        }
        let paths: Vec<&PathBuf> = subs.values().collect();
        if paths.windows(2).any(|w| w[0] != w[1]) {
            bail!("--cgroup: cgroup v2 has one hierarchy, so one path only");
        }
        used.extend(subs.keys().cloned());
        return Ok(paths.first().copied());
    }
    let mut found = None;
    for c in h.controllers.split(',') {
        if let Some(p) = subs.get(c) {
            used.push(c.to_string());
            found = Some(p);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<BTreeMap<String, PathBuf>> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn forms_as_runc() {
        let m = p(&["sub"]).unwrap();
        assert_eq!(m[""], PathBuf::from("sub"));
        let m = p(&["cpu,memory:a/b", "pids:/c"]).unwrap();
        assert_eq!(m["cpu"], PathBuf::from("a/b"));
        assert_eq!(m["memory"], PathBuf::from("a/b"));
        assert_eq!(m["pids"], PathBuf::from("c"));
    }

    #[test]
    fn bad_forms() {
        for bad in [
            &["a:b:c"][..],
            &["x", "y"],
            &[":x"],
            &["cpu:a", "cpu:b"],
            &["../up"],
            &["cpu:a/../../b"],
            &["/"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
