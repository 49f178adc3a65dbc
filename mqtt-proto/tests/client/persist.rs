//! Durable sessions (issue 12): what the client records for a store, and a client restored
//! from a persisted session after a restart of the process.

use mqtt_proto::client::{
    ClientOptions, ClientState, Event, InvalidSession, OutboundState, PersistedSession,
    RequestError, RestoreError, SessionChange,
};
use mqtt_proto::{
    Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, PubRelReason, QoS, QosPid, SubAck,
    SubAckReason, SubscribeProperties,
};

use crate::harness::{Harness, V5, V311, connack, inbound, opts, pid, pid_of, published, sub};

fn persistent(version: ProtocolVersion) -> ClientOptions {
    let mut o = opts(version);
    o.persist = true;
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    o
}

/// The process restarts: a new harness whose client is restored from `session`.
fn restart(o: ClientOptions, session: PersistedSession) -> (Harness, Vec<OutboundState>) {
    let mut h = Harness::new(o.clone());
    let (client, outbound) = ClientState::restore(o, session).unwrap();
    h.client = client;
    (h, outbound.into_iter().map(|p| p.state).collect())
}

fn changes(h: &mut Harness) -> Vec<SessionChange> {
    std::iter::from_fn(|| h.client.poll_persist()).collect()
}

#[test]
fn with_persistence_off_nothing_is_recorded() {
    let mut h = Harness::connected(opts(V5));
    h.client
        .subscribe(
            vec![sub("a/#", QoS::ExactlyOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let s = match h.recv_one() {
        Packet::Subscribe(s) => s.packet_id,
        p => panic!("{p:?}"),
    };
    h.send(SubAck::new(s, vec![SubAckReason::GrantedQoS2]));
    h.publish("t", QoS::ExactlyOnce, "x");
    let p = h.recv_publish();
    h.send(PubRec::new(pid(&p)));
    h.send(inbound("a/b", QosPid::ExactlyOnce(pid_of(3)), "in"));
    assert_eq!(h.client.pending_changes(), 0);
    assert_eq!(h.client.poll_persist(), None);
}

#[test]
fn a_restored_client_resends_with_dup_and_continues_pubrel_in_pubrec_order() {
    let o = persistent(V5);
    let mut h = Harness::connected(o.clone());
    let a = h.publish("t/a", QoS::AtLeastOnce, "a");
    let b = h.publish("t/b", QoS::ExactlyOnce, "b");
    let c = h.publish("t/c", QoS::ExactlyOnce, "c");
    let sent: Vec<_> = h
        .recv()
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => pid(&p),
            p => panic!("{p:?}"),
        })
        .collect();
    // PUBREC for c, then for b: PUBRELs are owed in that order [MQTT-4.6.0-4].
    h.send(PubRec::new(sent[2]));
    h.send(PubRec::new(sent[1]));
    let _ = h.recv();
    let session = h.client.persisted_session();

    let (mut h, states) = restart(o, session);
    assert!(matches!(states[0], OutboundState::Sent { packet_id, .. } if packet_id == sent[0]));
    let connect = h.open();
    assert!(!connect.clean_start, "a restored session asks to resume");
    let events = h.accept(connack(true));
    assert!(matches!(events[0], Event::Connected(_)));
    let resent = h.recv();
    assert_eq!(resent.len(), 3, "{resent:?}");
    assert_eq!(resent[0], PubRel::new(sent[2]).into());
    assert_eq!(resent[1], PubRel::new(sent[1]).into());
    match &resent[2] {
        Packet::Publish(p) => {
            assert!(p.dup, "resent with DUP [MQTT-3.3.1-1]");
            assert_eq!(p.qos, QosPid::AtLeastOnce(sent[0]));
            assert_eq!(&p.payload[..], b"a");
        }
        p => panic!("{p:?}"),
    }
    // The acknowledgements complete the requests of the earlier run, by their ids.
    h.send(PubAck::new(sent[0]));
    h.send(PubComp::new(sent[2]));
    let mut comp = PubComp::new(sent[1]);
    // A PUBREL resent in recovery may be answered "not found" (5.0 §3.7.2.1).
    comp.reason = PubRelReason::PacketIdentifierNotFound;
    h.send(comp);
    assert_eq!(published(&h.events()), [(a, true), (c, true), (b, true)]);
    assert_eq!(h.client.inflight(), 0);
    assert_eq!(h.client.packet_ids_in_use(), 0);
}

#[test]
fn a_restored_client_does_not_deliver_again_a_qos2_message_it_acknowledged() {
    for v in [V311, V5] {
        let mut o = persistent(v);
        o.manual_acks = true;
        let mut h = Harness::connected(o.clone());
        h.send(inbound("in", QosPid::ExactlyOnce(pid_of(7)), "acked"));
        h.send(inbound("in", QosPid::ExactlyOnce(pid_of(8)), "not acked"));
        let tokens: Vec<_> = h
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Message(m) => m.ack,
                _ => None,
            })
            .collect();
        h.client.ack(tokens[0]);
        assert_eq!(h.recv(), [Packet::from(PubRec::new(pid_of(7)))]);
        let session = h.client.persisted_session();
        assert_eq!(session.inbound_qos2, [pid_of(7)]);

        let (mut h, _) = restart(o, session);
        h.open();
        h.accept(connack(true));
        // The server resends both: the acknowledged one is answered, not delivered; the
        // other is delivered again.
        let mut again = inbound("in", QosPid::ExactlyOnce(pid_of(7)), "acked");
        again.dup = true;
        h.send(again);
        assert_eq!(h.recv(), [Packet::from(PubRec::new(pid_of(7)))]);
        let mut again = inbound("in", QosPid::ExactlyOnce(pid_of(8)), "not acked");
        again.dup = true;
        h.send(again);
        let delivered: Vec<_> = h
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.publish.payload),
                _ => None,
            })
            .collect();
        assert_eq!(delivered, [&b"not acked"[..]], "{v:?}");
        h.send(PubRel::new(pid_of(7)));
        assert_eq!(h.recv(), [Packet::from(PubComp::new(pid_of(7)))]);
        assert!(
            changes(&mut h).contains(&SessionChange::InboundQos2Released {
                packet_id: pid_of(7)
            })
        );
    }
}

