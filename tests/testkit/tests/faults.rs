//! Fault injection: each rule, over real sockets, with its effect shown deterministically.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::events::{closed_reason, fault_fired};
use common::{RawClient, V5, V311, pid, publish, within};
use mqtt_proto::{
    Connect, ConnectReason, Disconnect, DisconnectReason, Packet, PubAck, PubComp, PubRec, PubRel,
    QoS, QosPid,
};
use mqtt_testkit::{Broker, CloseReason, Direction, Event, Fault, PacketType};
use tokio::time::Instant;

#[tokio::test]
async fn close_after_receiving_the_nth_publish_routes_it_but_acks_nothing() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut sub = RawClient::connect(broker.local_addr(), V5, "sub").await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    broker
        .faults()
        .for_client("c1")
        .close_after(Direction::In, PacketType::Publish, 2);

    let mut c1 = RawClient::connect(broker.local_addr(), V311, "c1").await;
    // The first PUBLISH is not the second: acknowledged as usual.
    c1.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"one"))
        .await;
    c1.send(publish("t", QosPid::AtLeastOnce(pid(2)), b"two"))
        .await;
    // Cut right after it: no PUBACK, no DISCONNECT.
    assert_eq!(c1.closed().await, vec![]);
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::CloseAfter {
            direction: Direction::In,
            packet: PacketType::Publish,
            nth: 2
        }
    );
    assert_eq!(closed_reason(&mut events).await, CloseReason::Fault);
    // Both were routed.
    assert_eq!(&sub.recv_publish().await.payload[..], b"one");
    assert_eq!(&sub.recv_publish().await.payload[..], b"two");
    broker.shutdown().await;
}

#[tokio::test]
async fn close_after_sending_pubrec_fires_once() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c1")
        .close_after(Direction::Out, PacketType::PubRec, 1);
    let mut connect = Connect::new(V311, "c1");
    connect.keep_alive = 0;
    connect.clean_start = false;
    let (mut c1, _) = RawClient::connect_with(broker.local_addr(), connect.clone()).await;
    c1.send(publish("t", QosPid::ExactlyOnce(pid(7)), b"x"))
        .await;
    // The PUBREC goes out, then nothing: the connection is closed.
    assert_eq!(c1.closed().await, vec![Packet::PubRec(PubRec::new(pid(7)))]);
    assert_eq!(closed_reason(&mut events).await, CloseReason::Fault);

    // The rule is spent: the flow completes on the next connection.
    let (mut c1, ack) = RawClient::connect_with(broker.local_addr(), connect).await;
    assert!(ack.session_present);
    c1.send(PubRel::new(pid(7))).await;
    assert_eq!(c1.recv().await, Packet::PubComp(PubComp::new(pid(7))));
    c1.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn withhold_drops_the_next_ack_only() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c1")
        .withhold(PacketType::PubAck);
    let mut c1 = RawClient::connect(broker.local_addr(), V5, "c1").await;
    c1.send(publish("t", QosPid::AtLeastOnce(pid(1)), b"x"))
        .await;
    // The PINGRESP to a later PINGREQ comes first: the PUBACK was never sent.
    c1.ping().await;
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::Withhold(PacketType::PubAck)
    );
    c1.send(publish("t", QosPid::AtLeastOnce(pid(2)), b"y"))
        .await;
    assert_eq!(c1.recv().await, Packet::PubAck(PubAck::new(pid(2))));
    broker.shutdown().await;
}

