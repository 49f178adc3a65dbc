//! Issue 16, defect 1: mqsub prints messages in the order they arrived, also when a resumed
//! persistent session delivers queued messages before (and while) the SUBSCRIBE is handled.
//!
//! - A scripted broker (a raw loopback listener writing packets encoded with mqtt-proto)
//!   sends a queued PUBLISH in the same write as CONNACK, one between reading SUBSCRIBE and
//!   sending SUBACK, and one after: mqsub prints them in that order.
//! - Debian's mosquitto: a subscriber with `-c` and a fixed id comes back to 2,000 QoS 1
//!   messages queued while it was away and prints all of them in order. It is a race, so it
//!   runs `MQTT_ORDER_ROUNDS` rounds (default 10) on 3.1.1 and on 5.0. Skipped with a
//!   notice when mosquitto is missing; with `MQTT_INTEROP=require` that is a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqtt_proto::{
    ConnAck, ConnectReason, Decoder, Encoder, Packet, PacketId, ProtocolVersion, Publish, QoS,
    QosPid, SubAck, SubAckReason, TopicName,
};

mod common;

use common::{MQPUB, MQSUB, Proc, TIMEOUT, TempDir, run};

// ---------------------------------------------------------------------------------------------
// The scripted broker
// ---------------------------------------------------------------------------------------------

/// One side of a scripted connection: packets in, packets out, bounded reads.
struct Raw {
    stream: TcpStream,
    decoder: Decoder,
    encoder: Encoder,
    buf: BytesMut,
}

impl Raw {
    fn new(stream: TcpStream) -> Self {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Self {
            stream,
            decoder: Decoder::new(ProtocolVersion::V3_1_1),
            encoder: Encoder::new(ProtocolVersion::V3_1_1),
            buf: BytesMut::new(),
        }
    }

    /// The next packet; `None` at end of stream.
    fn next(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = self.decoder.decode(&mut self.buf).unwrap() {
                if let Packet::Connect(c) = &p {
                    self.decoder.set_version(c.protocol);
                    self.encoder.set_version(c.protocol);
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

    /// Write these packets with one `write_all`.
    fn send(&mut self, packets: &[Packet]) {
        let mut out = BytesMut::new();
        for p in packets {
            self.encoder.encode(p, &mut out).unwrap();
        }
        self.stream.write_all(&out).unwrap();
        self.stream.flush().unwrap();
    }
}

fn publish(n: u16) -> Packet {
    Packet::Publish(Publish::new(
        TopicName::new("order/t").unwrap(),
        QosPid::from_qos(QoS::AtLeastOnce, PacketId::new(n).unwrap()),
        format!("p{n}"),
    ))
}

/// Accept one client and play the resumed-session script; returns the packets the client
/// sent after CONNECT.
fn scripted_broker() -> (u16, thread::JoinHandle<Vec<Packet>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut raw = Raw::new(stream);
        let Some(Packet::Connect(_)) = raw.next() else {
            panic!("expected CONNECT");
        };
        // The session is resumed: a queued message comes with the CONNACK.
        raw.send(&[
            Packet::ConnAck(Box::new(ConnAck::new(true, ConnectReason::Success))),
            publish(1),
        ]);
        let mut seen = Vec::new();
        let sub = loop {
            match raw.next().expect("the client closed before subscribing") {
                Packet::Subscribe(s) => break s,
                other => seen.push(other),
            }
        };
        // One between the SUBSCRIBE and its SUBACK, one after.
        raw.send(&[publish(2)]);
        raw.send(&[Packet::SubAck(SubAck::new(
            sub.packet_id,
            vec![SubAckReason::GrantedQoS1],
        ))]);
        raw.send(&[publish(3)]);
        while let Some(p) = raw.next() {
            seen.push(p);
        }
        seen
    });
    (port, script)
}

#[test]
fn mqsub_prints_in_arrival_order_around_the_subscribe() {
    for v in ["mqttv311", "mqttv5"] {
        let (port, script) = scripted_broker();
        let port = port.to_string();
        let out = run(
            MQSUB,
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-V",
                v,
                "-i",
                "order-scripted",
                "-c",
                "-q",
                "1",
                "-t",
                "order/#",
                "-C",
                "3",
            ],
            None,
        );
        assert_eq!(out.code, Some(0), "{v}: {out:?}");
        assert_eq!(out.stdout, "p1\np2\np3\n", "{v}: {out:?}");
        let seen = script.join().unwrap();
        let acked: Vec<u16> = seen
            .iter()
            .filter_map(|p| match p {
                Packet::PubAck(a) => Some(a.packet_id.get()),
                _ => None,
            })
            .collect();
        assert_eq!(acked, [1, 2, 3], "{v}: acknowledged in arrival order");
    }
}

