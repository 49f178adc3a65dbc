//! Model-based property test of the client state machine (`mqtt_proto::client`, issue 3,
//! "Tests"): proptest drives one [`ClientState`] through random sequences of operations
//! against a simulated broker written here on top of the codec, on a virtual clock, and checks
//! the state machine's promises after every step.
//!
//! **The broker** reads what the client writes with its own [`Decoder`] and answers through
//! its own [`Encoder`], one pair per connection. It keeps a session for the client (the QoS 1
//! and 2 messages it sent and has not seen completed, the inbound QoS 2 packet identifiers
//! awaiting PUBREL, the persistence asked for in CONNECT), allocates its own packet identifiers
//! (lowest free first, restarting with every new session, as real brokers do), resends its
//! unfinished messages with DUP set (and PUBREL for released ones) after a CONNACK with session
//! present 1, and respects the client's Receive Maximum. It answers at once or later and out of
//! order across packet identifiers, answers CONNACK slowly, sends duplicate deliveries within a
//! connection (QoS 1 on 3.1.1 only, where it is allowed; QoS 2 on both), stays silent to
//! PINGREQ, and forgets the session (CONNACK session present 0) when told.
//!
//! **The operations**: the application publishes at QoS 0, 1 and 2, subscribes, unsubscribes,
//! acknowledges delivered messages in random order (manual acks, tokens from earlier
//! connections included) and disconnects; the broker publishes, reads, answers, withholds,
//! duplicates; the transport drops at any packet boundary (reconnecting at once or later); time
//! advances, with the network flowing (the broker answers pings) or stalled. Configurations
//! cover 3.1.1 and 5.0, manual and automatic acks, clean and persistent sessions, small
//! inflight windows and Receive Maximums on both sides, keepalive on and off (5.0: Server Keep
//! Alive), and each session-loss policy.
//!
//! **Invariants**, after every step:
//! - no panic; the client writes only well-formed packets, nothing before CONNACK but CONNECT,
//!   and nothing without a transport;
//! - packet identifiers in use are unique [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]): checked on the wire from the client's
//!   side (a new PUBLISH, SUBSCRIBE or UNSUBSCRIBE never carries an identifier whose exchange the
//!   client has not seen completed; DUP only on a resend of the same message on a later
//!   connection [MQTT-3.3.1-1]) and from the broker's (never an identifier it has not answered,
//!   or awaiting PUBREL);
//! - the broker never holds more unacknowledged QoS 1 and 2 publishes from the client than the
//!   inflight limit (the client's `max_inflight`, and on 5.0 the broker's Receive Maximum)
//!   [MQTT-3.3.4-7]; `inflight()` never exceeds it either (and the broker keeps to the
//!   client's Receive Maximum [MQTT-3.3.4-9], or the client would end the connection);
//! - after PUBREC the client never sends that PUBLISH again, only PUBREL [MQTT-4.3.3-4],
//!   [MQTT-4.3.3-6]; PUBREL only after a PUBREC; unfinished publishes and PUBRELs are resent
//!   on a session-present reconnection [MQTT-4.4.0-1] (or the end state would be stuck);
//! - PUBACK and PUBREC go out only for a PUBLISH read on the same connection and, with manual
//!   acks, only once the application acknowledged that message; PUBCOMP only for a PUBREL read
//!   on the same connection;
//! - a QoS 2 message from the broker reaches the application at most once, across reconnections
//!   and session loss;
//! - every request ends exactly once (one completion event per `RequestId`); a QoS 1 or 2
//!   publish completes successfully only if the broker received it; it fails with `SessionLost`
//!   only if the broker lost the session while it was in flight and the policy says so;
//! - keepalive: while connected the client never stays silent longer than the keepalive
//!   [MQTT-3.1.2-20] (3.1.1: [MQTT-3.1.2-23]), the server's Server Keep Alive replacing its own
//!   [MQTT-3.1.2-21], and never stays connected longer than keepalive plus ping timeout without
//!   hearing from the broker; CONNACK is awaited no longer than the connect timeout;
//! - after `handle_timeout`, `poll_timeout` is never now or in the past;
//! - durable sessions (issue 12; persistence is on in every case, which must change nothing
//!   else): the changes from `poll_persist`, applied in order to a [`PersistedSession`], equal
//!   the client's `persisted_session()`, which is valid, and a client restored from it holds
//!   the same session again.
//!
//! **At the end** the broker stops misbehaving and the network is drained: first on the live
//! connection (nothing may stay stuck there), then, if there is none, on a new one. Then every
//! request has ended, nothing is queued or in flight on either side, every QoS 1 and 2 message
//! the broker sent while it kept the session was delivered (and completed), and every QoS 1 and
//! 2 publish of the application completed successfully, unless the broker lost the session
//! while it was in flight and the session-loss policy failed it.
//!
//! **One assumption** keeps the broker honest: a session it creates for a CONNECT (session
//! present 0) is dropped again if the connection ends before the client has read that CONNACK.
//! A real broker keeps it, and the next CONNACK says session present 1 for a session the client
//! never learned was new: the client then resumes state the broker does not have (a QoS 2
//! publish can be taken twice, a new inbound message can be mistaken for a duplicate). That
//! race belongs to the protocol, not to the state machine, and no client can detect it.
//!
//! Everything is deterministic: the clock is an `Instant` moved by hand, nothing sleeps, and
//! the proptest seed is fixed unless `PROPTEST_RNG_SEED` is set. Case count: `PROPTEST_CASES`
//! (default 256) per protocol version; a run of both takes about a second in debug. To
//! explore, e.g. `PROPTEST_CASES=20000 PROPTEST_RNG_SEED=7`; to study a sequence,
//! `MODEL_TRACE=1` prints every operation, packet and event (with `--nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqtt_proto::client::{
    AckToken, ClientOptions, ClientState, ConnectionError, ConnectionState, Event, LostPublish,
    PersistedSession, PublishRequest, RequestError, SessionChange, SessionLossPolicy,
};
use mqtt_proto::{
    ConnAck, ConnectReason, Decoder, Disconnect, DisconnectReason, Encoder, Packet, PacketId,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, PubRelReason, Publish, QoS, QosPid, SubAck,
    SubAckReason, SubscribeFilter, SubscribeProperties, TopicFilter, TopicName, UnsubAck,
    UnsubAckReason, UnsubscribeProperties,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

// ---- configuration and operations ------------------------------------------------------------

/// One client and broker set-up.
#[derive(Debug, Clone)]
struct Config {
    version: ProtocolVersion,
    manual_acks: bool,
    /// 3.1.1: clean session 0; 5.0: a non-zero Session Expiry Interval.
    persistent: bool,
    /// Clean start of the first connection (5.0; on 3.1.1 it is `!persistent`).
    clean_start: bool,
    max_inflight: u16,
    /// The broker's Receive Maximum in CONNACK (5.0).
    server_receive_max: Option<u16>,
    /// The client's Receive Maximum in CONNECT (5.0).
    client_receive_max: u16,
    keep_alive: u16,
    /// Server Keep Alive in CONNACK (5.0).
    server_keep_alive: Option<u16>,
    ping_timeout: u16,
    connect_timeout: u16,
    qos1_policy: LostPublish,
    qos2_policy: LostPublish,
    /// 5.0: the broker answers a PUBREL it has no state for with PUBCOMP 0x92 (Packet
    /// Identifier not found) rather than 0x00.
    pubcomp_not_found: bool,
}

impl Config {
    fn v5(&self) -> bool {
        self.version.is_v5()
    }

    /// The inflight limit the client must keep: its own, and the broker's Receive Maximum.
    fn inflight_limit(&self) -> usize {
        let own = usize::from(self.max_inflight);
        match (self.v5(), self.server_receive_max) {
            (true, Some(r)) => own.min(usize::from(r)),
            _ => own,
        }
    }

    /// How many QoS 1 and 2 messages the broker keeps unacknowledged towards the client.
    fn broker_window(&self) -> usize {
        if self.v5() {
            usize::from(self.client_receive_max)
        } else {
            4
        }
    }

    /// The keepalive in force once connected.
    fn keep_alive(&self) -> Duration {
        let secs = match (self.v5(), self.server_keep_alive) {
            (true, Some(k)) => k,
            _ => self.keep_alive,
        };
        Duration::from_secs(u64::from(secs))
    }

    fn policy(&self, qos: QoS) -> LostPublish {
        if qos == QoS::ExactlyOnce {
            self.qos2_policy
        } else {
            self.qos1_policy
        }
    }

    fn options(&self) -> ClientOptions {
        let mut o = ClientOptions::new(self.version, "model-client");
        o.clean_start = if self.v5() {
            self.clean_start
        } else {
            !self.persistent
        };
        o.keep_alive = Duration::from_secs(u64::from(self.keep_alive));
        o.ping_timeout = Duration::from_secs(u64::from(self.ping_timeout));
        o.connect_timeout = Duration::from_secs(u64::from(self.connect_timeout));
        o.session_expiry_interval = if self.persistent { 3600 } else { 0 };
        o.receive_maximum = NonZeroU16::new(self.client_receive_max).unwrap();
        o.max_inflight = NonZeroU16::new(self.max_inflight).unwrap();
        o.manual_acks = self.manual_acks;
        let mut policy = SessionLossPolicy::default();
        policy.qos1 = self.qos1_policy;
        policy.qos2 = self.qos2_policy;
        o.session_loss = policy;
        o.persist = true;
        o
    }
}

/// One step of a run.
#[derive(Debug, Clone)]
enum Op {
    /// The application publishes (QoS 0, 1 or 2).
    Publish { qos: u8 },
    /// The application subscribes to one of four filters.
    Subscribe { filter: u8 },
    /// The application unsubscribes from one of four filters.
    Unsubscribe { filter: u8 },
    /// The broker publishes to the client (queued in the session if it cannot send now).
    BrokerPublish { qos: u8 },
    /// The client reads up to `n` packets; a non-zero `split` cuts the first in two reads.
    Deliver { n: u8, split: u8 },
    /// The broker reads up to `n` packets, answering at once or withholding its answers.
    BrokerRead { n: u8, answer: bool },
    /// The broker sends one withheld answer (any of them: out of order).
    BrokerAnswer { pick: u8 },
    /// The broker sends every withheld answer, in order.
    BrokerAnswerAll,
    /// The network carries everything both ways, the broker answering at once.
    Flow,
    /// The broker sends an unacknowledged message again, DUP set, on the same connection.
    BrokerDup { pick: u8 },
    /// The application acknowledges one delivered message (manual acks).
    AppAck { pick: u8 },
    /// Time passes; with `flow` the network carries packets meanwhile (pings are answered).
    Advance { ms: u64, flow: bool },
    /// The transport drops; the broker may forget the session; the client may reconnect.
    Drop { forget: bool, reconnect: bool },
    /// A new transport if there is none.
    Reconnect,
    /// The broker stops (or starts again) answering PINGREQ.
    Silent(bool),
    /// The application disconnects.
    ClientDisconnect,
}

fn lost_publish(default: LostPublish, other: LostPublish) -> impl Strategy<Value = LostPublish> {
    prop_oneof![4 => Just(default), 1 => Just(other)]
}

fn config(version: ProtocolVersion) -> impl Strategy<Value = Config> {
    let flags = (
        any::<bool>(),
        proptest::bool::weighted(0.7),
        any::<bool>(),
        any::<bool>(),
    );
    let windows = (
        1u16..=4,
        proptest::option::weighted(0.6, 1u16..=4),
        1u16..=5,
    );
    let timers = (
        prop_oneof![1 => Just(0u16), 2 => Just(4), 2 => Just(10), 1 => Just(30)],
        proptest::option::weighted(0.25, prop_oneof![Just(0u16), Just(3), Just(8)]),
        prop_oneof![Just(2u16), Just(4)],
        prop_oneof![Just(5u16), Just(15)],
    );
    let policies = (
        lost_publish(LostPublish::Republish, LostPublish::Fail),
        lost_publish(LostPublish::Fail, LostPublish::Republish),
    );
    (flags, windows, timers, policies).prop_map(
        move |(
            (manual_acks, persistent, clean_start, pubcomp_not_found),
            (max_inflight, server_receive_max, client_receive_max),
            (keep_alive, server_keep_alive, ping_timeout, connect_timeout),
            (qos1_policy, qos2_policy),
        )| Config {
            version,
            manual_acks,
            persistent,
            clean_start,
            max_inflight,
            server_receive_max,
            client_receive_max,
            keep_alive,
            server_keep_alive,
            ping_timeout,
            connect_timeout,
            qos1_policy,
            qos2_policy,
            pubcomp_not_found,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0u8..3).prop_map(|qos| Op::Publish { qos }),
        3 => (0u8..4).prop_map(|filter| Op::Subscribe { filter }),
        2 => (0u8..4).prop_map(|filter| Op::Unsubscribe { filter }),
        8 => (0u8..3).prop_map(|qos| Op::BrokerPublish { qos }),
        14 => (1u8..6, prop_oneof![3 => Just(0u8), 1 => 1u8..=255])
            .prop_map(|(n, split)| Op::Deliver { n, split }),
        14 => (1u8..6, proptest::bool::weighted(0.7))
            .prop_map(|(n, answer)| Op::BrokerRead { n, answer }),
        5 => any::<u8>().prop_map(|pick| Op::BrokerAnswer { pick }),
        3 => Just(Op::BrokerAnswerAll),
        5 => Just(Op::Flow),
        3 => any::<u8>().prop_map(|pick| Op::BrokerDup { pick }),
        8 => any::<u8>().prop_map(|pick| Op::AppAck { pick }),
        6 => (
            proptest::sample::select(vec![100u64, 1_000, 3_000, 7_000, 15_000, 40_000]),
            any::<bool>(),
        )
            .prop_map(|(ms, flow)| Op::Advance { ms, flow }),
        3 => (proptest::bool::weighted(0.3), proptest::bool::weighted(0.8))
            .prop_map(|(forget, reconnect)| Op::Drop { forget, reconnect }),
        3 => Just(Op::Reconnect),
        1 => any::<bool>().prop_map(Op::Silent),
        1 => Just(Op::ClientDisconnect),
    ]
}

// ---- the broker's state ----------------------------------------------------------------------

/// Where a message from the broker to the client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    /// In the session, not sent yet (no connection, or the client's window is full).
    Queued,
    /// PUBLISH sent, PUBACK / PUBREC awaited.
    Sent,
    /// PUBREC received, PUBREL sent, PUBCOMP awaited.
    Released,
}

