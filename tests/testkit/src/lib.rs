//! # mqtt-testkit: an in-process MQTT reference broker for tests
//!
//! A strict MQTT 3.1, 3.1.1 and 5.0 broker that runs inside a test's tokio runtime: started
//! on a free loopback port in one line, it serves real sockets (TCP, TLS, WebSocket, secure
//! WebSocket, unix), reports what it saw as an awaitable event stream (so tests wait for
//! events instead of sleeping), and injects faults on demand (closes, withheld or delayed
//! acknowledgements, refused connections, raw bytes) at any point of a QoS flow. The
//! `mqtt-client` and `mqtt-cli` tests, the examples and the `mqbroker` binary run on it.
//! It is a reference for tests and local work, not a production broker: everything lives
//! in memory, and the list under "What it leaves out" says what it does not implement.
//!
//! Map of the crate: [`Broker`] and [`BrokerBuilder`] (listeners, limits, users and
//! [`Acl`]s), [`TlsConfig`] and [`certs`] (a test CA issuing server and client certificates),
//! [`Events`] and [`Event`] (what the broker saw; [`CloseReason`]), [`Faults`] and
//! [`ClientFaults`] (fault injection, below).
//!
//! ```text
//!   TcpListener (127.0.0.1:0) ─────────────────────────► one task per connection
//!   TLS TcpListener (optional) ──► rustls handshake ──► (generic over the stream)
//!   WebSocket TcpListener (optional) ──► HTTP upgrade ──► binary messages ⇄ duplex pipe
//!   wss TcpListener (optional) ──► rustls handshake ──► HTTP upgrade ──► (as WebSocket)
//!   UnixListener (optional, unix only) ─────────────────► one task per connection
//!       socket ──► Decoder ──► rules ──► shared State (sessions, subscriptions, retained)
//!       State ──► session queue ──► Encoder ──► one batched write ──► socket
//!       every step ──► Events (for tests to await)
//! ```
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mqtt_testkit::{Broker, Event};
//!
//! let broker = Broker::builder().start().await?;
//! let mut events = broker.events();
//! let addr = broker.local_addr(); // connect an MQTT client here
//! # let _ = addr;
//! // ... the client connects ...
//! let connected = events.wait_for(|e| matches!(e, Event::Connected { .. })).await;
//! # let _ = connected;
//! broker.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## What it does
//! - TCP on 127.0.0.1 port 0 (or a chosen address), [`Broker::local_addr`], a clean
//!   [`Broker::shutdown`] that closes every connection (5.0 clients get DISCONNECT 0x8B) and
//!   waits for every task.
//! - TLS (rustls, ring provider, TLS 1.2 and 1.3) alongside TCP when
//!   [`BrokerBuilder::tls`] is given a [`TlsConfig`] (certificate chain and key from PEM
//!   or DER): [`Broker::tls_addr`]. The handshake runs in the connection's own task within
//!   the connect timeout; a failed or stalled handshake closes that connection only (logged,
//!   no [`Event`]). Client certificate authentication (rustls' `WebPkiClientVerifier`) with
//!   [`TlsConfig::client_auth_required`] or [`TlsConfig::client_auth_optional`]: a client
//!   without a certificate (when required) or with one the given CAs did not issue fails
//!   the handshake (with TLS 1.3 it learns so at its first read) and others are served.
//! - Test certificates: [`certs::TestCa`] generates a CA (rcgen) that issues server
//!   certificates (DNS and IP address names) and client certificates ([`certs::TestCert`]:
//!   PEM and DER, key included), with a ready [`TlsConfig`] and rustls client
//!   configurations. `tests/tls.rs` and `tests/listeners.rs` use it with tokio-rustls.
//! - WebSocket (tokio-tungstenite, plain `ws://`) alongside TCP when
//!   [`BrokerBuilder::websocket`] is set: [`Broker::ws_addr`]. The upgrade is accepted on any
//!   path only if the client offers the subprotocol `mqtt` (answered with it; 400 Bad
//!   Request otherwise) and must complete within the connect timeout. MQTT travels in binary
//!   messages, bridged to the connection as a byte stream, so a packet may span messages and
//!   a message may hold several packets; a text message closes the connection
//!   (`[MQTT-6.0.0-1]`). `tests/websocket.rs` connects with tokio-tungstenite.
//! - Secure WebSocket (`wss://`) when [`BrokerBuilder::websocket_tls`] is given a
//!   [`TlsConfig`] (client certificates included): [`Broker::wss_addr`]; the TLS handshake
//!   then the same upgrade, both within the connect timeout.
//! - A unix domain socket (unix only) at [`BrokerBuilder::unix`]'s path:
//!   [`Broker::unix_path`]; the path must be free, and shutdown removes the socket file.
//! - MQTT 3.1, 3.1.1 and 5.0 clients at once. The first packet must be CONNECT and a second
//!   CONNECT is a protocol error; an unsupported protocol level gets CONNACK 0x01. Empty client
//!   identifiers get a server-assigned one (5.0: Assigned Client Identifier; 3.1.1 only with
//!   clean session, else CONNACK 0x02; 3.1 always 0x02).
//! - Every malformed packet or protocol violation closes the connection, after a DISCONNECT
//!   with the decode error's reason code on 5.0, and is logged through `tracing` naming the
//!   rule (`[MQTT-x.y.z-n]`).
//! - Keep alive enforced at 1.5 × the client's value; a connection that sends no CONNECT
//!   within [`BrokerBuilder::connect_timeout`] is closed, and so is one whose half-received
//!   packet does not complete within [`BrokerBuilder::packet_timeout`] (30 s by default;
//!   [`CloseReason::PacketTimeout`]). With [`BrokerBuilder::max_keep_alive`], a 5.0 client
//!   asking for more (or for 0) gets Server Keep Alive in its CONNACK and is held to it.
//! - Hostile input: a packet larger than [`BrokerBuilder::max_packet_size`] is refused from
//!   its fixed header (the connection is closed at once, nothing is reserved for the body);
//!   a remaining length over 4 bytes is malformed; very deep topics (10,000 levels, with the
//!   limit raised), thousands of subscriptions from one client and bursts of hundreds of
//!   CONNECTs are served, and other clients keep being served meanwhile (tested in
//!   `tests/hostile.rs`). Caps with defaults: [`BrokerBuilder::max_subscriptions`] per
//!   session (10,000; beyond it SUBACK 0x97 Quota exceeded, 3.x 0x80),
//!   [`BrokerBuilder::max_connections`] (1,000 connected clients; beyond it CONNACK 0x97,
//!   3.x 3 Server unavailable) and [`BrokerBuilder::max_topic_levels`] (1,000; a deeper
//!   PUBLISH closes the connection with DISCONNECT 0x90 on 5.0,
//!   [`CloseReason::LimitExceeded`]; a deeper filter gets SUBACK 0x8F, 3.x 0x80; a deeper
//!   will topic CONNACK 0x90, 3.x a close).
//! - Memory under that abuse is measured (`tests/memory.rs`, Linux, `/proc/self/status`):
//!   200 connections announcing 256 MiB PUBLISHes (refused at the default cap; with the cap
//!   raised to admit them, 64 KiB of each buffered until the packet timeout), 100 truncated
//!   packets timing out, 10,000 subscriptions, topics at the level cap and a 500-CONNECT
//!   flood raise the process's peak resident memory by about 18 MiB (asserted under 64 MiB;
//!   only what arrived is buffered, nothing is reserved for an announced body).
//! - SUBSCRIBE / UNSUBSCRIBE with per-filter SUBACK / UNSUBACK codes; `+`, `#`, the `$`
//!   rule, shared subscriptions `$share/group/filter` (round robin within a group, connected
//!   members first). Overlapping subscriptions of one client get one copy at the highest QoS
//!   (5.0: carrying the Subscription Identifiers of all of them; a shared subscription's copy
//!   carries its own).
//! - PUBLISH at QoS 0, 1 and 2 in both directions, downgraded to the subscription's maximum
//!   QoS; QoS 2 exactly once (inbound ids held until PUBREL; outbound PUBREC / PUBREL /
//!   PUBCOMP); packet identifiers per session; per-session order kept across QoS levels; the
//!   client's 5.0 Receive Maximum limits what is inflight to it.
//! - Retained messages: set, replace, clear with an empty payload, sent with RETAIN on
//!   subscribe (not for shared subscriptions); 5.0 retain handling and retain-as-published;
//!   one whose Message Expiry Interval passed is removed, not sent.
//! - Sessions: clean session / clean start; persistent sessions (3.x clean session 0, 5.0
//!   Session Expiry Interval > 0) keep their subscriptions, inflight and queued QoS 1/2
//!   messages while the client is away; on reconnect Session Present is set and
//!   unacknowledged messages are resent with DUP (PUBREL for those already received), no
//!   more than the client's new 5.0 Receive Maximum allows (those awaiting PUBCOMP count;
//!   the others follow, in order, as acknowledgements free room [MQTT-3.3.4-9]).
//!   A client id connecting twice takes the session over (5.0: DISCONNECT 0x8E to the old one);
//!   a session whose connection kept none (3.x clean session 1, 5.0 Session Expiry 0) ends
//!   with that connection, so the new one starts a new session even with clean session 0
//!   (Session Present 0). Inflight messages are indexed by packet id, so thousands
//!   unacknowledged cost O(1) per message and acknowledgement.
//!   5.0 Session Expiry Interval: a session is discarded that many seconds after its
//!   connection ends (the CONNECT's value, or the one its DISCONNECT set; setting one on
//!   DISCONNECT after 0 is a protocol error [MQTT-3.14.2-2]), reported as
//!   [`Event::SessionExpired`]; `u32::MAX`, and 3.x clean session 0, never expire.
//! - Queue policy: each session queues at most [`BrokerBuilder::max_queued_messages`] messages
//!   not yet sent (inflight ones excluded); when the queue is full, **new** messages for that
//!   session are dropped, logged and reported as [`Event::MessageDropped`]. QoS 0 messages are
//!   not queued for an absent client.
//! - Wills: published after a broken connection, a keep alive timeout, a protocol violation or
//!   a takeover; not after a normal DISCONNECT (5.0: reason 0x04 publishes it). 5.0 Will
//!   Delay Interval: the will waits for the delay, or until the session ends if sooner, and
//!   is dropped if the client reconnects to the session meanwhile [MQTT-3.1.3-9], or takes
//!   it over while still connected (a clean start ends the old session, so it is then
//!   published at once). A 5.0 will's properties (Payload Format Indicator, Message Expiry
//!   Interval, counted from its publication, Content Type, Response Topic, Correlation Data,
//!   User Properties in order) travel with it.
//! - 5.0 message expiry: a queued or retained message whose Message Expiry Interval passed
//!   is dropped [MQTT-3.3.2-5]; one delivered carries the seconds left [MQTT-3.3.2-6]. An
//!   inflight one (sent, not acknowledged) has started onward delivery, so it is resent on
//!   reconnect even when expired [MQTT-4.4.0-1], with the seconds left (0 if none). No Local
//!   subscriptions get nothing their own client id published [MQTT-3.8.3-3].
//! - 5.0 topic aliases from clients with [`BrokerBuilder::topic_alias_maximum`] (announced
//!   in the CONNACK; per connection; resolved before routing and not passed on); 0 or one
//!   above the maximum gets DISCONNECT 0x94, an unmapped one 0x82. Without it every alias is
//!   refused with 0x94. With [`BrokerBuilder::assign_topic_aliases`], the broker assigns
//!   aliases to 5.0 clients that accept them, per connection, up to their Topic Alias
//!   Maximum [MQTT-3.3.2-11] (topic and alias the first time, then the alias alone).
//! - 5.0 Subscription Identifiers (available unless
//!   [`BrokerBuilder::subscription_identifiers`] is false; 0 is a protocol error): kept per
//!   subscription and sent in every PUBLISH it causes [MQTT-3.3.4-3], retained ones included;
//!   a client PUBLISH carrying one is a protocol error [MQTT-3.3.4-6].
//! - [`BrokerBuilder::receive_maximum`]: announced to 5.0 clients and enforced (DISCONNECT
//!   0x93 [MQTT-3.3.4-7]). [`BrokerBuilder::maximum_qos`]: announced [MQTT-3.2.2-9];
//!   subscriptions are granted at most that QoS (every version), a PUBLISH above it closes
//!   the connection (5.0: DISCONNECT 0x9B), a will above it refuses the CONNECT (5.0: CONNACK
//!   0x9B; 3.x: closed without a CONNACK, as mosquitto does).
//! - Authentication: anonymous by default; with [`BrokerBuilder::users`] /
//!   [`BrokerBuilder::user`], a CONNECT must carry a known user name and its password, else
//!   CONNACK 4 Bad user name or password (5 Not authorized without credentials; 5.0: 0x86 /
//!   0x87) and the connection closes ([`Event::AuthenticationFailed`]). An
//!   [`Authenticator`] ([`BrokerBuilder::authenticator`]) checks passwords its own way (a
//!   refusal is 5 Not authorized, as mosquitto answers); [`BrokerBuilder::allow_anonymous`]
//!   decides for clients without a user name.
//! - An [`Authorizer`] ([`BrokerBuilder::authorizer`]) decides after the deny lists what each
//!   client may subscribe to and publish, and is asked for read access for every message a
//!   session would receive, so a subscription to `#` can still be kept from some topics.
//! - Deny lists (topic filter patterns, for every client): [`BrokerBuilder::deny_subscribe`]
//!   refuses matching filters in the SUBACK (0x80 on 3.x, 0x87 on 5.0; the other filters of
//!   the SUBSCRIBE are granted, [`Event::SubscribeDenied`]); [`BrokerBuilder::deny_publish`]
//!   drops matching PUBLISHes unrouted (5.0: PUBACK / PUBREC 0x87; 3.x: acknowledged as
//!   usual, as mosquitto does; [`Event::PublishDenied`]), and wills to denied topics too.
//!   Refusals are logged. Per-user deny lists add to the global ones:
//!   [`BrokerBuilder::user_acl`] with an [`Acl`], by the CONNECT's user name.
//! - [`Broker::events`]: a stream of what the broker saw ([`Event`]), so that tests await
//!   instead of sleeping.
//! - Fault injection through [`Broker::faults`] (next section).
//!
//! ## Fault injection
//! Rules are armed per client identifier with [`Faults::for_client`] and apply to that
//! client's connections from then on: the live one, if any, and the next ones; or, through
//! [`ClientFaults::live_connection`], to the client's live connection only (they go when it
//! ends). Each rule fires once and is then gone, unless armed through
//! [`ClientFaults::times`] (n times) or [`ClientFaults::every_time`] (until
//! [`Faults::clear`]); a counting rule counts afresh after each firing, and a rule with
//! firings left survives reconnections. When one fires
//! the broker reports [`Event::FaultFired`] (before its effect is on the wire) and a
//! connection it closes ends with [`CloseReason::Fault`] (the will is published, as after
//! any abnormal close). Packets are counted per rule, from the moment it is armed.
//!
//! ```no_run
//! # async fn demo(broker: &mqtt_testkit::Broker) {
//! use mqtt_proto::{ConnectReason, DisconnectReason};
//! use mqtt_testkit::{Direction, PacketType};
//!
//! let c1 = broker.faults().for_client("c1");
//! c1.close_after(Direction::In, PacketType::Publish, 1) // processed, PUBACK not sent
//!     .close_after(Direction::Out, PacketType::PubRec, 1) // PUBREC sent, then closed
//!     .withhold(PacketType::PubAck); // the next PUBACK is never sent
//! broker.faults().for_client("c2").refuse_connect(ConnectReason::NotAuthorized);
//! broker.faults().for_client("c3").session_present(true);
//! broker.faults().for_client("c4").go_silent_after(Direction::In, PacketType::Subscribe, 1);
//! broker.faults().for_client("c5").disconnect_with(DisconnectReason::ServerBusy); // now
//! let c6 = broker.faults().for_client("c6");
//! c6.delay(PacketType::PubComp, std::time::Duration::from_secs(5)) // held back 5 s
//!     .send_duplicate_publish(); // the next QoS 1/2 PUBLISH to c6 goes out twice
//! c6.send_unsolicited(mqtt_proto::PubAck::new(mqtt_proto::PacketId::MAX)); // now
//! c6.send_raw(vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F]); // now: any bytes, as they are
//! let c7 = broker.faults().for_client("c7");
//! c7.every_time().withhold(PacketType::PubAck); // no PUBACK ever
//! c7.times(2).refuse_connect(ConnectReason::ServerBusy); // the next two CONNECTs
//! c7.delay_received(PacketType::Subscribe, std::time::Duration::from_secs(2));
//! c7.close_after_time(std::time::Duration::from_secs(30)); // a dropped connection
//! if let Some(live) = c7.live_connection() {
//!     live.withhold(PacketType::PingResp); // this connection only
//! }
//! # }
//! ```
//!
//! - [`ClientFaults::close_after`]: close right after the nth packet of a type, received or
//!   sent. A received packet is processed (a PUBLISH routed, a PUBREL releasing its id) but
//!   nothing it causes is sent; a sent packet is written and nothing after it. No
//!   DISCONNECT.
//! - [`ClientFaults::withhold`]: do not send the next packet of a type (an acknowledgement,
//!   usually; a withheld PUBLISH stays inflight as if lost).
//! - [`ClientFaults::refuse_connect`]: answer the next CONNECT with a CONNACK carrying the
//!   chosen code, then close, leaving the session untouched (3.x clients get 0x03 for a code
//!   3.1.1 lacks).
//! - [`ClientFaults::session_present`]: force the Session Present flag of the next
//!   successful CONNACK (the session itself is what it is).
//! - [`ClientFaults::go_silent_after`]: after the nth packet of a type, received or sent,
//!   keep the socket open and read it but process and answer nothing and enforce no keep
//!   alive (half-open); it ends when the client closes, on a takeover or at shutdown.
//! - [`ClientFaults::disconnect_with`]: immediately, on the live connection: DISCONNECT with
//!   the chosen reason (5.0; 3.x clients are just closed), then close.
//! - [`ClientFaults::delay`]: hold the next outbound packet of a type back for a duration;
//!   packets sent meanwhile overtake it, and it is lost if the connection ends first (on a
//!   paused tokio clock the delay is exact and instant).
//! - [`ClientFaults::send_duplicate_publish`]: send the next outbound QoS 1 or 2 PUBLISH
//!   twice, the second copy right after the first with DUP set and the same packet
//!   identifier.
//! - [`ClientFaults::send_unsolicited`]: immediately, on the live connection, send any
//!   packet outside any flow (an acknowledgement with an unknown packet identifier, a
//!   SUBACK nobody asked for...), encoded for the client's version; one over the client's
//!   Maximum Packet Size is not sent.
//! - [`ClientFaults::send_raw`]: immediately, on the live connection, write bytes as they
//!   are (an oversize packet, a malformed one).
//! - [`ClientFaults::delay_received`]: hold the next received packet of a type for a
//!   duration before processing it; packets received after it wait behind it, output flows
//!   on, keep alive is not enforced meanwhile (a CONNECT can be held too).
//! - [`ClientFaults::close_after_time`]: close, without DISCONNECT, a duration after it is
//!   armed (live connection) or after the next CONNECT.
//!
//! ## What it leaves out
//! - TLS has no SNI or certificate reloading, no revocation lists, and the client
//!   certificate's identity is not passed on (no [`Event`] names it, and it is not mapped to
//!   a user for [`Acl`]s); WebSocket has no origin or path checks (its messages are limited
//!   to twice the maximum packet size). The unix socket has no permission settings (the
//!   umask applies) and no peer credentials.
//!   `mqbroker`, the binary (package `mqbroker`) that runs this broker, has `--ws-port`,
//!   `--tls-port` / `--wss-port` with `--cert` / `--key`, and `--unix` flags (no client
//!   certificate flags).
//! - Fault injection has no rules for connections before their CONNECT other than by the
//!   client identifier it carries, and no random (probabilistic) faults.
//! - Authorisation is by deny lists only (global and per user name; no allow lists, no
//!   per-client-id lists), and the deny lists are not checked at CONNECT (a will to a
//!   denied topic is accepted, and dropped when it would be published); no enhanced (AUTH)
//!   authentication; passwords are compared as UTF-8 text.
//! - 5.0 extras: no enhanced authentication (AUTH is a protocol error); PUBLISH properties
//!   are otherwise passed through untouched to 5.0 clients (dropped for 3.x clients).
//!   Broker-assigned topic aliases are never replaced once the client's maximum is used
//!   up. The maximum keep alive does not apply to 3.x clients (they cannot be told), and
//!   the broker never sends a Session Expiry Interval of its own in the CONNACK (it
//!   honours the client's).
//! - Hostile input: no cap on connections that have not sent CONNECT yet (only the connect
//!   timeout bounds them), on retained messages, on the length of a topic level, or on the
//!   inbound QoS 2 ids awaiting PUBREL from a 3.x client (5.0 clients are held to
//!   [`BrokerBuilder::receive_maximum`]).
//! - It is not a production broker and never will be.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's examples, compiled as doctests (not part of the documentation).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// The modules, leaves first; each imports only from the ones above it (`lib.rs` aside):
//   acl, fault, peer, tls, certs            leaves (certs uses tls)
//   event ─► fault;  config ─► acl;  session (+ session/inflight)
//   state ─► config, event, fault, session          sessions, routing, lifecycle
//   shared ─► state                                 Arc<Mutex<State>> and its lock
//   handler/ ─► state, session, config, event, peer the rules, sans-IO
//   conn ─► handler, shared, ...;  ws ─► conn;  accept ─► conn, ws
//   inject ─► shared, state, ...                    the public fault handles

