//! The connection: everything that belongs to one transport, replaced wholesale by
//! [`ClientState::connect`](crate::client::state::ClientState::connect) (and, when a
//! connection ends, by what is left of it: see [`Connection::end`]). What survives is in
//! [`Session`](crate::client::session::Session).

use std::collections::{BTreeSet, VecDeque};
use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

use crate::client::aliases::{InboundAliases, OutboundAliases};
use crate::client::options::ClientOptions;
use crate::client::session::AppAck;
use crate::codec::{Decoder, Encoder, MAX_PACKET_SIZE};
use crate::packet::Packet;
use crate::packet::property::ConnAckProperties;
use crate::types::{PacketId, ProtocolVersion, QoS};

/// The phase of the current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No transport: before the first [`ClientState::connect`](crate::client::ClientState::connect),
    /// or after a connection ended.
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
    pub(crate) fn defaults(keep_alive: Duration) -> Self {
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

    pub(crate) fn apply(&mut self, p: &ConnAckProperties) {
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

/// What CONNECT asked of the server's copy of the session (the Clean Start / Clean Session
/// flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionStart {
    /// Clean start 1: a new session (a Session Present 1 answer is a protocol error).
    Clean,
    /// Clean start 0: resume the session if the server has it.
    Resume,
}

impl SessionStart {
    pub(crate) const fn from_flag(clean_start: bool) -> Self {
        if clean_start {
            Self::Clean
        } else {
            Self::Resume
        }
    }

    pub(crate) const fn flag(self) -> bool {
        matches!(self, Self::Clean)
    }
}

/// One connection: see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Connection {
    /// Counts connections (1 for the first): tags manual-ack tokens, so that an ack from an
    /// earlier connection is never sent on a later one.
    pub(crate) generation: u64,
    pub(crate) phase: ConnectionState,
    /// What CONNECT asked for.
    pub(crate) start: SessionStart,
    pub(crate) decoder: Decoder,
    /// Its size limit is the server's Maximum Packet Size once CONNACK names one.
    pub(crate) encoder: Encoder,
    /// The server's limits, from CONNACK.
    pub(crate) server: ServerLimits,
    /// Control packets to send, in order (CONNECT, acks, pings, resends).
    pub(crate) tx: VecDeque<Packet>,
    /// Resends of a resumed session held back by this connection's inflight limit
    /// [MQTT-3.3.4-7] (packet identifier, send order): they go before any new publish.
    pub(crate) resend: VecDeque<(PacketId, u64)>,
    /// Manual acknowledgements, in arrival order.
    pub(crate) acks: AckQueue,
    /// Our Receive Maximum's count (5.0 §4.9): QoS 1 messages delivered and not yet
    /// acknowledged (manual acks) ...
    pub(crate) qos1_unacked: usize,
    /// ... and, of the session's inbound QoS 2 identifiers, those carried over from an
    /// earlier connection: the server's send quota starts afresh on each connection, so
    /// they do not count.
    pub(crate) carried_qos2: BTreeSet<PacketId>,
    pub(crate) aliases_in: InboundAliases,
    pub(crate) aliases_out: OutboundAliases,
    pub(crate) timers: Timers,
}

/// The times the keepalive and the CONNACK wait are measured from.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timers {
    pub(crate) last_sent: Option<Instant>,
    pub(crate) last_recv: Option<Instant>,
    /// A PINGREQ is out: the connection fails if nothing arrives by then.
    pub(crate) ping_deadline: Option<Instant>,
    pub(crate) connack_deadline: Option<Instant>,
}

impl Connection {
    /// Connection number `generation` of a session speaking `protocol`, in `phase`, with no
    /// traffic yet: empty queues and alias tables, the protocol's default server limits.
    pub(crate) fn new(
        generation: u64,
        phase: ConnectionState,
        protocol: ProtocolVersion,
        opts: &ClientOptions,
        keep_alive: Duration,
        start: SessionStart,
    ) -> Self {
        Self {
            generation,
            phase,
            start,
            decoder: Decoder::new(protocol).with_max_packet_size(opts.max_packet_size),
            encoder: Encoder::new(protocol),
            server: ServerLimits::defaults(keep_alive),
            tx: VecDeque::new(),
            resend: VecDeque::new(),
            acks: AckQueue::default(),
            qos1_unacked: 0,
            carried_qos2: BTreeSet::new(),
            aliases_in: InboundAliases::new(if protocol.is_v5() {
                opts.topic_alias_maximum
            } else {
                0
            }),
            aliases_out: OutboundAliases::default(),
            timers: Timers::default(),
        }
    }

    /// The connection is over. What is left of it is a new, disconnected one that keeps
    /// only its number (to tell its ack tokens apart), its encoder (for the DISCONNECT that
    /// may still go out) and its server's limits (still reported by
    /// [`ClientState::server`](crate::client::ClientState::server)); every other part,
    /// including any added later, is dropped as a new connection would drop it.
    pub(crate) fn end(&mut self, protocol: ProtocolVersion, opts: &ClientOptions) {
        let mut ended = Self::new(
            self.generation,
            ConnectionState::Disconnected,
            protocol,
            opts,
            self.server.keep_alive,
            self.start,
        );
        ended.encoder = self.encoder;
        std::mem::swap(&mut ended.server, &mut self.server);
        *self = ended;
    }

