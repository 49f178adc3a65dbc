//! `Client::disconnect(timeout)`: publishes in flight are drained before DISCONNECT (a
//! normal disconnection: no will); with an acknowledgement that never comes the deadline
//! passes and the handle ends with `RequestError::Closed`, still without the will; 5.0
//! `disconnect_with` a reason or a Session Expiry Interval. And the bounded request queue:
//! `try_publish` fails fast with `QueueFull`, `publish` waits.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::num::NonZeroU16;
use std::time::Duration;

use common::{Session, connected, event, fault_fired, opts, session_opts, within};
use mqtt_client::{
    Client, ClientError, Disconnect, DisconnectReason, ProtocolVersion, QoS, RequestError,
    TopicName, Will,
};
use mqtt_testkit::{Broker, CloseReason, Event, Events, PacketType};
use tokio::time::Instant;

fn will() -> Will {
    Will::new(TopicName::new("wills/c").unwrap(), "gone")
}

/// Events up to the end of `id`'s connection: its close reason, and whether its will was
/// published meanwhile.
async fn close_of(events: &mut Events, id: &str) -> (CloseReason, bool) {
    let mut will = false;
    loop {
        match event(events, "close", |_| true).await {
            Event::Published { will: true, .. } => will = true,
            Event::Disconnected {
                client_id: Some(c),
                reason,
            } if c == id => return (reason, will),
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn disconnect_drains_what_is_in_flight_first() {
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let broker = Broker::start().await.unwrap();
        let mut events = broker.events();
        let (c, _all) = Client::connect(opts(&broker, "c", v).with_will(will()))
            .await
            .unwrap();
        connected(&mut events, "c").await;
        // The acknowledgements are slow: held back 2 s each.
        let f = broker.faults().for_client("c");
        f.delay(PacketType::PubAck, Duration::from_secs(2))
            .delay(PacketType::PubComp, Duration::from_secs(2));
        let mut handles = Vec::new();
        for i in 0..20 {
            let qos = if i % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            handles.push(c.publish("t", qos, false, "x").await.unwrap());
        }
        let start = Instant::now();
        c.disconnect(Duration::from_secs(10)).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{v:?}: waited for the held acks"
        );
        for h in handles {
            assert!(h.await.is_ok(), "{v:?}: drained");
        }
        assert_eq!(
            close_of(&mut events, "c").await,
            (CloseReason::ClientDisconnect, false),
            "{v:?}: a normal disconnection, no will"
        );
        assert!(matches!(
            *c.status().borrow(),
            mqtt_client::ConnectionStatus::Disconnected { reason: None, .. }
        ));
        assert_eq!(
            c.publish("t", QoS::AtLeastOnce, false, "late").await.err(),
            Some(ClientError::Closed)
        );
        broker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_disconnect_deadline_ends_what_is_still_open() {
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let broker = Broker::start().await.unwrap();
        let mut events = broker.events();
        let (c, _all) = Client::connect(opts(&broker, "c", v).with_will(will()))
            .await
            .unwrap();
        connected(&mut events, "c").await;
        broker.faults().for_client("c").withhold(PacketType::PubAck);
        let open = c.publish("t", QoS::AtLeastOnce, false, "x").await.unwrap();
        fault_fired(&mut events, "c").await;
        let start = Instant::now();
        within("disconnect", c.disconnect(Duration::from_secs(3)))
            .await
            .unwrap();
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(4),
            "{v:?}: {took:?}"
        );
        assert_eq!(
            within("open handle", open).await,
            Err(ClientError::Request(RequestError::Closed)),
            "{v:?}"
        );
        assert_eq!(
            close_of(&mut events, "c").await,
            (CloseReason::ClientDisconnect, false),
            "{v:?}"
        );
        broker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn disconnect_with_will_message_publishes_the_will() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5).with_will(will()))
        .await
        .unwrap();
    connected(&mut events, "c").await;
    c.disconnect_with(
        Duration::from_secs(1),
        Disconnect::new(DisconnectReason::DisconnectWithWillMessage),
    )
    .await
    .unwrap();
    assert_eq!(
        close_of(&mut events, "c").await,
        (CloseReason::ClientDisconnectWithWill, true)
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_with_a_session_expiry_shortens_the_session() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(session_opts(
        &broker,
        "c",
        ProtocolVersion::V5,
        Session::Persistent,
    ))
    .await
    .unwrap();
    connected(&mut events, "c").await;
    let mut d = Disconnect::new(DisconnectReason::NormalDisconnection);
    d.properties.session_expiry_interval = Some(10);
    c.disconnect_with(Duration::from_secs(1), d).await.unwrap();
    assert_eq!(
        close_of(&mut events, "c").await.0,
        CloseReason::ClientDisconnect
    );
    let start = Instant::now();
    event(
        &mut events,
        "session expired",
        |e| matches!(e, Event::SessionExpired { client_id } if client_id == "c"),
    )
    .await;
    let after = start.elapsed();
    assert!(
        after >= Duration::from_secs(10) && after < Duration::from_secs(12),
        "{after:?} instead of the 3600 s of CONNECT"
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn try_publish_fails_fast_when_the_queue_is_full_and_publish_waits() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    const QUEUE: usize = 4;
    let mut o = opts(&broker, "c", ProtocolVersion::V5)
        .with_session_expiry(3600)
        .with_max_inflight(NonZeroU16::new(1).unwrap());
    o.request_queue = QUEUE;
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    // The one inflight slot is held by a publish whose PUBACK never comes.
    broker.faults().for_client("c").withhold(PacketType::PubAck);
    let mut handles = vec![c.try_publish("t", QoS::AtLeastOnce, false, "0").unwrap()];
    fault_fired(&mut events, "c").await;
    // Fill the queue; the connection task gets to run between tries.
    let full = loop {
        tokio::task::yield_now().await;
        match c.try_publish("t", QoS::AtLeastOnce, false, "n") {
            Ok(h) => handles.push(h),
            Err(e) => break e,
        }
        assert!(handles.len() <= 1 + 2 * QUEUE + 1, "the queue is bounded");
    };
    assert_eq!(full, ClientError::QueueFull);
    assert!(handles.len() > QUEUE, "{} taken", handles.len());
    // publish() waits for room instead of failing.
    let waiting = c.publish("t", QoS::AtLeastOnce, false, "waited");
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(Duration::from_secs(30), &mut waiting)
            .await
            .is_err(),
        "publish waits while the queue is full"
    );
    // A reconnection resends the unacknowledged publish; everything drains.
    assert!(
        broker
            .faults()
            .for_client("c")
            .disconnect_with(DisconnectReason::ServerBusy)
    );
    handles.push(within("room in the queue", waiting).await.unwrap());
    for h in handles {
        within("handle", h).await.unwrap();
    }
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_while_reconnecting_ends_everything_at_once() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap();
    connected(&mut events, "c").await;
    broker.faults().for_client("c").withhold(PacketType::PubAck);
    let open = c.publish("t", QoS::AtLeastOnce, false, "x").await.unwrap();
    fault_fired(&mut events, "c").await;
    broker.shutdown().await;
    common::status(&c, "reconnecting", |s| {
        matches!(s, mqtt_client::ConnectionStatus::Reconnecting { .. })
    })
    .await;
    let queued = c.publish("t", QoS::ExactlyOnce, false, "y").await.unwrap();
    within("disconnect", c.disconnect(Duration::from_secs(5)))
        .await
        .unwrap();
    for h in [open, queued] {
        assert_eq!(
            within("handle", h).await,
            Err(ClientError::Request(RequestError::Closed))
        );
    }
    assert!(matches!(
        *c.status().borrow(),
        mqtt_client::ConnectionStatus::Disconnected { reason: None, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_disconnects_normally() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5).with_will(will()))
        .await
        .unwrap();
    connected(&mut events, "c").await;
    let sub = c.subscribe("t", QoS::AtLeastOnce).await.unwrap();
    let clone = c.clone();
    drop((c, all, sub, clone));
    assert_eq!(
        close_of(&mut events, "c").await,
        (CloseReason::ClientDisconnect, false)
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_drains_publishes_queued_behind_the_inflight_window() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(
        opts(&broker, "c", ProtocolVersion::V3_1_1).with_max_inflight(NonZeroU16::new(1).unwrap()),
    )
    .await
    .unwrap();
    connected(&mut events, "c").await;
    let mut handles = Vec::new();
    for i in 0..30 {
        let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][i % 3];
        handles.push(c.publish("t", qos, false, "x").await.unwrap());
    }
    c.disconnect(Duration::from_secs(10)).await.unwrap();
    for h in handles {
        within("handle", h).await.unwrap();
    }
    assert_eq!(
        close_of(&mut events, "c").await,
        (CloseReason::ClientDisconnect, false)
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_is_not_held_up_by_a_credentials_hook_that_never_answers() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let (hung_tx, mut hung) = tokio::sync::mpsc::unbounded_channel();
    // Answers the first call; every later call hangs (a vault that went away).
    let o = opts(&broker, "c", ProtocolVersion::V5).with_credentials_hook(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let hung_tx = hung_tx.clone();
        async move {
            if n > 0 {
                let _ = hung_tx.send(());
                std::future::pending::<()>().await;
            }
            Ok(mqtt_client::Credentials::default())
        }
    });
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    assert!(
        broker
            .faults()
            .for_client("c")
            .disconnect_with(DisconnectReason::ServerBusy)
    );
    // The reconnection attempt is stuck in the hook.
    within("hook called again", hung.recv()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let h = c.publish("t", QoS::AtLeastOnce, false, "x").await.unwrap();
    within("disconnect", c.disconnect(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        within("handle", h).await,
        Err(ClientError::Request(RequestError::Closed))
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_lost_while_disconnect_drains_ends_the_disconnect() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap();
    connected(&mut events, "c").await;
    broker.faults().for_client("c").withhold(PacketType::PubAck);
    let open = c.publish("t", QoS::AtLeastOnce, false, "x").await.unwrap();
    fault_fired(&mut events, "c").await;
    // disconnect() waits for the PUBACK; the broker goes away meanwhile, for good.
    let closing = tokio::spawn({
        let c = c.clone();
        async move { c.disconnect(Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    broker.shutdown().await;
    // It ends, instead of reconnecting to a broker that is gone until it comes back.
    within("disconnect", closing).await.unwrap().unwrap();
    assert_eq!(
        within("open handle", open).await,
        Err(ClientError::Request(RequestError::Closed))
    );
    assert!(matches!(
        *c.status().borrow(),
        mqtt_client::ConnectionStatus::Disconnected { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn disconnect_keeps_its_deadline_when_the_request_queue_is_full() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    const QUEUE: usize = 4;
    let mut o =
        opts(&broker, "c", ProtocolVersion::V5).with_max_inflight(NonZeroU16::new(1).unwrap());
    o.request_queue = QUEUE;
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    // The one inflight slot is held by a publish whose PUBACK never comes; the queue and
    // the channel behind it fill up.
    broker.faults().for_client("c").withhold(PacketType::PubAck);
    let mut handles = vec![c.try_publish("t", QoS::AtLeastOnce, false, "0").unwrap()];
    fault_fired(&mut events, "c").await;
    loop {
        tokio::task::yield_now().await;
        match c.try_publish("t", QoS::AtLeastOnce, false, "n") {
            Ok(h) => handles.push(h),
            Err(e) => {
                assert_eq!(e, ClientError::QueueFull);
                break;
            }
        }
    }
    let start = Instant::now();
    within("disconnect", c.disconnect(Duration::from_secs(3)))
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    for h in handles {
        assert_eq!(
            within("handle", h).await,
            Err(ClientError::Request(RequestError::Closed))
        );
    }
    broker.shutdown().await;
}
