//! Keepalive: PINGREQ when nothing was sent, or nothing received, for the keepalive interval;
//! a PINGRESP timeout that closes the connection; keepalive 0 turns it all off.

use std::time::Duration;

use mqtt_proto::client::{ConnectionError, ConnectionState};
use mqtt_proto::{DisconnectReason, Packet, PubAck, QoS, QosPid};

use crate::harness::{BOTH, Harness, V5, inbound, opts, pid, pid_of};

const KA: Duration = Duration::from_secs(10);

fn harness(v: mqtt_proto::ProtocolVersion) -> Harness {
    let mut o = opts(v);
    o.keep_alive = KA;
    o.ping_timeout = Duration::from_secs(5);
    Harness::connected(o)
}

#[test]
fn keepalive_sends_pingreq_when_idle() {
    // [MQTT-3.1.2-20] (3.1.1: [MQTT-3.1.2-23])
    for v in BOTH {
        let mut h = harness(v);
        h.advance(KA - Duration::from_millis(1));
        h.recv_nothing();
        h.advance(Duration::from_millis(1));
        assert_eq!(h.recv(), vec![Packet::PingReq]);
        h.advance(Duration::from_secs(1));
        h.send(Packet::PingResp);
        assert!(h.events().is_empty());
        // The next PINGREQ comes one interval after the last one went out.
        h.advance(KA - Duration::from_secs(1) - Duration::from_millis(1));
        h.recv_nothing();
        h.advance(Duration::from_millis(1));
        assert_eq!(h.recv(), vec![Packet::PingReq]);
        h.send(Packet::PingResp);
        // Many intervals later, still alive: one PINGREQ per interval, never two at once.
        for _ in 0..10 {
            h.advance(KA);
            assert_eq!(h.recv(), vec![Packet::PingReq]);
            h.send(Packet::PingResp);
        }
        assert_eq!(h.client.state(), ConnectionState::Connected);
        assert!(h.events().is_empty());
    }
}

#[test]
fn keepalive_quiet_while_traffic_flows_both_ways() {
    let mut h = harness(V5);
    for _ in 0..30 {
        h.advance(Duration::from_secs(3));
        h.publish("t", QoS::AtLeastOnce, "x");
        let p = h.recv_publish();
        h.send(PubAck::new(pid(&p)));
        let _ = h.events();
    }
    h.advance(KA - Duration::from_millis(1));
    h.recv_nothing();
}

#[test]
fn keepalive_pings_when_nothing_received_even_if_sending() {
    for v in BOTH {
        let mut h = harness(v);
        // We publish every two seconds; the server says nothing.
        for _ in 0..4 {
            h.advance(Duration::from_secs(2));
            h.publish("t", QoS::AtMostOnce, "x");
            assert!(matches!(h.recv()[..], [Packet::Publish(_)]));
        }
        h.advance(Duration::from_millis(1_999));
        h.recv_nothing();
        h.advance(Duration::from_millis(1));
        assert_eq!(h.recv(), vec![Packet::PingReq]);
    }
}

#[test]
fn keepalive_pings_when_nothing_sent_even_if_receiving() {
    let mut h = harness(V5);
    // The server publishes QoS 0 every two seconds; we send nothing back.
    for _ in 0..4 {
        h.advance(Duration::from_secs(2));
        h.send(inbound("t", QosPid::AtMostOnce, "x"));
        h.recv_nothing();
    }
    h.advance(Duration::from_millis(1_999));
    h.recv_nothing();
    h.advance(Duration::from_millis(1));
    assert_eq!(h.recv(), vec![Packet::PingReq]);
}

#[test]
fn missing_pingresp_closes_connection() {
    for v in BOTH {
        let mut h = harness(v);
        h.advance(KA);
        assert_eq!(h.recv(), vec![Packet::PingReq]);
        h.advance(Duration::from_millis(4_999));
        assert!(h.events().is_empty());
        h.advance(Duration::from_millis(1));
        // 5.0: DISCONNECT 0x8D (Keep Alive timeout); 3.1.1: the connection just closes.
        h.assert_closed_by_client(
            &ConnectionError::KeepAliveTimeout,
            DisconnectReason::KeepAliveTimeout,
        );
    }
}

