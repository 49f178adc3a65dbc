//! DISCONNECT (3.1.1 §3.14, 5.0 §3.14).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::DisconnectProperties;
use crate::packet::reason::DisconnectReason;
use crate::types::{PacketType, ProtocolVersion};
use crate::wire::{finish, read_u8};

const P: PacketType = PacketType::Disconnect;

/// A DISCONNECT packet. On 3.1.1 it carries nothing; on 5.0 a reason code and properties,
/// both optional on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// The reason code (5.0).
    pub reason: DisconnectReason,
    /// DISCONNECT properties (5.0).
    pub properties: DisconnectProperties,
}

impl Default for Disconnect {
    fn default() -> Self {
        Self::new(DisconnectReason::NormalDisconnection)
    }
}

impl Disconnect {
    /// A DISCONNECT with this reason and no properties.
    pub fn new(reason: DisconnectReason) -> Self {
        Self {
            reason,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn decode(mut b: Bytes, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let mut d = Self::default();
        if v.is_v5() && !b.is_empty() {
            let code = read_u8(&mut b, P)?;
            d.reason = DisconnectReason::from_u8(code)
                .ok_or(DecodeError::InvalidReasonCode { packet: P, code })?;
            if !b.is_empty() {
                d.properties = DisconnectProperties::read(&mut b, P)?;
            }
        }
        finish(&b, P)?;
        Ok(d)
    }

    pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if v.is_v5() {
            self.properties.validate()
        } else if self.reason != DisconnectReason::NormalDisconnection {
            Err(not_in_version("a DISCONNECT reason code", v))
        } else if !self.properties.is_empty() {
            Err(not_in_version("DISCONNECT properties", v))
        } else {
            Ok(())
        }
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        if !v.is_v5() {
            0
        } else if self.properties.is_empty() {
            usize::from(self.reason != DisconnectReason::NormalDisconnection)
        } else {
            1 + self.properties.wire_len()
        }
    }

    pub(crate) fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        if self.body_len(v) > 0 {
            buf.put_u8(self.reason.code());
            if !self.properties.is_empty() {
                self.properties.put(buf);
            }
        }
    }
}
