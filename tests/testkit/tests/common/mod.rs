//! A raw MQTT client for the broker's tests: it speaks packets through mqtt-proto's codec over
//! a real socket, so tests script the wire exactly (including packets a real client would
//! never send).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod events;
pub mod served;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use mqtt_proto::{
    ConnAck, Connect, Decoder, DisconnectReason, Encoder, Packet, PacketId, ProtocolVersion,
    PubAck, PubComp, PubRec, PubRel, Publish, QoS, QosPid, SubAck, SubAckReason, Subscribe,
    SubscribeFilter, TopicFilter, TopicName, UnsubAck, Unsubscribe,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const V31: ProtocolVersion = ProtocolVersion::V3_1;
pub const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
pub const V5: ProtocolVersion = ProtocolVersion::V5;
pub const ALL: [ProtocolVersion; 3] = [V31, V311, V5];

/// How long a test waits for a packet before failing (instead of hanging). Tests on a paused
/// clock must keep their broker timers shorter than this.
const RECV_TIMEOUT: Duration = Duration::from_secs(20);

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("test packet ids are not zero")
}

pub fn topic(s: &str) -> TopicName {
    TopicName::new(s).expect("valid test topic")
}

pub fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("valid test filter")
}

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
    c.password = pass.map(|p| bytes::Bytes::copy_from_slice(p.as_bytes()));
    c
}

/// A Session Expiry Interval for sessions that outlive the test: an hour.
pub const HOUR: u32 = 3600;

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

/// The SUBACK code refusing a filter for `v5_reason`: 3.1.1 knows only 0x80.
pub fn suback_failure(version: ProtocolVersion, v5_reason: SubAckReason) -> SubAckReason {
    if version.is_v5() {
        v5_reason
    } else {
        SubAckReason::UnspecifiedError
    }
}

/// Await `f`, failing the test instead of hanging if it takes longer than the receive
/// timeout.
pub async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(RECV_TIMEOUT, f)
        .await
        .expect("timed out waiting for the broker")
}

/// What a raw client talks over: a TCP socket or a TLS session.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A raw client connection.
pub struct RawClient {
    stream: Box<dyn Stream>,
    decoder: Decoder,
    encoder: Encoder,
    rbuf: BytesMut,
    pub version: ProtocolVersion,
}

/// How a read ended when no packet came.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Eof,
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
            stream: Box::new(stream),
            decoder: Decoder::new(version),
            encoder: Encoder::new(version),
            rbuf: BytesMut::new(),
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

    pub async fn send(&mut self, packet: impl Into<Packet>) {
        let mut buf = BytesMut::new();
        self.encoder
            .encode(&packet.into(), &mut buf)
            .expect("test packets encode");
        self.send_raw(&buf).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("write to the broker");
    }

    /// The next packet, or how the connection ended.
    pub async fn next(&mut self) -> Result<Packet, Closed> {
        tokio::time::timeout(RECV_TIMEOUT, async {
            loop {
                if let Some(p) = self
                    .decoder
                    .decode(&mut self.rbuf)
                    .expect("broker sends valid packets")
                {
                    return Ok(p);
                }
                match self.stream.read_buf(&mut self.rbuf).await {
                    Ok(0) | Err(_) => return Err(Closed::Eof),
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("timed out waiting for a packet from the broker")
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

    pub async fn connack(&mut self) -> ConnAck {
        match self.recv().await {
            Packet::ConnAck(a) => *a,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    pub async fn suback(&mut self) -> SubAck {
        match self.recv().await {
            Packet::SubAck(a) => a,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

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
