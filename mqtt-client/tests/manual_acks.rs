//! Manual acknowledgements (`Options::with_manual_acks`): acknowledgements go out in
//! arrival order whatever the order of `Message::ack` calls, and a message not acknowledged
//! is delivered again after a reconnection (persistent session).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{Session, connected, fault_fired, ledger_id, opts, session_opts, within};
use mqtt_client::{Client, DisconnectReason, Message, ProtocolVersion, QoS, Subscription};
use mqtt_testkit::{Broker, Direction, PacketType};

async fn next(sub: &mut Subscription) -> Message {
    within("next message", sub.recv()).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn acks_go_out_in_arrival_order_whatever_the_order_of_the_calls() {
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let case = format!("{v:?} {qos:?}");
            let broker = Broker::start().await.unwrap();
            let mut events = broker.events();
            let (c, _all) = Client::connect(
                session_opts(&broker, "m", v, Session::Persistent).with_manual_acks(true),
            )
            .await
            .unwrap();
            let mut sub = c.subscribe("t", qos).await.unwrap();
            let (feeder, _f) = Client::connect(opts(&broker, "feed", v)).await.unwrap();
            for i in 1..=3 {
                feeder
                    .publish("t", qos, false, format!("m:{i}"))
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            let mut m1 = next(&mut sub).await;
            let mut m2 = next(&mut sub).await;
            let mut m3 = next(&mut sub).await;
            assert!(m1.needs_ack() && m2.needs_ack() && m3.needs_ack(), "{case}");
            // The broker cuts the connection right after the first acknowledgement it
            // receives (PUBACK, or PUBREC for QoS 2), processing nothing after it.
            let first_ack = match qos {
                QoS::AtLeastOnce => PacketType::PubAck,
                _ => PacketType::PubRec,
            };
            broker
                .faults()
                .for_client("m")
                .close_after(Direction::In, first_ack, 1);
            m3.ack();
            m2.ack();
            assert!(!m3.needs_ack());
            // Nothing can go out before m1's acknowledgement.
            m1.ack();
            fault_fired(&mut events, "m").await;
            assert!(connected(&mut events, "m").await, "{case}: session kept");
            // Had m3's acknowledgement gone first, m1 would be sent again now. Only what
            // followed the first acknowledgement can come again (QoS 1, with DUP).
            feeder
                .publish("t", qos, false, "m:99")
                .await
                .unwrap()
                .await
                .unwrap();
            let mut again = Vec::new();
            loop {
                let mut m = next(&mut sub).await;
                m.ack();
                match ledger_id(m.payload()).unwrap() {
                    99 => break,
                    id => {
                        assert!(m.dup(), "{case}: resent with DUP");
                        again.push(id);
                    }
                }
            }
            assert!(
                !again.contains(&1),
                "{case}: m1 acknowledged first: {again:?}"
            );
            if qos == QoS::ExactlyOnce {
                assert!(again.is_empty(), "{case}: exactly once: {again:?}");
            }
            c.disconnect(Duration::from_secs(1)).await.unwrap();
            broker.shutdown().await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_unacknowledged_message_is_delivered_again_after_a_reconnection() {
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let broker = Broker::start().await.unwrap();
        let mut events = broker.events();
        let (c, _all) = Client::connect(
            session_opts(&broker, "m", v, Session::Persistent).with_manual_acks(true),
        )
        .await
        .unwrap();
        connected(&mut events, "m").await;
        let mut sub = c.subscribe("t", QoS::AtLeastOnce).await.unwrap();
        let (feeder, _f) = Client::connect(opts(&broker, "feed", v)).await.unwrap();
        feeder
            .publish("t", QoS::AtLeastOnce, false, "m:1")
            .await
            .unwrap()
            .await
            .unwrap();
        let first = next(&mut sub).await;
        assert!(!first.dup() && first.needs_ack());
        // Dropped without an acknowledgement: the broker still holds it.
        drop(first);
        assert!(
            broker
                .faults()
                .for_client("m")
                .disconnect_with(DisconnectReason::ServerBusy)
        );
        assert!(connected(&mut events, "m").await);
        let mut again = next(&mut sub).await;
        assert_eq!(again.payload().as_ref(), b"m:1", "{v:?}");
        assert!(again.dup(), "{v:?}");
        // Acknowledged now: the broker closes once it has the PUBACK, and does not send
        // the message a third time.
        broker
            .faults()
            .for_client("m")
            .close_after(Direction::In, PacketType::PubAck, 1);
        again.ack();
        fault_fired(&mut events, "m").await;
        assert!(connected(&mut events, "m").await);
        feeder
            .publish("t", QoS::AtLeastOnce, false, "m:2")
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(next(&mut sub).await.payload().as_ref(), b"m:2", "{v:?}");
        c.disconnect(Duration::from_secs(1)).await.unwrap();
        broker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_qos2_message_acknowledged_after_a_reconnection_completes_once() {
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let broker = Broker::start().await.unwrap();
        let mut events = broker.events();
        let (c, _all) = Client::connect(
            session_opts(&broker, "m", v, Session::Persistent).with_manual_acks(true),
        )
        .await
        .unwrap();
        connected(&mut events, "m").await;
        let mut sub = c.subscribe("t", QoS::ExactlyOnce).await.unwrap();
        let (feeder, _f) = Client::connect(opts(&broker, "feed", v)).await.unwrap();
        feeder
            .publish("t", QoS::ExactlyOnce, false, "m:1")
            .await
            .unwrap()
            .await
            .unwrap();
        let mut first = next(&mut sub).await;
        assert!(
            broker
                .faults()
                .for_client("m")
                .disconnect_with(DisconnectReason::ServerBusy)
        );
        assert!(connected(&mut events, "m").await);
        // The broker resends the PUBLISH; the client holds its identifier and does not
        // deliver it twice. Acknowledging the first delivery completes the flow.
        broker
            .faults()
            .for_client("m")
            .close_after(Direction::In, PacketType::PubComp, 1);
        first.ack();
        fault_fired(&mut events, "m").await; // PUBCOMP received
        assert!(connected(&mut events, "m").await);
        feeder
            .publish("t", QoS::ExactlyOnce, false, "m:2")
            .await
            .unwrap()
            .await
            .unwrap();
        let mut m = next(&mut sub).await;
        assert_eq!(m.payload().as_ref(), b"m:2", "{v:?}: delivered once");
        m.ack();
        c.disconnect(Duration::from_secs(1)).await.unwrap();
        broker.shutdown().await;
    }
}
