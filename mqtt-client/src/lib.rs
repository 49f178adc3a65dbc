//! # mqtt-client: an async MQTT client for tokio
//!
//! MQTT 5.0, 3.1.1 and 3.1 over TCP, TLS (rustls), WebSocket and unix sockets, with
//! automatic reconnection, keepalive, QoS 0/1/2 with acknowledgements you can await,
//! resubscription and bounded queues. The protocol itself lives in `mqtt-proto` (sans-IO);
//! this crate moves bytes between a socket and that state machine in one task per client.
//! The [`guide`] covers URLs, TLS, WebSocket, reconnection, backpressure, manual
//! acknowledgements and request/response.
//!
//! ## Data flow
//!
//! ```text
//!  Client (Clone) ──requests (bounded mpsc)──► connection task ──► mqtt_proto ClientState
//!  Client::disconnect / Message::ack ─────────►      │                 │ poll_transmit
//!                                                    │                 ▼
//!  socket (TCP | TLS | ws | wss | unix) ◄── one batched write ◄── encoded packets
//!  socket ──► read buffer ──► ClientState::handle_read ──► events ──► routing by filter
//!        (or 5.0 Subscription Identifier) ──► Subscription streams / catch-all Messages
//!  PUBACK / PUBCOMP / SUBACK ... ──► the PublishHandle or subscribe call that waits for it
//!  connection lost ──► backoff (Reconnect) ──► new transport ──► session resumed or restored
//! ```
//!
//! ## Map of the crate
//!
//! - Connecting: [`Client::connect`] with [`Options`] (a URL with [`Options::from_url`], or
//!   an [`Endpoint`] and `with_*` methods), [`Reconnect`], [`Credentials`] and
//!   [`CredentialsHook`] for rotating tokens, [`TlsOptions`] (feature `tls`).
//! - Using the connection: [`Client`] (`publish`, `publish_with` + [`PublishRequest`],
//!   `subscribe`, `subscribe_many`, `unsubscribe`, `status`, `disconnect`),
//!   [`PublishHandle`] (resolves with a [`PublishAck`]), [`Subscription`] and [`Messages`]
//!   (streams of [`Message`]), [`Requester`] and [`respond`] (5.0 request/response),
//!   [`ConnectionStatus`].
//! - Errors: [`ConnectError`] (the connection could not be made), [`ClientError`] (a
//!   request failed; [`RequestError`] carries the broker's reason), [`ConnectionError`]
//!   (why a connection ended).
//! - Protocol types re-exported from `mqtt-proto` ([`QoS`], [`ProtocolVersion`],
//!   [`TopicName`], [`TopicFilter`], [`Will`], reason codes and properties), so that a
//!   user need not depend on it.
//!
//! ## Tutorial
//!
//! Connect, subscribe, publish, read:
//!
//! ```no_run
//! use std::time::Duration;
//! use mqtt_client::{Client, Options, QoS};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // mqtt://, mqtts://, ws://, wss://, unix://, with user:password@ if needed.
//! let options = Options::from_url("mqtt://localhost:1883?client_id=kitchen")?;
//! let (client, mut messages) = Client::connect(options).await?; // returns at CONNACK
//!
//! // A subscription is a stream of its own messages.
//! let mut temperatures = client.subscribe("sensors/+/temp", QoS::AtLeastOnce).await?;
//!
//! // publish() returns once queued; the handle resolves at PUBACK (QoS 1).
//! let ack = client.publish("sensors/kitchen/temp", QoS::AtLeastOnce, false, "21.5").await?;
//! ack.await?;
//!
//! let message = temperatures.recv().await.expect("a message");
//! assert_eq!(message.payload().as_ref(), b"21.5");
//!
//! // Messages no subscription stream takes arrive on the catch-all stream.
//! let _ = messages.try_recv();
//!
//! // Drain inflight messages for up to 5 s, then DISCONNECT.
//! client.disconnect(Duration::from_secs(5)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! ### What to expect
//! - **No event loop to poll.** [`Client::connect`] spawns the connection task; the
//!   [`Client`] is a cheap `Clone + Send + Sync` handle.
//! - **Every request ends.** A [`PublishHandle`] resolves at PUBACK (QoS 1), PUBCOMP
//!   (QoS 2) or once written (QoS 0); refusals carry their reason code; a publish whose
//!   session the broker lost ends by the session-loss policy; shutting down ends everything
//!   still open with [`ClientError::Closed`]. None hangs.
//! - **Reconnection** after the first successful connection: exponential backoff with full
//!   jitter ([`Reconnect`]); refusals that cannot succeed by retrying (bad credentials, not
//!   authorised...) stop it. Subscriptions are restored if the broker lost the session;
//!   unacknowledged QoS 1/2 messages are resent with DUP. Watch [`Client::status`].
//! - **Backpressure, never silent loss.** The request queue is bounded:
//!   [`Client::publish`] waits for room, [`Client::try_publish`] fails fast. Message
//!   streams are bounded: when one is full the client stops reading the socket (TCP
//!   pushes back on the broker) but keeps the connection alive. One exception keeps a task
//!   that publishes while holding an unread subscription from deadlocking (rumqttc
//!   #1025): while an acknowledgement is awaited the client reads on, up to 16 MiB of
//!   messages held back, to reach it.
//! - **Messages in the order they arrived.** Subscriptions declared in the options
//!   ([`Options::with_subscription`]) are made as part of connecting and deliver on the
//!   catch-all [`Messages`] stream from the first byte read, so a resumed persistent
//!   session's queued messages and the live ones come on one stream, in order.
//!   [`Client::subscribe`] registers its route before its SUBSCRIBE is written.
//! - **Batched writes.** Every packet ready is encoded into one buffer and written with one
//!   call.
//! - **Defaults that do not bite**: packets up to 8 MiB (announced on 5.0), TLS verified
//!   against the webpki roots, insecure options named `dangerous_*`, TCP_NODELAY on.
//! - Logs go through `tracing`; nothing is printed.
//!
//! ### Manual acknowledgements
//! With [`Options::with_manual_acks`], QoS 1 and 2 messages are acknowledged only when you
//! call [`Message::ack`], so a message is not acknowledged before you have handled it.
//! Acknowledgements go out in arrival order, as the specification requires.
//!
//! ### Request / response (5.0)
//! [`Client::requester`] subscribes to a response topic; [`Requester::request`] publishes
//! with Response Topic and Correlation Data and resolves with the reply. A responder
//! answers with [`respond`].
//!
//! ## Features
//! - `tls` (default): `mqtts://` and `wss://` with rustls and the ring provider;
//!   webpki-roots as the default trust store, the OS store ([`CaSource::OsStore`],
//!   rustls-native-certs) on request.
//!
//! Proxies ([`Proxy`]: SOCKS5, HTTP CONNECT) and your own transport ([`Connector`]) need
//! no feature.
//! - `aws-lc-rs`: rustls with the aws-lc-rs provider instead of ring.
//! - `websocket` (default): `ws://` and `wss://` through tokio-tungstenite.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod guide {
    //! The guide (`README.md` of the crate): every code block in it is compiled as a
    //! doctest.
    #![doc = include_str!("../README.md")]
}

