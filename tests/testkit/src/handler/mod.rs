//! The broker's rules, apart from I/O: a sans-IO core in the shape of mini-redis's `cmd/`,
//! one file per packet family.
//!
//! ```text
//!   conn.rs: socket ──► Decoder ──► Packet ─┐
//!                                           ▼
//!   handle(&mut State, &mut Link, Packet) ──► Reply { out: [Packet | Pending], close }
//!     connect.rs     CONNECT ─► State::open_session (start / resume / takeover), CONNACK
//!     publish.rs     PUBLISH ─► State::publish (routing), PUBACK / PUBREC
//!     ack.rs         PUBACK, PUBREC, PUBCOMP (inflight window), PUBREL (inbound QoS 2)
//!     subscribe.rs   SUBSCRIBE, UNSUBSCRIBE ─► Session, State::send_retained
//!     disconnect.rs  DISCONNECT; end(): State::leave_session, the will ─► [Timer]
//!     deliver.rs     Pending ─► what the session may send now
//!                                           │
//!   conn.rs: fault gating ─► Encoder ─► one batched write ◄┘
//! ```
//!
//! A handler takes the state (locked by the caller), the connection as the rules see it
//! ([`Link`]: the client's CONNECT, topic aliases, Receive Maximum accounting) and one
//! decoded packet, and returns a [`Reply`]: the packets to write in order, where the
//! session's pending messages go ([`Out::Pending`]), and whether to close. It does no I/O,
//! starts no timers and knows nothing of the socket, so each rule is tested here without
//! one. The connection task (`conn.rs`) reads, decodes, consults the fault rules about
//! each packet in and out, writes, and runs the timers.
//!
//! The fault rules that change a CONNECT's outcome ([`crate::Fault::RefuseConnect`],
//! [`crate::Fault::SessionPresent`]) are consulted by `connect.rs` at the point of the
//! CONNECT they stand for, through [`State`]'s `fault_*` methods.

mod ack;
mod connect;
pub(crate) mod deliver;
mod disconnect;
mod head;
mod link;
mod publish;
mod subscribe;
#[cfg(test)]
mod test_support;

use mqtt_proto::{ConnAck, ConnectReason, DecodeError, DisconnectReason, Packet, PropertyId};

pub(crate) use disconnect::{Timer, end};
pub(crate) use head::{Head, check as check_head};
pub(crate) use link::{Close, Link, Out, Reply};

use crate::event::CloseReason;
use crate::state::State;

/// Whether `s` holds a control character, U+0001..U+001F or U+007F..U+009F (U+0000 is
/// refused by the codec). Data "SHOULD NOT" contain them and a receiver "MAY" treat a packet
/// that does as malformed (5.0 §1.5.4, 3.1.1 §1.5.3): this broker takes the stricter
/// choice, as mosquitto does, for client identifiers, user names, will topics, topic names
/// and topic filters.
pub(crate) fn has_control_character(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c, '\u{1}'..='\u{1F}' | '\u{7F}'..='\u{9F}'))
}

/// Close over a string field holding a control character ([`has_control_character`]):
/// Malformed Packet.
pub(crate) fn control_character_close(link: &Link, field: &str) -> Reply {
    Reply::close(link.protocol_close(
        &format!("control character in the {field}"),
        "MQTT-1.5.4",
        DisconnectReason::MalformedPacket,
    ))
}

