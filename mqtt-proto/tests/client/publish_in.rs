//! Inbound messages at QoS 0, 1 and 2: delivery exactly as often as the QoS promises, the
//! acknowledgements and their order, and deferred (manual) acknowledgement.

use mqtt_proto::client::{AckToken, ConnectionError, Delivery, Event, ProtocolError};
use mqtt_proto::{DisconnectReason, Packet, PubAck, PubComp, PubRec, PubRel, PubRelReason, QosPid};

use crate::harness::{BOTH, Harness, V5, inbound, nz16, opts, pid_of};

/// The messages among `events`, in order.
fn messages(events: Vec<Event>) -> Vec<Delivery> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn manual(v: mqtt_proto::ProtocolVersion) -> Harness {
    let mut o = opts(v);
    o.manual_acks = true;
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    Harness::connected(o)
}

fn token(m: &Delivery) -> AckToken {
    m.ack.expect("manual acks give a token for QoS 1 and 2")
}

#[test]
fn inbound_qos0_delivered_without_ack() {
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        let mut p = inbound("a/b", QosPid::AtMostOnce, "x");
        p.retain = true;
        h.send(p.clone());
        h.recv_nothing();
        let m = messages(h.events());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].publish, p);
        assert_eq!(m[0].ack, None);
    }
}

#[test]
fn inbound_qos1_delivered_and_acknowledged() {
    // [MQTT-4.3.2-4], [MQTT-4.3.2-5]
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        let p = inbound("a", QosPid::AtLeastOnce(pid_of(3)), "x");
        h.send(p.clone());
        assert_eq!(h.recv(), vec![PubAck::new(pid_of(3)).into()]);
        let m = messages(h.events());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].publish, p);
        // After PUBACK the same identifier is a new message, DUP or not.
        let mut again = p.clone();
        again.dup = true;
        h.send(again);
        assert_eq!(h.recv(), vec![PubAck::new(pid_of(3)).into()]);
        assert_eq!(messages(h.events()).len(), 1);
    }
}

#[test]
fn qos2_inbound_duplicate_before_pubrel_delivered_once() {
    // [MQTT-4.3.3-8], [MQTT-4.3.3-10], [MQTT-4.3.3-11], [MQTT-4.3.3-12]
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        let p = inbound("a", QosPid::ExactlyOnce(pid_of(5)), "once");
        h.send(p.clone());
        assert_eq!(h.recv(), vec![PubRec::new(pid_of(5)).into()]);
        assert_eq!(messages(h.events()).len(), 1);
        let mut dup = p.clone();
        dup.dup = true;
        for _ in 0..3 {
            h.send(dup.clone());
            assert_eq!(h.recv(), vec![PubRec::new(pid_of(5)).into()]);
            assert!(messages(h.events()).is_empty(), "delivered twice");
        }
        h.send(PubRel::new(pid_of(5)));
        assert_eq!(h.recv(), vec![PubComp::new(pid_of(5)).into()]);
        // After PUBCOMP the identifier names a new message.
        h.send(inbound("a", QosPid::ExactlyOnce(pid_of(5)), "next"));
        assert_eq!(h.recv(), vec![PubRec::new(pid_of(5)).into()]);
        let m = messages(h.events());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].publish.payload, "next");
    }
}

#[test]
fn qos2_inbound_delivered_once_across_reconnect() {
    for v in BOTH {
        let mut o = opts(v);
        o.clean_start = false;
        let mut h = Harness::connected(o);
        h.send(inbound("a", QosPid::ExactlyOnce(pid_of(9)), "x"));
        assert_eq!(h.recv(), vec![PubRec::new(pid_of(9)).into()]);
        assert_eq!(messages(h.events()).len(), 1);
        // The PUBREC is lost with the connection; the server sends the PUBLISH again.
        let _ = h.drop_transport();
        h.reconnect(true);
        let mut dup = inbound("a", QosPid::ExactlyOnce(pid_of(9)), "x");
        dup.dup = true;
        h.send(dup);
        assert_eq!(h.recv(), vec![PubRec::new(pid_of(9)).into()]);
        assert!(messages(h.events()).is_empty());
        h.send(PubRel::new(pid_of(9)));
        assert_eq!(h.recv(), vec![PubComp::new(pid_of(9)).into()]);
    }
}

