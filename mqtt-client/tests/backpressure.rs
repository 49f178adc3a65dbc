//! Backpressure: a subscriber that does not read while another client floods it. Its stream
//! holds no more than the configured queue, the broker holds the rest (the client stops
//! reading the socket), the connection stays alive, the publisher keeps working, and once
//! the consumer reads, every message arrives in order. A task that publishes while holding
//! an unread subscription does not deadlock (rumqttc #1025).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::num::NonZeroU16;
use std::time::Duration;

use common::{connected, ledger_id, opts, within};
use mqtt_client::{Client, ProtocolVersion, QoS, Subscription};
use mqtt_testkit::{Broker, Event};

/// Messages in a flood.
const FLOOD: u32 = 20_000;
/// The subscriber's stream bound.
const QUEUE: usize = 64;

/// A payload of about 1 KiB carrying ledger id `i`: 20,000 of them are far more than the
/// socket buffers hold.
fn payload(i: u32) -> String {
    format!("{}:{i}", "x".repeat(1000))
}

/// Everything waiting in `sub` right now, without yielding (so the connection task cannot
/// refill it meanwhile on this single-threaded runtime).
fn drain_now(sub: &mut Subscription) -> Vec<u32> {
    let mut ids = Vec::new();
    while let Some(m) = sub.try_recv() {
        ids.push(ledger_id(m.payload()).unwrap());
    }
    ids
}

/// Publish `n` messages from `publisher` and wait for every handle.
async fn flood(publisher: &Client, topic: &str, n: u32) {
    let mut handles = Vec::with_capacity(n as usize);
    for i in 1..=n {
        handles.push(
            publisher
                .publish(topic, QoS::AtLeastOnce, false, payload(i))
                .await
                .unwrap(),
        );
    }
    for (i, h) in handles.into_iter().enumerate() {
        within(&format!("publisher handle {i}"), h)
            .await
            .unwrap_or_else(|e| panic!("publish {i}: {e:?}"));
    }
}

#[tokio::test]
async fn a_slow_consumer_loses_nothing_and_the_publisher_keeps_working() {
    // 3.1.1 cannot bound what the broker has in flight to us (no Receive Maximum), and the
    // testkit broker looks its inflight messages up linearly: a smaller flood keeps it fast.
    for (v, n) in [
        (ProtocolVersion::V5, FLOOD),
        (ProtocolVersion::V3_1_1, 5_000),
    ] {
        let broker = Broker::builder()
            .max_queued_messages(2 * n as usize)
            .start()
            .await
            .unwrap();
        let mut events = broker.events();
        let mut o = opts(&broker, "slow", v);
        o.message_queue = QUEUE;
        // 5.0: the broker keeps at most this many unacknowledged messages in flight to us
        // and queues the rest in the session.
        o.mqtt.receive_maximum = NonZeroU16::new(256).unwrap();
        let (slow, _all) = Client::connect(o).await.unwrap();
        let mut sub = slow.subscribe("flood", QoS::AtLeastOnce).await.unwrap();
        let (fast, _f) = Client::connect(opts(&broker, "fast", v)).await.unwrap();

        // The publisher finishes while nobody reads: all acknowledged by the broker.
        flood(&fast, "flood", n).await;
        // The stream holds at most its bound; the rest waits in the broker (or in the socket
        // buffers), not in the client.
        let first = drain_now(&mut sub);
        assert!(first.len() <= QUEUE, "{v:?}: stream held {}", first.len());
        // Nothing was dropped anywhere, and the slow client was never disconnected.
        while let Some(e) = events.try_next() {
            assert!(
                !matches!(e, Event::MessageDropped { .. } | Event::Disconnected { .. }),
                "{v:?}: {e:?}"
            );
        }
        // Now the consumer reads: every message, in order, none twice.
        let mut expected = 1;
        for id in first {
            assert_eq!(id, expected, "{v:?}");
            expected += 1;
        }
        while expected <= n {
            let m = within("next message", sub.recv()).await.unwrap();
            assert_eq!(ledger_id(m.payload()), Some(expected), "{v:?}");
            expected += 1;
        }
        assert!(sub.try_recv().is_none());
        // The publisher was never held up: it can still publish and be acknowledged.
        fast.publish("other", QoS::AtLeastOnce, false, "still here")
            .await
            .unwrap()
            .await
            .unwrap();
        slow.disconnect(Duration::from_secs(5)).await.unwrap();
        fast.disconnect(Duration::from_secs(5)).await.unwrap();
        broker.shutdown().await;
    }
}

