//! Listener, CONNECT / CONNACK, protocol violations, keep alive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use common::events::closed_reason;
use common::{ALL, RawClient, V5, V31, V311, publish, within};
use mqtt_proto::{Connect, ConnectReason, DisconnectReason, Packet, ProtocolVersion, QosPid};
use mqtt_testkit::{Broker, CloseReason, Event};
use tokio::time::Instant;

fn disconnect_reason(packets: &[Packet]) -> Option<DisconnectReason> {
    match packets {
        [Packet::Disconnect(d)] => Some(d.reason),
        [] => None,
        other => panic!("expected at most a DISCONNECT before the close, got {other:?}"),
    }
}

#[tokio::test]
async fn starts_on_a_free_loopback_port_and_shuts_down_cleanly() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    let mut v5 = RawClient::connect(addr, V5, "a").await;
    let mut v311 = RawClient::connect(addr, V311, "b").await;
    broker.shutdown().await;
    assert_eq!(
        disconnect_reason(&v5.closed().await),
        Some(DisconnectReason::ServerShuttingDown)
    );
    assert_eq!(v311.closed().await, vec![]);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn accepts_connect_from_every_version() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut clients = Vec::new();
    for version in ALL {
        let id = format!("client-{}", version.level());
        let (mut c, ack) =
            RawClient::connect_with(broker.local_addr(), Connect::new(version, id.as_str())).await;
        assert_eq!(ack.reason, ConnectReason::Success);
        assert!(!ack.session_present);
        assert_eq!(
            within(events.next()).await,
            Some(Event::Connected {
                client_id: id,
                protocol: version,
                session_present: false
            })
        );
        // The decoder now speaks the client's version: a PINGREQ round trip works.
        c.ping().await;
        clients.push(c);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn v5_empty_client_id_gets_an_assigned_identifier() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let (_c, ack) = RawClient::connect_with(broker.local_addr(), Connect::new(V5, "")).await;
    assert_eq!(ack.reason, ConnectReason::Success);
    let assigned = ack
        .properties
        .assigned_client_identifier
        .expect("assigned id");
    assert!(!assigned.is_empty());
    match within(events.next()).await {
        Some(Event::Connected { client_id, .. }) => assert_eq!(client_id, &*assigned),
        other => panic!("{other:?}"),
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn v311_empty_client_id_needs_clean_session() {
    let broker = Broker::start().await.unwrap();
    let (_ok, ack) = RawClient::connect_with(broker.local_addr(), Connect::new(V311, "")).await;
    assert_eq!(ack.reason, ConnectReason::Success);

    let mut connect = Connect::new(V311, "");
    connect.clean_start = false;
    let (mut refused, ack) = RawClient::connect_with(broker.local_addr(), connect).await;
    assert_eq!(ack.reason, ConnectReason::ClientIdentifierNotValid);
    assert_eq!(ack.reason.to_v3(), Some(2));
    assert_eq!(refused.closed().await, vec![]);
    broker.shutdown().await;
}

#[tokio::test]
async fn v31_empty_client_id_is_refused() {
    let broker = Broker::start().await.unwrap();
    let (mut c, ack) = RawClient::connect_with(broker.local_addr(), Connect::new(V31, "")).await;
    assert_eq!(ack.reason, ConnectReason::ClientIdentifierNotValid);
    assert_eq!(c.closed().await, vec![]);
    broker.shutdown().await;
}

#[tokio::test]
async fn unsupported_protocol_level_gets_return_code_1() {
    let broker = Broker::start().await.unwrap();
    let mut c = RawClient::open(broker.local_addr(), V311).await;
    // CONNECT, protocol "MQTT" level 6, clean session, keep alive 0, client id "a".
    c.send_raw(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 6, 0x02, 0, 0, 0, 1, b'a',
    ])
    .await;
    assert_eq!(
        c.connack().await.reason,
        ConnectReason::UnsupportedProtocolVersion
    );
    assert_eq!(c.closed().await, vec![]);
    broker.shutdown().await;
}

#[tokio::test]
async fn first_packet_must_be_connect() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut c = RawClient::open(broker.local_addr(), V311).await;
    c.send(Packet::PingReq).await;
    assert_eq!(c.closed().await, vec![]);
    match closed_reason(&mut events).await {
        CloseReason::ProtocolViolation(rule) => assert!(rule.contains("MQTT-3.1.0-1"), "{rule}"),
        other => panic!("{other:?}"),
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn second_connect_is_a_protocol_error() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    for version in [V311, V5] {
        let mut c = RawClient::connect(broker.local_addr(), version, "twice").await;
        c.send(Connect::new(version, "twice")).await;
        let expected = version.is_v5().then_some(DisconnectReason::ProtocolError);
        assert_eq!(disconnect_reason(&c.closed().await), expected);
        match closed_reason(&mut events).await {
            CloseReason::ProtocolViolation(rule) => {
                assert!(rule.contains("MQTT-3.1.0-2"), "{rule}")
            }
            other => panic!("{other:?}"),
        }
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn malformed_packet_closes_v5_with_its_reason_code() {
    let broker = Broker::start().await.unwrap();
    for (version, expected) in [(V311, None), (V5, Some(DisconnectReason::MalformedPacket))] {
        let mut c = RawClient::connect(broker.local_addr(), version, "bad").await;
        // SUBSCRIBE with fixed header flags 0 instead of 2 [MQTT-3.8.1-1].
        c.send_raw(&[0x80, 0x00]).await;
        assert_eq!(disconnect_reason(&c.closed().await), expected);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn oversize_packet_closes_with_packet_too_large() {
    let broker = Broker::builder()
        .max_packet_size(NonZeroU32::new(128).unwrap())
        .start()
        .await
        .unwrap();
    let (mut c, ack) = RawClient::connect_with(broker.local_addr(), Connect::new(V5, "big")).await;
    assert_eq!(ack.properties.maximum_packet_size, NonZeroU32::new(128));
    c.send(publish("t", QosPid::AtMostOnce, &[0u8; 200])).await;
    assert_eq!(
        disconnect_reason(&c.closed().await),
        Some(DisconnectReason::PacketTooLarge)
    );
    broker.shutdown().await;
}

async fn connect_with_keep_alive(
    broker: &Broker,
    version: ProtocolVersion,
    secs: u16,
) -> RawClient {
    let mut connect = Connect::new(version, "ka");
    connect.keep_alive = secs;
    let (c, ack) = RawClient::connect_with(broker.local_addr(), connect).await;
    assert_eq!(ack.reason, ConnectReason::Success);
    c
}

#[tokio::test(start_paused = true)]
async fn keep_alive_expires_at_one_and_a_half_times_the_interval() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    for version in [V311, V5] {
        let start = Instant::now();
        let mut c = connect_with_keep_alive(&broker, version, 4).await;
        let expected = version
            .is_v5()
            .then_some(DisconnectReason::KeepAliveTimeout);
        assert_eq!(disconnect_reason(&c.closed().await), expected);
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_secs(6),
            "closed after {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_millis(6100),
            "closed after {elapsed:?}"
        );
        assert_eq!(
            closed_reason(&mut events).await,
            CloseReason::KeepAliveTimeout
        );
    }
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn any_packet_restarts_the_keep_alive_timer() {
    let broker = Broker::start().await.unwrap();
    let start = Instant::now();
    let mut c = connect_with_keep_alive(&broker, V311, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.ping().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.ping().await;
    assert_eq!(c.closed().await, vec![]);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(7),
        "closed after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(7100),
        "closed after {elapsed:?}"
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn keep_alive_zero_never_expires_and_missing_connect_times_out() {
    let broker = Broker::builder()
        .connect_timeout(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let mut c = connect_with_keep_alive(&broker, V311, 0).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    c.ping().await;

    let mut silent = RawClient::open(broker.local_addr(), V311).await;
    assert_eq!(silent.closed().await, vec![]);
    assert_eq!(
        within(events.wait_for(|e| matches!(e, Event::Disconnected { .. }))).await,
        Some(Event::Disconnected {
            client_id: None,
            reason: CloseReason::ConnectTimeout
        })
    );
    broker.shutdown().await;
}