mod accept;
mod acl;
pub mod certs;
mod config;
mod conn;
mod event;
pub mod external;
mod fault;
mod handler;
mod inject;
mod peer;
pub mod raw;
pub mod script;
mod session;
mod shared;
mod state;
mod tls;
mod ws;

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::acl::{Access, Acl, Authenticator, Authorizer};
use crate::config::Config;
pub use crate::event::{CloseReason, Event, Events};
pub use crate::fault::{Direction, Fault};
pub use crate::inject::{ClientFaults, Faults};
use crate::shared::{Shared, lock};
use crate::state::State;
pub use crate::tls::TlsConfig;
pub use mqtt_proto::PacketType;

/// A running broker. Dropping it stops accepting and closes every connection; prefer
/// [`Broker::shutdown`], which also waits for that to finish.
#[derive(Debug)]
pub struct Broker {
    local_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    ws_addr: Option<SocketAddr>,
    wss_addr: Option<SocketAddr>,
    unix_path: Option<PathBuf>,
    shared: Shared,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// The addresses of the listeners added with [`BrokerBuilder::listener`], in order.
    listener_addrs: Vec<SocketAddr>,
    /// Their accept tasks.
    listener_tasks: Vec<JoinHandle<()>>,
}

/// One more listener, for [`BrokerBuilder::listener`]: any number of each kind may be added,
/// all serving the same broker.
#[derive(Debug, Clone)]
pub enum Listener {
    /// MQTT over TCP.
    Tcp(SocketAddr),
    /// MQTT over TLS (as [`BrokerBuilder::bind_tls`]).
    Tls(SocketAddr, TlsConfig),
    /// MQTT over WebSocket (as [`BrokerBuilder::bind_websocket`]).
    WebSocket(SocketAddr),
    /// MQTT over secure WebSocket (as [`BrokerBuilder::bind_websocket_tls`]).
    WebSocketTls(SocketAddr, TlsConfig),
}

