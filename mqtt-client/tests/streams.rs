//! Message streams: overlapping subscriptions each get their copy, a stream dropped while
//! its messages wait hands them to the catch-all, a dropped catch-all acknowledges what it
//! would have taken (nothing is redelivered for ever), streams end when the client stops,
//! and messages larger than one read arrive whole.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{Session, connected, ledger_id, opts, session_opts, within};
use mqtt_client::{Client, ConnectReason, DisconnectReason, ProtocolVersion, QoS};
use mqtt_testkit::Broker;

#[tokio::test]
async fn overlapping_subscriptions_each_get_their_copy() {
    let broker = Broker::start().await.unwrap();
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let (c, mut all) = Client::connect(opts(&broker, "c", v)).await.unwrap();
        let mut wide = c.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
        let mut narrow = c.subscribe("a/b", QoS::ExactlyOnce).await.unwrap();
        c.publish("a/b", QoS::ExactlyOnce, false, "both")
            .await
            .unwrap()
            .await
            .unwrap();
        c.publish("a/c", QoS::AtLeastOnce, false, "wide")
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(wide.recv().await.unwrap().payload().as_ref(), b"both");
        assert_eq!(narrow.recv().await.unwrap().payload().as_ref(), b"both");
        assert_eq!(wide.recv().await.unwrap().payload().as_ref(), b"wide");
        c.publish("a/b", QoS::AtMostOnce, false, "end")
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(narrow.recv().await.unwrap().payload().as_ref(), b"end");
        assert!(narrow.try_recv().is_none(), "{v:?}: one copy each");
        assert!(all.try_recv().is_none(), "{v:?}: nothing for the catch-all");
        c.disconnect(Duration::from_secs(1)).await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_stream_dropped_with_messages_waiting_hands_them_to_the_catch_all() {
    let broker = Broker::start().await.unwrap();
    let mut o = opts(&broker, "c", ProtocolVersion::V5);
    o.message_queue = 4;
    let (c, mut all) = Client::connect(o).await.unwrap();
    let sub = c.subscribe("t", QoS::AtLeastOnce).await.unwrap();
    let (p, _p) = Client::connect(opts(&broker, "p", ProtocolVersion::V5))
        .await
        .unwrap();
    const N: u32 = 50;
    for i in 1..=N {
        p.publish("t", QoS::AtLeastOnce, false, format!("m:{i}"))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // Four in the stream, the rest waiting (or not read yet); then the stream goes.
    drop(sub);
    // What the stream held is gone with it; everything after reaches the catch-all, in
    // order, none lost.
    let first = within("catch-all", all.recv()).await.unwrap();
    let mut expected = ledger_id(first.payload()).unwrap();
    assert!(
        expected <= 5,
        "at most the stream's 4 went with it: {expected}"
    );
    expected += 1;
    while expected <= N {
        let m = within("catch-all", all.recv()).await.unwrap();
        assert_eq!(ledger_id(m.payload()), Some(expected));
        expected += 1;
    }
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn messages_nobody_takes_are_acknowledged_not_redelivered() {
    // Manual acks, persistent session, catch-all dropped: a message no stream takes is
    // acknowledged (loudly discarded) so that it does not hold back later acknowledgements.
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, all) = Client::connect(
        session_opts(&broker, "c", ProtocolVersion::V5, Session::Persistent).with_manual_acks(true),
    )
    .await
    .unwrap();
    connected(&mut events, "c").await;
    drop(all);
    drop(c.subscribe("nobody", QoS::AtLeastOnce).await.unwrap());
    let mut kept = c.subscribe("kept", QoS::AtLeastOnce).await.unwrap();
    let (p, _p) = Client::connect(opts(&broker, "p", ProtocolVersion::V5))
        .await
        .unwrap();
    broker.faults().for_client("c").close_after(
        mqtt_testkit::Direction::In,
        mqtt_testkit::PacketType::PubAck,
        2,
    );
    p.publish("nobody", QoS::AtLeastOnce, false, "n:1")
        .await
        .unwrap()
        .await
        .unwrap();
    p.publish("kept", QoS::AtLeastOnce, false, "k:1")
        .await
        .unwrap()
        .await
        .unwrap();
    let mut m = within("kept", kept.recv()).await.unwrap();
    assert_eq!(m.payload().as_ref(), b"k:1");
    m.ack();
    // Both acknowledged, in order (the broker closes once it has the second PUBACK):
    // after the reconnection nothing comes again.
    common::fault_fired(&mut events, "c").await;
    assert!(connected(&mut events, "c").await);
    p.publish("kept", QoS::AtLeastOnce, false, "k:2")
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        within("kept", kept.recv())
            .await
            .unwrap()
            .payload()
            .as_ref(),
        b"k:2"
    );
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn streams_end_when_the_client_stops_for_good() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, mut all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap();
    connected(&mut events, "c").await;
    let mut sub = c.subscribe("t", QoS::AtLeastOnce).await.unwrap();
    let f = broker.faults().for_client("c");
    f.refuse_connect(ConnectReason::NotAuthorized);
    assert!(f.disconnect_with(DisconnectReason::ServerBusy));
    assert!(within("subscription ends", sub.recv()).await.is_none());
    assert!(within("catch-all ends", all.recv()).await.is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn messages_larger_than_a_read_arrive_whole() {
    let broker = Broker::start().await.unwrap();
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let (c, _all) = Client::connect(opts(&broker, "c", v)).await.unwrap();
        let mut sub = c.subscribe("big", QoS::ExactlyOnce).await.unwrap();
        for size in [
            0,
            1,
            64 * 1024 - 5,
            64 * 1024,
            1024 * 1024 + 3,
            4 * 1024 * 1024,
        ] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            c.publish("big", QoS::ExactlyOnce, false, payload.clone())
                .await
                .unwrap()
                .await
                .unwrap();
            let m = within("big message", sub.recv()).await.unwrap();
            assert_eq!(m.payload().len(), size, "{v:?}");
            assert!(m.payload().as_ref() == payload.as_slice(), "{v:?} {size}");
        }
        c.disconnect(Duration::from_secs(1)).await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn without_subscription_identifiers_messages_are_routed_by_filter() {
    let broker = Broker::builder()
        .subscription_identifiers(false)
        .start()
        .await
        .unwrap();
    let (c, mut all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap();
    let mut a = c.subscribe("a/+", QoS::AtLeastOnce).await.unwrap();
    let mut b = c.subscribe("b/#", QoS::AtLeastOnce).await.unwrap();
    for t in ["a/1", "b/2/3", "c"] {
        c.publish(t, QoS::AtLeastOnce, false, t)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    assert_eq!(a.recv().await.unwrap().topic(), "a/1");
    assert_eq!(b.recv().await.unwrap().topic(), "b/2/3");
    c.subscribe("c", QoS::AtLeastOnce).await.map(drop).unwrap();
    c.publish("c", QoS::AtLeastOnce, false, "c")
        .await
        .unwrap()
        .await
        .unwrap();
    // The stream of "c" was dropped: the catch-all takes it.
    assert_eq!(all.recv().await.unwrap().topic(), "c");
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test]
async fn two_subscribe_calls_with_one_filter_both_get_copies_on_every_version() {
    // On 5.0 the broker keeps one subscription per filter with the latest Subscription
    // Identifier: the first call's stream must not go quiet.
    let broker = Broker::start().await.unwrap();
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let (c, mut all) = Client::connect(opts(&broker, "twice", v)).await.unwrap();
        let mut first = c.subscribe("dup/t", QoS::AtLeastOnce).await.unwrap();
        let mut second = c.subscribe("dup/t", QoS::AtLeastOnce).await.unwrap();
        c.publish("dup/t", QoS::AtLeastOnce, false, "x")
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(
            first.recv().await.unwrap().payload().as_ref(),
            b"x",
            "{v:?}"
        );
        assert_eq!(
            second.recv().await.unwrap().payload().as_ref(),
            b"x",
            "{v:?}"
        );
        assert!(all.try_recv().is_none(), "{v:?}");
        c.disconnect(Duration::from_secs(1)).await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_subscribe_queued_after_an_unsubscribe_of_its_filter_keeps_its_stream() {
    let broker = Broker::start().await.unwrap();
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let (c, mut all) = Client::connect(opts(&broker, "c", v)).await.unwrap();
        let old = c.subscribe("t", QoS::AtLeastOnce).await.unwrap();
        // UNSUBSCRIBE goes out before SUBSCRIBE: the broker ends with the subscription, and
        // the UNSUBACK must not end the stream of the SUBSCRIBE queued after it.
        let (unsubscribed, new) = within("unsubscribe and subscribe", async {
            tokio::join!(c.unsubscribe("t"), c.subscribe("t", QoS::AtLeastOnce))
        })
        .await;
        unsubscribed.unwrap();
        let mut new = new.unwrap();
        drop(old);
        c.publish("t", QoS::AtLeastOnce, false, "x")
            .await
            .unwrap()
            .await
            .unwrap();
        let m = within("message", new.recv()).await;
        assert_eq!(
            m.map(|m| m.payload().clone()).as_deref(),
            Some(&b"x"[..]),
            "{v:?}: the new subscription's stream gets it"
        );
        assert!(all.try_recv().is_none(), "{v:?}");
        c.disconnect(Duration::from_secs(1)).await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn dropped_subscription_streams_are_forgotten() {
    // Subscribing again and again while dropping the streams must not pile up routes: the
    // messages still reach the live stream and the catch-all exactly once each.
    let broker = Broker::start().await.unwrap();
    let (c, mut all) = Client::connect(opts(&broker, "churn", ProtocolVersion::V5))
        .await
        .unwrap();
    for _ in 0..200 {
        drop(c.subscribe("churn/t", QoS::AtMostOnce).await.unwrap());
    }
    let mut live = c.subscribe("churn/t", QoS::AtLeastOnce).await.unwrap();
    c.publish("churn/t", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(live.recv().await.unwrap().payload().as_ref(), b"x");
    assert!(live.try_recv().is_none());
    assert!(all.try_recv().is_none(), "the live stream took it");
    c.disconnect(Duration::from_secs(1)).await.unwrap();
}
