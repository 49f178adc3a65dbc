//! An inbound PUBLISH: its checks (Subscription Identifier, Maximum QoS, Receive Maximum,
//! topic aliases, the level cap, the deny lists), routing ([`State::publish`]), exactly
//! once for QoS 2 (method A of 3.1.1 §4.3.3), and the acknowledgement.

use mqtt_proto::{DisconnectReason, PubAck, PubAckReason, PubRec, Publish, QosPid};

use super::link::{Link, Reply};
use crate::event::Event;
use crate::state::State;

pub(crate) fn publish(state: &mut State, link: &mut Link, mut publish: Publish) -> Reply {
    if super::has_control_character(publish.topic.as_str()) {
        return super::control_character_close(link, "topic name");
    }
    if !publish.properties().subscription_identifiers.is_empty() {
        return Reply::close(link.protocol_close(
            "subscription identifier in a PUBLISH from a client",
            "MQTT-3.3.4-6",
            DisconnectReason::ProtocolError,
        ));
    }
    if publish.qos.qos() > state.config.maximum_qos {
        return Reply::close(link.protocol_close(
            "PUBLISH above the Maximum QoS",
            "MQTT-3.2.2-11",
            DisconnectReason::QoSNotSupported,
        ));
    }
    if link.receive_maximum > 0 {
        // [MQTT-3.3.4-7]: at most Receive Maximum QoS 1 and 2 PUBLISHes unacknowledged.
        // QoS 0 does not count; a resent QoS 2 PUBLISH already counted does not count
        // twice.
        let exempt = match publish.qos {
            QosPid::AtMostOnce => true,
            QosPid::AtLeastOnce(_) => false,
            QosPid::ExactlyOnce(pid) => link.inbound_unacked.contains(&pid),
        };
        if !exempt && link.inbound_unacked.len() >= usize::from(link.receive_maximum) {
            return Reply::close(link.protocol_close(
                "more unacknowledged QoS 1 and 2 PUBLISHes than the Receive Maximum",
                "MQTT-3.3.4-7",
                DisconnectReason::ReceiveMaximumExceeded,
            ));
        }
    }
    if let Some(alias) = publish.properties().topic_alias {
        if alias.get() > link.topic_alias_maximum {
            // Above the Topic Alias Maximum we announced (none: 0) [MQTT-3.3.2-9].
            return Reply::close(link.protocol_close(
                "topic alias above the maximum",
                "MQTT-3.3.2-9",
                DisconnectReason::TopicAliasInvalid,
            ));
        }
        if publish.topic.is_empty() {
            let Some(topic) = link.topic_aliases.get(&alias.get()) else {
                return Reply::close(link.protocol_close(
                    "topic alias with no mapping",
                    "5.0 §3.3.2.3.4",
                    DisconnectReason::ProtocolError,
                ));
            };
            publish.topic = topic.clone();
        } else {
            // A new or replaced mapping, for this connection only (5.0 §3.3.2.3.4).
            link.topic_aliases
                .insert(alias.get(), publish.topic.clone());
        }
        // Aliases are per connection: not passed on.
        let mut properties = publish.properties().clone();
        properties.topic_alias = None;
        publish = publish.with_properties(properties);
    } else if publish.topic.is_empty() {
        // The decoder refuses this already; kept as a guard [MQTT-3.3.2-1].
        return Reply::close(link.protocol_close(
            "empty topic without a topic alias",
            "MQTT-3.3.2-1",
            DisconnectReason::ProtocolError,
        ));
    }
    if state.config.too_many_levels(publish.topic.as_str()) {
        return Reply::close(link.limit_close(
            "PUBLISH topic with more levels than allowed",
            DisconnectReason::TopicNameInvalid,
        ));
    }
    let denied = state
        .config
        .publish_denied(
            link.client_id().unwrap_or_default(),
            link.username(),
            publish.topic.as_str(),
        )
        .map(str::to_owned);
    if let Some(pattern) = denied {
        return denied_publish(state, link, publish, &pattern);
    }
    let Some(id) = link.owner(state) else {
        return Reply::default();
    };
    let qos = publish.qos;
    let first = match qos {
        QosPid::ExactlyOnce(pid) => state
            .sessions
            .get_mut(id)
            .is_some_and(|s| s.inbound_qos2.insert(pid)),
        _ => true,
    };
    if first {
        // Method A of 3.1.1 §4.3.3: deliver on receipt, remember the id until PUBREL so
        // that a resent PUBLISH is not delivered twice.
        state.publish(id, &publish, false);
    }
    let mut reply = Reply::default();
    match qos {
        QosPid::AtMostOnce => {}
        QosPid::AtLeastOnce(pid) => reply.send(PubAck::new(pid)),
        QosPid::ExactlyOnce(pid) => {
            if link.receive_maximum > 0 {
                // Counts until its PUBCOMP.
                link.inbound_unacked.insert(pid);
            }
            reply.send(PubRec::new(pid));
        }
    }
    // Our own session may have been among the subscribers.
    reply.pending();
    reply
}