#[derive(Debug)]
struct Out {
    /// Index in `World::msgs`.
    msg: usize,
    pid: Option<u16>,
    state: OutState,
}

/// The broker's session for the client.
#[derive(Debug, Default)]
struct Session {
    /// Kept when the connection ends (3.1.1 clean session 0, 5.0 session expiry > 0).
    persist: bool,
    /// Messages to the client, in order.
    outbound: VecDeque<Out>,
    /// Inbound QoS 2 packet identifiers awaiting PUBREL, with the payload received.
    inbound_qos2: BTreeMap<u16, Bytes>,
}

/// An answer the broker owes on the current connection.
#[derive(Debug, Clone)]
enum Answer {
    ConnAck,
    PubAck(u16),
    PubRec(u16),
    PubComp(u16, PubRelReason),
    SubAck(u16, Vec<SubAckReason>),
    UnsubAck(u16, usize),
    PubRel(u16),
}

/// The broker's side of one transport.
#[derive(Debug)]
struct BrokerConn {
    decoder: Decoder,
    got_connect: bool,
    session_present: bool,
    connack_sent: bool,
    /// Answers withheld, in the order they became due.
    pending: Vec<Answer>,
    /// Client packet identifiers not answered yet on this connection (QoS 1 PUBLISH, PUBREL
    /// awaiting PUBCOMP, SUBSCRIBE, UNSUBSCRIBE), with what they were.
    owed: BTreeMap<u16, &'static str>,
    /// Identifiers of messages duplicated on this connection: not reused before it ends (a
    /// duplicate acknowledgement may still come).
    tainted: HashSet<u16>,
}

impl BrokerConn {
    fn new(version: ProtocolVersion) -> Self {
        Self {
            decoder: Decoder::new(version),
            got_connect: false,
            session_present: false,
            connack_sent: false,
            pending: Vec::new(),
            owed: BTreeMap::new(),
            tainted: HashSet::new(),
        }
    }
}