impl Broker {
    /// A builder with the defaults: 127.0.0.1 port 0, the codec's default maximum packet
    /// size (16 MiB), 1000 queued messages per session, 10 s to send CONNECT, 30 s to
    /// complete a half-received packet.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// Start a broker with the defaults.
    pub async fn start() -> io::Result<Self> {
        Self::builder().start().await
    }

    /// The addresses the listeners added with [`BrokerBuilder::listener`] are bound to, in
    /// the order they were added (the real ports where port 0 was asked for).
    pub fn listener_addrs(&self) -> &[SocketAddr] {
        &self.listener_addrs
    }

    /// The address the TCP listener is bound to (without the default listener, see
    /// [`BrokerBuilder::default_listener`], the first added listener's).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the TLS listener is bound to, if [`BrokerBuilder::tls`] configured one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The address the WebSocket listener is bound to, if [`BrokerBuilder::websocket`]
    /// configured one.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws_addr
    }

    /// The address the secure WebSocket listener is bound to, if
    /// [`BrokerBuilder::websocket_tls`] configured one.
    pub fn wss_addr(&self) -> Option<SocketAddr> {
        self.wss_addr
    }

    /// The path of the unix domain socket, if [`BrokerBuilder::unix`] configured one.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// Events from now on (each call gets its own receiver).
    pub fn events(&self) -> Events {
        Events {
            rx: lock(&self.shared).subscribe_events(),
        }
    }

    /// Fault injection: arm rules that make the broker misbehave for a client (see the
    /// crate documentation).
    pub fn faults(&self) -> Faults {
        Faults {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The retained message on `topic`, if any and not expired (its payload).
    pub fn retained(&self, topic: &str) -> Option<bytes::Bytes> {
        // An expired one is removed and not returned [MQTT-3.3.2-5].
        lock(&self.shared)
            .retained_message(topic)
            .map(|p| p.payload)
    }

    /// Stop accepting, close every connection and wait until all of them have ended.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in std::iter::once(self.task).chain(self.listener_tasks) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "broker accept task failed");
            }
        }
    }
}

