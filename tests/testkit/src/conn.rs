//! One task per connection: read with the [`Decoder`], apply the rules, write batched.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use mqtt_proto::{
    ConnAck, Connect, ConnectReason, DecodeError, Decoder, Disconnect, DisconnectReason, Encoder,
    Packet, PacketId, PacketType, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, PubRelReason,
    Publish, QoS, QosPid, SubAck, SubAckReason, Subscribe, UnsubAck, UnsubAckReason, Unsubscribe,
    Will,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::event::{CloseReason, Event};
use crate::fault::{Action, Direction, Fault};
use crate::state::{AuthFailure, ConnCmd, ConnHandle, OutState, Session, State};

/// The state shared by the accept loop and every connection.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Lock the state. A panic in another connection task must not wedge the broker, so a
/// poisoned lock is taken over as is: every update leaves the state consistent.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long the goodbye (a last DISCONNECT, the close) may take to write.
const FINISH_TIMEOUT: Duration = Duration::from_secs(1);

/// What the client negotiated in its CONNECT.
struct Client {
    id: String,
    version: ProtocolVersion,
    /// 1.5 × the keep alive [MQTT-3.1.2-24]; `None` when the client sent 0.
    keep_alive: Option<Duration>,
    will: Option<Will>,
    /// Seconds the session outlives the connection (CONNECT, or DISCONNECT on 5.0);
    /// `u32::MAX`: never expires (also 3.x clean session 0).
    session_expiry: u32,
    /// The user name the CONNECT carried (authenticated, if users are configured), for
    /// per-user deny lists.
    username: Option<String>,
}

/// How a connection ends: the reason, and the 5.0 DISCONNECT to send first, if any.
struct Close {
    reason: CloseReason,
    disconnect: Option<DisconnectReason>,
}

impl Close {
    fn new(reason: CloseReason) -> Self {
        Self {
            reason,
            disconnect: None,
        }
    }

    fn with_disconnect(reason: CloseReason, code: DisconnectReason) -> Self {
        Self {
            reason,
            disconnect: Some(code),
        }
    }
}

/// Whether and when an outbound packet is written, after the fault rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Now.
    Write,
    /// Never.
    Skip,
    /// This much later.
    Delay(Duration),
}

/// What a fault rule made of the connection: it stops after the current write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Close it.
    Close,
    /// Keep the socket, answer nothing.
    Silent,
}

/// A connection over any byte stream `S` (TCP, TLS).
struct Conn<S> {
    shared: Shared,
    id: u64,
    peer: crate::accept::Peer,
    rd: ReadHalf<S>,
    wr: WriteHalf<S>,
    decoder: Decoder,
    encoder: Encoder,
    rbuf: BytesMut,
    wbuf: BytesMut,
    tx: mpsc::UnboundedSender<ConnCmd>,
    rx: mpsc::UnboundedReceiver<ConnCmd>,
    client: Option<Client>,
    /// When the connection times out: the CONNECT deadline, then the keep alive.
    deadline: Option<Instant>,
    /// Set by a fault rule: nothing more is written or processed.
    cut: Option<Cut>,
    /// Packets held back by a delay rule, encoded, with when to write them.
    delayed: Vec<(Instant, BytesMut)>,
    /// How long a half-received packet may take to complete.
    packet_timeout: Duration,
    /// When the half-received packet in `rbuf` times out, if there is one.
    partial_deadline: Option<Instant>,
    /// The Topic Alias Maximum announced to this (5.0) client; 0: none.
    topic_alias_maximum: u16,
    /// Inbound topic aliases of this connection.
    topic_aliases: std::collections::HashMap<u16, mqtt_proto::TopicName>,
    /// The Receive Maximum held against this (5.0) client; 0: none (3.x).
    receive_maximum: u16,
    /// Inbound QoS 2 packet ids received on this connection whose PUBCOMP is not sent yet:
    /// they count against the Receive Maximum (a QoS 1 PUBLISH is acknowledged at once).
    inbound_unacked: std::collections::HashSet<PacketId>,
    /// The client's Topic Alias Maximum when the broker assigns aliases to it; 0: none.
    out_alias_maximum: u16,
    /// Topic aliases assigned to outbound PUBLISHes on this connection.
    out_aliases: std::collections::HashMap<mqtt_proto::TopicName, std::num::NonZeroU16>,
    /// A received packet held back by a delay rule, and when to process it; nothing is
    /// read or processed meanwhile.
    held: Option<(Instant, Packet)>,
    /// When a close timer rule closes the connection.
    close_timer: Option<Instant>,
}

