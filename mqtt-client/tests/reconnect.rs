//! Keepalive, half-open detection, reconnection with backoff, resubscription, refusals that
//! stop reconnection, the credentials hook and the 5.0 to 3.1.1 fallback: on tokio's paused
//! clock, against the testkit broker over loopback sockets.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{connected, event, fault_fired, opts, session_opts, status, subscribed, within};
use mqtt_client::{
    Client, ClientError, ConnectError, ConnectReason, ConnectionStatus, Credentials,
    DisconnectReason, ProtocolVersion, QoS, RequestError,
};
use mqtt_proto::client::ConnectionError;
use mqtt_testkit::script::ScriptedBroker;
use mqtt_testkit::{Broker, CloseReason, Direction, Event, PacketType};
use tokio::time::Instant;

use common::Session;

fn is_reconnecting(s: &ConnectionStatus) -> bool {
    matches!(s, ConnectionStatus::Reconnecting { .. })
}

#[tokio::test(start_paused = true)]
async fn half_open_broker_is_detected_by_the_ping_timeout_and_the_client_reconnects() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (obs, _o) = Client::connect(opts(&broker, "obs", ProtocolVersion::V5))
        .await
        .unwrap();
    let mut seen = obs.subscribe("t", QoS::AtLeastOnce).await.unwrap();
    let mut o = session_opts(&broker, "c", ProtocolVersion::V5, Session::Persistent)
        .with_keep_alive(Duration::from_secs(10));
    o.mqtt.ping_timeout = Duration::from_secs(3);
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    // The broker routes the PUBLISH, then reads and answers nothing, keeping the socket open.
    broker
        .faults()
        .for_client("c")
        .go_silent_after(Direction::In, PacketType::Publish, 1);
    let start = Instant::now();
    let handle = c.publish("t", QoS::AtLeastOnce, false, "x").await.unwrap();
    fault_fired(&mut events, "c").await;

    let s = status(&c, "keepalive timeout", is_reconnecting).await;
    let took = start.elapsed();
    match s {
        ConnectionStatus::Reconnecting { last_error, .. } => assert!(
            matches!(
                last_error,
                ConnectError::Connection(ConnectionError::KeepAliveTimeout)
            ),
            "{last_error:?}"
        ),
        _ => unreachable!(),
    }
    // A PINGREQ at most one keepalive after the last packet, then the ping timeout.
    assert!(
        took >= Duration::from_secs(3)
            && took <= Duration::from_secs(13) + Duration::from_millis(100),
        "detected after {took:?}"
    );
    // The client closed the silent connection itself and resumed its session elsewhere.
    event(&mut events, "silent connection closed", |e| {
        matches!(
            e,
            Event::Disconnected { client_id: Some(id), reason: CloseReason::ConnectionLost | CloseReason::TakenOver }
                if id == "c"
        )
    })
    .await;
    assert!(connected(&mut events, "c").await, "session resumed");
    // The unacknowledged publish is resent on the new connection and completes.
    within("publish resent", handle).await.unwrap();
    assert_eq!(seen.recv().await.unwrap().payload().as_ref(), b"x");
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_kept_alive_by_pings() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(
        opts(&broker, "c", ProtocolVersion::V3_1_1).with_keep_alive(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    connected(&mut events, "c").await;
    // Ten keepalive periods of virtual time: the broker (1.5 x keepalive) never times it out.
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert!(c.status().borrow().is_connected());
    assert_eq!(
        events.try_next(),
        None,
        "nothing happened to the connection"
    );
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

/// The upper bound of the delay before reconnection attempt `n` (from 1).
fn cap(min: Duration, max: Duration, n: u32) -> Duration {
    min.saturating_mul(1 << (n - 1).min(20)).min(max)
}

#[tokio::test(start_paused = true)]
async fn reconnection_backs_off_exponentially_with_a_cap() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut o = opts(&broker, "c", ProtocolVersion::V5);
    o.reconnect.min_delay = Duration::from_secs(1);
    o.reconnect.max_delay = Duration::from_secs(4);
    let (min, max) = (o.reconnect.min_delay, o.reconnect.max_delay);
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    // Six refusals that may succeed later (server unavailable), then the broker accepts.
    const REFUSALS: u32 = 6;
    let f = broker.faults().for_client("c");
    for _ in 0..REFUSALS {
        f.refuse_connect(ConnectReason::ServerUnavailable);
    }
    let mut last = Instant::now();
    assert!(f.disconnect_with(DisconnectReason::ServerBusy));
    let mut status_rx = c.status();
    for n in 1..=REFUSALS + 1 {
        // Attempt n is made after a delay of at most min * 2^(n-1), capped at max.
        let e = event(&mut events, "an attempt", |e| {
            matches!(
                e,
                Event::Connected { .. }
                    | Event::Disconnected {
                        reason: CloseReason::Refused(_),
                        ..
                    }
            )
        })
        .await;
        let gap = last.elapsed();
        assert!(
            gap <= cap(min, max, n) + Duration::from_millis(50),
            "attempt {n} after {gap:?}"
        );
        last = Instant::now();
        assert_eq!(
            matches!(e, Event::Connected { .. }),
            n == REFUSALS + 1,
            "attempt {n}: {e:?}"
        );
    }
    // The status counted the attempts.
    let s = within("connected", status_rx.wait_for(|s| s.is_connected()))
        .await
        .unwrap()
        .clone();
    assert!(s.is_connected());
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

/// Kick the client off; returns the attempt number of its first reconnection.
async fn attempt_after_kick(
    f: &mqtt_testkit::ClientFaults,
    rx: &mut tokio::sync::watch::Receiver<ConnectionStatus>,
) -> u32 {
    assert!(f.disconnect_with(DisconnectReason::ServerBusy));
    let attempt = match within("reconnecting", rx.wait_for(is_reconnecting))
        .await
        .unwrap()
        .clone()
    {
        ConnectionStatus::Reconnecting { attempt, .. } => attempt,
        _ => unreachable!(),
    };
    within("connected", rx.wait_for(|s| s.is_connected()))
        .await
        .unwrap();
    attempt
}

#[tokio::test(start_paused = true)]
async fn the_attempt_counter_resets_after_a_stable_connection() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut o = opts(&broker, "c", ProtocolVersion::V5);
    o.reconnect.reset_after = Duration::from_secs(30);
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    let f = broker.faults().for_client("c");
    let mut rx = c.status();

    // Lost right after connecting: the counter goes on.
    assert_eq!(attempt_after_kick(&f, &mut rx).await, 1);
    assert_eq!(attempt_after_kick(&f, &mut rx).await, 2);
    assert_eq!(attempt_after_kick(&f, &mut rx).await, 3);
    // Up for longer than reset_after: the backoff starts again.
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(attempt_after_kick(&f, &mut rx).await, 1);
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn subscriptions_are_restored_when_the_broker_lost_the_session() {
    let broker = Broker::start().await.unwrap();
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let mut events = broker.events();
        let id = format!("c-{v:?}");
        // A clean session: the broker forgets it with the connection.
        let (c, _all) = Client::connect(opts(&broker, &id, v)).await.unwrap();
        let mut s = c.subscribe("r/#", QoS::AtLeastOnce).await.unwrap();
        let mut s2 = c.subscribe("q/+", QoS::ExactlyOnce).await.unwrap();
        let (p, _p) = Client::connect(opts(&broker, &format!("p-{v:?}"), v))
            .await
            .unwrap();
        p.publish("r/1", QoS::AtLeastOnce, false, "before")
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(s.recv().await.unwrap().payload().as_ref(), b"before");

        broker
            .faults()
            .for_client(&id)
            .close_after(Direction::Out, PacketType::PingResp, 1);
        // Any lost connection will do; a PINGRESP comes after one keepalive.
        assert!(!connected(&mut events, &id).await, "no session kept");
        subscribed(&mut events, &id).await;
        for (topic, payload) in [("r/2", "after"), ("q/x", "after2")] {
            p.publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap()
                .await
                .unwrap();
        }
        // The same streams keep receiving.
        assert_eq!(s.recv().await.unwrap().payload().as_ref(), b"after");
        assert_eq!(s2.recv().await.unwrap().payload().as_ref(), b"after2");
        c.disconnect(Duration::from_secs(1)).await.unwrap();
        p.disconnect(Duration::from_secs(1)).await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_first_connection_is_a_typed_error() {
    let broker = Broker::builder().user("u", "right").start().await.unwrap();
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        // Refused by the user table.
        let err = Client::connect(opts(&broker, "c", v).with_credentials("u", "wrong"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectError::Refused {
                    reason: ConnectReason::BadUserNameOrPassword,
                    ..
                }
            ),
            "{v:?}: {err:?}"
        );
        // Refused by a fault with a retryable code: still an error, no retry on the first.
        broker
            .faults()
            .for_client("c")
            .refuse_connect(ConnectReason::ServerUnavailable);
        let err = Client::connect(opts(&broker, "c", v).with_credentials("u", "right"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectError::Refused {
                    reason: ConnectReason::ServerUnavailable,
                    ..
                }
            ),
            "{v:?}: {err:?}"
        );
    }
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_refusal_that_cannot_succeed_stops_reconnection_and_ends_every_handle() {
    for (reason, v) in [
        (ConnectReason::NotAuthorized, ProtocolVersion::V5),
        (
            ConnectReason::BadUserNameOrPassword,
            ProtocolVersion::V3_1_1,
        ),
        (ConnectReason::Banned, ProtocolVersion::V5),
    ] {
        let broker = Broker::start().await.unwrap();
        let mut events = broker.events();
        let (c, _all) = Client::connect(opts(&broker, "c", v)).await.unwrap();
        connected(&mut events, "c").await;
        let f = broker.faults().for_client("c");
        f.refuse_connect(reason);
        // Withheld: this publish is open when the connection is lost.
        f.withhold(PacketType::PubAck);
        let open = c.publish("t", QoS::AtLeastOnce, false, "x").await.unwrap();
        fault_fired(&mut events, "c").await;
        assert!(f.disconnect_with(DisconnectReason::ServerBusy));

        let s = status(&c, "disconnected", |s| {
            matches!(s, ConnectionStatus::Disconnected { .. })
        })
        .await;
        let ConnectionStatus::Disconnected {
            reason: Some(ConnectError::Refused { reason: got, .. }),
            ..
        } = s
        else {
            panic!("{v:?}: {s:?}");
        };
        // 3.1.1 has no "banned" / detailed codes: compare what the broker could send.
        if v.is_v5() {
            assert_eq!(got, reason);
        }
        assert_eq!(
            within("open publish ends", open).await,
            Err(ClientError::Request(RequestError::Closed))
        );
        assert_eq!(
            c.publish("t", QoS::AtLeastOnce, false, "y").await.err(),
            Some(ClientError::Closed)
        );
        // No attempt after the refusal, however long we wait.
        event(&mut events, "refused", |e| {
            matches!(
                e,
                Event::Disconnected {
                    reason: CloseReason::Refused(_),
                    ..
                }
            )
        })
        .await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(events.try_next(), None);
        broker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_retryable_refusal_keeps_reconnecting() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap();
    connected(&mut events, "c").await;
    let f = broker.faults().for_client("c");
    f.refuse_connect(ConnectReason::ServerBusy)
        .refuse_connect(ConnectReason::QuotaExceeded);
    assert!(f.disconnect_with(DisconnectReason::ServerBusy));
    assert!(!connected(&mut events, "c").await);
    let s = status(&c, "connected", |s| s.is_connected()).await;
    assert!(s.is_connected());
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

/// Credentials that rotate: the hook hands out `dev-n` / `token-n` on its nth call.
fn rotating(
    calls: &Arc<AtomicU32>,
) -> impl Fn() -> std::future::Ready<Result<Credentials, String>> + Send + Sync + 'static {
    let calls = calls.clone();
    move || {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(Ok(Credentials {
            username: Some(format!("dev-{n}")),
            password: Some(format!("token-{n}").into()),
        }))
    }
}

#[tokio::test(start_paused = true)]
async fn the_credentials_hook_is_called_before_every_attempt() {
    let broker = Broker::builder()
        .user("dev-1", "token-1")
        .user("dev-2", "token-2")
        .user("dev-3", "token-3")
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let calls = Arc::new(AtomicU32::new(0));
    let (c, _all) = Client::connect(
        opts(&broker, "c", ProtocolVersion::V5).with_credentials_hook(rotating(&calls)),
    )
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    connected(&mut events, "c").await;
    for n in 2..=3 {
        assert!(
            broker
                .faults()
                .for_client("c")
                .disconnect_with(DisconnectReason::ServerBusy)
        );
        connected(&mut events, "c").await;
        assert_eq!(calls.load(Ordering::SeqCst), n);
    }
    // The fourth credentials are unknown to the broker: a refusal that stops the client.
    assert!(
        broker
            .faults()
            .for_client("c")
            .disconnect_with(DisconnectReason::ServerBusy)
    );
    let e = event(&mut events, "refused", |e| {
        matches!(e, Event::AuthenticationFailed { .. })
    })
    .await;
    assert!(
        matches!(&e, Event::AuthenticationFailed { username: Some(u), .. } if u == "dev-4"),
        "{e:?}"
    );
    let s = status(&c, "disconnected", |s| {
        matches!(s, ConnectionStatus::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(
            s,
            ConnectionStatus::Disconnected {
                reason: Some(ConnectError::Refused {
                    reason: ConnectReason::BadUserNameOrPassword,
                    ..
                }),
                ..
            }
        ),
        "{s:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_is_replaced_on_the_next_attempt_when_refusals_are_retried() {
    // Only the third token is valid: the second attempt is refused, the third succeeds.
    let broker = Broker::builder()
        .user("dev-1", "token-1")
        .user("dev-3", "token-3")
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let calls = Arc::new(AtomicU32::new(0));
    let mut o = opts(&broker, "c", ProtocolVersion::V3_1_1).with_credentials_hook(rotating(&calls));
    o.reconnect.retry_fatal_refusals = true;
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    assert!(
        broker
            .faults()
            .for_client("c")
            .disconnect_with(DisconnectReason::ServerBusy)
    );
    let e = event(&mut events, "refused", |e| {
        matches!(e, Event::AuthenticationFailed { .. })
    })
    .await;
    assert!(
        matches!(&e, Event::AuthenticationFailed { username: Some(u), .. } if u == "dev-2"),
        "{e:?}"
    );
    connected(&mut events, "c").await;
    status(&c, "connected", |s| s.is_connected()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_credentials_hook_fails_the_first_connection() {
    let broker = Broker::start().await.unwrap();
    let o = opts(&broker, "c", ProtocolVersion::V5)
        .with_credentials_hook(|| async { Err::<Credentials, _>("vault unreachable".to_string()) });
    let err = Client::connect(o).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::Credentials(ref m) if m == "vault unreachable"),
        "{err:?}"
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_broker_refusing_5_0_gets_3_1_1_with_the_fallback() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    // Without the fallback: the refusal.
    broker
        .faults()
        .for_client("c")
        .refuse_connect(ConnectReason::UnsupportedProtocolVersion);
    let err = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Refused {
                reason: ConnectReason::UnsupportedProtocolVersion,
                ..
            }
        ),
        "{err:?}"
    );
    // With it: 3.1.1.
    broker
        .faults()
        .for_client("c")
        .refuse_connect(ConnectReason::UnsupportedProtocolVersion);
    let mut o = opts(&broker, "c", ProtocolVersion::V5);
    o.fallback_to_v311 = true;
    let (c, _all) = Client::connect(o).await.unwrap();
    assert_eq!(c.protocol(), ProtocolVersion::V3_1_1);
    let e = event(&mut events, "connected", |e| {
        matches!(e, Event::Connected { .. })
    })
    .await;
    assert!(
        matches!(
            e,
            Event::Connected {
                protocol: ProtocolVersion::V3_1_1,
                ..
            }
        ),
        "{e:?}"
    );
    // And it works.
    let mut s = c.subscribe("t", QoS::ExactlyOnce).await.unwrap();
    c.publish("t", QoS::ExactlyOnce, false, "x")
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(s.recv().await.unwrap().payload().as_ref(), b"x");
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_session_loss_policy_decides_the_fate_of_unacknowledged_publishes() {
    use mqtt_client::{LostPublish, SessionLossPolicy};
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let broker = Broker::start().await.unwrap();
        let mut events = broker.events();
        let (obs, _o) = Client::connect(opts(&broker, "obs", v)).await.unwrap();
        let mut seen = obs.subscribe("t", QoS::ExactlyOnce).await.unwrap();
        // The opposite of the default: QoS 1 fails, QoS 2 is published again.
        let mut policy = SessionLossPolicy::default();
        policy.qos1 = LostPublish::Fail;
        policy.qos2 = LostPublish::Republish;
        // A clean session: the broker forgets it when the connection drops.
        let (c, _all) = Client::connect(opts(&broker, "c", v).with_session_loss(policy))
            .await
            .unwrap();
        connected(&mut events, "c").await;
        let f = broker.faults().for_client("c");
        f.withhold(PacketType::PubAck).withhold(PacketType::PubRec);
        let q1 = c.publish("t", QoS::AtLeastOnce, false, "q1").await.unwrap();
        let q2 = c.publish("t", QoS::ExactlyOnce, false, "q2").await.unwrap();
        fault_fired(&mut events, "c").await;
        fault_fired(&mut events, "c").await;
        assert!(f.disconnect_with(DisconnectReason::ServerBusy));
        assert!(!connected(&mut events, "c").await);
        assert_eq!(
            within("q1", q1).await,
            Err(ClientError::Request(RequestError::SessionLost)),
            "{v:?}"
        );
        within("q2", q2).await.unwrap();
        // The broker routed both on the first connection, and q2 once more as a new message.
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(
                within("observer", seen.recv())
                    .await
                    .unwrap()
                    .payload()
                    .clone(),
            );
        }
        got.sort();
        assert_eq!(got, ["q1", "q2", "q2"], "{v:?}");
        c.disconnect(Duration::from_secs(1)).await.unwrap();
        obs.disconnect(Duration::from_secs(1)).await.unwrap();
        broker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn requests_made_while_reconnecting_go_out_on_the_next_connection() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (obs, _o) = Client::connect(opts(&broker, "obs", ProtocolVersion::V5))
        .await
        .unwrap();
    let mut seen = obs.subscribe("t", QoS::ExactlyOnce).await.unwrap();
    let mut o = opts(&broker, "c", ProtocolVersion::V5);
    o.reconnect.min_delay = Duration::from_secs(5);
    o.reconnect.max_delay = Duration::from_secs(5);
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    let f = broker.faults().for_client("c");
    f.refuse_connect(ConnectReason::ServerUnavailable);
    assert!(f.disconnect_with(DisconnectReason::ServerBusy));
    status(&c, "reconnecting", is_reconnecting).await;
    let mut handles = Vec::new();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        handles.push(
            c.publish("t", qos, false, format!("{qos:?}"))
                .await
                .unwrap(),
        );
    }
    for h in handles {
        within("handle", h).await.unwrap();
    }
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let m = within("observer", seen.recv()).await.unwrap();
        assert_eq!(m.payload().as_ref(), format!("{qos:?}").as_bytes());
    }
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn reconnection_gives_up_after_max_attempts_and_ends_every_handle() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut o = opts(&broker, "c", ProtocolVersion::V5);
    o.reconnect.max_attempts = Some(3);
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    broker.faults().for_client("c").withhold(PacketType::PubAck);
    let open = c.publish("t", QoS::AtLeastOnce, false, "x").await.unwrap();
    fault_fired(&mut events, "c").await;
    // The broker goes away for good: every attempt is refused by the OS.
    broker.shutdown().await;
    let mut rx = c.status();
    let mut attempts = Vec::new();
    let last = within("gave up", async {
        loop {
            let s = rx.borrow_and_update().clone();
            match s {
                ConnectionStatus::Reconnecting { attempt, .. }
                    if attempts.last() != Some(&attempt) =>
                {
                    attempts.push(attempt);
                }
                ConnectionStatus::Disconnected { reason, .. } => return reason,
                _ => {}
            }
            if rx.changed().await.is_err() {
                if let ConnectionStatus::Disconnected { reason, .. } = rx.borrow().clone() {
                    return reason;
                }
                panic!("status closed");
            }
        }
    })
    .await;
    assert!(
        matches!(last, Some(ConnectError::Unreachable { .. })),
        "{last:?}"
    );
    assert!(attempts.iter().all(|&a| a <= 3), "{attempts:?}");
    assert_eq!(
        within("open handle", open).await,
        Err(ClientError::Request(RequestError::Closed))
    );
}

#[tokio::test(start_paused = true)]
async fn without_reconnection_the_first_loss_is_final() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut o = opts(&broker, "c", ProtocolVersion::V5);
    o.reconnect.enabled = false;
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    assert!(
        broker
            .faults()
            .for_client("c")
            .disconnect_with(DisconnectReason::ServerBusy)
    );
    let s = status(&c, "disconnected", |s| {
        matches!(s, ConnectionStatus::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(
            s,
            ConnectionStatus::Disconnected {
                reason: Some(ConnectError::Connection(
                    ConnectionError::ServerDisconnect {
                        reason: DisconnectReason::ServerBusy,
                        ..
                    }
                )),
                ..
            }
        ),
        "{s:?}"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    while let Some(e) = events.try_next() {
        assert!(!matches!(e, Event::Connected { .. }), "no attempt: {e:?}");
    }
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_server_keep_alive_is_the_one_kept() {
    // The broker holds 5.0 clients to 5 s whatever they ask for.
    let broker = Broker::builder().max_keep_alive(5).start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(
        opts(&broker, "c", ProtocolVersion::V5).with_keep_alive(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    connected(&mut events, "c").await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    while let Some(e) = events.try_next() {
        assert!(!matches!(e, Event::Disconnected { .. }), "{e:?}");
    }
    assert!(c.status().borrow().is_connected());
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_broker_that_never_answers_connect_fails_the_first_connection_in_time() {
    // Accepts, reads, never answers (`mqtt_testkit::script`).
    let server = ScriptedBroker::accept(1, |_, mut peer| async move {
        peer.bytes_until_closed().await;
    });
    let mut o = mqtt_client::Options::from_url(&format!("mqtt://{}", server.addr())).unwrap();
    o.mqtt.connect_timeout = Duration::from_secs(7);
    let start = Instant::now();
    let err = within("connect", Client::connect(o)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Connection(ConnectionError::ConnectTimeout(t)) if t == Duration::from_secs(7)
        ),
        "{err:?}"
    );
    // The message names the limit that fired, and its value.
    assert_eq!(
        err.to_string(),
        "no CONNACK within the connect timeout (7 s)"
    );
    assert!(start.elapsed() >= Duration::from_secs(7));
    // The client closed its socket: the server sees the end of the stream.
    within("server sees the close", server.finish()).await;
}

#[tokio::test(start_paused = true)]
async fn subscribe_and_unsubscribe_whose_ack_was_lost_complete_after_a_reconnection() {
    for (v, s) in common::SESSIONS {
        let case = format!("{v:?} {s:?}");
        let broker = Broker::start().await.unwrap();
        let mut events = broker.events();
        let (c, _all) = Client::connect(session_opts(&broker, "c", v, s))
            .await
            .unwrap();
        connected(&mut events, "c").await;
        let f = broker.faults().for_client("c");
        f.withhold(PacketType::SubAck);
        let c2 = c.clone();
        let subscribing = tokio::spawn(async move { c2.subscribe("t/#", QoS::AtLeastOnce).await });
        fault_fired(&mut events, "c").await;
        assert!(f.disconnect_with(DisconnectReason::ServerBusy));
        connected(&mut events, "c").await;
        let mut sub = within(&format!("{case}: subscribe"), subscribing)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{case}: {e:?}"));
        // It works: the subscription is in place on the new connection.
        c.publish("t/1", QoS::AtLeastOnce, false, "x")
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(
            within("message", sub.recv()).await.unwrap().topic(),
            "t/1",
            "{case}"
        );

        f.withhold(PacketType::UnsubAck);
        let c2 = c.clone();
        let unsubscribing = tokio::spawn(async move { c2.unsubscribe("t/#").await });
        fault_fired(&mut events, "c").await;
        assert!(f.disconnect_with(DisconnectReason::ServerBusy));
        connected(&mut events, "c").await;
        within(&format!("{case}: unsubscribe"), unsubscribing)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{case}: {e:?}"));
        assert!(within("stream ends", sub.recv()).await.is_none(), "{case}");
        c.disconnect(Duration::from_secs(1)).await.unwrap();
        broker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_subscribe_made_while_reconnecting_completes_on_the_next_connection() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut o = opts(&broker, "c", ProtocolVersion::V3_1_1);
    o.reconnect.min_delay = Duration::from_secs(5);
    let (c, _all) = Client::connect(o).await.unwrap();
    connected(&mut events, "c").await;
    let _old = c.subscribe("old", QoS::AtLeastOnce).await.unwrap();
    let f = broker.faults().for_client("c");
    f.refuse_connect(ConnectReason::ServerUnavailable);
    assert!(f.disconnect_with(DisconnectReason::ServerBusy));
    status(&c, "reconnecting", is_reconnecting).await;
    let mut sub = within("subscribe", c.subscribe("new", QoS::ExactlyOnce))
        .await
        .unwrap();
    c.publish("new", QoS::ExactlyOnce, false, "x")
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(within("message", sub.recv()).await.unwrap().topic(), "new");
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}
