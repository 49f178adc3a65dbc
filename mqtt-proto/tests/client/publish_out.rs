//! Outbound requests: packet identifiers, the inflight limit, the QoS 0/1/2 flows and their
//! completion events, SUBSCRIBE and UNSUBSCRIBE.

use std::collections::HashSet;
use std::time::Duration;

use mqtt_proto::client::{
    Event, PublishAck, PublishRequest, RequestError, SubscribeAck, UnsubscribeAck,
};
use mqtt_proto::{
    AckProperties, Packet, PacketId, PubAck, PubAckReason, PubComp, PubRec, PubRel, PubRelReason,
    PublishProperties, QoS, QosPid, SubAck, SubAckReason, SubscribeProperties, UnsubAck,
    UnsubAckReason, UnsubscribeProperties, UserProperty,
};

use crate::harness::{BOTH, Harness, V5, V311, filter, nz16, opts, pid, published, sub, topic};

/// The packet identifier of any packet that carries one.
fn packet_id(p: &Packet) -> Option<PacketId> {
    match p {
        Packet::Publish(p) => p.qos.packet_id(),
        Packet::Subscribe(s) => Some(s.packet_id),
        Packet::Unsubscribe(u) => Some(u.packet_id),
        Packet::PubRel(r) => Some(r.packet_id),
        _ => None,
    }
}

#[test]
fn packet_ids_unique_and_never_reused_while_in_use_mqtt_2_2_1_3() {
    for v in BOTH {
        let mut o = opts(v);
        o.max_inflight = nz16(1000);
        let mut h = Harness::connected(o);
        // One publish held for the whole test, first in line for reuse.
        h.publish("held", QoS::AtLeastOnce, "x");
        let held = pid(&h.recv_publish());
        let mut in_use: HashSet<PacketId> = HashSet::from([held]);
        for round in 0..3 {
            for _ in 0..5 {
                h.publish("t", QoS::AtLeastOnce, "1");
                h.publish("t", QoS::ExactlyOnce, "2");
            }
            h.client
                .subscribe(
                    vec![sub("s", QoS::AtLeastOnce)],
                    SubscribeProperties::default(),
                )
                .unwrap();
            h.client
                .unsubscribe(vec![filter("s")], UnsubscribeProperties::default())
                .unwrap();
            let sent = h.recv();
            assert_eq!(sent.len(), 12, "round {round}: {sent:?}");
            for p in &sent {
                let id = packet_id(p).unwrap();
                assert!(in_use.insert(id), "{id} handed out while in use");
            }
            assert_eq!(h.client.packet_ids_in_use(), in_use.len());
            // Complete everything but the held publish.
            for p in sent {
                let id = packet_id(&p).unwrap();
                match p {
                    Packet::Publish(p) if p.qos.qos() == QoS::AtLeastOnce => {
                        h.send(PubAck::new(id));
                    }
                    Packet::Publish(_) => {
                        h.send(PubRec::new(id));
                        assert_eq!(h.recv(), vec![PubRel::new(id).into()]);
                        h.send(PubComp::new(id));
                    }
                    Packet::Subscribe(_) => {
                        h.send(SubAck::new(id, vec![SubAckReason::GrantedQoS1]))
                    }
                    Packet::Unsubscribe(_) => h.send(UnsubAck::new(
                        id,
                        if v.is_v5() {
                            vec![UnsubAckReason::Success]
                        } else {
                            vec![]
                        },
                    )),
                    other => panic!("{other:?}"),
                }
                in_use.remove(&id);
            }
            assert_eq!(h.client.packet_ids_in_use(), 1);
        }
    }
}

#[test]
fn packet_ids_wrap_around_and_skip_the_ones_in_use_mqtt_2_2_1_3() {
    let mut h = Harness::connected(opts(V311));
    h.publish("held", QoS::AtLeastOnce, "x");
    let held = pid(&h.recv_publish());
    assert_eq!(held.get(), 1);
    // Twice round the whole identifier space, one request at a time.
    let mut seen_max = false;
    for _ in 0..(2 * 65_535) {
        h.publish("t", QoS::AtLeastOnce, "y");
        let id = pid(&h.recv_publish());
        assert_ne!(id, held);
        seen_max |= id.get() == 65_535;
        h.send(PubAck::new(id));
    }
    assert!(seen_max);
    assert_eq!(h.events().len(), 2 * 65_535);
}

