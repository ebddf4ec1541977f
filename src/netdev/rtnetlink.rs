//! The rtnetlink side of `linux.netDevices`: its numbers, the encoding and
//! decoding of messages, and the NETLINK_ROUTE socket that carries them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};

// ---------------------------------------------------------------------------
// rtnetlink: numbers, encoding and decoding (pure)
// ---------------------------------------------------------------------------

// From the uapi headers linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h
// and if.h, typed as they travel on the wire.
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
/// In an NLMSG_ERROR: the request was not echoed, only its header.
const NLM_F_CAPPED: u16 = 0x100;
/// In an NLMSG_ERROR: extended-ack attributes follow the echoed request.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
/// The address flags a user may set (nodad, homeaddress, managetempaddr,
/// noprefixroute, mcautojoin): carried over; the kernel's state flags not.
const IFA_F_SETTABLE: u32 = 0x02 | 0x10 | 0x100 | 0x200 | 0x400;
const RT_SCOPE_UNIVERSE: u8 = 0;
pub(super) const IFF_UP: u32 = 0x1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// sizeof(struct ifinfomsg) and sizeof(struct ifaddrmsg).
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
/// Attribute types carry two flag bits (nested, byte order) above the type.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Netlink lengths are padded to 4 bytes.
fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A NUL-terminated string attribute.
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// One request being encoded: nlmsghdr, a family header, attributes.
struct Request {
    buf: Vec<u8>,
}

impl Request {
    fn new(kind: u16, flags: u16) -> Request {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length: set by finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // sequence: set by finish
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port 0: the kernel
        Request { buf }
    }

    /// struct ifinfomsg: any family, the link's index, flags to change.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Request {
        self.buf.extend_from_slice(&[0, 0]); // family AF_UNSPEC, padding
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // device type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        self
    }

    /// struct ifaddrmsg.
    fn ifaddr(mut self, family: u8, prefix_len: u8, scope: u8, index: u32) -> Request {
        // The one-byte flags field is superseded by the IFA_FLAGS attribute.
        self.buf.extend_from_slice(&[family, prefix_len, 0, scope]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    /// A route attribute. Payloads here are names and addresses, far below
    /// the 64 KiB an attribute length can describe.
    fn attr(mut self, kind: u16, payload: &[u8]) -> Request {
        let len = (4 + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// A string attribute, which the kernel wants NUL-terminated.
    fn name(self, kind: u16, name: &str) -> Request {
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        self.attr(kind, &bytes)
    }

    /// The datagram to send, with its length and sequence number filled in.
    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// One message of a reply datagram.
#[derive(Debug, PartialEq, Eq)]
struct Message<'a> {
    kind: u16,
    flags: u16,
    seq: u32,
    payload: &'a [u8],
}

/// Splits a datagram into its netlink messages.
fn split(mut buf: &[u8]) -> Result<Vec<Message<'_>>> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_at(buf, 0).unwrap_or(0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            bail!("rtnetlink: malformed reply (message length {len})");
        }
        out.push(Message {
            kind: u16_at(buf, 4).unwrap_or(0),
            flags: u16_at(buf, 6).unwrap_or(0),
            seq: u32_at(buf, 8).unwrap_or(0),
            payload: &buf[NLMSG_HDRLEN..len],
        });
        buf = buf.get(align(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// The (type, payload) of route attributes laid end to end; a truncated
/// one ends the list.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(buf, 0)?);
        let kind = u16_at(buf, 2)? & NLA_TYPE_MASK;
        let payload = buf.get(4..len)?;
        buf = buf.get(align(len)..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

/// The errno (0 for an ack) and extended-ack text of an NLMSG_ERROR.
fn parse_error(m: &Message) -> Result<(i32, Option<String>)> {
    let code = i32_at(m.payload, 0).context("rtnetlink: short error message")?;
    let mut text = None;
    if m.flags & NLM_F_ACK_TLVS != 0 {
        // After the code: our request's header, and its body unless capped.
        let echoed = if m.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32_at(m.payload, 4).unwrap_or(0) as usize
        };
        let tlvs = m.payload.get(4 + align(echoed)..).unwrap_or(&[]);
        text = attrs(tlvs)
            .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)
            .map(|(_, v)| c_string(v));
    }
    Ok((code, text))
}

/// A request the kernel refused: its errno and, when given, its reason.
#[derive(Debug)]
struct Refused {
    errno: Errno,
    text: Option<String>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(t) => write!(f, "{} ({t})", self.errno),
            None => write!(f, "{}", self.errno),
        }
    }
}

impl std::error::Error for Refused {}

pub(super) fn errno_of(err: &anyhow::Error) -> Option<Errno> {
    err.chain()
        .find_map(|e| e.downcast_ref::<Refused>())
        .map(|r| r.errno)
}

/// What rtnetlink says about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Link {
    pub(super) index: i32,
    pub(super) name: String,
    pub(super) flags: u32,
}

