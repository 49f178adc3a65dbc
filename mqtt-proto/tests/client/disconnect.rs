//! Ending connections on purpose: the server's DISCONNECT (5.0), ours with a reason and a
//! session expiry override, and abandoning every request for good.

use std::time::Duration;

use mqtt_proto::client::{ConnectionError, ConnectionState, Event, RequestError};
use mqtt_proto::{Disconnect, DisconnectReason, Packet, PubAck, QoS, SubscribeProperties};

use crate::harness::{BOTH, Harness, V5, V311, connack, nz32, opts, pid, published, sub};

#[test]
fn server_disconnect_reported_with_reason() {
    let mut h = Harness::connected(opts(V5));
    let id = h.publish("t", QoS::AtLeastOnce, "x");
    let _ = h.recv();
    let mut d = Disconnect::new(DisconnectReason::UseAnotherServer);
    d.properties.reason_string = Some("maintenance".into());
    d.properties.server_reference = Some("other.example".into());
    h.send(d.clone());
    assert_eq!(
        h.expect_disconnected(),
        ConnectionError::ServerDisconnect {
            reason: DisconnectReason::UseAnotherServer,
            properties: Box::new(d.properties),
        }
    );
    // The client answers a DISCONNECT with nothing, and arms no timer.
    h.recv_nothing();
    assert_eq!(h.client.poll_timeout(), None);
    h.advance(Duration::from_secs(600));
    h.recv_nothing();
    // The request survives for the next connection.
    let _ = h.drop_transport();
    h.reconnect(true);
    let p = h.recv_publish();
    assert!(p.dup);
    h.send(PubAck::new(pid(&p)));
    assert_eq!(published(&h.events()), vec![(id, true)]);
}

#[test]
fn server_disconnect_normal_reported() {
    let mut h = Harness::connected(opts(V5));
    h.send(Disconnect::default());
    assert_eq!(
        h.expect_disconnected(),
        ConnectionError::ServerDisconnect {
            reason: DisconnectReason::NormalDisconnection,
            properties: Default::default(),
        }
    );
}

#[test]
fn client_disconnect_with_reason_and_session_expiry() {
    let mut o = opts(V5);
    o.session_expiry_interval = 600;
    let mut h = Harness::connected(o);
    let queued = h.publish("t", QoS::AtLeastOnce, "later");
    let mut d = Disconnect::new(DisconnectReason::DisconnectWithWillMessage);
    d.properties.session_expiry_interval = Some(3600);
    d.properties.reason_string = Some("bye".into());
    h.client.disconnect(d.clone());
    // The DISCONNECT goes out, and nothing after it [MQTT-3.14.4-1].
    assert_eq!(h.recv(), vec![d.into()]);
    assert_eq!(h.expect_disconnected(), ConnectionError::ClientDisconnect);
    assert_eq!(h.client.state(), ConnectionState::Disconnected);
    assert_eq!(h.client.poll_timeout(), None);
    // The session is kept: the request waits for the next connection.
    assert_eq!(h.client.queued(), 1);
    let _ = h.drop_transport();
    h.reconnect(true);
    let p = h.recv_publish();
    assert_eq!(p.payload, "later");
    h.send(PubAck::new(pid(&p)));
    assert_eq!(published(&h.events()), vec![(queued, true)]);
}

#[test]
fn client_disconnect_cannot_set_a_session_expiry_when_connect_had_none() {
    // 5.0 §3.14.2.2.2: a non-zero Session Expiry Interval in DISCONNECT after a zero one in
    // CONNECT is a Protocol Error, which would make the server publish the will. It is left
    // out.
    let mut h = Harness::connected(opts(V5));
    let mut d = Disconnect::new(DisconnectReason::NormalDisconnection);
    d.properties.session_expiry_interval = Some(3600);
    h.client.disconnect(d);
    let sent = h.recv_one();
    let Packet::Disconnect(sent) = sent else {
        panic!("{sent:?}")
    };
    assert_eq!(sent.reason, DisconnectReason::NormalDisconnection);
    assert_eq!(sent.properties.session_expiry_interval, None);
}

#[test]
fn client_disconnect_on_3_1_1_is_a_plain_disconnect() {
    // 3.1.1 DISCONNECT has no reason code: the close still goes out, without one.
    let mut h = Harness::connected(opts(V311));
    h.client
        .disconnect(Disconnect::new(DisconnectReason::DisconnectWithWillMessage));
    assert_eq!(h.recv(), vec![Disconnect::default().into()]);
    assert_eq!(h.expect_disconnected(), ConnectionError::ClientDisconnect);
}

