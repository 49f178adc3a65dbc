//! Helpers shared by the client's integration tests: options against a testkit broker,
//! sessions of both kinds, and waits that fail instead of hanging.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use std::net::SocketAddr;

use mqtt_client::{Client, ConnectionStatus, Options, ProtocolVersion, QoS, Reconnect};
use mqtt_proto::{Connect, ConnectReason, TopicName, Will};
use mqtt_testkit::raw::RawClient;
use mqtt_testkit::{Broker, Event, Events};

/// How long any one wait may take before the test fails. On a paused clock this is virtual
/// time: a wait that can never end fails at once (the clock auto-advances when idle).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The bound of the tests on real sockets and processes (`transports`, `interop_mosquitto`):
/// every such test ends well within this, or fails instead of hanging.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Await `f`, failing the test if it takes longer than [`LIMIT`] (real time).
pub async fn within_limit<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("the test did not finish in time")
}

/// Persistent (5.0 Session Expiry Interval > 0 / 3.1.1 clean session 0) or clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    Persistent,
    Clean,
}

/// The protocol versions and session kinds every ledger runs over.
pub const SESSIONS: [(ProtocolVersion, Session); 6] = [
    (ProtocolVersion::V5, Session::Persistent),
    (ProtocolVersion::V5, Session::Clean),
    (ProtocolVersion::V3_1_1, Session::Persistent),
    (ProtocolVersion::V3_1_1, Session::Clean),
    (ProtocolVersion::V3_1, Session::Persistent),
    (ProtocolVersion::V3_1, Session::Clean),
];

/// A quick reconnection policy (on a paused clock its delays take no real time anyway).
pub fn fast_reconnect() -> Reconnect {
    let mut r = Reconnect::default();
    r.min_delay = Duration::from_millis(10);
    r.max_delay = Duration::from_millis(200);
    r
}

/// Options for `id` on this broker, clean session, fast reconnection.
pub fn opts(broker: &Broker, id: &str, v: ProtocolVersion) -> Options {
    Options::from_url(&format!("mqtt://{}", broker.local_addr()))
        .unwrap()
        .with_client_id(id)
        .with_protocol(v)
        .with_reconnect(fast_reconnect())
}

/// Options with a session of this kind.
pub fn session_opts(broker: &Broker, id: &str, v: ProtocolVersion, s: Session) -> Options {
    let o = opts(broker, id, v);
    match (s, v.is_v5()) {
        (Session::Clean, _) => o,
        (Session::Persistent, true) => o.with_session_expiry(3600),
        (Session::Persistent, false) => o.with_clean_start(false),
    }
}

/// Await `f`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// The next broker event satisfying `pred`.
pub async fn event(events: &mut Events, what: &str, pred: impl FnMut(&Event) -> bool) -> Event {
    within(what, events.wait_for(pred))
        .await
        .unwrap_or_else(|| panic!("broker gone while waiting for {what}"))
}

/// Wait for the broker to accept a CONNECT from `id`; returns its Session Present flag.
pub async fn connected(events: &mut Events, id: &str) -> bool {
    match event(
        events,
        &format!("{id} connected"),
        |e| matches!(e, Event::Connected { client_id, .. } if client_id == id),
    )
    .await
    {
        Event::Connected {
            session_present, ..
        } => session_present,
        _ => unreachable!(),
    }
}

/// Wait for the broker to process a SUBSCRIBE from `id`.
pub async fn subscribed(events: &mut Events, id: &str) {
    event(
        events,
        &format!("{id} subscribed"),
        |e| matches!(e, Event::Subscribed { client_id, .. } if client_id == id),
    )
    .await;
}

/// Wait for a fault armed for `id` to fire.
pub async fn fault_fired(events: &mut Events, id: &str) -> mqtt_testkit::Fault {
    match event(
        events,
        &format!("fault for {id}"),
        |e| matches!(e, Event::FaultFired { client_id, .. } if client_id == id),
    )
    .await
    {
        Event::FaultFired { fault, .. } => fault,
        _ => unreachable!(),
    }
}

/// Wait until the client's status satisfies `pred`; returns it.
pub async fn status(
    client: &Client,
    what: &str,
    mut pred: impl FnMut(&ConnectionStatus) -> bool,
) -> ConnectionStatus {
    let mut rx = client.status();
    within(what, async {
        loop {
            {
                let s = rx.borrow_and_update();
                if pred(&s) {
                    return s.clone();
                }
            }
            if rx.changed().await.is_err() {
                let s = rx.borrow().clone();
                assert!(
                    pred(&s),
                    "status channel closed at {s:?} waiting for {what}"
                );
                return s;
            }
        }
    })
    .await
}

/// The ledger id carried in a payload `"<tag>:<n>"`, if it is one.
pub fn ledger_id(payload: &[u8]) -> Option<u32> {
    std::str::from_utf8(payload)
        .ok()?
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

/// A CONNECT with a will (QoS 1) on a raw connection (`mqtt_testkit::raw`), its CONNACK read
/// (accepted, no session present): the connection is up and the will registered. Dropping
/// the client ends the connection without DISCONNECT.
pub async fn raw_connect_with_will(
    addr: SocketAddr,
    v: ProtocolVersion,
    client_id: &str,
    topic: &str,
    message: &str,
) -> RawClient {
    let mut connect = Connect::new(v, client_id);
    let mut will = Will::new(TopicName::new(topic).unwrap(), message.to_owned());
    will.qos = QoS::AtLeastOnce;
    connect.will = Some(will);
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(
        (ack.session_present, ack.reason),
        (false, ConnectReason::Success),
        "CONNACK accepted: {ack:?}"
    );
    client
}
