//! What the state machine reports: events, request results and the errors that end
//! connections and requests.

use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::packet::property::{AckProperties, ConnAckProperties, DisconnectProperties};
use crate::packet::reason::{
    AuthReason, ConnectReason, DisconnectReason, PubAckReason, PubRelReason, SubAckReason,
    UnsubAckReason,
};
use crate::packet::{Publish, SubscribeFilter};
use crate::topic::TopicFilter;
use crate::types::{PacketId, PacketType, QoS};

/// Identifies one request (publish, subscribe, unsubscribe) from the command that made it to
/// the event that completes it. Unique for the life of a [`ClientState`](super::ClientState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The request id with this number: for a store reading back a persisted publish's id
    /// (ids a client hands out start at 1).
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Something the application must know. Poll with
/// [`ClientState::poll_event`](super::ClientState::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected(Box<Connected>),
    /// The connection ended: write what [`poll_transmit`](super::ClientState::poll_transmit)
    /// still gives (a DISCONNECT, on 5.0), then close the transport. Requests survive for the
    /// next connection.
    Disconnected(ConnectionError),
    /// An inbound application message.
    Message(Delivery),
    /// A publish request ended: on QoS 0 once handed over for transmission, on QoS 1 at
    /// PUBACK, on QoS 2 at PUBCOMP.
    Published {
        /// The request.
        id: RequestId,
        /// Its outcome.
        result: Result<PublishAck, RequestError>,
    },
    /// A subscribe request ended (SUBACK).
    Subscribed {
        /// The request.
        id: RequestId,
        /// Its outcome: one result per filter, in order.
        result: Result<SubscribeAck, RequestError>,
    },
    /// An unsubscribe request ended (UNSUBACK).
    Unsubscribed {
        /// The request.
        id: RequestId,
        /// Its outcome.
        result: Result<UnsubscribeAck, RequestError>,
    },
    /// The server had no session for us, so our subscriptions were sent again; this is the
    /// SUBACK for them.
    Resubscribed(Result<SubscribeAck, RequestError>),
}

/// What CONNACK said, once a connection is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connected {
    /// The server had a session for us.
    pub session_present: bool,
    /// The CONNACK properties (5.0): assigned client identifier, server limits, response
    /// information...
    pub properties: ConnAckProperties,
}

/// An inbound application message as the server delivered it: the PUBLISH and, with manual
/// acknowledgements, the acknowledgement owed for it. (`mqtt_client::Message` is the
/// application's view of one; this is the state machine's.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The PUBLISH, with its topic alias resolved.
    pub publish: Publish,
    /// With manual acknowledgements, the token to pass to
    /// [`ClientState::ack`](super::ClientState::ack) for QoS 1 and 2.
    pub ack: Option<AckToken>,
}

/// The acknowledgement owed for one inbound QoS 1 or 2 message (manual acknowledgements).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckToken {
    pub(crate) generation: u64,
    pub(crate) seq: u64,
    pub(crate) packet_id: PacketId,
    pub(crate) qos: QoS,
}

impl AckToken {
    /// The packet identifier of the message.
    pub const fn packet_id(&self) -> PacketId {
        self.packet_id
    }
}

/// The broker's acknowledgement of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishAck {
    /// The packet identifier used (QoS 1 and 2).
    pub packet_id: Option<PacketId>,
    /// The reason code of PUBACK or PUBREC (a success: below 0x80).
    pub reason: PubAckReason,
    /// Reason string and user properties of the PUBACK, or of the PUBCOMP for QoS 2.
    pub properties: AckProperties,
}

impl PublishAck {
    /// An acknowledgement with these fields (for drivers and test doubles; fields added
    /// later take their defaults).
    pub fn new(
        packet_id: Option<PacketId>,
        reason: PubAckReason,
        properties: AckProperties,
    ) -> Self {
        Self {
            packet_id,
            reason,
            properties,
        }
    }

    /// What a QoS 0 publish completes with once handed over: no packet identifier, Success,
    /// no properties (the server acknowledges nothing at QoS 0).
    pub fn at_most_once() -> Self {
        Self::new(None, PubAckReason::Success, AckProperties::default())
    }
}

/// The broker's answer to a subscribe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeAck {
    /// The packet identifier used.
    pub packet_id: PacketId,
    /// Each filter with its granted QoS or failure, in request order.
    pub results: Vec<(TopicFilter, SubAckReason)>,
    /// SUBACK properties.
    pub properties: AckProperties,
}

impl SubscribeAck {
    /// An answer with these fields (for drivers and test doubles; fields added later take
    /// their defaults).
    pub fn new(
        packet_id: PacketId,
        results: Vec<(TopicFilter, SubAckReason)>,
        properties: AckProperties,
    ) -> Self {
        Self {
            packet_id,
            results,
            properties,
        }
    }
}

/// The broker's answer to an unsubscribe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnsubscribeAck {
    /// The packet identifier used.
    pub packet_id: PacketId,
    /// Each filter with its result (5.0; on 3.1.1 every filter is reported a success).
    pub results: Vec<(TopicFilter, UnsubAckReason)>,
    /// UNSUBACK properties.
    pub properties: AckProperties,
}