#[test]
fn client_disconnect_before_connack_or_twice_sends_nothing_more() {
    for v in BOTH {
        let mut h = Harness::new(opts(v));
        h.client.disconnect(Disconnect::default());
        assert!(h.events().is_empty(), "nothing to end");
        h.open();
        h.client.disconnect(Disconnect::default());
        h.recv_nothing();
        assert_eq!(h.expect_disconnected(), ConnectionError::ClientDisconnect);
        let _ = h.drop_transport();
        let mut h = Harness::connected(opts(v));
        h.client.disconnect(Disconnect::default());
        h.client.disconnect(Disconnect::default());
        assert_eq!(h.recv().len(), 1);
        assert_eq!(h.expect_disconnected(), ConnectionError::ClientDisconnect);
    }
}

#[test]
fn abandon_ends_every_request_exactly_once() {
    for v in BOTH {
        let mut o = opts(v);
        o.max_inflight = crate::harness::nz16(1);
        let mut h = Harness::connected(o);
        let a = h.publish("t", QoS::AtLeastOnce, "in flight");
        let b = h.publish("t", QoS::ExactlyOnce, "queued");
        let s = h
            .client
            .subscribe(
                vec![sub("s", QoS::AtMostOnce)],
                SubscribeProperties::default(),
            )
            .unwrap();
        let _ = h.recv();
        let u = h
            .client
            .unsubscribe(vec![crate::harness::filter("s")], Default::default())
            .unwrap();
        h.client.disconnect(Disconnect::default());
        let _ = h.recv();
        let _ = h.events();
        h.client.abandon();
        let events = h.events();
        let mut ended: Vec<_> = events
            .iter()
            .map(|e| match e {
                Event::Published {
                    id,
                    result: Err(RequestError::Closed),
                }
                | Event::Subscribed {
                    id,
                    result: Err(RequestError::Closed),
                }
                | Event::Unsubscribed {
                    id,
                    result: Err(RequestError::Closed),
                } => *id,
                other => panic!("{other:?}"),
            })
            .collect();
        ended.sort();
        let mut expected = vec![a, b, s, u];
        expected.sort();
        assert_eq!(ended, expected);
        assert_eq!(h.client.packet_ids_in_use(), 0);
        assert_eq!((h.client.inflight(), h.client.queued()), (0, 0));
        h.client.abandon();
        assert!(h.events().is_empty());
    }
}

#[test]
fn client_disconnect_drops_properties_over_server_maximum_packet_size_mqtt_3_14_2_3() {
    // [MQTT-3.14.2-3], [MQTT-3.14.2-4]: the Reason String, then the User Properties, go if
    // they would make the DISCONNECT larger than the server accepts; the reason code stays.
    let mut ack = connack(false);
    ack.properties.maximum_packet_size = Some(nz32(16));
    let mut h = Harness::connected_with(opts(V5), ack);
    let mut d = Disconnect::new(DisconnectReason::DisconnectWithWillMessage);
    d.properties.reason_string = Some("a reason far too long for sixteen bytes".into());
    d.properties
        .user_properties
        .push(mqtt_proto::UserProperty::new("key", "value"));
    h.client.disconnect(d);
    assert_eq!(
        h.recv(),
        vec![Disconnect::new(DisconnectReason::DisconnectWithWillMessage).into()]
    );
    // A small one keeps its reason string.
    let mut ack = connack(false);
    ack.properties.maximum_packet_size = Some(nz32(16));
    let mut h = Harness::connected_with(opts(V5), ack);
    let mut d = Disconnect::new(DisconnectReason::NormalDisconnection);
    d.properties.reason_string = Some("ok".into());
    h.client.disconnect(d.clone());
    assert_eq!(h.recv(), vec![d.into()]);
}

#[test]
fn abandon_while_connected_ends_the_connection_first_mqtt_4_1_0_1() {
    let mut h = Harness::connected(opts(V5));
    let id = h.publish("t", QoS::AtLeastOnce, "x");
    let _ = h.recv();
    h.client.abandon();
    assert_eq!(h.recv(), vec![Disconnect::default().into()]);
    let events = h.events();
    assert_eq!(
        events.first(),
        Some(&Event::Disconnected(ConnectionError::ClientDisconnect))
    );
    assert!(events.contains(&Event::Published {
        id,
        result: Err(RequestError::Closed)
    }));
    assert_eq!(h.client.state(), ConnectionState::Disconnected);
    assert_eq!(h.client.packet_ids_in_use(), 0);
}
