//! The client side of one scenario, played against a real broker over a loopback TCP
//! connection, exactly as README.md "How one scenario runs" says.
//!
//! One relaxation of the README's byte-exact `recv`, the one the README itself prescribes: a
//! successful CONNACK (reason 0) is compared by packet type, Session Present and reason code
//! only, because the 5.0 properties of a default CONNACK are each broker's own policy
//! (mosquitto's says Topic Alias Maximum 10, Maximum Packet Size 2,000,000, Receive Maximum
//! 20; ours says what `BrokerBuilder` configures). Every use is counted in [`Run::relaxed`].
//! A refusing CONNACK is compared byte for byte.
//!
//! Time: nothing here waits for time to pass. Every read waits for bytes or the end of the
//! connection, which a broker that follows the scenario always produces; a read also gives up
//! after [`HANG`] of real time, so that a broker that neither answers nor closes (a hang, the
//! very fault some vectors probe) fails the scenario instead of stopping the run. That limit
//! only ever turns a hang into a failure; no passing scenario depends on it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::scenario::{Msg, Scenario};

/// How long a read waits before the broker is declared hung (see the module documentation).
/// `VECTORS_HANG_MS` overrides it.
pub(crate) static HANG: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_millis(
        std::env::var("VECTORS_HANG_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    )
});

/// What happened in one scenario.
#[derive(Debug)]
pub(crate) struct Run {
    /// The first step that did not go as the scenario says, if any.
    pub(crate) failure: Option<Failure>,
    /// Relaxed comparisons the scenario needed to pass (see the module documentation).
    pub(crate) relaxed: Vec<&'static str>,
}

/// A step that went otherwise than the scenario says.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Which step (`connect`, `msg 2 (recv)`, `end`...).
    pub(crate) step: String,
    pub(crate) kind: FailKind,
}

/// What a read of one packet gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    /// One whole packet: fixed header, remaining length and body, as sent.
    Packet(Vec<u8>),
    /// The broker closed the connection (end of stream or reset).
    Closed,
    /// Neither a packet nor the end of the connection within [`HANG`].
    Hung,
}

#[derive(Debug)]
pub(crate) enum FailKind {
    /// The default CONNECT did not get a successful CONNACK.
    Connack(Read),
    /// A `recv` step: the broker sent something else, or nothing.
    Recv { expected: Vec<u8>, got: Read },
    /// A helper connection for `external_publish` did not complete its flow.
    Helper(String),
    /// `expect_disconnect` true, but the connection is still open (`got` is what came
    /// instead of the end of the stream).
    StillOpen(Read),
    /// `expect_disconnect` false, but the PINGREQ did not get a PINGRESP next.
    NotAlive(Read),
}

impl std::fmt::Display for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Read::Packet(p) => write!(f, "{}", hex(p)),
            Read::Closed => f.write_str("the connection closed"),
            Read::Hung => f.write_str("nothing (hung)"),
        }
    }
}

impl std::fmt::Display for FailKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailKind::Connack(got) => write!(f, "expected a successful CONNACK, got {got}"),
            FailKind::Recv { expected, got } => {
                write!(f, "expected {}, got {got}", hex(expected))
            }
            FailKind::Helper(e) => write!(f, "the helper's publish failed: {e}"),
            FailKind::StillOpen(got) => {
                write!(f, "expected the connection to close, got {got}")
            }
            FailKind::NotAlive(got) => write!(f, "PINGREQ expected PINGRESP, got {got}"),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

const PINGREQ: [u8; 2] = [0xC0, 0x00];
const PINGRESP: [u8; 2] = [0xD0, 0x00];

/// Run one scenario against the broker at `addr` on a fresh connection.
pub(crate) async fn run(addr: SocketAddr, sc: &Scenario) -> Run {
    let mut relaxed = Vec::new();
    let failure = play(addr, sc, &mut relaxed).await.err();
    Run { failure, relaxed }
}

