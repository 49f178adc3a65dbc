//! One task per connection, the I/O around the rules: read and decode, hand each packet
//! to the rules (`handler`), consult the fault rules about every packet in and out, encode
//! and write batched, run the timers (connect, keep alive, half-received packet, fault
//! delays). Which packet answers which, and what happens to the session, is decided in
//! `handler/`, not here.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mqtt_proto::{
    Connect, Decoder, Disconnect, DisconnectReason, Encoder, Packet, PacketType, ProtocolVersion,
    QosPid,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::event::CloseReason;
use crate::fault::{Action, Direction};
use crate::handler::{self, Close, Link, Out, Reply, Timer};
use crate::peer::Peer;
use crate::session::ConnCmd;
use crate::shared::{Shared, lock};

/// How long the goodbye (a last DISCONNECT, the close) may take to write.
const FINISH_TIMEOUT: Duration = Duration::from_secs(1);

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

/// A connection over any byte stream `S` (TCP, TLS, a WebSocket's pipe, unix).
struct Conn<S> {
    shared: Shared,
    /// The connection as the rules see it.
    link: Link,
    rd: ReadHalf<S>,
    wr: WriteHalf<S>,
    decoder: Decoder,
    encoder: Encoder,
    rbuf: BytesMut,
    wbuf: BytesMut,
    rx: mpsc::UnboundedReceiver<ConnCmd>,
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
    peer: Peer,
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
        link: Link::new(id, peer, tx),
        rd,
        wr,
        // Any version: CONNECT is decoded by the version it announces; the decoder switches
        // to the client's version once CONNECT is read.
        decoder: Decoder::new(ProtocolVersion::V3_1_1).with_max_packet_size(max_packet_size),
        encoder: Encoder::new(ProtocolVersion::V3_1_1),
        rbuf: BytesMut::with_capacity(8 * 1024),
        wbuf: BytesMut::with_capacity(8 * 1024),
        rx,
        deadline: Some(Instant::now() + connect_timeout),
        cut: None,
        delayed: Vec::new(),
        packet_timeout,
        partial_deadline: None,
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
                        tracing::debug!(conn = self.link.id, error = %e, "read failed");
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
                            tracing::warn!(conn = self.link.id, error = %e, "unsolicited packet not sent");
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
                    let fire = self.link.client_id().is_some_and(|id| {
                        lock(&self.shared).fire_close_timer(id, self.link.id)
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
                        conn = self.link.id,
                        peer = %self.link.peer,
                        buffered = self.rbuf.len(),
                        "half-received packet timed out"
                    );
                    Some(Close::new(CloseReason::PacketTimeout))
                }
                () = sleep_until(deadline) => Some(handler::timed_out(&self.link)),
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
                tracing::debug!(conn = self.link.id, error = %e, "write failed");
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
        tracing::debug!(conn = self.link.id, "gone silent");
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
        let Some(client_id) = self.link.client_id() else {
            return Gate::Write;
        };
        let action =
            lock(&self.shared).fault_for_packet(client_id, self.link.id, Direction::Out, packet);
        match action {
            Action::Pass => Gate::Write,
            Action::Withhold => {
                tracing::debug!(
                    conn = self.link.id,
                    packet = packet.name(),
                    "withheld (fault)"
                );
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
            Ok(_) => tracing::trace!(
                conn = self.link.id,
                packet = packet.packet_type().name(),
                "sent"
            ),
            Err(e) => {
                tracing::warn!(conn = self.link.id, error = %e, packet = packet.packet_type().name(), "packet not sent");
            }
        }
        if let Gate::Delay(by) = gate {
            self.hold_back(mark, by);
        }
    }

