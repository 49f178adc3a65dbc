//! Acknowledgements: PUBACK, PUBREC and PUBCOMP for the broker's outbound messages (each
//! frees room in the inflight window), PUBREL for the client's inbound QoS 2 ones.

use mqtt_proto::{DisconnectReason, PacketId, PubComp, PubRec, PubRel, PubRelReason};

use super::link::{Link, Reply};
use crate::session::OutState;
use crate::state::State;

/// PUBACK: a QoS 1 message delivered.
pub(crate) fn puback(state: &mut State, link: &Link, pid: PacketId) -> Reply {
    if acknowledged(state, link, pid, OutState::Unacked) == Ack::WrongType {
        return wrong_type(link, "PUBACK");
    }
    let mut reply = Reply::default();
    reply.pending();
    reply
}

/// PUBREC: a QoS 2 message received; PUBREL follows, unless the PUBREC carries an error.
pub(crate) fn pubrec(state: &mut State, link: &Link, rec: &PubRec) -> Reply {
    let known = acknowledged(state, link, rec.packet_id, OutState::Unreceived);
    if known == Ack::WrongType && !inflight_has(state, link, rec.packet_id, OutState::Released) {
        // A PUBREC for a QoS 1 message (a PUBREC for a released QoS 2 one is a resend,
        // answered below).
        return wrong_type(link, "PUBREC");
    }
    if rec.reason.is_error() {
        // 5.0 §4.3.3: a PUBREC with an error code ends the flow; no PUBREL.
        acknowledged(state, link, rec.packet_id, OutState::Released);
    }
    let mut reply = Reply::default();
    reply.pending();
    if !rec.reason.is_error() {
        // Reply even to an unknown id: the client may be retrying after a lost PUBCOMP;
        // on 5.0 the reason code tells it the state is gone (3.x has none).
        let mut rel = PubRel::new(rec.packet_id);
        if link.is_v5() && !inflight_has(state, link, rec.packet_id, OutState::Released) {
            rel.reason = PubRelReason::PacketIdentifierNotFound;
        }
        reply.send(rel);
    }
    reply
}

/// PUBCOMP: a QoS 2 message's flow complete.
pub(crate) fn pubcomp(state: &mut State, link: &Link, pid: PacketId) -> Reply {
    if acknowledged(state, link, pid, OutState::Released) == Ack::WrongType {
        return wrong_type(link, "PUBCOMP");
    }
    let mut reply = Reply::default();
    reply.pending();
    reply
}

/// An acknowledgement of the wrong type for a message in flight (PUBREC or PUBCOMP for
/// QoS 1, PUBACK for QoS 2, PUBCOMP before PUBREL): the two ends disagree about the flow,
/// which the protocol allows no way to recover from. 5.0 §1.2: data inconsistent with the
/// state of the Server is a Protocol Error; close (5.0: DISCONNECT 0x82).
fn wrong_type(link: &Link, what: &str) -> Reply {
    Reply::close(link.protocol_close(
        &format!("{what} for a message in flight at another stage or QoS"),
        "MQTT-4.3.2-1",
        DisconnectReason::ProtocolError,
    ))
}

/// PUBREL for an inbound QoS 2 message: its id is released (a resent PUBLISH is new
/// again), PUBCOMP goes back.
pub(crate) fn pubrel(state: &mut State, link: &mut Link, pid: PacketId) -> Reply {
    link.inbound_unacked.remove(&pid);
    let known = link
        .owner(state)
        .map(str::to_owned)
        .and_then(|id| state.sessions.get_mut(&id))
        .is_some_and(|s| s.inbound_qos2.remove(&pid));
    let mut comp = PubComp::new(pid);
    if !known && link.is_v5() {
        // 5.0 says which id it did not know; 3.x has no reason code, and a PUBREL for an
        // id already released (a resend after reconnecting) is completed all the same
        // [MQTT-4.3.3-11]: the client's flow must end.
        comp.reason = PubRelReason::PacketIdentifierNotFound;
    }
    let mut reply = Reply::default();
    reply.send(comp);
    reply
}

