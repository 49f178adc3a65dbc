//! What a durable store keeps of a session (issue 12): the changes the state machine reports
//! ([`SessionChange`], from [`ClientState::poll_persist`](crate::client::ClientState::poll_persist)),
//! and the whole persisted state they add up to ([`PersistedSession`], which
//! [`ClientState::restore`](crate::client::ClientState::restore) rebuilds a client from).
//!
//! No I/O here: a store (in memory, or on disk in `mqtt-store`) applies the changes in
//! batches, one atomic commit per batch, and loads a [`PersistedSession`] back. The rules for
//! the driver are on [`ClientState::poll_persist`](crate::client::ClientState::poll_persist).
//!
//! What is kept, and why:
//! - outbound QoS 1 and 2 publishes from the moment `publish` accepts them until their final
//!   acknowledgement (or failure), with their stage: queued, sent under a packet identifier
//!   (resent with DUP after a restart), or released (PUBREC received: PUBREL is continued, the
//!   PUBLISH never sent again). QoS 0 is at most once and is never persisted;
//! - inbound QoS 2 packet identifiers between the PUBREC we owe or sent (the application has
//!   acknowledged the message) and the server's PUBREL, so that a PUBLISH the server resends
//!   after a restart is not delivered a second time. A message delivered with manual acks and
//!   not acknowledged yet is not kept: after a restart it is delivered again;
//! - the subscriptions granted, for resubscription if the server lost the session;
//! - whose session it is ([`SessionMeta`]).

use bytestring::ByteString;

use crate::client::event::RequestId;
use crate::client::request::PublishRequest;
use crate::packet::SubscribeFilter;
use crate::packet::property::SubscribeProperties;
use crate::packet::reason::PubAckReason;
use crate::topic::TopicFilter;
use crate::types::{PacketId, ProtocolVersion, QoS};

/// One change to a persisted session. A store applies a batch of them as one atomic commit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionChange {
    /// A new session begins: whatever was stored is dropped, and this is whose it is.
    New(SessionMeta),
    /// Whose session it is changed (the server accepted it, or assigned the client id).
    Meta(SessionMeta),
    /// A QoS 1 or 2 publish was accepted: it is queued, with no packet identifier yet.
    PublishAccepted {
        /// The request (its completion event carries this id).
        id: RequestId,
        /// What to publish.
        request: PublishRequest,
    },
    /// A queued publish was sent under this packet identifier, `seq` in send order.
    PublishSent {
        /// The request.
        id: RequestId,
        /// Its packet identifier, now in use.
        packet_id: PacketId,
        /// Its place in send order (the order of resending [MQTT-4.6.0-1]).
        seq: u64,
    },
    /// PUBREC arrived for a QoS 2 publish: PUBREL is owed, the PUBLISH is never sent again.
    Released {
        /// The request.
        id: RequestId,
        /// Its packet identifier.
        packet_id: PacketId,
        /// When PUBREC arrived, in the same numbering as send order: PUBRELs are resent in
        /// this order [MQTT-4.6.0-4].
        order: u64,
        /// The PUBREC's reason (a success code).
        reason: PubAckReason,
    },
    /// A publish in flight went back to the queue, its packet identifier freed (the server
    /// lost the session and the policy republishes it).
    Requeued {
        /// The request.
        id: RequestId,
    },
    /// A publish ended (acknowledged, refused, failed or abandoned): it leaves the session.
    Completed {
        /// The request.
        id: RequestId,
    },
    /// An inbound QoS 2 message is acknowledged (its PUBREC is sent or owed): a PUBLISH with
    /// this packet identifier is a duplicate until the server's PUBREL.
    InboundQos2Held {
        /// The server's packet identifier.
        packet_id: PacketId,
    },
    /// The server's PUBREL released an inbound QoS 2 packet identifier.
    InboundQos2Released {
        /// The server's packet identifier.
        packet_id: PacketId,
    },
    /// Filters were granted, with the properties of the SUBSCRIBE that asked for them.
    Subscribed {
        /// The granted subscriptions (a filter already stored is replaced).
        subscriptions: Vec<SubscribeFilter>,
        /// The SUBSCRIBE's properties.
        properties: SubscribeProperties,
    },
    /// Filters were unsubscribed.
    Unsubscribed {
        /// The filters.
        filters: Vec<TopicFilter>,
    },
    /// The server had no session for us (CONNACK session present 0): the inbound QoS 2
    /// identifiers are forgotten. Publishes in flight are requeued or completed by their own
    /// changes; subscriptions stay, for resubscription.
    SessionLost,
}

/// Whose session it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMeta {
    /// The client identifier (the server-assigned one, once known).
    pub client_id: ByteString,
    /// The protocol the session speaks.
    pub protocol: ProtocolVersion,
    /// The Session Expiry Interval asked for (5.0), seconds.
    pub expiry_interval: u32,
    /// Whether a server has accepted a connection of this session: a restored session then
    /// asks to resume it (clean start 0 on 5.0).
    pub established: bool,
}