/// A message the broker published to the client.
#[derive(Debug)]
struct Msg {
    qos: QoS,
    /// Enqueued in a session that has not been lost since: it must be delivered.
    required: bool,
    /// Times the application received it.
    delivered: u32,
    /// The broker saw its PUBACK / PUBCOMP.
    completed: bool,
}

// ---- the application's side ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok,
    SessionLost,
}

#[derive(Debug)]
enum ReqKind {
    Publish { qos: QoS, payload: Bytes },
    Subscribe,
    Unsubscribe,
}

#[derive(Debug)]
struct Req {
    kind: ReqKind,
    /// The client wrote its PUBLISH (since the last session loss).
    written: bool,
    /// The broker lost the session while this publish was in flight.
    lost_session: bool,
    outcome: Option<Outcome>,
}

/// What a packet identifier the client has in flight (as seen on the wire) is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Use {
    Publish(QoS, Bytes),
    Subscribe(Vec<SubscribeFilter>),
    Unsubscribe(Vec<TopicFilter>),
}

#[derive(Debug)]
struct InFlight {
    what: Use,
    /// The connection it was last written on.
    conn: u64,
}

/// A delivered message whose acknowledgement the application owes (manual acks).
#[derive(Debug, Clone, Copy)]
struct Delivery {
    token: AckToken,
    conn: u64,
    msg: usize,
    qos: QoS,
}

// ---- the world -------------------------------------------------------------------------------

struct World {
    cfg: Config,
    base: Instant,
    now: Instant,
    client: ClientState,

    // transport
    open: bool,
    /// Connections opened so far (the client's generation).
    conn: u64,
    to_broker: VecDeque<Packet>,
    to_client: VecDeque<(Packet, Bytes)>,
    client_rx: BytesMut,
    encoder: Encoder,

    // broker
    session: Option<Session>,
    bconn: BrokerConn,
    silent: bool,
    /// Payload -> times the broker took it as a new message (QoS 2 deduplicated).
    received: HashMap<Bytes, u32>,
    msgs: Vec<Msg>,

    // application
    reqs: BTreeMap<u64, Req>,
    by_payload: HashMap<Bytes, u64>,
    next_payload: u64,
    tokens: Vec<Delivery>,
    /// (connection, message) -> QoS 1 acks the application gave.
    acked_q1: HashMap<(u64, usize), u32>,
    /// QoS 2 messages the application acknowledged.
    acked_q2: HashSet<usize>,

    // the client on the wire
    in_flight: HashMap<u16, InFlight>,
    /// Outbound QoS 2 identifiers whose PUBREC the client has read.
    pubrec_seen: HashSet<u16>,
    /// This connection: PUBLISH the client read, by identifier -> (QoS, message).
    read_pubs: HashMap<u16, (QoS, usize)>,
    /// This connection: PUBREL the client read.
    read_pubrels: HashSet<u16>,
    connack_read: Option<Instant>,
    connect_at: Instant,
    last_write: Instant,
    last_read: Instant,
    /// `MODEL_TRACE=1`: print every packet and operation (to study a failing sequence).
    trace: bool,
    /// What a durable store holding every change so far would hold.
    store: Option<PersistedSession>,
}

fn topic(s: &str) -> TopicName {
    TopicName::new(s.to_owned()).unwrap()
}

fn filter(f: u8) -> TopicFilter {
    TopicFilter::new(format!("model/in/{f}")).unwrap()
}

fn qos_of(q: u8) -> QoS {
    QoS::from_u8(q).unwrap()
}

fn msg_index(payload: &Bytes) -> usize {
    std::str::from_utf8(payload)
        .ok()
        .and_then(|s| s.strip_prefix('b'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!("the application got a message the broker never sent: {payload:?}")
        })
}

impl World {
    fn new(cfg: &Config) -> Self {
        let now = Instant::now();
        let mut w = Self {
            cfg: cfg.clone(),
            base: now,
            now,
            client: ClientState::new(cfg.options()),
            open: false,
            conn: 0,
            to_broker: VecDeque::new(),
            to_client: VecDeque::new(),
            client_rx: BytesMut::new(),
            encoder: Encoder::new(cfg.version),
            session: None,
            bconn: BrokerConn::new(cfg.version),
            silent: false,
            received: HashMap::new(),
            msgs: Vec::new(),
            reqs: BTreeMap::new(),
            by_payload: HashMap::new(),
            next_payload: 0,
            tokens: Vec::new(),
            acked_q1: HashMap::new(),
            acked_q2: HashSet::new(),
            in_flight: HashMap::new(),
            pubrec_seen: HashSet::new(),
            read_pubs: HashMap::new(),
            read_pubrels: HashSet::new(),
            connack_read: None,
            connect_at: now,
            last_write: now,
            last_read: now,
            trace: std::env::var_os("MODEL_TRACE").is_some(),
            store: None,
        };
        w.open_transport();
        w
    }

    fn t(&self, i: Instant) -> Duration {
        i - self.base
    }

