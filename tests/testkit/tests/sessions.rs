//! Clean and persistent sessions, resend with DUP, takeover, the queue bound, wills.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::events::disconnected;
use common::{HOUR, RawClient, V5, V311, open, pid, publish, session, topic, within};
use mqtt_proto::{
    Connect, Disconnect, DisconnectReason, Packet, ProtocolVersion, PubAck, PubComp, PubRec,
    PubRel, QoS, QosPid, Will,
};
use mqtt_testkit::{Broker, CloseReason, Event};

#[tokio::test]
async fn persistent_session_keeps_subscriptions_and_queues_qos1_and_qos2() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    for version in [V311, V5] {
        let (mut sub, ack) = open(addr, session(version, "sub", true, HOUR)).await;
        assert!(!ack.session_present);
        sub.subscribe(1, "t", QoS::ExactlyOnce).await;
        sub.send(Disconnect::new(DisconnectReason::NormalDisconnection))
            .await;
        assert_eq!(
            disconnected(&mut events, "sub").await,
            CloseReason::ClientDisconnect
        );

        let mut p = RawClient::connect(addr, V311, "p").await;
        p.publish(publish("t", QosPid::AtMostOnce, b"0")).await;
        p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"1"))
            .await;
        p.publish(publish("t", QosPid::ExactlyOnce(pid(2)), b"2"))
            .await;

        let (mut sub, ack) = open(addr, session(version, "sub", false, HOUR)).await;
        assert!(ack.session_present);
        let one = sub.recv_publish().await;
        assert_eq!(
            (&one.payload[..], one.qos.qos()),
            (&b"1"[..], QoS::AtLeastOnce)
        );
        let two = sub.recv_publish().await;
        assert_eq!(
            (&two.payload[..], two.qos.qos()),
            (&b"2"[..], QoS::ExactlyOnce)
        );
        sub.send(PubAck::new(one.qos.packet_id().unwrap())).await;
        let id = two.qos.packet_id().unwrap();
        sub.send(PubRec::new(id)).await;
        assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(id)));
        sub.send(PubComp::new(id)).await;
        sub.ping().await; // QoS 0 was not kept
        // The subscription is still there.
        p.publish(publish("t", QosPid::AtMostOnce, b"live")).await;
        assert_eq!(sub.recv_publish().await.payload, &b"live"[..]);
        // Leave no session behind for the next version's run.
        drop(sub);
        disconnected(&mut events, "sub").await;
        let (mut sub, _) = open(addr, session(version, "sub", true, 0)).await;
        sub.send(Disconnect::new(DisconnectReason::NormalDisconnection))
            .await;
        disconnected(&mut events, "sub").await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn clean_start_discards_the_old_session() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    for version in [V311, V5] {
        let (mut sub, _) = open(addr, session(version, "c", true, HOUR)).await;
        sub.subscribe(1, "t", QoS::AtLeastOnce).await;
        drop(sub);
        disconnected(&mut events, "c").await;

        let (mut sub, ack) = open(addr, session(version, "c", true, 0)).await;
        assert!(!ack.session_present);
        let mut p = RawClient::connect(addr, V5, "p").await;
        p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"x"))
            .await;
        sub.ping().await; // no subscription any more
        drop(sub);
        disconnected(&mut events, "c").await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn v5_session_without_expiry_ends_with_the_connection() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (mut sub, _) = open(broker.local_addr(), session(V5, "e", true, 0)).await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    drop(sub);
    disconnected(&mut events, "e").await;
    let (_sub, ack) = open(broker.local_addr(), session(V5, "e", false, 0)).await;
    assert!(!ack.session_present);
    broker.shutdown().await;
}

