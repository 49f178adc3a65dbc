//! CONNECT: the client identifier, authentication, the will's checks, the connection
//! limit, the session (started, resumed or taken over: [`State::open_session`]), the
//! CONNACK and what it announces; then the resends of the session's inflight messages.
//!
//! The connection switches its decoder and encoder to the CONNECT's version before calling
//! [`connect`]; it starts the keep alive once `link.client` is set.

use std::num::NonZeroU16;
use std::time::Duration;

use mqtt_proto::{ConnAck, Connect, ConnectReason, Packet, ProtocolVersion, PubRel, QoS};

use super::link::{Client, Close, Link, Reply};
use crate::config::AuthFailure;
use crate::event::{CloseReason, Event};
use crate::state::{SessionStart, State};

/// Refuse the CONNECT: this CONNACK (if any), then close.
fn refuse(ack: Option<ConnectReason>, reason: ConnectReason) -> Reply {
    let mut reply = Reply::default();
    if let Some(code) = ack {
        reply.send(ConnAck::new(false, code));
    }
    reply.then_close(Close::new(CloseReason::Refused(reason)))
}

/// A CONNECT on a connection that has not sent one yet.
pub(crate) fn connect(state: &mut State, link: &mut Link, connect: Connect) -> Reply {
    let version = connect.protocol;
    if let Some(field) = control_character_field(&connect) {
        // The stricter choice 5.0 §1.5.4 (3.1.1 §1.5.3) allows: malformed. 5.0 says why in
        // the CONNACK (0x85 for the identifier, [MQTT-3.1.3-8]); 3.x has no return code for
        // a malformed packet, so the connection is just closed (as mosquitto does).
        link.violation(&format!("control character in the {field}"), "MQTT-1.5.4");
        let reason = if field == "client identifier" {
            ConnectReason::ClientIdentifierNotValid
        } else {
            ConnectReason::MalformedPacket
        };
        return refuse(version.is_v5().then_some(reason), reason);
    }
    let mut assigned = None;
    let client_id = if connect.client_id.is_empty() {
        // 3.1 requires an identifier; 3.1.1 allows an empty one only with a clean
        // session [MQTT-3.1.3-7], [MQTT-3.1.3-8]; 5.0 always assigns one [MQTT-3.1.3-6].
        let allowed = match version {
            ProtocolVersion::V3_1 => false,
            ProtocolVersion::V3_1_1 => connect.clean_start,
            ProtocolVersion::V5 => true,
        };
        if !allowed {
            link.violation(
                "empty client identifier without clean session",
                "MQTT-3.1.3-8",
            );
            let reason = ConnectReason::ClientIdentifierNotValid;
            return refuse(Some(reason), reason);
        }
        let id = state.assign_client_id();
        if version.is_v5() {
            assigned = Some(id.clone());
        }
        id
    } else {
        connect.client_id.to_string()
    };
    let session_expiry = if version.is_v5() {
        connect.properties.session_expiry_interval.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    };

    let auth = state
        .config
        .authenticate(connect.username.as_deref(), connect.password.as_deref());
    if let Err(failure) = auth {
        // 3.1.1 return codes 5 and 4 (5.0: 0x87 and 0x86), then close [MQTT-3.2.2-5].
        let reason = match failure {
            AuthFailure::NoCredentials => ConnectReason::NotAuthorized,
            AuthFailure::BadCredentials => ConnectReason::BadUserNameOrPassword,
        };
        let username = connect.username.as_deref().map(str::to_owned);
        tracing::info!(
            conn = link.id,
            peer = %link.peer,
            client_id,
            username = username.as_deref().unwrap_or("-"),
            ?reason,
            "CONNECT refused: authentication failed"
        );
        state.emit(Event::AuthenticationFailed {
            client_id,
            username,
            reason,
        });
        return refuse(Some(reason), reason);
    }

    let maximum_qos = state.config.maximum_qos;
    if let Some(will) = connect.will.as_ref().filter(|w| w.qos > maximum_qos) {
        // [MQTT-3.2.2-12]: 5.0 CONNACK 0x9B; 3.1.1 has no code for it, so the
        // connection is just closed (as mosquitto does).
        tracing::info!(
            conn = link.id,
            client_id,
            will_qos = %will.qos,
            %maximum_qos,
            "CONNECT refused: will QoS above the maximum QoS"
        );
        let reason = ConnectReason::QoSNotSupported;
        return refuse(version.is_v5().then_some(reason), reason);
    }
    let deep_will = connect
        .will
        .as_ref()
        .is_some_and(|w| state.config.too_many_levels(w.topic.as_str()));
    if deep_will {
        // A limit of this broker: 5.0 CONNACK 0x90 Topic Name invalid; 3.x has no code
        // for it, so the connection is just closed.
        tracing::warn!(
            conn = link.id,
            client_id,
            "CONNECT refused: will topic with more levels than allowed"
        );
        let reason = ConnectReason::TopicNameInvalid;
        return refuse(version.is_v5().then_some(reason), reason);
    }

    if let Some(reason) = state.fault_refuse_connect(&client_id, link.id) {
        tracing::debug!(
            conn = link.id,
            client_id,
            ?reason,
            "CONNECT refused (fault)"
        );
        // A reason 3.1.1 has no return code for becomes Server unavailable.
        let code = if version.is_v5() || reason.to_v3().is_some() {
            reason
        } else {
            ConnectReason::ServerUnavailable
        };
        return refuse(Some(code), code);
    }
    // The connection limit counts connected clients; taking over one's session does
    // not add one.
    let limit = state.config.max_connections;
    if state.connected_except(&client_id) >= limit {
        tracing::warn!(
            conn = link.id,
            client_id,
            limit,
            "CONNECT refused: too many clients connected"
        );
        let code = if version.is_v5() {
            ConnectReason::QuotaExceeded
        } else {
            ConnectReason::ServerUnavailable
        };
        return refuse(Some(code), code);
    }

    if let Some(max) = connect
        .properties
        .maximum_packet_size
        .filter(|_| version.is_v5())
    {
        // The CONNACK must fit the client's Maximum Packet Size [MQTT-3.1.2-24]; if even
        // it does not, nothing can be sent: close without one (as mosquitto does), before
        // any session is opened or taken over.
        let (probe, _) = success_ack(&state.config, &connect, assigned.clone(), true);
        let size = Packet::ConnAck(Box::new(probe)).encoded_len(version);
        if size > max.get() as usize {
            link.violation(
                &format!("Maximum Packet Size {max} cannot hold the CONNACK ({size} bytes)"),
                "MQTT-3.1.2-24",
            );
            return Reply::close(Close::new(CloseReason::ProtocolViolation(format!(
                "Maximum Packet Size {max} cannot hold the CONNACK [MQTT-3.1.2-24]"
            ))));
        }
    }
    let start = SessionStart {
        clean_start: connect.clean_start,
        persistent: session_expiry > 0,
        send_quota: connect
            .properties
            .receive_maximum
            .map_or(usize::from(u16::MAX), |r| usize::from(r.get()))
            .min(state.config.max_inflight_out),
    };
    let mut session_present = state.open_session(&client_id, link.handle(), start);
    if let Some(session) = state.sessions.get_mut(&client_id) {
        // For the authorizer's read checks on every message routed to the session.
        session
            .username
            .clone_from(&connect.username.as_deref().map(str::to_owned));
    }
    if let Some(forced) = state.fault_session_present(&client_id, link.id) {
        session_present = forced;
    }
    state.emit(Event::Connected {
        client_id: client_id.clone(),
        protocol: version,
        session_present,
    });

    tracing::debug!(conn = link.id, client_id, %version, session_present, "connected");
    let config = &state.config;
    let (ack, keep_alive_secs) = success_ack(config, &connect, assigned, session_present);
    if version.is_v5() {
        if config.topic_alias_maximum > 0 {
            link.topic_alias_maximum = config.topic_alias_maximum;
        }
        link.receive_maximum = config.receive_maximum.get();
        if config.assign_topic_aliases {
            // Never above the client's maximum [MQTT-3.3.2-11]; none if it sent none.
            let maximum = connect.properties.topic_alias_maximum.unwrap_or(0);
            link.out_aliases.set_maximum(maximum);
        }
    }
    let keep_alive =
        (keep_alive_secs > 0).then(|| Duration::from_millis(u64::from(keep_alive_secs) * 1500));
    link.client = Some(Client {
        id: client_id,
        version,
        keep_alive,
        will: connect.will,
        session_expiry,
        username: connect.username.as_deref().map(str::to_owned),
    });
    let mut reply = Reply::default();
    reply.send(ack);
    resend_inflight(state, link, &mut reply);
    reply.pending();
    reply
}