/// Configures and starts a [`Broker`].
#[derive(Debug, Clone)]
pub struct BrokerBuilder {
    addr: SocketAddr,
    tls: Option<(SocketAddr, TlsConfig)>,
    ws: Option<SocketAddr>,
    wss: Option<(SocketAddr, TlsConfig)>,
    unix: Option<PathBuf>,
    config: Config,
    default_listener: bool,
    listeners: Vec<Listener>,
}

impl Default for BrokerBuilder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            ws: None,
            wss: None,
            unix: None,
            config: Config::default(),
            default_listener: true,
            listeners: Vec::new(),
        }
    }
}

impl BrokerBuilder {
    /// Listen on this address instead of 127.0.0.1:0.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Also serve MQTT over TLS, on 127.0.0.1 port 0 ([`Broker::tls_addr`]), with this
    /// certificate and key; TCP is still served at [`Broker::local_addr`]. The handshake must
    /// complete within the [`BrokerBuilder::connect_timeout`]; a failed one closes that
    /// connection only.
    pub fn tls(self, config: TlsConfig) -> Self {
        self.bind_tls(SocketAddr::from(([127, 0, 0, 1], 0)), config)
    }

    /// Like [`BrokerBuilder::tls`], on a chosen address.
    pub fn bind_tls(mut self, addr: SocketAddr, config: TlsConfig) -> Self {
        self.tls = Some((addr, config));
        self
    }

