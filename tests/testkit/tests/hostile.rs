//! Hostile input: truncated and malformed packets, huge announcements, deep topics, many
//! subscriptions, a CONNECT flood. Each abused connection is dealt with, and a well-behaved
//! client, connected before the abuse, is still served after it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{RawClient, V5, V311, filter, pid, publish, within};
use mqtt_proto::{
    Connect, ConnectReason, Disconnect, DisconnectReason, Packet, PubAck, QoS, QosPid,
    SubAckReason, Subscribe, Subscription, TopicName,
};
use mqtt_testkit::{Broker, CloseReason, Event, Events};
use tokio::time::Instant;

/// A client that keeps to the rules, subscribed to its own topic at QoS 1.
async fn good_client(broker: &Broker) -> RawClient {
    let mut good = RawClient::connect(broker.local_addr(), V5, "good").await;
    good.subscribe(1, "good", QoS::AtLeastOnce).await;
    good
}

/// A full QoS 1 round trip through the broker: publish, PUBACK, delivery, PUBACK back.
async fn still_served(good: &mut RawClient, n: u16) {
    good.send(publish("good", QosPid::AtLeastOnce(pid(n)), b"still here"))
        .await;
    assert_eq!(good.recv().await, Packet::PubAck(PubAck::new(pid(n))));
    let delivered = good.recv_publish().await;
    assert_eq!(&delivered.payload[..], b"still here");
    let QosPid::AtLeastOnce(id) = delivered.qos else {
        panic!("expected QoS 1, got {:?}", delivered.qos);
    };
    good.send(PubAck::new(id)).await;
    good.ping().await;
}