fn parse_link(payload: &[u8]) -> Option<Link> {
    let index = i32_at(payload, 4)?;
    let flags = u32_at(payload, 8)?;
    let name = attrs(payload.get(IFINFOMSG_LEN..)?)
        .find(|(t, _)| *t == IFLA_IFNAME)
        .map(|(_, v)| c_string(v))?;
    Some(Link { index, name, flags })
}

/// An address to carry over: what RTM_NEWADDR needs to make it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Addr {
    family: u8,
    prefix_len: u8,
    /// IFA_F_* flags, from IFA_FLAGS when present (it holds all 32 bits).
    flags: u32,
    local: Option<Vec<u8>>,
    address: Option<Vec<u8>>,
    broadcast: Option<Vec<u8>>,
}

/// An RTM_NEWADDR message as (interface index, scope, address).
fn parse_addr(payload: &[u8]) -> Option<(u32, u8, Addr)> {
    let head = payload.get(..IFADDRMSG_LEN)?;
    let mut addr = Addr {
        family: head[0],
        prefix_len: head[1],
        flags: u32::from(head[2]),
        local: None,
        address: None,
        broadcast: None,
    };
    for (kind, value) in attrs(&payload[IFADDRMSG_LEN..]) {
        match kind {
            IFA_LOCAL => addr.local = Some(value.to_vec()),
            IFA_ADDRESS => addr.address = Some(value.to_vec()),
            IFA_BROADCAST => addr.broadcast = Some(value.to_vec()),
            IFA_FLAGS => addr.flags = u32_at(value, 0).unwrap_or(addr.flags),
            _ => {}
        }
    }
    Some((u32_at(head, 4)?, head[3], addr))
}

/// The spec keeps permanent addresses of global scope; temporary ones and
/// link- or host-scoped ones are the kernel's or a daemon's to remake.
fn keep(scope: u8, addr: &Addr) -> bool {
    scope == RT_SCOPE_UNIVERSE && addr.flags & IFA_F_PERMANENT != 0
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.local.as_ref().or(self.address.as_ref());
        let ip = match (self.family, raw) {
            (AF_INET, Some(b)) => {
                <[u8; 4]>::try_from(b.as_slice()).map(|a| Ipv4Addr::from(a).to_string())
            }
            (AF_INET6, Some(b)) => {
                <[u8; 16]>::try_from(b.as_slice()).map(|a| Ipv6Addr::from(a).to_string())
            }
            _ => Ok(format!("(family {})", self.family)),
        };
        write!(
            f,
            "{}/{}",
            ip.unwrap_or_else(|_| "?".into()),
            self.prefix_len
        )
    }
}

/// The RTM_NEWADDR that makes `addr` again on link `index`.
fn new_addr_request(index: i32, addr: &Addr) -> Request {
    let mut req = Request::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL).ifaddr(
        addr.family,
        addr.prefix_len,
        RT_SCOPE_UNIVERSE,
        index as u32,
    );
    for (kind, value) in [
        (IFA_LOCAL, &addr.local),
        (IFA_ADDRESS, &addr.address),
        (IFA_BROADCAST, &addr.broadcast),
    ] {
        if let Some(v) = value {
            req = req.attr(kind, v);
        }
    }
    req.attr(IFA_FLAGS, &(addr.flags & IFA_F_SETTABLE).to_ne_bytes())
}

// ---------------------------------------------------------------------------
// rtnetlink: the socket
// ---------------------------------------------------------------------------

/// Room for one reply datagram: the kernel keeps dump datagrams within
/// 32 KiB, whatever the reader's buffer.
const RECV_BUF: usize = 64 * 1024;

