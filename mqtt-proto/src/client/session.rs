//! The session: what survives a reconnection, and what a durable store will persist
//! (issue 12). Everything that belongs to one transport is in
//! [`Connection`](crate::client::connection::Connection) instead, which `connect` replaces
//! wholesale.
//!
//! MQTT's session state on the client (3.1.1 §4.1, 5.0 §4.1) is: QoS 1 and 2 messages sent
//! and not completely acknowledged, QoS 2 messages received and not completely acknowledged,
//! and (ours, for resubscription) the subscriptions granted. Around it: the packet-id pool
//! those use, the requests queued for the next connection, and whose session it is (client
//! identifier, protocol, Session Expiry Interval).

use std::collections::{BTreeMap, VecDeque};

use bytestring::ByteString;

use crate::client::event::RequestId;
use crate::client::ids::{Inflight, PacketIdPool};
use crate::client::options::ClientOptions;
use crate::client::persist::{
    OutboundState, PersistedPublish, PersistedSession, RestoreError, SessionChange, SessionMeta,
};
use crate::client::request::{Origin, PendingPublish, PublishRequest, SubKind, SubRequest};
use crate::packet::SubscribeFilter;
use crate::packet::property::SubscribeProperties;
use crate::packet::reason::PubAckReason;
use crate::topic::TopicFilter;
use crate::types::{PacketId, ProtocolVersion, QoS};

/// One client session: see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Session {
    /// The client identifier: the options', or the one the server assigned (5.0).
    pub(crate) client_id: ByteString,
    /// The protocol the session speaks.
    pub(crate) protocol: ProtocolVersion,
    /// The Session Expiry Interval CONNECT asks for (5.0), in seconds; 0 ends the session
    /// with its connection.
    pub(crate) expiry_interval: u32,
    /// Whether a server has accepted a connection of this session yet.
    pub(crate) status: SessionStatus,
    /// The connection (its generation) on which the server's copy of this session began:
    /// manual-ack tokens from earlier connections belong to a session that is gone.
    pub(crate) began_on: u64,
    /// Packet identifiers in use, shared by PUBLISH, SUBSCRIBE and UNSUBSCRIBE
    /// [MQTT-2.2.1-3].
    pub(crate) ids: PacketIdPool,
    next_request: u64,
    /// Orders sends and PUBRECs, for resending in the original order [MQTT-4.6.0-1],
    /// [MQTT-4.6.0-4].
    next_seq: u64,
    /// Publishes accepted but not yet sent, in order.
    pub(crate) pending_publishes: VecDeque<PendingPublish>,
    /// Subscribe and unsubscribe requests not yet sent (or to send again), in order.
    pub(crate) pending_requests: VecDeque<SubRequest>,
    /// QoS 1 and 2 publishes sent and not yet completed, with their stage, in send order.
    pub(crate) outgoing: Inflight<Outgoing>,
    /// Subscribe and unsubscribe requests sent and awaiting SUBACK or UNSUBACK.
    pub(crate) awaiting: BTreeMap<PacketId, SubRequest>,
    /// Filters subscribed (granted), for resubscription: filter -> (options, properties).
    pub(crate) subscriptions: BTreeMap<TopicFilter, (SubscribeFilter, SubscribeProperties)>,
    /// Inbound QoS 2 packet identifiers not yet released by PUBREL, with whether their
    /// PUBREC is sent or owed (the application acknowledged) [MQTT-4.3.3-8].
    pub(crate) inbound_qos2: BTreeMap<PacketId, AppAck>,
    /// Whether changes are recorded for a durable store ([`ClientOptions::persist`]).
    persist: bool,
    /// Changes not yet taken by the driver, in order.
    pub(crate) changes: VecDeque<SessionChange>,
}

/// Whether the session is known to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionStatus {
    /// No connection accepted yet: the first CONNECT asks for the options' clean start.
    Unconfirmed,
    /// A server accepted a connection of this session: on 5.0 later CONNECTs ask to resume
    /// it (clean start 0), since clean start asks for a new session.
    Established,
}

/// Whether the application has acknowledged an inbound QoS 1 or 2 message (with automatic
/// acknowledgements, at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppAck {
    /// Delivered with an [`AckToken`](crate::client::event::AckToken), not yet acknowledged.
    Awaited,
    /// Acknowledged: its PUBACK or PUBREC is sent, or due in its turn.
    Given,
}

