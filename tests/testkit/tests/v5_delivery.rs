//! 5.0 delivery features: Subscription Identifiers, the broker's Receive Maximum and Maximum
//! QoS, topic aliases assigned by the broker, will properties, and message expiry of retained
//! and inflight messages. Timed tests run on a paused tokio clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroU16;
use std::time::Duration;

use common::events::disconnected;
use common::{
    HOUR, RawClient, V5, V311, filter, open, pid, publish, refused_with, session, topic, within,
};
use mqtt_proto::{
    Connect, ConnectReason, Disconnect, DisconnectReason, Packet, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS, QosPid, SubAckReason, Subscribe, SubscribeFilter, SubscriptionId, UserProperty,
    Will,
};
use mqtt_testkit::{Broker, CloseReason, Event};

fn sid(n: u32) -> SubscriptionId {
    SubscriptionId::new(n).unwrap()
}

/// Subscribe to `filters` in one SUBSCRIBE carrying `id`; returns the SUBACK codes.
async fn subscribe_with_id(
    c: &mut RawClient,
    packet_id: u16,
    id: Option<u32>,
    filters: &[(&str, QoS)],
) -> Vec<SubAckReason> {
    let mut s = Subscribe::new(
        pid(packet_id),
        filters
            .iter()
            .map(|(f, q)| SubscribeFilter::new(filter(f), *q))
            .collect(),
    );
    s.properties.subscription_identifier = id.map(sid);
    c.send(s).await;
    c.suback().await.reasons
}

fn ids(p: &Publish) -> Vec<u32> {
    let mut ids: Vec<u32> = p
        .properties()
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    ids.sort_unstable();
    ids
}

// --- Subscription Identifiers ---

#[tokio::test]
async fn subscription_identifiers_are_available_by_default() {
    let broker = Broker::start().await.unwrap();
    let (_c, ack) = open(broker.local_addr(), Connect::new(V5, "c")).await;
    assert_eq!(ack.properties.subscription_identifier_available, Some(true));
    broker.shutdown().await;
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_one_copy_with_every_identifier() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    subscribe_with_id(&mut sub, 1, Some(1), &[("a/+", QoS::AtMostOnce)]).await;
    subscribe_with_id(&mut sub, 2, Some(2), &[("a/b", QoS::AtLeastOnce)]).await;
    subscribe_with_id(&mut sub, 3, None, &[("#", QoS::AtMostOnce)]).await;
    // The largest identifier there is.
    subscribe_with_id(
        &mut sub,
        4,
        Some(SubscriptionId::MAX),
        &[("x/#", QoS::AtMostOnce)],
    )
    .await;

    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("a/b", QosPid::AtLeastOnce(pid(1)), b"ab"))
        .await;
    // One copy at the highest QoS, carrying both identifiers [MQTT-3.3.4-2..4].
    let got = sub.recv_publish().await;
    assert_eq!(got.payload, &b"ab"[..]);
    assert_eq!(got.qos.qos(), QoS::AtLeastOnce);
    assert_eq!(ids(&got), vec![1, 2]);
    sub.send(PubAck::new(got.qos.packet_id().unwrap())).await;

    p.publish(publish("a/c", QosPid::AtMostOnce, b"ac")).await;
    let got = sub.recv_publish().await;
    assert_eq!(ids(&got), vec![1]);
    // Only the subscription without an identifier matches: none.
    p.publish(publish("z", QosPid::AtMostOnce, b"z")).await;
    let got = sub.recv_publish().await;
    assert_eq!(got.payload, &b"z"[..]);
    assert!(got.properties().subscription_identifiers.is_empty());
    p.publish(publish("x/y", QosPid::AtMostOnce, b"xy")).await;
    assert_eq!(ids(&sub.recv_publish().await), vec![SubscriptionId::MAX]);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_replaced_subscription_takes_the_new_identifier_and_unsubscribe_drops_it() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    let mut p = RawClient::connect(addr, V5, "p").await;

    subscribe_with_id(&mut sub, 1, Some(5), &[("t", QoS::AtMostOnce)]).await;
    p.publish(publish("t", QosPid::AtMostOnce, b"1")).await;
    assert_eq!(ids(&sub.recv_publish().await), vec![5]);

    // Replaced [MQTT-3.8.4-3]: a new identifier, then none at all.
    subscribe_with_id(&mut sub, 2, Some(6), &[("t", QoS::AtMostOnce)]).await;
    p.publish(publish("t", QosPid::AtMostOnce, b"2")).await;
    assert_eq!(ids(&sub.recv_publish().await), vec![6]);
    subscribe_with_id(&mut sub, 3, None, &[("t", QoS::AtMostOnce)]).await;
    p.publish(publish("t", QosPid::AtMostOnce, b"3")).await;
    assert!(ids(&sub.recv_publish().await).is_empty());

    // Unsubscribed, then subscribed again without one: the old identifier is gone.
    subscribe_with_id(&mut sub, 4, Some(7), &[("t", QoS::AtMostOnce)]).await;
    sub.unsubscribe(5, &["t"]).await;
    subscribe_with_id(&mut sub, 6, None, &[("t", QoS::AtMostOnce)]).await;
    p.publish(publish("t", QosPid::AtMostOnce, b"4")).await;
    assert!(ids(&sub.recv_publish().await).is_empty());
    broker.shutdown().await;
}

