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
