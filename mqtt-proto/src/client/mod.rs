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

mod auth;
mod event;
mod ids;
mod options;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

pub use auth::Authenticator;
pub use event::{
    AckToken, Connected, ConnectionError, Event, Limit, Message, ProtocolError, PublishAck,
    RequestError, RequestId, SubscribeAck, UnsubscribeAck,
};
pub use options::{ClientOptions, LostPublish, SessionLossPolicy};

use crate::codec::{Decoder, Encoder, MAX_PACKET_SIZE, header_len};
use crate::error::{DecodeError, EncodeError};
use crate::packet::property::{
    AckProperties, AuthProperties, ConnAckProperties, PropertyId, PublishProperties,
    SubscribeProperties, UnsubscribeProperties, WillProperties,
};
use crate::packet::reason::{
    AuthReason, DisconnectReason, PubAckReason, PubRelReason, SubAckReason, UnsubAckReason,
};
use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PubAck, PubComp, PubRec, PubRel, Publish,
    Subscribe, Subscription, UnsubAck, Unsubscribe,
};
use crate::topic::{TopicFilter, TopicName};
use crate::types::{PacketId, PacketType, QoS, QosPid};
use ids::{Inflight, PacketIdPool};

/// What the application wants published. Build with [`PublishRequest::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishRequest {
    /// The topic.
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// The QoS.
    pub qos: QoS,
    /// Retain.
    pub retain: bool,
    /// 5.0 properties (a Topic Alias here is ignored: aliases are the state machine's).
    pub properties: Option<Box<PublishProperties>>,
}

impl PublishRequest {
    /// A publish, not retained, no properties.
    pub fn new(topic: TopicName, qos: QoS, payload: impl Into<Bytes>) -> Self {
        Self {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: None,
        }
    }

    /// Set retain.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Set the 5.0 properties.
    pub fn properties(mut self, properties: PublishProperties) -> Self {
        self.properties = (!properties.is_empty()).then(|| Box::new(properties));
        self
    }
}

/// The phase of the current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No transport: before the first [`ClientState::connect`], or after a connection ended.
    Disconnected,
    /// CONNECT queued or sent, CONNACK awaited (AUTH exchanges included).
    Connecting,
    /// CONNACK accepted the connection.
    Connected,
}

/// The limits the server announced in CONNACK (5.0), or the protocol's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Receive Maximum: QoS 1 and 2 publishes the server accepts unacknowledged.
    pub receive_maximum: u16,
    /// Maximum Packet Size the server accepts.
    pub maximum_packet_size: u32,
    /// Maximum QoS.
    pub maximum_qos: QoS,
    /// Retain Available.
    pub retain_available: bool,
    /// Topic Alias Maximum.
    pub topic_alias_maximum: u16,
    /// Wildcard Subscription Available.
    pub wildcard_subscriptions: bool,
    /// Subscription Identifiers Available.
    pub subscription_identifiers: bool,
    /// Shared Subscription Available.
    pub shared_subscriptions: bool,
    /// The keepalive in force: the Server Keep Alive if sent, else ours.
    pub keep_alive: Duration,
}

impl ServerLimits {
    fn defaults(keep_alive: Duration) -> Self {
        Self {
            receive_maximum: u16::MAX,
            maximum_packet_size: MAX_PACKET_SIZE,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            topic_alias_maximum: 0,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            keep_alive,
        }
    }

    fn apply(&mut self, p: &ConnAckProperties) {
        self.receive_maximum = p.receive_maximum.map_or(u16::MAX, NonZeroU16::get);
        self.maximum_packet_size = p
            .maximum_packet_size
            .map_or(MAX_PACKET_SIZE, NonZeroU32::get);
        self.maximum_qos = p.maximum_qos.unwrap_or(QoS::ExactlyOnce);
        self.retain_available = p.retain_available.unwrap_or(true);
        self.topic_alias_maximum = p.topic_alias_maximum.unwrap_or(0);
        self.wildcard_subscriptions = p.wildcard_subscription_available.unwrap_or(true);
        self.subscription_identifiers = p.subscription_identifier_available.unwrap_or(true);
        self.shared_subscriptions = p.shared_subscription_available.unwrap_or(true);
        if let Some(k) = p.server_keep_alive {
            self.keep_alive = Duration::from_secs(u64::from(k));
        }
    }
}

/// One logical MQTT client: session state that survives reconnections, plus the state of
/// the current connection. See the [module documentation](self).
#[derive(Debug)]
pub struct ClientState {
    opts: ClientOptions,
    authenticator: Option<Box<dyn Authenticator>>,
    state: ConnectionState,
    /// Counts connections; tags manual-ack tokens so that an ack from an earlier connection is
    /// never sent on a later one.
    generation: u64,
    /// The connection on which the current session began (the server had none for us): acks
    /// from earlier connections belong to a session that is gone.
    session_generation: u64,
    /// Whether a connection was ever accepted (clean start applies to the first only on 5.0).
    was_connected: bool,
    /// Clean start sent on the current connection.
    sent_clean_start: bool,
    decoder: Decoder,
    encoder: Encoder,
    server: ServerLimits,

    // ---- session: survives reconnections ----
    ids: PacketIdPool,
    next_request: u64,
    next_seq: u64,
    /// Publishes accepted but not yet sent, in order.
    pending_publishes: VecDeque<PendingPublish>,
    /// Subscribe / unsubscribe requests not yet sent (or to send again), in order.
    pending_requests: VecDeque<SubRequest>,
    /// QoS 1 and 2 publishes sent and not yet completed, by packet identifier.
    outgoing: Inflight<Outgoing>,
    /// Subscribe / unsubscribe requests sent and awaiting SUBACK / UNSUBACK.
    awaiting: BTreeMap<u16, SubRequest>,
    /// Filters subscribed (granted), for resubscription: filter -> (options, properties).
    subscriptions: BTreeMap<TopicFilter, (Subscription, SubscribeProperties)>,
    /// Inbound QoS 2 packet identifiers not yet released (PUBREL): value = PUBREC sent or
    /// owed (the application acknowledged).
    inbound_qos2: BTreeMap<u16, bool>,
    /// Those of `inbound_qos2` carried over from an earlier connection: the server's send
    /// quota starts afresh on each connection (5.0 §4.9), so they do not count against our
    /// Receive Maximum.
    inbound_qos2_carried: std::collections::BTreeSet<u16>,

    // ---- connection: reset by `connect` ----
    /// Control packets to send, in order (CONNECT, acks, pings, resends).
    tx: VecDeque<Packet>,
    /// Manual acknowledgements in arrival order [MQTT-4.6.0-2], [MQTT-4.6.0-3].
    ack_queue: VecDeque<PendingAck>,
    next_ack_seq: u64,
    /// Inbound QoS 1 messages delivered but not acknowledged (manual acks).
    qos1_unacked: usize,
    aliases_in: Vec<Option<TopicName>>,
    aliases_out: HashMap<TopicName, (u16, u64)>,
    alias_clock: u64,
    last_sent: Option<Instant>,
    last_recv: Option<Instant>,
    ping_deadline: Option<Instant>,
    /// Resends of a resumed session held back by the inflight limit of the new connection
    /// [MQTT-3.3.4-7] (packet identifier, send order): they go before any new publish.
    resend: VecDeque<(u16, u64)>,
    connack_deadline: Option<Instant>,
    events: VecDeque<Event>,
}

/// How one PUBLISH uses an outbound topic alias.
#[derive(Debug)]
struct AliasPlan {
    alias: u16,
    /// The server already maps this alias to the topic: send an empty topic.
    known: bool,
    /// The least recently used topic whose alias this one takes over.
    evict: Option<TopicName>,
}

#[derive(Debug)]
struct PendingPublish {
    id: RequestId,
    req: PublishRequest,
}