#[tokio::test]
async fn one_identifier_applies_to_every_filter_of_its_subscribe() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    let codes = subscribe_with_id(
        &mut sub,
        1,
        Some(9),
        &[("a", QoS::AtMostOnce), ("b", QoS::AtMostOnce)],
    )
    .await;
    assert_eq!(codes, vec![SubAckReason::GrantedQoS0; 2]);
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("a", QosPid::AtMostOnce, b"a")).await;
    p.publish(publish("b", QosPid::AtMostOnce, b"b")).await;
    assert_eq!(ids(&sub.recv_publish().await), vec![9]);
    assert_eq!(ids(&sub.recv_publish().await), vec![9]);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_shared_subscription_copy_carries_its_own_identifier() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    subscribe_with_id(&mut sub, 1, Some(1), &[("t", QoS::AtMostOnce)]).await;
    subscribe_with_id(&mut sub, 2, Some(2), &[("$share/g/t", QoS::AtMostOnce)]).await;
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("t", QosPid::AtMostOnce, b"x")).await;
    // Two PUBLISH packets, each with the identifier of its subscription [MQTT-3.3.4-5].
    let mut got = vec![
        ids(&sub.recv_publish().await),
        ids(&sub.recv_publish().await),
    ];
    got.sort();
    assert_eq!(got, vec![vec![1], vec![2]]);
    broker.shutdown().await;
}

#[tokio::test]
async fn retained_messages_sent_on_subscribe_carry_the_subscriptions_identifier() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut p = RawClient::connect(addr, V5, "p").await;
    let mut r = publish("r/1", QosPid::AtMostOnce, b"kept");
    r.retain = true;
    p.publish(r).await;
    p.ping().await;

    let mut sub = RawClient::connect(addr, V5, "sub").await;
    subscribe_with_id(&mut sub, 1, Some(42), &[("r/+", QoS::AtMostOnce)]).await;
    let got = sub.recv_publish().await;
    assert!(got.retain);
    assert_eq!(ids(&got), vec![42]);
    broker.shutdown().await;
}

#[tokio::test]
async fn subscription_identifier_zero_is_a_protocol_error() {
    let broker = Broker::start().await.unwrap();
    let mut c = RawClient::connect(broker.local_addr(), V5, "c").await;
    // SUBSCRIBE id 1, properties: Subscription Identifier 0; filter "t", QoS 0. Written raw:
    // the codec cannot encode it.
    c.send_raw(&[
        0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b't', 0x00,
    ])
    .await;
    refused_with(&mut c, DisconnectReason::ProtocolError).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_client_publish_with_a_subscription_identifier_is_a_protocol_error() {
    let broker = Broker::start().await.unwrap();
    let mut c = RawClient::connect(broker.local_addr(), V5, "c").await;
    let mut p = publish("t", QosPid::AtMostOnce, b"x");
    p.properties_mut().subscription_identifiers = vec![sid(1)];
    c.send(p).await;
    refused_with(&mut c, DisconnectReason::ProtocolError).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn v311_subscribers_get_no_identifiers() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut sub = RawClient::connect(addr, V311, "sub3").await;
    sub.subscribe(1, "t", QoS::AtMostOnce).await;
    let mut sub5 = RawClient::connect(addr, V5, "sub5").await;
    subscribe_with_id(&mut sub5, 1, Some(3), &[("t", QoS::AtMostOnce)]).await;
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("t", QosPid::AtMostOnce, b"x")).await;
    assert_eq!(ids(&sub5.recv_publish().await), vec![3]);
    assert_eq!(sub.recv_publish().await.payload, &b"x"[..]);
    broker.shutdown().await;
}

