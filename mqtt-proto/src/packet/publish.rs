//! PUBLISH (3.1.1 §3.3, 5.0 §3.3): an application message.

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::PublishProperties;
use crate::topic::{TopicError, TopicName};
use crate::types::{PacketType, ProtocolVersion, QosPid};
use crate::wire::{put_binary, read_packet_id, read_topic_name, write_framed};

const P: PacketType = PacketType::Publish;

/// A PUBLISH packet. Decoding allocates nothing: the topic is stored inline (up to 23 bytes) or
/// sliced from the read buffer, the payload is a slice of the read buffer, and 5.0 properties
/// live behind a box that exists only when the packet has some.
#[derive(Debug, Clone)]
pub struct Publish {
    /// DUP: this is a re-delivery [MQTT-3.3.1-1]. Always false for QoS 0 [MQTT-3.3.1-2]: the
    /// decoder clears a DUP flag received on QoS 0 (mosquitto accepts such packets too) and
    /// the encoder refuses to send one.
    pub dup: bool,
    /// QoS and, for QoS 1 and 2, the packet identifier.
    pub qos: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// The topic name. Empty only on 5.0 with a Topic Alias ([`TopicName::alias_only`]).
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// PUBLISH properties (5.0 only); `None` when there are none. Boxed to keep [`Publish`]
    /// (and so every [`Packet`](crate::Packet)) small and cheap to move: most messages carry
    /// no properties. Read them with [`Publish::properties`], change them with
    /// [`Publish::properties_mut`].
    pub properties: Option<Box<PublishProperties>>,
}

/// Returned by [`Publish::properties`] for a PUBLISH without properties.
static NO_PROPERTIES: PublishProperties = PublishProperties::EMPTY;

impl PartialEq for Publish {
    /// Absent properties equal empty ones: both encode as a property length of 0.
    fn eq(&self, other: &Self) -> bool {
        self.dup == other.dup
            && self.qos == other.qos
            && self.retain == other.retain
            && self.topic == other.topic
            && self.payload == other.payload
            && self.properties() == other.properties()
    }
}

impl Eq for Publish {}

impl Publish {
    /// A PUBLISH with no flags and no properties.
    pub fn new(topic: TopicName, qos: QosPid, payload: impl Into<Bytes>) -> Self {
        Self {
            dup: false,
            qos,
            retain: false,
            topic,
            payload: payload.into(),
            properties: None,
        }
    }

    /// The PUBLISH properties (empty when there are none).
    #[inline]
    pub fn properties(&self) -> &PublishProperties {
        self.properties.as_deref().unwrap_or(&NO_PROPERTIES)
    }

    /// The PUBLISH properties, to change them (allocates them on first use).
    pub fn properties_mut(&mut self) -> &mut PublishProperties {
        self.properties.get_or_insert_with(Box::default)
    }

    /// This PUBLISH with these properties.
    pub fn with_properties(mut self, properties: PublishProperties) -> Self {
        self.properties = (!properties.is_empty()).then(|| Box::new(properties));
        self
    }

    #[inline(always)]
    pub(crate) fn decode(flags: u8, mut b: Bytes, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let topic = read_topic_name(&mut b, P)?;
        // The fixed header parser has already refused QoS 3.
        let qos = match (flags >> 1) & 0x03 {
            0 => QosPid::AtMostOnce,
            1 => QosPid::AtLeastOnce(read_packet_id(&mut b, P)?),
            _ => QosPid::ExactlyOnce(read_packet_id(&mut b, P)?),
        };
        let properties = if v.is_v5() {
            PublishProperties::read_boxed(&mut b, P)?
        } else {
            None
        };
        if topic.is_empty() {
            if !v.is_v5() {
                return Err(TopicError::Empty.into());
            }
            if properties.as_ref().is_none_or(|p| p.topic_alias.is_none()) {
                return Err(DecodeError::EmptyTopicWithoutAlias);
            }
        }
        Ok(Self {
            dup: flags & 0x08 != 0 && qos != QosPid::AtMostOnce,
            qos,
            retain: flags & 0x01 != 0,
            topic,
            payload: b,
            properties,
        })
    }

    /// Encode this PUBLISH for `version` (what [`Packet::encode`](crate::Packet::encode) does,
    /// without moving it into a `Packet`).
    #[inline]
    pub fn encode(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        self.encode_limited(version, crate::wire::MAX_PACKET_SIZE as usize, buf)
    }

    #[inline]
    pub(crate) fn encode_limited(
        &self,
        v: ProtocolVersion,
        max: usize,
        buf: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        self.validate(v)?;
        let first = ((PacketType::Publish as u8) << 4) | self.flags();
        write_framed(first, self.body_len(v), max, buf, |buf| {
            self.put_body(v, buf)
        })
    }

    /// The low nibble of the fixed header.
    #[inline]
    pub(crate) fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | ((self.qos.qos() as u8) << 1) | u8::from(self.retain)
    }

    #[inline]
    pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if self.dup && self.qos == QosPid::AtMostOnce {
            return Err(EncodeError::DupOnQoS0);
        }
        if v.is_v5() {
            if self.topic.is_empty() && self.properties().topic_alias.is_none() {
                return Err(EncodeError::EmptyTopicWithoutAlias);
            }
            if let Some(p) = &self.properties {
                p.validate()?;
            }
        } else {
            if self.topic.is_empty() {
                return Err(EncodeError::EmptyTopicWithoutAlias);
            }
            if self.properties.as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(not_in_version("PUBLISH properties", v));
            }
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        let mut n = 2 + self.topic.len() + self.payload.len();
        if self.qos != QosPid::AtMostOnce {
            n += 2;
        }
        if v.is_v5() {
            n += self.properties.as_ref().map_or(1, |p| p.wire_len());
        }
        n
    }

    #[inline]
    pub(crate) fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        put_binary(buf, self.topic.as_str().as_bytes());
        if let Some(id) = self.qos.packet_id() {
            buf.extend_from_slice(&id.get().to_be_bytes());
        }
        if v.is_v5() {
            match &self.properties {
                Some(p) => p.put(buf),
                None => buf.extend_from_slice(&[0]),
            }
        }
        buf.extend_from_slice(&self.payload);
    }
}
