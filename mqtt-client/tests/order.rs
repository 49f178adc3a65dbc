//! Issue 16, defect 1: messages reach the application in the order they arrived.
//!
//! A scripted broker (a raw loopback listener writing packets encoded with mqtt-proto)
//! resumes a session: a queued PUBLISH in the same write as CONNACK, one between reading
//! SUBSCRIBE and sending SUBACK, one after. With the subscription declared in the options
//! all three arrive on the catch-all stream, in that order; a subscription made with
//! `subscribe` has its route before its SUBSCRIBE is written, so a PUBLISH that arrives
//! before its SUBACK is already on its stream. (The 2,000-message case against mosquitto is
//! in `interop_mosquitto.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use mqtt_client::{
    Client, ClientError, Options, ProtocolVersion, QoS, RequestError, SubAckReason, TopicFilter,
};
use mqtt_proto::{
    ConnAck, ConnectReason, Decoder, Encoder, Packet, PacketId, Publish, QosPid, SubAck, Subscribe,
    TopicName,
};

mod common;

use common::within_limit as within;

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V3_1_1, ProtocolVersion::V5];

/// The broker's side of one scripted connection.
struct Raw {
    stream: TcpStream,
    decoder: Decoder,
    encoder: Encoder,
    buf: BytesMut,
    /// Packet ids of the PUBACKs received, in order.
    acked: Vec<u16>,
}

impl Raw {
    fn accept(listener: &TcpListener) -> Self {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut raw = Self {
            stream,
            decoder: Decoder::new(ProtocolVersion::V3_1_1),
            encoder: Encoder::new(ProtocolVersion::V3_1_1),
            buf: BytesMut::new(),
            acked: Vec::new(),
        };
        let Some(Packet::Connect(c)) = raw.next() else {
            panic!("expected CONNECT");
        };
        raw.decoder.set_version(c.protocol);
        raw.encoder.set_version(c.protocol);
        raw
    }

    /// The next packet; `None` at end of stream.
    fn next(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = self.decoder.decode(&mut self.buf).unwrap() {
                if let Packet::PubAck(a) = &p {
                    self.acked.push(a.packet_id.get());
                }
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn subscribe(&mut self) -> Subscribe {
        loop {
            match self.next().expect("closed before SUBSCRIBE") {
                Packet::Subscribe(s) => return s,
                _ => continue,
            }
        }
    }

    /// Write these packets with one `write_all`.
    fn send(&mut self, packets: &[Packet]) {
        let mut out = BytesMut::new();
        for p in packets {
            self.encoder.encode(p, &mut out).unwrap();
        }
        self.stream.write_all(&out).unwrap();
    }

    /// Read until the client closes; the packet ids it acknowledged, in order.
    fn acked_until_closed(mut self) -> Vec<u16> {
        while self.next().is_some() {}
        self.acked
    }
}

fn connack(session_present: bool) -> Packet {
    Packet::ConnAck(Box::new(ConnAck::new(
        session_present,
        ConnectReason::Success,
    )))
}

fn publish(n: u16) -> Packet {
    Packet::Publish(Publish::new(
        TopicName::new(format!("order/{n}")).unwrap(),
        QosPid::from_qos(QoS::AtLeastOnce, PacketId::new(n).unwrap()),
        format!("p{n}"),
    ))
}

fn suback(s: &Subscribe, reason: SubAckReason) -> Packet {
    Packet::SubAck(SubAck::new(s.packet_id, vec![reason]))
}

fn options(port: u16, v: ProtocolVersion) -> Options {
    let mut o = Options::from_url(&format!("mqtt://127.0.0.1:{port}"))
        .unwrap()
        .with_client_id("order")
        .with_protocol(v)
        .with_clean_start(false)
        .with_session_expiry(3600);
    o.reconnect.enabled = false;
    o
}

/// The resumed session's script: CONNACK + p1, SUBSCRIBE, p2, SUBACK, p3.
fn resumed_session(listener: TcpListener) -> thread::JoinHandle<Vec<u16>> {
    thread::spawn(move || {
        let mut raw = Raw::accept(&listener);
        raw.send(&[connack(true), publish(1)]);
        let sub = raw.subscribe();
        raw.send(&[publish(2)]);
        raw.send(&[suback(&sub, SubAckReason::GrantedQoS1)]);
        raw.send(&[publish(3)]);
        raw.acked_until_closed()
    })
}

#[tokio::test]
async fn declared_subscriptions_deliver_in_arrival_order_on_one_stream() {
    for v in VERSIONS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = resumed_session(listener);
        let opts = options(port, v)
            .with_subscription(TopicFilter::new("order/#").unwrap(), QoS::AtLeastOnce);
        let (client, mut messages) = within(Client::connect(opts)).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let m = within(messages.recv()).await.expect("a message");
            got.push(String::from_utf8(m.payload().to_vec()).unwrap());
        }
        assert_eq!(got, ["p1", "p2", "p3"], "{v:?}");
        let acks = within(client.declared_subscriptions()).await.unwrap();
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].results[0].0.as_str(), "order/#");
        assert_eq!(acks[0].results[0].1, SubAckReason::GrantedQoS1);
        within(client.disconnect(Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(script.join().unwrap(), [1, 2, 3], "{v:?}: acked in order");
    }
}

