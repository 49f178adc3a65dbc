//! Round trips through both stores (issue 12, "Tests"): proptest drives a `ClientState` with
//! persistence on through random operations against a scripted server (publishes at QoS 1
//! and 2, acknowledgements in any order and some refused, inbound QoS 2 with manual acks,
//! subscriptions granted and refused, dropped connections with and without the server's
//! session, restarts of the process), commits the changes in batches of random size to a
//! `MemoryStore` and a `FileStore`, and checks after every commit that both load exactly the
//! client's session. A restart replaces the client by one restored from the file store: what
//! was not committed is lost, as in a crash. At the end a client restored from the store and
//! the live one are reconnected to a server that kept the session, and must send the same
//! packets (PUBLISH with DUP under the same identifiers, PUBREL in PUBREC order, then the
//! queued publishes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use bytes::BytesMut;
use mqtt_proto::client::{AckToken, ClientOptions, ClientState, Event, PersistedSession};
use mqtt_proto::{
    ConnAck, ConnectReason, Decoder, Packet, PacketId, ProtocolVersion, PubAck, PubAckReason,
    PubComp, PubRec, PubRel, Publish, QoS, QosPid, SubAck, SubAckReason, SubscribeFilter,
    SubscribeProperties, TopicFilter, TopicName, UnsubAck, UnsubAckReason, UnsubscribeProperties,
};
use mqtt_store::{Durability, FileStore, MemoryStore, SessionChange, SessionStore};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

use common::{Scratch, request};

#[derive(Debug, Clone)]
enum Op {
    Publish {
        qos2: bool,
    },
    Subscribe {
        filter: u8,
    },
    Unsubscribe {
        filter: u8,
    },
    /// The server answers one of the packets it holds.
    Answer {
        pick: usize,
        refuse: bool,
    },
    /// The server publishes a QoS 2 message.
    ServerPublish,
    /// The application acknowledges one delivered message.
    Ack {
        pick: usize,
    },
    /// The transport drops; the next connection finds the server's session or not.
    Reconnect {
        session_present: bool,
    },
    /// The driver commits what the client recorded.
    Commit,
    /// The process dies and restarts from the file store.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(|qos2| Op::Publish { qos2 }),
        1 => (0u8..4).prop_map(|filter| Op::Subscribe { filter }),
        1 => (0u8..4).prop_map(|filter| Op::Unsubscribe { filter }),
        6 => (any::<usize>(), proptest::bool::weighted(0.1))
            .prop_map(|(pick, refuse)| Op::Answer { pick, refuse }),
        2 => Just(Op::ServerPublish),
        2 => any::<usize>().prop_map(|pick| Op::Ack { pick }),
        1 => proptest::bool::weighted(0.8).prop_map(|session_present| Op::Reconnect { session_present }),
        3 => Just(Op::Commit),
        1 => Just(Op::Restart),
    ]
}

/// What the server holds to answer.
#[derive(Debug, Clone)]
enum Held {
    Publish(QoS, PacketId),
    PubRel(PacketId),
    Subscribe(PacketId, usize),
    Unsubscribe(PacketId, usize),
    /// Our QoS 2 message the client PUBREC'd: the server owes PUBREL.
    InboundRec(PacketId),
}

struct World {
    version: ProtocolVersion,
    opts: ClientOptions,
    client: ClientState,
    now: Instant,
    decoder: Decoder,
    connected: bool,
    held: Vec<Held>,
    /// Inbound identifiers the server has in use.
    server_ids: Vec<u16>,
    tokens: Vec<AckToken>,
    next_msg: u64,
    memory: MemoryStore,
    file: FileStore,
    _scratch: Scratch,
}

impl World {
    fn new(version: ProtocolVersion) -> Self {
        let mut opts = ClientOptions::new(version, "roundtrip");
        opts.persist = true;
        opts.manual_acks = true;
        opts.clean_start = false;
        opts.session_expiry_interval = 600;
        let scratch = Scratch::new("roundtrip");
        let file = FileStore::open(scratch.path("session.db"), Durability::OsBuffered).unwrap();
        let mut w = Self {
            version,
            client: ClientState::new(opts.clone()),
            opts,
            now: Instant::now(),
            decoder: Decoder::new(version),
            connected: false,
            held: Vec::new(),
            server_ids: Vec::new(),
            tokens: Vec::new(),
            next_msg: 0,
            memory: MemoryStore::new(),
            file,
            _scratch: scratch,
        };
        w.commit();
        w.connect(false);
        w
    }

