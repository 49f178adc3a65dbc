//! Retained messages: set, replace, clear, sent on subscribe.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{RawClient, V5, V311, filter, pid, publish};
use mqtt_proto::{QoS, QosPid, RetainHandling, Subscribe, SubscribeFilter, SubscriptionOptions};
use mqtt_testkit::Broker;

fn retained(t: &str, qos: QosPid, payload: &'static [u8]) -> mqtt_proto::Publish {
    let mut p = publish(t, qos, payload);
    p.retain = true;
    p
}

#[tokio::test]
async fn retained_message_is_sent_on_subscribe_with_retain_set() {
    let broker = Broker::start().await.unwrap();
    let mut p = RawClient::connect(broker.local_addr(), V311, "p").await;
    p.publish(retained("r/a", QosPid::AtLeastOnce(pid(1)), b"a"))
        .await;
    p.publish(retained("r/b", QosPid::ExactlyOnce(pid(2)), b"b"))
        .await;
    assert_eq!(broker.retained("r/a").as_deref(), Some(&b"a"[..]));

    let mut sub = RawClient::connect(broker.local_addr(), V311, "sub").await;
    // The SUBACK comes first, then the retained messages, downgraded to the subscription.
    sub.subscribe(1, "r/+", QoS::AtLeastOnce).await;
    let a = sub.recv_publish().await;
    let b = sub.recv_publish().await;
    assert!(a.retain && b.retain);
    assert_eq!((&a.payload[..], a.qos.qos()), (&b"a"[..], QoS::AtLeastOnce));
    assert_eq!((&b.payload[..], b.qos.qos()), (&b"b"[..], QoS::AtLeastOnce));
    broker.shutdown().await;
}

#[tokio::test]
async fn live_delivery_clears_retain_unless_retain_as_published() {
    let broker = Broker::start().await.unwrap();
    let mut old = RawClient::connect(broker.local_addr(), V311, "old").await;
    old.subscribe(1, "r", QoS::AtMostOnce).await;
    let mut new = RawClient::connect(broker.local_addr(), V5, "new").await;
    let mut opts = SubscriptionOptions::new(QoS::AtMostOnce);
    opts.retain_as_published = true;
    new.send(Subscribe::new(
        pid(1),
        vec![SubscribeFilter {
            filter: filter("r"),
            options: opts,
        }],
    ))
    .await;
    new.suback().await;

    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    p.publish(retained("r", QosPid::AtMostOnce, b"x")).await;
    assert!(!old.recv_publish().await.retain, "[MQTT-3.3.1-9]");
    assert!(new.recv_publish().await.retain);
    broker.shutdown().await;
}

#[tokio::test]
async fn retained_message_is_replaced_and_cleared_by_an_empty_payload() {
    let broker = Broker::start().await.unwrap();
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    p.publish(retained("r", QosPid::AtMostOnce, b"one")).await;
    p.publish(retained("r", QosPid::AtMostOnce, b"two")).await;

    let mut sub = RawClient::connect(broker.local_addr(), V5, "sub").await;
    sub.subscribe(1, "r", QoS::AtMostOnce).await;
    assert_eq!(sub.recv_publish().await.payload, &b"two"[..]);
    sub.ping().await;

    p.publish(retained("r", QosPid::AtLeastOnce(pid(1)), b""))
        .await;
    // The clearing message itself is delivered to current subscribers [MQTT-3.3.1-10] ...
    assert_eq!(sub.recv_publish().await.payload, &b""[..]);
    assert_eq!(broker.retained("r"), None);
    // ... and nothing is retained any more.
    let mut late = RawClient::connect(broker.local_addr(), V5, "late").await;
    late.subscribe(1, "r", QoS::AtMostOnce).await;
    late.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn retain_handling_do_not_send_and_shared_subscriptions_get_no_retained() {
    let broker = Broker::start().await.unwrap();
    let mut p = RawClient::connect(broker.local_addr(), V5, "p").await;
    p.publish(retained("r", QosPid::AtMostOnce, b"x")).await;

    let mut sub = RawClient::connect(broker.local_addr(), V5, "sub").await;
    let mut opts = SubscriptionOptions::new(QoS::AtMostOnce);
    opts.retain_handling = RetainHandling::DoNotSend;
    sub.send(Subscribe::new(
        pid(1),
        vec![
            SubscribeFilter {
                filter: filter("r"),
                options: opts,
            },
            SubscribeFilter::new(filter("$share/g/r"), QoS::AtMostOnce),
        ],
    ))
    .await;
    sub.suback().await;
    sub.ping().await;

    // Retain Handling 1: only for a new subscription.
    let mut opts = SubscriptionOptions::new(QoS::AtMostOnce);
    opts.retain_handling = RetainHandling::SendAtSubscribeIfNew;
    let mut other = RawClient::connect(broker.local_addr(), V5, "other").await;
    for expect in [true, false] {
        other
            .send(Subscribe::new(
                pid(1),
                vec![SubscribeFilter {
                    filter: filter("r"),
                    options: opts,
                }],
            ))
            .await;
        other.suback().await;
        if expect {
            assert_eq!(other.recv_publish().await.payload, &b"x"[..]);
        }
        other.ping().await;
    }
    broker.shutdown().await;
}