#[tokio::test]
async fn refuse_connect_answers_the_chosen_code_then_closes() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c1")
        .refuse_connect(ConnectReason::NotAuthorized);
    let (mut c1, ack) = RawClient::connect_with(broker.local_addr(), Connect::new(V5, "c1")).await;
    assert_eq!(ack.reason, ConnectReason::NotAuthorized);
    assert!(!ack.session_present);
    assert_eq!(c1.closed().await, vec![]);
    assert_eq!(
        closed_reason(&mut events).await,
        CloseReason::Refused(ConnectReason::NotAuthorized)
    );

    // 3.1.1 has no Server busy: its clients get return code 3.
    broker
        .faults()
        .for_client("c1")
        .refuse_connect(ConnectReason::ServerBusy);
    let (mut c1, ack) =
        RawClient::connect_with(broker.local_addr(), Connect::new(V311, "c1")).await;
    assert_eq!(ack.reason, ConnectReason::ServerUnavailable);
    assert_eq!(c1.closed().await, vec![]);

    // Spent: the next CONNECT is accepted.
    let mut c1 = RawClient::connect(broker.local_addr(), V5, "c1").await;
    c1.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn session_present_is_forced_once() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    broker.faults().for_client("c1").session_present(true);
    let (c1, ack) = RawClient::connect_with(broker.local_addr(), Connect::new(V311, "c1")).await;
    assert_eq!(ack.reason, ConnectReason::Success);
    assert!(ack.session_present, "forced although the session is new");
    assert_eq!(
        within(events.wait_for(|e| matches!(e, Event::Connected { .. }))).await,
        Some(Event::Connected {
            client_id: "c1".into(),
            protocol: V311,
            session_present: true
        })
    );
    drop(c1);
    closed_reason(&mut events).await;
    let (_c1, ack) = RawClient::connect_with(broker.local_addr(), Connect::new(V311, "c1")).await;
    assert!(!ack.session_present);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn go_silent_keeps_the_socket_open_and_answers_nothing() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c1")
        .go_silent_after(Direction::In, PacketType::Subscribe, 1);
    let mut connect = Connect::new(V311, "c1");
    connect.keep_alive = 2;
    let (mut c1, _) = RawClient::connect_with(broker.local_addr(), connect).await;
    c1.send(mqtt_proto::Subscribe::new(
        pid(1),
        vec![mqtt_proto::SubscribeFilter::new(
            common::filter("t"),
            QoS::AtMostOnce,
        )],
    ))
    .await;
    assert!(matches!(
        fault_fired(&mut events).await,
        Fault::GoSilentAfter { .. }
    ));
    c1.send(Packet::PingReq).await;
    // Well past the 3 s keep alive deadline: no SUBACK, no PINGRESP, no close.
    let start = Instant::now();
    let waited = tokio::time::timeout(Duration::from_secs(10), c1.next()).await;
    assert!(waited.is_err(), "got {waited:?}");
    assert!(start.elapsed() >= Duration::from_secs(10));
    assert!(events.try_next().is_none());
    // The client gives up; the broker notices.
    drop(c1);
    assert_eq!(
        closed_reason(&mut events).await,
        CloseReason::ConnectionLost
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn disconnect_with_closes_the_live_connection_with_that_reason() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    assert!(
        !broker
            .faults()
            .for_client("c1")
            .disconnect_with(DisconnectReason::ServerBusy),
        "not connected"
    );
    let mut c1 = RawClient::connect(broker.local_addr(), V5, "c1").await;
    assert!(
        broker
            .faults()
            .for_client("c1")
            .disconnect_with(DisconnectReason::ServerBusy)
    );
    assert_eq!(
        c1.closed().await,
        vec![Packet::from(Disconnect::new(DisconnectReason::ServerBusy))]
    );
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::DisconnectWith(DisconnectReason::ServerBusy)
    );
    assert_eq!(closed_reason(&mut events).await, CloseReason::Fault);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn delay_holds_the_next_ack_back_for_the_duration() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c1")
        .delay(PacketType::PubAck, Duration::from_secs(5));
    let mut c1 = RawClient::connect(broker.local_addr(), V5, "c1").await;
    let start = Instant::now();
    c1.send(publish("t", QosPid::AtLeastOnce(pid(1)), b"x"))
        .await;
    // Later packets overtake the held one.
    c1.ping().await;
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::Delay {
            packet: PacketType::PubAck,
            by: Duration::from_secs(5)
        }
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(c1.recv().await, Packet::PubAck(PubAck::new(pid(1))));
    assert!(start.elapsed() >= Duration::from_secs(5));
    // Spent: the next one is immediate.
    let start = Instant::now();
    c1.publish(publish("t", QosPid::AtLeastOnce(pid(2)), b"y"))
        .await;
    assert!(start.elapsed() < Duration::from_secs(1));
    broker.shutdown().await;
}

