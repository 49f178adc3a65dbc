//! The delivery ledger under fault injection: the broker cuts or stalls every step of the
//! QoS 1 and QoS 2 flows, in both directions, with persistent and with clean sessions, on
//! 5.0 and 3.1.1. Each message carries its number in the payload; the ledger counts what
//! arrived and shows QoS 1 delivered at least once, QoS 2 exactly once, nothing lost while
//! the session is present, and every publish handle resolved (Ok, or
//! `RequestError::SessionLost` for QoS 2 whose session the broker lost, per the default
//! session-loss policy).
//!
//! Every scenario is awaited through broker events and the client's handles; nothing sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    SESSIONS, Session, connected, fault_fired, ledger_id, opts, session_opts, subscribed, within,
};
use mqtt_client::{
    Client, ClientError, DisconnectReason, ProtocolVersion, QoS, RequestError, Subscription,
};
use mqtt_testkit::{Broker, ClientFaults, Direction, PacketType};

/// Messages per scenario; the faults cut at the second.
const N: u32 = 3;

/// A fault to arm, and whether it stalls a flow (withheld packet) so that the test must
/// force a reconnection for it to complete.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Close the connection right after the nth packet of this type, in this direction.
    CloseAfter(Direction, PacketType, u32),
    /// Never send the next packet of this type (the test then forces a reconnection).
    Withhold(PacketType),
    /// Send the next QoS 1/2 PUBLISH twice, the second with DUP.
    Duplicate,
}

impl Cut {
    fn arm(self, f: &ClientFaults) {
        match self {
            Cut::CloseAfter(d, p, n) => {
                f.close_after(d, p, n);
            }
            Cut::Withhold(p) => {
                f.withhold(p);
            }
            Cut::Duplicate => {
                f.send_duplicate_publish();
            }
        }
    }

    /// Whether the connection ends (so that the client reconnects).
    fn reconnects(self) -> bool {
        !matches!(self, Cut::Duplicate)
    }
}

use Direction::{In, Out};
use PacketType::{PubAck, PubComp, PubRec, PubRel, Publish};

/// The client publishes; the broker's view of its flow is cut.
const OUTBOUND_QOS1: [Cut; 3] = [
    Cut::CloseAfter(In, Publish, 2), // routed, PUBACK never sent
    Cut::CloseAfter(Out, PubAck, 2), // PUBACK sent, then closed
    Cut::Withhold(PubAck),
];
const OUTBOUND_QOS2: [Cut; 6] = [
    Cut::CloseAfter(In, Publish, 2), // routed, PUBREC never sent
    Cut::CloseAfter(Out, PubRec, 2), // PUBREC sent, then closed
    Cut::CloseAfter(In, PubRel, 2),  // released, PUBCOMP never sent
    Cut::CloseAfter(Out, PubComp, 2),
    Cut::Withhold(PubRec),
    Cut::Withhold(PubComp),
];
/// The client receives; the broker's delivery to it is cut.
const INBOUND_QOS1: [Cut; 4] = [
    Cut::CloseAfter(Out, Publish, 2), // delivered, PUBACK lost with the connection
    Cut::CloseAfter(In, PubAck, 2),
    Cut::Withhold(Publish), // a PUBLISH lost on the way
    Cut::Duplicate,
];
const INBOUND_QOS2: [Cut; 7] = [
    Cut::CloseAfter(Out, Publish, 2),
    Cut::CloseAfter(In, PubRec, 2),
    Cut::CloseAfter(Out, PubRel, 2),
    Cut::CloseAfter(In, PubComp, 2),
    Cut::Withhold(Publish),
    Cut::Withhold(PubRel),
    Cut::Duplicate,
];

/// Read `sub` until the message `"<tag>:end"`, counting deliveries per ledger id.
async fn ledger(sub: &mut Subscription, tag: &str) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    let end = format!("{tag}:end");
    within("the end marker", async {
        loop {
            let m = sub.recv().await.expect("subscription ended");
            if m.payload().as_ref() == end.as_bytes() {
                return;
            }
            if let Some(id) = ledger_id(m.payload()) {
                *counts.entry(id).or_insert(0) += 1;
            }
        }
    })
    .await;
    counts
}

/// Force a reconnection of `id` once a withheld packet has been held back.
async fn force_reconnect(broker: &Broker, events: &mut mqtt_testkit::Events, id: &str) {
    let f = broker.faults().for_client(id);
    assert!(
        f.disconnect_with(DisconnectReason::ServerBusy),
        "{id} not connected"
    );
    fault_fired(events, id).await; // DisconnectWith
}

