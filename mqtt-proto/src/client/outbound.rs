//! What we send: SUBSCRIBE, UNSUBSCRIBE and PUBLISH under the server's limits, resends on a
//! resumed session, and the acknowledgements that complete them (PUBACK, PUBREC, PUBCOMP,
//! SUBACK, UNSUBACK).

use bytes::BytesMut;

use crate::client::aliases::Mapping;
use crate::client::event::{
    self, ConnectionError, Event, Limit, ProtocolError, PublishAck, RequestError, UnsubscribeAck,
};
use crate::client::persist::SessionChange;
use crate::client::request::{Origin, PublishRequest, SubKind, SubRequest};
use crate::client::session::{Outgoing, Stage};
use crate::client::state::ClientState;
use crate::codec::MAX_PACKET_SIZE;
use crate::error::EncodeError;
use crate::packet::property::{AckProperties, PublishProperties, SubscribeProperties};
use crate::packet::reason::{PubRelReason, SubAckReason, UnsubAckReason};
use crate::packet::{
    Packet, PubAck, PubComp, PubRec, PubRel, Publish, Subscribe, SubscribeFilter, UnsubAck,
    Unsubscribe,
};
use crate::topic::TopicName;
use crate::types::{PacketId, PacketType, QoS, QosPid};
use crate::wire::header_len;

impl ClientState {
    // ---- the server's limits ----

    pub(crate) fn check_publish(&self, req: &PublishRequest) -> Result<(), RequestError> {
        let server = &self.conn.server;
        if req.qos > server.maximum_qos {
            return Err(RequestError::NotAllowed(Limit::MaximumQoS(
                server.maximum_qos,
            )));
        }
        if req.retain && !server.retain_available {
            return Err(RequestError::NotAllowed(Limit::RetainNotAvailable));
        }
        // [MQTT-3.2.2-15]: nothing larger than the server's Maximum Packet Size goes out.
        // Measured without a topic alias; the encoder has the last word.
        let max = server.maximum_packet_size as usize;
        if max < MAX_PACKET_SIZE as usize {
            let size = self.publish_size(req);
            if size > max {
                return Err(RequestError::Encode(EncodeError::PacketTooLarge {
                    size,
                    max,
                }));
            }
        }
        Ok(())
    }

    /// The encoded size of the PUBLISH for `req`, fixed header included, without an alias.
    pub(crate) fn publish_size(&self, req: &PublishRequest) -> usize {
        let mut n = 2 + req.topic.len() + req.payload.len();
        if req.qos != QoS::AtMostOnce {
            n += 2;
        }
        if self.v5() {
            n += match &req.properties {
                None => 1,
                Some(p) if p.topic_alias.is_some() => {
                    let mut p = PublishProperties::clone(p);
                    p.topic_alias = None;
                    p.wire_len()
                }
                Some(p) => p.wire_len(),
            };
        }
        header_len(n) + n
    }

    pub(crate) fn check_subscribe(
        &self,
        subs: &[SubscribeFilter],
        props: &SubscribeProperties,
    ) -> Result<(), RequestError> {
        let server = &self.conn.server;
        if !server.wildcard_subscriptions && subs.iter().any(|s| s.filter.has_wildcards()) {
            return Err(RequestError::NotAllowed(
                Limit::WildcardSubscriptionsNotAvailable,
            ));
        }
        if !server.shared_subscriptions && subs.iter().any(|s| s.filter.is_shared()) {
            return Err(RequestError::NotAllowed(
                Limit::SharedSubscriptionsNotAvailable,
            ));
        }
        if !server.subscription_identifiers && props.subscription_identifier.is_some() {
            return Err(RequestError::NotAllowed(
                Limit::SubscriptionIdentifiersNotAvailable,
            ));
        }
        Ok(())
    }

    // ---- sending ----

