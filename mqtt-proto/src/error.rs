//! Codec errors: malformed bytes from the peer ([`DecodeError`]) and packets that may not be
//! put on the wire ([`EncodeError`]). Each names the rule it enforces.

use crate::packet::reason::DisconnectReason;
use crate::topic::TopicError;
use crate::types::{PacketType, PropertyId, ProtocolVersion};

/// Why bytes from the peer could not be decoded into a packet.
///
/// Every variant is fatal for the connection: the receiver must close it (on MQTT 5.0 after a
/// DISCONNECT with [`DecodeError::disconnect_reason`]). Decoding never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A variable byte integer (remaining length, property length, property identifier or
    /// subscription identifier) ran over four bytes, or used more bytes than its value
    /// needs [MQTT-1.5.5-1].
    #[error(
        "malformed variable byte integer: more than 4 bytes or not minimally encoded [MQTT-1.5.5-1]"
    )]
    MalformedVarInt,
    /// The packet is larger than the receiver's maximum packet size. Detected from the fixed
    /// header, before the body is buffered.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// The size the fixed header announced (fixed header included).
        size: usize,
        /// The limit in force.
        max: u32,
    },
    /// Packet type 0, or 15 (AUTH) before MQTT 5.0.
    #[error("reserved packet type {0} for {1}")]
    ReservedPacketType(u8, ProtocolVersion),
    /// The fixed header's flag bits are not the value the packet type requires [MQTT-2.1.3-1].
    #[error("invalid fixed header flags {flags:#06b} for {packet} [MQTT-2.1.3-1]")]
    InvalidFlags {
        /// The packet type.
        packet: PacketType,
        /// The low nibble that was received.
        flags: u8,
    },
    /// A PUBLISH (or will) with both QoS bits set [MQTT-3.3.1-4].
    #[error("QoS 3 is not a valid QoS [MQTT-3.3.1-4]")]
    InvalidQoS,
    /// Packet identifier 0 where one is required [MQTT-2.2.1-3].
    #[error("packet identifier 0 in {0} [MQTT-2.2.1-3]")]
    ZeroPacketId(PacketType),
    /// A UTF-8 string field is not well-formed UTF-8 (surrogates included) [MQTT-1.5.4-1].
    #[error("ill-formed UTF-8 string [MQTT-1.5.4-1]")]
    InvalidUtf8,
    /// A UTF-8 string field contains U+0000 [MQTT-1.5.4-2].
    #[error("string contains U+0000 [MQTT-1.5.4-2]")]
    NullCharacter,
    /// An invalid topic name or topic filter (wildcards in a PUBLISH topic [MQTT-3.3.2-2],
    /// empty names, misplaced wildcards...).
    #[error("invalid topic: {0}")]
    Topic(#[from] TopicError),
    /// A SUBSCRIBE with no topic filter [MQTT-3.8.3-2].
    #[error("SUBSCRIBE without any topic filter [MQTT-3.8.3-2]")]
    EmptySubscribe,
    /// An UNSUBSCRIBE with no topic filter [MQTT-3.10.3-2].
    #[error("UNSUBSCRIBE without any topic filter [MQTT-3.10.3-2]")]
    EmptyUnsubscribe,
    /// Subscription options with reserved bits set, QoS 3 or Retain Handling 3
    /// [MQTT-3.8.3-5] (3.1.1: [MQTT-3-8.3-4]).
    #[error("invalid subscription options {0:#010b} [MQTT-3.8.3-5]")]
    InvalidSubscriptionOptions(u8),
    /// A property identifier that MQTT 5.0 does not define.
    #[error("unknown property identifier 0x{0:02X}")]
    UnknownProperty(u32),
    /// A property that this packet may not carry (5.0 §2.2.2.2).
    #[error("property {property:?} is not allowed in {packet}")]
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// The packet that carried it.
        packet: PacketType,
    },
    /// A property that may appear once appeared twice (5.0 §3.x.2.2: "It is a Protocol Error to
    /// include ... more than once").
    #[error("property {0:?} given more than once")]
    DuplicateProperty(PropertyId),
    /// A property with a value the specification forbids (Receive Maximum 0, Topic Alias 0,
    /// a boolean other than 0 or 1, Maximum QoS 2...).
    #[error("invalid value for property {0:?}")]
    InvalidPropertyValue(PropertyId),
    /// A length field runs past the end of the packet, or a field is missing.
    #[error("{0} is truncated: a field runs past the end of the packet")]
    Truncated(PacketType),
    /// Bytes left over after the last field of a packet.
    #[error("{packet} has {count} trailing bytes after its last field")]
    TrailingBytes {
        /// The packet type.
        packet: PacketType,
        /// How many bytes were left.
        count: usize,
    },
    /// A CONNECT whose protocol name is neither `MQTT` nor `MQIsdp`, or does not fit its
    /// level [MQTT-3.1.2-1].
    #[error("invalid protocol name in CONNECT [MQTT-3.1.2-1]")]
    InvalidProtocolName,
    /// A CONNECT with a protocol level this codec does not speak [MQTT-3.1.2-2].
    #[error("unsupported protocol level {0} [MQTT-3.1.2-2]")]
    UnsupportedProtocolLevel(u8),
    /// A CONNECT with its reserved flag set [MQTT-3.1.2-3].
    #[error("CONNECT reserved flag set [MQTT-3.1.2-3]")]
    ConnectReservedFlag,
    /// Will QoS or Will Retain set without the Will Flag [MQTT-3.1.2-11], [MQTT-3.1.2-13].
    #[error("will QoS or retain set without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13]")]
    InvalidWillFlags,
    /// A password without a user name, before MQTT 5.0 (3.1.1 [MQTT-3.1.2-22]).
    #[error("password flag set without user name flag (3.1.1 [MQTT-3.1.2-22])")]
    PasswordWithoutUsername,
    /// A reason code that this packet may not carry [MQTT-3.2.2-8] (and peers).
    #[error("invalid reason code 0x{code:02X} in {packet}")]
    InvalidReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The code received.
        code: u8,
    },
    /// CONNACK acknowledge flags with reserved bits set [MQTT-3.2.2-1].
    #[error("CONNACK reserved flag bits set [MQTT-3.2.2-1]")]
    ConnAckReservedFlags,
    /// A PUBLISH with an empty topic and no Topic Alias [MQTT-3.3.2-1], [MQTT-4.7.3-1].
    #[error("PUBLISH with an empty topic name and no topic alias [MQTT-4.7.3-1]")]
    EmptyTopicWithoutAlias,
    /// No Local set on a shared subscription [MQTT-3.8.3-4].
    #[error("No Local set on a shared subscription [MQTT-3.8.3-4]")]
    NoLocalOnSharedSubscription,
    /// Authentication Data without an Authentication Method (5.0 §3.1.2.11.10, §3.2.2.3.18,
    /// §3.15.2.2.3).
    #[error("Authentication Data without an Authentication Method")]
    AuthenticationDataWithoutMethod,
}