#[test]
fn pubrel_answered_with_pubcomp() {
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        h.send(inbound("a", QosPid::ExactlyOnce(pid_of(1)), "x"));
        h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "y"));
        assert_eq!(
            h.recv(),
            vec![PubRec::new(pid_of(1)).into(), PubRec::new(pid_of(2)).into()]
        );
        h.send(PubRel::new(pid_of(2)));
        h.send(PubRel::new(pid_of(1)));
        assert_eq!(
            h.recv(),
            vec![
                PubComp::new(pid_of(2)).into(),
                PubComp::new(pid_of(1)).into()
            ]
        );
        // A PUBREL resent for an identifier already released is answered too (5.0: Packet
        // Identifier not found), so the server can finish.
        h.send(PubRel::new(pid_of(1)));
        let mut comp = PubComp::new(pid_of(1));
        if v.is_v5() {
            comp.reason = PubRelReason::PacketIdentifierNotFound;
        }
        assert_eq!(h.recv(), vec![comp.into()]);
        assert!(h.events().iter().all(|e| matches!(e, Event::Message(_))));
    }
}

#[test]
fn manual_acks_go_out_in_arrival_order_mqtt_4_6_0_2() {
    // [MQTT-4.6.0-2], [MQTT-4.6.0-3]
    for v in BOTH {
        let mut h = manual(v);
        h.send(inbound("a", QosPid::AtLeastOnce(pid_of(1)), "1"));
        h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "2"));
        h.send(inbound("a", QosPid::AtLeastOnce(pid_of(3)), "3"));
        h.send(inbound("a", QosPid::AtMostOnce, "4"));
        h.recv_nothing();
        let m = messages(h.events());
        assert_eq!(m.len(), 4);
        assert_eq!(m[3].ack, None, "QoS 0 needs no ack");
        let (t1, t2, t3) = (token(&m[0]), token(&m[1]), token(&m[2]));
        assert_eq!(t2.packet_id(), pid_of(2));
        // The application finishes the third first: nothing may go out yet.
        h.client.ack(t3);
        h.recv_nothing();
        h.client.ack(t1);
        assert_eq!(h.recv(), vec![PubAck::new(pid_of(1)).into()]);
        h.client.ack(t2);
        assert_eq!(
            h.recv(),
            vec![PubRec::new(pid_of(2)).into(), PubAck::new(pid_of(3)).into()]
        );
        // Acking twice sends nothing more.
        h.client.ack(t1);
        h.recv_nothing();
        h.send(PubRel::new(pid_of(2)));
        assert_eq!(h.recv(), vec![PubComp::new(pid_of(2)).into()]);
    }
}

#[test]
fn manual_ack_qos2_duplicate_before_ack_not_delivered_again() {
    let mut h = manual(V5);
    let p = inbound("a", QosPid::ExactlyOnce(pid_of(4)), "x");
    h.send(p.clone());
    let t = token(&messages(h.events())[0]);
    h.send(p);
    h.recv_nothing();
    assert!(messages(h.events()).is_empty());
    h.client.ack(t);
    assert_eq!(h.recv(), vec![PubRec::new(pid_of(4)).into()]);
}