    fn commit(&mut self) {
        let batch: Vec<SessionChange> = std::iter::from_fn(|| self.client.poll_persist()).collect();
        self.memory.commit(&batch).unwrap();
        self.file.commit(&batch).unwrap();
        let expected = self.client.persisted_session();
        assert_eq!(self.memory.load().unwrap().as_ref(), Some(&expected));
        assert_eq!(self.file.load().unwrap().as_ref(), Some(&expected));
    }

    /// The driver's write step: commit, then the bytes go to the server.
    fn transmit(&mut self) {
        let mut wire = BytesMut::new();
        while self.client.poll_transmit(self.now, &mut wire) > 0 {}
        self.commit();
        while let Some(p) = self.decoder.decode(&mut wire).unwrap() {
            match p {
                Packet::Publish(p) => {
                    if let Some(pid) = p.qos.packet_id() {
                        self.held.push(Held::Publish(p.qos.qos(), pid));
                    }
                }
                Packet::PubRel(r) => self.held.push(Held::PubRel(r.packet_id)),
                Packet::PubRec(r) => self.held.push(Held::InboundRec(r.packet_id)),
                Packet::PubComp(c) => self.server_ids.retain(|&i| i != c.packet_id.get()),
                Packet::Subscribe(s) => self
                    .held
                    .push(Held::Subscribe(s.packet_id, s.subscriptions.len())),
                Packet::Unsubscribe(u) => self
                    .held
                    .push(Held::Unsubscribe(u.packet_id, u.filters.len())),
                _ => {}
            }
        }
        self.events();
    }