// --- Receive Maximum ---

#[tokio::test]
async fn receive_maximum_is_not_announced_by_default() {
    let broker = Broker::start().await.unwrap();
    let (_c, ack) = open(broker.local_addr(), Connect::new(V5, "c")).await;
    assert_eq!(ack.properties.receive_maximum, None);
    assert_eq!(ack.properties.maximum_qos, None);
    broker.shutdown().await;
}

#[tokio::test]
async fn exceeding_the_receive_maximum_is_disconnected_with_0x93() {
    let broker = Broker::builder()
        .receive_maximum(NonZeroU16::new(2).unwrap())
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let (mut c, ack) = open(broker.local_addr(), Connect::new(V5, "c")).await;
    assert_eq!(ack.properties.receive_maximum, NonZeroU16::new(2));

    // Two QoS 2 PUBLISHes whose PUBREL is not sent: both still count.
    for id in [1, 2] {
        c.send(publish("t", QosPid::ExactlyOnce(pid(id)), b"x"))
            .await;
        assert_eq!(c.recv().await, Packet::PubRec(PubRec::new(pid(id))));
    }
    // A resent one is not counted twice; QoS 0 never counts.
    let mut again = publish("t", QosPid::ExactlyOnce(pid(2)), b"x");
    again.dup = true;
    c.send(again).await;
    assert_eq!(c.recv().await, Packet::PubRec(PubRec::new(pid(2))));
    c.publish(publish("t", QosPid::AtMostOnce, b"x")).await;
    c.ping().await;
    // A third one: over the maximum [MQTT-3.3.4-7].
    c.send(publish("t", QosPid::AtLeastOnce(pid(3)), b"x"))
        .await;
    refused_with(&mut c, DisconnectReason::ReceiveMaximumExceeded).await;
    assert!(matches!(
        disconnected(&mut events, "c").await,
        CloseReason::ProtocolViolation(_)
    ));
    broker.shutdown().await;
}

#[tokio::test]
async fn acknowledged_publishes_free_the_receive_maximum() {
    let broker = Broker::builder()
        .receive_maximum(NonZeroU16::new(1).unwrap())
        .start()
        .await
        .unwrap();
    let (mut c, _) = open(broker.local_addr(), session(V5, "c", true, HOUR)).await;
    // QoS 1 is acknowledged at once; QoS 2 counts until its PUBCOMP.
    for id in 1..=3 {
        c.publish(publish("t", QosPid::AtLeastOnce(pid(id)), b"x"))
            .await;
        c.publish(publish("t", QosPid::ExactlyOnce(pid(id)), b"x"))
            .await;
    }
    // A QoS 2 id left unreleased counts on its connection only: the count starts afresh
    // on the next one (5.0 §4.9), where its PUBREL completes it.
    c.send(publish("t", QosPid::ExactlyOnce(pid(9)), b"x"))
        .await;
    assert_eq!(c.recv().await, Packet::PubRec(PubRec::new(pid(9))));
    drop(c);
    let (mut c, ack) = open(broker.local_addr(), session(V5, "c", false, HOUR)).await;
    assert!(ack.session_present);
    c.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"x"))
        .await;
    c.send(PubRel::new(pid(9))).await;
    assert_eq!(c.recv().await, Packet::PubComp(PubComp::new(pid(9))));
    broker.shutdown().await;
}

#[tokio::test]
async fn v311_clients_are_not_held_to_the_receive_maximum() {
    let broker = Broker::builder()
        .receive_maximum(NonZeroU16::new(1).unwrap())
        .start()
        .await
        .unwrap();
    let mut c = RawClient::connect(broker.local_addr(), V311, "c").await;
    for id in 1..=3 {
        c.send(publish("t", QosPid::ExactlyOnce(pid(id)), b"x"))
            .await;
        assert_eq!(c.recv().await, Packet::PubRec(PubRec::new(pid(id))));
    }
    c.ping().await;
    broker.shutdown().await;
}