impl DecodeError {
    /// The MQTT 5.0 reason code to put in the DISCONNECT (or CONNACK) that closes a
    /// connection over this error (5.0 §4.13): Malformed Packet for bytes that cannot be
    /// parsed, Protocol Error for well-formed but forbidden content, Packet too large for the
    /// size limit.
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::PacketTooLarge { .. } => DisconnectReason::PacketTooLarge,
            // 5.0 §3.8.3 / §3.10.3: no payload, a Maximum QoS or Retain Handling of 3, are
            // Protocol Errors; only the reserved bits are malformed [MQTT-3.8.3-5].
            Self::InvalidSubscriptionOptions(byte) if *byte & 0xC0 == 0 => {
                DisconnectReason::ProtocolError
            }
            // Packet identifier 0 parses: it is forbidden content [MQTT-2.2.1-3], [MQTT-2.2.1-4],
            // so a Protocol Error (5.0 §1.2), not a Malformed Packet.
            Self::ZeroPacketId(_)
            | Self::DuplicateProperty(_)
            | Self::InvalidPropertyValue(_)
            | Self::ReservedPacketType(..)
            | Self::UnsupportedProtocolLevel(_)
            | Self::EmptyTopicWithoutAlias
            | Self::EmptySubscribe
            | Self::EmptyUnsubscribe
            | Self::NoLocalOnSharedSubscription
            | Self::AuthenticationDataWithoutMethod => DisconnectReason::ProtocolError,
            Self::Topic(TopicError::WildcardInTopicName) => DisconnectReason::TopicNameInvalid,
            _ => DisconnectReason::MalformedPacket,
        }
    }
}

