//! Raw MQTT for tests: packets in and out of any byte stream through mqtt-proto's codec
//! ([`PacketStream`]), a client that scripts the wire exactly, including packets a real
//! client would never send ([`RawClient`]), and packet builders ([`pid`], [`topic`],
//! [`connect_packet`], [`session`], ...). The broker side of the same wire is
//! [`script`](crate::script).
//!
//! Every read is bounded by [`RECV_TIMEOUT`]: a test fails instead of hanging. Every
//! failure to read, write or decode panics: in a test that is the failure to report.

#![allow(clippy::expect_used)] // test support: see above

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use mqtt_proto::{
    ConnAck, Connect, Decoder, DisconnectReason, Encoder, Packet, PacketId, ProtocolVersion,
    PubAck, PubComp, PubRec, PubRel, Publish, QoS, QosPid, SubAck, SubAckReason, Subscribe,
    SubscribeFilter, TopicFilter, TopicName, UnsubAck, Unsubscribe,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// MQTT 3.1.
pub const V31: ProtocolVersion = ProtocolVersion::V3_1;
/// MQTT 3.1.1.
pub const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
/// MQTT 5.0.
pub const V5: ProtocolVersion = ProtocolVersion::V5;
/// Every version.
pub const ALL: [ProtocolVersion; 3] = [V31, V311, V5];

/// How long a read waits for a packet before failing the test (instead of hanging). Tests
/// on a paused clock must keep their broker timers shorter than this.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(20);

/// A Session Expiry Interval for sessions that outlive the test: an hour.
pub const HOUR: u32 = 3600;

/// Packet id `n` (not 0).
pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("test packet ids are not zero")
}

/// A valid topic name.
pub fn topic(s: &str) -> TopicName {
    TopicName::new(s).expect("valid test topic")
}

/// A valid topic filter.
pub fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("valid test filter")
}

/// A PUBLISH of `payload` to `t`.
pub fn publish(t: &str, qos: QosPid, payload: &'static [u8]) -> Publish {
    Publish::new(topic(t), qos, payload)
}

/// A CONNECT with no keep alive (and a clean session).
pub fn connect_packet(version: ProtocolVersion, id: &str) -> Connect {
    let mut c = Connect::new(version, id);
    c.keep_alive = 0;
    c
}

/// A CONNECT with no keep alive, carrying this user name and password.
pub fn login(
    version: ProtocolVersion,
    id: &str,
    user: Option<&str>,
    pass: Option<&str>,
) -> Connect {
    let mut c = connect_packet(version, id);
    c.username = user.map(Into::into);
    c.password = pass.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    c
}

/// A CONNECT with no keep alive asking for a session that lasts `expiry` seconds after
/// the connection (5.0 Session Expiry Interval, none when 0) or, on 3.x, that is kept
/// (clean session 0) when `expiry` is not 0: 3.x ties the two together.
pub fn session(version: ProtocolVersion, id: &str, clean: bool, expiry: u32) -> Connect {
    let mut c = connect_packet(version, id);
    if version.is_v5() {
        c.clean_start = clean;
        c.properties.session_expiry_interval = (expiry > 0).then_some(expiry);
    } else {
        c.clean_start = clean && expiry == 0;
    }
    c
}

/// The SUBACK code refusing a filter for `v5_reason`: 3.1.1 knows only 0x80.
pub fn suback_failure(version: ProtocolVersion, v5_reason: SubAckReason) -> SubAckReason {
    if version.is_v5() {
        v5_reason
    } else {
        SubAckReason::UnspecifiedError
    }
}

/// Await `f`, failing the test instead of hanging if it takes longer than
/// [`RECV_TIMEOUT`].
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(RECV_TIMEOUT, f)
        .await
        .expect("timed out waiting for the broker")
}

/// What raw MQTT travels over: a TCP socket, a TLS session, a WebSocket's pipe, ...
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How a read ended when no packet came.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// The peer closed the connection (or it failed).
    Eof,
}

/// Packets over a byte stream: encoded and decoded with mqtt-proto for one protocol version
/// (changed with [`PacketStream::set_version`]).
pub struct PacketStream {
    stream: Box<dyn Stream>,
    decoder: Decoder,
    encoder: Encoder,
    rbuf: BytesMut,
    version: ProtocolVersion,
}

