//! # mqtt-proto
//!
//! MQTT 3.1, 3.1.1 and 5.0 without I/O: a packet codec (and, in time, the client session state
//! machine). Bytes go in, packets come out; packets go in, bytes come out. No sockets, no
//! clock, no tasks, no tokio: the transport belongs to the caller (`mqtt-client` drives this
//! crate over tokio; tests drive it over in-memory buffers).
//!
//! ```text
//!   socket bytes ──► BytesMut ──► Decoder::decode ──► Packet ──► application / session
//!   application  ──► Packet ──► Encoder::encode ──► BytesMut ──► socket bytes
//! ```
//!
//! ```
//! use bytes::BytesMut;
//! use mqtt_proto::{Decoder, Packet, ProtocolVersion, Publish, QosPid, PacketId, TopicName};
//!
//! let publish = Publish::new(
//!     TopicName::new("sensors/kitchen").unwrap(),
//!     QosPid::AtLeastOnce(PacketId::new(7).unwrap()),
//!     "21.5",
//! );
//! let mut wire = BytesMut::new();
//! Packet::from(publish.clone()).encode(ProtocolVersion::V5, &mut wire).unwrap();
//!
//! let mut decoder = Decoder::new(ProtocolVersion::V5);
//! assert_eq!(decoder.decode(&mut wire).unwrap(), Some(Packet::Publish(publish)));
//! ```
//!
//! ## What the codec guarantees
//! - **One type tree** for every version; the version is a parameter of [`Decoder`],
//!   [`Encoder`] and [`Packet::encode`].
//! - **Streaming**: [`Decoder::decode`] returns `Ok(None)` until a whole packet is buffered; a
//!   stream cut at any byte decodes the same.
//! - **Bounded**: the maximum packet size is checked from the fixed header, before the body is
//!   buffered.
//! - **Zero-copy**: topics, strings and payloads are [`bytes::Bytes`] slices of the read
//!   buffer; decoding a PUBLISH does not allocate.
//! - **Strict**: every malformed or forbidden input is a typed [`DecodeError`] naming the rule
//!   (statement ids such as `[MQTT-3.3.1-4]`); nothing panics on any input. What the
//!   specification forbids cannot be encoded ([`EncodeError`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod codec;
pub mod error;
pub mod packet;
pub mod topic;
pub mod types;
mod wire;

pub use codec::{DEFAULT_MAX_PACKET_SIZE, Decoder, Encoder, MAX_PACKET_SIZE};
pub use error::{DecodeError, EncodeError};
pub use packet::property::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PropertyId, PublishProperties, SubscribeProperties, SubscriptionId, UnsubscribeProperties,
    UserProperty, WillProperties,
};
pub use packet::reason::{
    AuthReason, ConnectReason, DisconnectReason, PubAckReason, PubRelReason, SubAckReason,
    UnsubAckReason,
};
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PubAck, PubComp, PubRec, PubRel, Publish,
    RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe,
    Will,
};
pub use topic::{TopicError, TopicFilter, TopicName};
pub use types::{PacketId, PacketType, ProtocolVersion, QoS, QosPid};