/// The client `pubc` publishes N messages under `cut`; an observer counts what the broker
/// routed.
async fn outbound(v: ProtocolVersion, s: Session, qos: QoS, cut: Cut) {
    let case = format!("outbound {v:?} {s:?} {qos:?} {cut:?}");
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (observer, _o) = Client::connect(opts(&broker, "obs", v)).await.unwrap();
    let mut seen = observer
        .subscribe("ledger", QoS::ExactlyOnce)
        .await
        .unwrap();
    let (pubc, _p) = Client::connect(session_opts(&broker, "pubc", v, s))
        .await
        .unwrap();
    connected(&mut events, "pubc").await;
    cut.arm(&broker.faults().for_client("pubc"));

    let mut handles = Vec::new();
    for i in 1..=N {
        let h = pubc
            .publish("ledger", qos, false, format!("m:{i}"))
            .await
            .unwrap();
        handles.push(h);
    }
    fault_fired(&mut events, "pubc").await;
    if matches!(cut, Cut::Withhold(_)) {
        force_reconnect(&broker, &mut events, "pubc").await;
    }
    // Every handle ends: Ok, or SessionLost for QoS 2 on a clean session.
    let mut lost = Vec::new();
    for (i, h) in (1..=N).zip(handles) {
        match within(&format!("{case}: handle {i}"), h).await {
            Ok(ack) => assert!(ack.packet_id.is_some(), "{case}"),
            Err(ClientError::Request(RequestError::SessionLost))
                if s == Session::Clean && qos == QoS::ExactlyOnce =>
            {
                lost.push(i);
            }
            Err(e) => panic!("{case}: message {i} ended with {e:?}"),
        }
    }
    // The end marker follows every resend: the ledger is complete when it arrives.
    within(
        "end marker acknowledged",
        pubc.publish("ledger", qos, false, "m:end").await.unwrap(),
    )
    .await
    .unwrap_or_else(|e| panic!("{case}: end marker: {e:?}"));
    let counts = ledger(&mut seen, "m").await;
    for i in 1..=N {
        let n = counts.get(&i).copied().unwrap_or(0);
        match qos {
            QoS::AtLeastOnce => assert!(n >= 1, "{case}: QoS 1 message {i} lost: {counts:?}"),
            _ if lost.contains(&i) => assert!(n <= 1, "{case}: message {i} twice: {counts:?}"),
            _ => assert_eq!(n, 1, "{case}: QoS 2 message {i}: {counts:?}"),
        }
    }
    pubc.disconnect(Duration::from_secs(5)).await.unwrap();
    observer.disconnect(Duration::from_secs(5)).await.unwrap();
    broker.shutdown().await;
}

/// A feeder publishes N messages to `subc`, whose deliveries are cut.
async fn inbound(v: ProtocolVersion, s: Session, qos: QoS, cut: Cut) {
    let case = format!("inbound {v:?} {s:?} {qos:?} {cut:?}");
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (subc, _all) = Client::connect(session_opts(&broker, "subc", v, s))
        .await
        .unwrap();
    let mut sub = subc.subscribe("ledger", qos).await.unwrap();
    let (feeder, _f) = Client::connect(opts(&broker, "feed", v)).await.unwrap();
    cut.arm(&broker.faults().for_client("subc"));

    for i in 1..=N {
        let h = feeder
            .publish("ledger", qos, false, format!("m:{i}"))
            .await
            .unwrap();
        within("feeder ack", h).await.unwrap();
    }
    fault_fired(&mut events, "subc").await;
    if matches!(cut, Cut::Withhold(_)) {
        force_reconnect(&broker, &mut events, "subc").await;
    }
    if cut.reconnects() {
        // On a clean session the client subscribes again before anything can reach it.
        if !connected(&mut events, "subc").await {
            subscribed(&mut events, "subc").await;
        }
    }
    within(
        "end marker acknowledged",
        feeder.publish("ledger", qos, false, "m:end").await.unwrap(),
    )
    .await
    .unwrap();
    let counts = ledger(&mut sub, "m").await;
    for i in 1..=N {
        let n = counts.get(&i).copied().unwrap_or(0);
        match (qos, s) {
            (QoS::AtLeastOnce, Session::Persistent) => {
                assert!(n >= 1, "{case}: QoS 1 message {i} lost: {counts:?}");
            }
            (QoS::ExactlyOnce, Session::Persistent) => {
                assert_eq!(n, 1, "{case}: QoS 2 message {i}: {counts:?}");
            }
            (QoS::ExactlyOnce, Session::Clean) => {
                assert!(n <= 1, "{case}: QoS 2 message {i} twice: {counts:?}");
            }
            _ => {}
        }
    }
    if matches!(cut, Cut::Duplicate) && qos == QoS::AtLeastOnce {
        // The duplicate of a QoS 1 message is delivered again (at least once).
        assert!(counts.values().any(|&n| n == 2), "{case}: {counts:?}");
    }
    subc.disconnect(Duration::from_secs(5)).await.unwrap();
    feeder.disconnect(Duration::from_secs(5)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn qos1_outbound_cut_at_every_point_is_delivered_at_least_once() {
    for (v, s) in SESSIONS {
        for cut in OUTBOUND_QOS1 {
            outbound(v, s, QoS::AtLeastOnce, cut).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn qos2_outbound_cut_at_every_point_is_delivered_exactly_once() {
    for (v, s) in SESSIONS {
        for cut in OUTBOUND_QOS2 {
            outbound(v, s, QoS::ExactlyOnce, cut).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn qos1_inbound_cut_at_every_point_is_delivered_at_least_once() {
    for (v, s) in SESSIONS {
        for cut in INBOUND_QOS1 {
            inbound(v, s, QoS::AtLeastOnce, cut).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn qos2_inbound_cut_at_every_point_is_delivered_exactly_once() {
    for (v, s) in SESSIONS {
        for cut in INBOUND_QOS2 {
            inbound(v, s, QoS::ExactlyOnce, cut).await;
        }
    }
}

/// On 3.1.1 a PUBREL resent after a reconnection, for an identifier the broker has already
/// released, is completed with a plain PUBCOMP (3.x has no reason code): the publish ends.
/// (The reference broker once sent nothing here.)
#[tokio::test(start_paused = true)]
async fn qos2_pubrel_resent_on_3_1_1_is_completed() {
    for cut in [Cut::CloseAfter(In, PubRel, 2), Cut::Withhold(PubComp)] {
        outbound(
            ProtocolVersion::V3_1_1,
            Session::Persistent,
            QoS::ExactlyOnce,
            cut,
        )
        .await;
    }
}
