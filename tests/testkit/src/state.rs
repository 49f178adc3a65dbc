//! The broker's shared state: sessions, subscriptions, retained messages, routing.
//!
//! One `std::sync::Mutex` guards it all and is never held across an `.await`: a test broker
//! values a simple, obviously ordered model over throughput. Every routing decision is taken
//! under the lock, so messages reach each session's queue in the order they were accepted.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use mqtt_proto::{PacketId, Publish, QoS, QosPid, Subscription, TopicFilter};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::Event;

/// Settings fixed when the broker starts.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_packet_size: std::num::NonZeroU32,
    pub(crate) max_queued_messages: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) packet_timeout: Duration,
    /// User name → password; `None`: anonymous clients are allowed.
    pub(crate) users: Option<HashMap<String, String>>,
    /// Topic filter patterns no client may subscribe to.
    pub(crate) deny_subscribe: Vec<String>,
    /// Topic filter patterns no client may publish to.
    pub(crate) deny_publish: Vec<String>,
    /// The longest keep alive a 5.0 client may use (0 and longer become this).
    pub(crate) max_keep_alive: Option<u16>,
    /// The Topic Alias Maximum announced to 5.0 clients (0: aliases refused).
    pub(crate) topic_alias_maximum: u16,
}

/// Why a CONNECT fails authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No user name (or no password) with a user table set.
    NoCredentials,
    /// Unknown user name or wrong password.
    BadCredentials,
}

impl Config {
    /// Check a CONNECT's credentials against the user table, if there is one.
    pub(crate) fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), AuthFailure> {
        let Some(users) = &self.users else {
            return Ok(());
        };
        let (Some(username), Some(password)) = (username, password) else {
            return Err(AuthFailure::NoCredentials);
        };
        match users.get(username) {
            Some(expected) if expected.as_bytes() == password => Ok(()),
            _ => Err(AuthFailure::BadCredentials),
        }
    }

    /// The deny pattern that forbids subscribing to `filter`, if any. Patterns are matched
    /// against the filter string as it was sent (`a/#` denies `a/+`, `a/b/#`...).
    pub(crate) fn subscribe_denied(&self, filter: &str) -> Option<&str> {
        self.deny_subscribe
            .iter()
            .find(|pattern| mqtt_proto::topic::matches(pattern, filter))
            .map(String::as_str)
    }

    /// The deny pattern that forbids publishing to `topic`, if any.
    pub(crate) fn publish_denied(&self, topic: &str) -> Option<&str> {
        self.deny_publish
            .iter()
            .find(|pattern| mqtt_proto::topic::matches(pattern, topic))
            .map(String::as_str)
    }
}

/// What the shared state asks of a live connection.
#[derive(Debug)]
pub(crate) enum ConnCmd {
    /// Messages were queued for the session: send what the inflight window allows.
    Wake,
    /// Another connection took over the client identifier: close.
    Kick,
    /// A fault: send DISCONNECT with this reason (5.0) and close.
    Disconnect(mqtt_proto::DisconnectReason),
    /// A fault: send this packet now.
    Send(Box<mqtt_proto::Packet>),
    /// A fault: write these bytes now.
    SendRaw(bytes::Bytes),
}

/// The live connection that owns a session.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::UnboundedSender<ConnCmd>,
}

/// A message waiting for a slot in the inflight window.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    /// The PUBLISH to send, with QoS 0 as a placeholder and no DUP.
    pub(crate) publish: Publish,
    /// The QoS to send it at.
    pub(crate) qos: QoS,
    /// When it was queued, for its Message Expiry Interval.
    pub(crate) queued_at: Instant,
}

/// Where an outbound QoS 1 or 2 message stands: the acknowledgement it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// QoS 1, sent: waiting for PUBACK.
    Unacked,
    /// QoS 2, sent: waiting for PUBREC.
    Unreceived,
    /// QoS 2, PUBREL sent: waiting for PUBCOMP.
    Released,
}