    /// Also serve MQTT over WebSocket, on 127.0.0.1 port 0 ([`Broker::ws_addr`]): an HTTP
    /// upgrade on any path that must offer the subprotocol `mqtt` (it is refused with 400
    /// otherwise), then MQTT in binary messages, a packet possibly spanning several messages
    /// or several packets sharing one. Plain `ws://` only; the upgrade must complete within
    /// the [`BrokerBuilder::connect_timeout`].
    pub fn websocket(self) -> Self {
        self.bind_websocket(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Like [`BrokerBuilder::websocket`], on a chosen address.
    pub fn bind_websocket(mut self, addr: SocketAddr) -> Self {
        self.ws = Some(addr);
        self
    }

    /// Also serve MQTT over secure WebSocket (`wss://`), on 127.0.0.1 port 0
    /// ([`Broker::wss_addr`]): a TLS handshake with this configuration (client certificates
    /// included, if it asks for them), then the same upgrade and framing as
    /// [`BrokerBuilder::websocket`]. Both must complete within the
    /// [`BrokerBuilder::connect_timeout`]; a failed one closes that connection only.
    pub fn websocket_tls(self, config: TlsConfig) -> Self {
        self.bind_websocket_tls(SocketAddr::from(([127, 0, 0, 1], 0)), config)
    }

    /// Like [`BrokerBuilder::websocket_tls`], on a chosen address.
    pub fn bind_websocket_tls(mut self, addr: SocketAddr, config: TlsConfig) -> Self {
        self.wss = Some((addr, config));
        self
    }

    /// Also serve MQTT over a unix domain socket bound at `path` ([`Broker::unix_path`]).
    /// Nothing may exist at the path yet (starting fails otherwise); the socket file is
    /// removed by [`Broker::shutdown`]. On other platforms starting fails.
    pub fn unix(mut self, path: impl Into<PathBuf>) -> Self {
        self.unix = Some(path.into());
        self
    }

    /// The largest packet accepted from a client, fixed header included (announced to 5.0
    /// clients as Maximum Packet Size). Larger packets close the connection.
    pub fn max_packet_size(mut self, max: NonZeroU32) -> Self {
        self.config.max_packet_size = max;
        self
    }

    /// How many messages each session may have queued and not yet sent. When full, new
    /// messages for that session are dropped ([`Event::MessageDropped`]).
    pub fn max_queued_messages(mut self, max: usize) -> Self {
        self.config.max_queued_messages = max;
        self
    }

    /// How long a new connection may take to send CONNECT.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// How long a half-received packet may take to complete (30 s by default): a
    /// connection with a partial packet buffered for longer is closed
    /// ([`CloseReason::PacketTimeout`]), whatever its keep alive.
    pub fn packet_timeout(mut self, timeout: Duration) -> Self {
        self.config.packet_timeout = timeout;
        self
    }

    /// Require authentication: every CONNECT must carry one of these user names with its
    /// password, else it is refused (CONNACK return code 4 Bad user name or password, or 5
    /// Not authorized when it carries no credentials; 5.0: 0x86 / 0x87) and the connection
    /// closes ([`Event::AuthenticationFailed`]). Adds to the users already set. Without
    /// users, everyone is anonymous and allowed in.
    pub fn users(mut self, users: impl IntoIterator<Item = (String, String)>) -> Self {
        self.config
            .users
            .get_or_insert_with(Default::default)
            .extend(users);
        self
    }

    /// Require authentication (see [`BrokerBuilder::users`]) and add one user.
    pub fn user(self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users([(name.into(), password.into())])
    }

    /// Refuse subscriptions whose topic filter matches this pattern (a topic filter, matched
    /// against the subscribed filter string: `secret/#` denies `secret/a`, `secret/+` and
    /// `secret/#`; a shared subscription is also checked by its inner filter). The SUBACK
    /// carries 0x80 (3.1.1) or 0x87 Not authorized (5.0) for it; the other filters of the
    /// SUBSCRIBE are granted ([`Event::SubscribeDenied`]).
    pub fn deny_subscribe(mut self, pattern: impl Into<String>) -> Self {
        self.config.deny_subscribe.push(pattern.into());
        self
    }

    /// Refuse publishing to topics matching this pattern (a topic filter): the message is
    /// not routed nor retained; 5.0 clients get PUBACK / PUBREC 0x87 Not authorized, 3.x
    /// clients the usual acknowledgements (as mosquitto does), QoS 0 is dropped silently
    /// ([`Event::PublishDenied`]). A will to a matching topic is dropped in the same way.
    pub fn deny_publish(mut self, pattern: impl Into<String>) -> Self {
        self.config.deny_publish.push(pattern.into());
        self
    }

    /// Deny `user` (the user name of a CONNECT) more than the global deny lists do: the
    /// patterns of `acl` are checked after the global ones, with the same matching and the
    /// same refusals ([`Event::SubscribeDenied`], [`Event::PublishDenied`], wills dropped).
    /// Several calls for one user add up. Without [`BrokerBuilder::users`] the user name is
    /// whatever the client claims; a client without one gets only the global lists.
    pub fn user_acl(mut self, user: impl Into<String>, acl: Acl) -> Self {
        self.config
            .user_acls
            .entry(user.into())
            .or_default()
            .extend(acl);
        self
    }

    /// The most subscriptions one session may hold (10,000 by default). Filters of a
    /// SUBSCRIBE that would go beyond it are refused in the SUBACK (5.0: 0x97 Quota
    /// exceeded; 3.x: 0x80) and the others granted; replacing an existing subscription
    /// always succeeds.
    pub fn max_subscriptions(mut self, max: usize) -> Self {
        self.config.max_subscriptions = max;
        self
    }

    /// The most clients connected at once (1,000 by default), counted from an accepted
    /// CONNECT until the connection ends. A CONNECT beyond it is refused (5.0: CONNACK 0x97
    /// Quota exceeded; 3.x: 3 Server unavailable) and the connection closed; taking over a
    /// connected client's session is not refused. Connections that have not sent CONNECT
    /// are not counted (the [`BrokerBuilder::connect_timeout`] bounds them).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max;
        self
    }

    /// The most levels a topic name or filter may have (1,000 by default; at least 1).
    /// A PUBLISH with a deeper topic closes the connection (5.0: DISCONNECT 0x90 Topic Name
    /// invalid; [`CloseReason::LimitExceeded`]); a deeper filter in a SUBSCRIBE is refused
    /// in the SUBACK (5.0: 0x8F Topic Filter invalid; 3.x: 0x80); a CONNECT whose will
    /// topic is deeper is refused (5.0: CONNACK 0x90; 3.x: closed without a CONNACK).
    pub fn max_topic_levels(mut self, max: usize) -> Self {
        self.config.max_topic_levels = max.max(1);
        self
    }

    /// The longest keep alive (seconds) a 5.0 client may use: one asking for more, or for
    /// 0 (none), gets this value back as Server Keep Alive in its CONNACK and is held to it
    /// (1.5 × it without a packet closes the connection). 3.x clients, who cannot be told,
    /// keep their own value.
    pub fn max_keep_alive(mut self, secs: u16) -> Self {
        self.config.max_keep_alive = Some(secs).filter(|s| *s > 0);
        self
    }

    /// Accept topic aliases from 5.0 clients, 1 to `max` (announced as Topic Alias Maximum
    /// in the CONNACK). Aliases are per connection and are resolved before routing; 0, one
    /// above the maximum, or an unmapped one closes the connection (DISCONNECT 0x94, or
    /// 0x82 for an unmapped one). The default, 0, refuses every alias.
    pub fn topic_alias_maximum(mut self, max: u16) -> Self {
        self.config.topic_alias_maximum = max;
        self
    }

    /// How many QoS 1 and 2 PUBLISHes a 5.0 client may have unacknowledged at once
    /// (65,535 by default, the most there can be): announced as Receive Maximum in the
    /// CONNACK when lower; a client that sends more gets DISCONNECT 0x93 Receive Maximum
    /// exceeded [MQTT-3.3.4-7]. A QoS 1 PUBLISH counts until its PUBACK is sent, a QoS 2
    /// one until its PUBCOMP (one refused with a PUBREC of 0x80 or above does not count).
    /// 3.x clients, who cannot be told, are not limited.
    pub fn receive_maximum(mut self, max: std::num::NonZeroU16) -> Self {
        self.config.receive_maximum = max;
        self
    }

    /// The highest QoS the broker accepts (QoS 2, all of them, by default). Announced to
    /// 5.0 clients as Maximum QoS in the CONNACK [MQTT-3.2.2-9]; a PUBLISH above it closes
    /// the connection (5.0: DISCONNECT 0x9B QoS not supported [MQTT-3.2.2-11]), a will
    /// above it refuses the CONNECT (5.0: CONNACK 0x9B [MQTT-3.2.2-12]; 3.x: closed without
    /// a CONNACK, as mosquitto does). Subscriptions asking for more are granted this QoS
    /// on every version [MQTT-3.2.2-10], [MQTT-3.8.4-7].
    pub fn maximum_qos(mut self, qos: mqtt_proto::QoS) -> Self {
        self.config.maximum_qos = qos;
        self
    }

    /// Whether 5.0 clients may give a SUBSCRIBE a Subscription Identifier (yes by
    /// default). When they may, each subscription keeps its identifier and every PUBLISH
    /// it causes carries it [MQTT-3.3.4-3]; when not, Subscription Identifiers Available
    /// is 0 in the CONNACK and a SUBSCRIBE carrying one gets DISCONNECT 0xA1.
    pub fn subscription_identifiers(mut self, available: bool) -> Self {
        self.config.subscription_identifiers = available;
        self
    }

    /// Assign topic aliases to 5.0 clients that accept them (a Topic Alias Maximum above
    /// 0 in their CONNECT; off by default). Per connection, the first PUBLISH on a topic
    /// carries the topic and a new alias, later ones an empty topic and the alias, until
    /// the client's maximum is used up (then topics without an alias get none); aliases
    /// never exceed that maximum [MQTT-3.3.2-11] and start afresh on each connection
    /// [MQTT-3.3.2-7].
    pub fn assign_topic_aliases(mut self, assign: bool) -> Self {
        self.config.assign_topic_aliases = assign;
        self
    }

    /// Also listen here (any number of listeners of each kind; they serve the same
    /// broker). Their addresses: [`Broker::listener_addrs`].
    pub fn listener(mut self, listener: Listener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Whether to listen for MQTT over TCP at the [`BrokerBuilder::bind`] address (yes by
    /// default). Without it, at least one [`BrokerBuilder::listener`] must be added
    /// (starting fails otherwise).
    pub fn default_listener(mut self, listen: bool) -> Self {
        self.default_listener = listen;
        self
    }

    /// The most QoS 1 and 2 messages the broker has in flight to one client at once, on
    /// every protocol version (65,535 by default): the lower of this and a 5.0 client's
    /// Receive Maximum applies; more wait in the session's queue until acknowledgements
    /// make room (mosquitto's `max_inflight_messages`, outbound).
    pub fn max_inflight_messages(mut self, max: std::num::NonZeroU16) -> Self {
        self.config.max_inflight_out = usize::from(max.get());
        self
    }

    /// Check user names and passwords with this hook too (beside [`BrokerBuilder::users`]):
    /// a CONNECT is let in when either accepts it, refused as `users` describes otherwise.
    /// Setting it requires authentication as `users` does, unless
    /// [`BrokerBuilder::allow_anonymous`] says otherwise.
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.config.authenticator = Some(authenticator);
        self
    }

    /// Whether clients without a user name are let in. By default they are unless
    /// [`BrokerBuilder::users`] or an [`BrokerBuilder::authenticator`] is set. With
    /// `false` and neither of those, a client with any user name is let in and one without
    /// refused (as mosquitto does with `allow_anonymous false` and no password file).
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.config.allow_anonymous = Some(allow);
        self
    }

    /// Decide with this hook, after the deny lists, what each client may subscribe to,
    /// publish, and receive (checked per message: see [`Authorizer`]).
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.config.authorizer = Some(authorizer);
        self
    }

