//! The client session state machine: everything MQTT asks of a client, with no I/O, no clock
//! and no tasks.
//!
//! [`ClientState`] is one logical client. It outlives its transports: the driver (for example
//! `mqtt-client` over tokio, or a test over in-memory buffers) opens a transport, calls
//! [`ClientState::connect`], and from then on only moves bytes and time in and bytes, deadlines
//! and events out. When the transport dies the same `ClientState` is connected again, and the
//! session (unacknowledged publishes, inbound QoS 2 state, subscriptions) carries over.
//!
//! Its methods come in four kinds, as in quinn-proto's `Connection`:
//! - **getters**: [`state`](ClientState::state), [`inflight`](ClientState::inflight),
//!   [`queued`](ClientState::queued), [`server`](ClientState::server)...
//! - **inputs** (`handle_*` and `connect`): bytes that arrived
//!   ([`handle_read`](ClientState::handle_read)), a timer that fired
//!   ([`handle_timeout`](ClientState::handle_timeout), which may be called spuriously), a
//!   transport that closed ([`handle_transport_closed`](ClientState::handle_transport_closed));
//! - **commands**: [`publish`](ClientState::publish), [`subscribe`](ClientState::subscribe),
//!   [`unsubscribe`](ClientState::unsubscribe), [`disconnect`](ClientState::disconnect),
//!   [`ack`](ClientState::ack), [`reauthenticate`](ClientState::reauthenticate); each returns
//!   at once with the [`RequestId`] its completion [`Event`] will carry;
//! - **outputs**, `#[must_use]`, to poll after every input or command, in this order:
//!   [`poll_transmit`](ClientState::poll_transmit) until it writes nothing, then
//!   [`poll_event`](ClientState::poll_event) until `None`, then
//!   [`poll_timeout`](ClientState::poll_timeout) to arm the one timer.
//!
//! Time is always passed in: give the current time when a timer fires, not the deadline.
//!
//! ```
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use mqtt_proto::client::{ClientOptions, ClientState, Event, PublishRequest};
//! use mqtt_proto::{ProtocolVersion, QoS, TopicName};
//!
//! let now = Instant::now();
//! let mut client = ClientState::new(ClientOptions::new(ProtocolVersion::V5, "sensor-1"));
//! client.connect(now);
//! let mut wire = BytesMut::new();
//! assert!(client.poll_transmit(now, &mut wire) > 0); // CONNECT, to write to the transport
//!
//! // The server accepts: CONNACK, session present 0, reason 0, no properties.
//! let mut inbound = BytesMut::from(&[0x20, 0x03, 0x00, 0x00, 0x00][..]);
//! client.handle_read(now, &mut inbound);
//! assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
//!
//! let topic = TopicName::new("sensors/1/temp").unwrap();
//! let id = client.publish(PublishRequest::new(topic, QoS::AtLeastOnce, "21.5")).unwrap();
//! wire.clear();
//! client.poll_transmit(now, &mut wire); // PUBLISH; its PUBACK will complete `id`
//! # let _ = id;
//! ```

//! ## Layout
//!
//! [`ClientState`] holds a `Session` (`session.rs`: what survives a reconnection, and what
//! a durable store would persist) and a `Connection` (`connection.rs`: what belongs to one
//! transport, replaced wholesale by [`connect`](ClientState::connect)). `state.rs` has the
//! public methods; `inbound.rs` handles what the server sends, `outbound.rs` what we send
//! and its acknowledgements; `aliases.rs` the topic aliases of a connection, `ids.rs` the
//! packet-id pool and the in-flight list, `request.rs` the requests, `event.rs` what is
//! reported, `options.rs` what is asked.

mod aliases;
mod auth;
mod connection;
mod event;
mod ids;
mod inbound;
mod options;
mod outbound;
mod persist;
mod request;
mod session;
mod state;

pub use auth::Authenticator;
pub use connection::{ConnectionState, ServerLimits};
pub use event::{
    AckToken, Connected, ConnectionError, Delivery, Event, Limit, ProtocolError, PublishAck,
    RequestError, RequestId, SubscribeAck, UnsubscribeAck,
};
pub use options::{ClientOptions, LostPublish, SessionLossPolicy};
pub use persist::{
    InvalidSession, OutboundState, PersistedPublish, PersistedSession, RestoreError, SessionChange,
    SessionMeta,
};
pub use request::PublishRequest;
pub use state::ClientState;
