//! # mqtt-proto
//!
//! MQTT 3.1, 3.1.1 and 5.0 without I/O: a packet codec, and the client session state machine
//! ([`client::ClientState`]). Bytes and time go in; bytes, deadlines and events come out. No
//! sockets, no clock, no tasks, no tokio: the transport belongs to the caller (`mqtt-client`
//! drives this crate over tokio; the tests drive it over in-memory buffers and a virtual
//! clock; the reference broker `mqtt-testkit` uses the codec on the server side).
//!
//! ## Data flow
//!
//! ```text
//!   socket bytes ──► BytesMut ──► Decoder::decode ──► Packet ──► application / session
//!   application  ──► Packet ──► Encoder::encode ──► BytesMut ──► socket bytes
//!
//!   with the state machine (a client):
//!   commands (publish, subscribe, ack, disconnect ...) ──► ClientState ◄── handle_read(bytes)
//!   clock ──► handle_timeout(now)                             │       ◄── handle_transport_closed
//!        poll_transmit ──► bytes to write ◄───────────────────┤
//!        poll_event    ──► Event (Connected, Message, PublishAck, Disconnected ...)
//!        poll_timeout  ──► the one deadline to wake up at (CONNACK, keepalive, PINGRESP)
//! ```
//!
//! ## Map of the crate
//!
//! - [`codec`]: [`Decoder`] (streaming, size-checked) and [`Encoder`] (the peer's size
//!   limit), and the wire primitives.
//! - [`packet`]: [`Packet`] and one type per packet ([`Connect`], [`Publish`], [`Subscribe`]
//!   ...); [`packet::property`] (5.0 properties, one struct per packet kind) and
//!   [`packet::reason`] (one reason-code enum per packet).
//! - [`topic`]: [`TopicName`] and [`TopicFilter`], validated at construction, and matching
//!   (`+`, `#`, `$` topics, `$share`).
//! - [`types`]: [`ProtocolVersion`], [`QoS`], [`PacketId`] (never 0), [`QosPid`].
//! - [`error`]: [`DecodeError`] (malformed input from the peer, naming the rule) and
//!   [`EncodeError`] (what may not be sent).
//! - [`client`]: the client session state machine: [`client::ClientState`],
//!   [`client::ClientOptions`], [`client::Event`] (connect, keepalive, QoS 0/1/2 both ways,
//!   manual acks, reconnect with session resume, resubscription, topic aliases, enhanced
//!   authentication).
//!
//! The codec:
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
//!
//! The state machine, driven by hand (the [`client`] module says more):
//!
//! ```
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use mqtt_proto::client::{ClientOptions, ClientState, Event};
//! use mqtt_proto::ProtocolVersion;
//!
//! let now = Instant::now();
//! let mut client = ClientState::new(ClientOptions::new(ProtocolVersion::V5, "sensor-1"));
//! client.connect(now);
//! let mut wire = BytesMut::new();
//! assert!(client.poll_transmit(now, &mut wire) > 0); // CONNECT: write it to the transport
//! let mut inbound = BytesMut::from(&[0x20, 0x03, 0x00, 0x00, 0x00][..]); // CONNACK
//! client.handle_read(now, &mut inbound);
//! assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
//! assert!(client.poll_timeout().is_some()); // the keepalive deadline
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;

// The README's examples, compiled as doctests (not part of the documentation).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod codec;
pub mod error;
pub mod packet;
pub mod topic;
pub mod types;
mod wire;

pub use codec::{DEFAULT_DECODER_MAX_PACKET_SIZE, Decoder, Encoder, MAX_PACKET_SIZE};
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
    RetainHandling, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions, UnsubAck, Unsubscribe,
    Will,
};
pub use topic::{TopicError, TopicFilter, TopicName};
pub use types::{PacketId, PacketType, ProtocolVersion, QoS, QosPid};