// ---------------------------------------------------------------------------------------------
// Debian's mosquitto: 2,000 queued messages, many rounds
// ---------------------------------------------------------------------------------------------

fn mosquitto_bin() -> Option<PathBuf> {
    let sbin = PathBuf::from("/usr/sbin/mosquitto");
    if sbin.exists() {
        return Some(sbin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("mosquitto"))
        .find(|p| p.exists())
}

/// The mosquitto binary; `None` (with a notice) if missing, a panic if missing and
/// `MQTT_INTEROP=require`.
fn mosquitto_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(b) = mosquitto_bin() {
        return Some(b);
    }
    assert_ne!(
        std::env::var("MQTT_INTEROP").as_deref(),
        Ok("require"),
        "MQTT_INTEROP=require, but the mosquitto broker is missing (apt-get install mosquitto)"
    );
    eprintln!("skipping {test}: mosquitto not found (set MQTT_INTEROP=require to fail instead)");
    None
}

/// A mosquitto on a free loopback port that queues any number of messages for an absent
/// persistent session (its default, 1,000, would drop half of them); killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Mosquitto {
    fn start(binary: &PathBuf) -> Self {
        let dir = TempDir::new("order-broker");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 0\nlog_dest none\n"
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            thread::sleep(Duration::from_millis(10));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rounds of the race: `MQTT_ORDER_ROUNDS`, default 10.
fn rounds() -> usize {
    std::env::var("MQTT_ORDER_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

const QUEUED: usize = 2000;

#[test]
fn mqsub_prints_a_resumed_sessions_2000_queued_messages_in_order() {
    let Some(binary) =
        mosquitto_or_skip("mqsub_prints_a_resumed_sessions_2000_queued_messages_in_order")
    else {
        return;
    };
    let broker = Mosquitto::start(&binary);
    let port = broker.port.to_string();
    let payloads: String = (0..QUEUED).map(|n| format!("{n}\n")).collect();
    let rounds = rounds();
    let mut failures = Vec::new();
    for round in 0..rounds {
        for (v, session) in [("mqttv311", None), ("mqttv5", Some("3600"))] {
            let id = format!("order-{v}-{round}");
            let topic = format!("order/{v}/{round}");
            let mut sub_args = vec![
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-V",
                v,
                "-i",
                &id,
                "-c",
                "-q",
                "1",
                "-t",
                &topic,
            ];
            if let Some(expiry) = session {
                sub_args.extend(["-x", expiry]);
            }
            // The session and its subscription, then away.
            let mut first = sub_args.clone();
            first.push("-E");
            let out = run(MQSUB, &first, None);
            assert_eq!(out.code, Some(0), "{out:?}");
            // 2,000 QoS 1 messages queued for it.
            let out = run(
                MQPUB,
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-q",
                    "1",
                    "-t",
                    &topic,
                    "-l",
                ],
                Some(payloads.as_bytes()),
            );
            assert_eq!(out.code, Some(0), "{out:?}");
            // Back: every one, in order.
            let count = QUEUED.to_string();
            let mut back = sub_args.clone();
            back.extend(["-C", &count]);
            let out = Proc::spawn(MQSUB, &back, None).wait();
            assert_eq!(out.code, Some(0), "{out:?}");
            let got: Vec<usize> = out.stdout.lines().map(|l| l.parse().unwrap()).collect();
            assert_eq!(got.len(), QUEUED, "{v} round {round}: lost or duplicated");
            let misplaced = got.iter().enumerate().filter(|(i, n)| i != *n).count();
            if misplaced > 0 {
                failures.push(format!(
                    "{v} round {round}: {misplaced} of {QUEUED} out of place (first: {:?})",
                    &got[..10]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "out of order in {} of {} runs:\n{}",
        failures.len(),
        rounds * 2,
        failures.join("\n")
    );
}