/// How far a persisted publish has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundState {
    /// Accepted, not sent: sent as a new message (new packet identifier, DUP clear).
    Queued,
    /// Sent, PUBACK or PUBREC awaited: resent with DUP under the same identifier.
    Sent {
        /// Its packet identifier.
        packet_id: PacketId,
        /// Send order.
        seq: u64,
    },
    /// PUBREC received (QoS 2): PUBREL is continued.
    Released {
        /// Its packet identifier.
        packet_id: PacketId,
        /// Send order.
        seq: u64,
        /// When PUBREC arrived (same numbering as `seq`).
        order: u64,
        /// The PUBREC's reason.
        reason: PubAckReason,
    },
}

impl OutboundState {
    /// The packet identifier, once sent.
    pub fn packet_id(&self) -> Option<PacketId> {
        match *self {
            Self::Queued => None,
            Self::Sent { packet_id, .. } | Self::Released { packet_id, .. } => Some(packet_id),
        }
    }
}

/// One outbound QoS 1 or 2 publish of a persisted session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedPublish {
    /// Its request id: a restored client completes it with an event carrying this id.
    pub id: RequestId,
    /// What to publish.
    pub request: PublishRequest,
    /// How far it has got.
    pub state: OutboundState,
}

/// A whole persisted session, in canonical order (so two equal sessions compare equal):
/// publishes by request id, inbound identifiers ascending, subscriptions by filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedSession {
    /// Whose session it is.
    pub meta: SessionMeta,
    /// Outbound QoS 1 and 2 publishes not completed, by request id.
    pub outbound: Vec<PersistedPublish>,
    /// Inbound QoS 2 packet identifiers awaiting PUBREL, ascending.
    pub inbound_qos2: Vec<PacketId>,
    /// Granted subscriptions, by filter.
    pub subscriptions: Vec<(SubscribeFilter, SubscribeProperties)>,
}

/// A persisted session breaks a rule a live session never breaks: what
/// [`PersistedSession::validate`] reports, and what a store loading such a session returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSession {
    /// Request ids must be non-zero, unique and ascending.
    #[error("request id {0} is zero, repeated or out of order")]
    RequestIdOrder(u64),
    /// QoS 0 publishes are never persisted.
    #[error("publish {0} is QoS 0")]
    AtMostOnce(u64),
    /// Only QoS 2 publishes are released.
    #[error("publish {0} is released but not QoS 2")]
    ReleasedNotExactlyOnce(u64),
    /// A PUBREC with a failure code ends the flow: it is never a released state.
    #[error("publish {0} is released with the failure reason {1:?}")]
    ReleasedWithFailure(u64, PubAckReason),
    /// Two publishes in flight under one packet identifier [MQTT-2.2.1-3].
    #[error("packet identifier {0} is used by two publishes in flight")]
    DuplicatePacketId(u16),
    /// Send and PUBREC order numbers are non-zero and distinct.
    #[error("order number {0} is zero or repeated")]
    OrderNumber(u64),
    /// A PUBREC cannot arrive before its PUBLISH was sent.
    #[error("publish {0} was released before it was sent")]
    ReleasedBeforeSent(u64),
    /// A Topic Alias or Subscription Identifier is never part of a request.
    #[error("publish {0} carries a Topic Alias or Subscription Identifier")]
    ForbiddenProperty(u64),
    /// Inbound identifiers must be unique and ascending.
    #[error("inbound QoS 2 packet identifier {0} repeated or out of order")]
    InboundOrder(u16),
    /// Subscriptions must be unique and ordered by filter.
    #[error("subscription {0} repeated or out of order")]
    SubscriptionOrder(String),
}

impl PersistedSession {
    /// An empty session.
    pub fn new(meta: SessionMeta) -> Self {
        Self {
            meta,
            outbound: Vec::new(),
            inbound_qos2: Vec::new(),
            subscriptions: Vec::new(),
        }
    }

