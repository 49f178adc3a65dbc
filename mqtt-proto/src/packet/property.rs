//! MQTT 5.0 properties (§2.2.2): one struct per packet kind, each holding only the properties
//! that packet may carry. Decoding rejects unknown identifiers, properties the packet may not
//! carry, a property given twice where it may appear once, and values the specification
//! forbids.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::topic::{TopicError, TopicName};
use crate::types::{PacketType, QoS};
use crate::wire::{
    check_field_len, check_string, put_binary, put_varint, read_binary, read_string,
    read_topic_name, read_u8, read_u16, read_u32, read_varint, varint_len,
};

pub use crate::types::PropertyId;

/// A subscription identifier: 1 to 268,435,455 (5.0 §3.8.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(NonZeroU32);

impl SubscriptionId {
    /// The largest subscription identifier.
    pub const MAX: u32 = 268_435_455;

    /// A subscription identifier, if `v` is in 1..=268,435,455.
    pub const fn new(v: u32) -> Option<Self> {
        if v > Self::MAX {
            return None;
        }
        match NonZeroU32::new(v) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The value.
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

/// A user property: a name and a value, both UTF-8 strings (5.0 §3.1.2.11.8). Order and
/// repetition are preserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserProperty {
    /// The name.
    pub name: ByteString,
    /// The value.
    pub value: ByteString,
}

impl UserProperty {
    /// A user property.
    pub fn new(name: impl Into<ByteString>, value: impl Into<ByteString>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// How one property value is read and written.
pub(crate) trait PropValue: Sized {
    fn read(b: &mut Bytes, id: PropertyId, p: PacketType) -> Result<Self, DecodeError>;
    /// Bytes after the identifier.
    fn len(&self) -> usize;
    fn put(&self, buf: &mut BytesMut);
    fn validate(&self, _id: PropertyId) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl PropValue for bool {
    fn read(b: &mut Bytes, id: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        match read_u8(b, p)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn len(&self) -> usize {
        1
    }
    fn put(&self, buf: &mut BytesMut) {
        buf.put_u8(u8::from(*self));
    }
}

/// Maximum QoS: 0 or 1 only; absent means 2 (5.0 §3.2.2.3.4).
impl PropValue for QoS {
    fn read(b: &mut Bytes, id: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        match read_u8(b, p)? {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn len(&self) -> usize {
        1
    }
    fn put(&self, buf: &mut BytesMut) {
        buf.put_u8(*self as u8);
    }
    fn validate(&self, id: PropertyId) -> Result<(), EncodeError> {
        if *self == QoS::ExactlyOnce {
            return Err(EncodeError::InvalidPropertyValue(id));
        }
        Ok(())
    }
}

impl PropValue for u16 {
    fn read(b: &mut Bytes, _: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        read_u16(b, p)
    }
    fn len(&self) -> usize {
        2
    }
    fn put(&self, buf: &mut BytesMut) {
        buf.put_u16(*self);
    }
}

impl PropValue for NonZeroU16 {
    fn read(b: &mut Bytes, id: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        NonZeroU16::new(read_u16(b, p)?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn len(&self) -> usize {
        2
    }
    fn put(&self, buf: &mut BytesMut) {
        buf.put_u16(self.get());
    }
}

impl PropValue for u32 {
    fn read(b: &mut Bytes, _: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        read_u32(b, p)
    }
    fn len(&self) -> usize {
        4
    }
    fn put(&self, buf: &mut BytesMut) {
        buf.put_u32(*self);
    }
}

impl PropValue for NonZeroU32 {
    fn read(b: &mut Bytes, id: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        NonZeroU32::new(read_u32(b, p)?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn len(&self) -> usize {
        4
    }
    fn put(&self, buf: &mut BytesMut) {
        buf.put_u32(self.get());
    }
}

impl PropValue for SubscriptionId {
    fn read(b: &mut Bytes, id: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        SubscriptionId::new(read_varint(b, p)?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn len(&self) -> usize {
        varint_len(self.get() as usize)
    }
    fn put(&self, buf: &mut BytesMut) {
        put_varint(buf, self.get() as usize);
    }
}

impl PropValue for ByteString {
    fn read(b: &mut Bytes, _: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        read_string(b, p)
    }
    fn len(&self) -> usize {
        2 + self.as_bytes().len()
    }
    fn put(&self, buf: &mut BytesMut) {
        put_binary(buf, self.as_bytes());
    }
    fn validate(&self, _: PropertyId) -> Result<(), EncodeError> {
        check_string(self)
    }
}

impl PropValue for Bytes {
    fn read(b: &mut Bytes, _: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        read_binary(b, p)
    }
    fn len(&self) -> usize {
        2 + Bytes::len(self)
    }
    fn put(&self, buf: &mut BytesMut) {
        put_binary(buf, self);
    }
    fn validate(&self, _: PropertyId) -> Result<(), EncodeError> {
        check_field_len(Bytes::len(self))
    }
}

/// Response Topic: a topic name, no wildcards [MQTT-3.3.2-14].
impl PropValue for TopicName {
    fn read(b: &mut Bytes, id: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        let t = match read_topic_name(b, p) {
            // A wildcard here is a bad property value (a Protocol Error), not a bad Topic Name
            // of the packet (which DISCONNECT 0x90 would report).
            Err(DecodeError::Topic(TopicError::WildcardInTopicName)) => {
                return Err(DecodeError::InvalidPropertyValue(id));
            }
            t => t?,
        };
        if t.is_empty() {
            return Err(DecodeError::InvalidPropertyValue(id));
        }
        Ok(t)
    }
    fn len(&self) -> usize {
        2 + TopicName::len(self)
    }
    fn put(&self, buf: &mut BytesMut) {
        put_binary(buf, self.as_str().as_bytes());
    }
    fn validate(&self, id: PropertyId) -> Result<(), EncodeError> {
        if self.is_empty() {
            return Err(EncodeError::InvalidPropertyValue(id));
        }
        check_field_len(TopicName::len(self))
    }
}

impl PropValue for UserProperty {
    fn read(b: &mut Bytes, _: PropertyId, p: PacketType) -> Result<Self, DecodeError> {
        let name = read_string(b, p)?;
        let value = read_string(b, p)?;
        Ok(Self { name, value })
    }
    fn len(&self) -> usize {
        4 + self.name.as_bytes().len() + self.value.as_bytes().len()
    }
    fn put(&self, buf: &mut BytesMut) {
        put_binary(buf, self.name.as_bytes());
        put_binary(buf, self.value.as_bytes());
    }
    fn validate(&self, _: PropertyId) -> Result<(), EncodeError> {
        check_string(&self.name)?;
        check_string(&self.value)
    }
}

/// Declares a property struct: `Option` fields for properties allowed once, `Vec` fields
/// (after the `;`) for those that may repeat.
macro_rules! properties {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $id:ident, )*
            ;
            $( $(#[$mmeta:meta])* $mfield:ident : $mty:ty = $mid:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            $( $(#[$mmeta])* pub $mfield: Vec<$mty>, )*
        }

        impl $name {
            /// No properties (usable in `const` and `static` items).
            pub const EMPTY: Self = Self {
                $( $field: None, )*
                $( $mfield: Vec::new(), )*
            };

            /// Whether no property is set (encodes as a property length of 0
            /// [MQTT-2.2.2-1]).
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )* $( && self.$mfield.is_empty() )*
            }

            /// Read a property length and the properties it covers.
            pub(crate) fn read(b: &mut Bytes, p: PacketType) -> Result<Self, DecodeError> {
                let len = read_varint(b, p)? as usize;
                if b.len() < len {
                    return Err(DecodeError::Truncated(p));
                }
                let mut props = Self::default();
                if len == 0 {
                    return Ok(props);
                }
                let mut b = b.split_to(len);
                while !b.is_empty() {
                    let raw = read_varint(&mut b, p)?;
                    let id = PropertyId::from_u32(raw).ok_or(DecodeError::UnknownProperty(raw))?;
                    match id {
                        $(
                            PropertyId::$id => {
                                if props.$field.is_some() {
                                    return Err(DecodeError::DuplicateProperty(id));
                                }
                                props.$field = Some(<$ty as PropValue>::read(&mut b, id, p)?);
                            }
                        )*
                        $(
                            PropertyId::$mid => {
                                props.$mfield.push(<$mty as PropValue>::read(&mut b, id, p)?);
                            }
                        )*
                        #[allow(unreachable_patterns)]
                        _ => return Err(DecodeError::PropertyNotAllowed { property: id, packet: p }),
                    }
                }
                Ok(props)
            }

            /// Like `read`, but `None` (no allocation) for a property length of 0.
            #[allow(dead_code)]
            #[inline]
            pub(crate) fn read_boxed(
                b: &mut Bytes,
                p: PacketType,
            ) -> Result<Option<Box<Self>>, DecodeError> {
                if b.first() == Some(&0) {
                    b.advance(1);
                    return Ok(None);
                }
                Self::read(b, p).map(|props| Some(Box::new(props)))
            }

            /// The encoded length of the properties, without the length prefix.
            pub(crate) fn len(&self) -> usize {
                let mut n = 0;
                $( if let Some(v) = &self.$field { n += 1 + PropValue::len(v); } )*
                $( for v in &self.$mfield { n += 1 + PropValue::len(v); } )*
                n
            }

            /// The encoded length with the length prefix.
            pub(crate) fn wire_len(&self) -> usize {
                let n = self.len();
                varint_len(n) + n
            }

            pub(crate) fn validate(&self) -> Result<(), EncodeError> {
                $( if let Some(v) = &self.$field { PropValue::validate(v, PropertyId::$id)?; } )*
                $( for v in &self.$mfield { PropValue::validate(v, PropertyId::$mid)?; } )*
                Ok(())
            }

            /// Write the length prefix and the properties.
            pub(crate) fn put(&self, buf: &mut BytesMut) {
                put_varint(buf, self.len());
                $(
                    if let Some(v) = &self.$field {
                        buf.put_u8(PropertyId::$id as u8);
                        PropValue::put(v, buf);
                    }
                )*
                $(
                    for v in &self.$mfield {
                        buf.put_u8(PropertyId::$mid as u8);
                        PropValue::put(v, buf);
                    }
                )*
            }
        }
    };
}

properties! {
    /// CONNECT properties (5.0 §3.1.2.11).
    pub struct ConnectProperties {
        /// Session Expiry Interval in seconds; absent means 0.
        session_expiry_interval: u32 = SessionExpiryInterval,
        /// Receive Maximum: how many QoS 1 and 2 publishes we accept at once.
        receive_maximum: NonZeroU16 = ReceiveMaximum,
        /// Maximum Packet Size we accept.
        maximum_packet_size: NonZeroU32 = MaximumPacketSize,
        /// Topic Alias Maximum we accept.
        topic_alias_maximum: u16 = TopicAliasMaximum,
        /// Request Response Information.
        request_response_information: bool = RequestResponseInformation,
        /// Request Problem Information.
        request_problem_information: bool = RequestProblemInformation,
        /// Authentication Method, for enhanced authentication.
        authentication_method: ByteString = AuthenticationMethod,
        /// Authentication Data.
        authentication_data: Bytes = AuthenticationData,
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
    }
}

properties! {
    /// Will properties (5.0 §3.1.3.2).
    pub struct WillProperties {
        /// Will Delay Interval in seconds.
        will_delay_interval: u32 = WillDelayInterval,
        /// Payload Format Indicator: `true` for UTF-8 text.
        payload_format_indicator: bool = PayloadFormatIndicator,
        /// Message Expiry Interval in seconds.
        message_expiry_interval: u32 = MessageExpiryInterval,
        /// Content Type.
        content_type: ByteString = ContentType,
        /// Response Topic.
        response_topic: TopicName = ResponseTopic,
        /// Correlation Data.
        correlation_data: Bytes = CorrelationData,
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
    }
}

properties! {
    /// CONNACK properties (5.0 §3.2.2.3).
    pub struct ConnAckProperties {
        /// Session Expiry Interval the server will use.
        session_expiry_interval: u32 = SessionExpiryInterval,
        /// Receive Maximum of the server.
        receive_maximum: NonZeroU16 = ReceiveMaximum,
        /// Maximum QoS of the server (0 or 1; absent means 2).
        maximum_qos: QoS = MaximumQoS,
        /// Retain Available.
        retain_available: bool = RetainAvailable,
        /// Maximum Packet Size the server accepts.
        maximum_packet_size: NonZeroU32 = MaximumPacketSize,
        /// Assigned Client Identifier.
        assigned_client_identifier: ByteString = AssignedClientIdentifier,
        /// Topic Alias Maximum the server accepts.
        topic_alias_maximum: u16 = TopicAliasMaximum,
        /// Reason String.
        reason_string: ByteString = ReasonString,
        /// Wildcard Subscription Available.
        wildcard_subscription_available: bool = WildcardSubscriptionAvailable,
        /// Subscription Identifiers Available.
        subscription_identifier_available: bool = SubscriptionIdentifierAvailable,
        /// Shared Subscription Available.
        shared_subscription_available: bool = SharedSubscriptionAvailable,
        /// Server Keep Alive, which replaces ours [MQTT-3.2.2-21].
        server_keep_alive: u16 = ServerKeepAlive,
        /// Response Information.
        response_information: ByteString = ResponseInformation,
        /// Server Reference (another server to use).
        server_reference: ByteString = ServerReference,
        /// Authentication Method.
        authentication_method: ByteString = AuthenticationMethod,
        /// Authentication Data.
        authentication_data: Bytes = AuthenticationData,
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
    }
}

properties! {
    /// PUBLISH properties (5.0 §3.3.2.3).
    pub struct PublishProperties {
        /// Payload Format Indicator: `true` for UTF-8 text.
        payload_format_indicator: bool = PayloadFormatIndicator,
        /// Message Expiry Interval in seconds.
        message_expiry_interval: u32 = MessageExpiryInterval,
        /// Topic Alias (never 0 [MQTT-3.3.2-8]).
        topic_alias: NonZeroU16 = TopicAlias,
        /// Response Topic.
        response_topic: TopicName = ResponseTopic,
        /// Correlation Data.
        correlation_data: Bytes = CorrelationData,
        /// Content Type.
        content_type: ByteString = ContentType,
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
        /// Subscription Identifiers of the matching subscriptions (server to client only
        /// [MQTT-3.3.4-6]).
        subscription_identifiers: SubscriptionId = SubscriptionIdentifier,
    }
}

properties! {
    /// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK: a reason string and
    /// user properties.
    pub struct AckProperties {
        /// Reason String.
        reason_string: ByteString = ReasonString,
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
    }
}

properties! {
    /// SUBSCRIBE properties (5.0 §3.8.2.1).
    pub struct SubscribeProperties {
        /// Subscription Identifier.
        subscription_identifier: SubscriptionId = SubscriptionIdentifier,
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
    }
}

properties! {
    /// UNSUBSCRIBE properties (5.0 §3.10.2.1).
    pub struct UnsubscribeProperties {
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
    }
}

properties! {
    /// DISCONNECT properties (5.0 §3.14.2.2).
    pub struct DisconnectProperties {
        /// Session Expiry Interval (client only [MQTT-3.14.2-2]).
        session_expiry_interval: u32 = SessionExpiryInterval,
        /// Reason String.
        reason_string: ByteString = ReasonString,
        /// Server Reference.
        server_reference: ByteString = ServerReference,
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
    }
}

properties! {
    /// AUTH properties (5.0 §3.15.2.2).
    pub struct AuthProperties {
        /// Authentication Method.
        authentication_method: ByteString = AuthenticationMethod,
        /// Authentication Data.
        authentication_data: Bytes = AuthenticationData,
        /// Reason String.
        reason_string: ByteString = ReasonString,
        ;
        /// User properties.
        user_properties: UserProperty = UserProperty,
    }
}

macro_rules! auth_pair {
    ($($name:ident),*) => {
        $(
            impl $name {
                /// Authentication Data needs an Authentication Method (5.0 §3.1.2.11.10).
                pub(crate) fn checked_auth(self) -> Result<Self, DecodeError> {
                    if self.authentication_data.is_some() && self.authentication_method.is_none() {
                        return Err(DecodeError::AuthenticationDataWithoutMethod);
                    }
                    Ok(self)
                }

                pub(crate) fn validate_auth(&self) -> Result<(), EncodeError> {
                    if self.authentication_data.is_some() && self.authentication_method.is_none() {
                        return Err(EncodeError::AuthenticationDataWithoutMethod);
                    }
                    self.validate()
                }
            }
        )*
    };
}

auth_pair!(ConnectProperties, ConnAckProperties, AuthProperties);