#[test]
fn ack_from_earlier_connection_not_sent_on_later_one() {
    for v in BOTH {
        let mut h = manual(v);
        h.send(inbound("a", QosPid::AtLeastOnce(pid_of(1)), "q1"));
        h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "q2"));
        let m = messages(h.events());
        let (t1, t2) = (token(&m[0]), token(&m[1]));
        let _ = h.drop_transport();
        h.reconnect(true);
        // The server sends both again, and a new QoS 1 message that reuses identifier 1's
        // number would be a different message: the old token must not ack anything.
        h.client.ack(t1);
        h.client.ack(t2);
        h.recv_nothing();
        let mut d1 = inbound("a", QosPid::AtLeastOnce(pid_of(1)), "q1");
        d1.dup = true;
        h.send(d1);
        h.recv_nothing();
        // QoS 1 is at least once: delivered again, with a token of this connection.
        let m = messages(h.events());
        assert_eq!(m.len(), 1);
        let t1b = token(&m[0]);
        assert_ne!(t1b, t1);
        // QoS 2 is exactly once: not delivered again; the application already acked it, so
        // the PUBREC is owed and goes out as the server asks again.
        let mut d2 = inbound("a", QosPid::ExactlyOnce(pid_of(2)), "q2");
        d2.dup = true;
        h.send(d2);
        assert!(messages(h.events()).is_empty());
        // Arrival order: identifier 1 (not yet acked on this connection) comes first.
        h.recv_nothing();
        h.client.ack(t1b);
        assert_eq!(
            h.recv(),
            vec![PubAck::new(pid_of(1)).into(), PubRec::new(pid_of(2)).into()]
        );
        h.send(PubRel::new(pid_of(2)));
        assert_eq!(h.recv(), vec![PubComp::new(pid_of(2)).into()]);
    }
}

#[test]
fn ack_from_earlier_connection_after_the_resend_releases_the_pubrec() {
    // The server resends the QoS 2 PUBLISH before the application acks the original: the ack
    // answers the PUBLISH of this connection.
    let mut h = manual(V5);
    h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "q2"));
    let t2 = token(&messages(h.events())[0]);
    let _ = h.drop_transport();
    h.reconnect(true);
    let mut d2 = inbound("a", QosPid::ExactlyOnce(pid_of(2)), "q2");
    d2.dup = true;
    h.send(d2);
    h.recv_nothing();
    assert!(messages(h.events()).is_empty());
    h.client.ack(t2);
    assert_eq!(h.recv(), vec![PubRec::new(pid_of(2)).into()]);
    h.send(PubRel::new(pid_of(2)));
    assert_eq!(h.recv(), vec![PubComp::new(pid_of(2)).into()]);
}

#[test]
fn ack_from_a_lost_session_never_acks_a_new_message() {
    let mut h = manual(V5);
    h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "old"));
    let old = token(&messages(h.events())[0]);
    let _ = h.drop_transport();
    // The server lost the session: identifier 2 is free on its side and names a new message.
    h.reconnect(false);
    h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "new"));
    let m = messages(h.events());
    assert_eq!(m.len(), 1, "a new message, delivered");
    let new = token(&m[0]);
    h.client.ack(old);
    h.recv_nothing();
    h.client.ack(new);
    assert_eq!(h.recv(), vec![PubRec::new(pid_of(2)).into()]);
}

#[test]
fn receive_maximum_counts_unacknowledged_messages_mqtt_3_3_4_9() {
    let mut o = opts(V5);
    o.manual_acks = true;
    o.receive_maximum = nz16(2);
    let mut h = Harness::connected(o);
    h.send(inbound("a", QosPid::AtLeastOnce(pid_of(1)), "1"));
    h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "2"));
    let m = messages(h.events());
    // Acknowledging one frees a slot...
    h.client.ack(token(&m[0]));
    assert_eq!(h.recv(), vec![PubAck::new(pid_of(1)).into()]);
    h.send(inbound("a", QosPid::AtLeastOnce(pid_of(3)), "3"));
    assert_eq!(messages(h.events()).len(), 1);
    // ... QoS 0 never counts...
    h.send(inbound("a", QosPid::AtMostOnce, "0"));
    assert_eq!(messages(h.events()).len(), 1);
    // ... and one more than the maximum is the server's error.
    h.send(inbound("a", QosPid::AtLeastOnce(pid_of(4)), "4"));
    h.assert_closed_by_client(
        &ConnectionError::Protocol(ProtocolError::ReceiveMaximumExceeded(2)),
        DisconnectReason::ReceiveMaximumExceeded,
    );
}