impl std::fmt::Debug for PacketStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketStream")
            .field("version", &self.version)
            .field("buffered", &self.rbuf.len())
            .finish_non_exhaustive()
    }
}

impl PacketStream {
    /// Packets of `version` over `stream`.
    pub fn new(stream: impl Stream + 'static, version: ProtocolVersion) -> Self {
        Self {
            stream: Box::new(stream),
            decoder: Decoder::new(version),
            encoder: Encoder::new(version),
            rbuf: BytesMut::new(),
            version,
        }
    }

    /// The protocol version packets are encoded and decoded for.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Encode and decode for `version` from now on (a broker learns it from CONNECT).
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
        self.decoder.set_version(version);
        self.encoder.set_version(version);
    }

    /// Send one packet.
    pub async fn send(&mut self, packet: impl Into<Packet>) {
        self.send_all(&[packet.into()]).await;
    }

    /// Send these packets in one write.
    pub async fn send_all(&mut self, packets: &[Packet]) {
        let mut buf = BytesMut::new();
        for p in packets {
            self.encoder
                .encode(p, &mut buf)
                .expect("test packets encode");
        }
        self.send_raw(&buf).await;
    }

    /// Send these bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("write to the peer");
        self.stream.flush().await.expect("flush to the peer");
    }

    /// The next packet, or how the connection ended.
    pub async fn next(&mut self) -> Result<Packet, Closed> {
        tokio::time::timeout(RECV_TIMEOUT, async {
            loop {
                match self.decoder.decode(&mut self.rbuf) {
                    Ok(Some(p)) => return Ok(p),
                    Ok(None) => {}
                    Err(e) => panic!("the peer sent a malformed packet: {e}"),
                }
                match self.stream.read_buf(&mut self.rbuf).await {
                    Ok(0) | Err(_) => return Err(Closed::Eof),
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("timed out waiting for a packet from the peer")
    }

    /// The next packet; panics if the connection closed.
    pub async fn recv(&mut self) -> Packet {
        self.next()
            .await
            .expect("connection closed, a packet was expected")
    }

    /// Expect the connection to close, after at most the packets returned.
    pub async fn closed(&mut self) -> Vec<Packet> {
        let mut got = Vec::new();
        while let Ok(p) = self.next().await {
            got.push(p);
        }
        got
    }

    /// How many bytes arrive, undecoded, until the connection closes (at most
    /// [`RECV_TIMEOUT`] between two reads).
    pub async fn bytes_until_closed(&mut self) -> usize {
        let mut total = std::mem::take(&mut self.rbuf).len();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout(RECV_TIMEOUT, self.stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return total,
                Ok(Ok(n)) => total += n,
                Err(_) => panic!("timed out waiting for the peer to close"),
            }
        }
    }
}

/// A raw client connection: the client side of the wire, scripted packet by packet.
#[derive(Debug)]
pub struct RawClient {
    io: PacketStream,
    /// The protocol version it speaks.
    pub version: ProtocolVersion,
}

impl RawClient {
    /// Open a TCP connection; nothing is sent.
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the broker");
        stream.set_nodelay(true).expect("nodelay");
        Self::over(stream, version)
    }

    /// A client over an established stream (a TLS session, say); nothing is sent.
    pub fn over(stream: impl Stream + 'static, version: ProtocolVersion) -> Self {
        Self {
            io: PacketStream::new(stream, version),
            version,
        }
    }

    /// Send this CONNECT over an established stream and return the CONNACK.
    pub async fn connect_over(stream: impl Stream + 'static, connect: Connect) -> (Self, ConnAck) {
        let mut c = Self::over(stream, connect.protocol);
        c.send(connect).await;
        let ack = c.connack().await;
        (c, ack)
    }

    /// Open, send this CONNECT and return the CONNACK.
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (Self, ConnAck) {
        let mut c = Self::open(addr, connect.protocol).await;
        c.send(connect).await;
        let ack = c.connack().await;
        (c, ack)
    }

    /// Connect with a clean session and no keep alive; assert success.
    pub async fn connect(addr: SocketAddr, version: ProtocolVersion, id: &str) -> Self {
        let (c, ack) = Self::connect_with(addr, connect_packet(version, id)).await;
        assert!(!ack.reason.is_error(), "CONNACK refused: {ack:?}");
        c
    }

    /// Send one packet.
    pub async fn send(&mut self, packet: impl Into<Packet>) {
        self.io.send(packet).await;
    }

    /// Send these bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.send_raw(bytes).await;
    }

    /// The next packet, or how the connection ended.
    pub async fn next(&mut self) -> Result<Packet, Closed> {
        self.io.next().await
    }

    /// The next packet; panics if the connection closed.
    pub async fn recv(&mut self) -> Packet {
        self.io.recv().await
    }

    /// Expect the connection to close, after at most the packets returned.
    pub async fn closed(&mut self) -> Vec<Packet> {
        self.io.closed().await
    }

    /// The next packet, which must be a CONNACK.
    pub async fn connack(&mut self) -> ConnAck {
        match self.recv().await {
            Packet::ConnAck(a) => *a,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// The next packet, which must be a PUBLISH.
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// The next packet, which must be a SUBACK.
    pub async fn suback(&mut self) -> SubAck {
        match self.recv().await {
            Packet::SubAck(a) => a,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// The next packet, which must be an UNSUBACK.
    pub async fn unsuback(&mut self) -> UnsubAck {
        match self.recv().await {
            Packet::UnsubAck(a) => a,
            other => panic!("expected UNSUBACK, got {other:?}"),
        }
    }

    /// Subscribe to one filter at `qos`; returns the SUBACK.
    pub async fn subscribe(&mut self, id: u16, f: &str, qos: QoS) -> SubAck {
        self.send(Subscribe::new(
            pid(id),
            vec![SubscribeFilter::new(filter(f), qos)],
        ))
        .await;
        self.suback().await
    }

    /// Unsubscribe from these filters; returns the UNSUBACK.
    pub async fn unsubscribe(&mut self, id: u16, filters: &[&str]) -> UnsubAck {
        self.send(Unsubscribe::new(
            pid(id),
            filters.iter().map(|f| filter(f)).collect(),
        ))
        .await;
        self.unsuback().await
    }

    /// Publish and complete the flow for its QoS (PUBACK; PUBREC, PUBREL, PUBCOMP).
    pub async fn publish(&mut self, p: Publish) {
        let qos = p.qos;
        self.send(p).await;
        match qos {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(id) => {
                assert_eq!(self.recv().await, Packet::PubAck(PubAck::new(id)));
            }
            QosPid::ExactlyOnce(id) => {
                assert_eq!(self.recv().await, Packet::PubRec(PubRec::new(id)));
                self.send(PubRel::new(id)).await;
                assert_eq!(self.recv().await, Packet::PubComp(PubComp::new(id)));
            }
        }
    }

    /// Acknowledge a received PUBLISH as its QoS requires (QoS 2: PUBREC, then PUBREL
    /// expected, then PUBCOMP).
    pub async fn ack(&mut self, p: &Publish) {
        match p.qos {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(id) => self.send(PubAck::new(id)).await,
            QosPid::ExactlyOnce(id) => {
                self.send(PubRec::new(id)).await;
                assert_eq!(self.recv().await, Packet::PubRel(PubRel::new(id)));
                self.send(PubComp::new(id)).await;
            }
        }
    }

    /// Send PINGREQ and wait for PINGRESP: everything sent before has been processed.
    pub async fn ping(&mut self) {
        self.send(Packet::PingReq).await;
        assert_eq!(self.recv().await, Packet::PingResp);
    }
}

/// Open a connection, send `c` and expect a successful CONNACK.
pub async fn open(addr: SocketAddr, c: Connect) -> (RawClient, ConnAck) {
    let (client, ack) = RawClient::connect_with(addr, c).await;
    assert!(!ack.reason.is_error(), "{ack:?}");
    (client, ack)
}

/// Expect the broker to close `c` with a DISCONNECT carrying `reason` and nothing else.
pub async fn refused_with(c: &mut RawClient, reason: DisconnectReason) {
    let got = c.closed().await;
    assert!(
        matches!(&got[..], [Packet::Disconnect(d)] if d.reason == reason),
        "{got:?}"
    );
}

/// Connect over an established stream (TLS, a WebSocket's pipe) with a clean session and
/// no keep alive; assert success.
pub async fn mqtt_over(
    stream: impl Stream + 'static,
    version: ProtocolVersion,
    id: &str,
) -> RawClient {
    let (c, ack) = within(RawClient::connect_over(stream, connect_packet(version, id))).await;
    assert!(!ack.reason.is_error(), "CONNACK refused: {ack:?}");
    c
}