    fn events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            if let Event::Message(m) = e
                && let Some(t) = m.ack
            {
                self.tokens.push(t);
            }
        }
    }

    fn send(&mut self, packet: impl Into<Packet>) {
        let mut buf = BytesMut::new();
        packet.into().encode(self.version, &mut buf).unwrap();
        self.client.handle_read(self.now, &mut buf);
        self.transmit();
    }

    fn connect(&mut self, session_present: bool) {
        self.client.handle_transport_closed(self.now);
        self.decoder = Decoder::new(self.version);
        self.client.connect(self.now);
        if !session_present {
            self.held.clear();
            self.server_ids.clear();
        } else {
            // What was not answered is resent by both sides on the new connection.
            self.held.retain(|h| matches!(h, Held::InboundRec(_)));
        }
        self.transmit();
        self.send(ConnAck::new(session_present, ConnectReason::Success));
        self.connected = true;
        if session_present {
            // The server resends its unfinished messages: PUBREL where the client's PUBREC
            // arrived, else the PUBLISH with DUP.
            for id in self.server_ids.clone() {
                let pid = PacketId::new(id).unwrap();
                let rec = self
                    .held
                    .iter()
                    .position(|h| matches!(h, Held::InboundRec(p) if *p == pid));
                if let Some(i) = rec {
                    self.held.remove(i);
                    self.send(PubRel::new(pid));
                } else {
                    let mut p = Publish::new(
                        TopicName::new("in/x").unwrap(),
                        QosPid::ExactlyOnce(pid),
                        format!("in again {id}"),
                    );
                    p.dup = true;
                    self.send(p);
                }
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Publish { qos2 } => {
                self.next_msg += 1;
                let qos = if qos2 {
                    QoS::ExactlyOnce
                } else {
                    QoS::AtLeastOnce
                };
                let _ = self.client.publish(request(self.next_msg, qos));
                self.transmit();
            }
            Op::Subscribe { filter } => {
                let subs = vec![
                    SubscribeFilter::new(filter_of(filter), QoS::ExactlyOnce),
                    SubscribeFilter::new(filter_of(filter + 1), QoS::AtLeastOnce),
                ];
                let _ = self.client.subscribe(subs, SubscribeProperties::default());
                self.transmit();
            }
            Op::Unsubscribe { filter } => {
                let _ = self
                    .client
                    .unsubscribe(vec![filter_of(filter)], UnsubscribeProperties::default());
                self.transmit();
            }
            Op::Answer { pick, refuse } => {
                if self.held.is_empty() {
                    return;
                }
                let h = self.held.remove(pick % self.held.len());
                match h {
                    Held::Publish(QoS::AtLeastOnce, pid) => {
                        let mut a = PubAck::new(pid);
                        if refuse && self.version.is_v5() {
                            a.reason = PubAckReason::QuotaExceeded;
                        }
                        self.send(a);
                    }
                    Held::Publish(_, pid) => {
                        let mut r = PubRec::new(pid);
                        if refuse && self.version.is_v5() {
                            r.reason = PubAckReason::NotAuthorized;
                        }
                        self.send(r);
                    }
                    Held::PubRel(pid) => self.send(PubComp::new(pid)),
                    Held::Subscribe(pid, n) => {
                        let reasons = (0..n)
                            .map(|i| {
                                if refuse && i == 0 && self.version.is_v5() {
                                    SubAckReason::NotAuthorized
                                } else {
                                    SubAckReason::GrantedQoS1
                                }
                            })
                            .collect();
                        self.send(SubAck::new(pid, reasons));
                    }
                    Held::Unsubscribe(pid, n) => {
                        let n = if self.version.is_v5() { n } else { 0 };
                        self.send(UnsubAck::new(pid, vec![UnsubAckReason::Success; n]));
                    }
                    Held::InboundRec(pid) => self.send(PubRel::new(pid)),
                }
            }
            Op::ServerPublish => {
                let Some(id) = (1..=6u16).find(|i| !self.server_ids.contains(i)) else {
                    return;
                };
                self.server_ids.push(id);
                self.next_msg += 1;
                let p = Publish::new(
                    TopicName::new("in/x").unwrap(),
                    QosPid::ExactlyOnce(PacketId::new(id).unwrap()),
                    format!("in {}", self.next_msg),
                );
                self.send(p);
            }
            Op::Ack { pick } => {
                if self.tokens.is_empty() {
                    return;
                }
                let t = self.tokens.remove(pick % self.tokens.len());
                self.client.ack(t);
                self.transmit();
            }
            Op::Reconnect { session_present } => self.connect(session_present),
            Op::Commit => self.commit(),
            Op::Restart => {
                // The process dies: what was not committed is lost; the new one restores.
                let stored = self.file.load().unwrap().unwrap();
                let (client, restored) =
                    ClientState::restore(self.opts.clone(), stored.clone()).unwrap();
                assert_eq!(restored, stored.outbound);
                assert_eq!(client.persisted_session(), stored);
                self.client = client;
                self.tokens.clear();
                // The memory store of a real restart is empty; here it follows the file.
                self.memory = MemoryStore::new();
                self.memory
                    .commit(&[SessionChange::New(stored.meta.clone())])
                    .unwrap();
                let refill = refill(&stored);
                self.memory.commit(&refill).unwrap();
                self.commit();
                self.connect(true);
            }
        }
    }

    /// Reconnect the live client and one restored from the store to a server that kept the
    /// session: both must send the same packets.
    fn finish(mut self) {
        self.commit();
        let stored = self.file.load().unwrap().unwrap();
        let (mut restored, _) = ClientState::restore(self.opts.clone(), stored).unwrap();
        let live = resumed_packets(&mut self.client, self.version, self.now);
        let back = resumed_packets(&mut restored, self.version, self.now);
        assert_eq!(live, back, "the restored client resumes differently");
    }
}

/// The changes that rebuild `s` in an empty store (after its `New`).
fn refill(s: &PersistedSession) -> Vec<SessionChange> {
    let mut c = Vec::new();
    for p in &s.outbound {
        c.push(SessionChange::PublishAccepted {
            id: p.id,
            request: p.request.clone(),
        });
        match p.state {
            mqtt_store::OutboundState::Queued => {}
            mqtt_store::OutboundState::Sent { packet_id, seq } => {
                c.push(SessionChange::PublishSent {
                    id: p.id,
                    packet_id,
                    seq,
                });
            }
            mqtt_store::OutboundState::Released {
                packet_id,
                seq,
                order,
                reason,
            } => {
                c.push(SessionChange::PublishSent {
                    id: p.id,
                    packet_id,
                    seq,
                });
                c.push(SessionChange::Released {
                    id: p.id,
                    packet_id,
                    order,
                    reason,
                });
            }
        }
    }
    for &packet_id in &s.inbound_qos2 {
        c.push(SessionChange::InboundQos2Held { packet_id });
    }
    for (sub, props) in &s.subscriptions {
        c.push(SessionChange::Subscribed {
            subscriptions: vec![sub.clone()],
            properties: props.clone(),
        });
    }
    c
}