#[test]
fn any_packet_after_pingreq_shows_the_link_is_alive() {
    let mut h = harness(V5);
    h.advance(KA);
    assert_eq!(h.recv(), vec![Packet::PingReq]);
    h.advance(Duration::from_secs(4));
    h.send(inbound("t", QosPid::AtLeastOnce(pid_of(1)), "x"));
    assert_eq!(h.recv(), vec![PubAck::new(pid_of(1)).into()]);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.client.state(), ConnectionState::Connected);
    let events = h.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, mqtt_proto::client::Event::Disconnected(_))),
        "{events:?}"
    );
}

#[test]
fn keepalive_zero_never_pings() {
    for v in BOTH {
        let mut o = opts(v);
        o.keep_alive = Duration::ZERO;
        let mut h = Harness::new(o);
        assert_eq!(h.open().keep_alive, 0);
        h.accept(crate::harness::connack(false));
        assert_eq!(h.client.poll_timeout(), None);
        h.advance(Duration::from_secs(24 * 3600));
        h.recv_nothing();
        assert!(h.events().is_empty());
        assert_eq!(h.client.state(), ConnectionState::Connected);
    }
}

#[test]
fn spurious_timeouts_are_harmless() {
    let mut h = harness(V5);
    for _ in 0..100 {
        h.client.handle_timeout(h.now);
        h.pump();
    }
    h.recv_nothing();
    // Called late, the timer fires once.
    h.now += KA * 3;
    h.client.handle_timeout(h.now);
    h.client.handle_timeout(h.now);
    assert_eq!(h.recv(), vec![Packet::PingReq]);
    // A timeout called with a time before the deadline does nothing.
    let deadline = h.client.poll_timeout().unwrap();
    assert!(deadline > h.now);
    h.client.handle_timeout(h.now);
    assert!(h.events().is_empty());
    assert_eq!(h.client.state(), ConnectionState::Connected);
}

#[test]
fn keepalive_announced_in_connect_is_the_option() {
    let mut o = opts(V5);
    o.keep_alive = Duration::from_secs(45);
    let mut h = Harness::new(o);
    assert_eq!(h.open().keep_alive, 45);
    // Too long for the field: the largest value is sent.
    let mut o = opts(V5);
    o.keep_alive = Duration::from_secs(100_000);
    let mut h = Harness::new(o);
    assert_eq!(h.open().keep_alive, u16::MAX);
}

#[test]
fn keepalive_in_force_is_the_one_announced() {
    // The server enforces what CONNECT says, so the client pings by the same value: a
    // keepalive beyond the field's 65535 s is clamped for both...
    let mut o = opts(V5);
    o.keep_alive = Duration::from_secs(100_000);
    let mut h = Harness::connected(o);
    h.advance(Duration::from_secs(65_534));
    h.recv_nothing();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.recv(), vec![Packet::PingReq]);
    // ... and a fraction of a second is rounded up, not down to "off".
    let mut o = opts(V5);
    o.keep_alive = Duration::from_millis(1_500);
    let mut h = Harness::new(o);
    assert_eq!(h.open().keep_alive, 2);
    h.accept(crate::harness::connack(false));
    h.advance(Duration::from_millis(1_999));
    h.recv_nothing();
    h.advance(Duration::from_millis(1));
    assert_eq!(h.recv(), vec![Packet::PingReq]);
}

#[test]
fn bytes_of_a_packet_still_arriving_keep_the_link_alive() {
    // A large PUBLISH on a slow link: its first bytes arrive after PINGREQ, the PINGRESP is
    // queued behind it; the ping timeout must not fire while data flows.
    let mut h = harness(V5);
    h.advance(KA);
    assert_eq!(h.recv(), vec![Packet::PingReq]);
    let mut wire = bytes::BytesMut::new();
    mqtt_proto::Packet::from(inbound("t", QosPid::AtMostOnce, "a payload in pieces"))
        .encode(V5, &mut wire)
        .unwrap();
    let (head, tail) = wire.split_at(8);
    h.advance(Duration::from_secs(4));
    h.send_bytes(head);
    h.advance(Duration::from_secs(4));
    assert_eq!(h.client.state(), ConnectionState::Connected);
    h.send_bytes(tail);
    h.send(Packet::PingResp);
    assert_eq!(h.client.state(), ConnectionState::Connected);
    // The next PINGREQ is due a keepalive after the last one was sent (8 s ago).
    h.advance(Duration::from_secs(2));
    assert_eq!(h.recv(), vec![Packet::PingReq]);
}