#[tokio::test]
async fn unacknowledged_messages_are_resent_with_dup_on_reconnect() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut sub, _) = open(addr, session(V311, "r", true, HOUR)).await;
    sub.subscribe(1, "t", QoS::ExactlyOnce).await;
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"a"))
        .await;
    p.publish(publish("t", QosPid::ExactlyOnce(pid(2)), b"b"))
        .await;
    p.publish(publish("t", QosPid::ExactlyOnce(pid(3)), b"c"))
        .await;
    let a = sub.recv_publish().await;
    let b = sub.recv_publish().await;
    let c = sub.recv_publish().await;
    // b is received (PUBREC), a and c are not acknowledged at all.
    let b_id = b.qos.packet_id().unwrap();
    sub.send(PubRec::new(b_id)).await;
    assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(b_id)));
    drop(sub);
    assert_eq!(
        disconnected(&mut events, "r").await,
        CloseReason::ConnectionLost
    );

    let (mut sub, ack) = open(addr, session(V311, "r", false, HOUR)).await;
    assert!(ack.session_present);
    let mut a2 = sub.recv_publish().await;
    assert!(a2.dup);
    a2.dup = false;
    assert_eq!(a2, a);
    assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(b_id)));
    let mut c2 = sub.recv_publish().await;
    assert!(c2.dup);
    c2.dup = false;
    assert_eq!(c2, c);
    sub.send(PubAck::new(a.qos.packet_id().unwrap())).await;
    sub.send(PubComp::new(b_id)).await;
    let c_id = c.qos.packet_id().unwrap();
    sub.send(PubRec::new(c_id)).await;
    assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(c_id)));
    sub.send(PubComp::new(c_id)).await;
    sub.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn second_connection_with_the_same_id_takes_over() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut first, _) = open(addr, session(V5, "dup", true, HOUR)).await;
    first.subscribe(1, "t", QoS::AtLeastOnce).await;
    let (mut second, ack) = open(addr, session(V5, "dup", false, HOUR)).await;
    assert!(ack.session_present);
    match first.closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, DisconnectReason::SessionTakenOver),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        disconnected(&mut events, "dup").await,
        CloseReason::TakenOver
    );
    // The session (and its subscription) now belongs to the second connection.
    let mut p = RawClient::connect(addr, V311, "p").await;
    p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"x"))
        .await;
    let m = second.recv_publish().await;
    assert_eq!(m.payload, &b"x"[..]);
    second.send(PubAck::new(m.qos.packet_id().unwrap())).await;
    second.ping().await;

    // 3.1.1: the old connection is just closed.
    let (mut old, _) = open(addr, session(V311, "dup3", true, 0)).await;
    let (mut new, _) = open(addr, session(V311, "dup3", true, 0)).await;
    assert_eq!(old.closed().await, vec![]);
    new.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn full_session_queue_drops_new_messages() {
    let broker = Broker::builder()
        .max_queued_messages(2)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut sub, _) = open(addr, session(V311, "q", true, HOUR)).await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    drop(sub);
    disconnected(&mut events, "q").await;

    let mut p = RawClient::connect(addr, V311, "p").await;
    for (i, payload) in [&b"1"[..], b"2", b"3"].into_iter().enumerate() {
        let id = u16::try_from(i).unwrap() + 1;
        p.publish(mqtt_proto::Publish::new(
            topic("t"),
            QosPid::AtLeastOnce(pid(id)),
            payload,
        ))
        .await;
    }
    match within(events.wait_for(|e| matches!(e, Event::MessageDropped { .. }))).await {
        Some(Event::MessageDropped { client_id, publish }) => {
            assert_eq!(client_id, "q");
            assert_eq!(publish.payload, &b"3"[..]);
        }
        other => panic!("{other:?}"),
    }
    let (mut sub, _) = open(addr, session(V311, "q", false, HOUR)).await;
    assert_eq!(sub.recv_publish().await.payload, &b"1"[..]);
    assert_eq!(sub.recv_publish().await.payload, &b"2"[..]);
    sub.ping().await;
    broker.shutdown().await;
}

fn with_will(version: ProtocolVersion, id: &str, keep_alive: u16) -> Connect {
    let mut c = session(version, id, true, 0);
    c.keep_alive = keep_alive;
    let mut will = Will::new(topic("wills/gone"), &b"bye"[..]);
    will.qos = QoS::AtLeastOnce;
    will.retain = true;
    c.will = Some(will);
    c
}

async fn will_watcher(addr: SocketAddr) -> RawClient {
    let mut w = RawClient::connect(addr, V5, "watcher").await;
    w.subscribe(1, "wills/#", QoS::AtLeastOnce).await;
    w
}

#[tokio::test]
async fn will_is_published_when_the_connection_breaks() {
    let broker = Broker::start().await.unwrap();
    let mut watcher = will_watcher(broker.local_addr()).await;
    let (c, _) = open(broker.local_addr(), with_will(V311, "w", 0)).await;
    drop(c);
    let m = watcher.recv_publish().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("wills/gone", &b"bye"[..])
    );
    assert_eq!(m.qos.qos(), QoS::AtLeastOnce);
    assert_eq!(broker.retained("wills/gone").as_deref(), Some(&b"bye"[..]));
    broker.shutdown().await;
}