    /// Encode a control packet. One the server's Maximum Packet Size cannot hold (an ack
    /// under an absurd limit, an AUTH with large data) ends the connection: the protocol
    /// cannot go on without it, and dropping it silently would stall a flow for good. A
    /// DISCONNECT that does not fit is dropped (the connection is closing anyway).
    pub(crate) fn encode_control(&mut self, packet: &Packet, buf: &mut BytesMut) {
        if let Err(error) = self.conn.encoder.encode(packet, buf) {
            let packet = packet.packet_type();
            if packet != PacketType::Disconnect {
                self.fail(ConnectionError::Unsendable { packet, error });
            }
        }
    }

    /// Send queued SUBSCRIBE and UNSUBSCRIBE requests, each with a packet identifier. They do
    /// not wait behind publishes held by the inflight limit [MQTT-3.3.4-8].
    pub(crate) fn send_requests(&mut self, buf: &mut BytesMut) {
        while let Some(mut r) = self.session.pending_requests.pop_front() {
            let pid = match r.packet_id {
                Some(pid) => pid,
                None => match self.session.ids.allocate() {
                    Some(pid) => pid,
                    None => {
                        self.session.pending_requests.push_front(r);
                        return;
                    }
                },
            };
            r.packet_id = Some(pid);
            let packet: Packet = match &r.kind {
                SubKind::Subscribe(subs, props) => {
                    if let Err(e) = self.check_subscribe(subs, props) {
                        self.session.ids.release(pid);
                        self.complete_request_error(r, e);
                        continue;
                    }
                    let mut p = Subscribe::new(pid, subs.clone());
                    p.properties = props.clone();
                    p.into()
                }
                SubKind::Unsubscribe(filters, props) => {
                    let mut p = Unsubscribe::new(pid, filters.clone());
                    p.properties = props.clone();
                    p.into()
                }
            };
            if let Err(e) = self.conn.encoder.encode(&packet, buf) {
                self.session.ids.release(pid);
                self.complete_request_error(r, RequestError::Encode(e));
                continue;
            }
            self.session.awaiting.insert(pid, r);
        }
    }

    /// Send queued publishes while the inflight limit and the packet identifiers allow.
    pub(crate) fn send_publishes(&mut self, buf: &mut BytesMut) {
        // Resends held back by the inflight limit go first, in their original order.
        while let Some(&(pid, seq)) = self.conn.resend.front() {
            let unsent = self.conn.resend.len();
            if self.session.outgoing.len().saturating_sub(unsent) >= self.inflight_limit() {
                return;
            }
            self.conn.resend.pop_front();
            let Some(o) = self.session.outgoing.get(pid) else {
                continue;
            };
            if o.seq != seq || o.stage != Stage::Published {
                continue;
            }
            let mut req = o.req.clone();
            let qos = QosPid::from_qos(req.qos, pid);
            if let Err(e) = self.write_publish(&mut req, qos, true, buf)
                && let Some(o) = self.session.complete(pid)
            {
                self.events.push_back(Event::Published {
                    id: o.id,
                    result: Err(e),
                });
            }
        }
        while let Some(p) = self.session.pending_publishes.front() {
            if let Err(e) = self.check_publish(&p.req) {
                if let Some(p) = self.session.pending_publishes.pop_front() {
                    if p.req.qos != QoS::AtMostOnce {
                        let id = p.id;
                        self.session.record(|_| SessionChange::Completed { id });
                    }
                    self.events.push_back(Event::Published {
                        id: p.id,
                        result: Err(e),
                    });
                }
                continue;
            }
            let qos = p.req.qos;
            let pid = if qos == QoS::AtMostOnce {
                None
            } else {
                if self.session.outgoing.len() >= self.inflight_limit() {
                    return;
                }
                match self.session.ids.allocate() {
                    Some(pid) => Some(pid),
                    None => return,
                }
            };
            let Some(mut p) = self.session.pending_publishes.pop_front() else {
                return;
            };
            let qos_pid = pid.map_or(QosPid::AtMostOnce, |pid| QosPid::from_qos(qos, pid));
            match self.write_publish(&mut p.req, qos_pid, false, buf) {
                Ok(()) => match pid {
                    None => self.events.push_back(Event::Published {
                        id: p.id,
                        result: Ok(PublishAck::at_most_once()),
                    }),
                    Some(pid) => {
                        let seq = self.session.next_seq();
                        let id = p.id;
                        self.session.record(|_| SessionChange::PublishSent {
                            id,
                            packet_id: pid,
                            seq,
                        });
                        self.session.outgoing.insert(
                            pid,
                            Outgoing {
                                id: p.id,
                                seq,
                                req: p.req,
                                stage: Stage::Published,
                            },
                        );
                    }
                },
                Err(e) => {
                    if let Some(pid) = pid {
                        self.session.ids.release(pid);
                        let id = p.id;
                        self.session.record(|_| SessionChange::Completed { id });
                    }
                    self.events.push_back(Event::Published {
                        id: p.id,
                        result: Err(e),
                    });
                }
            }
        }
    }