#[tokio::test]
async fn a_publish_before_the_suback_is_already_on_the_subscriptions_stream() {
    for v in VERSIONS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = thread::spawn(move || {
            let mut raw = Raw::accept(&listener);
            raw.send(&[connack(false)]);
            let sub = raw.subscribe();
            raw.send(&[publish(2)]);
            raw.send(&[suback(&sub, SubAckReason::GrantedQoS1)]);
            raw.send(&[publish(3)]);
            raw.acked_until_closed()
        });
        let (client, mut messages) = within(Client::connect(options(port, v))).await.unwrap();
        let mut sub = within(client.subscribe("order/#", QoS::AtLeastOnce))
            .await
            .unwrap();
        for want in ["p2", "p3"] {
            let m = within(sub.recv()).await.expect("a message");
            assert_eq!(m.payload().as_ref(), want.as_bytes(), "{v:?}");
        }
        assert!(
            messages.try_recv().is_none(),
            "{v:?}: nothing on the catch-all"
        );
        within(client.disconnect(Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(script.join().unwrap(), [2, 3]);
    }
}

#[tokio::test]
async fn a_refused_declared_subscription_is_reported() {
    for v in VERSIONS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = thread::spawn(move || {
            let mut raw = Raw::accept(&listener);
            raw.send(&[connack(false)]);
            let sub = raw.subscribe();
            raw.send(&[suback(&sub, SubAckReason::UnspecifiedError)]);
            raw.acked_until_closed()
        });
        let opts = options(port, v)
            .with_subscription(TopicFilter::new("denied/#").unwrap(), QoS::AtLeastOnce);
        let (client, _messages) = within(Client::connect(opts)).await.unwrap();
        match within(client.declared_subscriptions()).await {
            Err(ClientError::Request(RequestError::SubscribeRefused(ack))) => {
                assert_eq!(ack.results[0].1, SubAckReason::UnspecifiedError);
            }
            other => panic!("{v:?}: {other:?}"),
        }
        within(client.disconnect(Duration::from_secs(1)))
            .await
            .unwrap();
        script.join().unwrap();
    }
}

#[tokio::test]
async fn without_declared_subscriptions_there_is_nothing_to_wait_for() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = thread::spawn(move || {
        let mut raw = Raw::accept(&listener);
        raw.send(&[connack(false)]);
        raw.acked_until_closed()
    });
    let (client, _messages) = within(Client::connect(options(port, ProtocolVersion::V5)))
        .await
        .unwrap();
    assert!(
        within(client.declared_subscriptions())
            .await
            .unwrap()
            .is_empty()
    );
    within(client.disconnect(Duration::from_secs(1)))
        .await
        .unwrap();
    script.join().unwrap();
}

#[tokio::test]
async fn declared_subscriptions_survive_the_fallback_to_3_1_1() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = thread::spawn(move || {
        // The 5.0 CONNECT is refused for its version...
        let mut raw = Raw::accept(&listener);
        raw.send(&[Packet::ConnAck(Box::new(ConnAck::new(
            false,
            ConnectReason::UnsupportedProtocolVersion,
        )))]);
        drop(raw);
        // ... and the 3.1.1 one still subscribes, with the route in place from the start.
        let mut raw = Raw::accept(&listener);
        raw.send(&[connack(true), publish(1)]);
        let sub = raw.subscribe();
        raw.send(&[publish(2), suback(&sub, SubAckReason::GrantedQoS1)]);
        raw.acked_until_closed()
    });
    let mut opts = options(port, ProtocolVersion::V5)
        .with_subscription(TopicFilter::new("order/#").unwrap(), QoS::AtLeastOnce);
    opts.fallback_to_v311 = true;
    let (client, mut messages) = within(Client::connect(opts)).await.unwrap();
    assert_eq!(client.protocol(), ProtocolVersion::V3_1_1);
    for want in ["p1", "p2"] {
        let m = within(messages.recv()).await.expect("a message");
        assert_eq!(m.payload().as_ref(), want.as_bytes());
    }
    let acks = within(client.declared_subscriptions()).await.unwrap();
    assert_eq!(acks.len(), 1);
    within(client.disconnect(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(script.join().unwrap(), [1, 2]);
}