/// An outbound QoS 1 or 2 message not yet fully acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Inflight {
    pub(crate) publish: Publish,
    pub(crate) pid: PacketId,
    pub(crate) state: OutState,
}

/// The server side of a session (3.1.1 §4.1, 5.0 §4.1).
#[derive(Debug)]
pub(crate) struct Session {
    /// Kept after the connection ends (clean session 0, or a 5.0 Session Expiry > 0).
    pub(crate) persistent: bool,
    /// Subscriptions in the order they were made; one per filter [MQTT-3.8.4-3].
    pub(crate) subscriptions: Vec<Subscription>,
    /// Messages not sent yet, in order.
    pub(crate) pending: VecDeque<Queued>,
    /// Messages sent and not fully acknowledged, in the order they were first sent.
    pub(crate) inflight: VecDeque<Inflight>,
    /// Inbound QoS 2 packet ids received and not released (PUBREC sent, PUBREL awaited).
    pub(crate) inbound_qos2: HashSet<PacketId>,
    /// The next outbound packet id to try.
    next_pid: u16,
    /// How many QoS 1 and 2 messages may be inflight to the client (its Receive Maximum).
    pub(crate) send_quota: usize,
    /// The connection that owns the session, if the client is connected.
    pub(crate) conn: Option<ConnHandle>,
    /// The connection that last left the session (identifies the timers it started).
    pub(crate) left_by: Option<u64>,
    /// When the session expires while the client is away (`None`: never).
    pub(crate) expires_at: Option<Instant>,
    /// A 5.0 will waiting for its Will Delay Interval, and when it is due.
    pub(crate) delayed_will: Option<(Instant, Publish)>,
    /// The connection a resuming connection took the session over from, if it did.
    pub(crate) taken_over_from: Option<u64>,
}

impl Session {
    pub(crate) fn new(persistent: bool) -> Self {
        Self {
            persistent,
            subscriptions: Vec::new(),
            pending: VecDeque::new(),
            inflight: VecDeque::new(),
            inbound_qos2: HashSet::new(),
            next_pid: 1,
            send_quota: usize::from(u16::MAX),
            conn: None,
            left_by: None,
            expires_at: None,
            delayed_will: None,
            taken_over_from: None,
        }
    }

    /// Whether connection `conn_id` owns this session.
    pub(crate) fn owned_by(&self, conn_id: u64) -> bool {
        self.conn.as_ref().is_some_and(|c| c.id == conn_id)
    }

    /// A packet id not used by any inflight message. The window is at most 65535 wide, so
    /// one is always free when there is room in it.
    fn alloc_pid(&mut self) -> PacketId {
        loop {
            let candidate = PacketId::new(self.next_pid);
            self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
            if let Some(pid) = candidate {
                if !self.inflight.iter().any(|m| m.pid == pid) {
                    return pid;
                }
            }
        }
    }

    /// Move queued messages into the inflight window, in order; returns what to send now.
    pub(crate) fn take_sendable(&mut self) -> Vec<Publish> {
        let mut out = Vec::new();
        let quota = self.send_quota.min(usize::from(u16::MAX));
        while let Some(front) = self.pending.front() {
            if front.qos != QoS::AtMostOnce && self.inflight.len() >= quota {
                // Order is kept across QoS levels: a QoS 0 message behind a blocked QoS 1
                // message waits too.
                break;
            }
            let Some(q) = self.pending.pop_front() else {
                break;
            };
            let mut publish = q.publish;
            if let Some(expiry) = publish.properties().message_expiry_interval {
                let waited = q.queued_at.elapsed().as_secs();
                let Some(left) = u64::from(expiry).checked_sub(waited).filter(|l| *l > 0) else {
                    // [MQTT-3.3.2-5]: expired while queued: dropped, not delivered.
                    tracing::debug!(topic = publish.topic.as_str(), "queued message expired");
                    continue;
                };
                // [MQTT-3.3.2-6]: the interval left.
                publish.properties_mut().message_expiry_interval =
                    Some(u32::try_from(left).unwrap_or(expiry));
            }
            if q.qos == QoS::AtMostOnce {
                out.push(publish);
                continue;
            }
            let pid = self.alloc_pid();
            publish.qos = QosPid::from_qos(q.qos, pid);
            let state = if q.qos == QoS::AtLeastOnce {
                OutState::Unacked
            } else {
                OutState::Unreceived
            };
            self.inflight.push_back(Inflight {
                publish: publish.clone(),
                pid,
                state,
            });
            out.push(publish);
        }
        out
    }
}

