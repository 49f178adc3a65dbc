//! Per-user authorisation: deny lists by user name, on top of the global ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{RawClient, V5, V311, filter, login, pid, publish, suback_failure, within};
use mqtt_proto::{
    Packet, ProtocolVersion, PubAck, PubAckReason, QoS, QosPid, SubAckReason, Subscribe,
    SubscribeFilter, Will,
};
use mqtt_testkit::{Acl, Broker, Event};

async fn client(broker: &Broker, version: ProtocolVersion, id: &str, user: &str) -> RawClient {
    let (c, ack) = RawClient::connect_with(
        broker.local_addr(),
        login(version, id, Some(user), Some("pw")),
    )
    .await;
    assert!(!ack.reason.is_error(), "CONNACK refused: {ack:?}");
    c
}

async fn acl_broker() -> Broker {
    Broker::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .deny_subscribe("global/#")
        .user_acl("alice", Acl::new().deny_subscribe("bob/#"))
        .user_acl("alice", Acl::new().deny_publish("bob/+/inbox"))
        .user_acl("bob", Acl::new().deny_subscribe("alice/#"))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_user_gets_its_own_subscribe_deny_list_and_the_global_one() {
    let broker = acl_broker().await;
    let mut events = broker.events();
    for version in [V311, V5] {
        let refused = suback_failure(version, SubAckReason::NotAuthorized);
        let mut alice = client(&broker, version, "alice-client", "alice").await;
        alice
            .send(Subscribe::new(
                pid(1),
                vec![
                    SubscribeFilter::new(filter("bob/x"), QoS::AtLeastOnce),
                    SubscribeFilter::new(filter("alice/x"), QoS::AtLeastOnce),
                    SubscribeFilter::new(filter("global/x"), QoS::AtLeastOnce),
                    SubscribeFilter::new(filter("$share/g/bob/+"), QoS::AtLeastOnce),
                ],
            ))
            .await;
        assert_eq!(
            alice.suback().await.reasons,
            vec![refused, SubAckReason::GrantedQoS1, refused, refused]
        );
        for expected in ["bob/x", "global/x", "$share/g/bob/+"] {
            match within(events.wait_for(|e| matches!(e, Event::SubscribeDenied { .. }))).await {
                Some(Event::SubscribeDenied { client_id, filter }) => {
                    assert_eq!(client_id, "alice-client");
                    assert_eq!(filter.as_str(), expected);
                }
                other => panic!("expected SubscribeDenied, got {other:?}"),
            }
        }

        let mut bob = client(&broker, version, "bob-client", "bob").await;
        bob.send(Subscribe::new(
            pid(1),
            vec![
                SubscribeFilter::new(filter("bob/x"), QoS::AtLeastOnce),
                SubscribeFilter::new(filter("alice/x"), QoS::AtLeastOnce),
            ],
        ))
        .await;
        assert_eq!(
            bob.suback().await.reasons,
            vec![SubAckReason::GrantedQoS1, refused]
        );
        match within(events.wait_for(|e| matches!(e, Event::SubscribeDenied { .. }))).await {
            Some(Event::SubscribeDenied { client_id, filter }) => {
                assert_eq!(client_id, "bob-client");
                assert_eq!(filter.as_str(), "alice/x");
            }
            other => panic!("expected SubscribeDenied, got {other:?}"),
        }
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_user_publish_deny_list_applies_to_that_user_only() {
    let broker = acl_broker().await;
    let mut events = broker.events();
    let mut watcher = client(&broker, V5, "watcher", "bob").await;
    watcher.subscribe(1, "bob/+/inbox", QoS::AtLeastOnce).await;

    // Alice may not write to bob's inbox: 5.0 PUBACK 0x87, not routed.
    let mut alice = client(&broker, V5, "alice-client", "alice").await;
    alice
        .send(publish("bob/1/inbox", QosPid::AtLeastOnce(pid(7)), b"no"))
        .await;
    match alice.recv().await {
        Packet::PubAck(ack) => {
            assert_eq!(ack.packet_id, pid(7));
            assert_eq!(ack.reason, PubAckReason::NotAuthorized);
        }
        other => panic!("expected PUBACK, got {other:?}"),
    }
    match within(events.wait_for(|e| matches!(e, Event::PublishDenied { .. }))).await {
        Some(Event::PublishDenied { client_id, publish }) => {
            assert_eq!(client_id, "alice-client");
            assert_eq!(publish.topic.as_str(), "bob/1/inbox");
        }
        other => panic!("expected PublishDenied, got {other:?}"),
    }
    // 3.x: acknowledged as usual, still not routed.
    let mut alice3 = client(&broker, V311, "alice-311", "alice").await;
    alice3
        .publish(publish("bob/2/inbox", QosPid::AtLeastOnce(pid(8)), b"no"))
        .await;
    // Alice may write elsewhere, and bob to his own inbox.
    alice
        .publish(publish(
            "bob/1/outbox",
            QosPid::AtLeastOnce(pid(9)),
            b"fine",
        ))
        .await;
    let mut bob = client(&broker, V311, "bob-client", "bob").await;
    bob.publish(publish("bob/1/inbox", QosPid::AtLeastOnce(pid(1)), b"yes"))
        .await;
    // The watcher gets only bob's message: alice's denied ones were never routed, and
    // they were sent before it.
    let got = watcher.recv_publish().await;
    assert_eq!(got.payload, bytes::Bytes::from_static(b"yes"));
    watcher
        .send(PubAck::new(got.qos.packet_id().unwrap()))
        .await;
    watcher.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_will_to_a_topic_denied_to_its_user_is_dropped() {
    let broker = acl_broker().await;
    let mut events = broker.events();
    let mut watcher = client(&broker, V5, "watcher", "bob").await;
    watcher.subscribe(1, "bob/#", QoS::AtMostOnce).await;

    let mut c = login(V311, "alice-will", Some("alice"), Some("pw"));
    c.will = Some(Will::new(
        mqtt_proto::TopicName::new("bob/1/inbox").unwrap(),
        &b"gone"[..],
    ));
    let (alice, ack) = RawClient::connect_with(broker.local_addr(), c).await;
    assert!(!ack.reason.is_error());
    drop(alice); // abnormal close: the will would be published
    match within(events.wait_for(|e| matches!(e, Event::PublishDenied { .. }))).await {
        Some(Event::PublishDenied { client_id, publish }) => {
            assert_eq!(client_id, "alice-will");
            assert_eq!(publish.topic.as_str(), "bob/1/inbox");
        }
        other => panic!("expected PublishDenied, got {other:?}"),
    }
    watcher.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn without_a_user_name_only_the_global_lists_apply() {
    let broker = Broker::builder()
        .user_acl("alice", Acl::new().deny_subscribe("#"))
        .start()
        .await
        .unwrap();
    // Anonymous broker: the user name is whatever the client claims.
    let mut anonymous = RawClient::connect(broker.local_addr(), V5, "anon").await;
    let ack = anonymous.subscribe(1, "a/b", QoS::AtMostOnce).await;
    assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS0]);
    let (mut alice, _) =
        RawClient::connect_with(broker.local_addr(), login(V5, "alice", Some("alice"), None)).await;
    let ack = alice.subscribe(1, "a/b", QoS::AtMostOnce).await;
    assert_eq!(ack.reasons, vec![SubAckReason::NotAuthorized]);
    broker.shutdown().await;
}

/// Grants by prefix: subscribe to `open/...` and `#`; read anything but `hidden/...`;
/// write `open/...` and `hidden/...`.
#[derive(Debug)]
struct Prefixes;

impl mqtt_testkit::Authorizer for Prefixes {
    fn allows(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: mqtt_testkit::Access,
    ) -> bool {
        use mqtt_testkit::Access;
        assert!(!client_id.is_empty());
        assert_eq!(username, None);
        match access {
            Access::Subscribe => topic == "#" || topic.starts_with("open/"),
            Access::Read => !topic.starts_with("hidden/"),
            Access::Write => topic.starts_with("open/") || topic.starts_with("hidden/"),
        }
    }
}

#[tokio::test]
async fn an_authorizer_filters_every_message_whatever_the_filter_matched() {
    let broker = Broker::builder()
        .authorizer(std::sync::Arc::new(Prefixes))
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    assert_eq!(
        sub.subscribe(1, "#", QoS::AtMostOnce).await.reasons,
        vec![SubAckReason::GrantedQoS0]
    );
    assert_eq!(
        sub.subscribe(2, "hidden/#", QoS::AtMostOnce).await.reasons,
        vec![SubAckReason::NotAuthorized]
    );
    let mut publisher = RawClient::connect(addr, V5, "pub").await;
    // Allowed to write hidden/..., but nobody may read it: the `#` subscription skips it.
    publisher
        .send(publish("hidden/x", QosPid::AtMostOnce, b"no"))
        .await;
    publisher
        .send(publish("open/x", QosPid::AtMostOnce, b"yes"))
        .await;
    // Not allowed to write elsewhere: 5.0 PUBACK 0x87, nothing routed.
    publisher
        .send(publish("other", QosPid::AtLeastOnce(pid(1)), b"no"))
        .await;
    match publisher.recv().await {
        Packet::PubAck(PubAck { reason, .. }) => assert_eq!(reason, PubAckReason::NotAuthorized),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    publisher
        .send(publish("open/y", QosPid::AtMostOnce, b"yes"))
        .await;
    assert_eq!(sub.recv_publish().await.topic.as_str(), "open/x");
    assert_eq!(sub.recv_publish().await.topic.as_str(), "open/y");
    // Retained messages are checked too: the hidden one is stored, and withheld.
    publisher
        .send({
            let mut p = publish("hidden/r", QosPid::AtMostOnce, b"r");
            p.retain = true;
            p
        })
        .await;
    publisher.ping().await;
    assert!(broker.retained("hidden/r").is_some());
    let mut late = RawClient::connect(addr, V5, "late").await;
    late.subscribe(1, "#", QoS::AtMostOnce).await;
    late.ping().await;
    broker.shutdown().await;
}

/// Checks passwords by a rule: the password is the user name reversed.
#[derive(Debug)]
struct Reversed;

impl mqtt_testkit::Authenticator for Reversed {
    fn check(&self, username: &str, password: &[u8]) -> bool {
        username.bytes().rev().eq(password.iter().copied())
    }
}

#[tokio::test]
async fn an_authenticator_and_allow_anonymous() {
    use mqtt_proto::ConnectReason;
    for (anonymous, anon_reason) in [
        (None, ConnectReason::NotAuthorized),
        (Some(true), ConnectReason::Success),
        (Some(false), ConnectReason::NotAuthorized),
    ] {
        let mut builder = Broker::builder().authenticator(std::sync::Arc::new(Reversed));
        if let Some(allow) = anonymous {
            builder = builder.allow_anonymous(allow);
        }
        let broker = builder.start().await.unwrap();
        let addr = broker.local_addr();
        let (_, ack) = RawClient::connect_with(addr, login(V5, "a", None, None)).await;
        assert_eq!(ack.reason, anon_reason, "{anonymous:?}");
        let (_, ack) =
            RawClient::connect_with(addr, login(V5, "b", Some("abc"), Some("cba"))).await;
        assert_eq!(ack.reason, ConnectReason::Success);
        let (_, ack) =
            RawClient::connect_with(addr, login(V5, "c", Some("abc"), Some("abc"))).await;
        // As mosquitto refuses a wrong password from its password file.
        assert_eq!(ack.reason, ConnectReason::NotAuthorized);
        broker.shutdown().await;
    }
    // allow_anonymous(false) without users or authenticator: any user name is let in.
    let broker = Broker::builder()
        .allow_anonymous(false)
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let (_, ack) = RawClient::connect_with(addr, login(V311, "a", None, None)).await;
    assert_eq!(ack.reason, ConnectReason::NotAuthorized);
    let (_, ack) = RawClient::connect_with(addr, login(V311, "b", Some("x"), None)).await;
    assert_eq!(ack.reason, ConnectReason::Success);
    broker.shutdown().await;
}

#[tokio::test]
async fn max_inflight_messages_holds_back_deliveries_until_acknowledged() {
    let broker = Broker::builder()
        .max_inflight_messages(std::num::NonZeroU16::new(2).unwrap())
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    for version in [V311, V5] {
        let mut sub = RawClient::connect(addr, version, "slow").await;
        sub.subscribe(1, "w", QoS::AtLeastOnce).await;
        let mut publisher = RawClient::connect(addr, version, "fast").await;
        for n in 1..=3 {
            publisher
                .send(publish("w", QosPid::AtLeastOnce(pid(n)), b"m"))
                .await;
            assert!(matches!(publisher.recv().await, Packet::PubAck(_)));
        }
        let first = sub.recv_publish().await;
        let _second = sub.recv_publish().await;
        // The third waits: the next packet is the PINGRESP.
        sub.ping().await;
        sub.ack(&first).await;
        let third = sub.recv_publish().await;
        assert_eq!(third.topic.as_str(), "w");
    }
    broker.shutdown().await;
}
