//! A small D-Bus client: just what the systemd cgroup driver needs.
//!
//! It connects to the system bus socket, authenticates with SASL EXTERNAL
//! (the kernel vouches for our uid), says Hello, and then sends method calls
//! and reads replies and signals. Messages are little-endian D-Bus 1 wire
//! format (dbus-specification "Message Protocol"); values are a small enum
//! that covers the types systemd's transient-unit API uses.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Where the system bus listens unless DBUS_SYSTEM_BUS_ADDRESS says otherwise.
pub const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

/// A D-Bus value. Arrays carry their element signature, so that an empty
/// array still has a type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    U32(u32),
    U64(u64),
    Str(String),
    Path(String),
    Sig(String),
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    /// The value's D-Bus type signature.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::U32(_) => "u".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(fields) => {
                let inner: String = fields.iter().map(Value::signature).collect();
                format!("({inner})")
            }
            Value::Variant(_) => "v".into(),
        }
    }

    /// The text of a string, object path or signature.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }
}

/// Alignment of a type by its first signature character.
fn alignment(sig: u8) -> usize {
    match sig {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b't' | b'x' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

fn pad(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

/// Appends `v` to `buf`; offsets are relative to the message start, which
/// is where alignment is counted from.
pub fn encode(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Byte(b) => buf.push(*b),
        Value::Bool(b) => encode(buf, &Value::U32(u32::from(*b))),
        Value::U32(n) => {
            pad(buf, 4);
            buf.extend_from_slice(&n.to_le_bytes());
        }
        Value::U64(n) => {
            pad(buf, 8);
            buf.extend_from_slice(&n.to_le_bytes());
        }
        Value::Str(s) | Value::Path(s) => {
            encode(buf, &Value::U32(s.len() as u32));
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Sig(s) => {
            buf.push(s.len() as u8);
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Array(elem, items) => {
            pad(buf, 4);
            let len_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            // The length counts from the first element, after its padding.
            pad(buf, alignment(elem.as_bytes()[0]));
            let start = buf.len();
            for i in items {
                encode(buf, i);
            }
            let len = (buf.len() - start) as u32;
            buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
        Value::Struct(fields) => {
            pad(buf, 8);
            for f in fields {
                encode(buf, f);
            }
        }
        Value::Variant(inner) => {
            encode(buf, &Value::Sig(inner.signature()));
            encode(buf, inner);
        }
    }
}

/// Reads values out of a message buffer by signature.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Decoder<'a> {
        Decoder { buf, pos }
    }

    fn align(&mut self, a: usize) {
        self.pos = self.pos.div_ceil(a) * a;
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| anyhow!("D-Bus message is truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        self.align(4);
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn text(&mut self, len: usize) -> Result<String> {
        let s = self.take(len + 1)?;
        String::from_utf8(s[..len].to_vec()).context("D-Bus string is not UTF-8")
    }

    /// Decodes every complete type in `sig`, in order.
    pub fn values(&mut self, sig: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut rest = sig;
        while !rest.is_empty() {
            let (one, tail) = split_type(rest)?;
            out.push(self.value(one)?);
            rest = tail;
        }
        Ok(out)
    }

    /// Decodes one value of the single complete type `sig`.
    pub fn value(&mut self, sig: &str) -> Result<Value> {
        let c = sig.as_bytes()[0];
        Ok(match c {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'u' | b'i' => Value::U32(self.u32()?),
            b't' | b'x' => {
                self.align(8);
                let b = self.take(8)?;
                Value::U64(u64::from_le_bytes(b.try_into()?))
            }
            b'n' | b'q' => {
                self.align(2);
                let b = self.take(2)?;
                Value::U32(u32::from(u16::from_le_bytes([b[0], b[1]])))
            }
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let s = self.text(len)?;
                if c == b's' {
                    Value::Str(s)
                } else {
                    Value::Path(s)
                }
            }
            b'g' => {
                let len = self.take(1)?[0] as usize;
                Value::Sig(self.text(len)?)
            }
            b'v' => {
                let len = self.take(1)?[0] as usize;
                let inner = self.text(len)?;
                split_type(&inner)?;
                Value::Variant(Box::new(self.value(&inner)?))
            }
            b'a' => self.array(&sig[1..])?,
            b'(' | b'{' => {
                self.align(8);
                Value::Struct(self.values(&sig[1..sig.len() - 1])?)
            }
            other => bail!("D-Bus type {:?} is not supported", other as char),
        })
    }

    fn array(&mut self, elem: &str) -> Result<Value> {
        let len = self.u32()? as usize;
        self.align(alignment(elem.as_bytes()[0]));
        let end = self.pos + len;
        if end > self.buf.len() {
            bail!("D-Bus array runs past the message");
        }
        let mut items = Vec::new();
        while self.pos < end {
            items.push(self.value(elem)?);
        }
        Ok(Value::Array(elem.to_string(), items))
    }
}

/// Splits the first complete type off a signature.
fn split_type(sig: &str) -> Result<(&str, &str)> {
    let b = sig.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'a' {
        i += 1;
    }
    let Some(&c) = b.get(i) else {
        bail!("bad D-Bus signature {sig:?}");
    };
    let end = if c == b'(' || c == b'{' {
        let mut depth = 0;
        let mut j = i;
        loop {
            match b.get(j) {
                Some(b'(' | b'{') => depth += 1,
                Some(b')' | b'}') => depth -= 1,
                Some(_) => {}
                None => bail!("bad D-Bus signature {sig:?}"),
            }
            j += 1;
            if depth == 0 {
                break j;
            }
        }
    } else {
        i + 1
    };
    Ok(sig.split_at(end))
}

/// The message types of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Call = 1,
    Return = 2,
    Error = 3,
    Signal = 4,
}

/// A received message: the header fields nook looks at, and the body.
#[derive(Debug, Clone)]
pub struct Message {
    pub kind: Kind,
    pub reply_serial: Option<u32>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub body: Vec<Value>,
}

/// A method call: destination, object, interface, member, arguments.
pub struct Call<'a> {
    pub dest: &'a str,
    pub path: &'a str,
    pub iface: &'a str,
    pub member: &'a str,
    pub args: Vec<Value>,
}

/// Encodes a method call with serial `serial`.
pub fn encode_call(call: &Call, serial: u32) -> Vec<u8> {
    let mut body = Vec::new();
    for a in &call.args {
        encode(&mut body, a);
    }
    let sig: String = call.args.iter().map(Value::signature).collect();
    let field =
        |code: u8, v: Value| Value::Struct(vec![Value::Byte(code), Value::Variant(v.into())]);
    let mut fields = vec![
        field(1, Value::Path(call.path.into())),
        field(2, Value::Str(call.iface.into())),
        field(3, Value::Str(call.member.into())),
        field(6, Value::Str(call.dest.into())),
    ];
    if !sig.is_empty() {
        fields.push(field(8, Value::Sig(sig)));
    }
    let mut msg = vec![b'l', Kind::Call as u8, 0, 1];
    msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
    msg.extend_from_slice(&serial.to_le_bytes());
    encode(&mut msg, &Value::Array("(yv)".into(), fields));
    pad(&mut msg, 8);
    msg.extend_from_slice(&body);
    msg
}

/// Decodes one whole message (header and body).
pub fn decode_message(msg: &[u8]) -> Result<Message> {
    if msg.len() < 16 || msg[0] != b'l' {
        bail!("D-Bus message is not little-endian or too short");
    }
    let kind = match msg[1] {
        1 => Kind::Call,
        2 => Kind::Return,
        3 => Kind::Error,
        4 => Kind::Signal,
        t => bail!("unknown D-Bus message type {t}"),
    };
    let mut d = Decoder::new(msg, 12);
    let Value::Array(_, fields) = d.value("a(yv)")? else {
        unreachable!("an array signature decodes to an array")
    };
    let mut m = Message {
        kind,
        reply_serial: None,
        member: None,
        error_name: None,
        body: Vec::new(),
    };
    let mut sig = String::new();
    for f in fields {
        let Value::Struct(f) = f else { continue };
        let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (f.first(), f.get(1)) else {
            continue;
        };
        match (code, v.as_ref()) {
            (3, v) => m.member = v.as_str().map(String::from),
            (4, v) => m.error_name = v.as_str().map(String::from),
            (5, Value::U32(n)) => m.reply_serial = Some(*n),
            (8, v) => sig = v.as_str().unwrap_or_default().to_string(),
            _ => {}
        }
    }
    d.align(8);
    m.body = d.values(&sig)?;
    Ok(m)
}

/// The byte length of the message whose first 16 bytes are `head`.
fn message_len(head: &[u8; 16]) -> usize {
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let fields = word(12) as usize;
    let header = (16 + fields).div_ceil(8) * 8;
    header + word(4) as usize
}

/// A connection to the bus.
pub struct Connection {
    sock: UnixStream,
    serial: u32,
    /// Messages read while waiting for something else (signals, mostly).
    pending: Vec<Message>,
}

impl Connection {
    /// Connects to the system bus and authenticates as our uid.
    pub fn system() -> Result<Connection> {
        let path = system_bus_path();
        let sock = UnixStream::connect(&path)
            .with_context(|| format!("connect to the D-Bus system bus at {path}"))?;
        let mut c = Connection {
            sock,
            serial: 0,
            pending: Vec::new(),
        };
        c.auth().context("authenticate to the D-Bus system bus")?;
        c.call(&Call {
            dest: "org.freedesktop.DBus",
            path: "/org/freedesktop/DBus",
            iface: "org.freedesktop.DBus",
            member: "Hello",
            args: vec![],
        })
        .context("D-Bus Hello")?;
        Ok(c)
    }

    fn auth(&mut self) -> Result<()> {
        let uid = nix::unistd::getuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.sock
            .set_read_timeout(Some(Duration::from_secs(30)))
            .context("set a read timeout")?;
        self.sock.write_all(b"\0")?;
        self.sock
            .write_all(format!("AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        let line = self.read_line()?;
        if !line.starts_with("OK ") {
            bail!("the bus refused EXTERNAL authentication: {}", line.trim());
        }
        self.sock.write_all(b"BEGIN\r\n")?;
        Ok(())
    }

    /// One CRLF-terminated line, byte by byte: nothing after it may be read
    /// ahead, as the binary protocol follows.
    fn read_line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if self.sock.read(&mut b)? == 0 {
                bail!("the bus closed the connection");
            }
            line.push(b[0]);
            if line.len() > 4096 {
                bail!("the bus sent an overlong line");
            }
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    fn read_message(&mut self, deadline: Instant) -> Result<Message> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("timed out waiting for the D-Bus peer");
        }
        self.sock.set_read_timeout(Some(left))?;
        let mut head = [0u8; 16];
        self.sock
            .read_exact(&mut head)
            .context("read from the D-Bus system bus")?;
        let mut msg = head.to_vec();
        msg.resize(message_len(&head), 0);
        self.sock
            .read_exact(&mut msg[16..])
            .context("read from the D-Bus system bus")?;
        decode_message(&msg)
    }

    /// Calls a method and returns the reply's body; a D-Bus error becomes
    /// an error whose text starts with the error name.
    pub fn call(&mut self, call: &Call) -> Result<Vec<Value>> {
        self.serial += 1;
        let serial = self.serial;
        self.sock
            .write_all(&encode_call(call, serial))
            .context("write to the D-Bus system bus")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = self.read_message(deadline)?;
            if m.reply_serial != Some(serial) {
                if m.kind == Kind::Signal {
                    self.pending.push(m);
                }
                continue;
            }
            if m.kind == Kind::Error {
                let text = m.body.first().and_then(Value::as_str).unwrap_or_default();
                bail!(
                    "{}: {text}",
                    m.error_name.as_deref().unwrap_or("D-Bus error")
                );
            }
            return Ok(m.body);
        }
    }

    /// Waits for a signal named `member` whose body `pick` accepts, and
    /// returns what `pick` made of it.
    pub fn wait_signal<T>(
        &mut self,
        member: &str,
        timeout: Duration,
        pick: impl Fn(&[Value]) -> Option<T>,
    ) -> Result<T> {
        let seen = std::mem::take(&mut self.pending);
        for m in seen {
            if m.member.as_deref() == Some(member)
                && let Some(t) = pick(&m.body)
            {
                return Ok(t);
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            let m = self
                .read_message(deadline)
                .with_context(|| format!("wait for the {member} signal"))?;
            if m.kind == Kind::Signal
                && m.member.as_deref() == Some(member)
                && let Some(t) = pick(&m.body)
            {
                return Ok(t);
            }
        }
    }
}

/// The system bus socket path: DBUS_SYSTEM_BUS_ADDRESS's unix:path=, else
/// the standard one.
fn system_bus_path() -> String {
    bus_path(std::env::var("DBUS_SYSTEM_BUS_ADDRESS").ok().as_deref())
}

/// The unix socket path of a D-Bus address list (only `unix:path=` kinds).
fn bus_path(address: Option<&str>) -> String {
    address
        .and_then(|a| {
            a.split(';')
                .filter_map(|one| one.strip_prefix("unix:"))
                .flat_map(|kv| kv.split(','))
                .find_map(|kv| kv.strip_prefix("path=").map(String::from))
        })
        .unwrap_or_else(|| SYSTEM_BUS.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_with_alignment() {
        let mut b = vec![1u8];
        encode(&mut b, &Value::U64(2));
        assert_eq!(b, [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
        let mut b = Vec::new();
        encode(&mut b, &Value::Str("ab".into()));
        assert_eq!(b, [2, 0, 0, 0, b'a', b'b', 0]);
        // An array of structs: the length excludes the padding before the
        // first element (here 4 bytes, to reach 8).
        let mut b = Vec::new();
        let a = Value::Array("(y)".into(), vec![Value::Struct(vec![Value::Byte(7)])]);
        encode(&mut b, &a);
        assert_eq!(b, [1, 0, 0, 0, 0, 0, 0, 0, 7]);
        let mut b = Vec::new();
        encode(&mut b, &Value::Variant(Box::new(Value::Bool(true))));
        assert_eq!(b, [1, b'b', 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn signatures() {
        let props = Value::Array(
            "(sv)".into(),
            vec![Value::Struct(vec![
                Value::Str("PIDs".into()),
                Value::Variant(Box::new(Value::Array("u".into(), vec![Value::U32(1)]))),
            ])],
        );
        assert_eq!(props.signature(), "a(sv)");
        assert_eq!(split_type("a(sv)s").unwrap(), ("a(sv)", "s"));
        assert_eq!(split_type("a(sa(sv))").unwrap(), ("a(sa(sv))", ""));
        assert!(split_type("a(s").is_err());
    }

    #[test]
    fn round_trip_through_a_call() {
        let args = vec![
            Value::Str("nook-x.scope".into()),
            Value::Str("fail".into()),
            Value::Array(
                "(sv)".into(),
                vec![
                    Value::Struct(vec![
                        Value::Str("MemoryMax".into()),
                        Value::Variant(Box::new(Value::U64(1 << 26))),
                    ]),
                    Value::Struct(vec![
                        Value::Str("AllowedCPUs".into()),
                        Value::Variant(Box::new(Value::Array("y".into(), vec![Value::Byte(3)]))),
                    ]),
                ],
            ),
            Value::Array("(sa(sv))".into(), vec![]),
        ];
        let call = Call {
            dest: "org.freedesktop.systemd1",
            path: "/org/freedesktop/systemd1",
            iface: "org.freedesktop.systemd1.Manager",
            member: "StartTransientUnit",
            args: args.clone(),
        };
        let bytes = encode_call(&call, 9);
        let head: [u8; 16] = bytes[..16].try_into().unwrap();
        assert_eq!(message_len(&head), bytes.len());
        let m = decode_message(&bytes).unwrap();
        assert_eq!(m.kind, Kind::Call);
        assert_eq!(&bytes[8..12], &9u32.to_le_bytes());
        assert_eq!(m.member.as_deref(), Some("StartTransientUnit"));
        assert_eq!(m.body, args);
    }

    #[test]
    fn bus_address() {
        assert_eq!(bus_path(None), SYSTEM_BUS);
        assert_eq!(
            bus_path(Some("tcp:host=x;unix:guid=1,path=/run/b.sock")),
            "/run/b.sock"
        );
        assert_eq!(bus_path(Some("unix:abstract=x")), SYSTEM_BUS);
    }
}