/// Everything the connections share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) sessions: BTreeMap<String, Session>,
    /// Retained messages by topic (with the QoS they were published at).
    pub(crate) retained: BTreeMap<String, Publish>,
    /// Round-robin position per shared subscription (`$share/group/filter`).
    share_cursor: HashMap<String, usize>,
    /// Armed fault rules by client identifier, in the order they were armed.
    pub(crate) faults: HashMap<String, Vec<crate::fault::Rule>>,
    events: Vec<mpsc::UnboundedSender<Event>>,
    next_conn_id: u64,
    next_client_id: u64,
}

impl State {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            sessions: BTreeMap::new(),
            retained: BTreeMap::new(),
            share_cursor: HashMap::new(),
            faults: HashMap::new(),
            events: Vec::new(),
            next_conn_id: 1,
            next_client_id: 1,
        }
    }

    pub(crate) fn conn_id(&mut self) -> u64 {
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        id
    }

    /// A client identifier no session uses, for a client that sent an empty one.
    pub(crate) fn assign_client_id(&mut self) -> String {
        loop {
            let id = format!("mqtt-testkit-{}", self.next_client_id);
            self.next_client_id += 1;
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn subscribe_events(&mut self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.events.push(tx);
        rx
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.events.retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// Accept a message from `from` (a PUBLISH or a will): store or clear it as retained,
    /// and queue it for every matching subscription.
    pub(crate) fn publish(&mut self, from: &str, publish: &Publish, will: bool) {
        let qos = publish.qos.qos();
        if publish.retain {
            if publish.payload.is_empty() {
                // [MQTT-3.3.1-10], [MQTT-3.3.1-11]: an empty retained message clears.
                self.retained.remove(publish.topic.as_str());
            } else {
                // [MQTT-3.3.1-5]: replaces any earlier retained message on the topic.
                let mut stored = publish.clone();
                stored.dup = false;
                self.retained
                    .insert(publish.topic.as_str().to_owned(), stored);
            }
        }
        self.emit(Event::Published {
            client_id: from.to_owned(),
            publish: publish.clone(),
            will,
        });
        let topic = &publish.topic;

        // Ordinary subscriptions: once per session at the highest matching QoS.
        let mut targets: Vec<(String, QoS, bool)> = Vec::new();
        // Shared subscriptions: members of each group, in client id order.
        let mut groups: BTreeMap<String, Vec<(String, QoS, bool)>> = BTreeMap::new();
        for (client_id, session) in &self.sessions {
            let mut best: Option<(QoS, bool)> = None;
            for sub in &session.subscriptions {
                if !sub.filter.matches(topic) {
                    continue;
                }
                // 5.0 No Local [MQTT-3.8.3-3]: not back to the publisher's own client id.
                if sub.options.no_local && client_id == from {
                    continue;
                }
                let entry = (sub.options.qos, sub.options.retain_as_published);
                if sub.filter.is_shared() {
                    groups
                        .entry(sub.filter.as_str().to_owned())
                        .or_default()
                        .push((client_id.clone(), entry.0, entry.1));
                } else if best.is_none_or(|(q, _)| entry.0 > q) {
                    best = Some(entry);
                }
            }
            if let Some((q, rap)) = best {
                targets.push((client_id.clone(), q, rap));
            }
        }
        for (group, members) in groups {
            // Prefer connected members; fall back to any (a persistent session queues).
            let online: Vec<&(String, QoS, bool)> = members
                .iter()
                .filter(|(id, ..)| self.sessions.get(id).is_some_and(|s| s.conn.is_some()))
                .collect();
            let pool: Vec<&(String, QoS, bool)> = if online.is_empty() {
                members.iter().collect()
            } else {
                online
            };
            let cursor = self.share_cursor.entry(group).or_insert(0);
            if let Some(&member) = pool.get(*cursor % pool.len().max(1)) {
                targets.push(member.clone());
            }
            *cursor = cursor.wrapping_add(1);
        }

        for (client_id, sub_qos, retain_as_published) in targets {
            let mut out = publish.clone();
            out.dup = false;
            out.qos = QosPid::AtMostOnce;
            // [MQTT-3.3.1-9] (3.1.1), 5.0 Retain As Published.
            out.retain = publish.retain && retain_as_published;
            self.enqueue(&client_id, out, qos.min(sub_qos));
        }
    }

    /// Queue a message for a session, applying the queue bound.
    pub(crate) fn enqueue(&mut self, client_id: &str, publish: Publish, qos: QoS) {
        let limit = self.config.max_queued_messages;
        let Some(session) = self.sessions.get_mut(client_id) else {
            return;
        };
        if session.conn.is_none() && qos == QoS::AtMostOnce {
            // QoS 0 messages are not kept for absent clients (3.1.1 §3.1.2.4 allows it).
            return;
        }
        if session.pending.len() >= limit {
            tracing::warn!(
                client_id,
                topic = publish.topic.as_str(),
                limit,
                "session queue full: message dropped"
            );
            self.emit(Event::MessageDropped {
                client_id: client_id.to_owned(),
                publish,
            });
            return;
        }
        session.pending.push_back(Queued {
            publish,
            qos,
            queued_at: Instant::now(),
        });
        if let Some(conn) = &session.conn {
            // The connection may be closing; then the message stays queued.
            let _ = conn.tx.send(ConnCmd::Wake);
        }
    }

    /// Queue the retained messages matching `filter` for a new subscription, with RETAIN set
    /// [MQTT-3.3.1-8], at most at `max_qos`.
    pub(crate) fn send_retained(&mut self, client_id: &str, filter: &TopicFilter, max_qos: QoS) {
        let matching: Vec<Publish> = self
            .retained
            .values()
            .filter(|p| filter.matches(&p.topic))
            .cloned()
            .collect();
        for mut publish in matching {
            let qos = publish.qos.qos().min(max_qos);
            publish.qos = QosPid::AtMostOnce;
            publish.retain = true;
            self.enqueue(client_id, publish, qos);
        }
    }

    /// A will timer or a session expiry timer started when connection `left_by` ended
    /// came due: publish the delayed will if it is due, and end the session if it expired
    /// (publishing a delayed will first, 5.0 §3.1.3.2.2). Nothing happens if the client
    /// came back meanwhile.
    pub(crate) fn on_timer(&mut self, client_id: &str, left_by: u64) {
        let now = Instant::now();
        let Some(session) = self.sessions.get_mut(client_id) else {
            return;
        };
        if session.conn.is_some() || session.left_by != Some(left_by) {
            return;
        }
        let expired = session.expires_at.is_some_and(|at| at <= now);
        let will_due = session
            .delayed_will
            .as_ref()
            .is_some_and(|(at, _)| *at <= now || expired);
        let will = if will_due {
            session.delayed_will.take().map(|(_, p)| p)
        } else {
            None
        };
        if expired {
            tracing::debug!(client_id, "session expired");
            self.sessions.remove(client_id);
        }
        if let Some(will) = will {
            tracing::debug!(
                client_id,
                topic = will.topic.as_str(),
                "publishing delayed will"
            );
            self.publish(client_id, &will, true);
        }
        if expired {
            self.emit(Event::SessionExpired {
                client_id: client_id.to_owned(),
            });
        }
    }
}