/// A NETLINK_ROUTE socket. It speaks to the network namespace it was
/// created in for its whole life, whichever the thread is in later.
pub(super) struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    pub(super) fn open() -> Result<Netlink> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .context("linux.netDevices: socket(AF_NETLINK, NETLINK_ROUTE)")?;
        // Ask for the kernel's reason in errors, and for errors that do not
        // echo our whole request. Older kernels lack these: then errno only.
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let on: libc::c_int = 1;
            // SAFETY: a valid socket, and a pointer to a c_int that lives
            // across the call, with its size.
            let _ = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_NETLINK,
                    opt,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        Ok(Netlink { fd, seq: 0 })
    }

    /// A socket in `netns`: this thread enters it only to create the
    /// socket, then returns to `home` at once.
    pub(super) fn open_in(netns: BorrowedFd, home: BorrowedFd) -> Result<Netlink> {
        nix::sched::setns(netns, CloneFlags::CLONE_NEWNET)
            .context("linux.netDevices: enter the container's network namespace")?;
        let sock = Netlink::open();
        nix::sched::setns(home, CloneFlags::CLONE_NEWNET)
            .context("linux.netDevices: return to nook's own network namespace")?;
        sock
    }

    /// Sends one request and collects the payloads of its replies, up to
    /// the ack (every request asks for one) or the end of a dump.
    fn transact(&mut self, req: Request) -> Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = req.finish(seq);
        socket::send(self.fd.as_raw_fd(), &msg, MsgFlags::empty()).context("rtnetlink: send")?;
        let mut buf = vec![0u8; RECV_BUF];
        let mut out = Vec::new();
        loop {
            let n = match socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_TRUNC) {
                Err(Errno::EINTR) => continue,
                r => r.context("rtnetlink: receive")?,
            };
            if n > buf.len() {
                bail!("rtnetlink: a reply of {n} bytes did not fit");
            }
            for m in split(&buf[..n])? {
                if m.seq != seq {
                    continue; // not ours: a late answer to an earlier request
                }
                let (code, text) = match m.kind {
                    NLMSG_ERROR => parse_error(&m)?,
                    // The end of a dump: its payload is the dump's errno.
                    NLMSG_DONE => (i32_at(m.payload, 0).unwrap_or(0), None),
                    _ => {
                        out.push(m.payload.to_vec());
                        continue;
                    }
                };
                if code == 0 {
                    return Ok(out);
                }
                let errno = Errno::from_raw(code.saturating_neg());
                return Err(Refused { errno, text }.into());
            }
        }
    }

    /// The link called `name`, or None when there is none.
    pub(super) fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        let req = Request::new(RTM_GETLINK, 0)
            .ifinfo(0, 0, 0)
            .name(IFLA_IFNAME, name);
        match self.transact(req) {
            Ok(replies) => Ok(replies.iter().find_map(|p| parse_link(p))),
            Err(e) if errno_of(&e) == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link of the namespace.
    pub(super) fn links(&mut self) -> Result<Vec<Link>> {
        let req = Request::new(RTM_GETLINK, NLM_F_DUMP).ifinfo(0, 0, 0);
        Ok(self
            .transact(req)?
            .iter()
            .filter_map(|p| parse_link(p))
            .collect())
    }

    /// The addresses of link `index` that the move must keep.
    pub(super) fn addresses(&mut self, index: i32) -> Result<Vec<Addr>> {
        // Without strict checking the kernel dumps every link's addresses.
        let req = Request::new(RTM_GETADDR, NLM_F_DUMP).ifaddr(0, 0, 0, 0);
        Ok(self
            .transact(req)?
            .iter()
            .filter_map(|p| parse_addr(p))
            .filter(|(i, scope, a)| *i == index as u32 && keep(*scope, a))
            .map(|(_, _, a)| a)
            .collect())
    }

    /// Moves link `index` into `netns` and names it `name` there, in one
    /// request (a `%d` in `name` lets the kernel pick the number).
    pub(super) fn move_link(&mut self, index: i32, netns: BorrowedFd, name: &str) -> Result<()> {
        let fd = netns.as_raw_fd() as u32;
        let req = Request::new(RTM_NEWLINK, 0)
            .ifinfo(index, 0, 0)
            .attr(IFLA_NET_NS_FD, &fd.to_ne_bytes())
            .name(IFLA_IFNAME, name);
        self.transact(req).map(drop)
    }

    pub(super) fn add_address(&mut self, index: i32, addr: &Addr) -> Result<()> {
        self.transact(new_addr_request(index, addr)).map(drop)
    }

    pub(super) fn set_up(&mut self, index: i32) -> Result<()> {
        let req = Request::new(RTM_NEWLINK, 0).ifinfo(index, IFF_UP, IFF_UP);
        self.transact(req).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_move_request() {
        let msg = Request::new(RTM_NEWLINK, 0)
            .ifinfo(7, 0, 0)
            .attr(IFLA_NET_NS_FD, &5u32.to_ne_bytes())
            .name(IFLA_IFNAME, "ctr0")
            .finish(9);
        // header 16 + ifinfomsg 16 + fd attr 8 + name attr (4 + 5, padded) 12
        assert_eq!(msg.len(), 52);
        assert_eq!(u32_at(&msg, 0), Some(52));
        assert_eq!(u16_at(&msg, 4), Some(RTM_NEWLINK));
        assert_eq!(u16_at(&msg, 6), Some(NLM_F_REQUEST | NLM_F_ACK));
        assert_eq!(u32_at(&msg, 8), Some(9));
        assert_eq!(i32_at(&msg, 20), Some(7));
        let a: Vec<_> = attrs(&msg[32..]).collect();
        assert_eq!(a[0], (IFLA_NET_NS_FD, &5u32.to_ne_bytes()[..]));
        assert_eq!(a[1], (IFLA_IFNAME, &b"ctr0\0"[..]));
        assert_eq!(&msg[49..52], &[0, 0, 0], "padding is zeroed");
    }

    #[test]
    fn encodes_address_request() {
        let addr = Addr {
            family: AF_INET,
            prefix_len: 24,
            flags: IFA_F_PERMANENT | 0x02,
            local: Some(vec![10, 254, 1, 1]),
            address: Some(vec![10, 254, 1, 1]),
            broadcast: None,
        };
        assert_eq!(addr.to_string(), "10.254.1.1/24");
        let msg = new_addr_request(3, &addr).finish(1);
        assert_eq!(u16_at(&msg, 4), Some(RTM_NEWADDR));
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        assert_eq!(u16_at(&msg, 6), Some(flags));
        assert_eq!(&msg[16..20], &[AF_INET, 24, 0, RT_SCOPE_UNIVERSE]);
        assert_eq!(u32_at(&msg, 20), Some(3));
        let a: Vec<_> = attrs(&msg[24..]).collect();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0], (IFA_LOCAL, &[10u8, 254, 1, 1][..]));
        // Only the settable flag survives; the kernel sets PERMANENT itself.
        assert_eq!(a[2], (IFA_FLAGS, &0x02u32.to_ne_bytes()[..]));
    }

    /// An RTM_NEWADDR payload as the kernel sends it in a dump.
    fn addr_payload(index: u32, scope: u8, flags: u32, ip: [u8; 4]) -> Vec<u8> {
        let mut p = vec![AF_INET, 24, flags as u8, scope];
        p.extend_from_slice(&index.to_ne_bytes());
        for (kind, v) in [
            (IFA_ADDRESS, &ip[..]),
            (IFA_LOCAL, &ip[..]),
            (IFA_FLAGS, &flags.to_ne_bytes()[..]),
        ] {
            p.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            p.extend_from_slice(&kind.to_ne_bytes());
            p.extend_from_slice(v);
        }
        p
    }

    #[test]
    fn parses_and_filters_addresses() {
        let (index, scope, a) =
            parse_addr(&addr_payload(4, 0, IFA_F_PERMANENT, [10, 0, 0, 1])).unwrap();
        assert_eq!((index, scope), (4, 0));
        assert_eq!(a.local.as_deref(), Some(&[10u8, 0, 0, 1][..]));
        assert!(keep(scope, &a));
        let (_, scope, a) =
            parse_addr(&addr_payload(4, 253, IFA_F_PERMANENT, [127, 0, 0, 9])).unwrap();
        assert!(!keep(scope, &a), "host scope is not kept");
        let (_, scope, a) = parse_addr(&addr_payload(4, 0, 0, [10, 0, 0, 2])).unwrap();
        assert!(!keep(scope, &a), "a dynamic address is not kept");
        assert!(parse_addr(&[2, 24, 0]).is_none());
    }

    /// A whole netlink message around `payload`.
    fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(align(m.len()), 0);
        m
    }

    #[test]
    fn parses_links_and_splits_datagrams() {
        let link = Request::new(RTM_NEWLINK, 0)
            .ifinfo(6, IFF_UP, 0)
            .name(IFLA_IFNAME, "ctr0")
            .finish(0);
        let mut datagram = message(RTM_NEWLINK, 2, 5, &link[NLMSG_HDRLEN..]);
        datagram.extend(message(NLMSG_DONE, 2, 5, &0i32.to_ne_bytes()));
        let msgs = split(&datagram).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].kind, msgs[0].seq), (RTM_NEWLINK, 5));
        let l = parse_link(msgs[0].payload).unwrap();
        assert_eq!(
            l,
            Link {
                index: 6,
                name: "ctr0".into(),
                flags: IFF_UP
            }
        );
        assert_eq!(parse_error(&msgs[1]).unwrap(), (0, None));
        let mut bad = datagram.clone();
        bad[0] = 200;
        assert!(split(&bad).is_err());
    }

    #[test]
    fn parses_errors_with_extended_ack() {
        let mut p = (-libc::EEXIST).to_ne_bytes().to_vec();
        p.extend(message(RTM_NEWLINK, 5, 1, &[])); // the capped echo
        let text = b"name taken\0";
        p.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        p.extend_from_slice(text);
        let m = Message {
            kind: NLMSG_ERROR,
            flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
            seq: 1,
            payload: &p,
        };
        let (code, text) = parse_error(&m).unwrap();
        assert_eq!(code, -libc::EEXIST);
        assert_eq!(text.as_deref(), Some("name taken"));
        let e: anyhow::Error = Refused {
            errno: Errno::EEXIST,
            text,
        }
        .into();
        assert_eq!(errno_of(&e.context("outer")), Some(Errno::EEXIST));
    }
}