    /// Check the invariants of a live session: unique and ordered request ids, QoS 1 or 2
    /// only, no two publishes in flight under one packet identifier, release only of QoS 2
    /// and with a success code, distinct order numbers, unique inbound identifiers and
    /// filters. Every packet identifier in use is in exactly one publish, so the pool rebuilt
    /// from a valid session never has one both free and in use.
    pub fn validate(&self) -> Result<(), InvalidSession> {
        let mut last = 0u64;
        let mut pids = std::collections::BTreeSet::new();
        let mut orders = std::collections::BTreeSet::new();
        for p in &self.outbound {
            let id = p.id.get();
            if id <= last {
                return Err(InvalidSession::RequestIdOrder(id));
            }
            last = id;
            if p.request.qos == QoS::AtMostOnce {
                return Err(InvalidSession::AtMostOnce(id));
            }
            if p.request.properties.as_ref().is_some_and(|pr| {
                pr.topic_alias.is_some() || !pr.subscription_identifiers.is_empty()
            }) {
                return Err(InvalidSession::ForbiddenProperty(id));
            }
            let (packet_id, numbers) = match p.state {
                OutboundState::Queued => continue,
                OutboundState::Sent { packet_id, seq } => (packet_id, [Some(seq), None]),
                OutboundState::Released {
                    packet_id,
                    seq,
                    order,
                    reason,
                } => {
                    if p.request.qos != QoS::ExactlyOnce {
                        return Err(InvalidSession::ReleasedNotExactlyOnce(id));
                    }
                    if reason.is_error() {
                        return Err(InvalidSession::ReleasedWithFailure(id, reason));
                    }
                    if order <= seq {
                        return Err(InvalidSession::ReleasedBeforeSent(id));
                    }
                    (packet_id, [Some(seq), Some(order)])
                }
            };
            if !pids.insert(packet_id) {
                return Err(InvalidSession::DuplicatePacketId(packet_id.get()));
            }
            for n in numbers.into_iter().flatten() {
                if n == 0 || !orders.insert(n) {
                    return Err(InvalidSession::OrderNumber(n));
                }
            }
        }
        for w in self.inbound_qos2.windows(2) {
            if w[0] >= w[1] {
                return Err(InvalidSession::InboundOrder(w[1].get()));
            }
        }
        for w in self.subscriptions.windows(2) {
            if w[0].0.filter >= w[1].0.filter {
                return Err(InvalidSession::SubscriptionOrder(
                    w[1].0.filter.as_str().to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// Apply one change, as a store does (this is the in-memory store's whole logic, and the
    /// reference a file-backed store is tested against). `New` replaces the session; a change
    /// naming a publish that is not there changes nothing.
    pub fn apply(&mut self, change: &SessionChange) {
        match change {
            SessionChange::New(meta) => *self = Self::new(meta.clone()),
            SessionChange::Meta(meta) => self.meta = meta.clone(),
            SessionChange::PublishAccepted { id, request } => {
                let p = PersistedPublish {
                    id: *id,
                    request: request.clone(),
                    state: OutboundState::Queued,
                };
                match self.outbound.binary_search_by_key(id, |p| p.id) {
                    Ok(i) => self.outbound[i] = p,
                    Err(i) => self.outbound.insert(i, p),
                }
            }
            SessionChange::PublishSent { id, packet_id, seq } => {
                if let Some(p) = self.publish_mut(*id) {
                    p.state = OutboundState::Sent {
                        packet_id: *packet_id,
                        seq: *seq,
                    };
                }
            }
            SessionChange::Released {
                id,
                packet_id,
                order,
                reason,
            } => {
                if let Some(p) = self.publish_mut(*id) {
                    let seq = match p.state {
                        OutboundState::Sent { seq, .. } | OutboundState::Released { seq, .. } => {
                            seq
                        }
                        OutboundState::Queued => 0,
                    };
                    p.state = OutboundState::Released {
                        packet_id: *packet_id,
                        seq,
                        order: *order,
                        reason: *reason,
                    };
                }
            }
            SessionChange::Requeued { id } => {
                if let Some(p) = self.publish_mut(*id) {
                    p.state = OutboundState::Queued;
                }
            }
            SessionChange::Completed { id } => {
                if let Ok(i) = self.outbound.binary_search_by_key(id, |p| p.id) {
                    self.outbound.remove(i);
                }
            }
            SessionChange::InboundQos2Held { packet_id } => {
                if let Err(i) = self.inbound_qos2.binary_search(packet_id) {
                    self.inbound_qos2.insert(i, *packet_id);
                }
            }
            SessionChange::InboundQos2Released { packet_id } => {
                if let Ok(i) = self.inbound_qos2.binary_search(packet_id) {
                    self.inbound_qos2.remove(i);
                }
            }
            SessionChange::Subscribed {
                subscriptions,
                properties,
            } => {
                for s in subscriptions {
                    let entry = (s.clone(), properties.clone());
                    match self
                        .subscriptions
                        .binary_search_by(|(e, _)| e.filter.cmp(&s.filter))
                    {
                        Ok(i) => self.subscriptions[i] = entry,
                        Err(i) => self.subscriptions.insert(i, entry),
                    }
                }
            }
            SessionChange::Unsubscribed { filters } => {
                self.subscriptions
                    .retain(|(s, _)| !filters.contains(&s.filter));
            }
            SessionChange::SessionLost => self.inbound_qos2.clear(),
        }
    }

    fn publish_mut(&mut self, id: RequestId) -> Option<&mut PersistedPublish> {
        let i = self.outbound.binary_search_by_key(&id, |p| p.id).ok()?;
        self.outbound.get_mut(i)
    }
}

/// Why a persisted session cannot be restored into a client with these options.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The session breaks an invariant.
    #[error("invalid persisted session: {0}")]
    Invalid(#[from] InvalidSession),
    /// The options name another client identifier.
    #[error("the stored session belongs to client id {stored:?}, the options name {options:?}")]
    ClientIdMismatch {
        /// The stored session's.
        stored: ByteString,
        /// The options'.
        options: ByteString,
    },
    /// The options ask for another protocol version.
    #[error("the stored session speaks {stored:?}, the options ask for {options:?}")]
    ProtocolMismatch {
        /// The stored session's.
        stored: ProtocolVersion,
        /// The options'.
        options: ProtocolVersion,
    },
}