/// Serve one connection until it closes or the broker shuts down. The stream is a TCP
/// socket or a TLS session over one, its handshake done.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: crate::accept::Peer,
    shared: Shared,
    mut shutdown: watch::Receiver<bool>,
) {
    let (id, max_packet_size, connect_timeout, packet_timeout) = {
        let mut state = lock(&shared);
        (
            state.conn_id(),
            state.config.max_packet_size,
            state.config.connect_timeout,
            state.config.packet_timeout,
        )
    };
    let (rd, wr) = tokio::io::split(stream);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut conn = Conn {
        shared,
        id,
        peer,
        rd,
        wr,
        // Any version: CONNECT is decoded by the version it announces; the decoder switches
        // to the client's version once CONNECT is read.
        decoder: Decoder::new(ProtocolVersion::V3_1_1).with_max_packet_size(max_packet_size),
        encoder: Encoder::new(ProtocolVersion::V3_1_1),
        rbuf: BytesMut::with_capacity(8 * 1024),
        wbuf: BytesMut::with_capacity(8 * 1024),
        tx,
        rx,
        client: None,
        deadline: Some(Instant::now() + connect_timeout),
        cut: None,
        delayed: Vec::new(),
        packet_timeout,
        partial_deadline: None,
        topic_alias_maximum: 0,
        topic_aliases: std::collections::HashMap::new(),
        receive_maximum: 0,
        inbound_unacked: std::collections::HashSet::new(),
        out_alias_maximum: 0,
        out_aliases: std::collections::HashMap::new(),
        held: None,
        close_timer: None,
    };
    tracing::debug!(conn = id, %peer, "connection accepted");
    let close = conn.run(&mut shutdown).await;
    conn.finish(close).await;
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Conn<S> {
    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> Close {
        if *shutdown.borrow_and_update() {
            return Close::new(CloseReason::Shutdown);
        }
        loop {
            let holding = self.held.is_some();
            // While a received packet is held, the client is not to blame for silence.
            let deadline = self.deadline.filter(|_| !holding);
            let partial_deadline = self.partial_deadline.filter(|_| !holding);
            let delayed_deadline = self.delayed.iter().map(|(at, _)| *at).min();
            let held_deadline = self.held.as_ref().map(|(at, _)| *at);
            let close_timer = self.close_timer;
            let close = tokio::select! {
                // All branches are cancel safe: `read_buf` reads nothing when cancelled,
                // `recv` loses no message, timers and `changed` are stateless. Biased, input
                // first: a packet that arrived by the deadline counts (and keeps tests on a
                // paused clock, which jumps to the next timer whenever the runtime parks,
                // deterministic).
                biased;
                read = self.rd.read_buf(&mut self.rbuf), if !holding => match read {
                    Ok(0) => Some(Close::new(CloseReason::ConnectionLost)),
                    Ok(_) => {
                        let close = self.on_bytes();
                        self.update_partial_deadline();
                        close
                    }
                    Err(e) => {
                        tracing::debug!(conn = self.id, error = %e, "read failed");
                        Some(Close::new(CloseReason::ConnectionLost))
                    }
                },
                cmd = self.rx.recv() => match cmd {
                    // `self.tx` keeps the channel open, so `None` cannot happen.
                    None | Some(ConnCmd::Wake) => {
                        self.send_pending();
                        None
                    }
                    Some(ConnCmd::Kick) => Some(Close::with_disconnect(
                        CloseReason::TakenOver,
                        DisconnectReason::SessionTakenOver,
                    )),
                    Some(ConnCmd::Disconnect(code)) => {
                        Some(Close::with_disconnect(CloseReason::Fault, code))
                    }
                    Some(ConnCmd::Send(packet)) => {
                        if let Err(e) = self.encoder.encode(&packet, &mut self.wbuf) {
                            tracing::warn!(conn = self.id, error = %e, "unsolicited packet not sent");
                        }
                        None
                    }
                    Some(ConnCmd::SendRaw(bytes)) => {
                        self.wbuf.extend_from_slice(&bytes);
                        None
                    }
                    Some(ConnCmd::CloseTimer(at)) => {
                        self.close_timer = Some(self.close_timer.map_or(at, |t| t.min(at)));
                        None
                    }
                },
                () = sleep_until(held_deadline) => {
                    // The held packet is processed now, then whatever was read behind it.
                    self.partial_deadline = None;
                    let close = self.release_held();
                    self.update_partial_deadline();
                    close
                }
                () = sleep_until(close_timer) => {
                    self.close_timer = None;
                    let fire = self.client_id().map(str::to_owned).is_some_and(|id| {
                        lock(&self.shared).fire_close_timer(&id, self.id)
                    });
                    fire.then(|| Close::new(CloseReason::Fault))
                }
                () = sleep_until(delayed_deadline) => {
                    let now = Instant::now();
                    let (due, held): (Vec<_>, Vec<_>) =
                        self.delayed.drain(..).partition(|(at, _)| *at <= now);
                    self.delayed = held;
                    for (_, bytes) in due {
                        self.wbuf.extend_from_slice(&bytes);
                    }
                    None
                }
                () = sleep_until(partial_deadline) => {
                    tracing::warn!(
                        conn = self.id,
                        peer = %self.peer,
                        buffered = self.rbuf.len(),
                        "half-received packet timed out"
                    );
                    Some(Close::new(CloseReason::PacketTimeout))
                }
                () = sleep_until(deadline) => Some(if self.client.is_some() {
                    self.violation("keep alive expired", "MQTT-3.1.2-24");
                    Close::with_disconnect(
                        CloseReason::KeepAliveTimeout,
                        DisconnectReason::KeepAliveTimeout,
                    )
                } else {
                    Close::new(CloseReason::ConnectTimeout)
                }),
                _ = shutdown.changed() => Some(Close::with_disconnect(
                    CloseReason::Shutdown,
                    DisconnectReason::ServerShuttingDown,
                )),
            };
            // Batched: everything the inputs above produced goes out in one write. A client
            // that stops reading blocks it: shutdown must still end the connection.
            let flushed = tokio::select! {
                biased;
                flushed = self.flush() => flushed,
                _ = shutdown.wait_for(|stop| *stop) => {
                    // Part of `wbuf` may be on the wire: nothing more may follow it.
                    self.wbuf.clear();
                    self.cut = Some(Cut::Close);
                    return Close::new(CloseReason::Shutdown);
                }
            };
            if let Err(e) = flushed {
                tracing::debug!(conn = self.id, error = %e, "write failed");
                return close.unwrap_or(Close::new(CloseReason::ConnectionLost));
            }
            if let Some(close) = close {
                return close;
            }
            match self.cut {
                Some(Cut::Close) => return Close::new(CloseReason::Fault),
                Some(Cut::Silent) => return self.silent(shutdown).await,
                None => {}
            }
        }
    }

    /// Half-open: read and discard everything, answer nothing, until the client closes,
    /// another connection takes over, or the broker shuts down. No DISCONNECT is sent.
    async fn silent(&mut self, shutdown: &mut watch::Receiver<bool>) -> Close {
        tracing::debug!(conn = self.id, "gone silent");
        self.rbuf.clear();
        loop {
            tokio::select! {
                biased;
                read = self.rd.read_buf(&mut self.rbuf) => match read {
                    Ok(0) | Err(_) => return Close::new(CloseReason::ConnectionLost),
                    Ok(_) => self.rbuf.clear(),
                },
                cmd = self.rx.recv() => {
                    if let Some(ConnCmd::Kick) = cmd {
                        return Close::new(CloseReason::TakenOver);
                    }
                }
                _ = shutdown.changed() => return Close::new(CloseReason::Shutdown),
            }
        }
    }

    /// Consult the fault rules about an outbound packet: whether (and when) to write it, and
    /// arm the cut a rule asks for after it. Nothing is written after a cut.
    fn gate_out(&mut self, packet: PacketType) -> Gate {
        if self.cut.is_some() {
            return Gate::Skip;
        }
        let Some(client_id) = self.client_id() else {
            return Gate::Write;
        };
        let action =
            lock(&self.shared).fault_for_packet(client_id, self.id, Direction::Out, packet);
        match action {
            Action::Pass => Gate::Write,
            Action::Withhold => {
                tracing::debug!(conn = self.id, packet = packet.name(), "withheld (fault)");
                Gate::Skip
            }
            Action::Delay(by) => Gate::Delay(by),
            Action::CloseAfter => {
                self.cut = Some(Cut::Close);
                Gate::Write
            }
            Action::GoSilentAfter => {
                self.cut = Some(Cut::Silent);
                Gate::Write
            }
        }
    }

    /// Move what was encoded into `wbuf` from `mark` on to the delayed packets.
    fn hold_back(&mut self, mark: usize, by: Duration) {
        if self.wbuf.len() > mark {
            let held = self.wbuf.split_off(mark);
            self.delayed.push((Instant::now() + by, held));
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.wr.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Queue a packet for the next write. A packet the client cannot accept (larger than its
    /// Maximum Packet Size) is dropped [MQTT-3.1.2-25].
    fn send(&mut self, packet: &Packet) {
        let gate = self.gate_out(packet.packet_type());
        if gate == Gate::Skip {
            return;
        }
        let mark = self.wbuf.len();
        match self.encoder.encode(packet, &mut self.wbuf) {
            Ok(_) => tracing::trace!(conn = self.id, packet = packet.packet_type().name(), "sent"),
            Err(e) => {
                tracing::warn!(conn = self.id, error = %e, packet = packet.packet_type().name(), "packet not sent");
            }
        }
        if let Gate::Delay(by) = gate {
            self.hold_back(mark, by);
        }
    }

    fn client_id(&self) -> Option<&str> {
        self.client.as_ref().map(|c| c.id.as_str())
    }

    /// Log a protocol violation naming the rule.
    fn violation(&self, what: &str, rule: &str) {
        tracing::warn!(
            conn = self.id,
            peer = %self.peer,
            client_id = self.client_id().unwrap_or("-"),
            rule,
            "protocol violation: {what}"
        );
    }

    /// Close over a protocol violation: 5.0 clients get a DISCONNECT with `code` first.
    fn protocol_close(&self, what: &str, rule: &str, code: DisconnectReason) -> Close {
        self.violation(what, rule);
        let reason = CloseReason::ProtocolViolation(format!("{what} [{rule}]"));
        match &self.client {
            Some(c) if c.version.is_v5() => Close::with_disconnect(reason, code),
            _ => Close::new(reason),
        }
    }

    /// Close for a limit of this broker (not a rule of the protocol) the client went
    /// beyond: logged, DISCONNECT with `code` on 5.0.
    fn limit_close(&self, what: &str, code: DisconnectReason) -> Close {
        tracing::warn!(
            conn = self.id,
            peer = %self.peer,
            client_id = self.client.as_ref().map_or("-", |c| c.id.as_str()),
            "{what}: closing"
        );
        let reason = CloseReason::LimitExceeded(what.to_owned());
        match &self.client {
            Some(c) if c.version.is_v5() => Close::with_disconnect(reason, code),
            _ => Close::new(reason),
        }
    }

    fn on_bytes(&mut self) -> Option<Close> {
        // Whatever was queued for us before these bytes arrived goes out before any answer
        // to them: a PINGRESP then proves that earlier messages were sent.
        self.send_pending();
        self.decode_all()
    }

    /// A half-received packet must complete within the packet timeout.
    fn update_partial_deadline(&mut self) {
        if self.rbuf.is_empty() {
            self.partial_deadline = None;
        } else if self.partial_deadline.is_none() {
            self.partial_deadline = Some(Instant::now() + self.packet_timeout);
        }
    }

    /// Decode and process every whole packet buffered, until one is held by a delay rule.
    fn decode_all(&mut self) -> Option<Close> {
        while self.held.is_none() {
            match self.decoder.decode(&mut self.rbuf) {
                Ok(Some(packet)) => {
                    if let Some(c) = &self.client {
                        self.deadline = c.keep_alive.map(|ka| Instant::now() + ka);
                    }
                    if let Some(by) = self.delay_received(&packet) {
                        tracing::debug!(
                            conn = self.id,
                            packet = packet.packet_type().name(),
                            "held (fault)"
                        );
                        self.held = Some((Instant::now() + by, packet));
                        return None;
                    }
                    if let ControlFlow::Break(close) = self.process(packet) {
                        return close;
                    }
                }
                Ok(None) => return None,
                Err(e) => return Some(self.on_decode_error(&e)),
            }
        }
        None
    }

    /// The held packet's delay is over: process it, then what was buffered behind it.
    fn release_held(&mut self) -> Option<Close> {
        let (_, packet) = self.held.take()?;
        // Received long ago, as far as keep alive is concerned, only now.
        if let Some(c) = &self.client {
            self.deadline = c.keep_alive.map(|ka| Instant::now() + ka);
        }
        if let ControlFlow::Break(close) = self.process(packet) {
            return close;
        }
        self.decode_all()
    }

    /// How long a delay rule holds this received packet, if one fires for it. A CONNECT
    /// is matched by the client identifier it carries.
    fn delay_received(&self, packet: &Packet) -> Option<Duration> {
        let client_id = match (self.client_id(), packet) {
            (Some(id), _) => id,
            (None, Packet::Connect(c)) => &*c.client_id,
            (None, _) => return None,
        };
        lock(&self.shared).fault_delay_received(client_id, self.id, packet.packet_type())
    }

    /// Process one received packet, then apply the fault rules about it. `Break` stops
    /// the decoding, with the close if there is one.
    fn process(&mut self, packet: Packet) -> ControlFlow<Option<Close>> {
        let packet_type = packet.packet_type();
        let mark = self.wbuf.len();
        if let Some(close) = self.on_packet(packet) {
            return ControlFlow::Break(Some(close));
        }
        if self.cut.is_some() {
            return ControlFlow::Break(None);
        }
        let action = match self.client_id() {
            Some(id) => {
                lock(&self.shared).fault_for_packet(id, self.id, Direction::In, packet_type)
            }
            None => Action::Pass,
        };
        let cut = match action {
            Action::CloseAfter => Cut::Close,
            Action::GoSilentAfter => Cut::Silent,
            Action::Pass | Action::Withhold | Action::Delay(_) => {
                return ControlFlow::Continue(());
            }
        };
        // Processed, but nothing it caused goes out.
        self.wbuf.truncate(mark);
        self.cut = Some(cut);
        ControlFlow::Break(None)
    }

    fn on_decode_error(&mut self, e: &DecodeError) -> Close {
        if let DecodeError::InvalidPropertyValue(mqtt_proto::PropertyId::TopicAlias) = e {
            // Topic Alias 0 is not permitted [MQTT-3.3.2-8]: Topic Alias invalid.
            return self.protocol_close(
                "topic alias 0",
                "MQTT-3.3.2-8",
                DisconnectReason::TopicAliasInvalid,
            );
        }
        if self.client.is_none() {
            if let DecodeError::UnsupportedProtocolLevel(level) = e {
                // [MQTT-3.1.2-2]: answer return code 1 (in the 3.1.1 format), then close.
                self.violation(
                    &format!("unsupported protocol level {level}"),
                    "MQTT-3.1.2-2",
                );
                self.send(&ConnAck::new(false, ConnectReason::UnsupportedProtocolVersion).into());
                return Close::new(CloseReason::Refused(
                    ConnectReason::UnsupportedProtocolVersion,
                ));
            }
        }
        let text = e.to_string();
        self.protocol_close(&text, "MQTT-4.8.0-1", e.disconnect_reason())
    }

    fn on_packet(&mut self, packet: Packet) -> Option<Close> {
        tracing::trace!(
            conn = self.id,
            packet = packet.packet_type().name(),
            "received"
        );
        if self.client.is_none() {
            return match packet {
                Packet::Connect(connect) => self.on_connect(*connect),
                other => Some(self.protocol_close(
                    &format!(
                        "first packet is {}, not CONNECT",
                        other.packet_type().name()
                    ),
                    "MQTT-3.1.0-1",
                    DisconnectReason::ProtocolError,
                )),
            };
        }
        match packet {
            Packet::Connect(_) => Some(self.protocol_close(
                "second CONNECT",
                "MQTT-3.1.0-2",
                DisconnectReason::ProtocolError,
            )),
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(ack) => {
                self.on_ack(ack.packet_id, OutState::Unacked);
                None
            }
            Packet::PubRec(rec) => {
                self.on_ack(rec.packet_id, OutState::Unreceived);
                if rec.reason.is_error() {
                    // 5.0 §4.3.3: a PUBREC with an error code ends the flow; no PUBREL.
                    self.on_ack(rec.packet_id, OutState::Released);
                } else {
                    // Reply even to an unknown id: the client may be retrying after a lost
                    // PUBCOMP; the reason code tells it the state is gone.
                    let mut rel = PubRel::new(rec.packet_id);
                    if !self.inflight_has(rec.packet_id, OutState::Released) {
                        rel.reason = PubRelReason::PacketIdentifierNotFound;
                    }
                    self.send(&rel.into());
                }
                None
            }
            Packet::PubComp(comp) => {
                self.on_ack(comp.packet_id, OutState::Released);
                None
            }
            Packet::PubRel(rel) => {
                self.on_pubrel(rel.packet_id);
                None
            }
            Packet::Subscribe(s) => self.on_subscribe(s),
            Packet::Unsubscribe(u) => {
                self.on_unsubscribe(u);
                None
            }
            Packet::PingReq => {
                self.send(&Packet::PingResp);
                None
            }
            Packet::Disconnect(d) => {
                if let (Some(expiry), Some(client)) =
                    (d.properties.session_expiry_interval, self.client.as_mut())
                {
                    if client.session_expiry == 0 && expiry != 0 {
                        return Some(self.protocol_close(
                            "DISCONNECT sets a session expiry after 0 in CONNECT",
                            "MQTT-3.14.2-2",
                            DisconnectReason::ProtocolError,
                        ));
                    }
                    client.session_expiry = expiry;
                }
                if d.reason == DisconnectReason::DisconnectWithWillMessage {
                    Some(Close::new(CloseReason::ClientDisconnectWithWill))
                } else {
                    Some(Close::new(CloseReason::ClientDisconnect))
                }
            }
            Packet::Auth(_) => Some(self.protocol_close(
                "AUTH without an authentication method",
                "MQTT-4.12.0-7",
                DisconnectReason::ProtocolError,
            )),
            other @ (Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp) => Some(self.protocol_close(
                &format!("{} sent by a client", other.packet_type().name()),
                "MQTT-4.8.0-1",
                DisconnectReason::ProtocolError,
            )),
        }
    }

    fn on_connect(&mut self, connect: Connect) -> Option<Close> {
        let version = connect.protocol;
        self.decoder.set_version(version);
        self.encoder.set_version(version);
        if version.is_v5() {
            if let Some(max) = connect.properties.maximum_packet_size {
                self.encoder.set_max_packet_size(max);
            }
        }
        let mut assigned = None;
        let client_id = if connect.client_id.is_empty() {
            // 3.1 requires an identifier; 3.1.1 allows an empty one only with a clean
            // session [MQTT-3.1.3-7], [MQTT-3.1.3-8]; 5.0 always assigns one [MQTT-3.1.3-6].
            let allowed = match version {
                ProtocolVersion::V3_1 => false,
                ProtocolVersion::V3_1_1 => connect.clean_start,
                ProtocolVersion::V5 => true,
            };
            if !allowed {
                self.violation(
                    "empty client identifier without clean session",
                    "MQTT-3.1.3-8",
                );
                let reason = ConnectReason::ClientIdentifierNotValid;
                self.send(&ConnAck::new(false, reason).into());
                return Some(Close::new(CloseReason::Refused(reason)));
            }
            let id = lock(&self.shared).assign_client_id();
            if version.is_v5() {
                assigned = Some(id.clone());
            }
            id
        } else {
            connect.client_id.to_string()
        };
        let session_expiry = if version.is_v5() {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        let persistent = session_expiry > 0;
        let send_quota = connect
            .properties
            .receive_maximum
            .map_or(usize::from(u16::MAX), |r| usize::from(r.get()));

        let auth = lock(&self.shared)
            .config
            .authenticate(connect.username.as_deref(), connect.password.as_deref());
        if let Err(failure) = auth {
            // 3.1.1 return codes 5 and 4 (5.0: 0x87 and 0x86), then close [MQTT-3.2.2-5].
            let reason = match failure {
                AuthFailure::NoCredentials => ConnectReason::NotAuthorized,
                AuthFailure::BadCredentials => ConnectReason::BadUserNameOrPassword,
            };
            let username = connect.username.as_deref().map(str::to_owned);
            tracing::info!(
                conn = self.id,
                peer = %self.peer,
                client_id,
                username = username.as_deref().unwrap_or("-"),
                ?reason,
                "CONNECT refused: authentication failed"
            );
            lock(&self.shared).emit(Event::AuthenticationFailed {
                client_id: client_id.clone(),
                username,
                reason,
            });
            self.send(&ConnAck::new(false, reason).into());
            return Some(Close::new(CloseReason::Refused(reason)));
        }

        let maximum_qos = lock(&self.shared).config.maximum_qos;
        if let Some(will) = connect.will.as_ref().filter(|w| w.qos > maximum_qos) {
            // [MQTT-3.2.2-12]: 5.0 CONNACK 0x9B; 3.1.1 has no code for it, so the
            // connection is just closed (as mosquitto does).
            tracing::info!(
                conn = self.id,
                client_id,
                will_qos = %will.qos,
                %maximum_qos,
                "CONNECT refused: will QoS above the maximum QoS"
            );
            let reason = ConnectReason::QoSNotSupported;
            if version.is_v5() {
                self.send(&ConnAck::new(false, reason).into());
            }
            return Some(Close::new(CloseReason::Refused(reason)));
        }
        let deep_will = connect
            .will
            .as_ref()
            .is_some_and(|w| lock(&self.shared).config.too_many_levels(w.topic.as_str()));
        if deep_will {
            // A limit of this broker: 5.0 CONNACK 0x90 Topic Name invalid; 3.x has no code
            // for it, so the connection is just closed.
            tracing::warn!(
                conn = self.id,
                client_id,
                "CONNECT refused: will topic with more levels than allowed"
            );
            let reason = ConnectReason::TopicNameInvalid;
            if version.is_v5() {
                self.send(&ConnAck::new(false, reason).into());
            }
            return Some(Close::new(CloseReason::Refused(reason)));
        }

        let handle = ConnHandle {
            id: self.id,
            tx: self.tx.clone(),
        };
        let mut state = lock(&self.shared);
        let refusal = state.take_fault(&client_id, self.id, |f| match f {
            Fault::RefuseConnect(reason) => Some(*reason),
            _ => None,
        });
        if let Some(reason) = refusal {
            drop(state);
            tracing::debug!(
                conn = self.id,
                client_id,
                ?reason,
                "CONNECT refused (fault)"
            );
            // A reason 3.1.1 has no return code for becomes Server unavailable.
            let code = if version.is_v5() || reason.to_v3().is_some() {
                reason
            } else {
                ConnectReason::ServerUnavailable
            };
            self.send(&ConnAck::new(false, code).into());
            return Some(Close::new(CloseReason::Refused(code)));
        }
        // The connection limit counts connected clients; taking over one's session does
        // not add one.
        let limit = state.config.max_connections;
        let connected = state
            .sessions
            .iter()
            .filter(|(id, s)| s.conn.is_some() && **id != client_id)
            .count();
        if connected >= limit {
            drop(state);
            tracing::warn!(
                conn = self.id,
                client_id,
                limit,
                "CONNECT refused: too many clients connected"
            );
            let code = if version.is_v5() {
                ConnectReason::QuotaExceeded
            } else {
                ConnectReason::ServerUnavailable
            };
            self.send(&ConnAck::new(false, code).into());
            return Some(Close::new(CloseReason::Refused(code)));
        }
        let max_packet_size = state.config.max_packet_size;
        let max_keep_alive = state.config.max_keep_alive;
        let topic_alias_maximum = state.config.topic_alias_maximum;
        let receive_maximum = state.config.receive_maximum;
        let subscription_identifiers = state.config.subscription_identifiers;
        let assign_topic_aliases = state.config.assign_topic_aliases;
        let old = state.sessions.remove(&client_id);
        // A will still waiting for its delay: not sent if the session resumes
        // [MQTT-3.1.3-9]; sent now if the session ends here.
        let mut ended_will = None;
        let (mut session, mut session_present) = match old {
            Some(mut old) => {
                // A session whose connection asked for none to be kept (3.x clean session 1,
                // 5.0 Session Expiry Interval 0) lasts as long as that connection (3.1.1
                // [MQTT-3.1.2-6], 5.0 §3.1.2.11.2). A takeover closes the old connection
                // first, then processes clean session (3.1.1 [MQTT-3.1.4-2],
                // [MQTT-3.1.4-3]; 5.0 [MQTT-3.1.4-3], [MQTT-3.1.4-4]): such a session is
                // gone by then, so it cannot be resumed.
                let resumable = !connect.clean_start && old.persistent;
                if let Some((_, will)) = old.delayed_will.take() {
                    if !resumable {
                        ended_will = Some(will);
                    }
                }
                old.expires_at = None;
                old.taken_over_from = None;
                if let Some(conn) = old.conn.take() {
                    // Takeover [MQTT-3.1.4-2]: the old connection closes; the session (if
                    // kept) carries on here.
                    tracing::info!(client_id, "session taken over by a new connection");
                    let _ = conn.tx.send(ConnCmd::Kick);
                    if resumable {
                        // Its delayed will is not sent: the session resumed [MQTT-3.1.3-9].
                        old.taken_over_from = Some(conn.id);
                    }
                }
                if resumable {
                    (old, true)
                } else {
                    // The old session is discarded and a new, empty one starts, with
                    // Session Present 0 (3.1.1 [MQTT-3.2.2-1], [MQTT-3.2.2-3]; 5.0
                    // [MQTT-3.2.2-2], [MQTT-3.2.2-3]).
                    if !connect.clean_start {
                        tracing::debug!(
                            client_id,
                            "the old session ended with its connection: a new session starts"
                        );
                    }
                    (Session::new(persistent), false)
                }
            }
            None => (Session::new(persistent), false),
        };
        session.persistent = persistent;
        session.send_quota = send_quota;
        session.conn = Some(handle);
        state.sessions.insert(client_id.clone(), session);
        if let Some(will) = ended_will {
            state.publish(&client_id, &will, true);
        }
        if let Some(forced) = state.take_fault(&client_id, self.id, |f| match f {
            Fault::SessionPresent(p) => Some(*p),
            _ => None,
        }) {
            session_present = forced;
        }
        // A close timer rule armed for the client counts from its CONNECT.
        if let Some(after) = state.fault_close_timer(&client_id, self.id) {
            self.close_timer = Some(Instant::now() + after);
        }
        state.emit(Event::Connected {
            client_id: client_id.clone(),
            protocol: version,
            session_present,
        });
        drop(state);

        tracing::debug!(conn = self.id, client_id, %version, session_present, "connected");
        let mut ack = ConnAck::new(session_present, ConnectReason::Success);
        if version.is_v5() {
            ack.properties.assigned_client_identifier = assigned.map(Into::into);
            ack.properties.maximum_packet_size = Some(max_packet_size);
            ack.properties.retain_available = Some(true);
            ack.properties.wildcard_subscription_available = Some(true);
            ack.properties.shared_subscription_available = Some(true);
            ack.properties.subscription_identifier_available = Some(subscription_identifiers);
            if topic_alias_maximum > 0 {
                ack.properties.topic_alias_maximum = Some(topic_alias_maximum);
                self.topic_alias_maximum = topic_alias_maximum;
            }
            // Absent means 65,535 and 2 (5.0 §3.2.2.3.3, §3.2.2.3.4) [MQTT-3.2.2-9].
            if receive_maximum != std::num::NonZeroU16::MAX {
                ack.properties.receive_maximum = Some(receive_maximum);
            }
            self.receive_maximum = receive_maximum.get();
            if maximum_qos < QoS::ExactlyOnce {
                ack.properties.maximum_qos = Some(maximum_qos);
            }
            if assign_topic_aliases {
                // Never above the client's maximum [MQTT-3.3.2-11]; none if it sent none.
                self.out_alias_maximum = connect.properties.topic_alias_maximum.unwrap_or(0);
            }
        }
        // 5.0 Server Keep Alive [MQTT-3.2.2-21]: a client asking for more than the maximum,
        // or for none, is held to the maximum.
        let keep_alive_secs = match max_keep_alive {
            Some(max)
                if version.is_v5() && (connect.keep_alive == 0 || connect.keep_alive > max) =>
            {
                ack.properties.server_keep_alive = Some(max);
                max
            }
            _ => connect.keep_alive,
        };
        let keep_alive =
            (keep_alive_secs > 0).then(|| Duration::from_millis(u64::from(keep_alive_secs) * 1500));
        self.deadline = keep_alive.map(|ka| Instant::now() + ka);
        self.client = Some(Client {
            id: client_id,
            version,
            keep_alive,
            will: connect.will,
            session_expiry,
            username: connect.username.as_deref().map(str::to_owned),
        });
        // After `client` is set, so that fault rules on CONNACK apply.
        self.send(&ack.into());
        self.resend_inflight();
        self.send_pending();
        None
    }

    /// The user name of the client's CONNECT, if any.
    fn username(&self) -> Option<&str> {
        self.client.as_ref().and_then(|c| c.username.as_deref())
    }

    /// Run `f` on our session, if this connection still owns it.
    fn with_session<R>(&self, f: impl FnOnce(&mut State, &str) -> R) -> Option<R> {
        let client_id = self.client_id()?;
        let mut state = lock(&self.shared);
        if !state
            .sessions
            .get(client_id)
            .is_some_and(|s| s.owned_by(self.id))
        {
            return None;
        }
        Some(f(&mut state, client_id))
    }

    /// After a reconnect: resend the unacknowledged PUBLISHes with DUP set, and PUBREL for
    /// those already received, in their original order [MQTT-4.4.0-1]. No more PUBLISHes
    /// are unacknowledged than the client's Receive Maximum allows [MQTT-3.3.4-9] (those
    /// awaiting PUBCOMP count): the others are resent, in order, as acknowledgements free
    /// room (`send_pending`).
    fn resend_inflight(&mut self) {
        let Some(version) = self.client.as_ref().map(|c| c.version) else {
            return;
        };
        let packets = self
            .with_session(|state, id| {
                let Some(session) = state.sessions.get_mut(id) else {
                    return Vec::new();
                };
                let quota = session.send_quota;
                session
                    .inflight
                    .resend_all(quota)
                    .into_iter()
                    .map(|m| match m {
                        Ok(mut p) => {
                            if !version.is_v5() {
                                p.properties = None;
                            }
                            Packet::Publish(p)
                        }
                        Err(pid) => PubRel::new(pid).into(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        for packet in &packets {
            self.send(packet);
        }
    }

    /// 3.x has no PUBLISH properties: those of a 5.0 publisher are dropped for 3.x clients.
    fn strip_for_version(&self, publish: &mut Publish) {
        if !self.client.as_ref().is_some_and(|c| c.version.is_v5()) {
            publish.properties = None;
        }
    }

    /// Send the queued messages the inflight window allows: first the inflight ones held
    /// back at the reconnect, then new ones.
    fn send_pending(&mut self) {
        if self.cut.is_some() {
            return;
        }
        let v5 = self.client.as_ref().is_some_and(|c| c.version.is_v5());
        let resends = self
            .with_session(|state, id| {
                let mut out = Vec::new();
                if let Some(session) = state.sessions.get_mut(id) {
                    let quota = session.send_quota;
                    while let Some(mut p) = session.inflight.next_resend(quota) {
                        if !v5 {
                            p.properties = None;
                        }
                        out.push(Packet::Publish(p));
                    }
                }
                out
            })
            .unwrap_or_default();
        for packet in &resends {
            self.send(packet);
        }
        let publishes = self
            .with_session(|state, id| {
                state
                    .sessions
                    .get_mut(id)
                    .map(Session::take_sendable)
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        for mut publish in publishes {
            let gate = self.gate_out(PacketType::Publish);
            if gate == Gate::Skip {
                continue;
            }
            self.strip_for_version(&mut publish);
            // A delayed PUBLISH gets no alias: later ones overtake it, and must not use an
            // alias it would have set up.
            let new_alias = if gate == Gate::Write {
                self.apply_out_alias(&mut publish)
            } else {
                None
            };
            let mark = self.wbuf.len();
            let encoded = self.encoder.encode_publish(&publish, &mut self.wbuf);
            if let (Ok(_), Some((topic, alias))) = (&encoded, new_alias) {
                self.out_aliases.insert(topic, alias);
            }
            if encoded.is_ok() {
                tracing::trace!(
                    conn = self.id,
                    packet = "PUBLISH",
                    topic = publish.topic.as_str(),
                    "sent"
                );
                let duplicate = publish.qos != QosPid::AtMostOnce
                    && self.client_id().is_some_and(|id| {
                        lock(&self.shared)
                            .take_fault(id, self.id, |f| {
                                matches!(f, Fault::DuplicatePublish).then_some(())
                            })
                            .is_some()
                    });
                if duplicate {
                    let mut dup = publish.clone();
                    dup.dup = true;
                    let _ = self.encoder.encode_publish(&dup, &mut self.wbuf);
                }
            }
            if let Gate::Delay(by) = gate {
                self.hold_back(mark, by);
            }
            if let Err(e) = encoded {
                // Larger than the client's Maximum Packet Size: discarded as if delivered
                // [MQTT-3.1.2-25], so it must not stay inflight either.
                tracing::warn!(conn = self.id, error = %e, topic = publish.topic.as_str(), "message discarded");
                if let Some(pid) = publish.qos.packet_id() {
                    self.with_session(|state, id| {
                        if let Some(s) = state.sessions.get_mut(id) {
                            s.inflight.remove(pid);
                        }
                    });
                }
            }
        }
    }

    /// Give an outbound PUBLISH a topic alias, if the broker assigns them to this client:
    /// the topic's alias with an empty topic once it has one, else a new alias with the
    /// topic while the client's maximum allows. Returns a new mapping, to record once the
    /// packet is encoded.
    fn apply_out_alias(
        &self,
        publish: &mut Publish,
    ) -> Option<(mqtt_proto::TopicName, std::num::NonZeroU16)> {
        if self.out_alias_maximum == 0 {
            return None;
        }
        if let Some(&alias) = self.out_aliases.get(&publish.topic) {
            publish.properties_mut().topic_alias = Some(alias);
            publish.topic = mqtt_proto::TopicName::alias_only();
            return None;
        }
        // Aliases 1..=maximum, handed out in order and never reused for another topic.
        let next = u16::try_from(self.out_aliases.len() + 1).ok()?;
        if next > self.out_alias_maximum {
            return None;
        }
        let alias = std::num::NonZeroU16::new(next)?;
        publish.properties_mut().topic_alias = Some(alias);
        Some((publish.topic.clone(), alias))
    }

    fn inflight_has(&self, pid: PacketId, want: OutState) -> bool {
        self.with_session(|state, id| {
            state
                .sessions
                .get(id)
                .is_some_and(|s| s.inflight.get(pid).is_some_and(|m| m.state == want))
        })
        .unwrap_or(false)
    }

    /// PUBACK, PUBREC or PUBCOMP for an outbound message expected in state `expected`.
    fn on_ack(&mut self, pid: PacketId, expected: OutState) {
        let conn = self.id;
        let known = self
            .with_session(|state, id| {
                let session = state.sessions.get_mut(id)?;
                if session.inflight.get(pid)?.state != expected {
                    return None;
                }
                if expected == OutState::Unreceived {
                    session.inflight.release(pid);
                } else {
                    session.inflight.remove(pid);
                }
                Some(())
            })
            .flatten()
            .is_some();
        if !known {
            tracing::debug!(
                conn,
                packet_id = pid.get(),
                ?expected,
                "acknowledgement for an unknown packet id ignored"
            );
        }
        self.send_pending();
    }

    fn on_publish(&mut self, mut publish: Publish) -> Option<Close> {
        if !publish.properties().subscription_identifiers.is_empty() {
            return Some(self.protocol_close(
                "subscription identifier in a PUBLISH from a client",
                "MQTT-3.3.4-6",
                DisconnectReason::ProtocolError,
            ));
        }
        let maximum_qos = lock(&self.shared).config.maximum_qos;
        if publish.qos.qos() > maximum_qos {
            return Some(self.protocol_close(
                "PUBLISH above the Maximum QoS",
                "MQTT-3.2.2-11",
                DisconnectReason::QoSNotSupported,
            ));
        }
        if self.receive_maximum > 0 {
            // [MQTT-3.3.4-7]: at most Receive Maximum QoS 1 and 2 PUBLISHes unacknowledged.
            // QoS 0 does not count; a resent QoS 2 PUBLISH already counted does not count
            // twice.
            let exempt = match publish.qos {
                QosPid::AtMostOnce => true,
                QosPid::AtLeastOnce(_) => false,
                QosPid::ExactlyOnce(pid) => self.inbound_unacked.contains(&pid),
            };
            if !exempt && self.inbound_unacked.len() >= usize::from(self.receive_maximum) {
                return Some(self.protocol_close(
                    "more unacknowledged QoS 1 and 2 PUBLISHes than the Receive Maximum",
                    "MQTT-3.3.4-7",
                    DisconnectReason::ReceiveMaximumExceeded,
                ));
            }
        }
        if let Some(alias) = publish.properties().topic_alias {
            if alias.get() > self.topic_alias_maximum {
                // Above the Topic Alias Maximum we announced (none: 0) [MQTT-3.3.2-9].
                return Some(self.protocol_close(
                    "topic alias above the maximum",
                    "MQTT-3.3.2-9",
                    DisconnectReason::TopicAliasInvalid,
                ));
            }
            if publish.topic.is_empty() {
                let Some(topic) = self.topic_aliases.get(&alias.get()) else {
                    return Some(self.protocol_close(
                        "topic alias with no mapping",
                        "5.0 §3.3.2.3.4",
                        DisconnectReason::ProtocolError,
                    ));
                };
                publish.topic = topic.clone();
            } else {
                // A new or replaced mapping, for this connection only (5.0 §3.3.2.3.4).
                self.topic_aliases
                    .insert(alias.get(), publish.topic.clone());
            }
            // Aliases are per connection: not passed on.
            let mut properties = publish.properties().clone();
            properties.topic_alias = None;
            publish = publish.with_properties(properties);
        } else if publish.topic.is_empty() {
            // The decoder refuses this already; kept as a guard [MQTT-3.3.2-1].
            return Some(self.protocol_close(
                "empty topic without a topic alias",
                "MQTT-3.3.2-1",
                DisconnectReason::ProtocolError,
            ));
        }
        if lock(&self.shared)
            .config
            .too_many_levels(publish.topic.as_str())
        {
            return Some(self.limit_close(
                "PUBLISH topic with more levels than allowed",
                DisconnectReason::TopicNameInvalid,
            ));
        }
        let qos = publish.qos;
        let denied = lock(&self.shared)
            .config
            .publish_denied(self.username(), publish.topic.as_str())
            .map(str::to_owned);
        if let Some(pattern) = denied {
            return self.on_denied_publish(publish, &pattern);
        }
        let route = self
            .with_session(|state, id| {
                let first = match qos {
                    QosPid::ExactlyOnce(pid) => state
                        .sessions
                        .get_mut(id)
                        .is_some_and(|s| s.inbound_qos2.insert(pid)),
                    _ => true,
                };
                if first {
                    // Method A of 3.1.1 §4.3.3: deliver on receipt, remember the id until
                    // PUBREL so that a resent PUBLISH is not delivered twice.
                    let from = id.to_owned();
                    state.publish(&from, &publish, false);
                }
            })
            .is_some();
        if !route {
            return None;
        }
        match qos {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(pid) => self.send(&PubAck::new(pid).into()),
            QosPid::ExactlyOnce(pid) => {
                if self.receive_maximum > 0 {
                    // Counts until its PUBCOMP.
                    self.inbound_unacked.insert(pid);
                }
                self.send(&PubRec::new(pid).into());
            }
        }
        // Our own session may have been among the subscribers.
        self.send_pending();
        None
    }

    /// A PUBLISH to a denied topic: not routed. 5.0 clients get PUBACK / PUBREC 0x87; 3.x
    /// clients get the usual acknowledgements (as mosquitto does); QoS 0 is dropped.
    fn on_denied_publish(&mut self, publish: Publish, pattern: &str) -> Option<Close> {
        let v5 = self.client.as_ref().is_some_and(|c| c.version.is_v5());
        let qos = publish.qos;
        let topic = publish.topic.as_str().to_owned();
        let report = self
            .with_session(|state, id| {
                // A 3.x QoS 2 flow completes normally: its id is held until PUBREL, and a
                // resent PUBLISH is not reported twice.
                let first = match qos {
                    QosPid::ExactlyOnce(pid) if !v5 => state
                        .sessions
                        .get_mut(id)
                        .is_some_and(|s| s.inbound_qos2.insert(pid)),
                    _ => true,
                };
                if first {
                    state.emit(Event::PublishDenied {
                        client_id: id.to_owned(),
                        publish,
                    });
                }
            })
            .is_some();
        if !report {
            return None;
        }
        tracing::info!(
            conn = self.id,
            client_id = self.client_id().unwrap_or("-"),
            topic,
            pattern,
            "PUBLISH denied"
        );
        let not_authorized = mqtt_proto::PubAckReason::NotAuthorized;
        match qos {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(pid) => {
                let mut ack = PubAck::new(pid);
                if v5 {
                    ack.reason = not_authorized;
                }
                self.send(&ack.into());
            }
            QosPid::ExactlyOnce(pid) => {
                let mut rec = PubRec::new(pid);
                if v5 {
                    rec.reason = not_authorized;
                }
                self.send(&rec.into());
            }
        }
        None
    }

    fn on_pubrel(&mut self, pid: PacketId) {
        self.inbound_unacked.remove(&pid);
        let known = self
            .with_session(|state, id| {
                state
                    .sessions
                    .get_mut(id)
                    .is_some_and(|s| s.inbound_qos2.remove(&pid))
            })
            .unwrap_or(false);
        let mut comp = PubComp::new(pid);
        let v5 = self.client.as_ref().is_some_and(|c| c.version.is_v5());
        if !known && v5 {
            // 5.0 says which id it did not know; 3.x has no reason code, and a PUBREL for
            // an id already released (a resend after reconnecting) is completed all the
            // same [MQTT-4.3.3-11]: the client's flow must end.
            comp.reason = PubRelReason::PacketIdentifierNotFound;
        }
        self.send(&comp.into());
    }

    fn on_subscribe(&mut self, subscribe: Subscribe) -> Option<Close> {
        // Identifier 0 is refused by the decoder already (a Protocol Error, 5.0 §3.8.2.1.2).
        let subscription_id = subscribe.properties.subscription_identifier;
        let (available, maximum_qos) = {
            let state = lock(&self.shared);
            (
                state.config.subscription_identifiers,
                state.config.maximum_qos,
            )
        };
        if subscription_id.is_some() && !available {
            // We announced Subscription Identifiers Available = 0 (5.0 §3.2.2.3.12).
            return Some(self.protocol_close(
                "subscription identifier not supported",
                "5.0 §3.2.2.3.12",
                DisconnectReason::SubscriptionIdentifiersNotSupported,
            ));
        }
        let username = self.username();
        let v5 = self.client.as_ref().is_some_and(|c| c.version.is_v5());
        let results = self
            .with_session(|state, id| {
                let mut results = Vec::with_capacity(subscribe.subscriptions.len());
                let max_subscriptions = state.config.max_subscriptions;
                for sub in &subscribe.subscriptions {
                    if state.config.too_many_levels(sub.filter.as_str()) {
                        // A limit of this broker: refused like an invalid filter.
                        tracing::warn!(
                            client_id = id,
                            limit = state.config.max_topic_levels,
                            "subscription refused: topic filter with more levels than allowed"
                        );
                        let reason = if v5 {
                            SubAckReason::TopicFilterInvalid
                        } else {
                            SubAckReason::UnspecifiedError
                        };
                        results.push((sub.filter.clone(), reason));
                        continue;
                    }
                    // A shared subscription is checked as written and by its inner filter.
                    let pattern = state
                        .config
                        .subscribe_denied(username, sub.filter.as_str())
                        .or_else(|| state.config.subscribe_denied(username, sub.filter.filter()))
                        .map(str::to_owned);
                    if let Some(pattern) = pattern {
                        tracing::info!(
                            client_id = id,
                            filter = sub.filter.as_str(),
                            pattern,
                            "subscription denied"
                        );
                        state.emit(Event::SubscribeDenied {
                            client_id: id.to_owned(),
                            filter: sub.filter.clone(),
                        });
                        // 3.1.1 knows only 0x80 for a failure.
                        let reason = if v5 {
                            SubAckReason::NotAuthorized
                        } else {
                            SubAckReason::UnspecifiedError
                        };
                        results.push((sub.filter.clone(), reason));
                        continue;
                    }
                    let Some(session) = state.sessions.get_mut(id) else {
                        break;
                    };
                    let index = session.subscription_index.get(sub.filter.as_str()).copied();
                    let replaces = index.is_some();
                    if !replaces && session.subscriptions.len() >= max_subscriptions {
                        tracing::warn!(
                            client_id = id,
                            filter = sub.filter.as_str(),
                            limit = max_subscriptions,
                            "subscription refused: too many subscriptions"
                        );
                        let reason = if v5 {
                            SubAckReason::QuotaExceeded
                        } else {
                            SubAckReason::UnspecifiedError
                        };
                        results.push((sub.filter.clone(), reason));
                        continue;
                    }
                    // Granted at most the Maximum QoS [MQTT-3.2.2-10], [MQTT-3.8.4-7]; what
                    // it sends is then at most that QoS [MQTT-3.8.4-8].
                    let mut sub = sub.clone();
                    sub.options.qos = sub.options.qos.min(maximum_qos);
                    // [MQTT-3.8.4-3]: a subscription to the same filter replaces the old one,
                    // its Subscription Identifier included.
                    let existed = if let Some(old) =
                        index.and_then(|i| session.subscriptions.get_mut(i))
                    {
                        *old = sub.clone();
                        true
                    } else {
                        session
                            .subscription_index
                            .insert(sub.filter.as_str().to_owned(), session.subscriptions.len());
                        session.subscriptions.push(sub.clone());
                        false
                    };
                    match subscription_id {
                        Some(sid) => {
                            session
                                .subscription_ids
                                .insert(sub.filter.as_str().to_owned(), sid);
                        }
                        None => {
                            session.subscription_ids.remove(sub.filter.as_str());
                        }
                    }
                    let send = match sub.options.retain_handling {
                        mqtt_proto::RetainHandling::SendAtSubscribe => true,
                        mqtt_proto::RetainHandling::SendAtSubscribeIfNew => !existed,
                        mqtt_proto::RetainHandling::DoNotSend => false,
                    };
                    // Retained messages are not sent for shared subscriptions (5.0 §4.8.2).
                    if send && !sub.filter.is_shared() {
                        state.send_retained(id, &sub.filter, sub.options.qos, subscription_id);
                    }
                    results.push((sub.filter.clone(), granted(sub.options.qos)));
                }
                state.emit(Event::Subscribed {
                    client_id: id.to_owned(),
                    results: results.clone(),
                });
                results
            })
            .unwrap_or_default();
        let reasons = results.into_iter().map(|(_, r)| r).collect();
        // The SUBACK goes out before the retained messages it releases [MQTT-3.8.4-4].
        self.send(&SubAck::new(subscribe.packet_id, reasons).into());
        self.send_pending();
        None
    }

    fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let reasons = self
            .with_session(|state, id| {
                let reasons = match state.sessions.get_mut(id) {
                    Some(session) => unsubscribe
                        .filters
                        .iter()
                        .map(|f| {
                            let before = session.subscriptions.len();
                            if session.subscription_index.remove(f.as_str()).is_some() {
                                session.subscriptions.retain(|s| &s.filter != f);
                                session.subscription_index = session
                                    .subscriptions
                                    .iter()
                                    .enumerate()
                                    .map(|(i, s)| (s.filter.as_str().to_owned(), i))
                                    .collect();
                            }
                            session.subscription_ids.remove(f.as_str());
                            if session.subscriptions.len() < before {
                                UnsubAckReason::Success
                            } else {
                                UnsubAckReason::NoSubscriptionExisted
                            }
                        })
                        .collect(),
                    None => Vec::new(),
                };
                state.emit(Event::Unsubscribed {
                    client_id: id.to_owned(),
                    filters: unsubscribe.filters.clone(),
                });
                reasons
            })
            .unwrap_or_default();
        // 3.1.1 UNSUBACK carries no codes.
        let v5 = self.client.as_ref().is_some_and(|c| c.version.is_v5());
        let reasons = if v5 { reasons } else { Vec::new() };
        self.send(&UnsubAck::new(unsubscribe.packet_id, reasons).into());
    }

    /// Say goodbye, give the session back (or drop it), publish the will, report.
    async fn finish(mut self, close: Close) {
        if let (Some(code), Some(client)) = (close.disconnect, &self.client) {
            if client.version.is_v5() {
                self.send(&Disconnect::new(code).into());
            }
        }
        // Best effort: the peer may already be gone, or may not read (then the writes
        // would wait for ever, and so would `Broker::shutdown`).
        let _ = tokio::time::timeout(FINISH_TIMEOUT, async {
            let _ = self.flush().await;
            let _ = self.wr.shutdown().await;
        })
        .await;

        let client = self.client.take();
        let mut state = lock(&self.shared);
        state.drop_connection_faults(self.id);
        if let Some(client) = &client {
            let owned = state
                .sessions
                .get(&client.id)
                .is_some_and(|s| s.owned_by(self.id));
            let now = Instant::now();
            // The session outlives the connection: for how long (`None`: for ever).
            let mut kept = false;
            if owned {
                let expiry = client.session_expiry;
                let expires_at =
                    (expiry != u32::MAX).then(|| now + Duration::from_secs(u64::from(expiry)));
                let keep = state.sessions.get_mut(&client.id).is_some_and(|s| {
                    s.conn = None;
                    // QoS 0 messages are not kept for an absent client.
                    s.pending.retain(|q| q.qos != QoS::AtMostOnce);
                    s.persistent = expiry > 0;
                    s.left_by = Some(self.id);
                    s.expires_at = expires_at;
                    s.persistent
                });
                if keep {
                    kept = true;
                    if let Some(at) = expires_at {
                        spawn_timer(&self.shared, client.id.clone(), self.id, at);
                    }
                } else {
                    state.sessions.remove(&client.id);
                }
            }
            // Taken over by a connection that resumed the session: a 5.0 will with a delay
            // is not sent [MQTT-3.1.3-9].
            let resumed = close.reason == CloseReason::TakenOver
                && client.version.is_v5()
                && client
                    .will
                    .as_ref()
                    .and_then(|w| w.properties.will_delay_interval)
                    .is_some_and(|d| d > 0)
                && state
                    .sessions
                    .get(&client.id)
                    .is_some_and(|s| s.taken_over_from == Some(self.id));
            if close.reason.publishes_will() && !resumed {
                if let Some(will) = &client.will {
                    let mut publish =
                        Publish::new(will.topic.clone(), QosPid::AtMostOnce, will.payload.clone());
                    // The QoS only matters for routing: no packet id travels with a will.
                    publish.qos = match will.qos {
                        QoS::AtMostOnce => QosPid::AtMostOnce,
                        QoS::AtLeastOnce => QosPid::AtLeastOnce(PacketId::MIN),
                        QoS::ExactlyOnce => QosPid::ExactlyOnce(PacketId::MIN),
                    };
                    publish.retain = will.retain;
                    // The will's properties travel with it (5.0 §3.1.3.2), user properties in
                    // their order [MQTT-3.1.3-10]; the Message Expiry Interval runs from
                    // when it is published. The Will Delay Interval is the broker's alone.
                    let wp = &will.properties;
                    let mut properties = mqtt_proto::PublishProperties::default();
                    properties.payload_format_indicator = wp.payload_format_indicator;
                    properties.message_expiry_interval = wp.message_expiry_interval;
                    properties.content_type.clone_from(&wp.content_type);
                    properties.response_topic.clone_from(&wp.response_topic);
                    properties.correlation_data.clone_from(&wp.correlation_data);
                    properties.user_properties.clone_from(&wp.user_properties);
                    let publish = publish.with_properties(properties);
                    let denied = state
                        .config
                        .publish_denied(client.username.as_deref(), will.topic.as_str())
                        .map(str::to_owned);
                    if let Some(pattern) = denied {
                        tracing::info!(
                            client_id = client.id,
                            topic = will.topic.as_str(),
                            pattern,
                            "will denied"
                        );
                        state.emit(Event::PublishDenied {
                            client_id: client.id.clone(),
                            publish,
                        });
                    } else if let Some((delay, session)) = will
                        .properties
                        .will_delay_interval
                        .filter(|d| *d > 0 && client.version.is_v5() && kept)
                        .zip(state.sessions.get_mut(&client.id))
                    {
                        // 5.0 Will Delay Interval: published when the delay ends, or when
                        // the session ends if that is sooner; dropped if the client is back
                        // first [MQTT-3.1.3-9].
                        let at = now + Duration::from_secs(u64::from(delay));
                        tracing::debug!(
                            client_id = client.id,
                            topic = will.topic.as_str(),
                            delay,
                            "will delayed"
                        );
                        session.delayed_will = Some((at, publish));
                        let sooner = session.expires_at.is_none_or(|end| at < end);
                        if sooner {
                            spawn_timer(&self.shared, client.id.clone(), self.id, at);
                        }
                    } else {
                        tracing::debug!(
                            client_id = client.id,
                            topic = will.topic.as_str(),
                            "publishing will"
                        );
                        state.publish(&client.id, &publish, true);
                    }
                }
            }
        }
        tracing::debug!(conn = self.id, client_id = client.as_ref().map(|c| c.id.as_str()), reason = ?close.reason, "connection closed");
        state.emit(Event::Disconnected {
            client_id: client.map(|c| c.id),
            reason: close.reason,
        });
    }
}

/// The SUBACK code granting `qos`.
fn granted(qos: QoS) -> SubAckReason {
    match qos {
        QoS::AtMostOnce => SubAckReason::GrantedQoS0,
        QoS::AtLeastOnce => SubAckReason::GrantedQoS1,
        QoS::ExactlyOnce => SubAckReason::GrantedQoS2,
    }
}

/// Run [`State::on_timer`] for a session left by connection `left_by`, at `at`. The timer
/// holds no reference that keeps a stopped broker alive.
fn spawn_timer(shared: &Shared, client_id: String, left_by: u64, at: Instant) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
        if let Some(shared) = weak.upgrade() {
            lock(&shared).on_timer(&client_id, left_by);
        }
    });
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
