//! Control packets: one type tree for MQTT 3.1, 3.1.1 and 5.0.
//!
//! Each packet type has its own file with its decoder, its encoder and the rules they
//! enforce. [`Packet`] ties them together; the protocol version is a parameter of decoding
//! and encoding, never a second copy of the types.

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::types::{PacketType, ProtocolVersion};
use crate::wire::{MAX_PACKET_SIZE, finish, header_len, write_framed};

pub mod auth;
pub mod connack;
pub mod connect;
pub mod disconnect;
pub mod property;
pub mod pubacks;
pub mod publish;
pub mod reason;
pub mod suback;
pub mod subscribe;
pub mod unsuback;
pub mod unsubscribe;

pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use pubacks::{PubAck, PubComp, PubRec, PubRel};
pub use publish::Publish;
pub use suback::SubAck;
pub use subscribe::{RetainHandling, Subscribe, SubscribeFilter, SubscriptionOptions};
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;

/// An MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (boxed: large and rare).
    Connect(Box<Connect>),
    /// CONNACK (boxed: large and rare).
    ConnAck(Box<ConnAck>),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(PubAck),
    /// PUBREC.
    PubRec(PubRec),
    /// PUBREL.
    PubRel(PubRel),
    /// PUBCOMP.
    PubComp(PubComp),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT (boxed: once per connection at most).
    Disconnect(Box<Disconnect>),
    /// AUTH (5.0 only; boxed: rare).
    Auth(Box<Auth>),
}

impl Packet {
    /// The packet's type.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }

    /// Decode a packet body whose fixed header has been parsed and checked.
    #[inline(always)]
    pub(crate) fn decode_body(
        packet_type: PacketType,
        flags: u8,
        body: Bytes,
        v: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        Ok(match packet_type {
            PacketType::Connect => Self::Connect(Box::new(Connect::decode(body)?)),
            PacketType::ConnAck => Self::ConnAck(Box::new(ConnAck::decode(body, v)?)),
            PacketType::Publish => Self::Publish(Publish::decode(flags, body, v)?),
            PacketType::PubAck => Self::PubAck(PubAck::decode(body, v)?),
            PacketType::PubRec => Self::PubRec(PubRec::decode(body, v)?),
            PacketType::PubRel => Self::PubRel(PubRel::decode(body, v)?),
            PacketType::PubComp => Self::PubComp(PubComp::decode(body, v)?),
            PacketType::Subscribe => Self::Subscribe(Subscribe::decode(body, v)?),
            PacketType::SubAck => Self::SubAck(SubAck::decode(body, v)?),
            PacketType::Unsubscribe => Self::Unsubscribe(Unsubscribe::decode(body, v)?),
            PacketType::UnsubAck => Self::UnsubAck(UnsubAck::decode(body, v)?),
            PacketType::PingReq => {
                finish(&body, packet_type)?;
                Self::PingReq
            }
            PacketType::PingResp => {
                finish(&body, packet_type)?;
                Self::PingResp
            }
            PacketType::Disconnect => Self::Disconnect(Box::new(Disconnect::decode(body, v)?)),
            PacketType::Auth => Self::Auth(Box::new(Auth::decode(body)?)),
        })
    }

    /// Check that `version` can carry this packet as it is.
    #[inline]
    fn validate(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        match self {
            Self::Connect(p) => p.validate(),
            Self::ConnAck(p) => p.validate(v),
            Self::Publish(p) => p.validate(v),
            Self::PubAck(p) => p.validate(v),
            Self::PubRec(p) => p.validate(v),
            Self::PubRel(p) => p.validate(v),
            Self::PubComp(p) => p.validate(v),
            Self::Subscribe(p) => p.validate(v),
            Self::SubAck(p) => p.validate(v),
            Self::Unsubscribe(p) => p.validate(v),
            Self::UnsubAck(p) => p.validate(v),
            Self::PingReq | Self::PingResp => Ok(()),
            Self::Disconnect(p) => p.validate(v),
            Self::Auth(p) => p.validate(v),
        }
    }

