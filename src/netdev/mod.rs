//! `linux.netDevices` (runtime-spec 1.3, config-linux.md "Network Devices"):
//! host network interfaces moved into the container's network namespace,
//! renamed on the way when the entry has a `name`.
//!
//! The parent does this right after clone3, while init still waits for
//! `CgroupsReady`, so the program finds its devices from its first
//! instruction. It speaks rtnetlink over two NETLINK_ROUTE sockets, one in
//! each namespace:
//!
//! ```text
//!   host socket                                 container socket
//!   ───────────                                 ────────────────
//!   for every entry, before anything moves:
//!   RTM_GETLINK name → ifindex (or: missing)    RTM_GETLINK name → must be free
//!   RTM_GETADDR dump → addresses to keep
//!   then for every entry:
//!                                               RTM_GETLINK dump  (names before)
//!   RTM_NEWLINK ifindex + IFLA_NET_NS_FD
//!               + IFLA_IFNAME   (move and rename in one request)
//!                                               RTM_GETLINK dump  → the new link
//!                                               RTM_NEWADDR for each kept address
//!                                               RTM_NEWLINK IFF_UP
//! ```
//!
//! Why it is done this way:
//! - The kernel drops every address of a device that changes namespace. The
//!   spec wants the permanent, global-scope ones kept, so they are read
//!   before the move and added again after it.
//! - A move whose new name is taken in the target is not atomic: the kernel
//!   moves the device first and only then fails the rename, which leaves it
//!   in the container under its host name (and a veth dies with the
//!   container). So every entry is checked against both namespaces before
//!   the first one moves, and a failure half-way moves the devices already
//!   moved back to the host, best effort.
//! - Fixed names move before `%d` templates, so that a template cannot take
//!   a name another entry asks for.
//! - nook never moves devices back when the container ends (the spec forbids
//!   it): when the namespace dies, the kernel returns physical devices to the
//!   initial namespace and destroys virtual ones.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

mod rtnetlink;

use rtnetlink::{Addr, IFF_UP, Link, Netlink, errno_of};

// ---------------------------------------------------------------------------
// The spec side: entries and their names (pure)
// ---------------------------------------------------------------------------

/// Longest interface name: IFNAMSIZ (16) less the terminating NUL.
const MAX_NAME: usize = 15;

/// One `linux.netDevices` entry: a host interface and its name inside.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    /// `name`, or the host name when the entry has none.
    target: String,
    /// True when the entry has a `name` of its own.
    renamed: bool,
}

impl Entry {
    /// The entry's place in config.json, for messages.
    fn field(&self) -> String {
        format!("linux.netDevices[{:?}]", self.host)
    }

    /// The field that chose the name inside the container.
    fn name_field(&self) -> String {
        if self.renamed {
            format!("{}.name", self.field())
        } else {
            self.field()
        }
    }

    /// A `%d` template: the kernel picks the first free number.
    fn is_template(&self) -> bool {
        self.target.contains("%d")
    }
}

/// The entries in the order they move: fixed names first, then templates,
/// each group sorted by host name.
fn entries(spec: &Spec) -> Vec<Entry> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Vec::new();
    };
    let mut out: Vec<Entry> = map
        .iter()
        .map(|(host, dev)| Entry {
            host: host.clone(),
            target: dev.name().clone().unwrap_or_else(|| host.clone()),
            renamed: dev.name().is_some(),
        })
        .collect();
    out.sort_by(|a, b| (a.is_template(), &a.host).cmp(&(b.is_template(), &b.host)));
    out
}

/// True when the spec asks for any device to be moved.
pub fn wanted(spec: &Spec) -> bool {
    !entries(spec).is_empty()
}

/// Why the kernel would refuse `name` as an interface name (its
/// dev_valid_name), or None. With `template`, one `%d` may stand for the
/// number the kernel fills in; a real device name never holds a `%`.
fn name_problem(name: &str, template: bool) -> Option<&'static str> {
    // isspace() of the kernel's ctype: space, \t, \n, \v, \f, \r.
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > MAX_NAME {
        return Some("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return Some("is not a valid interface name");
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == ':' || c == '\0' || space(c))
    {
        return Some(match c {
            '/' => "contains '/'",
            ':' => "contains ':'",
            '\0' => "contains a NUL byte",
            _ => "contains whitespace",
        });
    }
    match name.split_once('%') {
        None => None,
        Some(_) if !template => Some("contains '%'"),
        Some((_, rest)) if !rest.starts_with('d') || rest[1..].contains('%') => {
            Some("may hold '%' only as a single \"%d\" template")
        }
        Some(_) => None,
    }
}