    /// Write what the rules answered, in order; the close they ask for, if any.
    fn write_reply(&mut self, reply: Reply) -> Option<Close> {
        for out in reply.out {
            match out {
                Out::Packet(packet) => self.send(&packet),
                Out::Pending => self.send_pending(),
            }
        }
        reply.close
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

    /// Restart the keep alive timer: a packet arrived (or, held, is processed now).
    fn restart_keep_alive(&mut self) {
        if let Some(c) = &self.link.client {
            self.deadline = c.keep_alive.map(|ka| Instant::now() + ka);
        }
    }

    /// Decode and process every whole packet buffered, until one is held by a delay rule.
    fn decode_all(&mut self) -> Option<Close> {
        while self.held.is_none() {
            let head = handler::Head::peek(&self.link, &self.rbuf);
            if let Some(reply) = handler::check_head(&self.link, &head) {
                return self.write_reply(reply);
            }
            match self.decoder.decode(&mut self.rbuf) {
                Ok(Some(packet)) => {
                    self.restart_keep_alive();
                    if let Some(by) = self.delay_received(&packet) {
                        tracing::debug!(
                            conn = self.link.id,
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
                Err(e) => {
                    if head.connect_level == Some(5) {
                        // The CONNACK refusing a 5.0 CONNECT that does not decode.
                        self.encoder.set_version(ProtocolVersion::V5);
                    }
                    let reply = handler::decode_error(&self.link, &e, &head);
                    return self.write_reply(reply);
                }
            }
        }
        None
    }

    /// The held packet's delay is over: process it, then what was buffered behind it.
    fn release_held(&mut self) -> Option<Close> {
        let (_, packet) = self.held.take()?;
        // Received long ago, as far as keep alive is concerned, only now.
        self.restart_keep_alive();
        if let ControlFlow::Break(close) = self.process(packet) {
            return close;
        }
        self.decode_all()
    }

    /// How long a delay rule holds this received packet, if one fires for it. A CONNECT
    /// is matched by the client identifier it carries.
    fn delay_received(&self, packet: &Packet) -> Option<Duration> {
        let client_id = match (self.link.client_id(), packet) {
            (Some(id), _) => id,
            (None, Packet::Connect(c)) => &*c.client_id,
            (None, _) => return None,
        };
        lock(&self.shared).fault_delay_received(client_id, self.link.id, packet.packet_type())
    }

    /// The codec follows the CONNECT: its version (a server decodes CONNECT whatever its
    /// decoder's version), and on 5.0 the client's Maximum Packet Size.
    fn configure_codec(&mut self, connect: &Connect) {
        let version = connect.protocol;
        self.decoder.set_version(version);
        self.encoder.set_version(version);
        if version.is_v5()
            && let Some(max) = connect.properties.maximum_packet_size
        {
            self.encoder.set_max_packet_size(max);
        }
    }

    /// Process one received packet, then apply the fault rules about it. `Break` stops
    /// the decoding, with the close if there is one.
    fn process(&mut self, packet: Packet) -> ControlFlow<Option<Close>> {
        let packet_type = packet.packet_type();
        let mark = self.wbuf.len();
        let connecting = self.link.client.is_none();
        if let (true, Packet::Connect(connect)) = (connecting, &packet) {
            self.configure_codec(connect);
        }
        let reply = handler::handle(&mut lock(&self.shared), &mut self.link, packet);
        if let (true, Some(client)) = (connecting, &self.link.client) {
            // Connected: keep alive from now on, and a close timer rule armed for the
            // client counts from its CONNECT.
            self.deadline = client.keep_alive.map(|ka| Instant::now() + ka);
            if let Some(after) = lock(&self.shared).fault_close_timer(&client.id, self.link.id) {
                self.close_timer = Some(Instant::now() + after);
            }
        }
        // After `link.client` is set, so that fault rules on CONNACK apply.
        if let Some(close) = self.write_reply(reply) {
            return ControlFlow::Break(Some(close));
        }
        if self.cut.is_some() {
            return ControlFlow::Break(None);
        }
        let action = match self.link.client_id() {
            Some(id) => {
                lock(&self.shared).fault_for_packet(id, self.link.id, Direction::In, packet_type)
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

    /// Send what the session may send now ([`handler::deliver::take`]), through the fault
    /// rules, with the topic aliases the broker assigns.
    fn send_pending(&mut self) {
        if self.cut.is_some() {
            return;
        }
        let (resends, publishes) = handler::deliver::take(&mut lock(&self.shared), &self.link);
        for publish in resends {
            self.send(&Packet::Publish(publish));
        }
        for mut publish in publishes {
            let gate = self.gate_out(PacketType::Publish);
            if gate == Gate::Skip {
                continue;
            }
            // A delayed PUBLISH gets no alias: later ones overtake it, and must not use an
            // alias it would have set up.
            let new_alias = if gate == Gate::Write {
                self.link.out_aliases.apply(&mut publish)
            } else {
                None
            };
            let mark = self.wbuf.len();
            let encoded = self.encoder.encode_publish(&publish, &mut self.wbuf);
            if let (Ok(_), Some(alias)) = (&encoded, new_alias) {
                self.link.out_aliases.record(alias);
            }
            if encoded.is_ok() {
                tracing::trace!(
                    conn = self.link.id,
                    packet = "PUBLISH",
                    topic = publish.topic.as_str(),
                    "sent"
                );
                let duplicate = publish.qos != QosPid::AtMostOnce
                    && self.link.client_id().is_some_and(|id| {
                        lock(&self.shared).fault_duplicate_publish(id, self.link.id)
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
                tracing::warn!(conn = self.link.id, error = %e, topic = publish.topic.as_str(), "message discarded");
                if let Some(pid) = publish.qos.packet_id() {
                    handler::deliver::discard(&mut lock(&self.shared), &self.link, pid);
                }
            }
        }
    }

    /// Say goodbye, then let the rules end the connection (session, will), start the
    /// timers they ask for, report.
    async fn finish(mut self, close: Close) {
        if let (Some(code), true) = (close.disconnect, self.link.is_v5()) {
            self.send(&Disconnect::new(code).into());
        }
        // Best effort: the peer may already be gone, or may not read (then the writes
        // would wait for ever, and so would `Broker::shutdown`).
        let _ = tokio::time::timeout(FINISH_TIMEOUT, async {
            let _ = self.flush().await;
            let _ = self.wr.shutdown().await;
        })
        .await;

        let mut state = lock(&self.shared);
        state.drop_connection_faults(self.link.id);
        for timer in handler::end(&mut state, &mut self.link, &close.reason) {
            spawn_timer(&self.shared, timer);
        }
    }
}

/// Run [`State::on_timer`](crate::state::State::on_timer) when `timer` is due. The timer
/// holds no reference that keeps a stopped broker alive.
fn spawn_timer(shared: &Shared, timer: Timer) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep_until(timer.at).await;
        if let Some(shared) = weak.upgrade() {
            lock(&shared).on_timer(&timer.client_id, timer.left_by);
        }
    });
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