/// A QoS 1 or 2 publish sent and not yet completed.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) id: RequestId,
    /// Send order: the order of resending [MQTT-4.6.0-1].
    pub(crate) seq: u64,
    pub(crate) req: PublishRequest,
    pub(crate) stage: Stage,
}

/// How far a QoS 1 or 2 publish has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// PUBLISH sent; PUBACK (QoS 1) or PUBREC (QoS 2) awaited. A resumed session sends it
    /// again with DUP.
    Published,
    /// PUBREC arrived (QoS 2): PUBREL is owed, the PUBLISH is never sent again.
    Released {
        /// The PUBREC's reason (the PUBCOMP's properties are the ones reported).
        reason: PubAckReason,
        /// When PUBREC arrived (in send-order numbering): PUBRELs are resent in that order
        /// [MQTT-4.6.0-4].
        order: u64,
        /// The connection PUBREC arrived on: a PUBCOMP 0x92 on a later one answers a
        /// PUBREL resent in recovery, which is not an error (5.0 §3.7.2.1).
        generation: u64,
    },
}

impl Session {
    /// A new session for these options, unknown to any server.
    pub(crate) fn new(opts: &ClientOptions) -> Self {
        Self {
            client_id: opts.client_id.clone(),
            protocol: opts.protocol,
            expiry_interval: opts.session_expiry_interval,
            status: SessionStatus::Unconfirmed,
            began_on: 0,
            ids: PacketIdPool::new(),
            next_request: 0,
            next_seq: 0,
            pending_publishes: VecDeque::new(),
            pending_requests: VecDeque::new(),
            outgoing: Inflight::default(),
            awaiting: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            inbound_qos2: BTreeMap::new(),
            persist: opts.persist,
            changes: VecDeque::new(),
        }
    }

    /// Record a change for the durable store: built only when persistence is on, so that
    /// with it off (the default) nothing is cloned and nothing is kept.
    #[inline]
    pub(crate) fn record(&mut self, change: impl FnOnce(&Self) -> SessionChange) {
        if self.persist {
            let c = change(self);
            self.changes.push_back(c);
        }
    }

    /// Whose session this is.
    pub(crate) fn meta(&self) -> SessionMeta {
        SessionMeta {
            client_id: self.client_id.clone(),
            protocol: self.protocol,
            expiry_interval: self.expiry_interval,
            established: self.status == SessionStatus::Established,
        }
    }

    /// Everything a durable store holds of this session, as it is now.
    pub(crate) fn snapshot(&self) -> PersistedSession {
        let mut s = PersistedSession::new(self.meta());
        for (pid, o) in self.outgoing.iter() {
            if o.req.qos == QoS::AtMostOnce {
                continue;
            }
            let state = match o.stage {
                Stage::Published => OutboundState::Sent {
                    packet_id: *pid,
                    seq: o.seq,
                },
                Stage::Released { reason, order, .. } => OutboundState::Released {
                    packet_id: *pid,
                    seq: o.seq,
                    order,
                    reason,
                },
            };
            s.outbound.push(PersistedPublish {
                id: o.id,
                request: o.req.clone(),
                state,
            });
        }
        for p in &self.pending_publishes {
            if p.req.qos != QoS::AtMostOnce {
                s.outbound.push(PersistedPublish {
                    id: p.id,
                    request: p.req.clone(),
                    state: OutboundState::Queued,
                });
            }
        }
        s.outbound.sort_unstable_by_key(|p| p.id);
        s.inbound_qos2 = self
            .inbound_qos2
            .iter()
            .filter(|(_, ack)| **ack == AppAck::Given)
            .map(|(pid, _)| *pid)
            .collect();
        s.subscriptions = self.subscriptions.values().cloned().collect();
        s
    }