/// A PUBLISH to a denied topic: not routed. 5.0 clients get PUBACK / PUBREC 0x87; 3.x
/// clients get the usual acknowledgements (as mosquitto does); QoS 0 is dropped.
fn denied_publish(state: &mut State, link: &Link, publish: Publish, pattern: &str) -> Reply {
    let v5 = link.is_v5();
    let qos = publish.qos;
    let topic = publish.topic.as_str().to_owned();
    let Some(id) = link.owner(state) else {
        return Reply::default();
    };
    // A 3.x QoS 2 flow completes normally: its id is held until PUBREL, and a resent
    // PUBLISH is not reported twice.
    let first = match qos {
        QosPid::ExactlyOnce(pid) if !v5 => state
            .sessions
            .get_mut(id)
            .is_some_and(|s| s.inbound_qos2.insert(pid)),
        _ => true,
    };
    if first {
        state.emit(Event::PublishDenied {
            client_id: id.to_owned(),
            publish,
        });
    }
    tracing::info!(
        conn = link.id,
        client_id = id,
        topic,
        pattern,
        "PUBLISH denied"
    );
    let mut reply = Reply::default();
    match qos {
        QosPid::AtMostOnce => {}
        QosPid::AtLeastOnce(pid) => {
            let mut ack = PubAck::new(pid);
            if v5 {
                ack.reason = PubAckReason::NotAuthorized;
            }
            reply.send(ack);
        }
        QosPid::ExactlyOnce(pid) => {
            let mut rec = PubRec::new(pid);
            if v5 {
                rec.reason = PubAckReason::NotAuthorized;
            }
            reply.send(rec);
        }
    }
    reply
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::num::NonZeroU16;

    use mqtt_proto::{Connect, Packet, PacketId, ProtocolVersion, PubRel, TopicName};

    use super::super::test_support::Harness;
    use super::*;
    use crate::config::Config;
    use crate::event::CloseReason;

    fn qos(n: u16, exactly_once: bool) -> Packet {
        let pid = PacketId::new(n).unwrap();
        let qos = if exactly_once {
            QosPid::ExactlyOnce(pid)
        } else {
            QosPid::AtLeastOnce(pid)
        };
        Publish::new(TopicName::new("t").unwrap(), qos, &b"m"[..]).into()
    }

    #[test]
    fn the_receive_maximum_is_enforced() {
        // [MQTT-3.3.4-7]: Receive Maximum 2; two QoS 2 PUBLISHes await their PUBREL.
        let config = Config {
            receive_maximum: NonZeroU16::new(2).unwrap(),
            ..Config::default()
        };
        let mut h = Harness::new(config);
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
        for n in 1..=2 {
            let reply = h.handle(&mut link, qos(n, true));
            assert_eq!(reply.close, None);
        }
        // QoS 0 and a resent QoS 2 PUBLISH already counted do not count.
        let q0 = Publish::new(TopicName::new("t").unwrap(), QosPid::AtMostOnce, &b"m"[..]);
        assert_eq!(h.handle(&mut link, q0.into()).close, None);
        assert_eq!(h.handle(&mut link, qos(2, true)).close, None);
        // A PUBCOMP frees one: a QoS 1 PUBLISH then fits (and is acknowledged at once).
        h.handle(&mut link, PubRel::new(PacketId::new(1).unwrap()).into());
        assert_eq!(h.handle(&mut link, qos(3, false)).close, None);
        assert_eq!(h.handle(&mut link, qos(4, true)).close, None);
        // A third unacknowledged one is one too many.
        let reply = h.handle(&mut link, qos(5, false));
        assert!(reply.out.is_empty(), "not acknowledged");
        let close = reply.close.expect("closed");
        assert_eq!(
            close.disconnect,
            Some(DisconnectReason::ReceiveMaximumExceeded)
        );
        assert!(
            matches!(close.reason, CloseReason::ProtocolViolation(r) if r.contains("MQTT-3.3.4-7"))
        );
    }

    #[test]
    fn v3_clients_are_not_held_to_the_receive_maximum() {
        let config = Config {
            receive_maximum: NonZeroU16::new(1).unwrap(),
            ..Config::default()
        };
        let mut h = Harness::new(config);
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V3_1_1, "c").into());
        for n in 1..=5 {
            let reply = h.handle(&mut link, qos(n, true));
            assert_eq!(reply.close, None);
            assert_eq!(
                reply.packets(),
                [&Packet::PubRec(PubRec::new(PacketId::new(n).unwrap()))]
            );
        }
    }

    #[test]
    fn a_resent_qos2_publish_is_routed_once() {
        let mut h = Harness::default();
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V3_1_1, "c").into());
        let mut events = h.state.subscribe_events();
        h.handle(&mut link, qos(7, true));
        h.handle(&mut link, qos(7, true));
        let published = std::iter::from_fn(|| events.try_recv().ok())
            .filter(|e| matches!(e, Event::Published { .. }))
            .count();
        assert_eq!(published, 1);
    }
}
