//! Hostile input: truncated and malformed packets, huge announcements, deep topics, many
//! subscriptions, a CONNECT flood. Each abused connection is dealt with, and a well-behaved
//! client, connected before the abuse, is still served after it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::events::disconnected;
use common::served::{good_client, still_served};
use common::{RawClient, V5, V311, filter, pid, publish, suback_failure, within};
use mqtt_proto::{
    Connect, ConnectReason, Disconnect, DisconnectReason, Packet, PubAck, QoS, QosPid,
    SubAckReason, Subscribe, SubscribeFilter, TopicName,
};
use mqtt_testkit::{Broker, CloseReason, Event};
use tokio::time::Instant;

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
        disconnected(&mut events, "bad").await,
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
        disconnected(&mut events, "bad").await,
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
        disconnected(&mut events, "bad").await,
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
    // Above the default limit of 1,000 levels: raised for this test (one more level is
    // published below).
    let broker = Broker::builder()
        .max_topic_levels(10_001)
        .start()
        .await
        .unwrap();
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
        .map(|i| SubscribeFilter::new(filter(&format!("s/{i}")), QoS::AtLeastOnce))
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

#[tokio::test]
async fn subscriptions_beyond_the_maximum_are_refused_with_quota_exceeded() {
    let broker = Broker::builder()
        .max_subscriptions(3)
        .start()
        .await
        .unwrap();
    let mut good = good_client(&broker).await;
    for version in [V311, V5] {
        let refused = suback_failure(version, SubAckReason::QuotaExceeded);
        let mut c = RawClient::connect(broker.local_addr(), version, "greedy").await;
        let subscriptions = ["q/1", "q/2", "q/1", "q/3", "q/4", "q/5"]
            .iter()
            .map(|f| SubscribeFilter::new(filter(f), QoS::AtLeastOnce))
            .collect();
        c.send(Subscribe::new(pid(1), subscriptions)).await;
        // Replacing q/1 does not count; q/4 and q/5 are one too many.
        assert_eq!(
            c.suback().await.reasons,
            vec![
                SubAckReason::GrantedQoS1,
                SubAckReason::GrantedQoS1,
                SubAckReason::GrantedQoS1,
                SubAckReason::GrantedQoS1,
                refused,
                refused,
            ]
        );
        // A replacement is still granted at the limit; after an UNSUBSCRIBE there is room.
        let ack = c.subscribe(2, "q/2", QoS::AtMostOnce).await;
        assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS0]);
        c.unsubscribe(3, &["q/3"]).await;
        let ack = c.subscribe(4, "q/4", QoS::AtMostOnce).await;
        assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS0]);
        let ack = c.subscribe(5, "q/5", QoS::AtMostOnce).await;
        assert_eq!(ack.reasons, vec![refused]);
        // The refused filter gets nothing; the granted one does.
        let mut publisher = RawClient::connect(broker.local_addr(), V5, "pub").await;
        publisher
            .publish(publish("q/5", QosPid::AtMostOnce, b"refused"))
            .await;
        publisher
            .publish(publish("q/4", QosPid::AtMostOnce, b"granted"))
            .await;
        assert_eq!(&c.recv_publish().await.payload[..], b"granted");
    }
    still_served(&mut good, 1).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_maximum_are_refused() {
    let broker = Broker::builder().max_connections(2).start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut good = good_client(&broker).await;
    let second = RawClient::connect(addr, V311, "second").await;

    for (version, code) in [
        (V5, ConnectReason::QuotaExceeded),
        (V311, ConnectReason::ServerUnavailable),
    ] {
        let mut connect = Connect::new(version, "third");
        connect.keep_alive = 0;
        let (mut third, ack) = RawClient::connect_with(addr, connect).await;
        assert_eq!(ack.reason, code);
        assert!(third.closed().await.is_empty());
        // A refused CONNECT leaves the connection without a client identifier.
        let refused = Event::Disconnected {
            client_id: None,
            reason: CloseReason::Refused(code),
        };
        within(events.wait_for(|e| *e == refused)).await.unwrap();
    }
    // Taking over a connected client's session is not one more client.
    let mut again = RawClient::connect(addr, V311, "second").await;
    again.ping().await;
    // When one leaves, there is room again.
    drop(second);
    drop(again);
    // Both connections of "second" end (in either order): the first taken over, the
    // second lost.
    let mut reasons = vec![
        disconnected(&mut events, "second").await,
        disconnected(&mut events, "second").await,
    ];
    reasons.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        reasons,
        [CloseReason::ConnectionLost, CloseReason::TakenOver]
    );
    let mut third = RawClient::connect(addr, V5, "third").await;
    third.ping().await;
    still_served(&mut good, 1).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn topics_deeper_than_the_maximum_are_refused() {
    let broker = Broker::builder().max_topic_levels(4).start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut good = good_client(&broker).await;
    let mut sub = RawClient::connect(addr, V5, "sub").await;

    // Filters: 4 levels granted, 5 refused (5.0: 0x8F; 3.x: 0x80), in one SUBSCRIBE.
    sub.send(Subscribe::new(
        pid(1),
        vec![
            SubscribeFilter::new(filter("a/+/c/#"), QoS::AtMostOnce),
            SubscribeFilter::new(filter("a/b/c/d/#"), QoS::AtMostOnce),
        ],
    ))
    .await;
    assert_eq!(
        sub.suback().await.reasons,
        vec![SubAckReason::GrantedQoS0, SubAckReason::TopicFilterInvalid]
    );
    let mut sub3 = RawClient::connect(addr, V311, "sub3").await;
    let ack = sub3.subscribe(1, "a/b/c/d/e", QoS::AtMostOnce).await;
    assert_eq!(ack.reasons, vec![SubAckReason::UnspecifiedError]);

    // A PUBLISH at the limit is routed; one level more closes the connection.
    for version in [V5, V311] {
        let id = format!("deep-{version:?}");
        let mut publisher = RawClient::connect(addr, version, &id).await;
        publisher
            .publish(publish("a/b/c/d", QosPid::AtMostOnce, b"ok"))
            .await;
        assert_eq!(sub.recv_publish().await.topic.as_str(), "a/b/c/d");
        publisher
            .send(publish("a/b/c/d/e", QosPid::AtLeastOnce(pid(1)), b"deep"))
            .await;
        let got = publisher.closed().await;
        if version.is_v5() {
            match &got[..] {
                [Packet::Disconnect(d)] => {
                    assert_eq!(d.reason, DisconnectReason::TopicNameInvalid);
                }
                other => panic!("expected DISCONNECT 0x90, got {other:?}"),
            }
        } else {
            assert!(got.is_empty(), "{got:?}");
        }
        assert!(matches!(
            disconnected(&mut events, &id).await,
            CloseReason::LimitExceeded(_)
        ));
    }

    // A will topic deeper than the limit refuses the CONNECT.
    let mut connect = Connect::new(V5, "deep-will");
    connect.will = Some(mqtt_proto::Will::new(
        TopicName::new("w/x/y/z/deep").unwrap(),
        &b"will"[..],
    ));
    let (mut c, ack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(ack.reason, ConnectReason::TopicNameInvalid);
    assert!(c.closed().await.is_empty());
    sub.ping().await;
    still_served(&mut good, 1).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn the_default_caps_refuse_a_thousand_and_one_levels() {
    let broker = Broker::start().await.unwrap();
    let mut c = RawClient::connect(broker.local_addr(), V5, "c").await;
    let at_limit = vec!["+"; 1_000].join("/");
    let beyond = vec!["+"; 1_001].join("/");
    c.send(Subscribe::new(
        pid(1),
        vec![
            SubscribeFilter::new(filter(&at_limit), QoS::AtMostOnce),
            SubscribeFilter::new(filter(&beyond), QoS::AtMostOnce),
        ],
    ))
    .await;
    assert_eq!(
        c.suback().await.reasons,
        vec![SubAckReason::GrantedQoS0, SubAckReason::TopicFilterInvalid]
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_hold_up_shutdown() {
    let broker = Broker::start().await.unwrap();
    // Subscribes, then never reads again: the broker's writes to it block once the
    // socket buffers are full.
    let mut stuck = RawClient::connect(broker.local_addr(), V311, "stuck").await;
    stuck.subscribe(1, "flood", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.local_addr(), V311, "publisher").await;
    let payload = bytes::Bytes::from(vec![b'x'; 256 * 1024]);
    for _ in 0..200 {
        publisher
            .send(mqtt_proto::Publish::new(
                TopicName::new("flood").unwrap(),
                QosPid::AtMostOnce,
                payload.clone(),
            ))
            .await;
    }
    publisher.ping().await;
    // 50 MB queued for a reader that does not read: the write to it cannot finish.
    tokio::time::sleep(Duration::from_millis(200)).await;
    within(broker.shutdown()).await;
    drop(stuck);
}