#[tokio::test]
async fn will_is_not_published_after_a_normal_disconnect() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut watcher = will_watcher(broker.local_addr()).await;
    for version in [V311, V5] {
        let (mut c, _) = open(broker.local_addr(), with_will(version, "w", 0)).await;
        c.send(Disconnect::new(DisconnectReason::NormalDisconnection))
            .await;
        assert_eq!(
            disconnected(&mut events, "w").await,
            CloseReason::ClientDisconnect
        );
    }
    watcher.ping().await;
    assert_eq!(broker.retained("wills/gone"), None);

    // 5.0: Disconnect with Will Message asks for it.
    let (mut c, _) = open(broker.local_addr(), with_will(V5, "w", 0)).await;
    c.send(Disconnect::new(DisconnectReason::DisconnectWithWillMessage))
        .await;
    assert_eq!(watcher.recv_publish().await.payload, &b"bye"[..]);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn will_is_published_after_a_keep_alive_timeout() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut watcher = will_watcher(broker.local_addr()).await;
    let (_c, _) = open(broker.local_addr(), with_will(V5, "w", 2)).await;
    assert_eq!(
        disconnected(&mut events, "w").await,
        CloseReason::KeepAliveTimeout
    );
    assert_eq!(watcher.recv_publish().await.payload, &b"bye"[..]);
    broker.shutdown().await;
}

#[tokio::test]
async fn will_is_published_after_a_protocol_violation() {
    let broker = Broker::start().await.unwrap();
    let mut watcher = will_watcher(broker.local_addr()).await;
    let (mut c, _) = open(broker.local_addr(), with_will(V311, "w", 0)).await;
    c.send(Connect::new(V311, "w")).await;
    assert_eq!(c.closed().await, vec![]);
    assert_eq!(watcher.recv_publish().await.payload, &b"bye"[..]);
    broker.shutdown().await;
}