    /// When a PINGREQ is due, if keepalive is on.
    pub(crate) fn keepalive_due(&self) -> Option<Instant> {
        let ka = self.server.keep_alive;
        if ka.is_zero() {
            return None;
        }
        let last = match (self.timers.last_sent, self.timers.last_recv) {
            (Some(s), Some(r)) => s.min(r),
            (s, r) => s.or(r)?,
        };
        last.checked_add(ka)
    }

    /// Any byte from the server shows the link is alive.
    pub(crate) fn heard_from_peer(&mut self, now: Instant) {
        self.timers.last_recv = Some(now);
        self.timers.ping_deadline = None;
    }
}

/// Manual acknowledgements in arrival order [MQTT-4.6.0-2], [MQTT-4.6.0-3]: one is sent
/// once it and every one before it are given.
#[derive(Debug, Default)]
pub(crate) struct AckQueue {
    queue: VecDeque<PendingAck>,
    next_seq: u64,
}

#[derive(Debug)]
pub(crate) struct PendingAck {
    /// Arrival order on this connection (what [`AckToken`](crate::client::AckToken) names).
    pub(crate) seq: u64,
    pub(crate) packet_id: PacketId,
    pub(crate) qos: QoS,
    pub(crate) ack: AppAck,
}

impl AckQueue {
    /// Queue the acknowledgement of an inbound message; returns its arrival number.
    pub(crate) fn push(&mut self, packet_id: PacketId, qos: QoS, ack: AppAck) -> u64 {
        self.next_seq += 1;
        self.queue.push_back(PendingAck {
            seq: self.next_seq,
            packet_id,
            qos,
            ack,
        });
        self.next_seq
    }

    /// The acknowledgement with arrival number `seq`.
    pub(crate) fn by_seq(&mut self, seq: u64) -> Option<&mut PendingAck> {
        self.queue.iter_mut().find(|a| a.seq == seq)
    }

    /// The PUBREC queued for inbound QoS 2 identifier `pid`.
    pub(crate) fn qos2(&mut self, pid: PacketId) -> Option<&mut PendingAck> {
        self.queue
            .iter_mut()
            .find(|a| a.packet_id == pid && a.qos == QoS::ExactlyOnce)
    }

    /// The first acknowledgement, if given: its turn has come.
    pub(crate) fn pop_given(&mut self) -> Option<PendingAck> {
        if self.queue.front()?.ack == AppAck::Given {
            self.queue.pop_front()
        } else {
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::topic::TopicName;

    fn opts() -> ClientOptions {
        let mut o = ClientOptions::new(ProtocolVersion::V5, "c");
        o.topic_alias_maximum = 4;
        o
    }

    #[test]
    fn an_ended_connection_keeps_its_number_encoder_and_server_limits_only() {
        let o = opts();
        let now = Instant::now();
        let mut c = Connection::new(
            7,
            ConnectionState::Connected,
            ProtocolVersion::V5,
            &o,
            Duration::from_secs(60),
            SessionStart::Resume,
        );
        let pid = PacketId::new(9).unwrap();
        c.server.receive_maximum = 5;
        c.encoder
            .set_max_packet_size(NonZeroU32::new(1000).unwrap());
        c.tx.push_back(Packet::PingReq);
        c.resend.push_back((pid, 1));
        c.acks.push(pid, QoS::AtLeastOnce, AppAck::Given);
        c.qos1_unacked = 1;
        c.carried_qos2.insert(pid);
        let mut topic = TopicName::new("t").unwrap();
        c.aliases_in
            .apply(NonZeroU16::new(1).unwrap(), &mut topic)
            .unwrap();
        c.timers = Timers {
            last_sent: Some(now),
            last_recv: Some(now),
            ping_deadline: Some(now),
            connack_deadline: Some(now),
        };

        c.end(ProtocolVersion::V5, &o);

        assert_eq!(c.generation, 7);
        assert_eq!(c.phase, ConnectionState::Disconnected);
        assert_eq!(c.encoder.max_packet_size(), 1000);
        assert_eq!(c.server.receive_maximum, 5);
        assert!(c.tx.is_empty() && c.resend.is_empty());
        assert!(c.acks.pop_given().is_none());
        assert_eq!((c.qos1_unacked, c.carried_qos2.len()), (0, 0));
        let mut empty = TopicName::alias_only();
        assert!(
            c.aliases_in
                .apply(NonZeroU16::new(1).unwrap(), &mut empty)
                .is_err(),
            "inbound aliases are per connection [MQTT-3.3.2-7]"
        );
        assert_eq!(c.timers, Timers::default());
    }

    #[test]
    fn acks_leave_in_arrival_order_only_mqtt_4_6_0_2() {
        let mut q = AckQueue::default();
        let a = PacketId::new(1).unwrap();
        let b = PacketId::new(2).unwrap();
        let first = q.push(a, QoS::AtLeastOnce, AppAck::Awaited);
        let second = q.push(b, QoS::ExactlyOnce, AppAck::Awaited);
        q.by_seq(second).unwrap().ack = AppAck::Given;
        assert!(q.pop_given().is_none(), "the second waits for the first");
        assert_eq!(q.qos2(b).map(|p| p.seq), Some(second));
        assert!(q.qos2(a).is_none(), "a is QoS 1");
        q.by_seq(first).unwrap().ack = AppAck::Given;
        assert_eq!(q.pop_given().map(|p| p.packet_id), Some(a));
        assert_eq!(q.pop_given().map(|p| p.packet_id), Some(b));
        assert!(q.pop_given().is_none());
    }
}
