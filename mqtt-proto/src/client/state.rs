//! [`ClientState`]: the session, the current connection, and the public methods (getters,
//! inputs, commands, outputs). What happens to packets the server sends is in `inbound.rs`,
//! what we send and its acknowledgements in `outbound.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::client::auth::Authenticator;
use crate::client::connection::{Connection, ConnectionState, ServerLimits, SessionStart};
use crate::client::event::{
    AckToken, ConnectionError, Event, ProtocolError, RequestError, RequestId,
};
use crate::client::options::ClientOptions;
use crate::client::persist::{PersistedPublish, PersistedSession, RestoreError, SessionChange};
use crate::client::request::{Origin, PendingPublish, PublishRequest, SubKind, SubRequest};
use crate::client::session::{AppAck, Session, SessionStatus};
use crate::error::{DecodeError, EncodeError};
use crate::packet::property::{
    PropertyId, SubscribeProperties, UnsubscribeProperties, WillProperties,
};
use crate::packet::reason::{AuthReason, DisconnectReason};
use crate::packet::{Auth, Connect, Disconnect, Packet, SubscribeFilter};
use crate::topic::TopicFilter;
use crate::types::QoS;

/// One logical MQTT client: a session that survives reconnections (unacknowledged
/// publishes, inbound QoS 2 state, subscriptions) and the current connection, which
/// [`connect`](Self::connect) replaces. See the [module documentation](crate::client).
#[derive(Debug)]
pub struct ClientState {
    pub(super) opts: ClientOptions,
    pub(super) authenticator: Option<Box<dyn Authenticator>>,
    pub(super) session: Session,
    pub(super) conn: Connection,
    /// Outputs for [`poll_event`](Self::poll_event); they outlive the connection that
    /// caused them.
    pub(super) events: VecDeque<Event>,
}

impl ClientState {
    /// A client with these options, not yet connected.
    pub fn new(opts: ClientOptions) -> Self {
        let mut session = Session::new(&opts);
        // A new session replaces whatever the store held.
        session.record(|s| SessionChange::New(s.meta()));
        Self::with_session(opts, session)
    }

    /// A client resuming a persisted session (from a durable store, after a restart), with
    /// the publishes that were not completed: a driver hands the application a handle for
    /// each, completed by the [`Event::Published`] carrying its id. Those in flight are resent
    /// with DUP under their packet identifiers (or continued with PUBREL) on the first
    /// connection whose CONNACK has session present 1; if the server lost the session they
    /// follow [`ClientOptions::session_loss`] and the subscriptions are restored
    /// ([`ClientOptions::resubscribe`]). Inbound QoS 2 identifiers are held, so a PUBLISH the
    /// server resends is answered but not delivered again.
    ///
    /// An empty client id in `opts` takes the stored one (e.g. assigned by the server);
    /// another one, or another protocol, is an error, as is a session that breaks an
    /// invariant ([`PersistedSession::validate`]). The stored Session Expiry Interval is
    /// informational: the options' is the one CONNECT sends.
    pub fn restore(
        mut opts: ClientOptions,
        persisted: PersistedSession,
    ) -> Result<(Self, Vec<PersistedPublish>), RestoreError> {
        let outbound = persisted.outbound.clone();
        let mut session = Session::restore(&opts, persisted)?;
        opts.client_id = session.client_id.clone();
        session.record(|s| SessionChange::Meta(s.meta()));
        Ok((Self::with_session(opts, session), outbound))
    }