#[test]
fn inbound_qos2_holds_a_receive_maximum_slot_until_pubrel() {
    let mut o = opts(V5);
    o.receive_maximum = nz16(1);
    let mut h = Harness::connected(o);
    h.send(inbound("a", QosPid::ExactlyOnce(pid_of(1)), "1"));
    assert_eq!(h.recv(), vec![PubRec::new(pid_of(1)).into()]);
    h.send(PubRel::new(pid_of(1)));
    assert_eq!(h.recv(), vec![PubComp::new(pid_of(1)).into()]);
    h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "2"));
    assert_eq!(h.recv(), vec![PubRec::new(pid_of(2)).into()]);
    assert_eq!(messages(h.events()).len(), 2);
    h.send(inbound("a", QosPid::ExactlyOnce(pid_of(3)), "3"));
    h.assert_closed_by_client(
        &ConnectionError::Protocol(ProtocolError::ReceiveMaximumExceeded(1)),
        DisconnectReason::ReceiveMaximumExceeded,
    );
}

#[test]
fn pubrel_before_our_pubrec_is_protocol_error() {
    let mut h = manual(V5);
    h.send(inbound("a", QosPid::ExactlyOnce(pid_of(2)), "x"));
    let _ = h.events();
    h.send(PubRel::new(pid_of(2)));
    h.assert_closed_by_client(
        &ConnectionError::Protocol(ProtocolError::WrongAck {
            packet: mqtt_proto::PacketType::PubRel,
            id: pid_of(2),
        }),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn no_acks_owed_for_qos0() {
    let mut h = Harness::connected(opts(V5));
    for _ in 0..10 {
        h.send(inbound("a", QosPid::AtMostOnce, "x"));
    }
    assert!(h.recv().iter().all(|p| !matches!(p, Packet::PubAck(_))));
}

#[test]
fn receive_maximum_starts_afresh_on_a_new_connection() {
    // 5.0 §4.9: the server's send quota is reset on each connection, so an inbound QoS 2
    // still awaiting PUBREL from the previous connection does not count against our
    // Receive Maximum on this one.
    let mut o = opts(V5);
    o.receive_maximum = nz16(1);
    o.clean_start = false;
    o.session_expiry_interval = 60;
    let mut h = Harness::connected(o);
    h.send(inbound("t", QosPid::ExactlyOnce(pid_of(7)), "x"));
    assert_eq!(h.recv(), vec![PubRec::new(pid_of(7)).into()]);
    let _ = h.drop_transport();
    let _ = h.reconnect(true);
    // A new message before the server resends its PUBREL: within the fresh quota.
    h.send(inbound("t", QosPid::AtLeastOnce(pid_of(8)), "y"));
    assert_eq!(h.recv(), vec![PubAck::new(pid_of(8)).into()]);
    h.send(PubRel::new(pid_of(7)));
    assert_eq!(h.recv(), vec![PubComp::new(pid_of(7)).into()]);
    assert_eq!(messages(h.events()).len(), 1);
}

#[test]
fn an_ack_the_server_limit_cannot_hold_ends_the_connection() {
    // [MQTT-3.2.2-15]: a PUBACK (4 bytes) over a Maximum Packet Size of 3 cannot be sent;
    // rather than stall the flow silently, the client closes, naming the packet.
    let mut ack = crate::harness::connack(false);
    ack.properties.maximum_packet_size = Some(crate::harness::nz32(3));
    let mut h = Harness::connected_with(opts(V5), ack);
    h.send(inbound("t", QosPid::AtLeastOnce(pid_of(1)), "x"));
    let error = h.expect_disconnected();
    assert!(
        matches!(
            error,
            ConnectionError::Unsendable {
                packet: mqtt_proto::PacketType::PubAck,
                ..
            }
        ),
        "{error:?}"
    );
}