    /// Encode one PUBLISH, applying an outbound topic alias where allowed.
    fn write_publish(
        &mut self,
        req: &mut PublishRequest,
        qos: QosPid,
        dup: bool,
        buf: &mut BytesMut,
    ) -> Result<(), RequestError> {
        let asked = req.properties.as_ref().and_then(|p| p.topic_alias);
        let plan = if self.v5() {
            self.conn.aliases_out.plan(
                &req.topic,
                self.conn.server.topic_alias_maximum,
                asked,
                self.opts.outbound_topic_aliases,
            )
        } else {
            None
        };
        if plan.is_none() && asked.is_some() {
            // An alias the server does not allow [MQTT-3.3.2-9]: the topic goes instead.
            if let Some(p) = &mut req.properties {
                p.topic_alias = None;
                if p.is_empty() {
                    req.properties = None;
                }
            }
        }
        let Some(plan) = plan else {
            // The common case: lend the request's fields to a PUBLISH, encode it, and take
            // them back: no clone of topic, payload or properties.
            let publish = Publish {
                dup,
                qos,
                retain: req.retain,
                topic: std::mem::replace(&mut req.topic, TopicName::alias_only()),
                payload: std::mem::take(&mut req.payload),
                properties: req.properties.take(),
            };
            let result = self.conn.encoder.encode_publish(&publish, buf);
            req.topic = publish.topic;
            req.payload = publish.payload;
            req.properties = publish.properties;
            return result.map(drop).map_err(Into::into);
        };
        let mut publish = Publish::new(req.topic.clone(), qos, req.payload.clone());
        publish.dup = dup;
        publish.retain = req.retain;
        publish.properties.clone_from(&req.properties);
        publish.properties_mut().topic_alias = Some(plan.alias);
        if plan.mapping == Mapping::Known {
            publish.topic = TopicName::alias_only();
        }
        if let Err(e) = self.conn.encoder.encode_publish(&publish, buf) {
            if plan.mapping == Mapping::Known || !matches!(e, EncodeError::PacketTooLarge { .. }) {
                return Err(e.into());
            }
            // The alias property made it too large: send it without one.
            publish.properties_mut().topic_alias = None;
            if publish.properties.as_ref().is_some_and(|p| p.is_empty()) {
                publish.properties = None;
            }
            self.conn.encoder.encode_publish(&publish, buf)?;
            return Ok(());
        }
        self.conn.aliases_out.commit(plan, &req.topic);
        Ok(())
    }

