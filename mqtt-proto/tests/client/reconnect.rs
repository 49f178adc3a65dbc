//! Reconnection: the state machine outlives its transports. With a session, unacknowledged
//! PUBLISH and PUBREL are resent in order; without one, the session-loss policy decides, and
//! subscriptions are restored.

use mqtt_proto::client::{
    ClientOptions, ConnectionError, Event, LostPublish, ProtocolError, RequestError, SubscribeAck,
};
use mqtt_proto::{
    AckProperties, DisconnectReason, Packet, PubAck, PubComp, PubRec, PubRel, QoS, QosPid, SubAck,
    SubAckReason, SubscribeProperties, SubscriptionId, UnsubAck, UnsubAckReason,
    UnsubscribeProperties,
};

use crate::harness::{BOTH, Harness, V5, V311, connack, filter, opts, pid, published, sub};

/// Options for a persistent session: on 3.1.1 clean session 0, on 5.0 a session that
/// outlives the connection.
fn persistent(v: mqtt_proto::ProtocolVersion) -> ClientOptions {
    let mut o = opts(v);
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    o.max_inflight = crate::harness::nz16(1000);
    o
}

/// Complete `n` QoS 1 publishes, so that later identifiers wrap around past 65535.
fn burn_packet_ids(h: &mut Harness, n: usize) {
    for _ in 0..n {
        h.publish("burn", QoS::AtLeastOnce, "-");
        let id = pid(&h.recv_publish());
        h.send(PubAck::new(id));
    }
    let _ = h.events();
}