#[test]
fn a_restored_session_the_server_lost_resubscribes_and_follows_the_loss_policy() {
    let o = persistent(V5);
    let mut h = Harness::connected(o.clone());
    h.client
        .subscribe(
            vec![sub("cmd/#", QoS::AtLeastOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let s = match h.recv_one() {
        Packet::Subscribe(s) => s.packet_id,
        p => panic!("{p:?}"),
    };
    h.send(SubAck::new(s, vec![SubAckReason::GrantedQoS1]));
    h.publish("t", QoS::AtLeastOnce, "one");
    let two = h.publish("t", QoS::ExactlyOnce, "two");
    let _ = h.recv();
    let (mut h, _) = restart(o, h.client.persisted_session());
    h.open();
    let events = h.accept(connack(false));
    // QoS 2 fails (it may have been delivered), QoS 1 is published again as new.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Published { id, result: Err(RequestError::SessionLost) } if *id == two
    )));
    let sent = h.recv();
    assert!(
        matches!(&sent[0], Packet::Subscribe(s) if s.subscriptions == [sub("cmd/#", QoS::AtLeastOnce)]),
        "{sent:?}"
    );
    assert!(
        matches!(&sent[1], Packet::Publish(p) if !p.dup && &p.payload[..] == b"one"),
        "{sent:?}"
    );
}

#[test]
fn restore_refuses_another_client_protocol_or_an_invalid_session() {
    let o = persistent(V5);
    let mut h = Harness::connected(o.clone());
    h.publish("t", QoS::AtLeastOnce, "x");
    let _ = h.recv();
    let session = h.client.persisted_session();

    let other = ClientOptions::new(V5, "someone-else");
    assert!(matches!(
        ClientState::restore(other, session.clone()),
        Err(RestoreError::ClientIdMismatch { .. })
    ));
    assert!(matches!(
        ClientState::restore(persistent(V311), session.clone()),
        Err(RestoreError::ProtocolMismatch { .. })
    ));
    // An empty client id takes the stored one.
    let (c, _) = ClientState::restore(ClientOptions::new(V5, ""), session.clone()).unwrap();
    assert_eq!(c.options().client_id, "c");

    let mut twice = session.clone();
    let mut second = twice.outbound[0].clone();
    second.id = mqtt_proto::client::RequestId::new(second.id.get() + 1);
    twice.outbound.push(second);
    assert_eq!(
        ClientState::restore(o.clone(), twice).err(),
        Some(RestoreError::Invalid(InvalidSession::DuplicatePacketId(1)))
    );
    let mut qos0 = session;
    qos0.outbound[0].request.qos = QoS::AtMostOnce;
    assert!(matches!(
        ClientState::restore(o, qos0),
        Err(RestoreError::Invalid(InvalidSession::AtMostOnce(_)))
    ));
}