    /// A session rebuilt from a persisted one: publishes in flight keep their packet
    /// identifiers and stages (resent with DUP, or continued with PUBREL, on the next
    /// connection that finds the server's session), queued ones wait in request order,
    /// inbound QoS 2 identifiers are held as acknowledged, and subscriptions are kept for
    /// resubscription. Request ids and order numbers continue after the largest restored.
    pub(crate) fn restore(
        opts: &ClientOptions,
        persisted: PersistedSession,
    ) -> Result<Self, RestoreError> {
        persisted.validate()?;
        let meta = persisted.meta;
        if meta.protocol != opts.protocol {
            return Err(RestoreError::ProtocolMismatch {
                stored: meta.protocol,
                options: opts.protocol,
            });
        }
        if !opts.client_id.is_empty() && opts.client_id != meta.client_id {
            return Err(RestoreError::ClientIdMismatch {
                stored: meta.client_id,
                options: opts.client_id.clone(),
            });
        }
        let mut s = Self::new(opts);
        s.client_id = meta.client_id;
        if meta.established {
            s.status = SessionStatus::Established;
        }
        let mut in_flight = Vec::new();
        for p in persisted.outbound {
            s.next_request = s.next_request.max(p.id.get());
            let (pid, seq, stage) = match p.state {
                OutboundState::Queued => {
                    s.pending_publishes.push_back(PendingPublish {
                        id: p.id,
                        req: p.request,
                    });
                    continue;
                }
                OutboundState::Sent { packet_id, seq } => (packet_id, seq, Stage::Published),
                OutboundState::Released {
                    packet_id,
                    seq,
                    order,
                    reason,
                } => {
                    s.next_seq = s.next_seq.max(order);
                    let stage = Stage::Released {
                        reason,
                        order,
                        // Before any connection of this client: a PUBCOMP 0x92 answering the
                        // resent PUBREL is recovery, not an error.
                        generation: 0,
                    };
                    (packet_id, seq, stage)
                }
            };
            s.next_seq = s.next_seq.max(seq);
            s.ids.reserve(pid);
            in_flight.push((
                pid,
                Outgoing {
                    id: p.id,
                    seq,
                    req: p.request,
                    stage,
                },
            ));
        }
        // The in-flight list is in send order (the resend order).
        in_flight.sort_unstable_by_key(|(_, o)| o.seq);
        for (pid, o) in in_flight {
            s.outgoing.insert(pid, o);
        }
        s.inbound_qos2 = persisted
            .inbound_qos2
            .into_iter()
            .map(|pid| (pid, AppAck::Given))
            .collect();
        s.subscriptions = persisted
            .subscriptions
            .into_iter()
            .map(|(sub, props)| (sub.filter.clone(), (sub, props)))
            .collect();
        Ok(s)
    }

    /// The application acknowledged an inbound QoS 2 message: its PUBREC is owed, and a
    /// resent PUBLISH is a duplicate until PUBREL.
    pub(crate) fn give_inbound(&mut self, pid: PacketId) {
        if let Some(ack) = self.inbound_qos2.get_mut(&pid)
            && *ack == AppAck::Awaited
        {
            *ack = AppAck::Given;
            self.record(|_| SessionChange::InboundQos2Held { packet_id: pid });
        }
    }

    /// A new request identifier.
    pub(crate) fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// The next number in send order.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// A publish completed (or failed): it leaves the session and its identifier is free.
    pub(crate) fn complete(&mut self, pid: PacketId) -> Option<Outgoing> {
        let o = self.outgoing.remove(pid)?;
        self.ids.release(pid);
        self.record(|_| SessionChange::Completed { id: o.id });
        Some(o)
    }

    /// Subscribe and unsubscribe requests in flight go out again on the next connection,
    /// ahead of those not yet sent, keeping their packet identifiers.
    pub(crate) fn requeue_awaiting(&mut self) {
        let awaiting = std::mem::take(&mut self.awaiting);
        for (_, r) in awaiting.into_iter().rev() {
            self.pending_requests.push_front(r);
        }
    }

    /// The server has no session for us [MQTT-3.2.2-5]: forget what it held (inbound QoS 2
    /// state, resubscriptions still queued from an earlier loss) and hand over the publishes
    /// in flight, in send order, their identifiers freed.
    pub(crate) fn lose(&mut self, generation: u64) -> Vec<Outgoing> {
        self.began_on = generation;
        self.inbound_qos2.clear();
        self.record(|_| SessionChange::SessionLost);
        let mut lost: Vec<Outgoing> = std::mem::take(&mut self.outgoing)
            .into_iter()
            .map(|(pid, o)| {
                self.ids.release(pid);
                o
            })
            .collect();
        lost.sort_unstable_by_key(|o| o.seq);
        // Resubscriptions still queued from an earlier session loss are replaced by this
        // one's, with their packet identifiers freed: they must not pile up across reconnects.
        let ids = &mut self.ids;
        self.pending_requests.retain(|r| {
            if r.origin != Origin::Resubscription {
                return true;
            }
            if let Some(pid) = r.packet_id {
                ids.release(pid);
            }
            false
        });
        lost
    }