fn inflight_has(state: &State, link: &Link, pid: PacketId, want: OutState) -> bool {
    link.owner(state)
        .and_then(|id| state.sessions.get(id))
        .and_then(|s| s.inflight.get(pid))
        .is_some_and(|m| m.state == want)
}

/// How an acknowledgement matched the messages in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    /// A message in flight in the expected state: moved on or ended.
    Matched,
    /// No message in flight with this packet id: ignored.
    Unknown,
    /// A message in flight with this id, in another state: left as it was.
    WrongType,
}

/// An acknowledgement for an outbound message expected in state `expected`: PUBREC moves
/// it on to awaiting PUBCOMP, PUBACK and PUBCOMP end it.
fn acknowledged(state: &mut State, link: &Link, pid: PacketId, expected: OutState) -> Ack {
    let session = link
        .owner(state)
        .map(str::to_owned)
        .and_then(|id| state.sessions.get_mut(&id));
    let ack = session.map_or(Ack::Unknown, |session| {
        match session.inflight.get(pid).map(|m| m.state) {
            None => return Ack::Unknown,
            Some(s) if s != expected => return Ack::WrongType,
            Some(_) => {}
        }
        if expected == OutState::Unreceived {
            session.inflight.release(pid);
        } else {
            session.inflight.remove(pid);
        }
        Ack::Matched
    });
    if ack != Ack::Matched {
        tracing::debug!(
            conn = link.id,
            packet_id = pid.get(),
            ?expected,
            ?ack,
            "acknowledgement that matches no message in flight"
        );
    }
    ack
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use mqtt_proto::{
        Connect, Packet, ProtocolVersion, PubAckReason, Publish, QoS, QosPid, TopicName,
    };

    use super::super::test_support::Harness;
    use super::*;

    fn pid(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    #[test]
    fn pubrel_for_an_unknown_id_is_completed_with_its_reason_on_v5_only() {
        for (version, reason) in [
            (ProtocolVersion::V5, PubRelReason::PacketIdentifierNotFound),
            (ProtocolVersion::V3_1_1, PubRelReason::Success),
        ] {
            let mut h = Harness::default();
            let (mut link, _rx) = h.link();
            h.handle(&mut link, Connect::new(version, "c").into());
            let reply = h.handle(&mut link, PubRel::new(pid(9)).into());
            let mut comp = PubComp::new(pid(9));
            comp.reason = reason;
            assert_eq!(reply.packets(), [&Packet::PubComp(comp)], "{version}");
            assert_eq!(reply.close, None);
        }
    }

    #[test]
    fn pubrel_releases_a_known_id() {
        let mut h = Harness::default();
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
        let publish = Publish::new(
            TopicName::new("t").unwrap(),
            QosPid::ExactlyOnce(pid(3)),
            &b"m"[..],
        );
        h.handle(&mut link, publish.into());
        assert!(h.state.sessions["c"].inbound_qos2.contains(&pid(3)));
        let reply = h.handle(&mut link, PubRel::new(pid(3)).into());
        assert_eq!(reply.packets(), [&Packet::PubComp(PubComp::new(pid(3)))]);
        assert!(h.state.sessions["c"].inbound_qos2.is_empty());
        assert!(link.inbound_unacked.is_empty());
    }

    #[test]
    fn pubrec_for_an_unknown_id_gets_pubrel_with_its_reason() {
        let mut h = Harness::default();
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
        let reply = h.handle(&mut link, PubRec::new(pid(4)).into());
        let mut rel = PubRel::new(pid(4));
        rel.reason = PubRelReason::PacketIdentifierNotFound;
        assert_eq!(reply.packets(), [&Packet::PubRel(rel)]);
        // With an error code, the flow ends: no PUBREL.
        let mut rec = PubRec::new(pid(4));
        rec.reason = PubAckReason::UnspecifiedError;
        assert!(h.handle(&mut link, rec.into()).packets().is_empty());
    }

    /// A subscriber `c` (at `qos`) with one message in flight to it, as packet id 1.
    fn in_flight(h: &mut Harness, version: ProtocolVersion, qos: QoS) -> Link {
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(version, "c").into());
        let filter = mqtt_proto::TopicFilter::new("t").unwrap();
        let sub =
            mqtt_proto::Subscribe::new(pid(1), vec![mqtt_proto::SubscribeFilter::new(filter, qos)]);
        h.handle(&mut link, sub.into());
        let (mut publisher, _prx) = h.link();
        h.handle(
            &mut publisher,
            Connect::new(ProtocolVersion::V3_1_1, "p").into(),
        );
        let publish = Publish::new(
            TopicName::new("t").unwrap(),
            QosPid::from_qos(qos, pid(7)),
            &b"m"[..],
        );
        h.handle(&mut publisher, publish.into());
        let (_, sent) = super::super::deliver::take(&mut h.state, &link);
        assert_eq!(sent.len(), 1, "one message in flight");
        assert_eq!(sent[0].qos, QosPid::from_qos(qos, pid(1)));
        link
    }

    #[test]
    fn an_acknowledgement_of_the_wrong_type_closes() {
        // PUBREC or PUBCOMP for a QoS 1 message, PUBACK or PUBCOMP for a QoS 2 one not yet
        // received: a Protocol Error (DISCONNECT 0x82 on 5.0), the message left in flight.
        let wrong: [(QoS, Packet); 4] = [
            (QoS::AtLeastOnce, PubRec::new(pid(1)).into()),
            (QoS::AtLeastOnce, PubComp::new(pid(1)).into()),
            (QoS::ExactlyOnce, mqtt_proto::PubAck::new(pid(1)).into()),
            (QoS::ExactlyOnce, PubComp::new(pid(1)).into()),
        ];
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for (qos, ack) in &wrong {
                let mut h = Harness::default();
                let mut link = in_flight(&mut h, version, *qos);
                let reply = h.handle(&mut link, ack.clone());
                let close = reply.close.as_ref().expect("closed");
                assert_eq!(
                    close.disconnect,
                    version
                        .is_v5()
                        .then_some(mqtt_proto::DisconnectReason::ProtocolError),
                    "{version} {qos:?} {ack:?}"
                );
                assert!(h.state.sessions["c"].inflight.contains(pid(1)));
            }
        }
    }

    #[test]
    fn the_right_acknowledgements_and_a_resent_pubrec_keep_the_connection() {
        let mut h = Harness::default();
        let mut link = in_flight(&mut h, ProtocolVersion::V5, QoS::AtLeastOnce);
        let reply = h.handle(&mut link, mqtt_proto::PubAck::new(pid(1)).into());
        assert_eq!(reply.close, None);
        assert!(h.state.sessions["c"].inflight.get(pid(1)).is_none());

        let mut h = Harness::default();
        let mut link = in_flight(&mut h, ProtocolVersion::V5, QoS::ExactlyOnce);
        for _ in 0..2 {
            // The second PUBREC is a resend (the PUBREL was lost): PUBREL again.
            let reply = h.handle(&mut link, PubRec::new(pid(1)).into());
            assert_eq!(reply.close, None);
            assert_eq!(reply.packets(), [&Packet::PubRel(PubRel::new(pid(1)))]);
        }
        let reply = h.handle(&mut link, PubComp::new(pid(1)).into());
        assert_eq!(reply.close, None);
        assert!(h.state.sessions["c"].inflight.get(pid(1)).is_none());
    }

    #[test]
    fn pubrec_for_an_unknown_id_gets_a_plain_pubrel_on_3_1_1() {
        let mut h = Harness::default();
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V3_1_1, "c").into());
        let reply = h.handle(&mut link, PubRec::new(pid(4)).into());
        assert_eq!(reply.packets(), [&Packet::PubRel(PubRel::new(pid(4)))]);
        assert_eq!(reply.close, None);
    }
}
