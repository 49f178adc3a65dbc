//! SUBSCRIBE / UNSUBSCRIBE, routing, QoS 0/1/2 both ways, shared subscriptions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::num::NonZeroU16;

use common::{RawClient, V5, V31, V311, filter, pid, publish, within};
use mqtt_proto::{
    Connect, Packet, PubAck, PubComp, PubRec, PubRel, PubRelReason, QoS, QosPid, SubAckReason,
    Subscribe, SubscribeFilter, UnsubAckReason,
};
use mqtt_testkit::{Broker, Event};

const QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

fn qos_pid(qos: QoS, id: u16) -> QosPid {
    match qos {
        QoS::AtMostOnce => QosPid::AtMostOnce,
        q => QosPid::from_qos(q, pid(id)),
    }
}

#[tokio::test]
async fn suback_and_unsuback_carry_one_code_per_filter() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut c = RawClient::connect(broker.local_addr(), V5, "s").await;
    let subs = vec![
        SubscribeFilter::new(filter("a/+"), QoS::AtMostOnce),
        SubscribeFilter::new(filter("b/#"), QoS::AtLeastOnce),
        SubscribeFilter::new(filter("$share/g/c"), QoS::ExactlyOnce),
    ];
    c.send(Subscribe::new(pid(1), subs)).await;
    let ack = c.suback().await;
    assert_eq!(ack.packet_id, pid(1));
    assert_eq!(
        ack.reasons,
        [
            SubAckReason::GrantedQoS0,
            SubAckReason::GrantedQoS1,
            SubAckReason::GrantedQoS2
        ]
    );
    within(events.wait_for(|e| matches!(e, Event::Subscribed { .. })))
        .await
        .unwrap();

    let unsub = c.unsubscribe(2, &["b/#", "nope", "$share/g/c"]).await;
    assert_eq!(unsub.packet_id, pid(2));
    assert_eq!(
        unsub.reasons,
        [
            UnsubAckReason::Success,
            UnsubAckReason::NoSubscriptionExisted,
            UnsubAckReason::Success
        ]
    );
    // 3.1.1 UNSUBACK has no payload.
    let mut old = RawClient::connect(broker.local_addr(), V311, "old").await;
    assert_eq!(
        old.subscribe(1, "x", QoS::ExactlyOnce).await.reasons,
        [SubAckReason::GrantedQoS2]
    );
    assert!(old.unsubscribe(2, &["x"]).await.reasons.is_empty());
    broker.shutdown().await;
}

#[tokio::test]
async fn delivered_qos_is_the_minimum_of_publish_and_subscription() {
    let broker = Broker::start().await.unwrap();
    for (pub_v, sub_v) in [(V311, V5), (V5, V311), (V31, V31)] {
        let mut sub = RawClient::connect(broker.local_addr(), sub_v, "sub").await;
        let mut publ = RawClient::connect(broker.local_addr(), pub_v, "pub").await;
        for (i, sub_qos) in QOS.into_iter().enumerate() {
            let f = format!("q/{i}");
            sub.subscribe(1, &f, sub_qos).await;
            for pub_qos in QOS {
                let mut p = publ_msg(&f, qos_pid(pub_qos, 7));
                p.payload = format!("{pub_qos:?}").into();
                publ.publish(p.clone()).await;
                let got = sub.recv_publish().await;
                assert_eq!(
                    got.qos.qos(),
                    pub_qos.min(sub_qos),
                    "pub {pub_qos:?} sub {sub_qos:?}"
                );
                assert_eq!(got.topic.as_str(), f);
                assert_eq!(got.payload, p.payload);
                assert!(!got.dup && !got.retain);
                sub.ack(&got).await;
            }
        }
        sub.ping().await;
    }
    broker.shutdown().await;
}

fn publ_msg(t: &str, qos: QosPid) -> mqtt_proto::Publish {
    publish(t, qos, b"")
}