#[test]
fn reconnect_with_session_resends_publish_with_dup_in_original_order_mqtt_4_4_0_1() {
    // [MQTT-4.4.0-1], [MQTT-4.6.0-1], [MQTT-3.3.1-1]
    for v in BOTH {
        let mut h = Harness::connected(persistent(v));
        // Identifiers wrap during the test, so their order is not the order of sending.
        burn_packet_ids(&mut h, 65_533);
        let ids = [
            h.publish("t", QoS::AtLeastOnce, "a"),
            h.publish("t", QoS::ExactlyOnce, "b"),
            h.publish("t", QoS::AtLeastOnce, "c"),
            h.publish("t", QoS::ExactlyOnce, "d"),
        ];
        h.publish("t", QoS::AtMostOnce, "qos0 is never resent");
        let first: Vec<_> = h
            .recv()
            .into_iter()
            .filter_map(|p| match p {
                Packet::Publish(p) if p.qos != QosPid::AtMostOnce => Some(p),
                _ => None,
            })
            .collect();
        let pids: Vec<u16> = first.iter().map(|p| pid(p).get()).collect();
        assert_eq!(pids, [65_534, 65_535, 1, 2]);
        let _ = h.drop_transport();
        let c = h.open();
        assert!(!c.clean_start);
        let _ = h.accept(connack(true));
        let resent: Vec<_> = h
            .recv()
            .into_iter()
            .map(|p| match p {
                Packet::Publish(p) => p,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(resent.len(), 4);
        for (old, new) in first.iter().zip(&resent) {
            assert!(new.dup, "DUP set on a resend");
            assert_eq!(new.qos, old.qos, "original packet identifier");
            assert_eq!(new.payload, old.payload);
            assert_eq!(new.topic, old.topic);
        }
        // They complete as usual.
        for p in &resent {
            match p.qos {
                QosPid::AtLeastOnce(id) => h.send(PubAck::new(id)),
                QosPid::ExactlyOnce(id) => {
                    h.send(PubRec::new(id));
                    assert_eq!(h.recv(), vec![PubRel::new(id).into()]);
                    h.send(PubComp::new(id));
                }
                QosPid::AtMostOnce => unreachable!(),
            }
        }
        let done = published(&h.events());
        assert_eq!(done, ids.iter().map(|id| (*id, true)).collect::<Vec<_>>());
    }
}

#[test]
fn reconnect_resends_once_per_reconnection() {
    let mut h = Harness::connected(persistent(V5));
    h.publish("t", QoS::AtLeastOnce, "a");
    let a = pid(&h.recv_publish());
    for _ in 0..3 {
        let _ = h.drop_transport();
        h.reconnect(true);
        let p = h.recv_publish();
        assert!(p.dup);
        assert_eq!(pid(&p), a);
        h.recv_nothing();
    }
}

#[test]
fn pubrel_resent_not_publish_after_reconnect() {
    // [MQTT-4.3.3-6], [MQTT-4.4.0-1]
    for v in BOTH {
        let mut h = Harness::connected(persistent(v));
        let a = h.publish("t", QoS::ExactlyOnce, "a");
        let b = h.publish("t", QoS::AtLeastOnce, "b");
        let sent = h.recv();
        let (Packet::Publish(pa), Packet::Publish(pb)) = (&sent[0], &sent[1]) else {
            panic!("{sent:?}")
        };
        let (pa, pb) = (pid(pa), pid(pb));
        h.send(PubRec::new(pa));
        assert_eq!(h.recv(), vec![PubRel::new(pa).into()]);
        let _ = h.drop_transport();
        h.reconnect(true);
        let resent = h.recv();
        assert_eq!(resent.len(), 2, "{resent:?}");
        assert_eq!(resent[0], PubRel::new(pa).into());
        let Packet::Publish(rb) = &resent[1] else {
            panic!("{resent:?}")
        };
        assert!(rb.dup);
        assert_eq!(pid(rb), pb);
        h.send(PubComp::new(pa));
        h.send(PubAck::new(pb));
        assert_eq!(published(&h.events()), vec![(a, true), (b, true)]);
    }
}

#[test]
fn session_lost_qos1_republished_qos2_fails_by_default() {
    // [MQTT-3.2.2-5]: the client discards its session; QoS 1 keeps its at-least-once promise,
    // QoS 2 never silently risks a second delivery.
    for v in BOTH {
        let mut h = Harness::connected(persistent(v));
        let a = h.publish("t", QoS::AtLeastOnce, "a");
        let b = h.publish("t", QoS::ExactlyOnce, "b");
        let c = h.publish("t", QoS::ExactlyOnce, "c");
        let sent = h.recv();
        let Packet::Publish(pc) = &sent[2] else {
            panic!()
        };
        let pc = pid(pc);
        h.send(PubRec::new(pc));
        let _ = h.recv();
        let _ = h.drop_transport();
        let events = h.reconnect(false);
        assert!(
            matches!(events.first(), Some(Event::Connected(_))),
            "Connected comes before what the lost session causes: {events:?}"
        );
        let lost: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Published { id, result } => Some((*id, result.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            lost,
            vec![
                (b, Err(RequestError::SessionLost)),
                (c, Err(RequestError::SessionLost))
            ]
        );
        // a goes out again as a new message: DUP clear.
        let p = h.recv_publish();
        assert_eq!(p.payload, "a");
        assert!(!p.dup);
        assert_eq!(h.client.inflight(), 1);
        h.send(PubAck::new(pid(&p)));
        assert_eq!(published(&h.events()), vec![(a, true)]);
        assert_eq!(h.client.packet_ids_in_use(), 0);
    }
}

#[test]
fn session_loss_policy_configurable() {
    let mut o = persistent(V5);
    o.session_loss.qos1 = LostPublish::Fail;
    o.session_loss.qos2 = LostPublish::Republish;
    let mut h = Harness::connected(o);
    let a = h.publish("t", QoS::AtLeastOnce, "a");
    let b = h.publish("t", QoS::ExactlyOnce, "b");
    let c = h.publish("t", QoS::ExactlyOnce, "c");
    let _ = h.recv();
    let _ = h.drop_transport();
    let events = h.reconnect(false);
    assert_eq!(published(&events), vec![(a, false)]);
    let again = h.recv();
    let payloads: Vec<_> = again
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => {
                assert!(!p.dup);
                p.payload.clone()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(payloads, ["b", "c"]);
    for p in again {
        let Packet::Publish(p) = p else {
            unreachable!()
        };
        h.send(PubRec::new(pid(&p)));
        let _ = h.recv();
        h.send(PubComp::new(pid(&p)));
    }
    assert_eq!(published(&h.events()), vec![(b, true), (c, true)]);
}

#[test]
fn session_lost_clears_inbound_qos2_state() {
    // A QoS 2 message received but not released belongs to the lost session: the same
    // identifier now names a new message.
    let mut h = Harness::connected(persistent(V5));
    h.send(crate::harness::inbound(
        "a",
        QosPid::ExactlyOnce(crate::harness::pid_of(3)),
        "x",
    ));
    let _ = h.recv();
    let _ = h.drop_transport();
    h.reconnect(false);
    h.send(crate::harness::inbound(
        "a",
        QosPid::ExactlyOnce(crate::harness::pid_of(3)),
        "y",
    ));
    let events = h.events();
    assert!(
        matches!(&events[..], [Event::Message(m)] if m.publish.payload == "y"),
        "{events:?}"
    );
}

#[test]
fn subscriptions_restored_when_no_session() {
    for v in BOTH {
        let mut h = Harness::connected(persistent(v));
        // Granted: restored. Refused: not. Unsubscribed: not.
        h.client
            .subscribe(
                vec![
                    sub("a", QoS::AtLeastOnce),
                    sub("b/+", QoS::ExactlyOnce),
                    sub("refused", QoS::AtMostOnce),
                    sub("gone", QoS::AtMostOnce),
                ],
                SubscribeProperties::default(),
            )
            .unwrap();
        let Packet::Subscribe(s) = h.recv_one() else {
            panic!()
        };
        h.send(SubAck::new(
            s.packet_id,
            vec![
                SubAckReason::GrantedQoS1,
                SubAckReason::GrantedQoS2,
                SubAckReason::UnspecifiedError,
                SubAckReason::GrantedQoS0,
            ],
        ));
        h.client
            .unsubscribe(vec![filter("gone")], UnsubscribeProperties::default())
            .unwrap();
        let Packet::Unsubscribe(u) = h.recv_one() else {
            panic!()
        };
        h.send(UnsubAck::new(
            u.packet_id,
            if v.is_v5() {
                vec![UnsubAckReason::Success]
            } else {
                vec![]
            },
        ));
        let mut with_id = SubscribeProperties::default();
        if v.is_v5() {
            with_id.subscription_identifier = SubscriptionId::new(7);
        }
        h.client
            .subscribe(vec![sub("c", QoS::AtMostOnce)], with_id.clone())
            .unwrap();
        let Packet::Subscribe(s2) = h.recv_one() else {
            panic!()
        };
        h.send(SubAck::new(s2.packet_id, vec![SubAckReason::GrantedQoS0]));
        let _ = h.events();

        // With a session, nothing is sent again.
        let _ = h.drop_transport();
        h.reconnect(true);
        h.recv_nothing();

        // Without one, the subscriptions are restored (one SUBSCRIBE per property set, so a
        // subscription identifier stays with its filters).
        let _ = h.drop_transport();
        h.reconnect(false);
        let sent = h.recv();
        let subs: Vec<_> = sent
            .iter()
            .map(|p| match p {
                Packet::Subscribe(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        let mut all: Vec<_> = subs
            .iter()
            .flat_map(|s| {
                s.subscriptions
                    .iter()
                    .map(|x| (x.filter.as_str().to_owned(), x.options.qos))
            })
            .collect();
        all.sort();
        assert_eq!(
            all,
            vec![
                ("a".to_owned(), QoS::AtLeastOnce),
                ("b/+".to_owned(), QoS::ExactlyOnce),
                ("c".to_owned(), QoS::AtMostOnce),
            ]
        );
        let c_sub = subs
            .iter()
            .find(|s| s.subscriptions.iter().any(|x| x.filter.as_str() == "c"))
            .unwrap();
        assert_eq!(c_sub.properties, with_id);
        if v.is_v5() {
            assert_eq!(subs.len(), 2);
            assert_eq!(c_sub.subscriptions.len(), 1);
        }
        assert!(h.events().is_empty(), "results come with the SUBACK");
        for s in &subs {
            h.send(SubAck::new(
                s.packet_id,
                vec![SubAckReason::GrantedQoS0; s.subscriptions.len()],
            ));
        }
        let events = h.events();
        assert_eq!(events.len(), subs.len());
        for (e, s) in events.iter().zip(&subs) {
            assert_eq!(
                e,
                &Event::Resubscribed(Ok(SubscribeAck::new(
                    s.packet_id,
                    s.subscriptions
                        .iter()
                        .map(|x| (x.filter.clone(), SubAckReason::GrantedQoS0))
                        .collect(),
                    AckProperties::default()
                )))
            );
        }
    }
}

#[test]
fn subscriptions_not_restored_when_resubscribe_is_off() {
    let mut o = persistent(V5);
    o.resubscribe = false;
    let mut h = Harness::connected(o);
    h.client
        .subscribe(
            vec![sub("a", QoS::AtLeastOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let Packet::Subscribe(s) = h.recv_one() else {
        panic!()
    };
    h.send(SubAck::new(s.packet_id, vec![SubAckReason::GrantedQoS1]));
    let _ = h.drop_transport();
    h.reconnect(false);
    h.recv_nothing();
}

#[test]
fn subscribe_in_flight_when_the_link_dies_is_sent_again() {
    let mut h = Harness::connected(persistent(V5));
    let id = h
        .client
        .subscribe(
            vec![sub("a", QoS::AtLeastOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let Packet::Subscribe(s) = h.recv_one() else {
        panic!()
    };
    let _ = h.drop_transport();
    h.reconnect(true);
    let Packet::Subscribe(again) = h.recv_one() else {
        panic!()
    };
    assert_eq!(again.subscriptions, s.subscriptions);
    h.send(SubAck::new(
        again.packet_id,
        vec![SubAckReason::GrantedQoS1],
    ));
    let events = h.events();
    assert!(
        matches!(&events[..], [Event::Subscribed { id: got, result: Ok(_) }] if *got == id),
        "{events:?}"
    );
}

#[test]
fn requests_made_while_disconnected_sent_after_connect() {
    for v in BOTH {
        // Before the first connection.
        let mut h = Harness::new(opts(v));
        let a = h.publish("t", QoS::AtLeastOnce, "a");
        let b = h.publish("t", QoS::AtMostOnce, "b");
        h.client
            .subscribe(
                vec![sub("s", QoS::AtMostOnce)],
                SubscribeProperties::default(),
            )
            .unwrap();
        // Only CONNECT goes out before CONNACK (`open` checks there is nothing else).
        h.open();
        h.accept(connack(false));
        let sent = h.recv();
        assert!(
            matches!(&sent[..], [Packet::Subscribe(_), Packet::Publish(pa), Packet::Publish(pb)]
                if pa.payload == "a" && pb.payload == "b"),
            "{sent:?}"
        );
        let Packet::Publish(pa) = &sent[1] else {
            unreachable!()
        };
        h.send(PubAck::new(pid(pa)));
        let events = h.events();
        assert_eq!(
            published(&events),
            vec![(a, true)],
            "b completed when transmitted"
        );
        let _ = b;

        // Between connections: accepted while the link was dying, before the client knew.
        let c = h.publish("t", QoS::AtLeastOnce, "c");
        let _ = h.drop_transport();
        let d = h.publish("t", QoS::AtLeastOnce, "d");
        h.recv_nothing();
        h.reconnect(false);
        let sent = h.recv();
        let payloads: Vec<_> = sent
            .iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some(p.payload.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(payloads, ["c", "d"]);
        for p in sent {
            if let Packet::Publish(p) = p {
                h.send(PubAck::new(pid(&p)));
            }
        }
        let done = published(&h.events());
        assert_eq!(done, vec![(c, true), (d, true)]);
    }
}

#[test]
fn publish_written_to_a_dead_link_is_resent_with_the_session() {
    let mut h = Harness::connected(persistent(V5));
    h.publish("t", QoS::AtLeastOnce, "lost on the wire");
    // The client wrote it; the bytes never arrived.
    h.pump();
    let _ = h.drop_transport();
    h.reconnect(true);
    let p = h.recv_publish();
    assert!(p.dup);
    assert_eq!(p.payload, "lost on the wire");
}

#[test]
fn session_present_after_clean_start_closes_mqtt_3_2_2_4() {
    for v in BOTH {
        let mut h = Harness::new(opts(v));
        assert!(h.open().clean_start);
        h.send(connack(true));
        h.assert_closed_by_client(
            &ConnectionError::Protocol(ProtocolError::SessionPresentOnCleanStart),
            DisconnectReason::ProtocolError,
        );
    }
}

#[test]
fn clean_start_only_on_first_connection_v5_repeated_on_v311() {
    // 5.0: clean start asks for a new session, once; later connections resume it.
    let mut h = Harness::connected(opts(V5));
    let _ = h.drop_transport();
    assert!(!h.open().clean_start);
    h.accept(connack(true));
    // 3.1.1: a clean session ends with its connection, so every connection asks again.
    let mut h = Harness::connected(opts(V311));
    let _ = h.drop_transport();
    assert!(h.open().clean_start);
    // And session present 1 on a clean-session reconnection is the server's error.
    h.send(connack(true));
    let e = h.expect_disconnected();
    assert_eq!(
        e,
        ConnectionError::Protocol(ProtocolError::SessionPresentOnCleanStart)
    );
}

#[test]
fn first_connection_refused_keeps_clean_start_v5() {
    let mut h = Harness::new(opts(V5));
    h.open();
    h.send(mqtt_proto::ConnAck::new(
        false,
        mqtt_proto::ConnectReason::ServerBusy,
    ));
    let _ = h.expect_disconnected();
    let _ = h.drop_transport();
    assert!(h.open().clean_start, "never connected: still a clean start");
}

#[test]
fn transport_closed_reported_once() {
    let mut h = Harness::connected(opts(V5));
    let events = h.drop_transport();
    assert_eq!(
        events,
        vec![Event::Disconnected(ConnectionError::TransportClosed)]
    );
    h.client.handle_transport_closed(h.now);
    assert!(h.events().is_empty());
    assert_eq!(h.client.poll_timeout(), None);
}

#[test]
fn pubrel_resent_in_pubrec_order_mqtt_4_6_0_4() {
    let mut h = Harness::connected(persistent(V5));
    h.publish("t", QoS::ExactlyOnce, "a");
    h.publish("t", QoS::ExactlyOnce, "b");
    h.publish("t", QoS::AtLeastOnce, "c");
    let sent = h.recv();
    let ids: Vec<_> = sent
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => pid(p),
            other => panic!("{other:?}"),
        })
        .collect();
    // The server acknowledges b before a.
    h.send(PubRec::new(ids[1]));
    h.send(PubRec::new(ids[0]));
    assert_eq!(
        h.recv(),
        vec![PubRel::new(ids[1]).into(), PubRel::new(ids[0]).into()]
    );
    let _ = h.drop_transport();
    h.reconnect(true);
    let resent = h.recv();
    assert_eq!(resent.len(), 3, "{resent:?}");
    assert_eq!(
        resent[..2],
        [PubRel::new(ids[1]).into(), PubRel::new(ids[0]).into()]
    );
    assert!(matches!(&resent[2], Packet::Publish(p) if p.dup && pid(p) == ids[2]));
}

#[test]
fn resend_too_large_for_the_new_server_limit_fails_the_request() {
    // Every request ends: a resend the server no longer accepts [MQTT-3.2.2-15] fails rather
    // than waiting forever.
    let mut h = Harness::connected(persistent(V5));
    let big = h
        .client
        .publish(mqtt_proto::client::PublishRequest::new(
            crate::harness::topic("t"),
            QoS::AtLeastOnce,
            vec![0u8; 200],
        ))
        .unwrap();
    let small = h.publish("t", QoS::AtLeastOnce, "small");
    assert_eq!(h.recv().len(), 2);
    let _ = h.drop_transport();
    h.open();
    let mut ack = connack(true);
    ack.properties.maximum_packet_size = Some(crate::harness::nz32(100));
    let events = h.accept(ack);
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Published { id, result: Err(RequestError::Encode(_)) } if *id == big)),
        "{events:?}"
    );
    let p = h.recv_publish();
    assert_eq!(p.payload, "small");
    assert!(p.dup);
    h.send(PubAck::new(pid(&p)));
    assert_eq!(published(&h.events()), vec![(small, true)]);
    assert_eq!(h.client.packet_ids_in_use(), 0);
}

#[test]
fn resends_respect_a_lowered_receive_maximum_mqtt_3_3_4_7() {
    let mut h = Harness::connected(persistent(V5));
    let a = h.publish("t", QoS::ExactlyOnce, "a");
    h.publish("t", QoS::AtLeastOnce, "b");
    h.publish("t", QoS::AtLeastOnce, "c");
    let sent = h.recv();
    assert_eq!(sent.len(), 3);
    let Packet::Publish(pa) = &sent[0] else {
        panic!()
    };
    let pa = pid(pa);
    h.send(PubRec::new(pa));
    let _ = h.recv();
    let _ = h.drop_transport();
    // The server now takes two unacknowledged publishes; it holds a (PUBREC sent).
    h.open();
    let mut ack = connack(true);
    ack.properties.receive_maximum = Some(crate::harness::nz16(2));
    h.accept(ack);
    let resent = h.recv();
    assert_eq!(resent.len(), 2, "{resent:?}");
    assert_eq!(resent[0], PubRel::new(pa).into());
    let Packet::Publish(pb) = &resent[1] else {
        panic!("{resent:?}")
    };
    assert_eq!((pb.payload.as_ref(), pb.dup), (&b"b"[..], true));
    // A new publish waits behind the held resend.
    h.publish("t", QoS::AtLeastOnce, "d");
    h.recv_nothing();
    h.send(PubComp::new(pa));
    let pc = h.recv_publish();
    assert_eq!((pc.payload.as_ref(), pc.dup), (&b"c"[..], true));
    h.send(PubAck::new(pid(pb)));
    let pd = h.recv_publish();
    assert_eq!((pd.payload.as_ref(), pd.dup), (&b"d"[..], false));
    assert_eq!(published(&h.events())[0], (a, true));
}

#[test]
fn resubscriptions_do_not_pile_up_across_repeated_session_loss() {
    // The link keeps dropping before the SUBACK: each new connection without a session
    // sends the subscriptions once, not once more per earlier attempt, and holds one packet
    // identifier for them.
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        h.client
            .subscribe(
                vec![sub("a/#", QoS::AtLeastOnce)],
                SubscribeProperties::default(),
            )
            .unwrap();
        let Packet::Subscribe(s) = h.recv_one() else {
            panic!()
        };
        h.send(SubAck::new(s.packet_id, vec![SubAckReason::GrantedQoS1]));
        let _ = h.events();
        for _ in 0..5 {
            let _ = h.drop_transport();
            h.reconnect(false);
            let sent = h.recv();
            assert_eq!(sent.len(), 1, "{sent:?}");
            assert!(matches!(sent[0], Packet::Subscribe(_)));
            assert_eq!(h.client.packet_ids_in_use(), 1);
        }
    }
}

#[test]
fn resend_refused_when_the_new_connack_lowers_maximum_qos_mqtt_3_2_2_11() {
    // The session resumes but the server now accepts QoS 1 at most: the unacknowledged QoS 2
    // PUBLISH is not sent again (that would break [MQTT-3.2.2-11]); its request fails.
    let mut o = opts(V5);
    o.clean_start = false;
    o.session_expiry_interval = 60;
    let mut h = Harness::connected(o);
    let q2 = h.publish("t", QoS::ExactlyOnce, "two");
    let q1 = h.publish("t", QoS::AtLeastOnce, "one");
    assert_eq!(h.recv().len(), 2);
    let _ = h.drop_transport();
    h.reconnect_properties.maximum_qos = Some(QoS::AtLeastOnce);
    let events = h.reconnect(true);
    assert!(events.contains(&Event::Published {
        id: q2,
        result: Err(RequestError::NotAllowed(
            mqtt_proto::client::Limit::MaximumQoS(QoS::AtLeastOnce)
        )),
    }));
    let p = h.recv_publish();
    assert_eq!(p.payload, "one");
    assert!(p.dup);
    h.send(PubAck::new(pid(&p)));
    assert_eq!(published(&h.events()), vec![(q1, true)]);
    assert_eq!(h.client.packet_ids_in_use(), 0);
}