async fn play(
    addr: SocketAddr,
    sc: &Scenario,
    relaxed: &mut Vec<&'static str>,
) -> Result<(), Failure> {
    let mut conn = Conn::open(addr).await;
    if sc.connect {
        conn.send(&default_connect(sc.ver, &sc.full_name())).await;
        let got = conn.read().await;
        match &got {
            Read::Packet(p) if p.first() == Some(&0x20) && p.get(3) == Some(&0) => {
                relaxed.push("successful CONNACK compared by reason code");
            }
            _ => {
                return Err(Failure {
                    step: "connect".into(),
                    kind: FailKind::Connack(got),
                });
            }
        }
    }
    for (i, m) in sc.msgs.iter().enumerate() {
        match m {
            Msg::Send(bytes) => conn.send(bytes).await,
            Msg::Recv(expected) => {
                let got = conn.read().await;
                let ok = match &got {
                    Read::Packet(p) if p == expected => true,
                    Read::Packet(p) if successful_connack(expected) && successful_connack(p) => {
                        relaxed.push("successful CONNACK compared by reason code");
                        // Session Present must agree.
                        p.get(2) == expected.get(2)
                    }
                    _ => false,
                };
                if !ok {
                    return Err(Failure {
                        step: format!("msg {i} (recv)"),
                        kind: FailKind::Recv {
                            expected: expected.clone(),
                            got,
                        },
                    });
                }
            }
            Msg::ExternalPublish {
                topic,
                payload,
                qos,
                retain,
            } => {
                if let Err(e) = external_publish(addr, topic, payload, *qos, *retain).await {
                    return Err(Failure {
                        step: format!("msg {i} (external_publish)"),
                        kind: FailKind::Helper(e),
                    });
                }
            }
        }
    }
    // The end check.
    conn.send(&PINGREQ).await;
    let got = conn.read().await;
    let kind = if sc.expect_disconnect {
        match got {
            Read::Closed => return Ok(()),
            other => FailKind::StillOpen(other),
        }
    } else {
        match got {
            Read::Packet(p) if p == PINGRESP => return Ok(()),
            other => FailKind::NotAlive(other),
        }
    };
    Err(Failure {
        step: "end".into(),
        kind,
    })
}

/// A CONNACK (any version) with reason code 0 and a well-formed start.
fn successful_connack(p: &[u8]) -> bool {
    p.first() == Some(&0x20) && p.len() >= 4 && p[3] == 0
}

/// The README's default CONNECT: clean session, keep alive 60, the given client id; on 5.0
/// with Receive Maximum 20.
fn default_connect(ver: u8, client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    let name: &[u8] = if ver == 3 { b"MQIsdp" } else { b"MQTT" };
    put_str(&mut body, name);
    body.push(ver);
    body.push(0x02);
    body.extend_from_slice(&60u16.to_be_bytes());
    if ver == 5 {
        body.extend_from_slice(&[0x03, 0x21, 0x00, 20]);
    }
    put_str(&mut body, client_id.as_bytes());
    frame(0x10, &body)
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).expect("test strings are short");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
}

fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(body);
    out
}

/// The README's helper: a 3.1.1 client `helper` publishes `payload` to `topic` at `qos` as
/// packet id 1, completes the flow and disconnects.
async fn external_publish(
    addr: SocketAddr,
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
) -> Result<(), String> {
    let mut c = Conn::open(addr).await;
    c.send(&default_connect(4, "helper")).await;
    match c.read().await {
        Read::Packet(p) if p == [0x20, 0x02, 0x00, 0x00] => {}
        other => return Err(format!("CONNACK: {other}")),
    }
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&1u16.to_be_bytes());
    }
    body.extend_from_slice(payload);
    c.send(&frame(0x30 | (qos << 1) | u8::from(retain), &body))
        .await;
    let expect = |want: &[u8], got: Read| match got {
        Read::Packet(p) if p == want => Ok(()),
        other => Err(format!("expected {}, got {other}", hex(want))),
    };
    match qos {
        1 => expect(&[0x40, 0x02, 0x00, 0x01], c.read().await)?,
        2 => {
            expect(&[0x50, 0x02, 0x00, 0x01], c.read().await)?;
            c.send(&[0x62, 0x02, 0x00, 0x01]).await;
            expect(&[0x70, 0x02, 0x00, 0x01], c.read().await)?;
        }
        _ => {}
    }
    c.send(&[0xE0, 0x00]).await;
    // Wait for the broker to end the connection: the DISCONNECT has been processed, so the
    // message has been routed before the scenario goes on.
    match c.read().await {
        Read::Closed => Ok(()),
        other => Err(format!("after DISCONNECT: {other}")),
    }
}

/// One raw connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the broker over loopback");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Send bytes; once the broker has closed, writes fail and are ignored (the next read
    /// reports the close).
    async fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next whole packet, by its fixed header and remaining length (not decoded: what
    /// the broker sends is compared as bytes).
    async fn read(&mut self) -> Read {
        match tokio::time::timeout(*HANG, self.read_packet()).await {
            Ok(r) => r,
            Err(_) => Read::Hung,
        }
    }

    async fn read_packet(&mut self) -> Read {
        loop {
            if let Some(n) = whole_packet(&self.buf) {
                return Read::Packet(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Read::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// The length of the whole packet at the start of `buf`, once it is all there. A remaining
/// length longer than four bytes counts as the packet so far (it is reported as it is).
fn whole_packet(buf: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    let mut shift = 0;
    for (i, b) in buf.iter().enumerate().skip(1) {
        len |= usize::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            let total = i + 1 + len;
            return (buf.len() >= total).then_some(total);
        }
        shift += 7;
        if i == 4 {
            return Some(buf.len());
        }
    }
    None
}