// --- Maximum QoS ---

#[tokio::test]
async fn maximum_qos_is_announced_and_caps_granted_subscriptions() {
    let broker = Broker::builder()
        .maximum_qos(QoS::AtLeastOnce)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let (mut sub5, ack) = open(addr, Connect::new(V5, "sub5")).await;
    assert_eq!(ack.properties.maximum_qos, Some(QoS::AtLeastOnce));
    // [MQTT-3.2.2-10]: QoS 2 is still accepted in a SUBSCRIBE, granted QoS 1.
    assert_eq!(
        sub5.subscribe(1, "t", QoS::ExactlyOnce).await.reasons,
        vec![SubAckReason::GrantedQoS1]
    );
    let mut sub3 = RawClient::connect(addr, V311, "sub3").await;
    assert_eq!(
        sub3.subscribe(1, "t", QoS::ExactlyOnce).await.reasons,
        vec![SubAckReason::GrantedQoS1]
    );
    assert_eq!(
        sub3.subscribe(2, "u", QoS::AtMostOnce).await.reasons,
        vec![SubAckReason::GrantedQoS0]
    );
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"x"))
        .await;
    for c in [&mut sub5, &mut sub3] {
        let got = c.recv_publish().await;
        assert_eq!(got.qos.qos(), QoS::AtLeastOnce);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_publish_above_the_maximum_qos_closes_the_connection() {
    let broker = Broker::builder()
        .maximum_qos(QoS::AtMostOnce)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let (mut c, ack) = open(addr, Connect::new(V5, "c5")).await;
    assert_eq!(ack.properties.maximum_qos, Some(QoS::AtMostOnce));
    c.publish(publish("t", QosPid::AtMostOnce, b"ok")).await;
    c.send(publish("t", QosPid::AtLeastOnce(pid(1)), b"no"))
        .await;
    // [MQTT-3.2.2-11]: 0x9B QoS not supported.
    refused_with(&mut c, DisconnectReason::QoSNotSupported).await;

    // 3.1.1 cannot be told: just closed.
    let mut c = RawClient::connect(addr, V311, "c3").await;
    c.send(publish("t", QosPid::ExactlyOnce(pid(1)), b"no"))
        .await;
    assert_eq!(c.closed().await, vec![]);
    assert!(broker.retained("t").is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn a_will_above_the_maximum_qos_refuses_the_connect() {
    let broker = Broker::builder()
        .maximum_qos(QoS::AtLeastOnce)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let will = Will {
        topic: topic("w"),
        payload: bytes::Bytes::from_static(b"gone"),
        qos: QoS::ExactlyOnce,
        retain: false,
        properties: Default::default(),
    };
    let mut c = Connect::new(V5, "w5");
    c.will = Some(will.clone());
    let (mut w5, ack) = RawClient::connect_with(addr, c).await;
    // [MQTT-3.2.2-12]: CONNACK 0x9B, then closed.
    assert_eq!(ack.reason, ConnectReason::QoSNotSupported);
    assert_eq!(w5.closed().await, vec![]);
    let refused = events.wait_for(|e| {
        matches!(
            e,
            Event::Disconnected {
                reason: CloseReason::Refused(ConnectReason::QoSNotSupported),
                ..
            }
        )
    });
    assert!(within(refused).await.is_some());

    // 3.1.1 has no code for it: closed without a CONNACK (as mosquitto does).
    let mut c = Connect::new(V311, "w3");
    c.will = Some(will);
    let mut w3 = RawClient::open(addr, V311).await;
    w3.send(c).await;
    assert_eq!(w3.closed().await, vec![]);
    broker.shutdown().await;
}

// --- Topic aliases assigned by the broker ---

/// A 5.0 CONNECT accepting `max` topic aliases from the broker.
fn with_aliases(id: &str, max: u16) -> Connect {
    let mut c = Connect::new(V5, id);
    c.keep_alive = 0;
    c.properties.topic_alias_maximum = Some(max);
    c
}

fn alias(p: &Publish) -> Option<u16> {
    p.properties().topic_alias.map(NonZeroU16::get)
}

#[tokio::test]
async fn the_broker_assigns_topic_aliases_up_to_the_clients_maximum() {
    let broker = Broker::builder()
        .assign_topic_aliases(true)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let (mut sub, _) = open(addr, with_aliases("sub", 2)).await;
    sub.subscribe(1, "#", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(addr, V5, "p").await;
    for (t, qos) in [
        ("a", 0),
        ("a", 1),
        ("b", 0),
        ("c", 0),
        ("c", 1),
        ("a", 0),
        ("b", 1),
    ] {
        let q = if qos == 0 {
            QosPid::AtMostOnce
        } else {
            QosPid::AtLeastOnce(pid(1))
        };
        p.publish(publish(t, q, b"x")).await;
    }
    let mut got = Vec::new();
    for _ in 0..7 {
        let m = sub.recv_publish().await;
        if let Some(id) = m.qos.packet_id() {
            sub.send(PubAck::new(id)).await;
        }
        got.push((m.topic.as_str().to_owned(), alias(&m)));
    }
    let expected = [
        ("a", Some(1)), // first use: topic and alias
        ("", Some(1)),  // then the alias alone
        ("b", Some(2)),
        ("c", None), // the client's maximum is used up [MQTT-3.3.2-11]
        ("c", None),
        ("", Some(1)),
        ("", Some(2)),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(t, a)| ((*t).to_owned(), *a))
        .collect();
    assert_eq!(got, expected);

    // A new connection starts afresh [MQTT-3.3.2-7].
    drop(sub);
    let (mut sub, _) = open(addr, with_aliases("sub", 2)).await;
    sub.subscribe(1, "#", QoS::AtMostOnce).await;
    p.publish(publish("b", QosPid::AtMostOnce, b"x")).await;
    let m = sub.recv_publish().await;
    assert_eq!((m.topic.as_str(), alias(&m)), ("b", Some(1)));
    broker.shutdown().await;
}

#[tokio::test]
async fn no_aliases_unless_enabled_and_accepted() {
    // Enabled, but the client accepts none.
    let broker = Broker::builder()
        .assign_topic_aliases(true)
        .start()
        .await
        .unwrap();
    let mut sub = RawClient::connect(broker.local_addr(), V5, "sub").await;
    sub.subscribe(1, "t", QoS::AtMostOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    for _ in 0..2 {
        p.publish(publish("t", QosPid::AtMostOnce, b"x")).await;
        let m = sub.recv_publish().await;
        assert_eq!((m.topic.as_str(), alias(&m)), ("t", None));
    }
    broker.shutdown().await;

    // Accepted, but not enabled (the default).
    let broker = Broker::start().await.unwrap();
    let (mut sub, _) = open(broker.local_addr(), with_aliases("sub", 10)).await;
    sub.subscribe(1, "t", QoS::AtMostOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    for _ in 0..2 {
        p.publish(publish("t", QosPid::AtMostOnce, b"x")).await;
        let m = sub.recv_publish().await;
        assert_eq!((m.topic.as_str(), alias(&m)), ("t", None));
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn resent_publishes_carry_their_topic_on_the_new_connection() {
    let broker = Broker::builder()
        .assign_topic_aliases(true)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut c = with_aliases("sub", 5);
    c.properties.session_expiry_interval = Some(3600);
    let (mut sub, _) = open(addr, c.clone()).await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"1"))
        .await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(2)), b"2"))
        .await;
    assert_eq!(alias(&sub.recv_publish().await), Some(1));
    let second = sub.recv_publish().await;
    assert_eq!((second.topic.as_str(), alias(&second)), ("", Some(1)));
    drop(sub); // neither acknowledged

    c.clean_start = false;
    let (mut sub, ack) = open(addr, c).await;
    assert!(ack.session_present);
    for payload in [&b"1"[..], b"2"] {
        let m = sub.recv_publish().await;
        assert!(m.dup);
        assert_eq!(m.payload, payload);
        assert_eq!(m.topic.as_str(), "t", "no alias of the old connection");
    }
    broker.shutdown().await;
}

// --- Will properties and message expiry ---

#[tokio::test]
async fn will_properties_are_passed_on() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "w", QoS::AtMostOnce).await;

    let mut will = Will {
        topic: topic("w"),
        payload: bytes::Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    };
    let wp = &mut will.properties;
    wp.payload_format_indicator = Some(true);
    wp.message_expiry_interval = Some(30);
    wp.content_type = Some("text/plain".into());
    wp.response_topic = Some(topic("reply/here"));
    wp.correlation_data = Some(bytes::Bytes::from_static(b"\x01\x02"));
    wp.user_properties = vec![
        UserProperty::new("b", "2"),
        UserProperty::new("a", "1"),
        UserProperty::new("b", "3"),
    ];
    let mut c = Connect::new(V5, "w");
    c.keep_alive = 0;
    c.will = Some(will);
    let (w, _) = open(addr, c).await;
    drop(w);
    disconnected(&mut events, "w").await;

    let got = sub.recv_publish().await;
    assert_eq!(got.payload, &b"gone"[..]);
    let p = got.properties();
    assert_eq!(p.payload_format_indicator, Some(true));
    assert_eq!(p.message_expiry_interval, Some(30));
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        p.response_topic.as_ref().map(|t| t.as_str()),
        Some("reply/here")
    );
    assert_eq!(p.correlation_data.as_deref(), Some(&b"\x01\x02"[..]));
    // In their order [MQTT-3.1.3-10].
    assert_eq!(
        p.user_properties,
        vec![
            UserProperty::new("b", "2"),
            UserProperty::new("a", "1"),
            UserProperty::new("b", "3"),
        ]
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn retained_messages_expire() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut p = RawClient::connect(addr, V5, "p").await;
    let mut r = publish("r", QosPid::AtMostOnce, b"soon gone");
    r.retain = true;
    r.properties_mut().message_expiry_interval = Some(10);
    p.publish(r).await;
    let mut forever = publish("f", QosPid::AtMostOnce, b"kept");
    forever.retain = true;
    p.publish(forever).await;
    p.ping().await;

    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "r", QoS::AtMostOnce).await;
    let got = sub.recv_publish().await;
    assert!(got.retain);
    // [MQTT-3.3.2-6]: the interval left.
    assert_eq!(got.properties().message_expiry_interval, Some(6));

    tokio::time::sleep(Duration::from_secs(7)).await;
    // [MQTT-3.3.2-5]: expired, not sent, and removed.
    sub.subscribe(2, "#", QoS::AtMostOnce).await;
    let got = sub.recv_publish().await;
    assert_eq!(got.payload, &b"kept"[..]);
    assert_eq!(got.properties().message_expiry_interval, None);
    sub.ping().await;
    assert!(broker.retained("r").is_none());
    assert!(broker.retained("f").is_some());
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn broker_retained_does_not_return_an_expired_message() {
    let broker = Broker::start().await.unwrap();
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    let mut r = publish("r", QosPid::AtMostOnce, b"x");
    r.retain = true;
    r.properties_mut().message_expiry_interval = Some(2);
    p.publish(r).await;
    p.ping().await;
    assert!(broker.retained("r").is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(broker.retained("r").is_none());
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn inflight_messages_are_resent_with_the_interval_left() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut sub, _) = open(addr, session(V5, "sub", true, HOUR)).await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(addr, V5, "p").await;
    let mut long = publish("t", QosPid::AtLeastOnce(pid(1)), b"long");
    long.properties_mut().message_expiry_interval = Some(100);
    let mut short = publish("t", QosPid::AtLeastOnce(pid(2)), b"short");
    short.properties_mut().message_expiry_interval = Some(5);
    p.publish(long).await;
    p.publish(short).await;
    // Received, not acknowledged.
    assert_eq!(
        sub.recv_publish()
            .await
            .properties()
            .message_expiry_interval,
        Some(100)
    );
    assert_eq!(
        sub.recv_publish()
            .await
            .properties()
            .message_expiry_interval,
        Some(5)
    );
    sub.send(Disconnect::new(DisconnectReason::NormalDisconnection))
        .await;
    disconnected(&mut events, "sub").await;

    tokio::time::sleep(Duration::from_secs(30)).await;
    let (mut sub, ack) = open(addr, session(V5, "sub", false, HOUR)).await;
    assert!(ack.session_present);
    // Onward delivery had started: both are resent [MQTT-4.4.0-1], with the time left
    // [MQTT-3.3.2-6], 0 for the one whose interval has passed.
    let got = sub.recv_publish().await;
    assert!(got.dup);
    assert_eq!(got.payload, &b"long"[..]);
    assert_eq!(got.properties().message_expiry_interval, Some(70));
    let got = sub.recv_publish().await;
    assert!(got.dup);
    assert_eq!(got.payload, &b"short"[..]);
    assert_eq!(got.properties().message_expiry_interval, Some(0));
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_will_message_expiry_runs_from_its_publication() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut sub, _) = open(addr, session(V5, "sub", true, HOUR)).await;
    sub.subscribe(1, "w", QoS::AtLeastOnce).await;
    sub.send(Disconnect::new(DisconnectReason::NormalDisconnection))
        .await;
    disconnected(&mut events, "sub").await;

    let mut will = Will {
        topic: topic("w"),
        payload: bytes::Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
    };
    will.properties.message_expiry_interval = Some(20);
    let mut c = Connect::new(V5, "w");
    c.keep_alive = 0;
    c.will = Some(will);
    let (w, _) = open(addr, c).await;
    drop(w);
    disconnected(&mut events, "w").await;

    tokio::time::sleep(Duration::from_secs(5)).await;
    let (mut sub, _) = open(addr, session(V5, "sub", false, HOUR)).await;
    let got = sub.recv_publish().await;
    assert_eq!(got.payload, &b"gone"[..]);
    assert_eq!(got.properties().message_expiry_interval, Some(15));
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_delayed_publish_gets_no_alias_so_that_later_ones_may_overtake_it() {
    let broker = Broker::builder()
        .assign_topic_aliases(true)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let (mut sub, _) = open(addr, with_aliases("sub", 5)).await;
    sub.subscribe(1, "t", QoS::AtMostOnce).await;
    broker
        .faults()
        .for_client("sub")
        .delay(mqtt_testkit::PacketType::Publish, Duration::from_secs(5));
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("t", QosPid::AtMostOnce, b"1")).await;
    p.publish(publish("t", QosPid::AtMostOnce, b"2")).await;
    let second = sub.recv_publish().await;
    assert_eq!(second.payload, &b"2"[..]);
    assert_eq!((second.topic.as_str(), alias(&second)), ("t", Some(1)));
    let first = sub.recv_publish().await;
    assert_eq!(first.payload, &b"1"[..]);
    assert_eq!((first.topic.as_str(), alias(&first)), ("t", None));
    broker.shutdown().await;
}

