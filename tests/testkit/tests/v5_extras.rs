//! 5.0 timers and extras: session expiry, will delay, Server Keep Alive, message expiry,
//! No Local. Timed tests run on a paused tokio clock: waiting is instant and exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::events::disconnected;
use common::{RawClient, V5, V311, open, pid, publish, refused_with, session, topic};
use mqtt_proto::{
    Disconnect, DisconnectReason, Packet, PubAck, QoS, QosPid, Subscribe, SubscribeFilter, Will,
};
use mqtt_testkit::{Broker, CloseReason, Event, Events};
use tokio::time::Instant;

fn will(delay: u32) -> Will {
    let mut w = Will {
        topic: topic("will"),
        payload: bytes::Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    };
    w.properties.will_delay_interval = Some(delay);
    w
}

async fn expired(events: &mut Events, id: &str) {
    let ev = events
        .wait_for(|e| matches!(e, Event::SessionExpired { client_id } if client_id == id))
        .await;
    assert!(ev.is_some());
}

async fn will_published(events: &mut Events, id: &str) {
    let ev = events
        .wait_for(
            |e| matches!(e, Event::Published { client_id, will: true, .. } if client_id == id),
        )
        .await;
    assert!(ev.is_some());
}

async fn leave(c: &mut RawClient, events: &mut Events, id: &str) {
    c.send(Disconnect::new(DisconnectReason::NormalDisconnection))
        .await;
    assert_eq!(
        disconnected(events, id).await,
        CloseReason::ClientDisconnect
    );
}