    #[allow(clippy::print_stderr)]
    fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.trace {
            eprintln!("[{:>6?} c{}] {what}", self.t(self.now), self.conn);
        }
    }

    // ---- the driver --------------------------------------------------------------------------

    /// Write what the client has to send (the broker decodes it as it goes onto the wire), then
    /// take its events.
    fn pump(&mut self) {
        loop {
            let mut buf = BytesMut::new();
            let n = self.client.poll_transmit(self.now, &mut buf);
            if n == 0 {
                break;
            }
            assert!(
                self.open,
                "the client wrote {n} bytes with no transport open"
            );
            self.last_write = self.now;
            loop {
                match self.bconn.decoder.decode(&mut buf) {
                    Ok(Some(p)) => {
                        self.log(format_args!("client -> {p:?}"));
                        self.client_wrote(&p);
                        self.to_broker.push_back(p);
                    }
                    Ok(None) => break,
                    Err(e) => panic!("the client wrote a malformed packet: {e}"),
                }
            }
            assert!(buf.is_empty(), "the client wrote a partial packet: {buf:?}");
        }
        while let Some(e) = self.client.poll_event() {
            self.log(format_args!("event {e:?}"));
            self.on_event(e);
        }
    }

    /// Pump, and fire the timer while it is due, as a driver does.
    fn settle(&mut self) {
        self.pump();
        if let Some(t) = self.client.poll_timeout()
            && t <= self.now
        {
            self.fire_timer();
        }
    }

    fn fire_timer(&mut self) {
        self.client.handle_timeout(self.now);
        self.pump();
        if let Some(next) = self.client.poll_timeout() {
            assert!(
                next > self.now,
                "after handle_timeout at {:?}, poll_timeout is {:?}: not in the future (state {:?})",
                self.t(self.now),
                self.t(next),
                self.client.state()
            );
        }
    }

    fn open_transport(&mut self) {
        assert!(!self.open);
        self.open = true;
        self.conn += 1;
        self.bconn = BrokerConn::new(self.cfg.version);
        self.client_rx.clear();
        self.read_pubs.clear();
        self.read_pubrels.clear();
        self.connack_read = None;
        self.connect_at = self.now;
        self.client.connect(self.now);
        self.pump();
    }

    /// The transport is gone: what was on the wire is lost; the broker ends its connection.
    fn close_transport(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        self.to_broker.clear();
        self.to_client.clear();
        self.client_rx.clear();
        let had_connect = self.bconn.got_connect;
        let fresh = had_connect && !self.bconn.session_present;
        self.bconn = BrokerConn::new(self.cfg.version);
        if had_connect && self.session.as_ref().is_some_and(|s| !s.persist) {
            self.drop_session();
        }
        if fresh && self.connack_read.is_none() {
            // A session this connection created, whose CONNACK (session present 0) the client
            // never read, is dropped again: otherwise the next CONNACK would say session
            // present 1 for a session the client does not know is new, a desynchronisation
            // the protocol itself cannot detect (not the client's doing).
            self.drop_session();
        }
    }

    // ---- the client's output, checked ------------------------------------------------------

    fn client_wrote(&mut self, p: &Packet) {
        let conn = self.conn;
        if self.connack_read.is_none() {
            assert!(
                matches!(p, Packet::Connect(_) | Packet::Disconnect(_)),
                "the client wrote {p:?} before reading CONNACK"
            );
        }
        match p {
            Packet::Connect(_) => {
                assert!(
                    !self.bconn.got_connect && self.to_broker.is_empty(),
                    "CONNECT is not the first packet of the connection"
                );
            }
            Packet::Publish(publish) => {
                let payload = publish.payload.clone();
                if let Some(pid) = publish.qos.packet_id() {
                    let pid = pid.get();
                    let qos = publish.qos.qos();
                    assert!(
                        !self.pubrec_seen.contains(&pid),
                        "PUBLISH {pid} ({payload:?}) sent again after its PUBREC [MQTT-4.3.3-6]"
                    );
                    self.claim_id(
                        pid,
                        Use::Publish(qos, payload.clone()),
                        publish.dup,
                        "PUBLISH",
                    );
                } else {
                    assert!(!publish.dup, "DUP on QoS 0 [MQTT-3.3.1-2]");
                }
                let id = *self.by_payload.get(&payload).unwrap_or_else(|| {
                    panic!("PUBLISH of a payload nobody asked for: {payload:?}")
                });
                self.reqs.get_mut(&id).unwrap().written = true;
            }
            Packet::Subscribe(s) => {
                let u = Use::Subscribe(s.subscriptions.clone());
                self.claim_id(s.packet_id.get(), u, true, "SUBSCRIBE");
            }
            Packet::Unsubscribe(u) => {
                let what = Use::Unsubscribe(u.filters.clone());
                self.claim_id(u.packet_id.get(), what, true, "UNSUBSCRIBE");
            }
            Packet::PubAck(a) => {
                let pid = a.packet_id.get();
                let Some(&(QoS::AtLeastOnce, msg)) = self.read_pubs.get(&pid) else {
                    panic!("PUBACK {pid} for no QoS 1 PUBLISH read on this connection");
                };
                if self.cfg.manual_acks {
                    let n = self.acked_q1.get_mut(&(conn, msg));
                    assert!(
                        n.as_ref().is_some_and(|n| **n > 0),
                        "PUBACK {pid} (message {msg}) before the application acknowledged it \
                         on this connection"
                    );
                    *n.unwrap() -= 1;
                }
            }
            Packet::PubRec(r) => {
                let pid = r.packet_id.get();
                let Some(&(QoS::ExactlyOnce, msg)) = self.read_pubs.get(&pid) else {
                    panic!("PUBREC {pid} for no QoS 2 PUBLISH read on this connection");
                };
                if self.cfg.manual_acks {
                    assert!(
                        self.acked_q2.contains(&msg),
                        "PUBREC {pid} (message {msg}) before the application acknowledged it"
                    );
                }
            }
            Packet::PubComp(c) => {
                let pid = c.packet_id.get();
                assert!(
                    self.read_pubrels.contains(&pid),
                    "PUBCOMP {pid} for no PUBREL read on this connection"
                );
            }
            Packet::PubRel(r) => {
                let pid = r.packet_id.get();
                if r.reason == PubRelReason::Success {
                    assert!(
                        self.pubrec_seen.contains(&pid),
                        "PUBREL {pid} before its PUBREC"
                    );
                }
            }
            Packet::PingReq | Packet::Disconnect(_) => {}
            other => panic!("the client wrote {other:?}"),
        }
    }

    /// A PUBLISH, SUBSCRIBE or UNSUBSCRIBE goes out with `pid`: the identifier must be free
    /// [MQTT-2.2.1-3], unless this is the same request sent again on a later connection (with
    /// DUP for a PUBLISH [MQTT-3.3.1-1]; SUBSCRIBE and UNSUBSCRIBE have no DUP flag: `dup` is
    /// true for them).
    fn claim_id(&mut self, pid: u16, what: Use, dup: bool, name: &str) {
        let conn = self.conn;
        match self.in_flight.get_mut(&pid) {
            Some(f) => {
                assert!(
                    dup && f.what == what && f.conn < conn,
                    "{name} reuses packet identifier {pid}, still in use by {:?} (written on \
                     connection {}); now {what:?} on connection {conn} [MQTT-2.2.1-3]",
                    f.what,
                    f.conn
                );
                f.conn = conn;
            }
            None => {
                if matches!(what, Use::Publish(..)) {
                    assert!(
                        !dup,
                        "DUP set on the first delivery of {what:?} [MQTT-3.3.1-1]"
                    );
                }
                self.in_flight.insert(pid, InFlight { what, conn });
            }
        }
    }

    // ---- the client's input ------------------------------------------------------------------

    /// Book-keeping of what the client is about to read.
    fn client_reads(&mut self, p: &Packet) {
        match p {
            Packet::ConnAck(c) => {
                if !c.session_present {
                    // The session is lost for the client: its publishes in flight end by the
                    // policy, their identifiers are free.
                    for r in self.reqs.values_mut() {
                        if let ReqKind::Publish { qos, .. } = r.kind
                            && qos != QoS::AtMostOnce
                            && r.written
                            && r.outcome.is_none()
                        {
                            r.lost_session = true;
                            r.written = false;
                        }
                    }
                    self.in_flight
                        .retain(|_, f| !matches!(f.what, Use::Publish(..)));
                    self.pubrec_seen.clear();
                }
                self.connack_read = Some(self.now);
            }
            Packet::PubAck(a) => {
                let pid = a.packet_id.get();
                if matches!(self.in_flight.get(&pid), Some(f) if matches!(f.what, Use::Publish(QoS::AtLeastOnce, _)))
                {
                    self.in_flight.remove(&pid);
                }
            }
            Packet::PubRec(r) => {
                let pid = r.packet_id.get();
                if matches!(self.in_flight.get(&pid), Some(f) if matches!(f.what, Use::Publish(QoS::ExactlyOnce, _)))
                {
                    self.pubrec_seen.insert(pid);
                }
            }
            Packet::PubComp(c) => {
                let pid = c.packet_id.get();
                if self.pubrec_seen.remove(&pid) {
                    self.in_flight.remove(&pid);
                }
            }
            Packet::SubAck(a) => {
                self.in_flight.remove(&a.packet_id.get());
            }
            Packet::UnsubAck(a) => {
                self.in_flight.remove(&a.packet_id.get());
            }
            Packet::Publish(publish) => {
                if let Some(pid) = publish.qos.packet_id() {
                    let msg = msg_index(&publish.payload);
                    self.read_pubs.insert(pid.get(), (publish.qos.qos(), msg));
                }
            }
            Packet::PubRel(r) => {
                self.read_pubrels.insert(r.packet_id.get());
            }
            _ => {}
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Message(m) => {
                let n = msg_index(&m.publish.payload);
                let manual = self.cfg.manual_acks;
                let msg = &mut self.msgs[n];
                let qos = m.publish.qos.qos();
                assert_eq!(qos, msg.qos, "message {n} delivered at the wrong QoS");
                msg.delivered += 1;
                assert!(
                    qos != QoS::ExactlyOnce || msg.delivered <= 1,
                    "QoS 2 message {n} delivered to the application twice"
                );
                match (manual && qos != QoS::AtMostOnce, m.ack) {
                    (true, Some(token)) => {
                        assert_eq!(token.packet_id(), m.publish.qos.packet_id().unwrap());
                        self.tokens.push(Delivery {
                            token,
                            conn: self.conn,
                            msg: n,
                            qos,
                        });
                    }
                    (false, None) => {}
                    (_, ack) => {
                        panic!("message {n} (QoS {qos:?}, manual {manual}) with ack {ack:?}")
                    }
                }
            }
            Event::Published { id, result } => {
                let policy_fail = |qos| self.cfg.policy(qos) == LostPublish::Fail;
                let r = self
                    .reqs
                    .get(&id.get())
                    .unwrap_or_else(|| panic!("completion of an unknown request {id:?}"));
                assert!(
                    r.outcome.is_none(),
                    "request {id:?} completed twice: {:?}, then {result:?}",
                    r.outcome
                );
                let ReqKind::Publish { qos, payload } = &r.kind else {
                    panic!("Published for {id:?}, a {:?}", r.kind);
                };
                let outcome = match &result {
                    Ok(_) if *qos == QoS::AtMostOnce => {
                        assert!(
                            r.written,
                            "QoS 0 publish {id:?} completed before it was written"
                        );
                        Outcome::Ok
                    }
                    Ok(_) => {
                        assert!(
                            self.received.get(payload).copied().unwrap_or(0) > 0,
                            "publish {id:?} ({payload:?}) completed but the broker never got it"
                        );
                        Outcome::Ok
                    }
                    Err(RequestError::SessionLost) => {
                        assert!(
                            r.lost_session && policy_fail(*qos),
                            "publish {id:?} ({qos:?}) failed with SessionLost: lost session {}, \
                             policy {:?}",
                            r.lost_session,
                            self.cfg.policy(*qos)
                        );
                        Outcome::SessionLost
                    }
                    Err(e) => panic!("publish {id:?} ({qos:?}, {payload:?}) failed: {e:?}"),
                };
                self.reqs.get_mut(&id.get()).unwrap().outcome = Some(outcome);
            }
            Event::Subscribed { id, result } => {
                assert!(result.is_ok(), "subscribe {id:?} failed: {result:?}");
                self.complete_request(id.get(), "Subscribed");
            }
            Event::Unsubscribed { id, result } => {
                assert!(result.is_ok(), "unsubscribe {id:?} failed: {result:?}");
                self.complete_request(id.get(), "Unsubscribed");
            }
            Event::Resubscribed(result) => {
                assert!(result.is_ok(), "resubscription failed: {result:?}");
            }
            Event::Connected(c) => {
                assert_eq!(c.session_present, self.bconn.session_present);
            }
            Event::Disconnected(e) => {
                assert!(
                    matches!(
                        e,
                        ConnectionError::TransportClosed
                            | ConnectionError::KeepAliveTimeout
                            | ConnectionError::ConnectTimeout(_)
                            | ConnectionError::ClientDisconnect
                    ),
                    "the connection ended with {e:?}"
                );
                self.close_transport();
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn complete_request(&mut self, id: u64, event: &str) {
        let r = self
            .reqs
            .get_mut(&id)
            .unwrap_or_else(|| panic!("{event} for an unknown request {id}"));
        assert!(
            r.outcome.is_none(),
            "request {id} completed twice ({event})"
        );
        let ok = matches!(
            (&r.kind, event),
            (ReqKind::Subscribe, "Subscribed") | (ReqKind::Unsubscribe, "Unsubscribed")
        );
        assert!(ok, "{event} for request {id}, a {:?}", r.kind);
        r.outcome = Some(Outcome::Ok);
    }

    // ---- the broker --------------------------------------------------------------------------

    fn broker_send(&mut self, p: Packet) {
        if !self.open {
            return;
        }
        let mut buf = BytesMut::new();
        self.encoder
            .encode(&p, &mut buf)
            .unwrap_or_else(|e| panic!("the broker cannot encode {p:?}: {e}"));
        self.to_client.push_back((p, buf.freeze()));
    }

    /// The broker forgets the session: what it had not finished sending is lost.
    fn drop_session(&mut self) {
        if let Some(s) = self.session.take() {
            for o in s.outbound {
                self.msgs[o.msg].required = false;
            }
        }
    }

    fn broker_read(&mut self, n: usize, answer: bool) -> bool {
        let mut any = false;
        for _ in 0..n {
            if !self.open {
                break;
            }
            let Some(p) = self.to_broker.pop_front() else {
                break;
            };
            any = true;
            self.log(format_args!("broker <- {p:?}"));
            self.broker_handle(p, answer);
        }
        any
    }

    fn answer_or_hold(&mut self, a: Answer, now: bool) {
        if now {
            self.broker_answer(a);
        } else {
            self.bconn.pending.push(a);
        }
    }

    fn broker_handle(&mut self, p: Packet, answer: bool) {
        if !self.bconn.got_connect {
            assert!(matches!(p, Packet::Connect(_)), "first packet {p:?}");
        }
        match p {
            Packet::Connect(c) => {
                self.bconn.got_connect = true;
                assert_eq!(c.protocol, self.cfg.version);
                let persist = if self.cfg.v5() {
                    c.properties.session_expiry_interval.unwrap_or(0) > 0
                } else {
                    !c.clean_start
                };
                if c.clean_start {
                    self.drop_session();
                }
                self.bconn.session_present = self.session.is_some();
                self.session.get_or_insert_with(Session::default).persist = persist;
                self.answer_or_hold(Answer::ConnAck, answer);
            }
            Packet::Publish(p) => self.broker_receive(p, answer),
            Packet::PubAck(a) => {
                let pid = a.packet_id.get();
                let s = self.session.as_mut().unwrap();
                if let Some(i) = s.outbound.iter().position(|o| {
                    o.pid == Some(pid)
                        && o.state == OutState::Sent
                        && self.msgs[o.msg].qos == QoS::AtLeastOnce
                }) {
                    let o = s.outbound.remove(i).unwrap();
                    let m = &mut self.msgs[o.msg];
                    assert!(
                        m.delivered > 0,
                        "PUBACK for message {} never delivered",
                        o.msg
                    );
                    m.completed = true;
                    self.pump_outbound();
                }
            }
            Packet::PubRec(r) => {
                let pid = r.packet_id.get();
                let s = self.session.as_mut().unwrap();
                if let Some(o) = s
                    .outbound
                    .iter_mut()
                    .find(|o| o.pid == Some(pid) && self.msgs[o.msg].qos == QoS::ExactlyOnce)
                    && o.state != OutState::Queued
                {
                    o.state = OutState::Released;
                    self.answer_or_hold(Answer::PubRel(pid), answer);
                }
            }
            Packet::PubComp(c) => {
                let pid = c.packet_id.get();
                let s = self.session.as_mut().unwrap();
                if let Some(i) = s
                    .outbound
                    .iter()
                    .position(|o| o.pid == Some(pid) && o.state == OutState::Released)
                {
                    let o = s.outbound.remove(i).unwrap();
                    self.msgs[o.msg].completed = true;
                    self.pump_outbound();
                }
            }
            Packet::PubRel(r) => {
                let pid = r.packet_id.get();
                let s = self.session.as_mut().unwrap();
                let reason = if s.inbound_qos2.remove(&pid).is_some() {
                    PubRelReason::Success
                } else if self.cfg.v5() && self.cfg.pubcomp_not_found {
                    PubRelReason::PacketIdentifierNotFound
                } else {
                    PubRelReason::Success
                };
                self.bconn.owed.insert(pid, "PUBREL");
                self.answer_or_hold(Answer::PubComp(pid, reason), answer);
            }
            Packet::Subscribe(s) => {
                let pid = s.packet_id.get();
                self.check_new_id(pid, "SUBSCRIBE");
                self.bconn.owed.insert(pid, "SUBSCRIBE");
                let reasons = s
                    .subscriptions
                    .iter()
                    .map(|s| match s.options.qos {
                        QoS::AtMostOnce => SubAckReason::GrantedQoS0,
                        QoS::AtLeastOnce => SubAckReason::GrantedQoS1,
                        QoS::ExactlyOnce => SubAckReason::GrantedQoS2,
                    })
                    .collect();
                self.answer_or_hold(Answer::SubAck(pid, reasons), answer);
            }
            Packet::Unsubscribe(u) => {
                let pid = u.packet_id.get();
                self.check_new_id(pid, "UNSUBSCRIBE");
                self.bconn.owed.insert(pid, "UNSUBSCRIBE");
                self.answer_or_hold(Answer::UnsubAck(pid, u.filters.len()), answer);
            }
            Packet::PingReq => {
                if !self.silent {
                    self.broker_send(Packet::PingResp);
                }
            }
            Packet::Disconnect(_) => {}
            other => panic!("a client sent {other:?}"),
        }
    }

    /// [MQTT-2.2.1-3], from the broker's side: a new PUBLISH, SUBSCRIBE or UNSUBSCRIBE never
    /// carries an identifier the broker has not answered yet, or one awaiting PUBREL.
    fn check_new_id(&self, pid: u16, what: &str) {
        if let Some(prev) = self.bconn.owed.get(&pid) {
            panic!(
                "{what} {pid} reuses the identifier of a {prev} not answered yet [MQTT-2.2.1-3]"
            );
        }
        let s = self.session.as_ref().unwrap();
        if let Some(prev) = s.inbound_qos2.get(&pid) {
            panic!(
                "{what} {pid} reuses the identifier of QoS 2 {prev:?} awaiting PUBREL [MQTT-2.2.1-3]"
            );
        }
    }

    /// The broker's count of unacknowledged QoS 1 and 2 publishes from the client, with one
    /// more, against the inflight limit [MQTT-3.3.4-7].
    fn check_inflight(&self, pid: u16) {
        let s = self.session.as_ref().unwrap();
        let count = self
            .bconn
            .owed
            .values()
            .filter(|w| **w == "PUBLISH" || **w == "PUBREL")
            .count()
            + s.inbound_qos2.len()
            + 1;
        let limit = self.cfg.inflight_limit();
        assert!(
            count <= limit,
            "PUBLISH {pid} makes {count} unacknowledged QoS 1/2 publishes: the limit is {limit}"
        );
    }

    fn broker_receive(&mut self, p: Publish, answer: bool) {
        let payload = p.payload.clone();
        match p.qos {
            QosPid::AtMostOnce => {
                *self.received.entry(payload).or_default() += 1;
            }
            QosPid::AtLeastOnce(pid) => {
                let pid = pid.get();
                self.check_new_id(pid, "PUBLISH");
                self.check_inflight(pid);
                self.bconn.owed.insert(pid, "PUBLISH");
                *self.received.entry(payload).or_default() += 1;
                self.answer_or_hold(Answer::PubAck(pid), answer);
            }
            QosPid::ExactlyOnce(pid) => {
                let pid = pid.get();
                let s = self.session.as_mut().unwrap();
                if let Some(prev) = s.inbound_qos2.get(&pid) {
                    // A resend: answered, not taken again.
                    assert!(
                        p.dup && *prev == payload,
                        "PUBLISH {pid} ({payload:?}, dup {}) reuses the identifier of {prev:?}, \
                         awaiting PUBREL [MQTT-2.2.1-3]",
                        p.dup
                    );
                    assert!(
                        !self.bconn.owed.contains_key(&pid),
                        "PUBLISH {pid} twice on one connection"
                    );
                } else {
                    self.check_new_id(pid, "PUBLISH");
                    self.check_inflight(pid);
                    let s = self.session.as_mut().unwrap();
                    s.inbound_qos2.insert(pid, payload.clone());
                    *self.received.entry(payload).or_default() += 1;
                }
                self.answer_or_hold(Answer::PubRec(pid), answer);
            }
        }
    }

    fn broker_answer(&mut self, a: Answer) {
        match a {
            Answer::ConnAck => {
                let mut ack = ConnAck::new(self.bconn.session_present, ConnectReason::Success);
                if self.cfg.v5() {
                    ack.properties.receive_maximum =
                        self.cfg.server_receive_max.and_then(NonZeroU16::new);
                    ack.properties.server_keep_alive = self.cfg.server_keep_alive;
                }
                self.broker_send(ack.into());
                self.bconn.connack_sent = true;
                // Resend what the session has not finished, in order [MQTT-4.4.0-1].
                let resend: Vec<(u16, OutState, usize)> = self
                    .session
                    .as_ref()
                    .unwrap()
                    .outbound
                    .iter()
                    .filter_map(|o| o.pid.map(|pid| (pid, o.state, o.msg)))
                    .collect();
                for (pid, state, msg) in resend {
                    match state {
                        OutState::Sent => self.send_message(msg, pid, true),
                        OutState::Released => {
                            self.broker_send(PubRel::new(PacketId::new(pid).unwrap()).into());
                        }
                        OutState::Queued => {}
                    }
                }
                self.pump_outbound();
            }
            Answer::PubAck(pid) => {
                self.bconn.owed.remove(&pid);
                self.broker_send(PubAck::new(PacketId::new(pid).unwrap()).into());
            }
            Answer::PubRec(pid) => {
                self.broker_send(PubRec::new(PacketId::new(pid).unwrap()).into());
            }
            Answer::PubComp(pid, reason) => {
                self.bconn.owed.remove(&pid);
                let mut c = PubComp::new(PacketId::new(pid).unwrap());
                c.reason = reason;
                self.broker_send(c.into());
            }
            Answer::SubAck(pid, reasons) => {
                self.bconn.owed.remove(&pid);
                self.broker_send(SubAck::new(PacketId::new(pid).unwrap(), reasons).into());
            }
            Answer::UnsubAck(pid, n) => {
                self.bconn.owed.remove(&pid);
                let reasons = if self.cfg.v5() {
                    vec![UnsubAckReason::Success; n]
                } else {
                    Vec::new()
                };
                self.broker_send(UnsubAck::new(PacketId::new(pid).unwrap(), reasons).into());
            }
            Answer::PubRel(pid) => {
                self.broker_send(PubRel::new(PacketId::new(pid).unwrap()).into());
            }
        }
    }

    fn send_message(&mut self, msg: usize, pid: u16, dup: bool) {
        let qos = self.msgs[msg].qos;
        let mut p = Publish::new(
            topic("model/in/0"),
            QosPid::from_qos(qos, PacketId::new(pid).unwrap()),
            Bytes::from(format!("b{msg}")),
        );
        p.dup = dup;
        self.broker_send(p.into());
    }

    /// Send queued messages while the client's window allows.
    fn pump_outbound(&mut self) {
        if !self.open || !self.bconn.connack_sent {
            return;
        }
        let window = self.cfg.broker_window();
        loop {
            let Some(s) = self.session.as_mut() else {
                return;
            };
            let busy = s
                .outbound
                .iter()
                .filter(|o| o.state != OutState::Queued)
                .count();
            if busy >= window {
                return;
            }
            let Some(o) = s.outbound.iter().position(|o| o.state == OutState::Queued) else {
                return;
            };
            // The lowest identifier free (and not duplicated on this connection).
            let pid = (1..=u16::MAX)
                .find(|p| {
                    !s.outbound.iter().any(|o| o.pid == Some(*p)) && !self.bconn.tainted.contains(p)
                })
                .unwrap();
            let o = &mut s.outbound[o];
            o.pid = Some(pid);
            o.state = OutState::Sent;
            let msg = o.msg;
            self.send_message(msg, pid, false);
        }
    }

    // ---- operations --------------------------------------------------------------------------

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Publish { qos } => {
                let qos = qos_of(qos);
                self.next_payload += 1;
                let payload = Bytes::from(format!("c{}", self.next_payload));
                let req = PublishRequest::new(topic("model/out"), qos, payload.clone());
                let id = self
                    .client
                    .publish(req)
                    .unwrap_or_else(|e| panic!("publish refused: {e}"))
                    .get();
                self.new_request(
                    id,
                    ReqKind::Publish {
                        qos,
                        payload: payload.clone(),
                    },
                );
                self.by_payload.insert(payload, id);
            }
            Op::Subscribe { filter: f } => {
                let sub = SubscribeFilter::new(filter(f), qos_of(f % 3));
                let id = self
                    .client
                    .subscribe(vec![sub], SubscribeProperties::default())
                    .unwrap_or_else(|e| panic!("subscribe refused: {e}"))
                    .get();
                self.new_request(id, ReqKind::Subscribe);
            }
            Op::Unsubscribe { filter: f } => {
                let id = self
                    .client
                    .unsubscribe(vec![filter(f)], UnsubscribeProperties::default())
                    .unwrap_or_else(|e| panic!("unsubscribe refused: {e}"))
                    .get();
                self.new_request(id, ReqKind::Unsubscribe);
            }
            Op::BrokerPublish { qos } => {
                let qos = qos_of(qos);
                let n = self.msgs.len();
                self.msgs.push(Msg {
                    qos,
                    required: false,
                    delivered: 0,
                    completed: false,
                });
                if qos == QoS::AtMostOnce {
                    if self.open && self.bconn.connack_sent {
                        let p = Publish::new(
                            topic("model/in/0"),
                            QosPid::AtMostOnce,
                            Bytes::from(format!("b{n}")),
                        );
                        self.broker_send(p.into());
                    }
                } else if let Some(s) = self.session.as_mut() {
                    s.outbound.push_back(Out {
                        msg: n,
                        pid: None,
                        state: OutState::Queued,
                    });
                    self.msgs[n].required = true;
                    self.pump_outbound();
                }
            }
            Op::Deliver { n, split } => {
                self.deliver(usize::from(n), split);
            }
            Op::BrokerRead { n, answer } => {
                self.broker_read(usize::from(n), answer);
            }
            Op::BrokerAnswer { pick } => {
                if self.open && !self.bconn.pending.is_empty() {
                    let a = self
                        .bconn
                        .pending
                        .remove(usize::from(pick) % self.bconn.pending.len());
                    self.broker_answer(a);
                }
            }
            Op::BrokerAnswerAll => {
                self.answer_all();
            }
            Op::Flow => self.flow(),
            Op::BrokerDup { pick } => {
                if !self.open || !self.bconn.connack_sent {
                    return;
                }
                let Some(s) = self.session.as_ref() else {
                    return;
                };
                // QoS 1 only on 3.1.1: 5.0 forbids resending within a connection, and a client
                // counts every QoS 1 delivery against its Receive Maximum.
                let v5 = self.cfg.v5();
                let candidates: Vec<(u16, usize)> = s
                    .outbound
                    .iter()
                    .filter(|o| {
                        o.state == OutState::Sent
                            && (!v5 || self.msgs[o.msg].qos == QoS::ExactlyOnce)
                    })
                    .map(|o| (o.pid.unwrap(), o.msg))
                    .collect();
                if candidates.is_empty() {
                    return;
                }
                let (pid, msg) = candidates[usize::from(pick) % candidates.len()];
                self.bconn.tainted.insert(pid);
                self.send_message(msg, pid, true);
            }
            Op::AppAck { pick } => {
                if !self.tokens.is_empty() {
                    let d = self.tokens.remove(usize::from(pick) % self.tokens.len());
                    self.app_ack(d);
                }
            }
            Op::Advance { ms, flow } => self.advance(Duration::from_millis(ms), flow),
            Op::Drop { forget, reconnect } => {
                if self.open {
                    self.close_transport();
                    self.client.handle_transport_closed(self.now);
                    self.pump();
                }
                if forget {
                    self.drop_session();
                }
                if reconnect {
                    self.open_transport();
                }
            }
            Op::Reconnect => {
                if !self.open {
                    self.open_transport();
                }
            }
            Op::Silent(s) => self.silent = s,
            Op::ClientDisconnect => {
                if self.open {
                    self.client
                        .disconnect(Disconnect::new(DisconnectReason::NormalDisconnection));
                    self.pump();
                    assert!(!self.open, "disconnect did not end the connection");
                }
            }
        }
    }

    fn new_request(&mut self, id: u64, kind: ReqKind) {
        let req = Req {
            kind,
            written: false,
            lost_session: false,
            outcome: None,
        };
        assert!(
            self.reqs.insert(id, req).is_none(),
            "request id {id} handed out twice"
        );
    }

    fn app_ack(&mut self, d: Delivery) {
        match d.qos {
            QoS::AtLeastOnce => *self.acked_q1.entry((d.conn, d.msg)).or_default() += 1,
            _ => {
                self.acked_q2.insert(d.msg);
            }
        }
        self.client.ack(d.token);
        self.pump();
    }

    fn answer_all(&mut self) -> bool {
        let pending = std::mem::take(&mut self.bconn.pending);
        let any = !pending.is_empty();
        for a in pending {
            if !self.open {
                break;
            }
            self.broker_answer(a);
        }
        any
    }

    /// The client reads up to `n` packets, one at a time.
    fn deliver(&mut self, n: usize, split: u8) -> bool {
        let mut any = false;
        for i in 0..n {
            if !self.open {
                break;
            }
            let Some((p, bytes)) = self.to_client.pop_front() else {
                break;
            };
            any = true;
            self.log(format_args!("-> client {p:?}"));
            self.client_reads(&p);
            if i == 0 && split > 0 && bytes.len() > 1 {
                let k = usize::from(split) % (bytes.len() - 1) + 1;
                self.client_rx.extend_from_slice(&bytes[..k]);
                self.client.handle_read(self.now, &mut self.client_rx);
                self.pump();
                assert_eq!(self.client_rx.len(), k, "a partial packet was consumed");
                self.client_rx.extend_from_slice(&bytes[k..]);
            } else {
                self.client_rx.extend_from_slice(&bytes);
            }
            self.last_read = self.now;
            self.client.handle_read(self.now, &mut self.client_rx);
            assert!(
                self.client_rx.is_empty(),
                "the client left {} bytes of a whole packet unread",
                self.client_rx.len()
            );
            self.pump();
        }
        any
    }

    /// The network carries everything both ways until it is quiet (withheld answers stay
    /// withheld).
    fn flow(&mut self) {
        for _ in 0..50 {
            let a = self.broker_read(usize::MAX, true);
            let b = self.deliver(usize::MAX, 0);
            if !a && !b {
                return;
            }
        }
    }

    /// Move the clock, firing every timer on the way at its deadline.
    fn advance(&mut self, d: Duration, flow: bool) {
        let target = self.now + d;
        self.settle();
        for _ in 0..1_000 {
            match self.client.poll_timeout() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.fire_timer();
                    self.check();
                    if flow {
                        self.flow();
                    }
                    self.settle();
                }
                _ => {
                    self.now = target;
                    return;
                }
            }
        }
        panic!("the timer does not move on");
    }

    // ---- invariants --------------------------------------------------------------------------

    /// The changes since the last step go to the store; the store must hold the client's
    /// session exactly, and a client restored from it the same again.
    fn check_persistence(&mut self) {
        while let Some(change) = self.client.poll_persist() {
            match (&mut self.store, change) {
                (store, SessionChange::New(meta)) => *store = Some(PersistedSession::new(meta)),
                (Some(s), change) => s.apply(&change),
                (None, change) => panic!("{change:?} before SessionChange::New"),
            }
        }
        let store = self
            .store
            .as_ref()
            .expect("a session is stored from the start");
        let snapshot = self.client.persisted_session();
        assert_eq!(store, &snapshot, "the store and the client disagree");
        snapshot.validate().unwrap();
        let (restored, outbound) =
            ClientState::restore(self.cfg.options(), snapshot.clone()).unwrap();
        assert_eq!(restored.persisted_session(), snapshot);
        assert_eq!(outbound, snapshot.outbound);
    }

    fn check(&mut self) {
        self.check_persistence();
        let limit = self.cfg.inflight_limit();
        assert!(
            self.client.inflight() <= limit,
            "{} publishes in flight, limit {limit}",
            self.client.inflight()
        );
        let state = self.client.state();
        assert_eq!(
            self.open,
            state != ConnectionState::Disconnected,
            "transport open {} but the client is {state:?}",
            self.open
        );
        match state {
            ConnectionState::Connected => {
                let ka = self.cfg.keep_alive();
                if !ka.is_zero() {
                    let pt = Duration::from_secs(u64::from(self.cfg.ping_timeout));
                    let quiet = self.now - self.last_read;
                    assert!(
                        quiet < ka + pt,
                        "still connected after {quiet:?} without a packet from the broker \
                         (keepalive {ka:?}, ping timeout {pt:?})"
                    );
                    if pt <= ka {
                        let since = self.last_write.max(self.connack_read.unwrap());
                        let silent = self.now - since;
                        assert!(
                            silent <= ka,
                            "nothing sent for {silent:?}, keepalive {ka:?} [MQTT-3.1.2-20]"
                        );
                    }
                }
            }
            ConnectionState::Connecting => {
                let ct = Duration::from_secs(u64::from(self.cfg.connect_timeout));
                assert!(
                    self.now - self.connect_at < ct,
                    "still waiting for CONNACK after the connect timeout"
                );
            }
            ConnectionState::Disconnected => {}
        }
    }

    /// Carry everything until nothing moves: the broker answers all, the application acks all.
    fn drain(&mut self) {
        for _ in 0..500 {
            if !self.open {
                return;
            }
            let mut any = self.answer_all();
            any |= self.broker_read(usize::MAX, true);
            any |= self.deliver(usize::MAX, 0);
            while !self.tokens.is_empty() {
                let d = self.tokens.remove(0);
                self.app_ack(d);
                any = true;
            }
            self.settle();
            self.check();
            if !any {
                return;
            }
        }
        panic!("the network never quiets down");
    }

    fn stuck(&self) -> Vec<String> {
        let mut stuck = Vec::new();
        if self.client.inflight() > 0 || self.client.queued() > 0 {
            stuck.push(format!(
                "client: {} in flight, {} queued",
                self.client.inflight(),
                self.client.queued()
            ));
        }
        if let Some(s) = &self.session
            && !s.outbound.is_empty()
        {
            stuck.push(format!("broker outbound: {:?}", s.outbound));
        }
        for (id, r) in &self.reqs {
            if r.outcome.is_none() {
                stuck.push(format!("request {id} ({:?}) not ended", r.kind));
            }
        }
        if !self.tokens.is_empty() {
            stuck.push(format!(
                "{} acks owed by the application",
                self.tokens.len()
            ));
        }
        stuck
    }

    fn finish(&mut self) {
        self.log(format_args!("finish"));
        self.silent = false;
        if self.open {
            self.drain();
            if self.open {
                let stuck = self.stuck();
                assert!(
                    stuck.is_empty(),
                    "stuck on a live connection after draining: {stuck:?}"
                );
            }
        }
        if !self.open {
            self.open_transport();
            self.drain();
            assert!(self.open, "the final connection did not stay up");
        }
        assert_eq!(self.client.state(), ConnectionState::Connected);
        let stuck = self.stuck();
        assert!(
            stuck.is_empty(),
            "stuck after a final connection: {stuck:?}"
        );

        for (id, r) in &self.reqs {
            let outcome = r.outcome.as_ref().unwrap();
            if let ReqKind::Publish { qos, payload } = &r.kind {
                let got = self.received.get(payload).copied().unwrap_or(0);
                match outcome {
                    Outcome::Ok => {
                        if *qos == QoS::ExactlyOnce && self.cfg.qos2_policy == LostPublish::Fail {
                            assert_eq!(
                                got, 1,
                                "QoS 2 publish {id} taken by the broker {got} times"
                            );
                        }
                    }
                    Outcome::SessionLost => {
                        if *qos == QoS::ExactlyOnce {
                            assert!(
                                got <= 1,
                                "QoS 2 publish {id} taken by the broker {got} times"
                            );
                        }
                    }
                }
            }
        }
        for (n, m) in self.msgs.iter().enumerate() {
            if m.required {
                assert!(
                    m.delivered > 0 && m.completed,
                    "message {n} ({:?}) lost while the broker kept the session: delivered {} \
                     times, completed {}",
                    m.qos,
                    m.delivered,
                    m.completed
                );
            }
        }
    }
}

