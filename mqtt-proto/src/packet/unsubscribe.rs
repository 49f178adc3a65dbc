//! UNSUBSCRIBE (3.1.1 §3.10, 5.0 §3.10).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::UnsubscribeProperties;
use crate::topic::TopicFilter;
use crate::types::{PacketId, PacketType, ProtocolVersion};
use crate::wire::{put_binary, read_packet_id, read_topic_filter};

const P: PacketType = PacketType::Unsubscribe;

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The packet identifier.
    pub packet_id: PacketId,
    /// The topic filters: at least one [MQTT-3.10.3-2].
    pub filters: Vec<TopicFilter>,
    /// UNSUBSCRIBE properties (5.0 only).
    pub properties: UnsubscribeProperties,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE with no properties.
    pub fn new(packet_id: PacketId, filters: Vec<TopicFilter>) -> Self {
        Self {
            packet_id,
            filters,
            properties: UnsubscribeProperties::default(),
        }
    }

    pub(crate) fn decode(mut b: Bytes, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(&mut b, P)?;
        let properties = if v.is_v5() {
            UnsubscribeProperties::read(&mut b, P)?
        } else {
            UnsubscribeProperties::default()
        };
        let mut filters = Vec::new();
        while !b.is_empty() {
            filters.push(read_topic_filter(&mut b, P)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::EmptyUnsubscribe);
        }
        Ok(Self {
            packet_id,
            filters,
            properties,
        })
    }

    pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            Err(EncodeError::NoTopicFilters(P))
        } else if v.is_v5() {
            self.properties.validate()
        } else if !self.properties.is_empty() {
            Err(not_in_version("UNSUBSCRIBE properties", v))
        } else {
            Ok(())
        }
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        let mut n = 2;
        if v.is_v5() {
            n += self.properties.wire_len();
        }
        for f in &self.filters {
            n += 2 + f.len();
        }
        n
    }

    pub(crate) fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.put(buf);
        }
        for f in &self.filters {
            put_binary(buf, f.as_str().as_bytes());
        }
    }
}
