//! What the server sends: the dispatch of each packet, CONNACK (and with it what becomes of
//! the session), AUTH, inbound PUBLISH with our acknowledgements of it (automatic, or manual
//! in arrival order), and PUBREL. Acknowledgements of what we sent are in `outbound.rs`.

use std::num::NonZeroU32;
use std::time::Instant;

use crate::client::connection::{ConnectionState, SessionStart};
use crate::client::event::{
    AckToken, Connected, ConnectionError, Delivery, Event, ProtocolError, RequestError,
};
use crate::client::options::LostPublish;
use crate::client::persist::SessionChange;
use crate::client::request::PendingPublish;
use crate::client::session::{AppAck, SessionStatus};
use crate::client::state::ClientState;
use crate::packet::property::AuthProperties;
use crate::packet::reason::{AuthReason, PubRelReason};
use crate::packet::{Auth, ConnAck, Packet, PubAck, PubComp, PubRec, PubRel, Publish};
use crate::types::{PacketId, PacketType, QoS, QosPid};

impl ClientState {
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        packet: Packet,
    ) -> Result<(), ConnectionError> {
        let t = packet.packet_type();
        match packet {
            Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => Err(ProtocolError::ClientOnlyPacket(t).into()),
            Packet::ConnAck(connack) => self.handle_connack(now, *connack),
            Packet::Auth(auth) => self.handle_auth(*auth),
            _ if self.conn.phase != ConnectionState::Connected => {
                Err(ProtocolError::BeforeConnAck(t).into())
            }
            Packet::Publish(p) => self.handle_publish(p),
            Packet::PubAck(ack) => self.handle_puback(ack),
            Packet::PubRec(rec) => self.handle_pubrec(rec),
            Packet::PubRel(rel) => self.handle_pubrel(rel),
            Packet::PubComp(comp) => self.handle_pubcomp(comp),
            Packet::SubAck(ack) => self.handle_suback(ack.packet_id, ack.reasons, ack.properties),
            Packet::UnsubAck(ack) => self.handle_unsuback(ack),
            Packet::PingResp => Ok(()),
            Packet::Disconnect(_) if !self.v5() => {
                // 3.1.1 §3.14: DISCONNECT is sent by the client only.
                Err(ProtocolError::ClientOnlyPacket(t).into())
            }
            Packet::Disconnect(d) => {
                let d = *d;
                self.end_connection(ConnectionError::ServerDisconnect {
                    reason: d.reason,
                    properties: Box::new(d.properties),
                });
                Ok(())
            }
        }
    }

    fn handle_connack(&mut self, now: Instant, connack: ConnAck) -> Result<(), ConnectionError> {
        if self.conn.phase == ConnectionState::Connected {
            return Err(ProtocolError::SecondConnAck.into());
        }
        if connack.reason.is_error() {
            if connack.session_present && self.v5() {
                return Err(ProtocolError::SessionPresentOnRefusal.into());
            }
            let p = connack.properties;
            self.end_connection(ConnectionError::Refused {
                reason: connack.reason,
                server_reference: p.server_reference,
                reason_string: p.reason_string,
            });
            return Ok(());
        }
        if connack.session_present && self.conn.start == SessionStart::Clean {
            return Err(ProtocolError::SessionPresentOnCleanStart.into());
        }
        let v5 = self.v5();
        let props = &connack.properties;
        if let Some(auth) = &mut self.authenticator {
            if v5 {
                if props.authentication_method.as_ref() != Some(&auth.method()) {
                    return Err(ProtocolError::AuthMethodMismatch.into());
                }
                auth.success(props.authentication_data.as_ref())
                    .map_err(ConnectionError::Auth)?;
            }
        } else if props.authentication_method.is_some() {
            return Err(ProtocolError::UnexpectedAuth.into());
        }
        // The server assigns an identifier only when CONNECT gave none (5.0 §3.2.2.3.7);
        // replacing ours would silently move the session to another identity.
        if props.assigned_client_identifier.is_some() && !self.session.client_id.is_empty() {
            return Err(ProtocolError::UnexpectedAssignedClientId.into());
        }
        self.conn.server.apply(props);
        if let Some(max) = NonZeroU32::new(self.conn.server.maximum_packet_size) {
            self.conn.encoder.set_max_packet_size(max);
        }
        if let Some(id) = &props.assigned_client_identifier {
            // The session's identity; the options report it too.
            self.session.client_id = id.clone();
            self.opts.client_id = id.clone();
        }
        self.conn.phase = ConnectionState::Connected;
        self.conn.timers.connack_deadline = None;
        self.conn.timers.last_recv = Some(now);
        let first = self.session.status != SessionStatus::Established;
        self.session.status = SessionStatus::Established;
        if first || props.assigned_client_identifier.is_some() {
            self.session.record(|s| SessionChange::Meta(s.meta()));
        }
        // Connected comes first; what the session's state causes (failures under the
        // session-loss policy...) follows it.
        let session_present = connack.session_present;
        self.events.push_back(Event::Connected(Box::new(Connected {
            session_present,
            properties: connack.properties,
        })));
        if session_present {
            self.resume_session();
        } else {
            self.session_lost();
        }
        Ok(())
    }

    /// The server has no session for us: discard ours [MQTT-3.2.2-5], applying the session
    /// loss policy to unacknowledged publishes, and restore subscriptions.
    fn session_lost(&mut self) {
        self.conn.carried_qos2.clear();
        let lost = self.session.lose(self.conn.generation);
        let mut republish = Vec::new();
        for o in lost {
            let policy = match o.req.qos {
                QoS::ExactlyOnce => self.opts.session_loss.qos2,
                _ => self.opts.session_loss.qos1,
            };
            let id = o.id;
            match policy {
                LostPublish::Republish => {
                    self.session.record(|_| SessionChange::Requeued { id });
                    republish.push(PendingPublish { id, req: o.req });
                }
                LostPublish::Fail => {
                    self.session.record(|_| SessionChange::Completed { id });
                    self.events.push_back(Event::Published {
                        id,
                        result: Err(RequestError::SessionLost),
                    });
                }
            }
        }
        for p in republish.into_iter().rev() {
            self.session.pending_publishes.push_front(p);
        }
        if self.opts.resubscribe && !self.session.subscriptions.is_empty() {
            self.session.queue_resubscription();
        }
    }

    fn handle_auth(&mut self, auth: Auth) -> Result<(), ConnectionError> {
        let Some(authenticator) = &mut self.authenticator else {
            return Err(ProtocolError::UnexpectedAuth.into());
        };
        if auth.properties.authentication_method.as_ref() != Some(&authenticator.method()) {
            return Err(ProtocolError::AuthMethodMismatch.into());
        }
        match auth.reason {
            AuthReason::ContinueAuthentication => {
                let data = authenticator
                    .challenge(auth.properties.authentication_data.as_ref())
                    .map_err(ConnectionError::Auth)?;
                let mut reply = Auth::new(AuthReason::ContinueAuthentication);
                reply.properties = AuthProperties::default();
                reply.properties.authentication_method = Some(authenticator.method());
                reply.properties.authentication_data = data;
                self.conn.tx.push_back(reply.into());
                Ok(())
            }
            AuthReason::Success if self.conn.phase == ConnectionState::Connected => authenticator
                .success(auth.properties.authentication_data.as_ref())
                .map_err(ConnectionError::Auth),
            reason => Err(ProtocolError::UnexpectedAuthReason(reason).into()),
        }
    }

    fn handle_publish(&mut self, mut publish: Publish) -> Result<(), ConnectionError> {
        // Topic alias [MQTT-3.3.2-10]: resolve or learn.
        if let Some(alias) = publish.properties().topic_alias {
            self.conn.aliases_in.apply(alias, &mut publish.topic)?;
        }
        match publish.qos {
            QosPid::AtMostOnce => {
                self.deliver(publish, None);
            }
            QosPid::AtLeastOnce(pid) => {
                self.check_receive_maximum()?;
                if self.opts.manual_acks {
                    let token = self.queue_ack(pid, QoS::AtLeastOnce);
                    self.conn.qos1_unacked += 1;
                    self.deliver(publish, Some(token));
                } else {
                    self.deliver(publish, None);
                    self.conn.tx.push_back(PubAck::new(pid).into());
                }
            }
            QosPid::ExactlyOnce(pid) => {
                // Exactly once: a packet identifier not yet released is a duplicate, answered
                // (once its PUBREC is due) but not delivered again.
                if let Some(&ack) = self.session.inbound_qos2.get(&pid) {
                    // Its PUBREC takes its place in arrival order [MQTT-4.6.0-3]: due now if
                    // the application has acknowledged the message, else when it does (with
                    // the token of the first delivery, from this or an earlier connection).
                    // One already queued for it (acknowledged or not) answers this one too:
                    // a second would never be acknowledged and would block the queue.
                    if self.conn.acks.qos2(pid).is_none() {
                        self.conn.acks.push(pid, QoS::ExactlyOnce, ack);
                        self.flush_acks();
                    }
                    return Ok(());
                }
                self.check_receive_maximum()?;
                if self.opts.manual_acks {
                    self.session.inbound_qos2.insert(pid, AppAck::Awaited);
                    let token = self.queue_ack(pid, QoS::ExactlyOnce);
                    self.deliver(publish, Some(token));
                } else {
                    self.session.inbound_qos2.insert(pid, AppAck::Given);
                    self.session
                        .record(|_| SessionChange::InboundQos2Held { packet_id: pid });
                    self.deliver(publish, None);
                    self.conn.tx.push_back(PubRec::new(pid).into());
                }
            }
        }
        Ok(())
    }

    fn deliver(&mut self, publish: Publish, ack: Option<AckToken>) {
        self.events
            .push_back(Event::Message(Delivery { publish, ack }));
    }

    /// [MQTT-3.3.4-9]: the server may not exceed our Receive Maximum (5.0).
    fn check_receive_maximum(&self) -> Result<(), ConnectionError> {
        let max = self.opts.receive_maximum.get();
        let unacked = self
            .session
            .inbound_qos2
            .len()
            .saturating_sub(self.conn.carried_qos2.len())
            + self.conn.qos1_unacked;
        if self.v5() && unacked >= usize::from(max) {
            return Err(ProtocolError::ReceiveMaximumExceeded(max).into());
        }
        Ok(())
    }

    fn queue_ack(&mut self, packet_id: PacketId, qos: QoS) -> AckToken {
        let seq = self.conn.acks.push(packet_id, qos, AppAck::Awaited);
        AckToken {
            generation: self.conn.generation,
            seq,
            packet_id,
            qos,
        }
    }

    /// Send the acknowledgements whose turn has come: in arrival order [MQTT-4.6.0-2],
    /// [MQTT-4.6.0-3].
    pub(crate) fn flush_acks(&mut self) {
        while let Some(a) = self.conn.acks.pop_given() {
            match a.qos {
                QoS::ExactlyOnce => {
                    self.session.give_inbound(a.packet_id);
                    self.conn.tx.push_back(PubRec::new(a.packet_id).into());
                }
                _ => {
                    self.conn.qos1_unacked = self.conn.qos1_unacked.saturating_sub(1);
                    self.conn.tx.push_back(PubAck::new(a.packet_id).into());
                }
            }
        }
    }

    fn handle_pubrel(&mut self, rel: PubRel) -> Result<(), ConnectionError> {
        let pid = rel.packet_id;
        match self.session.inbound_qos2.get(&pid) {
            Some(AppAck::Awaited) => {
                // PUBREL before our PUBREC (the application has not acknowledged yet).
                Err(ProtocolError::WrongAck {
                    packet: PacketType::PubRel,
                    id: pid,
                }
                .into())
            }
            Some(AppAck::Given) => {
                self.session.inbound_qos2.remove(&pid);
                self.session
                    .record(|_| SessionChange::InboundQos2Released { packet_id: pid });
                self.conn.carried_qos2.remove(&pid);
                self.conn.tx.push_back(PubComp::new(pid).into());
                Ok(())
            }
            None => {
                // Already released (a PUBREL resent after a reconnection), or never seen:
                // answer so the server can finish (5.0: Packet Identifier not found).
                let mut comp = PubComp::new(pid);
                if self.v5() {
                    comp.reason = PubRelReason::PacketIdentifierNotFound;
                }
                self.conn.tx.push_back(comp.into());
                Ok(())
            }
        }
    }
}