/// The first string field of `connect` holding a control character, by name.
fn control_character_field(connect: &Connect) -> Option<&'static str> {
    use super::has_control_character as bad;
    if bad(&connect.client_id) {
        Some("client identifier")
    } else if connect.username.as_deref().is_some_and(bad) {
        Some("user name")
    } else if connect.will.as_ref().is_some_and(|w| bad(w.topic.as_str())) {
        Some("will topic")
    } else {
        None
    }
}

/// The successful CONNACK and what it announces, and the keep alive in force (5.0 Server
/// Keep Alive [MQTT-3.2.2-21]: a client asking for more than the maximum, or for none, is
/// held to the maximum).
fn success_ack(
    config: &crate::config::Config,
    connect: &Connect,
    assigned: Option<String>,
    session_present: bool,
) -> (ConnAck, u16) {
    let mut ack = ConnAck::new(session_present, ConnectReason::Success);
    let version = connect.protocol;
    if version.is_v5() {
        ack.properties.assigned_client_identifier = assigned.map(Into::into);
        ack.properties.maximum_packet_size = Some(config.max_packet_size);
        ack.properties.retain_available = Some(true);
        ack.properties.wildcard_subscription_available = Some(true);
        ack.properties.shared_subscription_available = Some(true);
        ack.properties.subscription_identifier_available = Some(config.subscription_identifiers);
        if config.topic_alias_maximum > 0 {
            ack.properties.topic_alias_maximum = Some(config.topic_alias_maximum);
        }
        // Absent means 65,535 and 2 (5.0 §3.2.2.3.3, §3.2.2.3.4) [MQTT-3.2.2-9].
        if config.receive_maximum != NonZeroU16::MAX {
            ack.properties.receive_maximum = Some(config.receive_maximum);
        }
        if config.maximum_qos < QoS::ExactlyOnce {
            ack.properties.maximum_qos = Some(config.maximum_qos);
        }
    }
    let keep_alive_secs = match config.max_keep_alive {
        Some(max) if version.is_v5() && (connect.keep_alive == 0 || connect.keep_alive > max) => {
            ack.properties.server_keep_alive = Some(max);
            max
        }
        _ => connect.keep_alive,
    };
    (ack, keep_alive_secs)
}