    fn with_session(opts: ClientOptions, session: Session) -> Self {
        let conn = Connection::new(
            0,
            ConnectionState::Disconnected,
            session.protocol,
            &opts,
            opts.keep_alive,
            SessionStart::Clean,
        );
        Self {
            opts,
            authenticator: None,
            session,
            conn,
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
        self.conn.phase
    }

    /// The options (with the server-assigned client identifier, once known).
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// The server's limits from the last CONNACK.
    pub fn server(&self) -> &ServerLimits {
        &self.conn.server
    }

    /// QoS 1 and 2 publishes sent and not yet completed.
    pub fn inflight(&self) -> usize {
        self.session.outgoing.len()
    }

    /// Publishes accepted and not yet sent (waiting for the connection, an inflight slot or a
    /// packet identifier).
    pub fn queued(&self) -> usize {
        self.session.pending_publishes.len()
    }

    /// Packet identifiers in use.
    pub fn packet_ids_in_use(&self) -> usize {
        self.session.ids.in_use()
    }

    /// The filters currently subscribed (granted), with their options.
    pub fn subscriptions(&self) -> impl Iterator<Item = &SubscribeFilter> {
        self.session.subscriptions.values().map(|(s, _)| s)
    }

    /// The inflight limit in force: ours, or the server's Receive Maximum if lower.
    pub fn inflight_limit(&self) -> usize {
        usize::from(
            self.opts
                .max_inflight
                .get()
                .min(self.conn.server.receive_maximum),
        )
    }

    /// What a durable store holds of this session, as it is now (with
    /// [`ClientOptions::persist`] the changes from [`poll_persist`](Self::poll_persist) add up
    /// to this).
    pub fn persisted_session(&self) -> PersistedSession {
        self.session.snapshot()
    }

    /// Replace the user name and password used by the next [`connect`](Self::connect) (for
    /// credentials that rotate: a driver calls this before each connection attempt).
    pub fn set_credentials(&mut self, username: Option<ByteString>, password: Option<Bytes>) {
        self.opts.username = username;
        self.opts.password = password;
    }

    pub(crate) fn v5(&self) -> bool {
        self.session.protocol.is_v5()
    }

    // ---- inputs ----

    /// Start a connection on a new transport: queue CONNECT and arm the CONNACK timer.
    /// Whatever belonged to the previous connection (control packets not yet written, topic
    /// aliases, manual acks) is dropped; the session is kept.
    pub fn connect(&mut self, now: Instant) {
        // The server enforces the Keep Alive CONNECT announces (whole seconds, at most
        // 65535), so the client pings by that value too: clamped, and a fraction of a second
        // rounded up rather than down to "off".
        let ka = &self.opts.keep_alive;
        let keep_alive = u16::try_from(
            ka.as_secs()
                .saturating_add(u64::from(ka.subsec_nanos() > 0)),
        )
        .unwrap_or(u16::MAX);
        let v5 = self.v5();
        // 5.0: clean start asks for a new session, so only the first connection uses it;
        // 3.1.1: a clean session ends with its connection, so every connection repeats it.
        let start = match (v5, self.session.status) {
            (true, SessionStatus::Established) => SessionStart::Resume,
            _ => SessionStart::from_flag(self.opts.clean_start),
        };
        let protocol = self.session.protocol;
        self.session.requeue_awaiting();
        self.conn = Connection::new(
            self.conn.generation + 1,
            ConnectionState::Connecting,
            protocol,
            &self.opts,
            Duration::from_secs(u64::from(keep_alive)),
            start,
        );
        self.conn.carried_qos2 = self.session.inbound_qos2.keys().copied().collect();
        let clean_start = start.flag();
        let mut connect = Connect::new(protocol, self.session.client_id.clone());
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
        // Options that make a CONNECT the protocol forbids (a password without a user name
        // on 3.1.1, a field over 65,535 bytes...) end the attempt at once, not at the CONNACK
        // timeout.
        let packet = Packet::from(connect);
        let invalid = if !v5 && self.session.client_id.is_empty() && !clean_start {
            Err(EncodeError::EmptyClientIdWithoutCleanSession)
        } else {
            packet.encode(protocol, &mut BytesMut::new()).map(drop)
        };
        if let Err(e) = invalid {
            self.end_connection(ConnectionError::InvalidConnect(e));
            return;
        }
        self.conn.tx.push_back(packet);
        self.conn.timers.connack_deadline = now.checked_add(self.opts.connect_timeout);
        self.conn.timers.last_recv = Some(now);
    }

    /// Bytes arrived: decode and handle every whole packet in `buf` (what is left is the start
    /// of a packet still arriving).
    pub fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
        if !buf.is_empty() && self.conn.phase == ConnectionState::Connected {
            // Bytes arriving are a sign of life even before they make a whole packet: a large
            // packet on a slow link must not look like a dead one (the PINGRESP may be queued
            // behind it).
            self.conn.heard_from_peer(now);
        }
        while self.conn.phase != ConnectionState::Disconnected {
            match self.conn.decoder.decode(buf) {
                Ok(Some(packet)) => {
                    // Any packet shows the link is alive.
                    self.conn.heard_from_peer(now);
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
        if self.conn.phase == ConnectionState::Connected {
            self.conn.heard_from_peer(now);
        }
    }

    /// A timer fired (or not: spurious calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.conn.phase {
            ConnectionState::Disconnected => {}
            ConnectionState::Connecting => {
                if self.conn.timers.connack_deadline.is_some_and(|d| now >= d) {
                    self.fail(ConnectionError::ConnectTimeout(self.opts.connect_timeout));
                }
            }
            ConnectionState::Connected => {
                if self.conn.timers.ping_deadline.is_some_and(|d| now >= d) {
                    self.fail(ConnectionError::KeepAliveTimeout);
                    return;
                }
                if self.conn.timers.ping_deadline.is_none()
                    && let Some(due) = self.conn.keepalive_due()
                    && now >= due
                {
                    self.conn.tx.push_back(Packet::PingReq);
                    self.conn.timers.ping_deadline = now.checked_add(self.opts.ping_timeout);
                }
            }
        }
    }

    /// The transport closed or failed. Requests are kept for the next connection.
    pub fn handle_transport_closed(&mut self, _now: Instant) {
        if self.conn.phase != ConnectionState::Disconnected {
            self.end_connection(ConnectionError::TransportClosed);
        }
    }

    // ---- commands ----

    /// Publish a message. QoS 0 completes once handed over for transmission, QoS 1 at PUBACK,
    /// QoS 2 at PUBCOMP. Requests beyond the inflight limit, or made while disconnected, wait
    /// in order. Fails at once (nothing queued) if a limit the server announced forbids it
    /// (Maximum QoS, Retain Available, Maximum Packet Size); a request queued while
    /// disconnected is checked against the next CONNACK and fails with an event. A
    /// Subscription Identifier in the request's properties is dropped; a Topic Alias is used
    /// as [`PublishRequest::properties`] says.
    pub fn publish(&mut self, mut req: PublishRequest) -> Result<RequestId, RequestError> {
        if let Some(p) = &mut req.properties {
            // Subscription Identifiers flow from server to client only [MQTT-3.3.4-6].
            p.subscription_identifiers.clear();
            if !self.v5() {
                p.topic_alias = None;
            }
            if p.is_empty() {
                req.properties = None;
            }
        }
        if self.conn.phase == ConnectionState::Connected {
            self.check_publish(&req)?;
        }
        let id = self.session.request_id();
        if req.qos != QoS::AtMostOnce {
            self.session.record(|_| SessionChange::PublishAccepted {
                id,
                request: req.clone(),
            });
        }
        self.session
            .pending_publishes
            .push_back(PendingPublish { id, req });
        Ok(id)
    }

    /// Subscribe. Completes at SUBACK with a result per filter.
    pub fn subscribe(
        &mut self,
        subscriptions: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Result<RequestId, RequestError> {
        if subscriptions.is_empty() {
            return Err(RequestError::Empty);
        }
        if self.conn.phase == ConnectionState::Connected {
            self.check_subscribe(&subscriptions, &properties)?;
        }
        let id = self.session.request_id();
        self.session.pending_requests.push_back(SubRequest {
            origin: Origin::Application(id),
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
        let id = self.session.request_id();
        self.session.pending_requests.push_back(SubRequest {
            origin: Origin::Application(id),
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
        if token.generation < self.session.began_on {
            return;
        }
        let pid = token.packet_id;
        if token.qos == QoS::ExactlyOnce {
            // The session records it at once, so the ack outlives this connection's queue
            // (an ack made while disconnected, or waiting behind an earlier message when the
            // connection drops): the PUBREC is owed whenever the server sends it again.
            self.session.give_inbound(pid);
        }
        let entry = if token.generation == self.conn.generation {
            self.conn.acks.by_seq(token.seq)
        } else if token.qos == QoS::ExactlyOnce {
            self.conn.acks.qos2(pid)
        } else {
            None
        };
        if let Some(entry) = entry {
            entry.ack = AppAck::Given;
        }
        self.flush_acks();
    }

    /// Close the connection cleanly: queue DISCONNECT (5.0: with `disconnect`'s reason and
    /// properties, e.g. a Session Expiry Interval override; 3.1.1: a plain DISCONNECT). The
    /// session is kept. A non-zero Session Expiry Interval is left out when CONNECT's was
    /// zero, where the server would take it as a Protocol Error (5.0 §3.14.2.2.2).
    pub fn disconnect(&mut self, disconnect: Disconnect) {
        if self.conn.phase == ConnectionState::Disconnected {
            return;
        }
        let connected = self.conn.phase == ConnectionState::Connected;
        self.end_connection(ConnectionError::ClientDisconnect);
        if connected {
            let mut disconnect = disconnect;
            if !self.v5() {
                // 3.1.1 DISCONNECT carries nothing: the close goes out without a reason.
                disconnect = Disconnect::default();
            } else if self.session.expiry_interval == 0 {
                // 5.0 §3.14.2.2.2: after a zero Session Expiry Interval in CONNECT, a non-zero
                // one in DISCONNECT is a Protocol Error (and the server would publish the
                // will); the session ends with the connection as CONNECT said.
                if disconnect.properties.session_expiry_interval != Some(0) {
                    disconnect.properties.session_expiry_interval = None;
                }
            }
            // [MQTT-3.14.2-3], [MQTT-3.14.2-4]: no Reason String, then no User Properties, if
            // they would take the packet over the server's Maximum Packet Size.
            let max = self.conn.encoder.max_packet_size() as usize;
            let v = self.session.protocol;
            if Packet::from(disconnect.clone()).encoded_len(v) > max {
                disconnect.properties.reason_string = None;
            }
            if Packet::from(disconnect.clone()).encoded_len(v) > max {
                disconnect.properties.user_properties.clear();
            }
            self.conn.tx.push_back(disconnect.into());
        }
    }

    /// End every request that is waiting, queued or in flight with [`RequestError::Closed`]:
    /// for a client that is shutting down for good. A live connection is closed first (with
    /// a normal DISCONNECT), since the session it carries is discarded [MQTT-4.1.0-1].
    pub fn abandon(&mut self) {
        if self.conn.phase != ConnectionState::Disconnected {
            self.disconnect(Disconnect::default());
        }
        let pending: Vec<_> = self
            .session
            .pending_publishes
            .drain(..)
            .map(|p| (p.id, p.req.qos))
            .collect();
        for (id, qos) in pending {
            if qos != QoS::AtMostOnce {
                self.session.record(|_| SessionChange::Completed { id });
            }
            self.events.push_back(Event::Published {
                id,
                result: Err(RequestError::Closed),
            });
        }
        self.conn.resend.clear();
        let outgoing = std::mem::take(&mut self.session.outgoing);
        for (pid, o) in outgoing {
            self.session.ids.release(pid);
            self.session
                .record(|_| SessionChange::Completed { id: o.id });
            self.events.push_back(Event::Published {
                id: o.id,
                result: Err(RequestError::Closed),
            });
        }
        let requests: Vec<_> = self.session.pending_requests.drain(..).collect();
        let awaiting: Vec<_> = std::mem::take(&mut self.session.awaiting)
            .into_values()
            .collect();
        for r in requests.into_iter().chain(awaiting) {
            if let Some(pid) = r.packet_id {
                self.session.ids.release(pid);
            }
            self.complete_request_error(r, RequestError::Closed);
        }
    }

    /// Start re-authentication (5.0 §4.12.1) with the authenticator.
    pub fn reauthenticate(&mut self) -> bool {
        if self.conn.phase != ConnectionState::Connected || !self.v5() {
            return false;
        }
        let Some(auth) = &mut self.authenticator else {
            return false;
        };
        let mut packet = Auth::new(AuthReason::ReAuthenticate);
        packet.properties.authentication_method = Some(auth.method());
        packet.properties.authentication_data = auth.start();
        self.conn.tx.push_back(packet.into());
        true
    }

    // ---- outputs ----

    /// Encode every packet ready to go into `buf` (one batch for one write); returns the bytes
    /// added (0: nothing to send).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut BytesMut) -> usize {
        let start = buf.len();
        while let Some(packet) = self.conn.tx.pop_front() {
            self.encode_control(&packet, buf);
        }
        if self.conn.phase == ConnectionState::Connected {
            self.send_requests(buf);
            self.send_publishes(buf);
        }
        let written = buf.len() - start;
        if written > 0 {
            self.conn.timers.last_sent = Some(now);
        }
        written
    }

    /// The next change to persist, if any (only with [`ClientOptions::persist`]).
    ///
    /// The driver's rule: after inputs, commands and [`poll_transmit`](Self::poll_transmit)
    /// (which records the packet identifiers of what it sends), take every change and commit
    /// them to the store as one batch *before* writing the bytes `poll_transmit` produced and
    /// before reporting events to the application. Then a PUBREL, PUBREC or PUBCOMP is never on
    /// the wire before the state it implies is durable (a crash cannot make a restarted client
    /// resend a PUBLISH the server has already released, or forget an inbound QoS 2 message it
    /// acknowledged), and a publish's handle resolves as accepted only once it is durable.
    #[must_use]
    pub fn poll_persist(&mut self) -> Option<SessionChange> {
        self.session.changes.pop_front()
    }

    /// How many changes wait for [`poll_persist`](Self::poll_persist).
    pub fn pending_changes(&self) -> usize {
        self.session.changes.len()
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.conn.phase {
            ConnectionState::Disconnected => None,
            ConnectionState::Connecting => self.conn.timers.connack_deadline,
            ConnectionState::Connected => self
                .conn
                .timers
                .ping_deadline
                .or_else(|| self.conn.keepalive_due()),
        }
    }

    // ---- the end of a connection ----

    /// A fatal error on this connection: on 5.0, tell the server why with DISCONNECT
    /// [MQTT-4.13.1-1]; then end the connection.
    pub(crate) fn fail(&mut self, error: ConnectionError) {
        if self.conn.phase == ConnectionState::Disconnected {
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
        if let (Some(reason), true) = (reason, self.v5()) {
            self.conn.tx.push_back(Disconnect::new(reason).into());
        }
    }

    /// The connection is over: report it, drop what belonged to it, keep the session.
    /// Subscribe and unsubscribe requests in flight go out again on the next connection;
    /// unacknowledged inbound QoS 2 not yet PUBREC'd stays in the session (the server sends
    /// it again and the application's ack, if any, releases it).
    pub(crate) fn end_connection(&mut self, error: ConnectionError) {
        self.conn.end(self.session.protocol, &self.opts);
        self.session.requeue_awaiting();
        self.events.push_back(Event::Disconnected(error));
    }
}