    /// The server kept our session: resend unacknowledged PUBLISH with DUP, and PUBREL for
    /// those already received, in their original order [MQTT-4.4.0-1], [MQTT-4.6.0-1].
    pub(crate) fn resume_session(&mut self) {
        let mut order: Vec<(u64, PacketId)> = self
            .session
            .outgoing
            .iter()
            .map(|(pid, o)| (o.seq, *pid))
            .collect();
        order.sort_unstable();
        let mut resend = Vec::new();
        let mut release = Vec::new();
        let max = self.conn.server.maximum_packet_size as usize;
        // Publishes the server holds unacknowledged: those it sent PUBREC for, and those we
        // resend now. The rest waits for room [MQTT-3.3.4-7].
        let limit = self.inflight_limit();
        let mut in_flight = self
            .session
            .outgoing
            .iter()
            .filter(|(_, o)| o.stage != Stage::Published)
            .count();
        for (seq, pid) in order {
            let Some(o) = self.session.outgoing.get(pid) else {
                continue;
            };
            if let Stage::Released { order, .. } = o.stage {
                release.push((order, pid));
            } else if let Err(e) = self.check_publish(&o.req) {
                // The new CONNACK lowered Maximum QoS or withdrew Retain Available: resending
                // would break [MQTT-3.2.2-11] / [MQTT-3.2.2-14], so the request ends here.
                if let Some(o) = self.session.complete(pid) {
                    self.events.push_back(Event::Published {
                        id: o.id,
                        result: Err(e),
                    });
                }
            } else if self.publish_size(&o.req) > max {
                // The new connection's server accepts no packet this large
                // [MQTT-3.2.2-15]: the request ends here rather than never.
                let size = self.publish_size(&o.req);
                if let Some(o) = self.session.complete(pid) {
                    self.events.push_back(Event::Published {
                        id: o.id,
                        result: Err(RequestError::Encode(EncodeError::PacketTooLarge {
                            size,
                            max,
                        })),
                    });
                }
            } else if in_flight < limit && self.conn.resend.is_empty() {
                in_flight += 1;
                resend.push((pid, o.req.clone()));
            } else {
                self.conn.resend.push_back((pid, seq));
            }
        }
        // PUBREL in the order PUBREC arrived [MQTT-4.6.0-4].
        release.sort_unstable();
        for (_, pid) in release {
            self.conn.tx.push_back(PubRel::new(pid).into());
        }
        // PUBLISH resends go out with the control packets so they keep their order; the
        // encoder applies no alias to them (a fresh connection has none yet).
        for (pid, req) in resend {
            let mut publish = Publish::new(req.topic, QosPid::from_qos(req.qos, pid), req.payload);
            publish.dup = true;
            publish.retain = req.retain;
            publish.properties = req.properties;
            if let Some(p) = &mut publish.properties {
                p.topic_alias = None;
            }
            self.conn.tx.push_back(publish.into());
        }
    }

    // ---- acknowledgements of what we sent ----

    pub(crate) fn handle_puback(&mut self, ack: PubAck) -> Result<(), ConnectionError> {
        let pid = ack.packet_id;
        match self.session.outgoing.get(pid) {
            None => Err(ProtocolError::UnknownPacketId {
                packet: PacketType::PubAck,
                id: pid,
            }
            .into()),
            Some(o) if o.req.qos != QoS::AtLeastOnce => Err(ProtocolError::WrongAck {
                packet: PacketType::PubAck,
                id: pid,
            }
            .into()),
            Some(_) => {
                let Some(o) = self.complete_outgoing(pid) else {
                    return Ok(());
                };
                let result = if ack.reason.is_error() {
                    Err(RequestError::PublishRefused {
                        reason: ack.reason,
                        properties: ack.properties,
                    })
                } else {
                    Ok(PublishAck::new(Some(pid), ack.reason, ack.properties))
                };
                self.events.push_back(Event::Published { id: o.id, result });
                Ok(())
            }
        }
    }

