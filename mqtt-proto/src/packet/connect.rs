//! CONNECT (3.1.1 §3.1, 5.0 §3.1): the first packet a client sends.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::packet::property::{ConnectProperties, WillProperties};
use crate::topic::{TopicError, TopicName};
use crate::types::{PacketType, ProtocolVersion, QoS};
use crate::wire::{
    check_field_len, check_string, finish, put_binary, read_binary, read_string, read_topic_name,
    read_u8, read_u16,
};

const P: PacketType = PacketType::Connect;

/// A CONNECT packet. It carries its own protocol version: the decoder reads it from the
/// protocol name and level, and the encoder writes it whatever the codec's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The protocol version (name and level on the wire).
    pub protocol: ProtocolVersion,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns keepalive off.
    pub keep_alive: u16,
    /// The client identifier; may be empty, asking the server to assign one.
    pub client_id: ByteString,
    /// The will message.
    pub will: Option<Will>,
    /// The user name.
    pub username: Option<ByteString>,
    /// The password (binary data).
    pub password: Option<Bytes>,
    /// CONNECT properties (5.0 only).
    pub properties: ConnectProperties,
}

/// The will message of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will Topic (a topic name: no wildcards).
    pub topic: TopicName,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will properties (5.0 only).
    pub properties: WillProperties,
}

impl Connect {
    /// A CONNECT with clean start, keepalive 60 s and nothing else.
    pub fn new(protocol: ProtocolVersion, client_id: impl Into<ByteString>) -> Self {
        Self {
            protocol,
            clean_start: true,
            keep_alive: 60,
            client_id: client_id.into(),
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
        }
    }

    pub(crate) fn decode(mut b: Bytes) -> Result<Self, DecodeError> {
        let name = read_binary(&mut b, P)?;
        if &name[..] != b"MQTT" && &name[..] != b"MQIsdp" {
            return Err(DecodeError::InvalidProtocolName);
        }
        let level = read_u8(&mut b, P)?;
        let protocol = ProtocolVersion::from_level(level)
            .ok_or(DecodeError::UnsupportedProtocolLevel(level))?;
        if protocol.protocol_name().as_bytes() != &name[..] {
            return Err(DecodeError::InvalidProtocolName);
        }
        let flags = read_u8(&mut b, P)?;
        if flags & 0x01 != 0 {
            return Err(DecodeError::ConnectReservedFlag);
        }
        let clean_start = flags & 0x02 != 0;
        let will_flag = flags & 0x04 != 0;
        let will_qos = (flags >> 3) & 0x03;
        let will_retain = flags & 0x20 != 0;
        let password_flag = flags & 0x40 != 0;
        let username_flag = flags & 0x80 != 0;
        let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::InvalidQoS)?;
        if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(DecodeError::InvalidWillFlags);
        }
        if password_flag && !username_flag && !protocol.is_v5() {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = read_u16(&mut b, P)?;
        let properties = if protocol.is_v5() {
            ConnectProperties::read(&mut b, P)?.checked_auth()?
        } else {
            ConnectProperties::default()
        };
        let client_id = read_string(&mut b, P)?;
        let will = if will_flag {
            let properties = if protocol.is_v5() {
                WillProperties::read(&mut b, P)?
            } else {
                WillProperties::default()
            };
            let topic = read_topic_name(&mut b, P)?;
            if topic.is_empty() {
                return Err(TopicError::Empty.into());
            }
            let payload = read_binary(&mut b, P)?;
            Some(Will {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if username_flag {
            Some(read_string(&mut b, P)?)
        } else {
            None
        };
        let password = if password_flag {
            Some(read_binary(&mut b, P)?)
        } else {
            None
        };
        finish(&b, P)?;
        Ok(Self {
            protocol,
            clean_start,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        })
    }

    pub(crate) fn validate(&self) -> Result<(), EncodeError> {
        let v5 = self.protocol.is_v5();
        check_string(&self.client_id)?;
        if v5 {
            self.properties.validate_auth()?;
        } else if !self.properties.is_empty() {
            return Err(not_in_version("CONNECT properties", self.protocol));
        }
        if let Some(will) = &self.will {
            if will.topic.is_empty() {
                return Err(EncodeError::EmptyTopicWithoutAlias);
            }
            check_field_len(will.payload.len())?;
            if v5 {
                will.properties.validate()?;
            } else if !will.properties.is_empty() {
                return Err(not_in_version("will properties", self.protocol));
            }
        }
        if let Some(u) = &self.username {
            check_string(u)?;
        }
        if let Some(p) = &self.password {
            check_field_len(p.len())?;
            if self.username.is_none() && !v5 {
                return Err(EncodeError::PasswordWithoutUsername);
            }
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        let v5 = self.protocol.is_v5();
        let mut n = 2 + self.protocol.protocol_name().len() + 1 + 1 + 2;
        if v5 {
            n += self.properties.wire_len();
        }
        n += 2 + self.client_id.len();
        if let Some(will) = &self.will {
            if v5 {
                n += will.properties.wire_len();
            }
            n += 2 + will.topic.len() + 2 + will.payload.len();
        }
        if let Some(u) = &self.username {
            n += 2 + u.len();
        }
        if let Some(p) = &self.password {
            n += 2 + p.len();
        }
        n
    }

    pub(crate) fn put_body(&self, buf: &mut BytesMut) {
        let v5 = self.protocol.is_v5();
        put_binary(buf, self.protocol.protocol_name().as_bytes());
        buf.put_u8(self.protocol.level());
        let mut flags = 0u8;
        if self.clean_start {
            flags |= 0x02;
        }
        if let Some(will) = &self.will {
            flags |= 0x04 | ((will.qos as u8) << 3);
            if will.retain {
                flags |= 0x20;
            }
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        buf.put_u8(flags);
        buf.put_u16(self.keep_alive);
        if v5 {
            self.properties.put(buf);
        }
        put_binary(buf, self.client_id.as_bytes());
        if let Some(will) = &self.will {
            if v5 {
                will.properties.put(buf);
            }
            put_binary(buf, will.topic.as_str().as_bytes());
            put_binary(buf, &will.payload);
        }
        if let Some(u) = &self.username {
            put_binary(buf, u.as_bytes());
        }
        if let Some(p) = &self.password {
            put_binary(buf, p);
        }
    }
}

impl Will {
    /// A will message with QoS 0, not retained, no properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>) -> Self {
        Self {
            topic,
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: WillProperties::default(),
        }
    }
}

pub(crate) const fn not_in_version(what: &'static str, version: ProtocolVersion) -> EncodeError {
    EncodeError::NotInVersion { what, version }
}
