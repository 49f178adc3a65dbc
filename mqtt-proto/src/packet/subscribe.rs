//! SUBSCRIBE (3.1.1 §3.8, 5.0 §3.8).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::SubscribeProperties;
use crate::topic::TopicFilter;
use crate::types::{PacketId, PacketType, ProtocolVersion, QoS};
use crate::wire::{put_binary, read_packet_id, read_topic_filter, read_u8};

const P: PacketType = PacketType::Subscribe;

/// When the server sends retained messages for a new subscription (5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// Send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// Send them only if the subscription did not already exist.
    SendAtSubscribeIfNew = 1,
    /// Do not send retained messages.
    DoNotSend = 2,
}

/// Subscription options (5.0 §3.8.3.1; 3.1.1 has only the QoS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local: do not send our own publishes back to us (5.0).
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag as published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with this QoS and the defaults otherwise.
    pub fn new(qos: QoS) -> Self {
        Self {
            qos,
            ..Self::default()
        }
    }

    /// Decode the options byte. Reserved bits, QoS 3 and Retain Handling 3 are malformed
    /// [MQTT-3.8.3-5] (3.1.1: [MQTT-3-8.3-4]).
    pub(crate) fn from_byte(byte: u8, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let bad = DecodeError::InvalidSubscriptionOptions(byte);
        let reserved = if v.is_v5() { 0xC0 } else { 0xFC };
        if byte & reserved != 0 {
            return Err(bad);
        }
        let qos = QoS::from_u8(byte & 0x03).ok_or(bad.clone())?;
        let retain_handling = match (byte >> 4) & 0x03 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(bad),
        };
        Ok(Self {
            qos,
            no_local: byte & 0x04 != 0,
            retain_as_published: byte & 0x08 != 0,
            retain_handling,
        })
    }

    /// The options byte.
    pub(crate) fn to_byte(self) -> u8 {
        (self.qos as u8)
            | (u8::from(self.no_local) << 2)
            | (u8::from(self.retain_as_published) << 3)
            | ((self.retain_handling as u8) << 4)
    }
}

/// One topic filter of a SUBSCRIBE with its options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscribeFilter {
    /// The topic filter.
    pub filter: TopicFilter,
    /// Its options.
    pub options: SubscriptionOptions,
}

impl SubscribeFilter {
    /// A subscription at this QoS with default options.
    pub fn new(filter: TopicFilter, qos: QoS) -> Self {
        Self {
            filter,
            options: SubscriptionOptions::new(qos),
        }
    }
}

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// The packet identifier.
    pub packet_id: PacketId,
    /// The topic filters and their options: at least one [MQTT-3.8.3-2].
    pub subscriptions: Vec<SubscribeFilter>,
    /// SUBSCRIBE properties (5.0 only).
    pub properties: SubscribeProperties,
}

impl Subscribe {
    /// A SUBSCRIBE with no properties.
    pub fn new(packet_id: PacketId, subscriptions: Vec<SubscribeFilter>) -> Self {
        Self {
            packet_id,
            subscriptions,
            properties: SubscribeProperties::default(),
        }
    }

    pub(crate) fn decode(mut b: Bytes, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(&mut b, P)?;
        let properties = if v.is_v5() {
            SubscribeProperties::read(&mut b, P)?
        } else {
            SubscribeProperties::default()
        };
        let mut subscriptions = Vec::new();
        while !b.is_empty() {
            let filter = read_topic_filter(&mut b, P)?;
            let options = SubscriptionOptions::from_byte(read_u8(&mut b, P)?, v)?;
            if options.no_local && filter.is_shared() {
                return Err(DecodeError::NoLocalOnSharedSubscription);
            }
            subscriptions.push(SubscribeFilter { filter, options });
        }
        if subscriptions.is_empty() {
            return Err(DecodeError::EmptySubscribe);
        }
        Ok(Self {
            packet_id,
            subscriptions,
            properties,
        })
    }

    pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if self.subscriptions.is_empty() {
            return Err(EncodeError::NoTopicFilters(P));
        }
        if v.is_v5() {
            if self
                .subscriptions
                .iter()
                .any(|s| s.options.no_local && s.filter.is_shared())
            {
                return Err(EncodeError::NoLocalOnSharedSubscription);
            }
            return self.properties.validate();
        }
        if !self.properties.is_empty() {
            return Err(not_in_version("SUBSCRIBE properties", v));
        }
        if self
            .subscriptions
            .iter()
            .any(|s| s.options.to_byte() & 0xFC != 0)
        {
            return Err(not_in_version("subscription options other than QoS", v));
        }
        Ok(())
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        let mut n = 2;
        if v.is_v5() {
            n += self.properties.wire_len();
        }
        for s in &self.subscriptions {
            n += 2 + s.filter.len() + 1;
        }
        n
    }

    pub(crate) fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.put(buf);
        }
        for s in &self.subscriptions {
            put_binary(buf, s.filter.as_str().as_bytes());
            buf.put_u8(s.options.to_byte());
        }
    }
}