// The workspace README's example, compiled too (not part of the documentation).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct WorkspaceReadme;

mod backoff;
mod client;
mod command;
mod driver;
mod endpoint;
mod error;
mod id_hash;
mod inbox;
mod message;
mod options;
mod proxy;
mod requests;
mod route;
mod socket;
mod status;
#[cfg(feature = "tls")]
mod tls;
mod transport;

pub use client::{Client, Messages, PublishHandle, Requester, Subscription, respond};
pub use endpoint::{AsyncStream, BoxStream, Connector, ConnectorFuture, Endpoint};
pub use error::{ClientError, ConnectError, ProxyError, TlsError};
pub use message::Message;
pub use options::{
    Credentials, CredentialsFuture, CredentialsHook, DEFAULT_MAX_INFLIGHT, DEFAULT_MAX_INFLIGHT_V3,
    DEFAULT_MAX_PACKET_SIZE, DeclaredSubscription, Direction, Options, PacketTrace, Reconnect,
    generated_client_id,
};
pub use proxy::{Proxy, ProxyKind, no_proxy_matches};
pub use status::ConnectionStatus;
#[cfg(feature = "tls")]
pub use tls::{CaSource, ClientCert, TlsOptions, TlsVersion};

/// rustls, as this crate uses it: to build a [`TlsOptions::config`] of your own, or to match
/// the error in [`TlsError::Rustls`].
#[cfg(feature = "tls")]
pub use tokio_rustls::rustls;

// ConnectionError is what `ConnectError::Connection` carries: re-exported so that callers
// can match on it without depending on mqtt-proto.
pub use mqtt_proto::client::{
    ConnectionError, LostPublish, PublishAck, PublishRequest, RequestError, SessionLossPolicy,
    SubscribeAck, UnsubscribeAck,
};
pub use mqtt_proto::{
    ConnectReason, Disconnect, DisconnectReason, ProtocolVersion, PubAckReason, PublishProperties,
    QoS, RetainHandling, SubAckReason, SubscribeFilter, SubscribeProperties, SubscriptionOptions,
    TopicFilter, TopicName, UnsubscribeProperties, UserProperty, Will,
};