    pub(crate) fn handle_pubrec(&mut self, rec: PubRec) -> Result<(), ConnectionError> {
        let pid = rec.packet_id;
        let v5 = self.v5();
        let Some(o) = self.session.outgoing.get(pid) else {
            // A PUBREC with a failure code ends the flow on the server's side: no PUBREL is
            // owed [MQTT-4.3.3-4], whatever the identifier.
            if rec.reason.is_error() {
                return Ok(());
            }
            // 5.0 §4.3.3: answer an unknown PUBREC with PUBREL, reason Packet Identifier not
            // found (3.1.1: a plain PUBREL), so the server can finish its side.
            let mut rel = PubRel::new(pid);
            if v5 {
                rel.reason = PubRelReason::PacketIdentifierNotFound;
            }
            self.conn.tx.push_back(rel.into());
            return Ok(());
        };
        if o.req.qos != QoS::ExactlyOnce {
            return Err(ProtocolError::WrongAck {
                packet: PacketType::PubRec,
                id: pid,
            }
            .into());
        }
        if rec.reason.is_error() {
            // The flow ends here: no PUBREL [MQTT-4.3.3-4]; the slot and identifier are free.
            let Some(o) = self.complete_outgoing(pid) else {
                return Ok(());
            };
            self.events.push_back(Event::Published {
                id: o.id,
                result: Err(RequestError::PublishRefused {
                    reason: rec.reason,
                    properties: rec.properties,
                }),
            });
            return Ok(());
        }
        // After PUBREC the PUBLISH is never sent again, only PUBREL.
        let order = self.session.next_seq();
        if let Some(o) = self.session.outgoing.get_mut(pid) {
            o.stage = Stage::Released {
                reason: rec.reason,
                order,
                generation: self.conn.generation,
            };
            let id = o.id;
            let reason = rec.reason;
            self.session.record(|_| SessionChange::Released {
                id,
                packet_id: pid,
                order,
                reason,
            });
        }
        self.conn.tx.push_back(PubRel::new(pid).into());
        Ok(())
    }

    pub(crate) fn handle_pubcomp(&mut self, comp: PubComp) -> Result<(), ConnectionError> {
        let pid = comp.packet_id;
        let stage = self.session.outgoing.get(pid).map(|o| o.stage);
        match stage {
            None => Err(ProtocolError::UnknownPacketId {
                packet: PacketType::PubComp,
                id: pid,
            }
            .into()),
            Some(Stage::Published) => Err(ProtocolError::WrongAck {
                packet: PacketType::PubComp,
                id: pid,
            }
            .into()),
            Some(Stage::Released {
                reason, generation, ..
            }) => {
                let Some(o) = self.complete_outgoing(pid) else {
                    return Ok(());
                };
                // 0x92 answering a PUBREL resent after a reconnection: the server released
                // the message before the connection dropped (5.0 §3.7.2.1: "not an error
                // during recovery").
                let recovered = comp.reason == PubRelReason::PacketIdentifierNotFound
                    && generation < self.conn.generation;
                let result = if comp.reason.is_error() && !recovered {
                    Err(RequestError::ReleaseFailed(comp.reason))
                } else {
                    Ok(PublishAck::new(Some(pid), reason, comp.properties))
                };
                self.events.push_back(Event::Published { id: o.id, result });
                Ok(())
            }
        }
    }

    /// A publish completed: it leaves the session and no longer waits to be resent.
    fn complete_outgoing(&mut self, pid: PacketId) -> Option<Outgoing> {
        if !self.conn.resend.is_empty() {
            self.conn.resend.retain(|&(p, _)| p != pid);
        }
        self.session.complete(pid)
    }

