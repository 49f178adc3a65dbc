//! PUBACK, PUBREC, PUBREL and PUBCOMP (3.1.1 §3.4-3.7, 5.0 §3.4-3.7): the acknowledgements of
//! the QoS 1 and QoS 2 flows. One shape, four packet types.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::AckProperties;
use crate::packet::reason::{PubAckReason, PubRelReason};
use crate::types::{PacketId, PacketType, ProtocolVersion};
use crate::wire::{finish, read_packet_id, read_u8};

macro_rules! pub_ack {
    ($(#[$meta:meta])* $name:ident, $reason:ident, $success:ident, $ptype:ident, $text:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The packet identifier of the PUBLISH being acknowledged [MQTT-2.2.1-5].
            pub packet_id: PacketId,
            /// The reason code (5.0; always success on 3.1.1).
            pub reason: $reason,
            /// Properties (5.0 only).
            pub properties: AckProperties,
        }

        impl $name {
            /// A successful acknowledgement with no properties.
            pub fn new(packet_id: PacketId) -> Self {
                Self {
                    packet_id,
                    reason: $reason::$success,
                    properties: AckProperties::default(),
                }
            }

            pub(crate) fn decode(mut b: Bytes, v: ProtocolVersion) -> Result<Self, DecodeError> {
                const P: PacketType = PacketType::$ptype;
                let packet_id = read_packet_id(&mut b, P)?;
                let mut ack = Self::new(packet_id);
                // 5.0: a remaining length of 2 means Success and no properties; of 3, no
                // properties.
                if v.is_v5() && !b.is_empty() {
                    let code = read_u8(&mut b, P)?;
                    ack.reason = $reason::from_u8(code)
                        .ok_or(DecodeError::InvalidReasonCode { packet: P, code })?;
                    if !b.is_empty() {
                        ack.properties = AckProperties::read(&mut b, P)?;
                    }
                }
                finish(&b, P)?;
                Ok(ack)
            }

            pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
                if v.is_v5() {
                    self.properties.validate()
                } else if self.reason != $reason::$success {
                    Err(not_in_version(concat!($text, " reason code"), v))
                } else if !self.properties.is_empty() {
                    Err(not_in_version(concat!($text, " properties"), v))
                } else {
                    Ok(())
                }
            }

            pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
                if !v.is_v5() || self.properties.is_empty() && self.reason == $reason::$success {
                    2
                } else if self.properties.is_empty() {
                    3
                } else {
                    3 + self.properties.wire_len()
                }
            }

            pub(crate) fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
                buf.put_u16(self.packet_id.get());
                match self.body_len(v) {
                    2 => {}
                    3 => buf.put_u8(self.reason.code()),
                    _ => {
                        buf.put_u8(self.reason.code());
                        self.properties.put(buf);
                    }
                }
            }
        }
    };
}

pub_ack!(
    /// PUBACK: the answer to a QoS 1 PUBLISH.
    PubAck, PubAckReason, Success, PubAck, "PUBACK"
);
pub_ack!(
    /// PUBREC: the first answer to a QoS 2 PUBLISH.
    PubRec, PubAckReason, Success, PubRec, "PUBREC"
);
pub_ack!(
    /// PUBREL: the answer to PUBREC.
    PubRel, PubRelReason, Success, PubRel, "PUBREL"
);
pub_ack!(
    /// PUBCOMP: the answer to PUBREL, ending a QoS 2 flow.
    PubComp, PubRelReason, Success, PubComp, "PUBCOMP"
);