#[test]
fn inflight_limit_queues_publishes_in_order() {
    for v in BOTH {
        let mut o = opts(v);
        o.max_inflight = nz16(2);
        let mut h = Harness::connected(o);
        let a = h.publish("t", QoS::AtLeastOnce, "a");
        let b = h.publish("t", QoS::ExactlyOnce, "b");
        let c = h.publish("t", QoS::AtLeastOnce, "c");
        let d = h.publish("t", QoS::AtMostOnce, "d");
        let e = h.publish("t", QoS::AtLeastOnce, "e");
        let sent = h.recv();
        let payloads: Vec<_> = sent
            .iter()
            .map(|p| match p {
                Packet::Publish(p) => p.payload.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(payloads, ["a", "b"]);
        assert_eq!((h.client.inflight(), h.client.queued()), (2, 3));
        // Waiting is not failing.
        assert!(h.events().is_empty());
        // A QoS 0 publish waits its turn behind the QoS 1 one before it.
        let Packet::Publish(pa) = &sent[0] else {
            panic!()
        };
        let Packet::Publish(pb) = &sent[1] else {
            panic!()
        };
        h.send(PubAck::new(pid(pa)));
        let more = h.recv();
        assert_eq!(more.len(), 2, "{more:?}");
        let Packet::Publish(pc) = &more[0] else {
            panic!()
        };
        let Packet::Publish(pd) = &more[1] else {
            panic!()
        };
        assert_eq!((&pc.payload[..], &pd.payload[..]), (&b"c"[..], &b"d"[..]));
        assert_eq!(published(&h.events()), vec![(a, true), (d, true)]);
        // A QoS 2 publish holds its slot until PUBCOMP, not PUBREC.
        h.send(PubRec::new(pid(pb)));
        assert_eq!(h.recv(), vec![PubRel::new(pid(pb)).into()]);
        h.send(PubComp::new(pid(pb)));
        let pe = h.recv_publish();
        assert_eq!(pe.payload, "e");
        h.send(PubAck::new(pid(pc)));
        h.send(PubAck::new(pid(&pe)));
        assert_eq!(
            published(&h.events()),
            vec![(b, true), (c, true), (e, true)]
        );
        assert_eq!((h.client.inflight(), h.client.queued()), (0, 0));
    }
}

#[test]
fn subscribe_and_unsubscribe_not_delayed_by_the_inflight_limit_mqtt_3_3_4_8() {
    let mut o = opts(V5);
    o.max_inflight = nz16(1);
    let mut h = Harness::connected(o);
    h.publish("t", QoS::AtLeastOnce, "a");
    h.publish("t", QoS::AtLeastOnce, "b");
    assert_eq!(h.recv().len(), 1);
    h.client
        .subscribe(
            vec![sub("s", QoS::AtMostOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    h.client
        .unsubscribe(vec![filter("u")], UnsubscribeProperties::default())
        .unwrap();
    let sent = h.recv();
    assert!(
        matches!(sent[..], [Packet::Subscribe(_), Packet::Unsubscribe(_)]),
        "{sent:?}"
    );
    assert_eq!(h.client.queued(), 1);
}

#[test]
fn running_out_of_packet_ids_is_backpressure() {
    let mut o = opts(V311);
    o.max_inflight = nz16(u16::MAX);
    let mut h = Harness::connected(o);
    for _ in 0..65_535 {
        h.publish("t", QoS::AtLeastOnce, "x");
    }
    let sent = h.recv();
    assert_eq!(sent.len(), 65_535);
    assert_eq!(h.client.packet_ids_in_use(), 65_535);
    // The next request is accepted and waits: no error, nothing on the wire, no busy loop.
    let next = h.publish("t", QoS::AtLeastOnce, "next");
    let sub_id = h
        .client
        .subscribe(
            vec![sub("s", QoS::AtMostOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    h.recv_nothing();
    assert!(h.events().is_empty());
    assert_eq!(h.client.queued(), 1);
    let mut buf = bytes::BytesMut::new();
    assert_eq!(h.client.poll_transmit(h.now, &mut buf), 0);
    // Time passes; keepalive still works.
    h.advance(Duration::from_secs(60));
    assert_eq!(h.recv(), vec![Packet::PingReq]);
    h.send(Packet::PingResp);
    // One completes: its identifier is free again and a waiting request proceeds.
    h.send(PubAck::new(PacketId::new(100).unwrap()));
    let more = h.recv();
    assert_eq!(more.len(), 1, "{more:?}");
    assert_eq!(packet_id(&more[0]).unwrap().get(), 100);
    h.send(PubAck::new(PacketId::new(200).unwrap()));
    let more2 = h.recv();
    assert_eq!(more2.len(), 1, "{more2:?}");
    assert_eq!(packet_id(&more2[0]).unwrap().get(), 200);
    let kinds: HashSet<_> = more.iter().chain(&more2).map(|p| p.packet_type()).collect();
    assert_eq!(
        kinds,
        HashSet::from([
            mqtt_proto::PacketType::Publish,
            mqtt_proto::PacketType::Subscribe
        ])
    );
    let events = h.events();
    assert_eq!(events.len(), 2, "two publishes completed: {events:?}");
    assert_eq!(h.client.queued(), 0);
    let _ = (next, sub_id);
}

#[test]
fn qos0_completes_when_transmitted() {
    for v in BOTH {
        // Not while disconnected...
        let mut h = Harness::new(opts(v));
        let id = h.publish("t", QoS::AtMostOnce, "x");
        assert!(h.client.poll_event().is_none());
        h.open();
        assert!(h.client.poll_event().is_none());
        let events = h.accept(crate::harness::connack(false));
        // ... but once handed over for transmission.
        let p = h.recv_publish();
        assert_eq!(p.qos, QosPid::AtMostOnce);
        assert!(!p.dup);
        assert!(
            events.iter().any(|e| matches!(e,
                Event::Published { id: got, result: Ok(PublishAck { packet_id: None, reason: PubAckReason::Success, .. }) }
                if *got == id)),
            "{events:?}"
        );
        assert_eq!(h.client.packet_ids_in_use(), 0);
    }
}

#[test]
fn qos1_completes_on_puback() {
    // [MQTT-4.3.2-1], [MQTT-4.3.2-2], [MQTT-4.3.2-3]
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        let req = PublishRequest::new(topic("a/b"), QoS::AtLeastOnce, "hello").retain(true);
        let id = h.client.publish(req).unwrap();
        let p = h.recv_publish();
        assert_eq!(p.topic.as_str(), "a/b");
        assert_eq!(p.payload, "hello");
        assert!(p.retain);
        assert!(!p.dup);
        assert!(matches!(p.qos, QosPid::AtLeastOnce(_)));
        h.advance(Duration::from_secs(5));
        assert!(h.events().is_empty(), "no completion before PUBACK");
        h.recv_nothing();
        h.send(PubAck::new(pid(&p)));
        let events = h.events();
        assert_eq!(
            events,
            vec![Event::Published {
                id,
                result: Ok(PublishAck::new(
                    Some(pid(&p)),
                    PubAckReason::Success,
                    AckProperties::default()
                ))
            }]
        );
        assert_eq!(h.client.packet_ids_in_use(), 0);
    }
}

#[test]
fn qos1_success_reason_and_properties_reported_v5() {
    let mut h = Harness::connected(opts(V5));
    let mut props = PublishProperties::default();
    props.content_type = Some("text/plain".into());
    props.user_properties = vec![UserProperty::new("k", "v")];
    let id = h
        .client
        .publish(PublishRequest::new(topic("t"), QoS::AtLeastOnce, "x").properties(props.clone()))
        .unwrap();
    let p = h.recv_publish();
    assert_eq!(p.properties(), &props);
    let mut ack = PubAck::new(pid(&p));
    ack.reason = PubAckReason::NoMatchingSubscribers;
    ack.properties.reason_string = Some("nobody listens".into());
    h.send(ack.clone());
    assert_eq!(
        h.events(),
        vec![Event::Published {
            id,
            result: Ok(PublishAck::new(
                Some(pid(&p)),
                PubAckReason::NoMatchingSubscribers,
                ack.properties
            ))
        }]
    );
}

#[test]
fn qos2_completes_on_pubcomp_and_publish_not_resent_after_pubrec() {
    // [MQTT-4.3.3-1] to [MQTT-4.3.3-6]
    for v in BOTH {
        let mut o = opts(v);
        o.clean_start = false;
        o.session_expiry_interval = 3600;
        let mut h = Harness::connected(o);
        let id = h.publish("t", QoS::ExactlyOnce, "x");
        let p = h.recv_publish();
        assert!(matches!(p.qos, QosPid::ExactlyOnce(_)));
        assert!(!p.dup);
        let pid = pid(&p);
        h.send(PubRec::new(pid));
        assert_eq!(h.recv(), vec![PubRel::new(pid).into()]);
        assert!(h.events().is_empty(), "no completion at PUBREC");
        // However long we wait, and across a reconnection, only PUBREL is sent again.
        h.advance(Duration::from_secs(30));
        assert!(h.recv().iter().all(|p| *p == Packet::PingReq));
        let _ = h.drop_transport();
        h.reconnect(true);
        assert_eq!(h.recv(), vec![PubRel::new(pid).into()]);
        // A second PUBREC (the server's duplicate) is answered with PUBREL again, not PUBLISH.
        h.send(PubRec::new(pid));
        assert_eq!(h.recv(), vec![PubRel::new(pid).into()]);
        h.send(PubComp::new(pid));
        assert_eq!(
            h.events(),
            vec![Event::Published {
                id,
                result: Ok(PublishAck::new(
                    Some(pid),
                    PubAckReason::Success,
                    AckProperties::default()
                ))
            }]
        );
        assert_eq!(h.client.packet_ids_in_use(), 0);
        assert_eq!(h.client.inflight(), 0);
    }
}

#[test]
fn reason_code_0x80_or_more_is_failure() {
    let mut h = Harness::connected(opts(V5));
    // PUBACK 0x87: failed, and the identifier is free [MQTT-4.4.0-2].
    let a = h.publish("t", QoS::AtLeastOnce, "a");
    let pa = pid(&h.recv_publish());
    let mut ack = PubAck::new(pa);
    ack.reason = PubAckReason::NotAuthorized;
    ack.properties.reason_string = Some("no".into());
    h.send(ack.clone());
    assert_eq!(
        h.events(),
        vec![Event::Published {
            id: a,
            result: Err(RequestError::PublishRefused {
                reason: PubAckReason::NotAuthorized,
                properties: ack.properties,
            })
        }]
    );
    // PUBREC 0x97: failed, and no PUBREL follows.
    let b = h.publish("t", QoS::ExactlyOnce, "b");
    let pb = pid(&h.recv_publish());
    let mut rec = PubRec::new(pb);
    rec.reason = PubAckReason::QuotaExceeded;
    h.send(rec);
    h.recv_nothing();
    assert_eq!(
        h.events(),
        vec![Event::Published {
            id: b,
            result: Err(RequestError::PublishRefused {
                reason: PubAckReason::QuotaExceeded,
                properties: AckProperties::default(),
            })
        }]
    );
    assert_eq!(h.client.packet_ids_in_use(), 0);
    // PUBCOMP 0x92: the release failed.
    let c = h.publish("t", QoS::ExactlyOnce, "c");
    let pc = pid(&h.recv_publish());
    h.send(PubRec::new(pc));
    let _ = h.recv();
    let mut comp = PubComp::new(pc);
    comp.reason = PubRelReason::PacketIdentifierNotFound;
    h.send(comp);
    assert_eq!(
        h.events(),
        vec![Event::Published {
            id: c,
            result: Err(RequestError::ReleaseFailed(
                PubRelReason::PacketIdentifierNotFound
            ))
        }]
    );
    // SUBACK with every filter refused.
    let s = h
        .client
        .subscribe(
            vec![sub("x", QoS::AtMostOnce), sub("y", QoS::AtMostOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let Packet::Subscribe(sp) = h.recv_one() else {
        panic!()
    };
    h.send(SubAck::new(
        sp.packet_id,
        vec![SubAckReason::NotAuthorized, SubAckReason::QuotaExceeded],
    ));
    assert_eq!(
        h.events(),
        vec![Event::Subscribed {
            id: s,
            result: Err(RequestError::SubscribeRefused(Box::new(SubscribeAck::new(
                sp.packet_id,
                vec![
                    (filter("x"), SubAckReason::NotAuthorized),
                    (filter("y"), SubAckReason::QuotaExceeded)
                ],
                AckProperties::default()
            ))))
        }]
    );
    assert_eq!(h.client.subscriptions().count(), 0);
    // UNSUBACK with every filter refused.
    let u = h
        .client
        .unsubscribe(vec![filter("x")], UnsubscribeProperties::default())
        .unwrap();
    let Packet::Unsubscribe(up) = h.recv_one() else {
        panic!()
    };
    h.send(UnsubAck::new(
        up.packet_id,
        vec![UnsubAckReason::NotAuthorized],
    ));
    assert_eq!(
        h.events(),
        vec![Event::Unsubscribed {
            id: u,
            result: Err(RequestError::UnsubscribeRefused(Box::new(
                UnsubscribeAck::new(
                    up.packet_id,
                    vec![(filter("x"), UnsubAckReason::NotAuthorized)],
                    AckProperties::default()
                )
            )))
        }]
    );
    assert_eq!(h.client.packet_ids_in_use(), 0);
}

#[test]
fn reason_code_0x80_is_failure_in_3_1_1_suback() {
    let mut h = Harness::connected(opts(V311));
    let s = h
        .client
        .subscribe(
            vec![sub("x", QoS::AtLeastOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let Packet::Subscribe(sp) = h.recv_one() else {
        panic!()
    };
    h.send_bytes(&[0x90, 0x03, 0x00, sp.packet_id.get() as u8, 0x80]);
    let events = h.events();
    assert!(
        matches!(&events[..], [Event::Subscribed { id, result: Err(RequestError::SubscribeRefused(_)) }] if *id == s),
        "{events:?}"
    );
}

#[test]
fn subscribe_completes_with_per_filter_results() {
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        let subs = vec![
            sub("a", QoS::AtMostOnce),
            sub("b/+", QoS::AtLeastOnce),
            sub("c/#", QoS::ExactlyOnce),
        ];
        let id = h
            .client
            .subscribe(subs.clone(), SubscribeProperties::default())
            .unwrap();
        let Packet::Subscribe(s) = h.recv_one() else {
            panic!()
        };
        assert_eq!(s.subscriptions, subs);
        assert!(h.events().is_empty());
        // [MQTT-3.9.3-1]: one reason per filter, in order. The server downgrades b/+.
        let reasons = vec![
            SubAckReason::GrantedQoS0,
            SubAckReason::GrantedQoS0,
            SubAckReason::UnspecifiedError,
        ];
        let mut ack = SubAck::new(s.packet_id, reasons.clone());
        if v.is_v5() {
            ack.properties.reason_string = Some("partly".into());
        }
        h.send(ack.clone());
        assert_eq!(
            h.events(),
            vec![Event::Subscribed {
                id,
                result: Ok(SubscribeAck::new(
                    s.packet_id,
                    vec![
                        (filter("a"), reasons[0]),
                        (filter("b/+"), reasons[1]),
                        (filter("c/#"), reasons[2]),
                    ],
                    ack.properties
                ))
            }]
        );
        let mut granted: Vec<_> = h
            .client
            .subscriptions()
            .map(|s| s.filter.as_str().to_owned())
            .collect();
        granted.sort();
        assert_eq!(granted, ["a", "b/+"]);
    }
}

#[test]
fn subscribe_with_no_filter_fails_at_once() {
    let mut h = Harness::connected(opts(V5));
    assert_eq!(
        h.client.subscribe(vec![], SubscribeProperties::default()),
        Err(RequestError::Empty)
    );
    assert_eq!(
        h.client
            .unsubscribe(vec![], UnsubscribeProperties::default()),
        Err(RequestError::Empty)
    );
    h.recv_nothing();
}

#[test]
fn unsubscribe_completes() {
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        h.client
            .subscribe(
                vec![sub("a", QoS::AtMostOnce), sub("b", QoS::AtMostOnce)],
                SubscribeProperties::default(),
            )
            .unwrap();
        let Packet::Subscribe(s) = h.recv_one() else {
            panic!()
        };
        h.send(SubAck::new(
            s.packet_id,
            vec![SubAckReason::GrantedQoS0, SubAckReason::GrantedQoS0],
        ));
        let _ = h.events();
        let id = h
            .client
            .unsubscribe(
                vec![filter("a"), filter("z")],
                UnsubscribeProperties::default(),
            )
            .unwrap();
        let Packet::Unsubscribe(u) = h.recv_one() else {
            panic!()
        };
        assert_eq!(u.filters, vec![filter("a"), filter("z")]);
        let reasons = if v.is_v5() {
            vec![
                UnsubAckReason::Success,
                UnsubAckReason::NoSubscriptionExisted,
            ]
        } else {
            vec![]
        };
        h.send(UnsubAck::new(u.packet_id, reasons));
        let expected = if v.is_v5() {
            vec![
                (filter("a"), UnsubAckReason::Success),
                (filter("z"), UnsubAckReason::NoSubscriptionExisted),
            ]
        } else {
            // 3.1.1 UNSUBACK has no payload: every filter is reported a success.
            vec![
                (filter("a"), UnsubAckReason::Success),
                (filter("z"), UnsubAckReason::Success),
            ]
        };
        assert_eq!(
            h.events(),
            vec![Event::Unsubscribed {
                id,
                result: Ok(UnsubscribeAck::new(
                    u.packet_id,
                    expected,
                    AckProperties::default()
                ))
            }]
        );
        let left: Vec<_> = h
            .client
            .subscriptions()
            .map(|s| s.filter.as_str().to_owned())
            .collect();
        assert_eq!(left, ["b"]);
        assert_eq!(h.client.packet_ids_in_use(), 0);
    }
}

#[test]
fn unknown_pubrec_answered_with_pubrel_packet_identifier_not_found() {
    // 5.0 §4.3.3: the server may finish its side; the connection goes on.
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        h.send(PubRec::new(PacketId::new(42).unwrap()));
        let mut rel = PubRel::new(PacketId::new(42).unwrap());
        if v.is_v5() {
            rel.reason = PubRelReason::PacketIdentifierNotFound;
        }
        assert_eq!(h.recv(), vec![rel.into()]);
        assert!(h.events().is_empty());
    }
}

#[test]
fn topic_alias_in_request_properties_is_ignored() {
    // The server announced no Topic Alias Maximum, so a request's own Topic Alias is dropped
    // [MQTT-3.3.2-9] (with one the server allows, it is used: tests/client/aliases.rs).
    let mut h = Harness::connected(opts(V5));
    let mut props = PublishProperties::default();
    props.topic_alias = Some(nz16(3));
    h.client
        .publish(PublishRequest::new(topic("t"), QoS::AtMostOnce, "x").properties(props))
        .unwrap();
    let p = h.recv_publish();
    assert_eq!(p.topic.as_str(), "t");
    assert_eq!(p.properties().topic_alias, None);
}

#[test]
fn subscription_identifiers_never_sent_in_publish_mqtt_3_3_4_6() {
    let mut h = Harness::connected(opts(V5));
    let mut props = PublishProperties::default();
    props.subscription_identifiers = vec![mqtt_proto::SubscriptionId::new(5).unwrap()];
    props.content_type = Some("text/plain".into());
    h.client
        .publish(PublishRequest::new(topic("t"), QoS::AtLeastOnce, "x").properties(props))
        .unwrap();
    let p = h.recv_publish();
    assert!(p.properties().subscription_identifiers.is_empty());
    assert_eq!(p.properties().content_type.as_deref(), Some("text/plain"));
}