/// The checks that need no syscalls: valid names, a network namespace to
/// move into, and no two devices given the same name.
///
/// As in runc 1.3, the container's network namespace may be new or joined
/// by path; that a joined one is not nook's own is checked by [`move_into`].
pub fn validate(spec: &Spec) -> Result<()> {
    let entries = entries(spec);
    if entries.is_empty() {
        return Ok(());
    }
    if !crate::namespaces::Plan::from_spec(spec).has(LinuxNamespaceType::Network) {
        bail!(
            "linux.netDevices is set but linux.namespaces has no network namespace \
             (devices can only be moved into the container's own)"
        );
    }
    let mut taken: HashMap<&str, &Entry> = HashMap::new();
    for e in &entries {
        if let Some(why) = name_problem(&e.host, false) {
            bail!("{}: host interface name {:?} {why}", e.field(), e.host);
        }
        if let Some(why) = name_problem(&e.target, true) {
            bail!("{}: {:?} {why}", e.name_field(), e.target);
        }
        if e.is_template() {
            continue;
        }
        if let Some(other) = taken.insert(&e.target, e) {
            bail!(
                "{}: {:?} is also the name {} gives its device in the container",
                e.name_field(),
                e.target,
                other.field()
            );
        }
    }
    Ok(())
}

/// True when `name` is what the kernel may make of `target`: the name
/// itself, or for a template, a decimal number in place of the `%d`.
fn fits(target: &str, name: &str) -> bool {
    let Some((pre, post)) = target.split_once("%d") else {
        return name == target;
    };
    name.strip_prefix(pre)
        .and_then(|rest| rest.strip_suffix(post))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------
// Moving the devices
// ---------------------------------------------------------------------------

/// The network namespace the devices go to. A namespace joined by path is
/// entered by init only after the parent is done here, so until then
/// `/proc/<pid>/ns/net` still shows nook's own: take the joined fd instead.
pub fn target_netns(pid: i32, joins: &[(LinuxNamespaceType, OwnedFd)]) -> Result<OwnedFd> {
    if let Some((_, fd)) = joins
        .iter()
        .find(|(t, _)| *t == LinuxNamespaceType::Network)
    {
        return fd
            .try_clone()
            .context("linux.netDevices: duplicate the joined network namespace fd");
    }
    let path = format!("/proc/{pid}/ns/net");
    let file = File::open(&path).with_context(|| format!("linux.netDevices: open {path}"))?;
    Ok(file.into())
}

/// One entry, looked up and checked, ready to move.
struct Prepared<'a> {
    entry: &'a Entry,
    /// The device as the host sees it before the move.
    link: Link,
    /// The addresses to give back after the move.
    addrs: Vec<Addr>,
}

/// Moves every `linux.netDevices` entry into `container_netns`, renamed as
/// asked, with its permanent global addresses kept, and brings it up.
/// Nothing moves unless every entry can; errors name the entry.
pub fn move_into(spec: &Spec, container_netns: BorrowedFd) -> Result<()> {
    let entries = entries(spec);
    if entries.is_empty() {
        return Ok(());
    }
    // The thread's own namespace: setns below changes only this thread.
    let home = File::open("/proc/thread-self/ns/net")
        .context("linux.netDevices: open nook's own network namespace")?;
    if same_namespace(home.as_fd(), container_netns)? {
        bail!(
            "linux.netDevices: the container's network namespace is nook's own \
             (the host's); devices can only be moved into another one"
        );
    }
    let mut host = Netlink::open()?;
    let mut ctr = Netlink::open_in(container_netns, home.as_fd())?;
    let mut ready = Vec::new();
    for e in &entries {
        ready.push(prepare(&mut host, &mut ctr, e)?);
    }
    // Each device with its name in the container, once it may be there.
    let mut moved: Vec<(&Prepared, String)> = Vec::new();
    for p in &ready {
        if let Err(err) = place(&mut host, &mut ctr, container_netns, p, &mut moved) {
            let failed = undo(&mut host, &mut ctr, home.as_fd(), &moved);
            if failed.is_empty() {
                return Err(err);
            }
            let note = format!("could not move back to the host: {}", failed.join("; "));
            return Err(err.context(note));
        }
    }
    Ok(())
}