fn run(cfg: &Config, ops: &[Op]) {
    let mut w = World::new(cfg);
    w.log(format_args!("=== case {cfg:?}"));
    w.settle();
    w.check();
    for op in ops {
        w.log(format_args!("op {op:?}"));
        w.apply(op);
        w.settle();
        w.check();
    }
    w.finish();
}

fn proptest_config(salt: u64) -> ProptestConfig {
    // `ProptestConfig::default()` reads PROPTEST_CASES (default 256) and PROPTEST_RNG_SEED.
    // Without the latter the seed is fixed, so every run checks the same cases; explore with
    // e.g. `PROPTEST_CASES=20000 PROPTEST_RNG_SEED=7`. Failures are not written to a
    // regressions file: the minimal sequences found are kept as the tests below.
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(0x4d51_5454 + salt);
    }
    config
}

proptest! {
    #![proptest_config(proptest_config(311))]

    /// MQTT 3.1.1: random sequences of up to 60 operations, every invariant after every step.
    #[test]
    fn model_v3_1_1(
        cfg in config(ProtocolVersion::V3_1_1),
        ops in proptest::collection::vec(op(), 1..=60),
    ) {
        run(&cfg, &ops);
    }
}

proptest! {
    #![proptest_config(proptest_config(5))]

    /// MQTT 5.0: random sequences of up to 60 operations, every invariant after every step.
    #[test]
    fn model_v5(cfg in config(ProtocolVersion::V5), ops in proptest::collection::vec(op(), 1..=60)) {
        run(&cfg, &ops);
    }
}

