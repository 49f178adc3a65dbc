//! Issue 16, defect 1: messages reach the application in the order they arrived.
//!
//! A scripted broker (`mqtt_testkit::script`: a loopback listener writing packets encoded
//! with mqtt-proto)
//! resumes a session: a queued PUBLISH in the same write as CONNACK, one between reading
//! SUBSCRIBE and sending SUBACK, one after. With the subscription declared in the options
//! all three arrive on the catch-all stream, in that order; a subscription made with
//! `subscribe` has its route before its SUBSCRIBE is written, so a PUBLISH that arrives
//! before its SUBACK is already on its stream. (The 2,000-message case against mosquitto is
//! in `interop_mosquitto.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use mqtt_client::{
    Client, ClientError, Options, ProtocolVersion, QoS, RequestError, SubAckReason, TopicFilter,
};
use mqtt_proto::{
    ConnAck, ConnectReason, Packet, PacketId, Publish, QosPid, SubAck, Subscribe, TopicName,
};
use mqtt_testkit::script::{Peer, ScriptedBroker};

mod common;

use common::within_limit as within;

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V3_1_1, ProtocolVersion::V5];

/// Read until SUBSCRIBE; the packet ids of the PUBACKs read meanwhile go to `acked`.
async fn subscribe(peer: &mut Peer, acked: &mut Vec<u16>) -> Subscribe {
    let (sub, before) = peer.until(|p| matches!(p, Packet::Subscribe(_))).await;
    acked.extend(pubacks(&before));
    match sub {
        Packet::Subscribe(s) => s,
        _ => unreachable!(),
    }
}

/// Read until the client closes; with `acked`, the packet ids it acknowledged, in order.
async fn acked_until_closed(peer: &mut Peer, mut acked: Vec<u16>) -> Vec<u16> {
    acked.extend(pubacks(&peer.until_closed().await));
    acked
}

fn pubacks(packets: &[Packet]) -> impl Iterator<Item = u16> + '_ {
    packets.iter().filter_map(|p| match p {
        Packet::PubAck(a) => Some(a.packet_id.get()),
        _ => None,
    })
}

fn connack(session_present: bool) -> Packet {
    Packet::ConnAck(Box::new(ConnAck::new(
        session_present,
        ConnectReason::Success,
    )))
}

fn publish(n: u16) -> Packet {
    Packet::Publish(Publish::new(
        TopicName::new(format!("order/{n}")).unwrap(),
        QosPid::from_qos(QoS::AtLeastOnce, PacketId::new(n).unwrap()),
        format!("p{n}"),
    ))
}

fn suback(s: &Subscribe, reason: SubAckReason) -> Packet {
    Packet::SubAck(SubAck::new(s.packet_id, vec![reason]))
}

fn options(port: u16, v: ProtocolVersion) -> Options {
    let mut o = Options::from_url(&format!("mqtt://127.0.0.1:{port}"))
        .unwrap()
        .with_client_id("order")
        .with_protocol(v)
        .with_clean_start(false)
        .with_session_expiry(3600);
    o.reconnect.enabled = false;
    o
}

/// One connection playing the resumed session's script: CONNACK + p1, SUBSCRIBE, p2,
/// SUBACK, p3; the packet ids the client acknowledged, in order.
fn resumed_session() -> ScriptedBroker<Vec<u16>> {
    ScriptedBroker::accept(1, |_, mut peer| async move {
        peer.connect().await;
        let mut acked = Vec::new();
        peer.send_all(&[connack(true), publish(1)]).await;
        let sub = subscribe(&mut peer, &mut acked).await;
        peer.send(publish(2)).await;
        peer.send(suback(&sub, SubAckReason::GrantedQoS1)).await;
        peer.send(publish(3)).await;
        acked_until_closed(&mut peer, acked).await
    })
}

#[tokio::test]
async fn declared_subscriptions_deliver_in_arrival_order_on_one_stream() {
    for v in VERSIONS {
        let script = resumed_session();
        let opts = options(script.port(), v)
            .with_subscription(TopicFilter::new("order/#").unwrap(), QoS::AtLeastOnce);
        let (client, mut messages) = within(Client::connect(opts)).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let m = within(messages.recv()).await.expect("a message");
            got.push(String::from_utf8(m.payload().to_vec()).unwrap());
        }
        assert_eq!(got, ["p1", "p2", "p3"], "{v:?}");
        let acks = within(client.declared_subscriptions()).await.unwrap();
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].results[0].0.as_str(), "order/#");
        assert_eq!(acks[0].results[0].1, SubAckReason::GrantedQoS1);
        within(client.disconnect(Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(
            script.finish().await,
            [vec![1, 2, 3]],
            "{v:?}: acked in order"
        );
    }
}