    pub(crate) fn handle_suback(
        &mut self,
        pid: PacketId,
        reasons: Vec<SubAckReason>,
        properties: AckProperties,
    ) -> Result<(), ConnectionError> {
        let unknown = ProtocolError::UnknownPacketId {
            packet: PacketType::SubAck,
            id: pid,
        };
        let Some(r) = self.session.awaiting.get(&pid) else {
            return Err(unknown.into());
        };
        let SubKind::Subscribe(subs, _) = &r.kind else {
            return Err(unknown.into());
        };
        if subs.len() != reasons.len() {
            return Err(ProtocolError::ReasonCountMismatch {
                packet: PacketType::SubAck,
                expected: subs.len(),
                got: reasons.len(),
            }
            .into());
        }
        let Some(r) = self.session.awaiting.remove(&pid) else {
            return Ok(());
        };
        self.session.ids.release(pid);
        let SubKind::Subscribe(subs, props) = r.kind else {
            return Ok(());
        };
        for (sub, reason) in subs.iter().zip(&reasons) {
            if !reason.is_error() {
                self.session
                    .subscriptions
                    .insert(sub.filter.clone(), (sub.clone(), props.clone()));
            }
        }
        self.session.record(|_| SessionChange::Subscribed {
            subscriptions: subs
                .iter()
                .zip(&reasons)
                .filter(|(_, r)| !r.is_error())
                .map(|(s, _)| s.clone())
                .collect(),
            properties: props.clone(),
        });
        let all_failed = reasons.iter().all(|r| r.is_error());
        let ack = event::subscribe_ack(pid, &subs, reasons, properties);
        let result = if all_failed {
            Err(RequestError::SubscribeRefused(Box::new(ack)))
        } else {
            Ok(ack)
        };
        self.events.push_back(match r.origin {
            Origin::Application(id) => Event::Subscribed { id, result },
            Origin::Resubscription => Event::Resubscribed(result),
        });
        Ok(())
    }

    pub(crate) fn handle_unsuback(&mut self, ack: UnsubAck) -> Result<(), ConnectionError> {
        let pid = ack.packet_id;
        let unknown = ProtocolError::UnknownPacketId {
            packet: PacketType::UnsubAck,
            id: pid,
        };
        let Some(r) = self.session.awaiting.get(&pid) else {
            return Err(unknown.into());
        };
        let SubKind::Unsubscribe(filters, _) = &r.kind else {
            return Err(unknown.into());
        };
        let reasons = if self.v5() {
            if filters.len() != ack.reasons.len() {
                return Err(ProtocolError::ReasonCountMismatch {
                    packet: PacketType::UnsubAck,
                    expected: filters.len(),
                    got: ack.reasons.len(),
                }
                .into());
            }
            ack.reasons
        } else {
            vec![UnsubAckReason::Success; filters.len()]
        };
        let Some(r) = self.session.awaiting.remove(&pid) else {
            return Ok(());
        };
        self.session.ids.release(pid);
        let SubKind::Unsubscribe(filters, _) = r.kind else {
            return Ok(());
        };
        for (f, reason) in filters.iter().zip(&reasons) {
            if !reason.is_error() {
                self.session.subscriptions.remove(f);
            }
        }
        self.session.record(|_| SessionChange::Unsubscribed {
            filters: filters
                .iter()
                .zip(&reasons)
                .filter(|(_, r)| !r.is_error())
                .map(|(f, _)| f.clone())
                .collect(),
        });
        if let Origin::Application(id) = r.origin {
            // A reason code of 0x80 or more is a failure: all of them failing fails the request.
            let all_failed = reasons.iter().all(|r| r.is_error());
            let ack = UnsubscribeAck::new(
                pid,
                filters.into_iter().zip(reasons).collect(),
                ack.properties,
            );
            let result = if all_failed {
                Err(RequestError::UnsubscribeRefused(Box::new(ack)))
            } else {
                Ok(ack)
            };
            self.events.push_back(Event::Unsubscribed { id, result });
        }
        Ok(())
    }

    pub(crate) fn complete_request_error(&mut self, r: SubRequest, e: RequestError) {
        let event = match (&r.kind, r.origin) {
            (SubKind::Subscribe(..), Origin::Application(id)) => {
                Event::Subscribed { id, result: Err(e) }
            }
            (SubKind::Subscribe(..), Origin::Resubscription) => Event::Resubscribed(Err(e)),
            (SubKind::Unsubscribe(..), Origin::Application(id)) => {
                Event::Unsubscribed { id, result: Err(e) }
            }
            (SubKind::Unsubscribe(..), Origin::Resubscription) => return,
        };
        self.events.push_back(event);
    }
}