// ---- regressions: minimal sequences the model found ------------------------------------------

/// A small configuration for the regressions: persistent session, one message in flight each
/// way, no keepalive, default session-loss policy.
fn small(version: ProtocolVersion, manual_acks: bool) -> Config {
    Config {
        version,
        manual_acks,
        persistent: true,
        clean_start: false,
        max_inflight: 1,
        server_receive_max: None,
        client_receive_max: 2,
        keep_alive: 0,
        server_keep_alive: None,
        ping_timeout: 2,
        connect_timeout: 5,
        qos1_policy: LostPublish::Republish,
        qos2_policy: LostPublish::Fail,
        pubcomp_not_found: false,
    }
}

/// The application acknowledges a QoS 2 message after its connection ended (same
/// generation, empty ack queue): the ack used to vanish, and after reconnecting the
/// server's DUP was never answered with PUBREC, holding a slot of its window for good.
#[test]
fn qos2_ack_made_while_disconnected_releases_the_message_after_reconnecting() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let ops = [
            Op::BrokerRead { n: 1, answer: true },
            Op::Deliver { n: 1, split: 0 },
            Op::BrokerPublish { qos: 2 },
            Op::Deliver { n: 1, split: 0 },
            Op::ClientDisconnect,
            Op::AppAck { pick: 0 },
        ];
        run(&small(v, true), &ops);
    }
}