    /// Queue SUBSCRIBEs for every granted subscription, ahead of other requests: one per
    /// distinct property set (a subscription identifier applies to a whole SUBSCRIBE).
    pub(crate) fn queue_resubscription(&mut self) {
        let mut groups: Vec<(SubscribeProperties, Vec<SubscribeFilter>)> = Vec::new();
        for (sub, props) in self.subscriptions.values() {
            match groups.iter_mut().find(|(p, _)| p == props) {
                Some((_, subs)) => subs.push(sub.clone()),
                None => groups.push((props.clone(), vec![sub.clone()])),
            }
        }
        for (props, subs) in groups.into_iter().rev() {
            self.pending_requests.push_front(SubRequest {
                origin: Origin::Resubscription,
                packet_id: None,
                kind: SubKind::Subscribe(subs, props),
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::packet::property::UnsubscribeProperties;
    use crate::topic::TopicName;

    fn session() -> Session {
        Session::new(&ClientOptions::new(ProtocolVersion::V5, "c"))
    }

    fn send(s: &mut Session, qos: QoS) -> PacketId {
        let pid = s.ids.allocate().unwrap();
        let id = s.request_id();
        let seq = s.next_seq();
        let req = PublishRequest::new(TopicName::new("t").unwrap(), qos, "x");
        s.outgoing.insert(
            pid,
            Outgoing {
                id,
                seq,
                req,
                stage: Stage::Published,
            },
        );
        pid
    }

    fn request(s: &mut Session, origin: Origin) -> SubRequest {
        SubRequest {
            origin,
            packet_id: s.ids.allocate(),
            kind: SubKind::Unsubscribe(
                vec![TopicFilter::new("f").unwrap()],
                UnsubscribeProperties::default(),
            ),
        }
    }

    #[test]
    fn a_lost_session_hands_over_its_publishes_in_send_order_and_frees_their_ids() {
        let mut s = session();
        let a = send(&mut s, QoS::AtLeastOnce);
        let b = send(&mut s, QoS::ExactlyOnce);
        s.inbound_qos2
            .insert(PacketId::new(500).unwrap(), AppAck::Given);
        let id = s.request_id();
        let mine = request(&mut s, Origin::Application(id));
        let resub = request(&mut s, Origin::Resubscription);
        s.pending_requests.extend([mine, resub]);
        assert_eq!(s.ids.in_use(), 4);

        let lost = s.lose(3);

        assert_eq!(s.began_on, 3);
        assert_eq!(lost.iter().map(|o| o.seq).collect::<Vec<_>>(), [1, 2]);
        assert!(s.outgoing.get(a).is_none() && s.outgoing.get(b).is_none());
        assert!(s.inbound_qos2.is_empty());
        // The application's request stays (with its identifier); the resubscription goes.
        assert_eq!(s.pending_requests.len(), 1);
        assert_eq!(
            s.pending_requests[0].origin,
            Origin::Application(id),
            "only queued resubscriptions are replaced"
        );
        assert_eq!(s.ids.in_use(), 1);
    }

    #[test]
    fn requests_in_flight_go_back_ahead_of_queued_ones_with_their_ids() {
        let mut s = session();
        let first = request(&mut s, Origin::Resubscription);
        let second = request(&mut s, Origin::Resubscription);
        let queued = request(&mut s, Origin::Resubscription);
        let ids: Vec<_> = [&first, &second, &queued]
            .iter()
            .map(|r| r.packet_id.unwrap())
            .collect();
        s.awaiting.insert(ids[0], first);
        s.awaiting.insert(ids[1], second);
        s.pending_requests.push_back(queued);

        s.requeue_awaiting();

        assert!(s.awaiting.is_empty());
        let order: Vec<_> = s.pending_requests.iter().map(|r| r.packet_id).collect();
        assert_eq!(order, ids.into_iter().map(Some).collect::<Vec<_>>());
    }
}
