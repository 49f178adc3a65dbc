//! Authentication (user table) and authorisation (deny lists for subscribe and publish).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{RawClient, V5, V311, filter, login, pid, publish, suback_failure, within};
use mqtt_proto::{
    ConnectReason, Packet, PubAck, PubAckReason, PubComp, PubRec, PubRel, QoS, QosPid,
    SubAckReason, Subscribe, SubscribeFilter,
};
use mqtt_testkit::{Broker, CloseReason, Event};

async fn refused_event(events: &mut mqtt_testkit::Events) -> (Event, CloseReason) {
    let failed = within(events.wait_for(|e| matches!(e, Event::AuthenticationFailed { .. })))
        .await
        .unwrap();
    let closed = match within(events.wait_for(|e| matches!(e, Event::Disconnected { .. }))).await {
        Some(Event::Disconnected { reason, .. }) => reason,
        other => panic!("expected Disconnected, got {other:?}"),
    };
    (failed, closed)
}

#[tokio::test]
async fn user_table_refuses_bad_or_missing_credentials() {
    let broker = Broker::builder()
        .users([("alice".to_owned(), "secret".to_owned())])
        .user("bob", "hunter2")
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    for version in [V311, V5] {
        // (user, password, expected code)
        let cases = [
            (None, None, ConnectReason::NotAuthorized),
            (Some("alice"), None, ConnectReason::NotAuthorized),
            (
                Some("alice"),
                Some("wrong"),
                ConnectReason::BadUserNameOrPassword,
            ),
            (
                Some("mallory"),
                Some("secret"),
                ConnectReason::BadUserNameOrPassword,
            ),
            (
                Some("bob"),
                Some("secret"),
                ConnectReason::BadUserNameOrPassword,
            ),
        ];
        for (user, pass, code) in cases {
            let (mut c, ack) = RawClient::connect_with(addr, login(version, "c", user, pass)).await;
            assert_eq!(ack.reason, code, "{version} {user:?} {pass:?}");
            assert!(!ack.session_present);
            assert_eq!(c.closed().await, vec![], "closed after the CONNACK");
            let (failed, closed) = refused_event(&mut events).await;
            assert_eq!(
                failed,
                Event::AuthenticationFailed {
                    client_id: "c".to_owned(),
                    username: user.map(str::to_owned),
                    reason: code,
                }
            );
            assert_eq!(closed, CloseReason::Refused(code));
        }
        for (user, pass) in [("alice", "secret"), ("bob", "hunter2")] {
            let (mut c, ack) =
                RawClient::connect_with(addr, login(version, user, Some(user), Some(pass))).await;
            assert_eq!(ack.reason, ConnectReason::Success, "{version} {user}");
            c.ping().await;
        }
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn anonymous_by_default() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    for version in [V311, V5] {
        for (user, pass) in [(None, None), (Some("anyone"), Some("anything"))] {
            let (mut c, ack) = RawClient::connect_with(addr, login(version, "a", user, pass)).await;
            assert_eq!(ack.reason, ConnectReason::Success);
            c.ping().await;
        }
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn denied_subscriptions_are_refused_and_the_others_granted() {
    let broker = Broker::builder()
        .deny_subscribe("secret/#")
        .deny_subscribe("+/private")
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    for version in [V311, V5] {
        let refused = suback_failure(version, SubAckReason::NotAuthorized);
        let id = format!("sub-{}", version.level());
        let mut sub = RawClient::connect(addr, version, &id).await;
        let filters = [
            "open/a",
            "secret/x",
            "secret/#",
            "secret/+",
            "a/private",
            "$share/g/secret/y",
            "open/#",
        ];
        sub.send(Subscribe::new(
            pid(1),
            filters
                .iter()
                .map(|f| SubscribeFilter::new(filter(f), QoS::AtLeastOnce))
                .collect(),
        ))
        .await;
        let ack = sub.suback().await;
        let expected = vec![
            SubAckReason::GrantedQoS1,
            refused,
            refused,
            refused,
            refused,
            refused,
            SubAckReason::GrantedQoS1,
        ];
        assert_eq!(ack.reasons, expected, "{version}");
        for f in [
            "secret/x",
            "secret/#",
            "secret/+",
            "a/private",
            "$share/g/secret/y",
        ] {
            assert_eq!(
                within(events.wait_for(|e| matches!(e, Event::SubscribeDenied { .. }))).await,
                Some(Event::SubscribeDenied {
                    client_id: id.clone(),
                    filter: filter(f),
                })
            );
        }
        match within(events.wait_for(|e| matches!(e, Event::Subscribed { .. }))).await {
            Some(Event::Subscribed { results, .. }) => assert_eq!(
                results.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
                expected
            ),
            other => panic!("expected Subscribed, got {other:?}"),
        }

        // The refused filters route nothing; the granted ones work.
        let mut publisher = RawClient::connect(addr, V311, "pub").await;
        publisher
            .publish(publish("secret/x", QosPid::AtMostOnce, b"no"))
            .await;
        publisher
            .publish(publish("open/a", QosPid::AtLeastOnce(pid(7)), b"yes"))
            .await;
        let got = sub.recv_publish().await;
        assert_eq!(got.topic.as_str(), "open/a");
        sub.send(PubAck::new(got.qos.packet_id().unwrap())).await;
        // open/a matches two granted filters: one copy. Nothing else is waiting.
        sub.ping().await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn denied_publishes_are_not_routed() {
    let broker = Broker::builder()
        .deny_publish("secret/#")
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "#", QoS::ExactlyOnce).await;
    for version in [V311, V5] {
        let mut p = RawClient::connect(addr, version, "pub").await;
        let mut retained = publish("secret/a", QosPid::AtMostOnce, b"0");
        retained.retain = true;
        p.send(retained).await;
        p.send(publish("secret/a", QosPid::AtLeastOnce(pid(1)), b"1"))
            .await;
        let puback = match p.recv().await {
            Packet::PubAck(a) => a,
            other => panic!("expected PUBACK, got {other:?}"),
        };
        assert_eq!(puback.packet_id, pid(1));
        p.send(publish("secret/b/c", QosPid::ExactlyOnce(pid(2)), b"2"))
            .await;
        let pubrec = match p.recv().await {
            Packet::PubRec(r) => r,
            other => panic!("expected PUBREC, got {other:?}"),
        };
        assert_eq!(pubrec.packet_id, pid(2));
        if version.is_v5() {
            assert_eq!(puback.reason, PubAckReason::NotAuthorized);
            assert_eq!(pubrec.reason, PubAckReason::NotAuthorized);
        } else {
            // 3.1.1 has no reason codes: acknowledged as usual, the QoS 2 flow completes.
            assert_eq!(puback, PubAck::new(pid(1)));
            assert_eq!(pubrec, PubRec::new(pid(2)));
            p.send(PubRel::new(pid(2))).await;
            assert_eq!(p.recv().await, Packet::PubComp(PubComp::new(pid(2))));
        }
        for payload in [&b"0"[..], b"1", b"2"] {
            match within(events.wait_for(|e| matches!(e, Event::PublishDenied { .. }))).await {
                Some(Event::PublishDenied { client_id, publish }) => {
                    assert_eq!(client_id, "pub");
                    assert_eq!(&publish.payload[..], payload);
                }
                other => panic!("expected PublishDenied, got {other:?}"),
            }
        }
        // An allowed topic still goes through, and it is the only message routed.
        p.publish(publish("open", QosPid::AtMostOnce, b"ok")).await;
        let got = sub.recv_publish().await;
        assert_eq!((got.topic.as_str(), &got.payload[..]), ("open", &b"ok"[..]));
        sub.ping().await;
        assert_eq!(broker.retained("secret/a"), None);
        p.send(mqtt_proto::Disconnect::new(
            mqtt_proto::DisconnectReason::NormalDisconnection,
        ))
        .await;
        assert_eq!(p.closed().await, vec![]);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_well_behaved_client_is_unaffected() {
    let broker = Broker::builder()
        .user("alice", "secret")
        .deny_subscribe("secret/#")
        .deny_publish("secret/#")
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    for version in [V311, V5] {
        let (mut sub, ack) =
            RawClient::connect_with(addr, login(version, "sub", Some("alice"), Some("secret")))
                .await;
        assert_eq!(ack.reason, ConnectReason::Success);
        let (mut p, ack) =
            RawClient::connect_with(addr, login(version, "pub", Some("alice"), Some("secret")))
                .await;
        assert_eq!(ack.reason, ConnectReason::Success);
        let ack = sub.subscribe(1, "open/#", QoS::ExactlyOnce).await;
        assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS2]);
        p.publish(publish("open/0", QosPid::AtMostOnce, b"0")).await;
        p.publish(publish("open/1", QosPid::AtLeastOnce(pid(1)), b"1"))
            .await;
        p.publish(publish("open/2", QosPid::ExactlyOnce(pid(2)), b"2"))
            .await;
        assert_eq!(sub.recv_publish().await.payload.as_ref(), b"0");
        let got = sub.recv_publish().await;
        assert_eq!(got.payload.as_ref(), b"1");
        assert!(matches!(got.qos, QosPid::AtLeastOnce(_)));
        sub.ack(&got).await;
        let got = sub.recv_publish().await;
        assert_eq!(got.payload.as_ref(), b"2");
        assert!(matches!(got.qos, QosPid::ExactlyOnce(_)));
        sub.ack(&got).await;
        sub.ping().await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_will_to_a_denied_topic_is_dropped() {
    let broker = Broker::builder()
        .deny_publish("secret/#")
        .start()
        .await
        .unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut sub = RawClient::connect(addr, V5, "sub").await;
    sub.subscribe(1, "#", QoS::AtMostOnce).await;
    for (id, will_topic) in [("w1", "secret/will"), ("w2", "open/will")] {
        let mut c = login(V311, id, None, None);
        c.will = Some(mqtt_proto::Will {
            topic: common::topic(will_topic),
            payload: bytes::Bytes::from_static(b"gone"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Default::default(),
        });
        let (client, ack) = RawClient::connect_with(addr, c).await;
        assert_eq!(ack.reason, ConnectReason::Success);
        drop(client); // connection lost: the will is due
        let mut denied = Vec::new();
        loop {
            match within(events.next()).await {
                Some(Event::PublishDenied { client_id, publish }) => {
                    denied.push((client_id, publish.topic.as_str().to_owned()));
                }
                Some(Event::Disconnected { client_id, .. }) => {
                    assert_eq!(client_id.as_deref(), Some(id));
                    break;
                }
                Some(_) => {}
                None => panic!("broker gone"),
            }
        }
        if will_topic.starts_with("secret/") {
            assert_eq!(denied, vec![(id.to_owned(), will_topic.to_owned())]);
        } else {
            assert_eq!(denied, vec![]);
        }
    }
    // Only the allowed will arrives.
    assert_eq!(sub.recv_publish().await.topic.as_str(), "open/will");
    sub.ping().await;
    broker.shutdown().await;
}