#[tokio::test]
async fn the_broker_not_the_client_holds_what_a_slow_consumer_has_not_read() {
    // The broker queues at most 1,000 messages per session and reports what it drops: with
    // 20 MB flooding a reader that takes nothing, drops there show that the client stopped
    // reading instead of buffering the flood. Every message is then either read, in order,
    // or reported dropped by the broker: the client loses none.
    let broker = Broker::builder()
        .max_queued_messages(1000)
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let mut o = opts(&broker, "slow", ProtocolVersion::V5);
    o.message_queue = QUEUE;
    let (slow, _all) = Client::connect(o).await.unwrap();
    let mut sub = slow.subscribe("flood", QoS::AtLeastOnce).await.unwrap();
    let (fast, _f) = Client::connect(opts(&broker, "fast", ProtocolVersion::V5))
        .await
        .unwrap();
    flood(&fast, "flood", FLOOD).await;

    let mut dropped = std::collections::BTreeSet::new();
    while let Some(e) = events.try_next() {
        match e {
            Event::MessageDropped { client_id, publish } if client_id == "slow" => {
                dropped.insert(ledger_id(&publish.payload).unwrap());
            }
            Event::Disconnected { .. } => panic!("{e:?}"),
            _ => {}
        }
    }
    // (How many depends on the socket buffers; any at all means the broker had to hold
    // more than its queue while the client took nothing more.)
    assert!(
        !dropped.is_empty(),
        "the broker should have held the backlog and dropped beyond its queue"
    );
    // Drops are decided when the broker routes, before it acknowledges the publisher: the
    // set is final. The consumer now reads all the rest.
    let expected: Vec<u32> = (1..=FLOOD).filter(|i| !dropped.contains(i)).collect();
    let mut got = Vec::with_capacity(expected.len());
    while got.len() < expected.len() {
        let m = within("next message", sub.recv()).await.unwrap();
        got.push(ledger_id(m.payload()).unwrap());
    }
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, none twice");
    assert_eq!(got, expected, "read + dropped by the broker = all");
    slow.disconnect(Duration::from_secs(5)).await.unwrap();
    fast.disconnect(Duration::from_secs(5)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_held_back_connection_keeps_pinging() {
    let broker = Broker::builder()
        .max_queued_messages(10_000)
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let mut o =
        opts(&broker, "slow", ProtocolVersion::V3_1_1).with_keep_alive(Duration::from_secs(5));
    o.message_queue = 8;
    let (slow, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "slow").await;
    let mut sub = slow.subscribe("flood", QoS::AtLeastOnce).await.unwrap();
    let (fast, _f) = Client::connect(opts(&broker, "fast", ProtocolVersion::V3_1_1))
        .await
        .unwrap();
    const N: u32 = 5000;
    for i in 1..=N {
        // Handles dropped: the publishes go ahead; the end marker below is awaited.
        drop(
            fast.publish("flood", QoS::AtLeastOnce, false, payload(i))
                .await
                .unwrap(),
        );
    }
    fast.publish("flood", QoS::AtLeastOnce, false, "x:0")
        .await
        .unwrap()
        .await
        .unwrap();
    // Twenty keepalive periods of virtual time without reading: the client must not take
    // its own stopped reader for a dead broker, and must keep the broker's keepalive fed.
    tokio::time::sleep(Duration::from_secs(100)).await;
    while let Some(e) = events.try_next() {
        assert!(!matches!(e, Event::Disconnected { .. }), "{e:?}");
    }
    assert!(slow.status().borrow().is_connected());
    for i in 1..=N {
        let m = within("next message", sub.recv()).await.unwrap();
        assert_eq!(ledger_id(m.payload()), Some(i));
    }
    assert_eq!(ledger_id(sub.recv().await.unwrap().payload()), Some(0));
    slow.disconnect(Duration::from_secs(5)).await.unwrap();
    fast.disconnect(Duration::from_secs(5)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_that_publishes_while_holding_an_unread_subscription_does_not_deadlock() {
    // rumqttc #1025: the same client consumes a flood and publishes; its consumer lags.
    let broker = Broker::builder()
        .max_queued_messages(10_000)
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let mut o =
        opts(&broker, "relay", ProtocolVersion::V5).with_max_inflight(NonZeroU16::new(4).unwrap());
    o.message_queue = 8;
    o.request_queue = 4;
    let (relay, _all) = Client::connect(o).await.unwrap();
    let mut input = relay.subscribe("in", QoS::AtLeastOnce).await.unwrap();
    let (feeder, _f) = Client::connect(opts(&broker, "feed", ProtocolVersion::V5))
        .await
        .unwrap();
    let (sink, _s) = Client::connect(opts(&broker, "sink", ProtocolVersion::V5))
        .await
        .unwrap();
    let mut out = sink.subscribe("out", QoS::AtLeastOnce).await.unwrap();
    connected(&mut events, "sink").await;

    const N: u32 = 2000;
    for i in 1..=N {
        drop(
            feeder
                .publish("in", QoS::AtLeastOnce, false, payload(i))
                .await
                .unwrap(),
        );
    }
    feeder
        .publish("in", QoS::AtLeastOnce, false, "x:0")
        .await
        .unwrap()
        .await
        .unwrap();
    // The relay publishes far more than its inflight window and request queue hold, without
    // reading its input, and waits for each acknowledgement.
    within("relay publishes while its input is unread", async {
        for i in 1..=100u32 {
            relay
                .publish("out", QoS::AtLeastOnce, false, format!("r:{i}"))
                .await
                .unwrap()
                .await
                .unwrap();
        }
    })
    .await;
    // A subscribe and an unsubscribe wait for their acknowledgements in the same way.
    within(
        "subscribe while the input is unread",
        relay.subscribe("more", QoS::AtLeastOnce),
    )
    .await
    .unwrap();
    within(
        "unsubscribe while the input is unread",
        relay.unsubscribe("more"),
    )
    .await
    .unwrap();
    for i in 1..=100 {
        let m = within("relayed", out.recv()).await.unwrap();
        assert_eq!(ledger_id(m.payload()), Some(i));
    }
    // And the input was kept, in order.
    for i in 1..=N {
        let m = within("input", input.recv()).await.unwrap();
        assert_eq!(ledger_id(m.payload()), Some(i));
    }
    relay.disconnect(Duration::from_secs(5)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_lost_while_held_back_delivers_qos2_exactly_once_in_order() {
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let broker = Broker::builder()
            .max_queued_messages(10_000)
            .start()
            .await
            .unwrap();
        let mut events = broker.events();
        let mut o = common::session_opts(&broker, "slow", v, common::Session::Persistent);
        o.message_queue = 8;
        let (slow, _all) = Client::connect(o).await.unwrap();
        connected(&mut events, "slow").await;
        let mut sub = slow.subscribe("flood", QoS::ExactlyOnce).await.unwrap();
        let (fast, _f) = Client::connect(opts(&broker, "fast", v)).await.unwrap();
        const N: u32 = 3000;
        let mut handles = Vec::new();
        for i in 1..=N {
            handles.push(
                fast.publish("flood", QoS::ExactlyOnce, false, payload(i))
                    .await
                    .unwrap(),
            );
        }
        for h in handles {
            within("publisher", h).await.unwrap();
        }
        // Cut while the consumer reads nothing. The client cannot see the end of the
        // connection before it has read what precedes it: it notices (and reconnects) once
        // the consumer catches up.
        assert!(
            broker
                .faults()
                .for_client("slow")
                .disconnect_with(mqtt_client::DisconnectReason::ServerBusy)
        );
        for i in 1..=N {
            let m = within("next", sub.recv()).await.unwrap();
            assert_eq!(
                ledger_id(m.payload()),
                Some(i),
                "{v:?}: once each, in order"
            );
        }
        assert!(connected(&mut events, "slow").await, "{v:?}: session kept");
        fast.publish("flood", QoS::ExactlyOnce, false, "x:0")
            .await
            .unwrap()
            .await
            .unwrap();
        let m = within("end", sub.recv()).await.unwrap();
        assert_eq!(
            ledger_id(m.payload()),
            Some(0),
            "{v:?}: no duplicate before the end"
        );
        slow.disconnect(Duration::from_secs(5)).await.unwrap();
        fast.disconnect(Duration::from_secs(5)).await.unwrap();
        broker.shutdown().await;
    }
}