impl UnsubscribeAck {
    /// An answer with these fields (for drivers and test doubles; fields added later take
    /// their defaults).
    pub fn new(
        packet_id: PacketId,
        results: Vec<(TopicFilter, UnsubAckReason)>,
        properties: AckProperties,
    ) -> Self {
        Self {
            packet_id,
            results,
            properties,
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The broker refused the publish with a PUBACK or PUBREC reason code of 0x80 or more.
    #[error("publish refused: {reason}")]
    PublishRefused {
        /// The reason code.
        reason: PubAckReason,
        /// Reason string and user properties.
        properties: AckProperties,
    },
    /// PUBCOMP reported a failure (5.0 reason code 0x92, Packet Identifier not found).
    #[error("QoS 2 release failed: {0}")]
    ReleaseFailed(PubRelReason),
    /// Every filter of a subscribe failed; [`SubscribeAck`] reports partial failures.
    #[error("subscribe refused")]
    SubscribeRefused(Box<SubscribeAck>),
    /// Every filter of an unsubscribe failed (5.0 UNSUBACK reason codes of 0x80 or more);
    /// [`UnsubscribeAck`] reports partial failures.
    #[error("unsubscribe refused")]
    UnsubscribeRefused(Box<UnsubscribeAck>),
    /// The server lost our session before the request completed, and the session-loss
    /// policy says not to republish [MQTT-3.2.2-5].
    #[error("the server lost the session before the request completed")]
    SessionLost,
    /// The request breaks a limit the server announced in CONNACK (5.0): nothing was sent.
    #[error("not allowed by the server: {0}")]
    NotAllowed(Limit),
    /// The packet could not be encoded (too large for the server, a field too long...).
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    /// A request with nothing in it (no topic filter).
    #[error("empty request: at least one topic filter is needed")]
    Empty,
    /// The client was shut down with [`ClientState::disconnect`](super::ClientState::disconnect)
    /// before the request completed.
    #[error("the client is closed")]
    Closed,
    /// A QoS 0 publish was handed over for transmission, but the connection ended before
    /// the write holding it completed: it is not known to have been sent (part of it may
    /// have gone out), and is not sent again (QoS 0 is at most once). Reported by a driver that tracks its writes; [`ClientState`](super::ClientState)
    /// itself never does.
    #[error("the connection ended before the message was written")]
    NotSent,
}

/// A server limit a request would break (5.0 CONNACK properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The QoS exceeds the server's Maximum QoS [MQTT-3.2.2-11].
    MaximumQoS(QoS),
    /// Retain is not available [MQTT-3.2.2-14].
    RetainNotAvailable,
    /// Wildcard subscriptions are not available.
    WildcardSubscriptionsNotAvailable,
    /// Shared subscriptions are not available.
    SharedSubscriptionsNotAvailable,
    /// Subscription identifiers are not available.
    SubscriptionIdentifiersNotAvailable,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MaximumQoS(q) => write!(f, "maximum QoS is {q}"),
            Self::RetainNotAvailable => f.write_str("retain is not available"),
            Self::WildcardSubscriptionsNotAvailable => f.write_str("no wildcard subscriptions"),
            Self::SharedSubscriptionsNotAvailable => f.write_str("no shared subscriptions"),
            Self::SubscriptionIdentifiersNotAvailable => f.write_str("no subscription identifiers"),
        }
    }
}

/// Who ended a connection, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// CONNACK refused the connection.
    #[error("connection refused: {reason}")]
    Refused {
        /// The return code (3.1.1) or reason code (5.0).
        reason: ConnectReason,
        /// Server Reference for "use another server" / "server moved" (5.0).
        server_reference: Option<ByteString>,
        /// Reason String (5.0).
        reason_string: Option<ByteString>,
    },
    /// No CONNACK within the connect timeout (`ClientOptions::connect_timeout`, given here):
    /// the limit on the wait for the server's answer to CONNECT. Apart from
    /// [`KeepAliveTimeout`](Self::KeepAliveTimeout), which fires on a connection already up.
    #[error("no CONNACK within the connect timeout ({})", secs(*.0))]
    ConnectTimeout(std::time::Duration),
    /// No packet arrived within the ping timeout after PINGREQ (keepalive, on a connection
    /// CONNACK had accepted).
    #[error("keepalive timeout: no PINGRESP")]
    KeepAliveTimeout,
    /// The server sent bytes that are not a valid packet.
    #[error("malformed packet from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The server broke the protocol with a well-formed packet.
    #[error("protocol error by the server: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server sent DISCONNECT (5.0).
    #[error("disconnected by the server: {reason}")]
    ServerDisconnect {
        /// Its reason code.
        reason: DisconnectReason,
        /// Its properties (reason string, server reference...).
        properties: Box<DisconnectProperties>,
    },
    /// The transport closed or failed.
    #[error("the connection was closed")]
    TransportClosed,
    /// We disconnected ([`ClientState::disconnect`](super::ClientState::disconnect)).
    #[error("disconnected by the client")]
    ClientDisconnect,
    /// The CONNECT built from the options cannot be encoded (a password without a user name
    /// on 3.1.1, a field over 65,535 bytes...): nothing was sent.
    #[error("invalid CONNECT: {0}")]
    InvalidConnect(EncodeError),
    /// A packet the protocol requires us to send (an acknowledgement, AUTH...) cannot be
    /// encoded within the server's limits (its Maximum Packet Size).
    #[error("cannot send {packet}: {error}")]
    Unsendable {
        /// The packet.
        packet: PacketType,
        /// Why it cannot be encoded.
        error: EncodeError,
    },
    /// Enhanced authentication failed.
    #[error("authentication failed: {0}")]
    Auth(String),
}