    /// The remaining length: everything after the fixed header.
    #[inline]
    fn body_len(&self, v: ProtocolVersion) -> usize {
        match self {
            Self::Connect(p) => p.body_len(),
            Self::ConnAck(p) => p.body_len(v),
            Self::Publish(p) => p.body_len(v),
            Self::PubAck(p) => p.body_len(v),
            Self::PubRec(p) => p.body_len(v),
            Self::PubRel(p) => p.body_len(v),
            Self::PubComp(p) => p.body_len(v),
            Self::Subscribe(p) => p.body_len(v),
            Self::SubAck(p) => p.body_len(v),
            Self::Unsubscribe(p) => p.body_len(v),
            Self::UnsubAck(p) => p.body_len(v),
            Self::PingReq | Self::PingResp => 0,
            Self::Disconnect(p) => p.body_len(v),
            Self::Auth(p) => p.body_len(),
        }
    }

    #[inline]
    fn put_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        match self {
            Self::Connect(p) => p.put_body(buf),
            Self::ConnAck(p) => p.put_body(v, buf),
            Self::Publish(p) => p.put_body(v, buf),
            Self::PubAck(p) => p.put_body(v, buf),
            Self::PubRec(p) => p.put_body(v, buf),
            Self::PubRel(p) => p.put_body(v, buf),
            Self::PubComp(p) => p.put_body(v, buf),
            Self::Subscribe(p) => p.put_body(v, buf),
            Self::SubAck(p) => p.put_body(v, buf),
            Self::Unsubscribe(p) => p.put_body(v, buf),
            Self::UnsubAck(p) => p.put_body(v, buf),
            Self::PingReq | Self::PingResp => {}
            Self::Disconnect(p) => p.put_body(v, buf),
            Self::Auth(p) => p.put_body(buf),
        }
    }

    /// The first byte of the fixed header.
    #[inline]
    fn first_byte(&self) -> u8 {
        let t = self.packet_type();
        let flags = match self {
            Self::Publish(p) => p.flags(),
            _ => t.fixed_flags(),
        };
        ((t as u8) << 4) | flags
    }

    /// The exact number of bytes [`Packet::encode`] writes for `version`, fixed header
    /// included. (CONNECT is always measured in its own version.)
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        let n = self.body_len(version);
        header_len(n) + n
    }

    /// Append the packet, encoded for `version`, to `buf`; returns the bytes written.
    /// CONNECT is always written in its own version. Nothing is written on error.
    #[inline]
    pub fn encode(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        self.encode_limited(version, MAX_PACKET_SIZE as usize, buf)
    }

    #[inline]
    pub(crate) fn encode_limited(
        &self,
        version: ProtocolVersion,
        max: usize,
        buf: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        if let Self::Publish(p) = self {
            return p.encode_limited(version, max, buf);
        }
        self.validate(version)?;
        let remaining = self.body_len(version);
        write_framed(self.first_byte(), remaining, max, buf, |buf| {
            self.put_body(version, buf);
        })
    }
}

macro_rules! from_packet {
    ($($name:ident => $variant:ident $(boxed $boxed:tt)?),* $(,)?) => {
        $(
            impl From<$name> for Packet {
                fn from(p: $name) -> Self {
                    from_packet!(@wrap $variant p $($boxed)?)
                }
            }
        )*
    };
    (@wrap $variant:ident $p:ident) => { Packet::$variant($p) };
    (@wrap $variant:ident $p:ident $_b:tt) => { Packet::$variant(Box::new($p)) };
}

from_packet!(
    Connect => Connect boxed 1,
    ConnAck => ConnAck boxed 1,
    Publish => Publish,
    PubAck => PubAck,
    PubRec => PubRec,
    PubRel => PubRel,
    PubComp => PubComp,
    Subscribe => Subscribe,
    SubAck => SubAck,
    Unsubscribe => Unsubscribe,
    UnsubAck => UnsubAck,
    Disconnect => Disconnect boxed 1,
    Auth => Auth boxed 1,
);