#[derive(Debug)]
struct Outgoing {
    id: RequestId,
    seq: u64,
    req: PublishRequest,
    /// Set once PUBREC arrived (QoS 2): PUBREL is owed, the PUBLISH is never sent again.
    /// (Only the reason is kept: the PUBCOMP's properties are the ones reported.)
    released: Option<PubAckReason>,
    /// When PUBREC arrived (in `next_seq` order): PUBRELs are resent in that order
    /// [MQTT-4.6.0-4].
    released_seq: u64,
    /// The connection (generation) PUBREC arrived on: a PUBCOMP 0x92 on a later one answers
    /// a PUBREL resent in recovery, which is not an error (5.0 §3.7.2.1).
    released_gen: u64,
}

#[derive(Debug)]
struct SubRequest {
    /// `None` for an automatic resubscription.
    id: Option<RequestId>,
    packet_id: Option<PacketId>,
    kind: SubKind,
}

#[derive(Debug)]
enum SubKind {
    Subscribe(Vec<Subscription>, SubscribeProperties),
    Unsubscribe(Vec<TopicFilter>, UnsubscribeProperties),
}

#[derive(Debug)]
struct PendingAck {
    seq: u64,
    packet_id: PacketId,
    qos: QoS,
    done: bool,
}

impl ClientState {
    /// A client with these options, not yet connected.
    pub fn new(opts: ClientOptions) -> Self {
        let keep_alive = opts.keep_alive;
        Self {
            decoder: Decoder::new(opts.protocol).with_max_packet_size(opts.max_packet_size),
            encoder: Encoder::new(opts.protocol),
            opts,
            authenticator: None,
            state: ConnectionState::Disconnected,
            generation: 0,
            session_generation: 0,
            was_connected: false,
            sent_clean_start: true,
            server: ServerLimits::defaults(keep_alive),
            ids: PacketIdPool::new(),
            next_request: 0,
            next_seq: 0,
            pending_publishes: VecDeque::new(),
            pending_requests: VecDeque::new(),
            outgoing: Inflight::default(),
            awaiting: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            inbound_qos2: BTreeMap::new(),
            inbound_qos2_carried: std::collections::BTreeSet::new(),
            tx: VecDeque::new(),
            ack_queue: VecDeque::new(),
            next_ack_seq: 0,
            qos1_unacked: 0,
            aliases_in: Vec::new(),
            aliases_out: HashMap::new(),
            alias_clock: 0,
            last_sent: None,
            last_recv: None,
            ping_deadline: None,
            resend: VecDeque::new(),
            connack_deadline: None,
            events: VecDeque::new(),
        }
    }

    /// Use this mechanism for enhanced authentication (5.0): its method goes in CONNECT.
    pub fn set_authenticator(&mut self, authenticator: Box<dyn Authenticator>) {
        self.authenticator = Some(authenticator);
    }

    // ---- getters ----

    /// The phase of the current connection.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The options (with the server-assigned client identifier, once known).
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// The server's limits from the last CONNACK.
    pub fn server(&self) -> &ServerLimits {
        &self.server
    }

    /// QoS 1 and 2 publishes sent and not yet completed.
    pub fn inflight(&self) -> usize {
        self.outgoing.len()
    }

    /// Publishes accepted and not yet sent (waiting for the connection, an inflight slot or a
    /// packet identifier).
    pub fn queued(&self) -> usize {
        self.pending_publishes.len()
    }

    /// Packet identifiers in use.
    pub fn packet_ids_in_use(&self) -> usize {
        self.ids.in_use()
    }