/// The next PUBLISH, which must be a resend (DUP) of `payload`; returns its packet id.
async fn resent(c: &mut RawClient, payload: &[u8]) -> mqtt_proto::PacketId {
    let p = c.recv_publish().await;
    assert!(p.dup, "{p:?}");
    assert_eq!(p.payload, payload);
    p.qos.packet_id().unwrap()
}

#[tokio::test]
async fn resends_after_a_reconnect_respect_a_smaller_receive_maximum() {
    // [MQTT-3.3.4-9]: no more than Receive Maximum QoS 1/2 PUBLISHes unacknowledged, also
    // when the session's inflight messages are resent; those waiting for PUBCOMP count.
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut c, _) = open(addr, session(V5, "c", true, HOUR)).await;
    c.subscribe(1, "t", QoS::ExactlyOnce).await;
    let mut p = RawClient::connect(addr, V311, "p").await;
    let sent: [(&[u8], QoS); 5] = [
        (b"1", QoS::AtLeastOnce),
        (b"2", QoS::ExactlyOnce),
        (b"3", QoS::AtLeastOnce),
        (b"4", QoS::ExactlyOnce),
        (b"5", QoS::AtLeastOnce),
    ];
    for (i, (payload, qos)) in (1..).zip(sent) {
        let payload: &'static [u8] = payload;
        p.publish(publish("t", QosPid::from_qos(qos, pid(i)), payload))
            .await;
    }
    let mut ids = Vec::new();
    for (payload, _) in sent {
        let m = c.recv_publish().await;
        assert_eq!(m.payload, payload);
        ids.push(m.qos.packet_id().unwrap());
    }
    // 2 is received (PUBCOMP awaited); nothing else is acknowledged.
    c.send(PubRec::new(ids[1])).await;
    assert_eq!(c.recv().await, Packet::PubRel(PubRel::new(ids[1])));
    drop(c);
    disconnected(&mut events, "c").await;

    // Back with Receive Maximum 2: 2 (released) and 1 fill it; 3, 4, 5 wait.
    let mut connect = session(V5, "c", false, HOUR);
    connect.properties.receive_maximum = NonZeroU16::new(2);
    let (mut c, ack) = open(addr, connect).await;
    assert!(ack.session_present);
    assert_eq!(resent(&mut c, b"1").await, ids[0]);
    assert_eq!(c.recv().await, Packet::PubRel(PubRel::new(ids[1])));
    // Nothing more is sent (PINGRESP is not held back [MQTT-3.3.4-10]).
    c.ping().await;
    // Each acknowledgement frees a slot for the next resend, in order.
    c.send(PubAck::new(ids[0])).await;
    assert_eq!(resent(&mut c, b"3").await, ids[2]);
    c.ping().await;
    c.send(PubComp::new(ids[1])).await;
    assert_eq!(resent(&mut c, b"4").await, ids[3]);
    c.ping().await;
    // A PUBREC frees nothing: the PUBCOMP is still awaited.
    c.send(PubRec::new(ids[3])).await;
    assert_eq!(c.recv().await, Packet::PubRel(PubRel::new(ids[3])));
    c.ping().await;
    c.send(PubAck::new(ids[2])).await;
    assert_eq!(resent(&mut c, b"5").await, ids[4]);
    // A new message waits behind the resends until there is room (4 and 5 fill it).
    p.publish(publish("t", QosPid::AtLeastOnce(pid(9)), b"6"))
        .await;
    c.ping().await;
    c.send(PubComp::new(ids[3])).await;
    let m6 = c.recv_publish().await;
    assert_eq!(m6.payload, &b"6"[..]);
    assert!(!m6.dup);
    c.send(PubAck::new(ids[4])).await;
    c.send(PubAck::new(m6.qos.packet_id().unwrap())).await;
    c.ping().await;

    // Everything was acknowledged: nothing is resent on the next reconnect.
    drop(c);
    disconnected(&mut events, "c").await;
    let (mut c, ack) = open(addr, session(V5, "c", false, HOUR)).await;
    assert!(ack.session_present);
    c.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn held_back_resends_are_resent_again_after_another_reconnect() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut c, _) = open(addr, session(V5, "c", true, HOUR)).await;
    c.subscribe(1, "t", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(addr, V311, "p").await;
    let payloads: [&'static [u8]; 4] = [b"1", b"2", b"3", b"4"];
    for (i, payload) in (1..).zip(payloads) {
        p.publish(publish("t", QosPid::AtLeastOnce(pid(i)), payload))
            .await;
    }
    let mut ids = Vec::new();
    for payload in payloads {
        let m = c.recv_publish().await;
        assert_eq!(m.payload, payload);
        ids.push(m.qos.packet_id().unwrap());
    }
    drop(c);
    disconnected(&mut events, "c").await;
    // Receive Maximum 1: only 1 is resent, and it is not acknowledged.
    let mut connect = session(V5, "c", false, HOUR);
    connect.properties.receive_maximum = NonZeroU16::new(1);
    let (mut c, _) = open(addr, connect).await;
    assert_eq!(resent(&mut c, b"1").await, ids[0]);
    c.ping().await;
    drop(c);
    disconnected(&mut events, "c").await;
    // Receive Maximum 3: 1, 2 and 3, in order; 4 once one is acknowledged.
    let mut connect = session(V5, "c", false, HOUR);
    connect.properties.receive_maximum = NonZeroU16::new(3);
    let (mut c, _) = open(addr, connect).await;
    for (payload, id) in payloads.iter().zip(&ids).take(3) {
        assert_eq!(resent(&mut c, payload).await, *id);
    }
    c.ping().await;
    c.send(PubAck::new(ids[1])).await;
    assert_eq!(resent(&mut c, b"4").await, ids[3]);
    for id in [ids[0], ids[2], ids[3]] {
        c.send(PubAck::new(id)).await;
    }
    c.ping().await;
    broker.shutdown().await;
}
