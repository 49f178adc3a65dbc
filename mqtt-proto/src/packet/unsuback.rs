//! UNSUBACK (3.1.1 §3.11, 5.0 §3.11).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::AckProperties;
use crate::packet::reason::UnsubAckReason;
use crate::types::{PacketId, PacketType, ProtocolVersion};
use crate::wire::{finish, read_packet_id, read_u8};

const P: PacketType = PacketType::UnsubAck;

/// An UNSUBACK packet. 3.1.1 carries only the packet identifier (`reasons` is empty); 5.0
/// carries one reason code per topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The packet identifier of the UNSUBSCRIBE [MQTT-2.2.1-6].
    pub packet_id: PacketId,
    /// One reason code per topic filter (5.0 only).
    pub reasons: Vec<UnsubAckReason>,
    /// Properties (5.0 only).
    pub properties: AckProperties,
}

impl UnsubAck {
    /// An UNSUBACK with these codes and no properties.
    pub fn new(packet_id: PacketId, reasons: Vec<UnsubAckReason>) -> Self {
        Self {
            packet_id,
            reasons,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn decode(mut b: Bytes, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(&mut b, P)?;
        let mut ack = Self::new(packet_id, Vec::new());
        if v.is_v5() {
            ack.properties = AckProperties::read(&mut b, P)?;
            ack.reasons.reserve_exact(b.len());
            while !b.is_empty() {
                let code = read_u8(&mut b, P)?;
                let reason = UnsubAckReason::from_u8(code)
                    .ok_or(DecodeError::InvalidReasonCode { packet: P, code })?;
                ack.reasons.push(reason);
            }
        }
        finish(&b, P)?;
        Ok(ack)
    }

    pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if v.is_v5() {
            self.properties.validate()
        } else if !self.reasons.is_empty() {
            Err(not_in_version("UNSUBACK reason codes", v))
        } else if !self.properties.is_empty() {
            Err(not_in_version("UNSUBACK properties", v))
        } else {
            Ok(())
        }
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        if v.is_v5() {
            2 + self.properties.wire_len() + self.reasons.len()
        } else {
            2
        }
    }

    pub(crate) fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.put(buf);
            for r in &self.reasons {
                buf.put_u8(r.code());
            }
        }
    }
}