#[tokio::test]
async fn inbound_qos2_state_survives_a_reconnect() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut sub = RawClient::connect(addr, V311, "sub").await;
    sub.subscribe(1, "t", QoS::AtMostOnce).await;

    let (mut p, _) = open(addr, session(V5, "p", true, HOUR)).await;
    let msg = publish("t", QosPid::ExactlyOnce(pid(5)), b"once");
    p.send(msg.clone()).await;
    assert_eq!(p.recv().await, Packet::PubRec(PubRec::new(pid(5))));
    drop(p);
    disconnected(&mut events, "p").await;

    // The PUBREC was lost with the connection: the client resends with DUP.
    let (mut p, ack) = open(addr, session(V5, "p", false, HOUR)).await;
    assert!(ack.session_present);
    let mut again = msg;
    again.dup = true;
    p.send(again).await;
    assert_eq!(p.recv().await, Packet::PubRec(PubRec::new(pid(5))));
    p.send(PubRel::new(pid(5))).await;
    assert_eq!(p.recv().await, Packet::PubComp(PubComp::new(pid(5))));

    assert_eq!(sub.recv_publish().await.payload, &b"once"[..]);
    sub.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn taking_over_a_clean_session_starts_a_new_session() {
    // The old connection's session lasts as long as that connection (3.1.1 [MQTT-3.1.2-6],
    // 5.0 §3.1.2.11.2); a takeover closes it before clean session is processed (3.1.1
    // [MQTT-3.1.4-2], [MQTT-3.1.4-3]; 5.0 [MQTT-3.1.4-3], [MQTT-3.1.4-4]), so a clean
    // session 0 / Clean Start 0 connection gets a new, empty session, Session Present 0.
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut p = RawClient::connect(addr, V311, "p").await;
    for (version, id) in [(V311, "clean3"), (V5, "clean5")] {
        let (mut old, ack) = open(addr, session(version, id, true, 0)).await;
        assert!(!ack.session_present);
        old.subscribe(1, "t", QoS::AtLeastOnce).await;
        // An unacknowledged message in the old session.
        p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"old"))
            .await;
        assert_eq!(old.recv_publish().await.payload, &b"old"[..]);

        let (mut new, ack) = open(addr, session(version, id, false, HOUR)).await;
        assert!(!ack.session_present, "{version}: {ack:?}");
        match within(
            events.wait_for(|e| matches!(e, Event::Connected { client_id, .. } if client_id == id)),
        )
        .await
        {
            Some(Event::Connected {
                session_present, ..
            }) => assert!(!session_present),
            other => panic!("{other:?}"),
        }
        // The old connection is closed (5.0: DISCONNECT 0x8E first).
        for packet in old.closed().await {
            assert!(matches!(packet, Packet::Disconnect(_)), "{packet:?}");
        }
        assert_eq!(disconnected(&mut events, id).await, CloseReason::TakenOver);

        // Neither the old subscription nor the old inflight message carried over: the
        // first thing the new connection gets is the message on its own subscription.
        new.subscribe(2, "u", QoS::AtLeastOnce).await;
        p.publish(publish("t", QosPid::AtLeastOnce(pid(2)), b"t"))
            .await;
        p.publish(publish("u", QosPid::AtLeastOnce(pid(3)), b"u"))
            .await;
        let m = new.recv_publish().await;
        assert_eq!(m.payload, &b"u"[..]);
        assert!(!m.dup);
        new.send(PubAck::new(m.qos.packet_id().unwrap())).await;
        new.ping().await;

        // The new session is persistent, as its CONNECT asked.
        drop(new);
        disconnected(&mut events, id).await;
        let (mut again, ack) = open(addr, session(version, id, false, HOUR)).await;
        assert!(ack.session_present);
        again.ping().await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn thousands_of_unacknowledged_messages_are_acknowledged_in_any_order() {
    // Inflight messages are indexed by packet id: acknowledging them out of order, and
    // resending the rest after a reconnect, behaves as with a handful.
    const N: u16 = 3000;
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut sub, _) = open(addr, session(V311, "many", true, HOUR)).await;
    sub.subscribe(1, "t", QoS::ExactlyOnce).await;
    let mut p = RawClient::connect(addr, V311, "p").await;
    for i in 1..=N {
        let qos = if i % 3 == 0 {
            QosPid::ExactlyOnce(pid(i))
        } else {
            QosPid::AtLeastOnce(pid(i))
        };
        p.publish(publish("t", qos, b"m")).await;
    }
    let mut got = Vec::new();
    for _ in 1..=N {
        let m = sub.recv_publish().await;
        got.push((m.qos.packet_id().unwrap(), m.qos.qos()));
    }
    let distinct: std::collections::HashSet<_> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(distinct.len(), usize::from(N));
    // Acknowledge every other one, from the last backwards; QoS 2 ones only PUBREC.
    for (id, qos) in got.iter().rev().step_by(2) {
        if *qos == QoS::ExactlyOnce {
            sub.send(PubRec::new(*id)).await;
            assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(*id)));
        } else {
            sub.send(PubAck::new(*id)).await;
        }
    }
    // An acknowledgement for a packet id already acknowledged is ignored.
    let (first_acked, first_qos) = got[got.len() - 1];
    if first_qos == QoS::AtLeastOnce {
        sub.send(PubAck::new(first_acked)).await;
    }
    sub.ping().await;
    drop(sub);
    disconnected(&mut events, "many").await;

    // The rest come back in their original order: PUBREL for those received, the
    // unacknowledged PUBLISHes with DUP.
    let (mut sub, ack) = open(addr, session(V311, "many", false, HOUR)).await;
    assert!(ack.session_present);
    let acked: std::collections::HashSet<_> =
        got.iter().rev().step_by(2).map(|(id, _)| *id).collect();
    for (id, qos) in &got {
        if acked.contains(id) {
            if *qos == QoS::ExactlyOnce {
                assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(*id)));
            }
            continue;
        }
        let m = sub.recv_publish().await;
        assert!(m.dup);
        assert_eq!(m.qos.packet_id(), Some(*id));
    }
    sub.ping().await;
    for (id, qos) in &got {
        match (*qos, acked.contains(id)) {
            (QoS::ExactlyOnce, true) => sub.send(PubComp::new(*id)).await,
            (QoS::ExactlyOnce, false) => {
                sub.send(PubRec::new(*id)).await;
                assert_eq!(sub.recv().await, Packet::PubRel(PubRel::new(*id)));
                sub.send(PubComp::new(*id)).await;
            }
            (_, true) => {}
            (_, false) => sub.send(PubAck::new(*id)).await,
        }
    }
    sub.ping().await;
    // All done: a new message gets a packet id and flows as usual.
    p.publish(publish("t", QosPid::AtLeastOnce(pid(1)), b"after"))
        .await;
    let m = sub.recv_publish().await;
    assert_eq!(m.payload, &b"after"[..]);
    assert!(!m.dup);
    sub.send(PubAck::new(m.qos.packet_id().unwrap())).await;
    sub.ping().await;
    broker.shutdown().await;
}