/// True when both fds name the same namespace (same nsfs inode).
fn same_namespace(a: BorrowedFd, b: BorrowedFd) -> Result<bool> {
    let stat = |fd: BorrowedFd| {
        nix::sys::stat::fstat(fd.as_raw_fd()).context("linux.netDevices: fstat a namespace fd")
    };
    let (a, b) = (stat(a)?, stat(b)?);
    Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
}

/// Looks an entry up on the host and checks its name is free in the
/// container, so that a bad entry fails before any device has moved.
fn prepare<'a>(host: &mut Netlink, ctr: &mut Netlink, e: &'a Entry) -> Result<Prepared<'a>> {
    let lookup = || format!("{}: look up {:?} on the host", e.field(), e.host);
    let Some(link) = host.link_by_name(&e.host).with_context(lookup)? else {
        bail!(
            "{}: there is no network interface {:?} on the host",
            e.field(),
            e.host
        );
    };
    if !e.is_template() {
        let check = || {
            format!(
                "{}: look up {:?} in the container",
                e.name_field(),
                e.target
            )
        };
        if ctr.link_by_name(&e.target).with_context(check)?.is_some() {
            bail!(
                "{}: {:?} already exists in the container's network namespace",
                e.name_field(),
                e.target
            );
        }
    }
    let addrs = host
        .addresses(link.index)
        .with_context(|| format!("{}: read the addresses of {:?}", e.field(), e.host))?;
    Ok(Prepared {
        entry: e,
        link,
        addrs,
    })
}

/// Moves one device, finds it in the container, gives its addresses back
/// and brings it up. `moved` records it as soon as it may have left.
fn place<'a>(
    host: &mut Netlink,
    ctr: &mut Netlink,
    netns: BorrowedFd,
    p: &'a Prepared<'a>,
    moved: &mut Vec<(&'a Prepared<'a>, String)>,
) -> Result<()> {
    let e = p.entry;
    let names = |ctr: &mut Netlink| -> Result<Vec<Link>> {
        ctr.links()
            .with_context(|| format!("{}: list the container's links", e.field()))
    };
    let before: HashSet<String> = names(ctr)?.into_iter().map(|l| l.name).collect();
    if let Err(err) = host.move_link(p.link.index, netns, &e.target) {
        // A refused rename can still have moved the device, under its host
        // name; only then is that name in the container ours to move back.
        let gone = matches!(host.link_by_name(&e.host), Ok(None));
        if gone && !before.contains(&e.host) {
            moved.push((p, e.host.clone()));
        }
        return Err(move_error(e, err));
    }
    let mut fresh = names(ctr)?
        .into_iter()
        .filter(|l| !before.contains(&l.name) && fits(&e.target, &l.name));
    let (Some(link), None) = (fresh.next(), fresh.next()) else {
        bail!(
            "{}: {:?} was moved but cannot be told apart in the container",
            e.field(),
            e.host
        );
    };
    moved.push((p, link.name.clone()));
    for a in &p.addrs {
        ctr.add_address(link.index, a)
            .with_context(|| format!("{}: add address {a} to {:?}", e.field(), link.name))?;
    }
    ctr.set_up(link.index)
        .with_context(|| format!("{}: bring {:?} up", e.field(), link.name))
}

/// The message for a refused move, naming the field at fault.
fn move_error(e: &Entry, err: anyhow::Error) -> anyhow::Error {
    let msg = match errno_of(&err) {
        Some(Errno::EEXIST) => format!(
            "{}: {:?} already exists in the container's network namespace",
            e.name_field(),
            e.target
        ),
        Some(Errno::ENODEV) => format!(
            "{}: the network interface {:?} is gone from the host",
            e.field(),
            e.host
        ),
        Some(Errno::EINVAL) => format!(
            "{}: the kernel refused to move {:?} (lo, bridges and other \
             namespace-local devices cannot change namespace)",
            e.field(),
            e.host
        ),
        _ => format!(
            "{}: move {:?} into the container's network namespace",
            e.field(),
            e.host
        ),
    };
    err.context(msg)
}

/// Best effort after a failure: moves the devices already in the container
/// back to the host under their own names, with their addresses and up
/// state, so a failed create leaves the host as it was. Returns what failed.
fn undo(
    host: &mut Netlink,
    ctr: &mut Netlink,
    home: BorrowedFd,
    moved: &[(&Prepared, String)],
) -> Vec<String> {
    let mut failed = Vec::new();
    for (p, inside) in moved.iter().rev() {
        if let Err(err) = move_back(host, ctr, home, p, inside) {
            failed.push(format!("{:?} ({err:#})", p.entry.host));
        }
    }
    failed
}

