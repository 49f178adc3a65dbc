//! SUBACK (3.1.1 §3.9, 5.0 §3.9).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::AckProperties;
use crate::packet::reason::SubAckReason;
use crate::types::{PacketId, PacketType, ProtocolVersion};
use crate::wire::{read_packet_id, read_u8};

const P: PacketType = PacketType::SubAck;

/// A SUBACK packet: one reason code per topic filter of the SUBSCRIBE, in order. The codec
/// accepts an empty list; whether the count matches is the session's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The packet identifier of the SUBSCRIBE [MQTT-2.2.1-6].
    pub packet_id: PacketId,
    /// One reason code (granted QoS or failure) per topic filter.
    pub reasons: Vec<SubAckReason>,
    /// Properties (5.0 only).
    pub properties: AckProperties,
}

impl SubAck {
    /// A SUBACK with these codes and no properties.
    pub fn new(packet_id: PacketId, reasons: Vec<SubAckReason>) -> Self {
        Self {
            packet_id,
            reasons,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn decode(mut b: Bytes, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(&mut b, P)?;
        let properties = if v.is_v5() {
            AckProperties::read(&mut b, P)?
        } else {
            AckProperties::default()
        };
        let mut reasons = Vec::with_capacity(b.len());
        while !b.is_empty() {
            let code = read_u8(&mut b, P)?;
            let reason = SubAckReason::from_u8(code)
                .filter(|r| v.is_v5() || r.in_v3())
                .ok_or(DecodeError::InvalidReasonCode { packet: P, code })?;
            reasons.push(reason);
        }
        Ok(Self {
            packet_id,
            reasons,
            properties,
        })
    }

    pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if v.is_v5() {
            self.properties.validate()
        } else if !self.reasons.iter().all(|r| r.in_v3()) {
            Err(not_in_version("this SUBACK reason code", v))
        } else if !self.properties.is_empty() {
            Err(not_in_version("SUBACK properties", v))
        } else {
            Ok(())
        }
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        2 + self.reasons.len()
            + if v.is_v5() {
                self.properties.wire_len()
            } else {
                0
            }
    }

    pub(crate) fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.put(buf);
        }
        for r in &self.reasons {
            buf.put_u8(r.code());
        }
    }
}