/// A duration as people write it: `5 s`, `1.5 s`, `250 ms`.
fn secs(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else if d < std::time::Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// A well-formed packet that the server had no business sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A packet only a client sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ).
    #[error("{0} is not sent to a client")]
    ClientOnlyPacket(PacketType),
    /// A packet other than CONNACK (or AUTH during authentication) before CONNACK
    /// [MQTT-3.2.0-1] (5.0: [MQTT-3.14.0-1] for DISCONNECT).
    #[error("{0} before CONNACK")]
    BeforeConnAck(PacketType),
    /// A second CONNACK.
    #[error("second CONNACK")]
    SecondConnAck,
    /// An acknowledgement for a packet identifier we have nothing outstanding on
    /// [MQTT-2.2.1-5], [MQTT-2.2.1-6].
    #[error("{packet} for unknown packet identifier {id}")]
    UnknownPacketId {
        /// The acknowledgement.
        packet: PacketType,
        /// Its packet identifier.
        id: PacketId,
    },
    /// A PUBACK for a QoS 2 publish, or a PUBREC for a QoS 1 one.
    #[error("{packet} does not fit the QoS of publish {id}")]
    WrongAck {
        /// The acknowledgement.
        packet: PacketType,
        /// Its packet identifier.
        id: PacketId,
    },
    /// A SUBACK or UNSUBACK whose reason count differs from the request's filter count.
    #[error("{packet} has {got} reason codes for {expected} topic filters")]
    ReasonCountMismatch {
        /// SUBACK or UNSUBACK.
        packet: PacketType,
        /// Filters in the request.
        expected: usize,
        /// Reason codes received.
        got: usize,
    },
    /// Session Present 1 although we asked for a clean start [MQTT-3.2.2-2], [MQTT-3.2.2-4].
    #[error("session present after a clean start [MQTT-3.2.2-4]")]
    SessionPresentOnCleanStart,
    /// Session Present 1 on a refused connection [MQTT-3.2.2-6].
    #[error("session present on a refused connection [MQTT-3.2.2-6]")]
    SessionPresentOnRefusal,
    /// Topic Alias 0 or above our Topic Alias Maximum [MQTT-3.3.2-10].
    #[error("topic alias {0} out of range [MQTT-3.3.2-10]")]
    TopicAliasOutOfRange(u16),
    /// A Topic Alias with an empty topic that no earlier PUBLISH of this connection mapped.
    #[error("unknown topic alias {0}")]
    UnknownTopicAlias(u16),
    /// More unacknowledged QoS 1 and 2 messages than our Receive Maximum [MQTT-3.3.4-9].
    #[error("more than receive maximum ({0}) unacknowledged inbound messages")]
    ReceiveMaximumExceeded(u16),
    /// AUTH although CONNECT named no authentication method [MQTT-4.12.0-6].
    #[error("AUTH without an authentication method in CONNECT [MQTT-4.12.0-6]")]
    UnexpectedAuth,
    /// AUTH with a reason code a client does not expect at this point (Success before
    /// CONNACK, Re-authenticate from the server) (5.0 §4.12).
    #[error("unexpected AUTH reason {0}")]
    UnexpectedAuthReason(AuthReason),
    /// AUTH or CONNACK naming another authentication method than CONNECT's [MQTT-4.12.0-5].
    #[error("AUTH with a different authentication method [MQTT-4.12.0-5]")]
    AuthMethodMismatch,
    /// A CONNACK with an Assigned Client Identifier although CONNECT named one: the server
    /// assigns an identifier only for a zero-length one (5.0 §3.2.2.3.7).
    #[error("Assigned Client Identifier in CONNACK although CONNECT gave one")]
    UnexpectedAssignedClientId,
}

impl ProtocolError {
    /// The reason code of the DISCONNECT that closes the connection over this error (5.0).
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::TopicAliasOutOfRange(_) => DisconnectReason::TopicAliasInvalid,
            Self::ReceiveMaximumExceeded(_) => DisconnectReason::ReceiveMaximumExceeded,
            _ => DisconnectReason::ProtocolError,
        }
    }
}

/// Subscriptions as requested, kept with their request for the SUBACK.
pub(crate) fn subscribe_ack(
    packet_id: PacketId,
    subs: &[SubscribeFilter],
    reasons: Vec<SubAckReason>,
    properties: AckProperties,
) -> SubscribeAck {
    SubscribeAck {
        packet_id,
        results: subs.iter().map(|s| s.filter.clone()).zip(reasons).collect(),
        properties,
    }
}