#[tokio::test]
async fn send_duplicate_publish_resends_the_next_qos1_publish_with_dup() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut c1 = RawClient::connect(broker.local_addr(), V311, "c1").await;
    c1.subscribe(1, "t", QoS::ExactlyOnce).await;
    broker.faults().for_client("c1").send_duplicate_publish();
    let mut publisher = RawClient::connect(broker.local_addr(), V5, "pub").await;
    // QoS 0 is not counted.
    publisher
        .publish(publish("t", QosPid::AtMostOnce, b"zero"))
        .await;
    publisher
        .publish(publish("t", QosPid::AtLeastOnce(pid(9)), b"one"))
        .await;
    let first = c1.recv_publish().await;
    assert_eq!(&first.payload[..], b"zero");
    assert!(!first.dup);
    let original = c1.recv_publish().await;
    assert_eq!(&original.payload[..], b"one");
    assert!(!original.dup);
    let duplicate = c1.recv_publish().await;
    assert!(duplicate.dup);
    assert_eq!(duplicate.qos, original.qos);
    assert_eq!(duplicate.payload, original.payload);
    assert_eq!(fault_fired(&mut events).await, Fault::DuplicatePublish);
    let QosPid::AtLeastOnce(id) = original.qos else {
        panic!("expected QoS 1, got {:?}", original.qos);
    };
    c1.send(PubAck::new(id)).await;
    c1.ping().await;
    // Spent: the next one comes once.
    publisher
        .publish(publish("t", QosPid::AtLeastOnce(pid(10)), b"two"))
        .await;
    assert!(!c1.recv_publish().await.dup);
    c1.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn send_unsolicited_writes_an_ack_with_an_unknown_packet_id() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    assert!(
        !broker
            .faults()
            .for_client("c1")
            .send_unsolicited(PubAck::new(pid(999))),
        "not connected"
    );
    let mut c1 = RawClient::connect(broker.local_addr(), V5, "c1").await;
    assert!(
        broker
            .faults()
            .for_client("c1")
            .send_unsolicited(PubAck::new(pid(999)))
    );
    assert_eq!(c1.recv().await, Packet::PubAck(PubAck::new(pid(999))));
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::Unsolicited(PacketType::PubAck)
    );
    // The connection goes on.
    c1.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"x"))
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn send_raw_writes_an_oversize_packet_the_encoder_would_refuse() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut connect = Connect::new(V5, "c1");
    connect.keep_alive = 0;
    connect.properties.maximum_packet_size = std::num::NonZeroU32::new(1024);
    let (mut c1, _) = RawClient::connect_with(broker.local_addr(), connect).await;
    let big = publish("t", QosPid::AtMostOnce, &[7; 2000]);
    // Encoded for the client's Maximum Packet Size: not sent.
    assert!(
        broker
            .faults()
            .for_client("c1")
            .send_unsolicited(big.clone())
    );
    c1.ping().await;
    // Built by the test, written as is.
    let mut bytes = bytes::BytesMut::new();
    mqtt_proto::Encoder::new(V5)
        .encode(&big.clone().into(), &mut bytes)
        .unwrap();
    let len = bytes.len();
    assert!(len > 1024);
    assert!(broker.faults().for_client("c1").send_raw(bytes.freeze()));
    assert_eq!(c1.recv_publish().await, big);
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::Unsolicited(PacketType::Publish)
    );
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::UnsolicitedRaw { len }
    );
    broker.shutdown().await;
}