    /// Bind and start accepting connections.
    pub async fn start(self) -> io::Result<Broker> {
        let handshake_timeout = self.config.connect_timeout;
        // The added listeners first: without the default one, the first is the local
        // address.
        let mut extra = Vec::new();
        let mut listener_addrs = Vec::new();
        for listener in &self.listeners {
            let (listeners, addr) = bind_listener(listener, handshake_timeout).await?;
            extra.push(listeners);
            listener_addrs.push(addr);
        }
        let tcp = if self.default_listener {
            Some(TcpListener::bind(self.addr).await?)
        } else {
            None
        };
        let local_addr = match (&tcp, listener_addrs.first()) {
            (Some(tcp), _) => tcp.local_addr()?,
            (None, Some(addr)) => *addr,
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no listener: the default one is off and none was added",
                ));
            }
        };
        let tls = match &self.tls {
            Some((addr, config)) => Some(tls_listener(*addr, config, handshake_timeout).await?),
            None => None,
        };
        let tls_addr = tls.as_ref().map(|(_, addr)| *addr);
        let ws = match self.ws {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await?;
                Some(accept::Ws {
                    listener,
                    handshake_timeout,
                })
            }
            None => None,
        };
        let ws_addr = match &ws {
            Some(ws) => Some(ws.listener.local_addr()?),
            None => None,
        };
        let wss = match &self.wss {
            Some((addr, config)) => Some(tls_listener(*addr, config, handshake_timeout).await?),
            None => None,
        };
        let wss_addr = wss.as_ref().map(|(_, addr)| *addr);
        let unix = match &self.unix {
            Some(path) => Some(unix_listener(path)?),
            None => None,
        };
        let unix_path = self.unix.clone();
        let shared = Arc::new(Mutex::new(State::new(self.config)));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let listeners = accept::Listeners {
            tcp,
            tls: tls.map(|(tls, _)| tls),
            ws,
            wss: wss.map(|(wss, _)| wss),
            unix,
        };
        let listener_tasks = extra
            .into_iter()
            .map(|l| tokio::spawn(accept::run(l, Arc::clone(&shared), shutdown_rx.clone())))
            .collect();
        let task = tokio::spawn(accept::run(listeners, Arc::clone(&shared), shutdown_rx));
        tracing::info!(%local_addr, "broker listening");
        if let Some(tls_addr) = tls_addr {
            tracing::info!(%tls_addr, "broker listening (TLS)");
        }
        if let Some(ws_addr) = ws_addr {
            tracing::info!(%ws_addr, "broker listening (WebSocket)");
        }
        if let Some(wss_addr) = wss_addr {
            tracing::info!(%wss_addr, "broker listening (secure WebSocket)");
        }
        if let Some(path) = &unix_path {
            tracing::info!(path = %path.display(), "broker listening (unix socket)");
        }
        Ok(Broker {
            local_addr,
            tls_addr,
            ws_addr,
            wss_addr,
            unix_path,
            shared,
            shutdown,
            task,
            listener_addrs,
            listener_tasks,
        })
    }
}