#[tokio::test]
async fn wildcards_follow_the_dollar_rule() {
    let broker = Broker::start().await.unwrap();
    let mut all = RawClient::connect(broker.local_addr(), V311, "all").await;
    all.subscribe(1, "#", QoS::AtMostOnce).await;
    let mut plus = RawClient::connect(broker.local_addr(), V311, "plus").await;
    plus.subscribe(1, "+/b", QoS::AtMostOnce).await;
    let mut sys = RawClient::connect(broker.local_addr(), V311, "sys").await;
    sys.subscribe(1, "$SYS/#", QoS::AtMostOnce).await;

    let mut p = RawClient::connect(broker.local_addr(), V311, "p").await;
    p.publish(publish("$SYS/b", QosPid::AtMostOnce, b"1")).await;
    p.publish(publish("a/b", QosPid::AtMostOnce, b"2")).await;

    assert_eq!(sys.recv_publish().await.payload, &b"1"[..]);
    assert_eq!(all.recv_publish().await.payload, &b"2"[..]);
    assert_eq!(plus.recv_publish().await.payload, &b"2"[..]);
    for c in [&mut all, &mut plus, &mut sys] {
        c.ping().await; // nothing else was sent
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_at_the_highest_qos() {
    let broker = Broker::start().await.unwrap();
    let mut sub = RawClient::connect(broker.local_addr(), V5, "sub").await;
    sub.subscribe(1, "a/#", QoS::AtMostOnce).await;
    sub.subscribe(2, "a/+", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    p.publish(publish("a/b", QosPid::ExactlyOnce(pid(1)), b"x"))
        .await;
    let got = sub.recv_publish().await;
    assert_eq!(got.qos.qos(), QoS::AtLeastOnce);
    sub.ack(&got).await;
    sub.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn resubscribing_replaces_the_subscription() {
    let broker = Broker::start().await.unwrap();
    let mut sub = RawClient::connect(broker.local_addr(), V311, "sub").await;
    sub.subscribe(1, "t", QoS::ExactlyOnce).await;
    sub.subscribe(2, "t", QoS::AtMostOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V311, "p").await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"x"))
        .await;
    assert_eq!(sub.recv_publish().await.qos, QosPid::AtMostOnce);
    sub.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn shared_subscription_round_robins_within_a_group() {
    let broker = Broker::start().await.unwrap();
    let mut a = RawClient::connect(broker.local_addr(), V5, "a").await;
    a.subscribe(1, "$share/g/t/+", QoS::AtLeastOnce).await;
    let mut b = RawClient::connect(broker.local_addr(), V311, "b").await;
    b.subscribe(1, "$share/g/t/+", QoS::AtLeastOnce).await;
    let mut plain = RawClient::connect(broker.local_addr(), V5, "plain").await;
    plain.subscribe(1, "t/+", QoS::AtMostOnce).await;

    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    for i in 0..6u8 {
        p.publish(mqtt_proto::Publish::new(
            common::topic("t/x"),
            QosPid::AtMostOnce,
            vec![i],
        ))
        .await;
    }
    let mut seen = Vec::new();
    for c in [&mut a, &mut b] {
        for _ in 0..3 {
            let m = c.recv_publish().await;
            seen.push(m.payload[0]);
        }
        c.ping().await; // exactly three each
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
    for i in 0..6u8 {
        assert_eq!(plain.recv_publish().await.payload[..], [i]);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn inbound_qos2_is_delivered_exactly_once() {
    let broker = Broker::start().await.unwrap();
    let mut sub = RawClient::connect(broker.local_addr(), V311, "sub").await;
    sub.subscribe(1, "t", QoS::AtMostOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;

    let first = publish("t", QosPid::ExactlyOnce(pid(9)), b"once");
    p.send(first.clone()).await;
    assert_eq!(p.recv().await, Packet::PubRec(PubRec::new(pid(9))));
    let mut again = first.clone();
    again.dup = true;
    p.send(again).await;
    assert_eq!(p.recv().await, Packet::PubRec(PubRec::new(pid(9))));
    p.send(PubRel::new(pid(9))).await;
    assert_eq!(p.recv().await, Packet::PubComp(PubComp::new(pid(9))));
    // A PUBREL for an id no longer held is answered, with the reason on 5.0.
    p.send(PubRel::new(pid(9))).await;
    let mut unknown = PubComp::new(pid(9));
    unknown.reason = PubRelReason::PacketIdentifierNotFound;
    assert_eq!(p.recv().await, Packet::PubComp(unknown));

    assert_eq!(sub.recv_publish().await.payload, &b"once"[..]);
    sub.ping().await;
    // Once released, the id is free for a new message.
    p.publish(publish("t", QosPid::ExactlyOnce(pid(9)), b"next"))
        .await;
    assert_eq!(sub.recv_publish().await.payload, &b"next"[..]);
    broker.shutdown().await;
}

#[tokio::test]
async fn outbound_qos2_runs_pubrec_pubrel_pubcomp() {
    let broker = Broker::start().await.unwrap();
    let mut sub = RawClient::connect(broker.local_addr(), V311, "sub").await;
    sub.subscribe(1, "t", QoS::ExactlyOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V311, "p").await;
    p.publish(publish("t", QosPid::ExactlyOnce(pid(1)), b"x"))
        .await;
    let got = sub.recv_publish().await;
    let QosPid::ExactlyOnce(id) = got.qos else {
        panic!("{got:?}")
    };
    sub.send(PubRec::new(id)).await;
    assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(id)));
    // A repeated PUBREC gets the PUBREL again.
    sub.send(PubRec::new(id)).await;
    assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(id)));
    sub.send(PubComp::new(id)).await;
    sub.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn outbound_packet_ids_are_distinct_and_order_is_kept() {
    let broker = Broker::start().await.unwrap();
    let mut sub = RawClient::connect(broker.local_addr(), V5, "sub").await;
    sub.subscribe(1, "t", QoS::ExactlyOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    let qos = [QoS::AtLeastOnce, QoS::AtMostOnce, QoS::ExactlyOnce];
    for i in 0..30u8 {
        let q = qos[usize::from(i) % 3];
        p.publish(mqtt_proto::Publish::new(
            common::topic("t"),
            qos_pid(q, u16::from(i) + 1),
            vec![i],
        ))
        .await;
    }
    let mut ids = HashSet::new();
    let mut received = Vec::new();
    for _ in 0..30 {
        let m = sub.recv_publish().await;
        if let Some(id) = m.qos.packet_id() {
            assert!(ids.insert(id), "packet id {id:?} reused while inflight");
        }
        received.push(m);
    }
    let payloads: Vec<u8> = received.iter().map(|m| m.payload[0]).collect();
    assert_eq!(payloads, (0..30).collect::<Vec<u8>>());
    for m in &received {
        sub.ack(m).await;
    }
    sub.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn receive_maximum_limits_what_is_inflight() {
    let broker = Broker::start().await.unwrap();
    let mut connect = Connect::new(V5, "sub");
    connect.properties.receive_maximum = NonZeroU16::new(2);
    let (mut sub, _) = RawClient::connect_with(broker.local_addr(), connect).await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    for i in 0..3u8 {
        p.publish(mqtt_proto::Publish::new(
            common::topic("t"),
            QosPid::AtLeastOnce(pid(1)),
            vec![i],
        ))
        .await;
    }
    let m0 = sub.recv_publish().await;
    let m1 = sub.recv_publish().await;
    sub.ping().await; // the third waits for a free slot
    sub.ack(&m0).await;
    let m2 = sub.recv_publish().await;
    assert_eq!([m0.payload[0], m1.payload[0], m2.payload[0]], [0, 1, 2]);
    broker.shutdown().await;
}

#[tokio::test]
async fn publish_events_report_what_was_routed() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut p = RawClient::connect(broker.local_addr(), V311, "p").await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(3)), b"hello"))
        .await;
    match within(events.wait_for(|e| matches!(e, Event::Published { .. }))).await {
        Some(Event::Published {
            client_id,
            publish,
            will,
        }) => {
            assert_eq!(client_id, "p");
            assert_eq!(publish.payload, &b"hello"[..]);
            assert!(!will);
        }
        other => panic!("{other:?}"),
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn subscription_identifiers_are_refused_as_announced() {
    let broker = Broker::builder()
        .subscription_identifiers(false)
        .start()
        .await
        .unwrap();
    let (mut c, ack) = RawClient::connect_with(broker.local_addr(), Connect::new(V5, "s")).await;
    assert_eq!(
        ack.properties.subscription_identifier_available,
        Some(false)
    );
    let mut s = Subscribe::new(
        pid(1),
        vec![SubscribeFilter::new(filter("t"), QoS::AtMostOnce)],
    );
    s.properties.subscription_identifier = mqtt_proto::SubscriptionId::new(7);
    c.send(s).await;
    match c.closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(
            d.reason,
            mqtt_proto::DisconnectReason::SubscriptionIdentifiersNotSupported
        ),
        other => panic!("{other:?}"),
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn messages_larger_than_the_clients_maximum_are_discarded() {
    let broker = Broker::start().await.unwrap();
    let mut connect = Connect::new(V5, "small");
    connect.properties.maximum_packet_size = std::num::NonZeroU32::new(64);
    let (mut sub, _) = RawClient::connect_with(broker.local_addr(), connect).await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), &[b'x'; 100]))
        .await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(2)), b"fits"))
        .await;
    let m = sub.recv_publish().await;
    assert_eq!(m.payload, &b"fits"[..]);
    sub.ack(&m).await;
    sub.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn pubrec_with_an_error_code_ends_the_outbound_flow() {
    let broker = Broker::start().await.unwrap();
    let mut connect = Connect::new(V5, "sub");
    connect.properties.receive_maximum = NonZeroU16::new(1);
    let (mut sub, _) = RawClient::connect_with(broker.local_addr(), connect).await;
    sub.subscribe(1, "t", QoS::ExactlyOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    p.publish(publish("t", QosPid::ExactlyOnce(pid(1)), b"a"))
        .await;
    p.publish(publish("t", QosPid::ExactlyOnce(pid(2)), b"b"))
        .await;
    let a = sub.recv_publish().await;
    let mut rec = PubRec::new(a.qos.packet_id().unwrap());
    rec.reason = mqtt_proto::PubAckReason::UnspecifiedError;
    sub.send(rec).await;
    // No PUBREL; the slot is free, so the next message comes.
    let b = sub.recv_publish().await;
    assert_eq!(b.payload, &b"b"[..]);
    broker.shutdown().await;
}

#[tokio::test]
async fn publish_properties_pass_to_v5_and_are_dropped_for_v3() {
    let broker = Broker::start().await.unwrap();
    let mut old = RawClient::connect(broker.local_addr(), V311, "old").await;
    old.subscribe(1, "t", QoS::AtLeastOnce).await;
    let mut new = RawClient::connect(broker.local_addr(), V5, "new").await;
    new.subscribe(1, "t", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    let mut msg = publish("t", QosPid::AtLeastOnce(pid(1)), b"x");
    msg.properties_mut()
        .user_properties
        .push(mqtt_proto::UserProperty::new("k", "v"));
    msg.properties_mut().content_type = Some("text/plain".into());
    p.publish(msg.clone()).await;

    let got = new.recv_publish().await;
    assert_eq!(got.properties(), msg.properties());
    let got = old.recv_publish().await;
    assert_eq!(got.payload, &b"x"[..]);
    broker.shutdown().await;
}

#[tokio::test]
async fn messages_flow_with_no_event_stream_and_events_start_with_one() {
    // Published events are built only while an event stream is open: routing does not
    // depend on them, and a stream opened (or reopened) later gets them.
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut sub = RawClient::connect(addr, V311, "sub").await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"unheard"))
        .await;
    let m = sub.recv_publish().await;
    assert_eq!(m.payload, &b"unheard"[..]);
    sub.send(PubAck::new(m.qos.packet_id().unwrap())).await;

    let mut events = broker.events();
    p.publish(publish("t", QosPid::AtMostOnce, b"heard")).await;
    match within(events.wait_for(|e| matches!(e, Event::Published { .. }))).await {
        Some(Event::Published {
            client_id, publish, ..
        }) => {
            assert_eq!(client_id, "p");
            assert_eq!(publish.payload, &b"heard"[..]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sub.recv_publish().await.payload, &b"heard"[..]);

    // A dropped stream is forgotten; a new one gets the next message.
    drop(events);
    p.publish(publish("t", QosPid::AtMostOnce, b"dropped"))
        .await;
    assert_eq!(sub.recv_publish().await.payload, &b"dropped"[..]);
    let mut events = broker.events();
    p.publish(publish("t", QosPid::AtMostOnce, b"again")).await;
    match within(events.wait_for(|e| matches!(e, Event::Published { .. }))).await {
        Some(Event::Published { publish, .. }) => assert_eq!(publish.payload, &b"again"[..]),
        other => panic!("{other:?}"),
    }
    assert_eq!(sub.recv_publish().await.payload, &b"again"[..]);
    broker.shutdown().await;
}