/// A QoS 2 ack waiting behind an unacknowledged QoS 1 message (acks go out in arrival order)
/// when the connection drops: the ack used to be lost with the connection's ack queue.
#[test]
fn qos2_ack_queued_behind_an_earlier_message_survives_a_dropped_connection() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let ops = [
            Op::BrokerRead { n: 1, answer: true },
            Op::BrokerPublish { qos: 1 },
            Op::BrokerPublish { qos: 2 },
            Op::Deliver { n: 3, split: 0 },
            Op::AppAck { pick: 1 },
            Op::Drop {
                forget: false,
                reconnect: false,
            },
        ];
        run(&small(v, true), &ops);
    }
}

/// A duplicate of a QoS 2 message arriving while its (done) ack waits behind an earlier
/// message queued a second PUBREC entry that nothing would ever acknowledge: every later
/// ack on the connection was stuck behind it.
#[test]
fn qos2_duplicate_while_its_ack_waits_does_not_block_later_acks() {
    let ops = [
        Op::BrokerRead { n: 1, answer: true },
        Op::BrokerPublish { qos: 1 },
        Op::BrokerPublish { qos: 2 },
        Op::Deliver { n: 3, split: 0 },
        Op::AppAck { pick: 1 },
        Op::BrokerDup { pick: 1 },
        Op::Deliver { n: 1, split: 0 },
        Op::BrokerPublish { qos: 1 },
    ];
    run(&small(ProtocolVersion::V3_1_1, true), &ops);
}