/// Apply the rules to one packet received on `link`.
pub(crate) fn handle(state: &mut State, link: &mut Link, packet: Packet) -> Reply {
    tracing::trace!(
        conn = link.id,
        packet = packet.packet_type().name(),
        "received"
    );
    if link.client.is_none() {
        return match packet {
            Packet::Connect(c) => connect::connect(state, link, *c),
            other => Reply::close(link.protocol_close(
                &format!(
                    "first packet is {}, not CONNECT",
                    other.packet_type().name()
                ),
                "MQTT-3.1.0-1",
                DisconnectReason::ProtocolError,
            )),
        };
    }
    match packet {
        Packet::Connect(_) => Reply::close(link.protocol_close(
            "second CONNECT",
            "MQTT-3.1.0-2",
            DisconnectReason::ProtocolError,
        )),
        Packet::Publish(p) => publish::publish(state, link, p),
        Packet::PubAck(ack) => ack::puback(state, link, ack.packet_id),
        Packet::PubRec(rec) => ack::pubrec(state, link, &rec),
        Packet::PubComp(comp) => ack::pubcomp(state, link, comp.packet_id),
        Packet::PubRel(rel) => ack::pubrel(state, link, rel.packet_id),
        Packet::Subscribe(s) => subscribe::subscribe(state, link, &s),
        Packet::Unsubscribe(u) => subscribe::unsubscribe(state, link, &u),
        Packet::PingReq => {
            let mut reply = Reply::default();
            reply.send(Packet::PingResp);
            reply
        }
        Packet::Disconnect(d) => disconnect::disconnect(link, &d),
        Packet::Auth(_) => Reply::close(link.protocol_close(
            "AUTH without an authentication method",
            "MQTT-4.12.0-7",
            DisconnectReason::ProtocolError,
        )),
        other @ (Packet::ConnAck(_)
        | Packet::SubAck(_)
        | Packet::UnsubAck(_)
        | Packet::PingResp) => Reply::close(link.protocol_close(
            &format!("{} sent by a client", other.packet_type().name()),
            "MQTT-4.8.0-1",
            DisconnectReason::ProtocolError,
        )),
    }
}

/// The bytes received on `link` do not decode: close, saying why. `head` is what the
/// connection peeked at before decoding ([`Head::peek`]).
pub(crate) fn decode_error(link: &Link, e: &DecodeError, head: &Head) -> Reply {
    if let DecodeError::InvalidPropertyValue(PropertyId::TopicAlias) = e {
        // Topic Alias 0 is not permitted [MQTT-3.3.2-8]: Topic Alias invalid.
        return Reply::close(link.protocol_close(
            "topic alias 0",
            "MQTT-3.3.2-8",
            DisconnectReason::TopicAliasInvalid,
        ));
    }
    if link.client.is_none()
        && let DecodeError::UnsupportedProtocolLevel(level) = e
    {
        // [MQTT-3.1.2-2]: answer return code 1 (in the 3.1.1 format), then close.
        link.violation(
            &format!("unsupported protocol level {level}"),
            "MQTT-3.1.2-2",
        );
        let reason = ConnectReason::UnsupportedProtocolVersion;
        let mut reply = Reply::default();
        reply.send(ConnAck::new(false, reason));
        return reply.then_close(Close::new(CloseReason::Refused(reason)));
    }
    // Framed: the fixed header and remaining length were read, so the packet type is known.
    let framed = !matches!(
        e,
        DecodeError::MalformedVarInt | DecodeError::PacketTooLarge { .. }
    );
    let code = if framed && link.client.is_some() && head.server_only() {
        // A packet only a server sends is forbidden from a client whatever its content
        // [MQTT-4.8.0-1]: a Protocol Error (5.0 §1.2), as when it decodes.
        DisconnectReason::ProtocolError
    } else {
        e.disconnect_reason()
    };
    let text = e.to_string();
    if link.client.is_none() && head.connect_level == Some(5) {
        // A 5.0 CONNECT that does not decode: the Server MAY send a CONNACK with the
        // reason code before closing (5.0 §3.2.2.2, §4.13.1); it tells the client why.
        link.violation(&text, "MQTT-4.8.0-1");
        let reason = ConnectReason::try_from(code.code()).unwrap_or(ConnectReason::MalformedPacket);
        let mut reply = Reply::default();
        reply.send(ConnAck::new(false, reason));
        return reply.then_close(Close::new(CloseReason::Refused(reason)));
    }
    Reply::close(link.protocol_close(&text, "MQTT-4.8.0-1", code))
}