    /// The filters currently subscribed (granted), with their options.
    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.values().map(|(s, _)| s)
    }

    /// The inflight limit in force: ours, or the server's Receive Maximum if lower.
    pub fn inflight_limit(&self) -> usize {
        usize::from(
            self.opts
                .max_inflight
                .get()
                .min(self.server.receive_maximum),
        )
    }

    /// Replace the user name and password used by the next [`connect`](Self::connect) (for
    /// credentials that rotate: a driver calls this before each connection attempt).
    pub fn set_credentials(&mut self, username: Option<ByteString>, password: Option<Bytes>) {
        self.opts.username = username;
        self.opts.password = password;
    }

    // ---- inputs ----

    /// Start a connection on a new transport: queue CONNECT and arm the CONNACK timer.
    /// Whatever belonged to the previous connection (control packets not yet written, topic
    /// aliases, manual acks) is dropped; the session is kept.
    pub fn connect(&mut self, now: Instant) {
        self.inbound_qos2_carried = self.inbound_qos2.keys().copied().collect();
        self.generation += 1;
        self.end_connection_state();
        self.decoder =
            Decoder::new(self.opts.protocol).with_max_packet_size(self.opts.max_packet_size);
        self.encoder = Encoder::new(self.opts.protocol);
        // The server enforces the Keep Alive CONNECT announces (whole seconds, at most
        // 65535), so the client pings by that value too: clamped, and a fraction of a second
        // rounded up rather than down to "off".
        let ka = &self.opts.keep_alive;
        let keep_alive = u16::try_from(
            ka.as_secs()
                .saturating_add(u64::from(ka.subsec_nanos() > 0)),
        )
        .unwrap_or(u16::MAX);
        self.server = ServerLimits::defaults(Duration::from_secs(u64::from(keep_alive)));
        let v5 = self.opts.protocol.is_v5();
        // 5.0: clean start asks for a new session, so only the first connection uses it;
        // 3.1.1: a clean session ends with its connection, so every connection repeats it.
        let clean_start = if v5 && self.was_connected {
            false
        } else {
            self.opts.clean_start
        };
        self.sent_clean_start = clean_start;
        let mut connect = Connect::new(self.opts.protocol, self.opts.client_id.clone());
        connect.clean_start = clean_start;
        connect.keep_alive = keep_alive;
        connect.will.clone_from(&self.opts.will);
        if let (Some(will), false) = (&mut connect.will, v5) {
            // Will properties are 5.0 only: without them a 3.1.1 CONNECT can be encoded.
            will.properties = WillProperties::default();
        }
        connect.username.clone_from(&self.opts.username);
        connect.password.clone_from(&self.opts.password);
        if v5 {
            connect.properties = self.opts.connect_properties();
            if let Some(auth) = &mut self.authenticator {
                connect.properties.authentication_method = Some(auth.method());
                connect.properties.authentication_data = auth.start();
            }
        }
        self.aliases_in = vec![
            None;
            if v5 {
                usize::from(self.opts.topic_alias_maximum)
            } else {
                0
            }
        ];
        // Options that make a CONNECT the protocol forbids (a password without a user name
        // on 3.1.1, a field over 65,535 bytes...) end the attempt at once, not at the CONNACK
        // timeout.
        let packet = Packet::from(connect);
        let invalid = if !v5 && self.opts.client_id.is_empty() && !clean_start {
            Err(crate::EncodeError::EmptyClientIdWithoutCleanSession)
        } else {
            packet
                .encode(self.opts.protocol, &mut BytesMut::new())
                .map(drop)
        };
        if let Err(e) = invalid {
            self.state = ConnectionState::Connecting;
            self.end_connection(ConnectionError::InvalidConnect(e));
            return;
        }
        self.tx.push_back(packet);
        self.state = ConnectionState::Connecting;
        self.connack_deadline = now.checked_add(self.opts.connect_timeout);
        self.last_recv = Some(now);
    }

    /// Bytes arrived: decode and handle every whole packet in `buf` (what is left is the start
    /// of a packet still arriving).
    pub fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
        if !buf.is_empty() && self.state == ConnectionState::Connected {
            // Bytes arriving are a sign of life even before they make a whole packet: a large
            // packet on a slow link must not look like a dead one (the PINGRESP may be queued
            // behind it).
            self.last_recv = Some(now);
            self.ping_deadline = None;
        }
        while self.state != ConnectionState::Disconnected {
            match self.decoder.decode(buf) {
                Ok(Some(packet)) => {
                    self.last_recv = Some(now);
                    // Any packet shows the link is alive.
                    self.ping_deadline = None;
                    if let Err(e) = self.handle_packet(now, packet) {
                        self.fail(e);
                    }
                }
                Ok(None) => return,
                Err(DecodeError::InvalidPropertyValue(PropertyId::TopicAlias)) => {
                    // Topic Alias 0 [MQTT-3.3.2-8]: the only value the property cannot take.
                    self.fail(ProtocolError::TopicAliasOutOfRange(0).into());
                    return;
                }
                Err(e) => {
                    self.fail(ConnectionError::Decode(e));
                    return;
                }
            }
        }
    }

    /// The peer is known to be alive without its bytes being read: the driver has stopped
    /// reading because the application is not taking messages fast enough (TCP backpressure)
    /// and unread data is waiting. Counts as receiving, so the ping timeout does not end a
    /// connection that is only held back by its own reader; PINGREQs still go out every
    /// keepalive interval, so the server keeps the connection.
    pub fn handle_peer_alive(&mut self, now: Instant) {
        if self.state == ConnectionState::Connected {
            self.last_recv = Some(now);
            self.ping_deadline = None;
        }
    }

    /// A timer fired (or not: spurious calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            ConnectionState::Disconnected => {}
            ConnectionState::Connecting => {
                if self.connack_deadline.is_some_and(|d| now >= d) {
                    self.fail(ConnectionError::ConnectTimeout(self.opts.connect_timeout));
                }
            }
            ConnectionState::Connected => {
                if self.ping_deadline.is_some_and(|d| now >= d) {
                    self.fail(ConnectionError::KeepAliveTimeout);
                    return;
                }
                if self.ping_deadline.is_none() {
                    if let Some(due) = self.keepalive_due() {
                        if now >= due {
                            self.tx.push_back(Packet::PingReq);
                            self.ping_deadline = now.checked_add(self.opts.ping_timeout);
                        }
                    }
                }
            }
        }
    }

    /// The transport closed or failed. Requests are kept for the next connection.
    pub fn handle_transport_closed(&mut self, _now: Instant) {
        if self.state != ConnectionState::Disconnected {
            self.end_connection(ConnectionError::TransportClosed);
        }
    }

    // ---- commands ----

    /// Publish a message. QoS 0 completes once handed over for transmission, QoS 1 at PUBACK,
    /// QoS 2 at PUBCOMP. Requests beyond the inflight limit, or made while disconnected, wait
    /// in order. Fails at once (nothing queued) if a limit the server announced forbids it
    /// (Maximum QoS, Retain Available, Maximum Packet Size); a request queued while
    /// disconnected is checked against the next CONNACK and fails with an event. A Topic
    /// Alias or Subscription Identifier in the request's properties is dropped.
    pub fn publish(&mut self, mut req: PublishRequest) -> Result<RequestId, RequestError> {
        if let Some(p) = &mut req.properties {
            // Topic aliases are the state machine's; Subscription Identifiers flow from
            // server to client only [MQTT-3.3.4-6].
            p.topic_alias = None;
            p.subscription_identifiers.clear();
            if p.is_empty() {
                req.properties = None;
            }
        }
        if self.state == ConnectionState::Connected {
            self.check_publish(&req)?;
        }
        let id = self.request_id();
        self.pending_publishes.push_back(PendingPublish { id, req });
        Ok(id)
    }

    /// Subscribe. Completes at SUBACK with a result per filter.
    pub fn subscribe(
        &mut self,
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
    ) -> Result<RequestId, RequestError> {
        if subscriptions.is_empty() {
            return Err(RequestError::Empty);
        }
        if self.state == ConnectionState::Connected {
            self.check_subscribe(&subscriptions, &properties)?;
        }
        let id = self.request_id();
        self.pending_requests.push_back(SubRequest {
            id: Some(id),
            packet_id: None,
            kind: SubKind::Subscribe(subscriptions, properties),
        });
        Ok(id)
    }

    /// Unsubscribe. Completes at UNSUBACK.
    pub fn unsubscribe(
        &mut self,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<RequestId, RequestError> {
        if filters.is_empty() {
            return Err(RequestError::Empty);
        }
        let id = self.request_id();
        self.pending_requests.push_back(SubRequest {
            id: Some(id),
            packet_id: None,
            kind: SubKind::Unsubscribe(filters, properties),
        });
        Ok(id)
    }

    /// Acknowledge an inbound message delivered with an [`AckToken`] (manual acks). Acks go
    /// out in the order the messages arrived, whatever the order of these calls. A token from
    /// an earlier connection sends nothing on this one: the server sends the message again,
    /// except for QoS 2, whose PUBREC is then owed as soon as the server asks (in arrival
    /// order on this connection). A token from before the server lost the session
    /// acknowledges nothing: its packet identifier may name a new message.
    pub fn ack(&mut self, token: AckToken) {
        // A token from before the server lost our session names a message of that session:
        // the identifier may now name a new message.
        if token.generation < self.session_generation {
            return;
        }
        let pid = token.packet_id;
        if token.qos == QoS::ExactlyOnce {
            // The session records it at once, so the ack outlives this connection's queue
            // (an ack made while disconnected, or waiting behind an earlier message when the
            // connection drops): the PUBREC is owed whenever the server sends it again.
            if let Some(acked) = self.inbound_qos2.get_mut(&pid.get()) {
                *acked = true;
            }
        }
        let entry = if token.generation == self.generation {
            self.ack_queue.iter_mut().find(|a| a.seq == token.seq)
        } else if token.qos == QoS::ExactlyOnce {
            self.ack_queue
                .iter_mut()
                .find(|a| a.packet_id == pid && a.qos == QoS::ExactlyOnce)
        } else {
            None
        };
        if let Some(entry) = entry {
            entry.done = true;
        }
        self.flush_acks();
    }

    /// Close the connection cleanly: queue DISCONNECT (5.0: with `disconnect`'s reason and
    /// properties, e.g. a Session Expiry Interval override; 3.1.1: a plain DISCONNECT). The
    /// session is kept. A non-zero Session Expiry Interval is left out when CONNECT's was
    /// zero, where the server would take it as a Protocol Error (5.0 §3.14.2.2.2).
    pub fn disconnect(&mut self, disconnect: Disconnect) {
        if self.state == ConnectionState::Disconnected {
            return;
        }
        let connected = self.state == ConnectionState::Connected;
        self.end_connection(ConnectionError::ClientDisconnect);
        if connected {
            let mut disconnect = disconnect;
            if !self.opts.protocol.is_v5() {
                // 3.1.1 DISCONNECT carries nothing: the close goes out without a reason.
                disconnect = Disconnect::default();
            } else if self.opts.session_expiry_interval == 0 {
                // 5.0 §3.14.2.2.2: after a zero Session Expiry Interval in CONNECT, a non-zero
                // one in DISCONNECT is a Protocol Error (and the server would publish the
                // will); the session ends with the connection as CONNECT said.
                if disconnect.properties.session_expiry_interval != Some(0) {
                    disconnect.properties.session_expiry_interval = None;
                }
            }
            // [MQTT-3.14.2-3], [MQTT-3.14.2-4]: no Reason String, then no User Properties, if
            // they would take the packet over the server's Maximum Packet Size.
            let max = self.encoder.max_packet_size() as usize;
            let v = self.opts.protocol;
            if Packet::from(disconnect.clone()).encoded_len(v) > max {
                disconnect.properties.reason_string = None;
            }
            if Packet::from(disconnect.clone()).encoded_len(v) > max {
                disconnect.properties.user_properties.clear();
            }
            self.tx.push_back(disconnect.into());
        }
    }

    /// End every request that is waiting, queued or in flight with [`RequestError::Closed`]:
    /// for a client that is shutting down for good. A live connection is closed first (with
    /// a normal DISCONNECT), since the session it carries is discarded [MQTT-4.1.0-1].
    pub fn abandon(&mut self) {
        if self.state != ConnectionState::Disconnected {
            self.disconnect(Disconnect::default());
        }
        let pending: Vec<_> = self.pending_publishes.drain(..).map(|p| p.id).collect();
        for id in pending {
            self.events.push_back(Event::Published {
                id,
                result: Err(RequestError::Closed),
            });
        }
        self.resend.clear();
        let outgoing = std::mem::take(&mut self.outgoing);
        for (pid, o) in outgoing {
            if let Some(pid) = PacketId::new(pid) {
                self.ids.release(pid);
            }
            self.events.push_back(Event::Published {
                id: o.id,
                result: Err(RequestError::Closed),
            });
        }
        let requests: Vec<_> = self.pending_requests.drain(..).collect();
        let awaiting: Vec<_> = std::mem::take(&mut self.awaiting).into_values().collect();
        for r in requests.into_iter().chain(awaiting) {
            if let Some(pid) = r.packet_id {
                self.ids.release(pid);
            }
            self.complete_request_error(r, RequestError::Closed);
        }
    }

    /// Start re-authentication (5.0 §4.12.1) with the authenticator.
    pub fn reauthenticate(&mut self) -> bool {
        if self.state != ConnectionState::Connected || !self.opts.protocol.is_v5() {
            return false;
        }
        let Some(auth) = &mut self.authenticator else {
            return false;
        };
        let mut packet = Auth::new(AuthReason::ReAuthenticate);
        packet.properties.authentication_method = Some(auth.method());
        packet.properties.authentication_data = auth.start();
        self.tx.push_back(packet.into());
        true
    }

    // ---- outputs ----

    /// Encode every packet ready to go into `buf` (one batch for one write); returns the bytes
    /// added (0: nothing to send).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut BytesMut) -> usize {
        let start = buf.len();
        while let Some(packet) = self.tx.pop_front() {
            self.encode_control(&packet, buf);
        }
        if self.state == ConnectionState::Connected {
            self.send_requests(buf);
            self.send_publishes(buf);
        }
        let written = buf.len() - start;
        if written > 0 {
            self.last_sent = Some(now);
        }
        written
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ConnectionState::Disconnected => None,
            ConnectionState::Connecting => self.connack_deadline,
            ConnectionState::Connected => self.ping_deadline.or_else(|| self.keepalive_due()),
        }
    }

    // ---- internals ----

    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    fn keepalive_due(&self) -> Option<Instant> {
        let ka = self.server.keep_alive;
        if ka.is_zero() {
            return None;
        }
        let last = match (self.last_sent, self.last_recv) {
            (Some(s), Some(r)) => s.min(r),
            (s, r) => s.or(r)?,
        };
        last.checked_add(ka)
    }

    fn check_publish(&self, req: &PublishRequest) -> Result<(), RequestError> {
        if req.qos > self.server.maximum_qos {
            return Err(RequestError::NotAllowed(Limit::MaximumQoS(
                self.server.maximum_qos,
            )));
        }
        if req.retain && !self.server.retain_available {
            return Err(RequestError::NotAllowed(Limit::RetainNotAvailable));
        }
        // [MQTT-3.2.2-15]: nothing larger than the server's Maximum Packet Size goes out.
        // Measured without a topic alias; the encoder has the last word.
        let max = self.server.maximum_packet_size as usize;
        if max < MAX_PACKET_SIZE as usize {
            let size = self.publish_size(req);
            if size > max {
                return Err(RequestError::Encode(EncodeError::PacketTooLarge {
                    size,
                    max,
                }));
            }
        }
        Ok(())
    }

    /// A publish completed: it no longer waits to be resent.
    fn forget_resend(&mut self, pid: u16) {
        if !self.resend.is_empty() {
            self.resend.retain(|&(p, _)| p != pid);
        }
    }

    /// The encoded size of the PUBLISH for `req`, fixed header included, without an alias.
    fn publish_size(&self, req: &PublishRequest) -> usize {
        let mut n = 2 + req.topic.len() + req.payload.len();
        if req.qos != QoS::AtMostOnce {
            n += 2;
        }
        if self.opts.protocol.is_v5() {
            n += match &req.properties {
                None => 1,
                Some(p) if p.topic_alias.is_some() => {
                    let mut p = PublishProperties::clone(p);
                    p.topic_alias = None;
                    p.wire_len()
                }
                Some(p) => p.wire_len(),
            };
        }
        header_len(n) + n
    }

    fn check_subscribe(
        &self,
        subs: &[Subscription],
        props: &SubscribeProperties,
    ) -> Result<(), RequestError> {
        if !self.server.wildcard_subscriptions && subs.iter().any(|s| s.filter.has_wildcards()) {
            return Err(RequestError::NotAllowed(
                Limit::WildcardSubscriptionsNotAvailable,
            ));
        }
        if !self.server.shared_subscriptions && subs.iter().any(|s| s.filter.is_shared()) {
            return Err(RequestError::NotAllowed(
                Limit::SharedSubscriptionsNotAvailable,
            ));
        }
        if !self.server.subscription_identifiers && props.subscription_identifier.is_some() {
            return Err(RequestError::NotAllowed(
                Limit::SubscriptionIdentifiersNotAvailable,
            ));
        }
        Ok(())
    }

    /// Encode a control packet. One the server's Maximum Packet Size cannot hold (an ack
    /// under an absurd limit, an AUTH with large data) ends the connection: the protocol
    /// cannot go on without it, and dropping it silently would stall a flow for good. A
    /// DISCONNECT that does not fit is dropped (the connection is closing anyway).
    fn encode_control(&mut self, packet: &Packet, buf: &mut BytesMut) {
        if let Err(error) = self.encoder.encode(packet, buf) {
            let packet = packet.packet_type();
            if packet != PacketType::Disconnect {
                self.fail(ConnectionError::Unsendable { packet, error });
            }
        }
    }

    /// Send queued SUBSCRIBE and UNSUBSCRIBE requests, each with a packet identifier. They do
    /// not wait behind publishes held by the inflight limit [MQTT-3.3.4-8].
    fn send_requests(&mut self, buf: &mut BytesMut) {
        while let Some(mut r) = self.pending_requests.pop_front() {
            let pid = match r.packet_id {
                Some(pid) => pid,
                None => match self.ids.allocate() {
                    Some(pid) => pid,
                    None => {
                        self.pending_requests.push_front(r);
                        return;
                    }
                },
            };
            r.packet_id = Some(pid);
            let packet: Packet = match &r.kind {
                SubKind::Subscribe(subs, props) => {
                    if let Err(e) = self.check_subscribe(subs, props) {
                        self.ids.release(pid);
                        self.complete_request_error(r, e);
                        continue;
                    }
                    let mut p = Subscribe::new(pid, subs.clone());
                    p.properties = props.clone();
                    p.into()
                }
                SubKind::Unsubscribe(filters, props) => {
                    let mut p = Unsubscribe::new(pid, filters.clone());
                    p.properties = props.clone();
                    p.into()
                }
            };
            if let Err(e) = self.encoder.encode(&packet, buf) {
                self.ids.release(pid);
                self.complete_request_error(r, RequestError::Encode(e));
                continue;
            }
            self.awaiting.insert(pid.get(), r);
        }
    }

    /// Send queued publishes while the inflight limit and the packet identifiers allow.
    fn send_publishes(&mut self, buf: &mut BytesMut) {
        // Resends held back by the inflight limit go first, in their original order.
        while let Some(&(pid, seq)) = self.resend.front() {
            if self.outgoing.len().saturating_sub(self.resend.len()) >= self.inflight_limit() {
                return;
            }
            self.resend.pop_front();
            let (Some(packet_id), Some(o)) = (PacketId::new(pid), self.outgoing.get(&pid)) else {
                continue;
            };
            if o.seq != seq || o.released.is_some() {
                continue;
            }
            let mut req = o.req.clone();
            let qos = QosPid::from_qos(req.qos, packet_id);
            if let Err(e) = self.write_publish(&mut req, qos, true, buf) {
                if let Some(o) = self.outgoing.remove(&pid) {
                    self.ids.release(packet_id);
                    self.events.push_back(Event::Published {
                        id: o.id,
                        result: Err(e),
                    });
                }
            }
        }
        while let Some(p) = self.pending_publishes.front() {
            if let Err(e) = self.check_publish(&p.req) {
                if let Some(p) = self.pending_publishes.pop_front() {
                    self.events.push_back(Event::Published {
                        id: p.id,
                        result: Err(e),
                    });
                }
                continue;
            }
            let qos = p.req.qos;
            let pid = if qos == QoS::AtMostOnce {
                None
            } else {
                if self.outgoing.len() >= self.inflight_limit() {
                    return;
                }
                match self.ids.allocate() {
                    Some(pid) => Some(pid),
                    None => return,
                }
            };
            let Some(mut p) = self.pending_publishes.pop_front() else {
                return;
            };
            let qos_pid = pid.map_or(QosPid::AtMostOnce, |pid| QosPid::from_qos(qos, pid));
            match self.write_publish(&mut p.req, qos_pid, false, buf) {
                Ok(()) => match pid {
                    None => self.events.push_back(Event::Published {
                        id: p.id,
                        result: Ok(PublishAck {
                            packet_id: None,
                            reason: PubAckReason::Success,
                            properties: AckProperties::default(),
                        }),
                    }),
                    Some(pid) => {
                        self.next_seq += 1;
                        self.outgoing.insert(
                            pid.get(),
                            Outgoing {
                                id: p.id,
                                seq: self.next_seq,
                                req: p.req,
                                released: None,
                                released_seq: 0,
                                released_gen: 0,
                            },
                        );
                    }
                },
                Err(e) => {
                    if let Some(pid) = pid {
                        self.ids.release(pid);
                    }
                    self.events.push_back(Event::Published {
                        id: p.id,
                        result: Err(e),
                    });
                }
            }
        }
    }

    /// Encode one PUBLISH, applying an outbound topic alias where allowed.
    fn write_publish(
        &mut self,
        req: &mut PublishRequest,
        qos: QosPid,
        dup: bool,
        buf: &mut BytesMut,
    ) -> Result<(), RequestError> {
        let alias = self.outbound_alias(&req.topic);
        let Some(alias) = alias else {
            // The common case: lend the request's fields to a PUBLISH, encode it, and take
            // them back: no clone of topic, payload or properties.
            let publish = Publish {
                dup,
                qos,
                retain: req.retain,
                topic: std::mem::replace(&mut req.topic, TopicName::alias_only()),
                payload: std::mem::take(&mut req.payload),
                properties: req.properties.take(),
            };
            let result = self.encoder.encode_publish(&publish, buf);
            req.topic = publish.topic;
            req.payload = publish.payload;
            req.properties = publish.properties;
            return result.map(drop).map_err(Into::into);
        };
        let mut publish = Publish::new(req.topic.clone(), qos, req.payload.clone());
        publish.dup = dup;
        publish.retain = req.retain;
        publish.properties.clone_from(&req.properties);
        publish.properties_mut().topic_alias = NonZeroU16::new(alias.alias);
        if alias.known {
            publish.topic = TopicName::alias_only();
        }
        if let Err(e) = self.encoder.encode_publish(&publish, buf) {
            if alias.known || !matches!(e, crate::EncodeError::PacketTooLarge { .. }) {
                return Err(e.into());
            }
            // The alias property made it too large: send it without one.
            publish.properties_mut().topic_alias = None;
            if publish.properties.as_ref().is_some_and(|p| p.is_empty()) {
                publish.properties = None;
            }
            self.encoder.encode_publish(&publish, buf)?;
            return Ok(());
        }
        // The table changes only once the server will see the mapping: a failed encode must
        // not leave an alias the server does not know, nor two topics on one alias.
        self.alias_clock += 1;
        if let Some(victim) = &alias.evict {
            self.aliases_out.remove(victim);
        }
        self.aliases_out
            .insert(req.topic.clone(), (alias.alias, self.alias_clock));
        Ok(())
    }

    /// The outbound alias for `topic`, if aliases are in use; nothing changes until
    /// `write_publish` has encoded the PUBLISH.
    fn outbound_alias(&self, topic: &TopicName) -> Option<AliasPlan> {
        let max = self.server.topic_alias_maximum;
        if !self.opts.outbound_topic_aliases || max == 0 || !self.opts.protocol.is_v5() {
            return None;
        }
        if let Some((alias, _)) = self.aliases_out.get(topic) {
            return Some(AliasPlan {
                alias: *alias,
                known: true,
                evict: None,
            });
        }
        if self.aliases_out.len() < usize::from(max) {
            // Aliases in use are always 1..=len: one is only ever given up to be reused.
            let alias = u16::try_from(self.aliases_out.len() + 1).ok()?;
            return Some(AliasPlan {
                alias,
                known: false,
                evict: None,
            });
        }
        // Reuse the least recently used one.
        let (victim, (alias, _)) = self.aliases_out.iter().min_by_key(|(_, (_, used))| *used)?;
        Some(AliasPlan {
            alias: *alias,
            known: false,
            evict: Some(victim.clone()),
        })
    }

    fn handle_packet(&mut self, now: Instant, packet: Packet) -> Result<(), ConnectionError> {
        let t = packet.packet_type();
        match packet {
            Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => Err(ProtocolError::ClientOnlyPacket(t).into()),
            Packet::ConnAck(connack) => self.handle_connack(now, *connack),
            Packet::Auth(auth) => self.handle_auth(*auth),
            _ if self.state != ConnectionState::Connected => {
                Err(ProtocolError::BeforeConnAck(t).into())
            }
            Packet::Publish(p) => self.handle_publish(p),
            Packet::PubAck(ack) => self.handle_puback(ack),
            Packet::PubRec(rec) => self.handle_pubrec(rec),
            Packet::PubRel(rel) => self.handle_pubrel(rel),
            Packet::PubComp(comp) => self.handle_pubcomp(comp),
            Packet::SubAck(ack) => self.handle_suback(ack.packet_id, ack.reasons, ack.properties),
            Packet::UnsubAck(ack) => self.handle_unsuback(ack),
            Packet::PingResp => Ok(()),
            Packet::Disconnect(_) if !self.opts.protocol.is_v5() => {
                // 3.1.1 §3.14: DISCONNECT is sent by the client only.
                Err(ProtocolError::ClientOnlyPacket(t).into())
            }
            Packet::Disconnect(d) => {
                let d = *d;
                self.end_connection(ConnectionError::ServerDisconnect {
                    reason: d.reason,
                    properties: Box::new(d.properties),
                });
                Ok(())
            }
        }
    }

    fn handle_connack(&mut self, now: Instant, connack: ConnAck) -> Result<(), ConnectionError> {
        if self.state == ConnectionState::Connected {
            return Err(ProtocolError::SecondConnAck.into());
        }
        if connack.reason.is_error() {
            if connack.session_present && self.opts.protocol.is_v5() {
                return Err(ProtocolError::SessionPresentOnRefusal.into());
            }
            let p = connack.properties;
            self.end_connection(ConnectionError::Refused {
                reason: connack.reason,
                server_reference: p.server_reference,
                reason_string: p.reason_string,
            });
            return Ok(());
        }
        if connack.session_present && self.sent_clean_start {
            return Err(ProtocolError::SessionPresentOnCleanStart.into());
        }
        let props = &connack.properties;
        if let Some(auth) = &mut self.authenticator {
            if self.opts.protocol.is_v5() {
                if props.authentication_method.as_ref() != Some(&auth.method()) {
                    return Err(ProtocolError::AuthMethodMismatch.into());
                }
                auth.success(props.authentication_data.as_ref())
                    .map_err(ConnectionError::Auth)?;
            }
        } else if props.authentication_method.is_some() {
            return Err(ProtocolError::UnexpectedAuth.into());
        }
        // The server assigns an identifier only when CONNECT gave none (5.0 §3.2.2.3.7);
        // replacing ours would silently move the session to another identity.
        if props.assigned_client_identifier.is_some() && !self.opts.client_id.is_empty() {
            return Err(ProtocolError::UnexpectedAssignedClientId.into());
        }
        self.server.apply(props);
        if let Some(max) = NonZeroU32::new(self.server.maximum_packet_size) {
            self.encoder.set_max_packet_size(max);
        }
        if let Some(id) = &props.assigned_client_identifier {
            self.opts.client_id = id.clone();
        }
        self.state = ConnectionState::Connected;
        self.connack_deadline = None;
        self.last_recv = Some(now);
        self.was_connected = true;
        // Connected comes first; what the session's state causes (failures under the
        // session-loss policy...) follows it.
        let session_present = connack.session_present;
        self.events.push_back(Event::Connected(Box::new(Connected {
            session_present,
            properties: connack.properties,
        })));
        if session_present {
            self.resume_session();
        } else {
            self.session_lost();
        }
        Ok(())
    }

    /// The server kept our session: resend unacknowledged PUBLISH with DUP, and PUBREL for
    /// those already received, in their original order [MQTT-4.4.0-1], [MQTT-4.6.0-1].
    fn resume_session(&mut self) {
        let mut order: Vec<(u64, u16)> =
            self.outgoing.iter().map(|(pid, o)| (o.seq, *pid)).collect();
        order.sort_unstable();
        let mut resend = Vec::new();
        let mut release = Vec::new();
        let max = self.server.maximum_packet_size as usize;
        // Publishes the server holds unacknowledged: those it sent PUBREC for, and those we
        // resend now. The rest waits for room [MQTT-3.3.4-7].
        let limit = self.inflight_limit();
        let mut in_flight = self
            .outgoing
            .iter()
            .filter(|(_, o)| o.released.is_some())
            .count();
        for (seq, pid) in order {
            let (Some(packet_id), Some(o)) = (PacketId::new(pid), self.outgoing.get(&pid)) else {
                continue;
            };
            if o.released.is_some() {
                release.push((o.released_seq, packet_id));
            } else if let Err(e) = self.check_publish(&o.req) {
                // The new CONNACK lowered Maximum QoS or withdrew Retain Available: resending
                // would break [MQTT-3.2.2-11] / [MQTT-3.2.2-14], so the request ends here.
                if let Some(o) = self.outgoing.remove(&pid) {
                    self.ids.release(packet_id);
                    self.events.push_back(Event::Published {
                        id: o.id,
                        result: Err(e),
                    });
                }
            } else if self.publish_size(&o.req) > max {
                // The new connection's server accepts no packet this large
                // [MQTT-3.2.2-15]: the request ends here rather than never.
                let size = self.publish_size(&o.req);
                if let Some(o) = self.outgoing.remove(&pid) {
                    self.ids.release(packet_id);
                    self.events.push_back(Event::Published {
                        id: o.id,
                        result: Err(RequestError::Encode(EncodeError::PacketTooLarge {
                            size,
                            max,
                        })),
                    });
                }
            } else if in_flight < limit && self.resend.is_empty() {
                in_flight += 1;
                resend.push((packet_id, o.req.clone()));
            } else {
                self.resend.push_back((pid, seq));
            }
        }
        // PUBREL in the order PUBREC arrived [MQTT-4.6.0-4].
        release.sort_unstable();
        for (_, packet_id) in release {
            self.tx.push_back(PubRel::new(packet_id).into());
        }
        // PUBLISH resends go out with the control packets so they keep their order; the
        // encoder applies no alias to them (a fresh connection has none yet).
        for (pid, req) in resend {
            let mut publish = Publish::new(req.topic, QosPid::from_qos(req.qos, pid), req.payload);
            publish.dup = true;
            publish.retain = req.retain;
            publish.properties = req.properties;
            if let Some(p) = &mut publish.properties {
                p.topic_alias = None;
            }
            self.tx.push_back(publish.into());
        }
    }

    /// The server has no session for us: discard ours [MQTT-3.2.2-5], applying the session
    /// loss policy to unacknowledged publishes, and restore subscriptions.
    fn session_lost(&mut self) {
        self.session_generation = self.generation;
        self.inbound_qos2.clear();
        self.inbound_qos2_carried.clear();
        let mut lost: Vec<(u64, u16, Outgoing)> = std::mem::take(&mut self.outgoing)
            .into_iter()
            .map(|(pid, o)| (o.seq, pid, o))
            .collect();
        lost.sort_unstable_by_key(|(seq, _, _)| *seq);
        let mut republish = Vec::new();
        for (_, pid, o) in lost {
            if let Some(pid) = PacketId::new(pid) {
                self.ids.release(pid);
            }
            let policy = match o.req.qos {
                QoS::ExactlyOnce => self.opts.session_loss.qos2,
                _ => self.opts.session_loss.qos1,
            };
            match policy {
                LostPublish::Republish => republish.push(PendingPublish {
                    id: o.id,
                    req: o.req,
                }),
                LostPublish::Fail => self.events.push_back(Event::Published {
                    id: o.id,
                    result: Err(RequestError::SessionLost),
                }),
            }
        }
        for p in republish.into_iter().rev() {
            self.pending_publishes.push_front(p);
        }
        // Resubscriptions still queued from an earlier session loss are replaced by this
        // one's, with their packet identifiers freed: they must not pile up across reconnects.
        let ids = &mut self.ids;
        self.pending_requests.retain(|r| {
            if r.id.is_some() {
                return true;
            }
            if let Some(pid) = r.packet_id {
                ids.release(pid);
            }
            false
        });
        if self.opts.resubscribe && !self.subscriptions.is_empty() {
            // One SUBSCRIBE per distinct property set (a subscription identifier applies to
            // a whole SUBSCRIBE).
            let mut groups: Vec<(SubscribeProperties, Vec<Subscription>)> = Vec::new();
            for (sub, props) in self.subscriptions.values() {
                match groups.iter_mut().find(|(p, _)| p == props) {
                    Some((_, subs)) => subs.push(sub.clone()),
                    None => groups.push((props.clone(), vec![sub.clone()])),
                }
            }
            for (props, subs) in groups.into_iter().rev() {
                self.pending_requests.push_front(SubRequest {
                    id: None,
                    packet_id: None,
                    kind: SubKind::Subscribe(subs, props),
                });
            }
        }
    }

    fn handle_auth(&mut self, auth: Auth) -> Result<(), ConnectionError> {
        let Some(authenticator) = &mut self.authenticator else {
            return Err(ProtocolError::UnexpectedAuth.into());
        };
        if auth.properties.authentication_method.as_ref() != Some(&authenticator.method()) {
            return Err(ProtocolError::AuthMethodMismatch.into());
        }
        match auth.reason {
            AuthReason::ContinueAuthentication => {
                let data = authenticator
                    .challenge(auth.properties.authentication_data.as_ref())
                    .map_err(ConnectionError::Auth)?;
                let mut reply = Auth::new(AuthReason::ContinueAuthentication);
                reply.properties = AuthProperties::default();
                reply.properties.authentication_method = Some(authenticator.method());
                reply.properties.authentication_data = data;
                self.tx.push_back(reply.into());
                Ok(())
            }
            AuthReason::Success if self.state == ConnectionState::Connected => authenticator
                .success(auth.properties.authentication_data.as_ref())
                .map_err(ConnectionError::Auth),
            reason => Err(ProtocolError::UnexpectedAuthReason(reason).into()),
        }
    }

    fn handle_publish(&mut self, mut publish: Publish) -> Result<(), ConnectionError> {
        // Topic alias [MQTT-3.3.2-10]: resolve or learn.
        if let Some(alias) = publish.properties().topic_alias {
            let a = alias.get();
            let slot = self
                .aliases_in
                .get_mut(usize::from(a) - 1)
                .ok_or(ProtocolError::TopicAliasOutOfRange(a))?;
            if publish.topic.is_empty() {
                publish.topic = slot.clone().ok_or(ProtocolError::UnknownTopicAlias(a))?;
            } else {
                *slot = Some(publish.topic.clone());
            }
        }
        match publish.qos {
            QosPid::AtMostOnce => {
                self.events
                    .push_back(Event::Message(Message { publish, ack: None }));
            }
            QosPid::AtLeastOnce(pid) => {
                self.check_receive_maximum()?;
                if self.opts.manual_acks {
                    let token = self.queue_ack(pid, QoS::AtLeastOnce);
                    self.qos1_unacked += 1;
                    self.events.push_back(Event::Message(Message {
                        publish,
                        ack: Some(token),
                    }));
                } else {
                    self.events
                        .push_back(Event::Message(Message { publish, ack: None }));
                    self.tx.push_back(PubAck::new(pid).into());
                }
            }
            QosPid::ExactlyOnce(pid) => {
                // Exactly once: a packet identifier not yet released is a duplicate, answered
                // (once its PUBREC is due) but not delivered again.
                if let Some(&acked) = self.inbound_qos2.get(&pid.get()) {
                    // Its PUBREC takes its place in arrival order [MQTT-4.6.0-3]: due now if
                    // the application has acknowledged the message, else when it does (with
                    // the token of the first delivery, from this or an earlier connection).
                    // One already queued for it (acknowledged or not) answers this one too:
                    // a second would never be acknowledged and would block the queue.
                    let queued = self
                        .ack_queue
                        .iter()
                        .any(|a| a.packet_id == pid && a.qos == QoS::ExactlyOnce);
                    if !queued {
                        self.next_ack_seq += 1;
                        self.ack_queue.push_back(PendingAck {
                            seq: self.next_ack_seq,
                            packet_id: pid,
                            qos: QoS::ExactlyOnce,
                            done: acked,
                        });
                        self.flush_acks();
                    }
                    return Ok(());
                }
                self.check_receive_maximum()?;
                if self.opts.manual_acks {
                    self.inbound_qos2.insert(pid.get(), false);
                    let token = self.queue_ack(pid, QoS::ExactlyOnce);
                    self.events.push_back(Event::Message(Message {
                        publish,
                        ack: Some(token),
                    }));
                } else {
                    self.inbound_qos2.insert(pid.get(), true);
                    self.events
                        .push_back(Event::Message(Message { publish, ack: None }));
                    self.tx.push_back(PubRec::new(pid).into());
                }
            }
        }
        Ok(())
    }

    /// [MQTT-3.3.4-9]: the server may not exceed our Receive Maximum (5.0).
    fn check_receive_maximum(&self) -> Result<(), ConnectionError> {
        let max = self.opts.receive_maximum.get();
        if self.opts.protocol.is_v5()
            && self
                .inbound_qos2
                .len()
                .saturating_sub(self.inbound_qos2_carried.len())
                + self.qos1_unacked
                >= usize::from(max)
        {
            return Err(ProtocolError::ReceiveMaximumExceeded(max).into());
        }
        Ok(())
    }

    fn queue_ack(&mut self, packet_id: PacketId, qos: QoS) -> AckToken {
        self.next_ack_seq += 1;
        let seq = self.next_ack_seq;
        self.ack_queue.push_back(PendingAck {
            seq,
            packet_id,
            qos,
            done: false,
        });
        AckToken {
            generation: self.generation,
            seq,
            packet_id,
            qos,
        }
    }

    /// Send the acknowledgements whose turn has come: in arrival order [MQTT-4.6.0-2],
    /// [MQTT-4.6.0-3].
    fn flush_acks(&mut self) {
        while self.ack_queue.front().is_some_and(|a| a.done) {
            let Some(a) = self.ack_queue.pop_front() else {
                break;
            };
            match a.qos {
                QoS::ExactlyOnce => {
                    if let Some(acked) = self.inbound_qos2.get_mut(&a.packet_id.get()) {
                        *acked = true;
                    }
                    self.tx.push_back(PubRec::new(a.packet_id).into());
                }
                _ => {
                    self.qos1_unacked = self.qos1_unacked.saturating_sub(1);
                    self.tx.push_back(PubAck::new(a.packet_id).into());
                }
            }
        }
    }

    fn handle_puback(&mut self, ack: PubAck) -> Result<(), ConnectionError> {
        let pid = ack.packet_id;
        match self.outgoing.get(&pid.get()) {
            None => Err(ProtocolError::UnknownPacketId {
                packet: PacketType::PubAck,
                id: pid,
            }
            .into()),
            Some(o) if o.req.qos != QoS::AtLeastOnce => Err(ProtocolError::WrongAck {
                packet: PacketType::PubAck,
                id: pid,
            }
            .into()),
            Some(_) => {
                let Some(o) = self.outgoing.remove(&pid.get()) else {
                    return Ok(());
                };
                self.forget_resend(pid.get());
                self.ids.release(pid);
                let result = if ack.reason.is_error() {
                    Err(RequestError::PublishRefused {
                        reason: ack.reason,
                        properties: ack.properties,
                    })
                } else {
                    Ok(PublishAck {
                        packet_id: Some(pid),
                        reason: ack.reason,
                        properties: ack.properties,
                    })
                };
                self.events.push_back(Event::Published { id: o.id, result });
                Ok(())
            }
        }
    }

    fn handle_pubrec(&mut self, rec: PubRec) -> Result<(), ConnectionError> {
        let pid = rec.packet_id;
        let Some(o) = self.outgoing.get_mut(&pid.get()) else {
            // A PUBREC with a failure code ends the flow on the server's side: no PUBREL is
            // owed [MQTT-4.3.3-4], whatever the identifier.
            if rec.reason.is_error() {
                return Ok(());
            }
            // 5.0 §4.3.3: answer an unknown PUBREC with PUBREL, reason Packet Identifier not
            // found (3.1.1: a plain PUBREL), so the server can finish its side.
            let mut rel = PubRel::new(pid);
            if self.opts.protocol.is_v5() {
                rel.reason = PubRelReason::PacketIdentifierNotFound;
            }
            self.tx.push_back(rel.into());
            return Ok(());
        };
        if o.req.qos != QoS::ExactlyOnce {
            return Err(ProtocolError::WrongAck {
                packet: PacketType::PubRec,
                id: pid,
            }
            .into());
        }
        if rec.reason.is_error() {
            // The flow ends here: no PUBREL [MQTT-4.3.3-4]; the slot and identifier are free.
            let Some(o) = self.outgoing.remove(&pid.get()) else {
                return Ok(());
            };
            self.forget_resend(pid.get());
            self.ids.release(pid);
            self.events.push_back(Event::Published {
                id: o.id,
                result: Err(RequestError::PublishRefused {
                    reason: rec.reason,
                    properties: rec.properties,
                }),
            });
            return Ok(());
        }
        // After PUBREC the PUBLISH is never sent again, only PUBREL.
        o.released = Some(rec.reason);
        self.next_seq += 1;
        o.released_seq = self.next_seq;
        o.released_gen = self.generation;
        self.tx.push_back(PubRel::new(pid).into());
        Ok(())
    }

    fn handle_pubrel(&mut self, rel: PubRel) -> Result<(), ConnectionError> {
        let pid = rel.packet_id;
        match self.inbound_qos2.get(&pid.get()) {
            Some(false) => {
                // PUBREL before our PUBREC (the application has not acknowledged yet).
                Err(ProtocolError::WrongAck {
                    packet: PacketType::PubRel,
                    id: pid,
                }
                .into())
            }
            Some(true) => {
                self.inbound_qos2.remove(&pid.get());
                self.inbound_qos2_carried.remove(&pid.get());
                self.tx.push_back(PubComp::new(pid).into());
                Ok(())
            }
            None => {
                // Already released (a PUBREL resent after a reconnection), or never seen:
                // answer so the server can finish (5.0: Packet Identifier not found).
                let mut comp = PubComp::new(pid);
                if self.opts.protocol.is_v5() {
                    comp.reason = PubRelReason::PacketIdentifierNotFound;
                }
                self.tx.push_back(comp.into());
                Ok(())
            }
        }
    }

    fn handle_pubcomp(&mut self, comp: PubComp) -> Result<(), ConnectionError> {
        let pid = comp.packet_id;
        let released = self.outgoing.get(&pid.get()).map(|o| o.released.is_some());
        match released {
            None => Err(ProtocolError::UnknownPacketId {
                packet: PacketType::PubComp,
                id: pid,
            }
            .into()),
            Some(false) => Err(ProtocolError::WrongAck {
                packet: PacketType::PubComp,
                id: pid,
            }
            .into()),
            Some(true) => {
                let Some(o) = self.outgoing.remove(&pid.get()) else {
                    return Ok(());
                };
                self.forget_resend(pid.get());
                self.ids.release(pid);
                // 0x92 answering a PUBREL resent after a reconnection: the server released
                // the message before the connection dropped (5.0 §3.7.2.1: "not an error
                // during recovery").
                let recovered = comp.reason == PubRelReason::PacketIdentifierNotFound
                    && o.released_gen < self.generation;
                let result = if comp.reason.is_error() && !recovered {
                    Err(RequestError::ReleaseFailed(comp.reason))
                } else {
                    let reason = o.released.unwrap_or(PubAckReason::Success);
                    Ok(PublishAck {
                        packet_id: Some(pid),
                        reason,
                        properties: comp.properties,
                    })
                };
                self.events.push_back(Event::Published { id: o.id, result });
                Ok(())
            }
        }
    }

    fn handle_suback(
        &mut self,
        pid: PacketId,
        reasons: Vec<SubAckReason>,
        properties: AckProperties,
    ) -> Result<(), ConnectionError> {
        let unknown = ProtocolError::UnknownPacketId {
            packet: PacketType::SubAck,
            id: pid,
        };
        let Some(r) = self.awaiting.get(&pid.get()) else {
            return Err(unknown.into());
        };
        let SubKind::Subscribe(subs, _) = &r.kind else {
            return Err(unknown.into());
        };
        if subs.len() != reasons.len() {
            return Err(ProtocolError::ReasonCountMismatch {
                packet: PacketType::SubAck,
                expected: subs.len(),
                got: reasons.len(),
            }
            .into());
        }
        let Some(r) = self.awaiting.remove(&pid.get()) else {
            return Ok(());
        };
        self.ids.release(pid);
        let SubKind::Subscribe(subs, props) = r.kind else {
            return Ok(());
        };
        for (sub, reason) in subs.iter().zip(&reasons) {
            if !reason.is_error() {
                self.subscriptions
                    .insert(sub.filter.clone(), (sub.clone(), props.clone()));
            }
        }
        let all_failed = reasons.iter().all(|r| r.is_error());
        let ack = event::subscribe_ack(pid, &subs, reasons, properties);
        let result = if all_failed {
            Err(RequestError::SubscribeRefused(Box::new(ack)))
        } else {
            Ok(ack)
        };
        self.events.push_back(match r.id {
            Some(id) => Event::Subscribed { id, result },
            None => Event::Resubscribed(result),
        });
        Ok(())
    }

    fn handle_unsuback(&mut self, ack: UnsubAck) -> Result<(), ConnectionError> {
        let pid = ack.packet_id;
        let unknown = ProtocolError::UnknownPacketId {
            packet: PacketType::UnsubAck,
            id: pid,
        };
        let Some(r) = self.awaiting.get(&pid.get()) else {
            return Err(unknown.into());
        };
        let SubKind::Unsubscribe(filters, _) = &r.kind else {
            return Err(unknown.into());
        };
        let reasons = if self.opts.protocol.is_v5() {
            if filters.len() != ack.reasons.len() {
                return Err(ProtocolError::ReasonCountMismatch {
                    packet: PacketType::UnsubAck,
                    expected: filters.len(),
                    got: ack.reasons.len(),
                }
                .into());
            }
            ack.reasons
        } else {
            vec![UnsubAckReason::Success; filters.len()]
        };
        let Some(r) = self.awaiting.remove(&pid.get()) else {
            return Ok(());
        };
        self.ids.release(pid);
        let SubKind::Unsubscribe(filters, _) = r.kind else {
            return Ok(());
        };
        for (f, reason) in filters.iter().zip(&reasons) {
            if !reason.is_error() {
                self.subscriptions.remove(f);
            }
        }
        if let Some(id) = r.id {
            // A reason code of 0x80 or more is a failure: all of them failing fails the request.
            let all_failed = reasons.iter().all(|r| r.is_error());
            let ack = UnsubscribeAck {
                packet_id: pid,
                results: filters.into_iter().zip(reasons).collect(),
                properties: ack.properties,
            };
            let result = if all_failed {
                Err(RequestError::UnsubscribeRefused(Box::new(ack)))
            } else {
                Ok(ack)
            };
            self.events.push_back(Event::Unsubscribed { id, result });
        }
        Ok(())
    }

    fn complete_request_error(&mut self, r: SubRequest, e: RequestError) {
        let event = match (&r.kind, r.id) {
            (SubKind::Subscribe(..), Some(id)) => Event::Subscribed { id, result: Err(e) },
            (SubKind::Subscribe(..), None) => Event::Resubscribed(Err(e)),
            (SubKind::Unsubscribe(..), Some(id)) => Event::Unsubscribed { id, result: Err(e) },
            (SubKind::Unsubscribe(..), None) => return,
        };
        self.events.push_back(event);
    }

    /// A fatal error on this connection: on 5.0, tell the server why with DISCONNECT
    /// [MQTT-4.13.1-1]; then end the connection.
    fn fail(&mut self, error: ConnectionError) {
        if self.state == ConnectionState::Disconnected {
            return;
        }
        let reason = match &error {
            ConnectionError::Decode(e) => Some(e.disconnect_reason()),
            ConnectionError::Protocol(e) => Some(e.disconnect_reason()),
            ConnectionError::KeepAliveTimeout => Some(DisconnectReason::KeepAliveTimeout),
            ConnectionError::Auth(_) => Some(DisconnectReason::NotAuthorized),
            ConnectionError::Unsendable { .. } => {
                Some(DisconnectReason::ImplementationSpecificError)
            }
            _ => None,
        };
        self.end_connection(error);
        if let (Some(reason), true) = (reason, self.opts.protocol.is_v5()) {
            self.tx.push_back(Disconnect::new(reason).into());
        }
    }

    /// The connection is over: report it, drop what belonged to it, keep the session.
    fn end_connection(&mut self, error: ConnectionError) {
        self.state = ConnectionState::Disconnected;
        self.end_connection_state();
        self.events.push_back(Event::Disconnected(error));
    }

    fn end_connection_state(&mut self) {
        self.tx.clear();
        self.resend.clear();
        self.ack_queue.clear();
        self.qos1_unacked = 0;
        self.aliases_in.clear();
        self.aliases_out.clear();
        self.ping_deadline = None;
        self.connack_deadline = None;
        self.last_sent = None;
        self.last_recv = None;
        // Subscribe / unsubscribe requests in flight go out again on the next connection,
        // keeping their packet identifiers.
        let awaiting: Vec<SubRequest> = std::mem::take(&mut self.awaiting).into_values().collect();
        for r in awaiting.into_iter().rev() {
            self.pending_requests.push_front(r);
        }
        // Unacknowledged inbound QoS 2 not yet PUBREC'd stays in the session: the server
        // sends it again and the application's ack (if any) releases it.
    }
}