async fn closed_reason(events: &mut Events, id: &str) -> CloseReason {
    let id = Some(id.to_owned());
    match within(
        events.wait_for(|e| matches!(e, Event::Disconnected { client_id, .. } if *client_id == id)),
    )
    .await
    {
        Some(Event::Disconnected { reason, .. }) => reason,
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_truncated_packet_then_silence_times_out() {
    let broker = Broker::builder()
        .packet_timeout(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let mut good = good_client(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr(), V311, "bad").await;
    // A PUBLISH announcing 100 bytes, of which 3 arrive.
    bad.send_raw(&[0x30, 100, 0x00, 0x01, b't']).await;
    let start = Instant::now();
    assert_eq!(bad.closed().await, vec![]);
    assert!(start.elapsed() >= Duration::from_secs(5));
    assert_eq!(
        closed_reason(&mut events, "bad").await,
        CloseReason::PacketTimeout
    );
    still_served(&mut good, 1).await;

    // A packet that completes in time is served, however slowly its bytes come.
    let mut slow = RawClient::connect(broker.local_addr(), V311, "slow").await;
    slow.send_raw(&[0xC0]).await; // PINGREQ, first byte
    tokio::time::sleep(Duration::from_secs(4)).await;
    slow.send_raw(&[0x00]).await;
    assert_eq!(slow.recv().await, Packet::PingResp);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_five_byte_remaining_length_is_malformed() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut good = good_client(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr(), V5, "bad").await;
    bad.send_raw(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).await;
    assert_eq!(
        bad.closed().await,
        vec![Packet::from(Disconnect::new(
            DisconnectReason::MalformedPacket
        ))]
    );
    assert!(matches!(
        closed_reason(&mut events, "bad").await,
        CloseReason::ProtocolViolation(_)
    ));
    still_served(&mut good, 1).await;
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn two_hundred_fifty_six_mib_announced_is_refused_from_the_fixed_header() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut good = good_client(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr(), V5, "bad").await;
    let start = Instant::now();
    // Remaining length 268,435,455 (the largest there is), and nothing after it.
    bad.send_raw(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]).await;
    assert_eq!(
        bad.closed().await,
        vec![Packet::from(Disconnect::new(
            DisconnectReason::PacketTooLarge
        ))]
    );
    // At once: no timer ran out (on the paused clock, any wait would show here).
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(matches!(
        closed_reason(&mut events, "bad").await,
        CloseReason::ProtocolViolation(_)
    ));
    still_served(&mut good, 1).await;

    // Before CONNECT as well.
    let mut bad = RawClient::open(broker.local_addr(), V311).await;
    bad.send_raw(&[0x10, 0xFF, 0xFF, 0xFF, 0x7F]).await;
    assert_eq!(bad.closed().await, vec![]);
    assert_eq!(start.elapsed(), Duration::ZERO);
    still_served(&mut good, 2).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn ten_thousand_topic_levels_are_routed() {
    let broker = Broker::start().await.unwrap();
    let mut good = good_client(&broker).await;
    let deep = vec!["a"; 10_000].join("/");
    let deep_filter = vec!["+"; 10_000].join("/");
    let mut sub = RawClient::connect(broker.local_addr(), V311, "sub").await;
    let ack = sub.subscribe(1, &deep_filter, QoS::AtLeastOnce).await;
    assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS1]);
    let mut publisher = RawClient::connect(broker.local_addr(), V5, "pub").await;
    let mut p = publish("x", QosPid::AtLeastOnce(pid(1)), b"deep");
    p.topic = TopicName::new(deep.as_str()).unwrap();
    publisher.publish(p).await;
    let got = sub.recv_publish().await;
    assert_eq!(got.topic.as_str(), deep);
    // One level more does not match the filter; one less neither.
    let mut p = publish("x", QosPid::AtLeastOnce(pid(2)), b"deeper");
    p.topic = TopicName::new(format!("{deep}/a")).unwrap();
    publisher.publish(p).await;
    let QosPid::AtLeastOnce(id) = got.qos else {
        panic!("expected QoS 1");
    };
    sub.send(PubAck::new(id)).await;
    sub.ping().await;
    still_served(&mut good, 1).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn five_thousand_subscriptions_from_one_client_are_served() {
    let broker = Broker::start().await.unwrap();
    let mut good = good_client(&broker).await;
    let mut many = RawClient::connect(broker.local_addr(), V5, "many").await;
    let subscriptions: Vec<_> = (0..5_000)
        .map(|i| Subscription::new(filter(&format!("s/{i}")), QoS::AtLeastOnce))
        .collect();
    many.send(Subscribe::new(pid(1), subscriptions)).await;
    let ack = many.suback().await;
    assert_eq!(ack.reasons.len(), 5_000);
    assert!(ack.reasons.iter().all(|r| *r == SubAckReason::GrantedQoS1));
    let mut publisher = RawClient::connect(broker.local_addr(), V311, "pub").await;
    publisher
        .publish(publish("s/4999", QosPid::AtLeastOnce(pid(1)), b"last"))
        .await;
    publisher
        .publish(publish("s/0", QosPid::AtLeastOnce(pid(2)), b"first"))
        .await;
    for want in [&b"last"[..], b"first"] {
        let got = many.recv_publish().await;
        assert_eq!(&got.payload[..], want);
        let QosPid::AtLeastOnce(id) = got.qos else {
            panic!("expected QoS 1");
        };
        many.send(PubAck::new(id)).await;
    }
    many.ping().await;
    still_served(&mut good, 1).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn two_hundred_connects_in_a_burst_are_all_answered() {
    let broker = Broker::start().await.unwrap();
    let mut good = good_client(&broker).await;
    let mut clients = Vec::new();
    for _ in 0..200 {
        clients.push(RawClient::open(broker.local_addr(), V311).await);
    }
    // Every CONNECT is on the wire before any CONNACK is read.
    for (i, c) in clients.iter_mut().enumerate() {
        let mut connect = Connect::new(V311, format!("flood-{i}"));
        connect.keep_alive = 0;
        c.send(connect).await;
    }
    for c in &mut clients {
        assert_eq!(c.connack().await.reason, ConnectReason::Success);
    }
    still_served(&mut good, 1).await;
    for c in &mut clients {
        c.ping().await;
    }
    broker.shutdown().await;
}
