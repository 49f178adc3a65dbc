//! Issue 16, defect 1: mqsub prints messages in the order they arrived, also when a resumed
//! persistent session delivers queued messages before (and while) the SUBSCRIBE is handled.
//!
//! - A scripted broker (`mqtt_testkit::script`: packets encoded with mqtt-proto)
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

use mqtt_proto::{
    ConnAck, ConnectReason, Packet, PacketId, Publish, QoS, QosPid, SubAck, SubAckReason, TopicName,
};
use mqtt_testkit::external::Mosquitto;
use mqtt_testkit::script::ScriptedBroker;

mod common;

use common::{MQPUB, MQSUB, Proc, run};

// ---------------------------------------------------------------------------------------------
// The scripted broker
// ---------------------------------------------------------------------------------------------

fn publish(n: u16) -> Packet {
    Packet::Publish(Publish::new(
        TopicName::new("order/t").unwrap(),
        QosPid::from_qos(QoS::AtLeastOnce, PacketId::new(n).unwrap()),
        format!("p{n}"),
    ))
}

/// Accept one client and play the resumed-session script (`mqtt_testkit::script`); the
/// result is the packets the client sent after CONNECT.
fn scripted_broker() -> ScriptedBroker<Vec<Packet>> {
    ScriptedBroker::accept(1, |_, mut peer| async move {
        peer.connect().await;
        // The session is resumed: a queued message comes with the CONNACK.
        peer.send_all(&[
            Packet::ConnAck(Box::new(ConnAck::new(true, ConnectReason::Success))),
            publish(1),
        ])
        .await;
        let (sub, mut seen) = peer.until(|p| matches!(p, Packet::Subscribe(_))).await;
        let Packet::Subscribe(sub) = sub else {
            unreachable!()
        };
        // One between the SUBSCRIBE and its SUBACK, one after.
        peer.send(publish(2)).await;
        peer.send(Packet::SubAck(SubAck::new(
            sub.packet_id,
            vec![SubAckReason::GrantedQoS1],
        )))
        .await;
        peer.send(publish(3)).await;
        seen.extend(peer.until_closed().await);
        seen
    })
}

#[test]
fn mqsub_prints_in_arrival_order_around_the_subscribe() {
    for v in ["mqttv311", "mqttv5"] {
        let script = scripted_broker();
        let port = script.port().to_string();
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
        let seen = script.join().remove(0);
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
    // Any number of messages queued for an absent persistent session (mosquitto's default,
    // 1,000, would drop half of them).
    let Some(broker) = Mosquitto::builder()
        .config_line("allow_anonymous true")
        .config_line("persistence false")
        .config_line("max_queued_messages 0")
        .start_or_skip("mqsub_prints_a_resumed_sessions_2000_queued_messages_in_order")
    else {
        return;
    };
    let port = broker.port().to_string();
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