/// Bind one added listener: an accept loop's listeners with only it, and its address.
async fn bind_listener(
    listener: &Listener,
    handshake_timeout: Duration,
) -> io::Result<(accept::Listeners, SocketAddr)> {
    let mut listeners = accept::Listeners {
        tcp: None,
        tls: None,
        ws: None,
        wss: None,
        unix: None,
    };
    let addr = match listener {
        Listener::Tcp(addr) => {
            let tcp = TcpListener::bind(addr).await?;
            let addr = tcp.local_addr()?;
            listeners.tcp = Some(tcp);
            addr
        }
        Listener::Tls(addr, config) => {
            let (tls, addr) = tls_listener(*addr, config, handshake_timeout).await?;
            listeners.tls = Some(tls);
            addr
        }
        Listener::WebSocket(addr) => {
            let listener = TcpListener::bind(addr).await?;
            let addr = listener.local_addr()?;
            listeners.ws = Some(accept::Ws {
                listener,
                handshake_timeout,
            });
            addr
        }
        Listener::WebSocketTls(addr, config) => {
            let (wss, addr) = tls_listener(*addr, config, handshake_timeout).await?;
            listeners.wss = Some(wss);
            addr
        }
    };
    Ok((listeners, addr))
}

/// Bind a TLS listener (MQTT over TLS or secure WebSocket); fails if the configuration does.
async fn tls_listener(
    addr: SocketAddr,
    config: &TlsConfig,
    handshake_timeout: Duration,
) -> io::Result<(accept::Tls, SocketAddr)> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config.server_config()?);
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let tls = accept::Tls {
        listener,
        acceptor,
        handshake_timeout,
    };
    Ok((tls, addr))
}

/// Bind the unix domain socket listener.
#[cfg(unix)]
fn unix_listener(path: &Path) -> io::Result<accept::Unix> {
    Ok(accept::Unix {
        listener: tokio::net::UnixListener::bind(path)?,
        path: path.to_owned(),
    })
}

/// No unix domain sockets on this platform.
#[cfg(not(unix))]
fn unix_listener(_path: &Path) -> io::Result<accept::Unix> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "unix domain sockets are not available on this platform",
    ))
}