/// Moves one device, called `inside` in the container, back to the host.
fn move_back(
    host: &mut Netlink,
    ctr: &mut Netlink,
    home: BorrowedFd,
    p: &Prepared,
    inside: &str,
) -> Result<()> {
    let Some(link) = ctr.link_by_name(inside)? else {
        return Ok(()); // the move never happened
    };
    ctr.move_link(link.index, home, &p.entry.host)?;
    let link = host
        .link_by_name(&p.entry.host)?
        .context("not found on the host after moving it back")?;
    for a in &p.addrs {
        host.add_address(link.index, a)?;
    }
    if p.link.flags & IFF_UP != 0 {
        host.set_up(link.index)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: serde_json::Value) -> Spec {
        let v = serde_json::json!({
            "ociVersion": "1.3.0",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
            "linux": linux
        });
        serde_json::from_value(v).expect("valid spec")
    }

    fn with_devices(devices: serde_json::Value) -> Spec {
        spec(serde_json::json!({
            "namespaces": [{"type": "mount"}, {"type": "network"}],
            "netDevices": devices
        }))
    }

    fn err(s: &Spec) -> String {
        format!("{:#}", validate(s).expect_err("validate must fail"))
    }

    #[test]
    fn accepts_renames_templates_and_plain_moves() {
        let s = with_devices(serde_json::json!({
            "eth1": {"name": "ctr0"}, "eth2": {}, "eth3": {"name": "net%d"}, "eth4": {"name": "net%d"}
        }));
        validate(&s).unwrap();
        assert!(wanted(&s));
        assert!(!wanted(&spec(serde_json::json!({"netDevices": {}}))));
    }

    #[test]
    fn joined_network_namespace_is_accepted() {
        let s = spec(serde_json::json!({
            "namespaces": [{"type": "mount"}, {"type": "network", "path": "/run/netns/x"}],
            "netDevices": {"eth1": {}}
        }));
        validate(&s).unwrap();
    }

    #[test]
    fn refuses_without_network_namespace() {
        let s = spec(serde_json::json!({
            "namespaces": [{"type": "mount"}],
            "netDevices": {"eth1": {}}
        }));
        assert!(err(&s).contains("no network namespace"), "{}", err(&s));
    }

    #[test]
    fn refuses_bad_names() {
        let long = "a".repeat(16);
        for (name, why) in [
            ("", "is empty"),
            (long.as_str(), "longer than 15"),
            (".", "not a valid"),
            ("..", "not a valid"),
            ("a/b", "'/'"),
            ("a b", "whitespace"),
            ("a\tb", "whitespace"),
            ("a:b", "':'"),
            ("a%s", "%d"),
            ("a%d%d", "%d"),
        ] {
            let e = err(&with_devices(serde_json::json!({"eth1": {"name": name}})));
            assert!(
                e.contains("linux.netDevices[\"eth1\"].name"),
                "{name:?}: {e}"
            );
            assert!(e.contains(why), "{name:?}: {e}");
        }
        let e = err(&with_devices(serde_json::json!({"a%d": {}})));
        assert!(e.contains("host interface name"), "{e}");
        let fifteen = "b".repeat(15);
        validate(&with_devices(
            serde_json::json!({"eth1": {"name": fifteen}}),
        ))
        .unwrap();
    }

    #[test]
    fn refuses_two_devices_with_one_name() {
        let e = err(&with_devices(
            serde_json::json!({"eth1": {"name": "eth2"}, "eth2": {}}),
        ));
        assert!(e.contains("\"eth2\" is also the name"), "{e}");
    }

    #[test]
    fn fixed_names_move_before_templates() {
        let s = with_devices(serde_json::json!({
            "a": {"name": "x%d"}, "c": {}, "b": {"name": "y"}
        }));
        let order: Vec<_> = entries(&s).into_iter().map(|e| e.host).collect();
        assert_eq!(order, ["b", "c", "a"]);
    }

    #[test]
    fn template_fits() {
        assert!(fits("eth%d", "eth0"));
        assert!(fits("eth%d", "eth12"));
        assert!(fits("%dx", "3x"));
        assert!(!fits("eth%d", "eth"));
        assert!(!fits("eth%d", "ethx"));
        assert!(!fits("eth%d", "veth0"));
        assert!(fits("ctr0", "ctr0"));
        assert!(!fits("ctr0", "ctr1"));
    }
}