/// The packets a client sends on a new connection whose CONNACK has session present 1, with
/// the packet identifiers of new (not DUP) publishes left out: those are allocated afresh.
fn resumed_packets(
    client: &mut ClientState,
    version: ProtocolVersion,
    now: Instant,
) -> Vec<String> {
    client.handle_transport_closed(now);
    client.connect(now);
    let mut wire = BytesMut::new();
    while client.poll_transmit(now, &mut wire) > 0 {}
    let mut ack = BytesMut::new();
    Packet::from(ConnAck::new(true, ConnectReason::Success))
        .encode(version, &mut ack)
        .unwrap();
    client.handle_read(now, &mut ack);
    while client.poll_transmit(now, &mut wire) > 0 {}
    let mut decoder = Decoder::new(version);
    let mut out = Vec::new();
    while let Some(p) = decoder.decode(&mut wire).unwrap() {
        out.push(match p {
            Packet::Publish(p) if !p.dup => {
                format!("new PUBLISH {} {:?} {:?}", p.topic, p.qos.qos(), p.payload)
            }
            Packet::Subscribe(_) | Packet::Unsubscribe(_) => continue,
            p => format!("{p:?}"),
        });
    }
    out
}

fn filter_of(n: u8) -> TopicFilter {
    TopicFilter::new(format!("f/{}", n % 5)).unwrap()
}

fn run(version: ProtocolVersion, ops: &[Op]) {
    let mut w = World::new(version);
    for op in ops {
        w.apply(op);
    }
    w.finish();
}

fn config(salt: u64) -> ProptestConfig {
    let mut c = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if let Ok(n) = std::env::var("PROPTEST_CASES") {
        c.cases = n.parse().unwrap_or(64);
    }
    if c.rng_seed == RngSeed::Random {
        c.rng_seed = RngSeed::Fixed(0x5354_4f52 + salt);
    }
    c
}

proptest! {
    #![proptest_config(config(5))]
    #[test]
    fn both_stores_hold_the_clients_session_v5(ops in proptest::collection::vec(op(), 1..80)) {
        run(ProtocolVersion::V5, &ops);
    }
}

proptest! {
    #![proptest_config(config(311))]
    #[test]
    fn both_stores_hold_the_clients_session_v3_1_1(ops in proptest::collection::vec(op(), 1..80)) {
        run(ProtocolVersion::V3_1_1, &ops);
    }
}

/// A publish in flight when the server loses the session goes back to the queue.
#[test]
fn a_requeued_publish_is_stored_as_queued() {
    use Op::*;
    let ops = [
        Publish { qos2: false },
        Reconnect {
            session_present: false,
        },
        Restart,
    ];
    run(ProtocolVersion::V5, &ops);
}

/// A fixed sequence through every kind of change, restarts included.
#[test]
fn a_session_with_every_kind_of_change_survives_restarts() {
    use Op::*;
    let ops = [
        Subscribe { filter: 0 },
        Answer {
            pick: 0,
            refuse: false,
        },
        Publish { qos2: false },
        Publish { qos2: true },
        Publish { qos2: true },
        ServerPublish,
        ServerPublish,
        Ack { pick: 0 },
        Answer {
            pick: 1,
            refuse: false,
        },
        Restart,
        Answer {
            pick: 0,
            refuse: false,
        },
        Unsubscribe { filter: 1 },
        Reconnect {
            session_present: false,
        },
        Commit,
        Restart,
        Publish { qos2: true },
    ];
    run(ProtocolVersion::V5, &ops);
    run(ProtocolVersion::V3_1_1, &ops);
}
