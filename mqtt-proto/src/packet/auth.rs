//! AUTH (5.0 §3.15): enhanced authentication. MQTT 5.0 only.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::not_in_version;
use crate::packet::property::AuthProperties;
use crate::packet::reason::AuthReason;
use crate::types::{PacketType, ProtocolVersion};
use crate::wire::{finish, read_u8};

const P: PacketType = PacketType::Auth;

/// An AUTH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The reason code.
    pub reason: AuthReason,
    /// AUTH properties: method, data, reason string, user properties.
    pub properties: AuthProperties,
}

impl Auth {
    /// An AUTH with this reason and no properties.
    pub fn new(reason: AuthReason) -> Self {
        Self {
            reason,
            properties: AuthProperties::default(),
        }
    }

    pub(crate) fn decode(mut b: Bytes) -> Result<Self, DecodeError> {
        // A remaining length of 0 means Success and no properties (5.0 §3.15.2.1).
        let mut a = Self::new(AuthReason::Success);
        if !b.is_empty() {
            let code = read_u8(&mut b, P)?;
            a.reason = AuthReason::from_u8(code)
                .ok_or(DecodeError::InvalidReasonCode { packet: P, code })?;
            if !b.is_empty() {
                a.properties = AuthProperties::read(&mut b, P)?.checked_auth()?;
            }
        }
        finish(&b, P)?;
        Ok(a)
    }

    pub(crate) fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if !v.is_v5() {
            return Err(not_in_version("AUTH", v));
        }
        self.properties.validate_auth()
    }

    pub(crate) fn body_len(&self) -> usize {
        if self.properties.is_empty() {
            usize::from(self.reason != AuthReason::Success)
        } else {
            1 + self.properties.wire_len()
        }
    }

    pub(crate) fn put_body(&self, buf: &mut BytesMut) {
        if self.body_len() > 0 {
            buf.put_u8(self.reason.code());
            if !self.properties.is_empty() {
                self.properties.put(buf);
            }
        }
    }
}