#[tokio::test]
async fn a_publish_before_the_suback_is_already_on_the_subscriptions_stream() {
    for v in VERSIONS {
        let script = ScriptedBroker::accept(1, |_, mut peer| async move {
            peer.connect().await;
            let mut acked = Vec::new();
            peer.send(connack(false)).await;
            let sub = subscribe(&mut peer, &mut acked).await;
            peer.send(publish(2)).await;
            peer.send(suback(&sub, SubAckReason::GrantedQoS1)).await;
            peer.send(publish(3)).await;
            acked_until_closed(&mut peer, acked).await
        });
        let (client, mut messages) = within(Client::connect(options(script.port(), v)))
            .await
            .unwrap();
        let mut sub = within(client.subscribe("order/#", QoS::AtLeastOnce))
            .await
            .unwrap();
        for want in ["p2", "p3"] {
            let m = within(sub.recv()).await.expect("a message");
            assert_eq!(m.payload().as_ref(), want.as_bytes(), "{v:?}");
        }
        assert!(
            messages.try_recv().is_none(),
            "{v:?}: nothing on the catch-all"
        );
        within(client.disconnect(Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(script.finish().await, [vec![2, 3]]);
    }
}

#[tokio::test]
async fn a_refused_declared_subscription_is_reported() {
    for v in VERSIONS {
        let script = ScriptedBroker::accept(1, |_, mut peer| async move {
            peer.connect().await;
            let mut acked = Vec::new();
            peer.send(connack(false)).await;
            let sub = subscribe(&mut peer, &mut acked).await;
            peer.send(suback(&sub, SubAckReason::UnspecifiedError))
                .await;
            acked_until_closed(&mut peer, acked).await
        });
        let opts = options(script.port(), v)
            .with_subscription(TopicFilter::new("denied/#").unwrap(), QoS::AtLeastOnce);
        let (client, _messages) = within(Client::connect(opts)).await.unwrap();
        match within(client.declared_subscriptions()).await {
            Err(ClientError::Request(RequestError::SubscribeRefused(ack))) => {
                assert_eq!(ack.results[0].1, SubAckReason::UnspecifiedError);
            }
            other => panic!("{v:?}: {other:?}"),
        }
        within(client.disconnect(Duration::from_secs(1)))
            .await
            .unwrap();
        script.finish().await;
    }
}

#[tokio::test]
async fn without_declared_subscriptions_there_is_nothing_to_wait_for() {
    let script = ScriptedBroker::accept(1, |_, mut peer| async move {
        peer.connect().await;
        peer.send(connack(false)).await;
        acked_until_closed(&mut peer, Vec::new()).await
    });
    let (client, _messages) = within(Client::connect(options(script.port(), ProtocolVersion::V5)))
        .await
        .unwrap();
    assert!(
        within(client.declared_subscriptions())
            .await
            .unwrap()
            .is_empty()
    );
    within(client.disconnect(Duration::from_secs(1)))
        .await
        .unwrap();
    script.finish().await;
}

#[tokio::test]
async fn declared_subscriptions_survive_the_fallback_to_3_1_1() {
    let script = ScriptedBroker::accept(2, |n, mut peer| async move {
        let c = peer.connect().await;
        if n == 0 {
            // The 5.0 CONNECT is refused for its version...
            assert_eq!(c.protocol, ProtocolVersion::V5);
            peer.send(Packet::ConnAck(Box::new(ConnAck::new(
                false,
                ConnectReason::UnsupportedProtocolVersion,
            ))))
            .await;
            return Vec::new();
        }
        // ... and the 3.1.1 one still subscribes, with the route in place from the start.
        assert_eq!(c.protocol, ProtocolVersion::V3_1_1);
        let mut acked = Vec::new();
        peer.send_all(&[connack(true), publish(1)]).await;
        let sub = subscribe(&mut peer, &mut acked).await;
        peer.send_all(&[publish(2), suback(&sub, SubAckReason::GrantedQoS1)])
            .await;
        acked_until_closed(&mut peer, acked).await
    });
    let mut opts = options(script.port(), ProtocolVersion::V5)
        .with_subscription(TopicFilter::new("order/#").unwrap(), QoS::AtLeastOnce);
    opts.fallback_to_v311 = true;
    let (client, mut messages) = within(Client::connect(opts)).await.unwrap();
    assert_eq!(client.protocol(), ProtocolVersion::V3_1_1);
    for want in ["p1", "p2"] {
        let m = within(messages.recv()).await.expect("a message");
        assert_eq!(m.payload().as_ref(), want.as_bytes());
    }
    let acks = within(client.declared_subscriptions()).await.unwrap();
    assert_eq!(acks.len(), 1);
    within(client.disconnect(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(script.finish().await, [vec![], vec![1, 2]]);
}