/// After a reconnect: resend the unacknowledged PUBLISHes with DUP set, and PUBREL for
/// those already received, in their original order [MQTT-4.4.0-1]. No more PUBLISHes
/// are unacknowledged than the client's Receive Maximum allows [MQTT-3.3.4-9] (those
/// awaiting PUBCOMP count): the others are resent, in order, as acknowledgements free
/// room ([`super::deliver::take`]).
fn resend_inflight(state: &mut State, link: &Link, reply: &mut Reply) {
    let v5 = link.is_v5();
    let Some(id) = link.owner(state) else {
        return;
    };
    let id = id.to_owned();
    let Some(session) = state.sessions.get_mut(&id) else {
        return;
    };
    let quota = session.send_quota;
    for m in session.inflight.resend_all(quota) {
        match m {
            Ok(mut p) => {
                if !v5 {
                    p.properties = None;
                }
                reply.send(Packet::Publish(p));
            }
            Err(pid) => reply.send(PubRel::new(pid)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use mqtt_proto::{
        DisconnectReason, QosPid, Subscribe, SubscribeFilter, TopicFilter, TopicName,
    };

    use super::super::test_support::{Harness, connack};
    use super::*;
    use crate::session::ConnCmd;

    fn subscribe(n: u16, filter: &str) -> Packet {
        let pid = mqtt_proto::PacketId::new(n).unwrap();
        let filter = TopicFilter::new(filter).unwrap();
        Subscribe::new(pid, vec![SubscribeFilter::new(filter, QoS::AtLeastOnce)]).into()
    }

    #[test]
    fn taking_over_a_clean_session_starts_a_new_one() {
        // [MQTT-3.1.2-6]: a session whose connection asked for none to be kept ends with
        // that connection; a takeover closes it first, so clean session 0 finds nothing.
        let mut h = Harness::default();
        let (mut first, mut first_rx) = h.link();
        let mut c = Connect::new(ProtocolVersion::V3_1_1, "c");
        c.clean_start = true;
        let reply = h.handle(&mut first, c.into());
        assert!(!connack(&reply).session_present);
        h.handle(&mut first, subscribe(1, "t"));

        let (mut second, _rx) = h.link();
        let mut c = Connect::new(ProtocolVersion::V3_1_1, "c");
        c.clean_start = false;
        let reply = h.handle(&mut second, c.into());
        assert!(!connack(&reply).session_present, "a new session");
        assert!(
            matches!(first_rx.try_recv(), Ok(ConnCmd::Kick)),
            "the old connection closes"
        );
        let session = &h.state.sessions["c"];
        assert!(session.owned_by(second.id));
        assert!(
            session.subscriptions.is_empty(),
            "nothing of the old session"
        );
        assert!(session.persistent, "the new one is kept (clean session 0)");
    }

    #[test]
    fn taking_over_a_persistent_session_resumes_it() {
        let mut h = Harness::default();
        let (mut first, mut first_rx) = h.link();
        let mut c = Connect::new(ProtocolVersion::V5, "c");
        c.clean_start = false;
        c.properties.session_expiry_interval = Some(60);
        h.handle(&mut first, c.clone().into());
        h.handle(&mut first, subscribe(1, "t"));

        let (mut second, _rx) = h.link();
        let reply = h.handle(&mut second, c.into());
        assert!(connack(&reply).session_present);
        assert!(matches!(first_rx.try_recv(), Ok(ConnCmd::Kick)));
        assert_eq!(h.state.sessions["c"].subscriptions.len(), 1);
        assert_eq!(h.state.sessions["c"].taken_over_from, Some(first.id));
        // The old connection no longer owns it: what it still sends is not applied.
        let reply = h.handle(&mut first, subscribe(2, "u"));
        assert_eq!(h.state.sessions["c"].subscriptions.len(), 1);
        assert_eq!(reply.packets().len(), 1, "an empty SUBACK");
    }

    #[test]
    fn a_second_connect_is_a_protocol_error() {
        let mut h = Harness::default();
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
        let reply = h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
        assert!(reply.out.is_empty());
        let close = reply.close.expect("closed");
        assert_eq!(close.disconnect, Some(DisconnectReason::ProtocolError));
        assert!(
            matches!(close.reason, CloseReason::ProtocolViolation(r) if r.contains("MQTT-3.1.0-2"))
        );
    }

    #[test]
    fn resends_on_resume_respect_the_new_receive_maximum() {
        // [MQTT-3.3.4-9]: two messages inflight, the client comes back with Receive
        // Maximum 1: one is resent with DUP, the other waits for room.
        let mut h = Harness::default();
        let (mut sub, _rx) = h.link();
        let mut c = Connect::new(ProtocolVersion::V5, "s");
        c.properties.session_expiry_interval = Some(60);
        h.handle(&mut sub, c.clone().into());
        h.handle(&mut sub, subscribe(1, "t"));
        let topic = TopicName::new("t").unwrap();
        for payload in [&b"1"[..], b"2"] {
            let qos = QosPid::AtLeastOnce(mqtt_proto::PacketId::MIN);
            let publish = mqtt_proto::Publish::new(topic.clone(), qos, payload);
            h.state.publish("other", &publish, false);
        }
        let (_, sent) = super::super::deliver::take(&mut h.state, &sub);
        assert_eq!(sent.len(), 2);
        h.end(&mut sub, CloseReason::ConnectionLost);

        let (mut back, _rx) = h.link();
        c.clean_start = false;
        c.properties.receive_maximum = NonZeroU16::new(1);
        let reply = h.handle(&mut back, c.into());
        assert!(connack(&reply).session_present);
        let resent: Vec<_> = reply
            .packets()
            .into_iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(resent.len(), 1);
        assert!(resent[0].dup);
        assert_eq!(&resent[0].payload[..], b"1");
    }
}