#[tokio::test(start_paused = true)]
async fn session_expires_after_its_interval() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();

    let (mut c, _) = open(addr, session(V5, "s", true, 10)).await;
    leave(&mut c, &mut events, "s").await;
    // Back after 9 s: resumed.
    tokio::time::advance(Duration::from_secs(9)).await;
    let (mut c, ack) = open(addr, session(V5, "s", false, 10)).await;
    assert!(ack.session_present);
    leave(&mut c, &mut events, "s").await;
    // The timer restarts with each disconnection: it expires 10 s after the last one.
    let left = Instant::now();
    expired(&mut events, "s").await;
    assert_eq!(left.elapsed(), Duration::from_secs(10));
    let (_c, ack) = open(addr, session(V5, "s", false, 10)).await;
    assert!(!ack.session_present);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_sets_the_session_expiry() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();

    let (mut c, _) = open(addr, session(V5, "d", true, 3600)).await;
    let mut d = Disconnect::new(DisconnectReason::NormalDisconnection);
    d.properties.session_expiry_interval = Some(5);
    c.send(d).await;
    disconnected(&mut events, "d").await;
    let left = Instant::now();
    expired(&mut events, "d").await;
    assert_eq!(left.elapsed(), Duration::from_secs(5));

    // 0 on DISCONNECT ends the session with the connection.
    let (mut c, _) = open(addr, session(V5, "d", true, 3600)).await;
    let mut d = Disconnect::new(DisconnectReason::NormalDisconnection);
    d.properties.session_expiry_interval = Some(0);
    c.send(d).await;
    disconnected(&mut events, "d").await;
    let (_c, ack) = open(addr, session(V5, "d", false, 3600)).await;
    assert!(!ack.session_present);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_cannot_set_expiry_after_zero() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (mut c, _) = open(broker.local_addr(), session(V5, "z", true, 0)).await;
    let mut d = Disconnect::new(DisconnectReason::NormalDisconnection);
    d.properties.session_expiry_interval = Some(5);
    c.send(d).await;
    assert!(matches!(
        disconnected(&mut events, "z").await,
        CloseReason::ProtocolViolation(_)
    ));
    let got = c.closed().await;
    assert!(
        matches!(&got[..], [Packet::Disconnect(d)] if d.reason == DisconnectReason::ProtocolError),
        "{got:?}"
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn max_expiry_and_311_persistent_sessions_never_expire() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    for (version, id) in [(V5, "forever5"), (V311, "forever3")] {
        let (mut c, _) = open(addr, session(version, id, true, u32::MAX)).await;
        leave(&mut c, &mut events, id).await;
    }
    tokio::time::sleep(Duration::from_secs(u64::from(u32::MAX) + 10)).await;
    for (version, id) in [(V5, "forever5"), (V311, "forever3")] {
        let (_c, ack) = open(addr, session(version, id, false, u32::MAX)).await;
        assert!(ack.session_present, "{id}");
    }
    assert!(
        std::iter::from_fn(|| events.try_next())
            .all(|e| !matches!(e, Event::SessionExpired { .. }))
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn will_is_published_after_its_delay() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "will", QoS::AtMostOnce).await;

    let mut c = session(V5, "w", true, 3600);
    c.will = Some(will(5));
    let (w, _) = open(addr, c).await;
    drop(w);
    assert_eq!(
        disconnected(&mut events, "w").await,
        CloseReason::ConnectionLost
    );
    let left = Instant::now();
    will_published(&mut events, "w").await;
    assert_eq!(left.elapsed(), Duration::from_secs(5));
    assert_eq!(sub.recv_publish().await.payload, &b"gone"[..]);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn will_is_published_when_the_session_ends_first() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "will", QoS::AtMostOnce).await;

    // Session expiry 3 s, will delay 30 s: the will goes at 3 s.
    let mut c = session(V5, "w", true, 3);
    c.will = Some(will(30));
    let (w, _) = open(addr, c).await;
    drop(w);
    disconnected(&mut events, "w").await;
    let left = Instant::now();
    will_published(&mut events, "w").await;
    assert_eq!(left.elapsed(), Duration::from_secs(3));
    expired(&mut events, "w").await;
    assert_eq!(sub.recv_publish().await.payload, &b"gone"[..]);

    // Session expiry 0: the session ends with the connection, so the will goes at once.
    let mut c = session(V5, "w0", true, 0);
    c.will = Some(will(30));
    let (w, _) = open(addr, c).await;
    drop(w);
    disconnected(&mut events, "w0").await;
    assert_eq!(sub.recv_publish().await.payload, &b"gone"[..]);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn will_is_not_published_if_the_client_returns_within_the_delay() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "will", QoS::AtMostOnce).await;

    let mut c = session(V5, "w", true, 3600);
    c.will = Some(will(10));
    let (w, _) = open(addr, c).await;
    drop(w);
    disconnected(&mut events, "w").await;
    tokio::time::advance(Duration::from_secs(4)).await;
    // Back within the delay [MQTT-3.1.3-9], without a will this time.
    let (mut w, ack) = open(addr, session(V5, "w", false, 3600)).await;
    assert!(ack.session_present);
    tokio::time::sleep(Duration::from_secs(60)).await;
    w.ping().await;
    sub.ping().await; // no will arrived
    assert!(
        std::iter::from_fn(|| events.try_next())
            .all(|e| !matches!(e, Event::Published { will: true, .. }))
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn server_keep_alive_caps_the_client() {
    let broker = Broker::builder().max_keep_alive(10).start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();

    // Within the maximum: no Server Keep Alive.
    let mut c = session(V5, "ok", true, 0);
    c.keep_alive = 5;
    let (_ok, ack) = open(addr, c).await;
    assert_eq!(ack.properties.server_keep_alive, None);

    for (id, asked) in [("zero", 0), ("long", 600)] {
        let mut c = session(V5, id, true, 0);
        c.keep_alive = asked;
        let (mut client, ack) = open(addr, c).await;
        assert_eq!(ack.properties.server_keep_alive, Some(10), "{id}");
        let start = Instant::now();
        assert_eq!(
            disconnected(&mut events, id).await,
            CloseReason::KeepAliveTimeout
        );
        assert_eq!(start.elapsed(), Duration::from_secs(15), "{id}");
        let got = client.closed().await;
        assert!(
            matches!(&got[..], [Packet::Disconnect(d)] if d.reason == DisconnectReason::KeepAliveTimeout),
            "{got:?}"
        );
    }
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn queued_messages_expire_and_carry_the_remaining_interval() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let (mut sub, _) = open(addr, session(V5, "sub", true, 3600)).await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    leave(&mut sub, &mut events, "sub").await;

    let mut p = RawClient::connect(addr, V5, "p").await;
    let mut short = publish("t", QosPid::AtLeastOnce(pid(1)), b"short");
    short.properties_mut().message_expiry_interval = Some(5);
    let mut long = publish("t", QosPid::AtLeastOnce(pid(2)), b"long");
    long.properties_mut().message_expiry_interval = Some(100);
    let plain = publish("t", QosPid::AtLeastOnce(pid(3)), b"plain");
    p.publish(short).await;
    p.publish(long).await;
    p.publish(plain).await;

    tokio::time::sleep(Duration::from_secs(10)).await;
    let (mut sub, ack) = open(addr, session(V5, "sub", false, 3600)).await;
    assert!(ack.session_present);
    // [MQTT-3.3.2-5]: "short" expired; [MQTT-3.3.2-6]: "long" has 90 s left.
    let got = sub.recv_publish().await;
    assert_eq!(got.payload, &b"long"[..]);
    assert_eq!(got.properties().message_expiry_interval, Some(90));
    sub.send(PubAck::new(got.qos.packet_id().unwrap())).await;
    let got = sub.recv_publish().await;
    assert_eq!(got.payload, &b"plain"[..]);
    assert_eq!(got.properties().message_expiry_interval, None);
    sub.send(PubAck::new(got.qos.packet_id().unwrap())).await;
    sub.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn no_local_skips_the_publishers_own_subscription() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut me = RawClient::connect(addr, V5, "me").await;
    let mut s = SubscribeFilter::new(common::filter("t"), QoS::AtMostOnce);
    s.options.no_local = true;
    me.send(Subscribe::new(pid(1), vec![s])).await;
    me.suback().await;

    me.publish(publish("t", QosPid::AtMostOnce, b"mine")).await;
    me.ping().await; // not delivered back
    let mut other = RawClient::connect(addr, V5, "other").await;
    other
        .publish(publish("t", QosPid::AtMostOnce, b"theirs"))
        .await;
    assert_eq!(me.recv_publish().await.payload, &b"theirs"[..]);
    broker.shutdown().await;
}

/// A PUBLISH at QoS 0 with this topic (possibly empty) and Topic Alias.
fn aliased(t: &str, alias: u16) -> mqtt_proto::Publish {
    let name = if t.is_empty() {
        mqtt_proto::TopicName::alias_only()
    } else {
        topic(t)
    };
    let mut p = mqtt_proto::Publish::new(name, QosPid::AtMostOnce, &b"x"[..]);
    p.properties_mut().topic_alias = std::num::NonZeroU16::new(alias);
    p
}

#[tokio::test]
async fn inbound_topic_aliases_are_resolved() {
    let broker = Broker::builder()
        .topic_alias_maximum(2)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "a/b", QoS::AtMostOnce).await;

    let (mut p, ack) = open(addr, session(V5, "p", true, 0)).await;
    assert_eq!(ack.properties.topic_alias_maximum, Some(2));
    p.send(aliased("a/b", 1)).await;
    p.send(aliased("", 1)).await;
    p.send(aliased("c", 2)).await; // remapping works per alias
    p.send(aliased("a/b", 2)).await;
    p.send(aliased("", 2)).await;
    p.ping().await;
    for _ in 0..4 {
        let got = sub.recv_publish().await;
        assert_eq!(got.topic.as_str(), "a/b");
        assert_eq!(got.properties().topic_alias, None, "not passed on");
    }
    sub.ping().await;

    // Above the maximum: 0x94.
    p.send(aliased("a/b", 3)).await;
    refused_with(&mut p, DisconnectReason::TopicAliasInvalid).await;
    // 0: 0x94 (written raw: the codec cannot encode it).
    let (mut z, _) = open(addr, session(V5, "z", true, 0)).await;
    z.send_raw(&[0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00])
        .await;
    refused_with(&mut z, DisconnectReason::TopicAliasInvalid).await;
    // Aliases belong to the connection: a new one has no mapping (Protocol Error).
    let (mut n, _) = open(addr, session(V5, "p", true, 0)).await;
    n.send(aliased("", 1)).await;
    refused_with(&mut n, DisconnectReason::ProtocolError).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn topic_aliases_are_refused_by_default() {
    let broker = Broker::start().await.unwrap();
    let (mut p, ack) = open(broker.local_addr(), session(V5, "p", true, 0)).await;
    assert_eq!(ack.properties.topic_alias_maximum, None);
    p.send(aliased("a", 1)).await;
    refused_with(&mut p, DisconnectReason::TopicAliasInvalid).await;
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn takeover_that_resumes_does_not_send_a_delayed_will() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "will", QoS::AtMostOnce).await;

    let mut c = session(V5, "w", true, 3600);
    c.will = Some(will(10));
    let (_old, _) = open(addr, c).await;
    let (mut new, ack) = open(addr, session(V5, "w", false, 3600)).await;
    assert!(ack.session_present);
    assert_eq!(disconnected(&mut events, "w").await, CloseReason::TakenOver);
    tokio::time::sleep(Duration::from_secs(60)).await;
    new.ping().await;
    sub.ping().await; // no will

    // A clean start ends the old session: its will goes at once.
    let mut c = session(V5, "w", false, 3600);
    c.will = Some(will(10));
    drop(new);
    disconnected(&mut events, "w").await;
    let (_again, _) = open(addr, c).await;
    let (_clean, ack) = open(addr, session(V5, "w", true, 3600)).await;
    assert!(!ack.session_present);
    will_published(&mut events, "w").await;
    assert_eq!(sub.recv_publish().await.payload, &b"gone"[..]);
    broker.shutdown().await;
}