/// 5.0: the PUBCOMP is lost with the connection after the broker released the message; the
/// PUBREL resent on the next connection gets PUBCOMP 0x92, which "is not an error during
/// recovery" (5.0 §3.7.2.1): the publish used to fail with `ReleaseFailed` although it was
/// delivered exactly once.
#[test]
fn pubcomp_packet_identifier_not_found_after_a_resent_pubrel_is_success() {
    let mut cfg = small(ProtocolVersion::V5, false);
    cfg.pubcomp_not_found = true;
    let ops = [
        Op::Publish { qos: 2 },
        Op::BrokerRead { n: 1, answer: true },
        Op::Deliver { n: 1, split: 0 },
        Op::BrokerRead { n: 1, answer: true },
        Op::Deliver { n: 1, split: 0 },
        Op::BrokerRead {
            n: 1,
            answer: false,
        },
        Op::Drop {
            forget: false,
            reconnect: true,
        },
    ];
    run(&cfg, &ops);
}

/// A token from before the broker lost the session must not acknowledge the new session's
/// message that reuses its packet identifier (brokers restart identifiers with a session).
#[test]
fn ack_token_from_a_lost_session_acknowledges_nothing() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let ops = [
            Op::BrokerRead { n: 1, answer: true },
            Op::BrokerPublish { qos: 2 },
            Op::Deliver { n: 2, split: 0 },
            Op::Drop {
                forget: true,
                reconnect: true,
            },
            Op::Flow,
            Op::BrokerPublish { qos: 2 },
            Op::Flow,
            Op::AppAck { pick: 0 },
        ];
        run(&small(v, true), &ops);
    }
}