/// Nothing arrived on `link` in time: before CONNECT, the connect timeout; after it,
/// 1.5 × the keep alive [MQTT-3.1.2-24].
pub(crate) fn timed_out(link: &Link) -> Close {
    if link.client.is_some() {
        link.violation("keep alive expired", "MQTT-3.1.2-24");
        Close::with_disconnect(
            CloseReason::KeepAliveTimeout,
            DisconnectReason::KeepAliveTimeout,
        )
    } else {
        Close::new(CloseReason::ConnectTimeout)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use mqtt_proto::{
        Connect, ConnectReason, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, Subscribe,
        SubscribeFilter, TopicFilter, TopicName, Unsubscribe, Will,
    };

    use super::test_support::Harness;
    use super::*;

    #[test]
    fn control_characters_are_found() {
        for bad in ["a\u{1}", "\u{1F}", "x\u{7F}y", "\u{9F}"] {
            assert!(has_control_character(bad), "{bad:?}");
        }
        for fine in ["", "a/b", "\u{A0}", "é", "\u{20}"] {
            assert!(!has_control_character(fine), "{fine:?}");
        }
    }

    #[test]
    fn a_connect_with_a_control_character_is_refused() {
        // 5.0: CONNACK 0x85 for the client identifier, 0x81 for the rest; 3.1.1: closed
        // without a CONNACK.
        let mut with_user = Connect::new(ProtocolVersion::V5, "c");
        with_user.username = Some("u\u{1}".into());
        let mut with_will = Connect::new(ProtocolVersion::V5, "c");
        with_will.will = Some(Will::new(TopicName::new("w\u{7F}").unwrap(), &b"m"[..]));
        let cases = [
            (
                Connect::new(ProtocolVersion::V5, "c\u{1F}"),
                ConnectReason::ClientIdentifierNotValid,
            ),
            (with_user, ConnectReason::MalformedPacket),
            (with_will, ConnectReason::MalformedPacket),
        ];
        for (connect, reason) in cases {
            let mut v3 = connect.clone();
            v3.protocol = ProtocolVersion::V3_1_1;
            let mut h = Harness::default();
            let (mut link, _rx) = h.link();
            let reply = h.handle(&mut link, connect.into());
            assert!(
                matches!(reply.packets()[..], [Packet::ConnAck(a)] if a.reason == reason),
                "{reason:?}: {:?}",
                reply.packets()
            );
            assert!(reply.close.is_some() && link.client.is_none());
            let (mut link, _rx) = h.link();
            let reply = h.handle(&mut link, v3.into());
            assert!(reply.packets().is_empty(), "3.1.1: no CONNACK");
            assert!(reply.close.is_some());
        }
    }

    #[test]
    fn topics_and_filters_with_a_control_character_close() {
        let pid = PacketId::new(1).unwrap();
        let packets: [Packet; 3] = [
            Publish::new(
                TopicName::new("t\u{1}").unwrap(),
                QosPid::AtMostOnce,
                &b""[..],
            )
            .into(),
            Subscribe::new(
                pid,
                vec![SubscribeFilter::new(
                    TopicFilter::new("t/\u{9F}").unwrap(),
                    QoS::AtMostOnce,
                )],
            )
            .into(),
            Unsubscribe::new(pid, vec![TopicFilter::new("\u{1F}").unwrap()]).into(),
        ];
        for packet in packets {
            let mut h = Harness::default();
            let (mut link, _rx) = h.link();
            h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
            let what = format!("{packet:?}");
            let reply = h.handle(&mut link, packet);
            assert_eq!(
                reply.close.and_then(|c| c.disconnect),
                Some(DisconnectReason::MalformedPacket),
                "{what}"
            );
        }
    }
}