/// Why a packet could not be encoded: the specification forbids what it asks for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded packet would exceed the peer's maximum packet size [MQTT-3.2.2-15],
    /// [MQTT-3.1.2-24], or the protocol's limit of 268,435,455 bytes of remaining length.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A string or binary field longer than 65,535 bytes [MQTT-1.5.4-1].
    #[error("a string or binary field of {0} bytes exceeds 65,535 bytes")]
    FieldTooLong(usize),
    /// A field the chosen protocol version cannot carry (properties, reason codes or options
    /// of MQTT 5.0 on 3.1.1, AUTH on 3.1.1...).
    #[error("{what} cannot be sent with {version}")]
    NotInVersion {
        /// What was asked for.
        what: &'static str,
        /// The version in use.
        version: ProtocolVersion,
    },
    /// A QoS 0 PUBLISH with DUP set [MQTT-3.3.1-2].
    #[error("DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]")]
    DupOnQoS0,
    /// A PUBLISH with an empty topic name and no topic alias [MQTT-4.7.3-1].
    #[error("PUBLISH with an empty topic name and no topic alias [MQTT-4.7.3-1]")]
    EmptyTopicWithoutAlias,
    /// A SUBSCRIBE or UNSUBSCRIBE with no topic filter [MQTT-3.8.3-2], [MQTT-3.10.3-2].
    #[error("{0} needs at least one topic filter [MQTT-3.8.3-2] [MQTT-3.10.3-2]")]
    NoTopicFilters(PacketType),
    /// A password without a user name, which MQTT 3.1.1 forbids (3.1.1 [MQTT-3.1.2-22]).
    #[error("password without user name (3.1.1 [MQTT-3.1.2-22])")]
    PasswordWithoutUsername,
    /// A property value the specification forbids (Maximum QoS 2, a subscription
    /// identifier over 268,435,455...).
    #[error("invalid value for property {0:?}")]
    InvalidPropertyValue(PropertyId),
    /// No Local set on a shared subscription [MQTT-3.8.3-4].
    #[error("No Local set on a shared subscription [MQTT-3.8.3-4]")]
    NoLocalOnSharedSubscription,
    /// Authentication Data without an Authentication Method (5.0 §3.1.2.11.10).
    #[error("Authentication Data without an Authentication Method")]
    AuthenticationDataWithoutMethod,
    /// A string to send contains U+0000 [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-2]).
    #[error("string contains U+0000 [MQTT-1.5.4-2]")]
    NullCharacter,
    /// An empty client identifier without clean session, which 3.1 and 3.1.1 forbid the
    /// client (3.1.1 [MQTT-3.1.3-7]). Raised by the client state machine, not the codec: a
    /// server must be able to decode (and refuse) such a CONNECT, and the codec keeps
    /// encoding whatever it decodes.
    #[error("empty client identifier requires clean session (3.1.1 [MQTT-3.1.3-7])")]
    EmptyClientIdWithoutCleanSession,
}
