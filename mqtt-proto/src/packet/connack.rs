//! CONNACK (3.1.1 §3.2, 5.0 §3.2): the server's answer to CONNECT.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::ConnAckProperties;
use crate::packet::reason::ConnectReason;
use crate::types::{PacketType, ProtocolVersion};
use crate::wire::{finish, read_u8};

const P: PacketType = PacketType::ConnAck;

/// The body of a 3.1.1 (and 3.1) CONNACK refusing the protocol version: no session present,
/// return code 1. Decoded on 5.0 as reason 0x84 Unsupported Protocol Version.
const V3_VERSION_REFUSAL: [u8; 2] = [0x00, 0x01];

/// A CONNACK packet. On 3.1 and 3.1.1 the return codes 0 to 5 map onto the 5.0 reason codes
/// of the same meaning ([`ConnectReason::from_v3`]).
///
/// On 5.0, the 3.1.1 CONNACK `20 02 00 01` (return code 1, unacceptable protocol version),
/// which a server that only speaks 3.1.1 sends in answer to a 5.0 CONNECT, decodes as
/// [`ConnectReason::UnsupportedProtocolVersion`]: the refusal it is, not a malformed packet.
/// Any other two-byte CONNACK is still malformed on 5.0 (its property length is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present.
    pub session_present: bool,
    /// The return code (3.1.1) or reason code (5.0).
    pub reason: ConnectReason,
    /// CONNACK properties (5.0 only).
    pub properties: ConnAckProperties,
}

impl ConnAck {
    /// A CONNACK with this reason and no properties.
    pub fn new(session_present: bool, reason: ConnectReason) -> Self {
        Self {
            session_present,
            reason,
            properties: ConnAckProperties::default(),
        }
    }

    pub(crate) fn decode(mut b: Bytes, v: ProtocolVersion) -> Result<Self, DecodeError> {
        if v.is_v5() && b.as_ref() == V3_VERSION_REFUSAL {
            // A server that does not speak 5.0 answers a 5.0 CONNECT the only way it can:
            // with its own CONNACK, return code 1 "unacceptable protocol version" (3.1.1
            // §3.2.2.3) and no property length. 5.0 lets a server refuse an unsupported
            // version with a CONNACK [MQTT-3.1.2-2]; this one is that refusal in the older
            // shape. libmosquitto reads it the same way.
            return Ok(Self::new(false, ConnectReason::UnsupportedProtocolVersion));
        }
        let flags = read_u8(&mut b, P)?;
        if flags & 0xFE != 0 {
            return Err(DecodeError::ConnAckReservedFlags);
        }
        let code = read_u8(&mut b, P)?;
        let reason = if v.is_v5() {
            ConnectReason::from_u8(code)
        } else {
            ConnectReason::from_v3(code)
        }
        .ok_or(DecodeError::InvalidReasonCode { packet: P, code })?;
        let properties = if v.is_v5() {
            ConnAckProperties::read(&mut b, P)?.checked_auth()?
        } else {
            ConnAckProperties::default()
        };
        finish(&b, P)?;
        Ok(Self {
            session_present: flags & 1 != 0,
            reason,
            properties,
        })
    }

    pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if v.is_v5() {
            self.properties.validate_auth()
        } else if self.reason.to_v3().is_none() {
            Err(not_in_version("this CONNACK reason code", v))
        } else if !self.properties.is_empty() {
            Err(not_in_version("CONNACK properties", v))
        } else {
            Ok(())
        }
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        2 + if v.is_v5() {
            self.properties.wire_len()
        } else {
            0
        }
    }

    pub(crate) fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u8(u8::from(self.session_present));
        if v.is_v5() {
            buf.put_u8(self.reason.code());
            self.properties.put(buf);
        } else {
            buf.put_u8(self.reason.to_v3().unwrap_or(0));
        }
    }
}
