//! A broker that only speaks MQTT 3.1.1 refuses a 5.0 CONNECT the way aedes does: with a
//! 3.1.1 CONNACK `20 02 00 01` ("unacceptable protocol version") and a closed socket. The
//! client reports it as the refusal it is (`Refused` with Unsupported Protocol Version,
//! [MQTT-3.1.2-2]), and `fallback_to_v311` then connects on 3.1.1. Against a scripted broker
//! over a loopback socket (`mqtt_testkit::script`): it answers from the bytes it reads,
//! nothing more.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use mqtt_client::{Client, ConnectError, ConnectReason, Options, ProtocolVersion, QoS};
use mqtt_proto::Packet;
use mqtt_testkit::script::ScriptedBroker;
use tokio::sync::mpsc;

use common::within_limit as within;

/// What the scripted broker read, in order: the protocol version of each CONNECT, then the
/// packets that followed on a 3.1.1 connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Connect(ProtocolVersion),
    Publish { topic: String, payload: Vec<u8> },
    Disconnect,
}

/// A 3.1.1-only broker (`mqtt_testkit::script`) on its own loopback port: refuses 5.0 with
/// `20 02 00 01` and closes, accepts 3.1.1, acknowledges QoS 1 publishes.
fn v311_only_broker() -> (ScriptedBroker<()>, mpsc::UnboundedReceiver<Seen>) {
    let (log, seen) = mpsc::unbounded_channel();
    let broker = ScriptedBroker::serve(move |_, mut peer| {
        let log = log.clone();
        async move {
            let c = peer.connect().await;
            log.send(Seen::Connect(c.protocol)).unwrap();
            if c.protocol.is_v5() {
                // aedes' answer, byte for byte, then the close [MQTT-3.1.2-2].
                peer.send_raw(&[0x20, 0x02, 0x00, 0x01]).await;
                return;
            }
            peer.send_raw(&[0x20, 0x02, 0x00, 0x00]).await;
            while let Some(p) = peer.next().await {
                match p {
                    Packet::Publish(p) => {
                        log.send(Seen::Publish {
                            topic: p.topic.to_string(),
                            payload: p.payload.to_vec(),
                        })
                        .unwrap();
                        if let Some(id) = p.qos.packet_id() {
                            let [hi, lo] = id.get().to_be_bytes();
                            peer.send_raw(&[0x40, 0x02, hi, lo]).await;
                        }
                    }
                    Packet::PingReq => peer.send_raw(&[0xD0, 0x00]).await,
                    Packet::Disconnect(_) => {
                        log.send(Seen::Disconnect).unwrap();
                        return;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    });
    (broker, seen)
}

fn options(addr: std::net::SocketAddr) -> Options {
    Options::from_url(&format!("mqtt://{addr}"))
        .unwrap()
        .with_client_id("refused")
        .with_protocol(ProtocolVersion::V5)
}

#[tokio::test]
async fn a_v3_1_1_refusal_of_5_0_is_unsupported_protocol_version() {
    let (broker, mut seen) = v311_only_broker();
    let err = within(Client::connect(options(broker.addr())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Refused {
                reason: ConnectReason::UnsupportedProtocolVersion,
                reason_string: None,
                server_reference: None,
            }
        ),
        "{err:?}"
    );
    // A refusal that can only repeat: a client with reconnection would stop on it.
    assert!(err.is_fatal_refusal());
    // One attempt, on 5.0.
    assert_eq!(
        within(seen.recv()).await,
        Some(Seen::Connect(ProtocolVersion::V5))
    );
    assert!(seen.try_recv().is_err());
}

#[tokio::test]
async fn fallback_to_v3_1_1_connects_to_a_broker_that_refuses_5_0_the_3_1_1_way() {
    let (broker, mut seen) = v311_only_broker();
    let mut o = options(broker.addr());
    o.fallback_to_v311 = true;
    let (c, _all) = within(Client::connect(o)).await.unwrap();
    assert_eq!(c.protocol(), ProtocolVersion::V3_1_1);
    // The 3.1.1 connection works: a QoS 1 publish is acknowledged.
    within(async {
        c.publish("t/1", QoS::AtLeastOnce, false, "after fallback")
            .await
            .unwrap()
            .await
            .unwrap()
    })
    .await;
    within(c.disconnect(std::time::Duration::from_secs(5)))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(within(seen.recv()).await.unwrap());
    }
    assert_eq!(
        got,
        [
            Seen::Connect(ProtocolVersion::V5),
            Seen::Connect(ProtocolVersion::V3_1_1),
            Seen::Publish {
                topic: "t/1".into(),
                payload: b"after fallback".to_vec()
            },
            Seen::Disconnect,
        ]
    );
}
