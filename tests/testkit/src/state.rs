//! The broker's shared state: sessions, subscriptions, retained messages, routing.
//!
//! One `std::sync::Mutex` guards it all and is never held across an `.await`: a test broker
//! values a simple, obviously ordered model over throughput. Every routing decision is taken
//! under the lock, so messages reach each session's queue in the order they were accepted.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use mqtt_proto::{PacketId, Publish, QoS, QosPid, Subscription, SubscriptionId, TopicFilter};
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
    /// More deny patterns, by user name (the CONNECT's).
    pub(crate) user_acls: HashMap<String, crate::Acl>,
    /// The most subscriptions one session may hold.
    pub(crate) max_subscriptions: usize,
    /// The most clients connected at once (past CONNECT).
    pub(crate) max_connections: usize,
    /// The most levels a topic name or filter may have.
    pub(crate) max_topic_levels: usize,
    /// The longest keep alive a 5.0 client may use (0 and longer become this).
    pub(crate) max_keep_alive: Option<u16>,
    /// The Topic Alias Maximum announced to 5.0 clients (0: aliases refused).
    pub(crate) topic_alias_maximum: u16,
    /// The Receive Maximum announced to 5.0 clients and enforced on them.
    pub(crate) receive_maximum: std::num::NonZeroU16,
    /// The highest QoS accepted in a PUBLISH and granted to a subscription.
    pub(crate) maximum_qos: QoS,
    /// Whether 5.0 SUBSCRIBEs may carry a Subscription Identifier.
    pub(crate) subscription_identifiers: bool,
    /// Whether the broker assigns topic aliases to 5.0 clients that accept them.
    pub(crate) assign_topic_aliases: bool,
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

    /// The deny pattern that forbids `user` (the CONNECT's user name) subscribing to
    /// `filter`, if any: a global one, then the user's own. Patterns are matched against
    /// the filter string as it was sent (`a/#` denies `a/+`, `a/b/#`...).
    pub(crate) fn subscribe_denied(&self, user: Option<&str>, filter: &str) -> Option<&str> {
        self.deny_subscribe
            .iter()
            .find(|pattern| mqtt_proto::topic::matches(pattern, filter))
            .map(String::as_str)
            .or_else(|| self.user_acl(user)?.subscribe_denied(filter))
    }

    /// The deny pattern that forbids `user` publishing to `topic`, if any: a global one,
    /// then the user's own.
    pub(crate) fn publish_denied(&self, user: Option<&str>, topic: &str) -> Option<&str> {
        self.deny_publish
            .iter()
            .find(|pattern| mqtt_proto::topic::matches(pattern, topic))
            .map(String::as_str)
            .or_else(|| self.user_acl(user)?.publish_denied(topic))
    }

    fn user_acl(&self, user: Option<&str>) -> Option<&crate::Acl> {
        self.user_acls.get(user?)
    }

    /// Whether a topic name or filter has more levels than allowed.
    pub(crate) fn too_many_levels(&self, topic: &str) -> bool {
        // Levels are separated by '/': n separators, n + 1 levels. Counting stops early.
        topic
            .bytes()
            .filter(|b| *b == b'/')
            .nth(self.max_topic_levels.saturating_sub(1))
            .is_some()
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
    /// A fault: close (no DISCONNECT) at this time, if a close timer rule is still armed.
    CloseTimer(Instant),
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
    /// When it was first sent: a resend carries the Message Expiry Interval left.
    pub(crate) sent_at: Instant,
    /// Sent on an earlier connection and not resent on this one yet: held back until the
    /// client's Receive Maximum leaves room for it [MQTT-3.3.4-9].
    resend_due: bool,
}

/// The messages inflight to a client, in the order they were first sent, indexed by packet
/// id: adding, finding, acknowledging and removing one cost O(1) (amortised), however many
/// are unacknowledged.
///
/// Removed entries leave a hole in `slots` until the holes outnumber the live entries;
/// then the list is compacted (so that is amortised O(1) too).
#[derive(Debug, Default)]
pub(crate) struct InflightList {
    /// Entries in sending order; `None` where one was removed.
    slots: VecDeque<Option<Inflight>>,
    /// The absolute position of `slots[0]`.
    base: u64,
    /// Packet id → absolute position in `slots`.
    by_pid: HashMap<PacketId, u64>,
    /// How many entries are `resend_due`.
    held: usize,
    /// The packet ids of the `resend_due` entries, in order (possibly stale: an entry that
    /// was removed or acknowledged meanwhile is skipped).
    resend_queue: VecDeque<PacketId>,
}

impl InflightList {
    /// How many messages are inflight (held back ones included).
    pub(crate) fn len(&self) -> usize {
        self.by_pid.len()
    }

    /// How many are unacknowledged on the client's side of this connection: inflight and
    /// not held back for a resend.
    fn outstanding(&self) -> usize {
        self.len() - self.held
    }

    pub(crate) fn contains(&self, pid: PacketId) -> bool {
        self.by_pid.contains_key(&pid)
    }

    fn slot(&self, pid: PacketId) -> Option<usize> {
        let at = *self.by_pid.get(&pid)?;
        usize::try_from(at - self.base).ok()
    }

    pub(crate) fn get(&self, pid: PacketId) -> Option<&Inflight> {
        self.slots.get(self.slot(pid)?)?.as_ref()
    }

    /// The messages in the order they were first sent.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Inflight> {
        self.slots.iter().flatten()
    }

    fn push_back(&mut self, m: Inflight) {
        let at = self.base + self.slots.len() as u64;
        if let Some(old) = self.by_pid.insert(m.pid, at) {
            // Packet ids are allocated free of inflight ones; never reached.
            debug_assert!(false, "packet id {} inflight twice", m.pid.get());
            self.by_pid.insert(m.pid, old);
            return;
        }
        self.slots.push_back(Some(m));
    }

    /// Remove the message with `pid`, if inflight.
    pub(crate) fn remove(&mut self, pid: PacketId) -> Option<Inflight> {
        let slot = self.slot(pid)?;
        self.by_pid.remove(&pid);
        let m = self.slots.get_mut(slot)?.take()?;
        if m.resend_due {
            self.held -= 1;
        }
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        if self.slots.len() > 2 * self.len() + 64 {
            self.compact();
        }
        Some(m)
    }

    fn compact(&mut self) {
        self.slots.retain(Option::is_some);
        for (i, m) in self.slots.iter().flatten().enumerate() {
            self.by_pid.insert(m.pid, self.base + i as u64);
        }
    }

    /// PUBREC for a QoS 2 message: it is received (and no longer to be resent).
    pub(crate) fn release(&mut self, pid: PacketId) {
        let Some(slot) = self.slot(pid) else {
            return;
        };
        if let Some(Some(m)) = self.slots.get_mut(slot) {
            m.state = OutState::Released;
            if std::mem::take(&mut m.resend_due) {
                self.held -= 1;
            }
        }
    }

    /// After a reconnect: the packets to resend now, in their original order — PUBREL for
    /// the messages already received, and the unacknowledged PUBLISHes (with DUP) while the
    /// client's Receive Maximum `quota` allows [MQTT-3.3.4-9] (those released count against
    /// it: their PUBCOMP is awaited); the other PUBLISHes are held back for
    /// [`InflightList::next_resend`].
    pub(crate) fn resend_all(&mut self, quota: usize) -> Vec<Result<Publish, PacketId>> {
        let released = self
            .iter()
            .filter(|m| m.state == OutState::Released)
            .count();
        let mut budget = quota.saturating_sub(released);
        self.resend_queue.clear();
        self.held = 0;
        let mut out = Vec::new();
        for m in self.slots.iter_mut().flatten() {
            m.resend_due = false;
            match m.state {
                OutState::Released => out.push(Err(m.pid)),
                OutState::Unacked | OutState::Unreceived if budget > 0 => {
                    budget -= 1;
                    out.push(Ok(m.resend()));
                }
                OutState::Unacked | OutState::Unreceived => {
                    m.resend_due = true;
                    self.held += 1;
                    self.resend_queue.push_back(m.pid);
                }
            }
        }
        out
    }

    /// The next held-back PUBLISH to resend (with DUP), if the Receive Maximum `quota`
    /// leaves room for it now.
    pub(crate) fn next_resend(&mut self, quota: usize) -> Option<Publish> {
        while self.held > 0 && self.outstanding() < quota {
            let pid = self.resend_queue.pop_front()?;
            let Some(slot) = self.slot(pid) else {
                continue;
            };
            let Some(Some(m)) = self.slots.get_mut(slot) else {
                continue;
            };
            if !std::mem::take(&mut m.resend_due) {
                continue;
            }
            self.held -= 1;
            return Some(m.resend());
        }
        None
    }
}

impl Inflight {
    /// The PUBLISH to resend after a reconnect, with DUP set. Onward delivery has started,
    /// so it is resent even if its Message Expiry Interval has passed ([MQTT-3.3.2-5] is
    /// about copies not yet sent; [MQTT-4.4.0-1] requires the resend), carrying the time
    /// left, 0 once none is [MQTT-3.3.2-6].
    pub(crate) fn resend(&self) -> Publish {
        let mut publish = self.publish.clone();
        publish.dup = true;
        if let Some(expiry) = publish.properties().message_expiry_interval {
            let waited = u32::try_from(self.sent_at.elapsed().as_secs()).unwrap_or(u32::MAX);
            publish.properties_mut().message_expiry_interval = Some(expiry.saturating_sub(waited));
        }
        publish
    }
}

/// A retained message, and when it was stored (for its Message Expiry Interval).
#[derive(Debug, Clone)]
pub(crate) struct Retained {
    /// The message as published (QoS kept; RETAIN and DUP as stored).
    pub(crate) publish: Publish,
    pub(crate) stored_at: Instant,
}

impl Retained {
    /// The message with the Message Expiry Interval left [MQTT-3.3.2-6], or `None` if it
    /// expired [MQTT-3.3.2-5].
    pub(crate) fn current(&self) -> Option<Publish> {
        let mut publish = self.publish.clone();
        if let Some(expiry) = publish.properties().message_expiry_interval {
            let waited = self.stored_at.elapsed().as_secs();
            let left = u64::from(expiry).checked_sub(waited).filter(|l| *l > 0)?;
            publish.properties_mut().message_expiry_interval =
                Some(u32::try_from(left).unwrap_or(expiry));
        }
        Some(publish)
    }
}

/// The server side of a session (3.1.1 §4.1, 5.0 §4.1).
#[derive(Debug)]
pub(crate) struct Session {
    /// Kept after the connection ends (clean session 0, or a 5.0 Session Expiry > 0).
    pub(crate) persistent: bool,
    /// Subscriptions in the order they were made; one per filter [MQTT-3.8.4-3].
    pub(crate) subscriptions: Vec<Subscription>,
    /// Where each filter is in `subscriptions`, so that a SUBSCRIBE of thousands of
    /// filters costs a lookup per filter rather than a scan (the state lock is held).
    pub(crate) subscription_index: HashMap<String, usize>,
    /// 5.0 Subscription Identifiers by topic filter (as subscribed), for the subscriptions
    /// that have one.
    pub(crate) subscription_ids: HashMap<String, SubscriptionId>,
    /// Messages not sent yet, in order.
    pub(crate) pending: VecDeque<Queued>,
    /// Messages sent and not fully acknowledged, in the order they were first sent,
    /// indexed by packet id.
    pub(crate) inflight: InflightList,
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
            subscription_index: HashMap::new(),
            subscription_ids: HashMap::new(),
            pending: VecDeque::new(),
            inflight: InflightList::default(),
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
                if !self.inflight.contains(pid) {
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
                sent_at: Instant::now(),
                resend_due: false,
            });
            out.push(publish);
        }
        out
    }
}

/// A session a message is routed to, with what its matching subscriptions ask for.
#[derive(Debug, Clone)]
struct Target {
    client_id: String,
    /// The highest QoS of the matching subscriptions.
    qos: QoS,
    /// Retain As Published of the subscription that gave that QoS.
    retain_as_published: bool,
    /// The Subscription Identifiers of the matching subscriptions that have one.
    ids: Vec<SubscriptionId>,
}

/// Replace the Subscription Identifiers of an outbound PUBLISH (a client never sends any
/// [MQTT-3.3.4-6], and a will has none).
fn set_subscription_ids(publish: &mut Publish, ids: Vec<SubscriptionId>) {
    if !ids.is_empty() {
        publish.properties_mut().subscription_identifiers = ids;
    } else if let Some(p) = publish.properties.as_mut() {
        p.subscription_identifiers.clear();
    }
}

/// Everything the connections share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) sessions: BTreeMap<String, Session>,
    /// Retained messages by topic (with the QoS they were published at).
    pub(crate) retained: BTreeMap<String, Retained>,
    /// Round-robin position per shared subscription (`$share/group/filter`).
    share_cursor: HashMap<String, usize>,
    /// Armed fault rules by client identifier or connection, in the order they were armed.
    pub(crate) faults: HashMap<crate::fault::Scope, Vec<crate::fault::Rule>>,
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

    /// Emit the event `make` builds, building it only if an [`crate::Events`] stream is
    /// still open (dropped ones are forgotten here).
    pub(crate) fn emit_with(&mut self, make: impl FnOnce() -> Event) {
        self.events.retain(|tx| !tx.is_closed());
        if !self.events.is_empty() {
            self.emit(make());
        }
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
                let stored = Retained {
                    publish: stored,
                    stored_at: Instant::now(),
                };
                self.retained
                    .insert(publish.topic.as_str().to_owned(), stored);
            }
        }
        // Cloning every message for the event stream costs; only when someone listens.
        self.emit_with(|| Event::Published {
            client_id: from.to_owned(),
            publish: publish.clone(),
            will,
        });
        let topic = &publish.topic;

        // Ordinary subscriptions: once per session at the highest matching QoS, carrying
        // the identifiers of all of them [MQTT-3.3.4-2], [MQTT-3.3.4-3], [MQTT-3.3.4-4].
        let mut targets: Vec<Target> = Vec::new();
        // Shared subscriptions: members of each group, in client id order.
        let mut groups: BTreeMap<String, Vec<Target>> = BTreeMap::new();
        for (client_id, session) in &self.sessions {
            let mut best: Option<Target> = None;
            for sub in &session.subscriptions {
                if !sub.filter.matches(topic) {
                    continue;
                }
                // 5.0 No Local [MQTT-3.8.3-3]: not back to the publisher's own client id.
                if sub.options.no_local && client_id == from {
                    continue;
                }
                let id = session.subscription_ids.get(sub.filter.as_str()).copied();
                if sub.filter.is_shared() {
                    // A copy of its own, with its own identifier [MQTT-3.3.4-5].
                    groups
                        .entry(sub.filter.as_str().to_owned())
                        .or_default()
                        .push(Target {
                            client_id: client_id.clone(),
                            qos: sub.options.qos,
                            retain_as_published: sub.options.retain_as_published,
                            ids: id.into_iter().collect(),
                        });
                    continue;
                }
                let best = best.get_or_insert_with(|| Target {
                    client_id: client_id.clone(),
                    qos: sub.options.qos,
                    retain_as_published: sub.options.retain_as_published,
                    ids: Vec::new(),
                });
                if sub.options.qos > best.qos {
                    best.qos = sub.options.qos;
                    best.retain_as_published = sub.options.retain_as_published;
                }
                best.ids.extend(id);
            }
            targets.extend(best);
        }
        for (group, members) in groups {
            // Prefer connected members; fall back to any (a persistent session queues).
            let online: Vec<&Target> = members
                .iter()
                .filter(|t| {
                    self.sessions
                        .get(&t.client_id)
                        .is_some_and(|s| s.conn.is_some())
                })
                .collect();
            let pool: Vec<&Target> = if online.is_empty() {
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

        for target in targets {
            let mut out = publish.clone();
            out.dup = false;
            out.qos = QosPid::AtMostOnce;
            // [MQTT-3.3.1-9] (3.1.1), 5.0 Retain As Published.
            out.retain = publish.retain && target.retain_as_published;
            set_subscription_ids(&mut out, target.ids);
            self.enqueue(&target.client_id, out, qos.min(target.qos));
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
    /// [MQTT-3.3.1-8], at most at `max_qos`, carrying the subscription's identifier. Expired
    /// ones are removed instead [MQTT-3.3.2-5]; the others carry the interval left
    /// [MQTT-3.3.2-6].
    pub(crate) fn send_retained(
        &mut self,
        client_id: &str,
        filter: &TopicFilter,
        max_qos: QoS,
        id: Option<SubscriptionId>,
    ) {
        let mut matching = Vec::new();
        let mut expired = Vec::new();
        for (topic, retained) in &self.retained {
            if !filter.matches(&retained.publish.topic) {
                continue;
            }
            match retained.current() {
                Some(publish) => matching.push(publish),
                None => expired.push(topic.clone()),
            }
        }
        for topic in expired {
            tracing::debug!(topic, "retained message expired");
            self.retained.remove(&topic);
        }
        for mut publish in matching {
            let qos = publish.qos.qos().min(max_qos);
            publish.qos = QosPid::AtMostOnce;
            publish.retain = true;
            set_subscription_ids(&mut publish, id.into_iter().collect());
            self.enqueue(client_id, publish, qos);
        }
    }

    /// The retained message on `topic`, unless it expired (then it is removed).
    pub(crate) fn retained_message(&mut self, topic: &str) -> Option<Publish> {
        let current = self.retained.get(topic)?.current();
        if current.is_none() {
            self.retained.remove(topic);
        }
        current
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn entry(n: u16, state: OutState) -> Inflight {
        let pid = PacketId::new(n).unwrap();
        let topic = mqtt_proto::TopicName::new("t").unwrap();
        let qos = if state == OutState::Unacked {
            QosPid::AtLeastOnce(pid)
        } else {
            QosPid::ExactlyOnce(pid)
        };
        Inflight {
            publish: Publish::new(topic, qos, bytes::Bytes::from(n.to_string())),
            pid,
            state,
            sent_at: Instant::now(),
            resend_due: false,
        }
    }

    fn pids(list: &InflightList) -> Vec<u16> {
        list.iter().map(|m| m.pid.get()).collect()
    }

    #[test]
    fn removal_in_any_order_keeps_the_sending_order_and_compacts() {
        let mut list = InflightList::default();
        for n in 1..=1000 {
            list.push_back(entry(n, OutState::Unacked));
        }
        // Remove all but every tenth, from the back: holes pile up behind the first.
        for n in (1..=1000u16).rev().filter(|n| n % 10 != 1) {
            assert!(list.remove(PacketId::new(n).unwrap()).is_some());
        }
        assert!(list.remove(PacketId::new(2).unwrap()).is_none());
        assert_eq!(list.len(), 100);
        assert!(list.slots.len() <= 2 * list.len() + 64, "compacted");
        let expected: Vec<u16> = (1..=1000).filter(|n| n % 10 == 1).collect();
        assert_eq!(pids(&list), expected);
        for n in &expected {
            assert_eq!(list.get(PacketId::new(*n).unwrap()).unwrap().pid.get(), *n);
        }
        // Freed ids are reused; the order is still the sending order.
        list.push_back(entry(2, OutState::Unacked));
        assert_eq!(pids(&list).last(), Some(&2));
        for n in expected {
            list.remove(PacketId::new(n).unwrap());
        }
        assert_eq!(pids(&list), vec![2]);
        assert_eq!(list.slots.len(), 1, "leading holes are dropped");
    }

    #[test]
    fn resends_beyond_the_quota_are_held_in_order() {
        let mut list = InflightList::default();
        list.push_back(entry(1, OutState::Unacked));
        list.push_back(entry(2, OutState::Released));
        list.push_back(entry(3, OutState::Unreceived));
        list.push_back(entry(4, OutState::Unacked));
        list.push_back(entry(5, OutState::Unacked));
        let now: Vec<Result<u16, u16>> = list
            .resend_all(2)
            .into_iter()
            .map(|r| {
                r.map(|p| p.qos.packet_id().unwrap().get())
                    .map_err(|p| p.get())
            })
            .collect();
        assert_eq!(now, vec![Ok(1), Err(2)]);
        assert_eq!(list.next_resend(2), None);
        // 3 is received meanwhile (its PUBREC came late): not resent; 4 was acknowledged.
        list.release(PacketId::new(3).unwrap());
        list.remove(PacketId::new(4).unwrap());
        assert_eq!(list.next_resend(2), None, "1, 2 and 3 fill the quota");
        list.remove(PacketId::new(1).unwrap());
        list.remove(PacketId::new(2).unwrap());
        let p = list.next_resend(2).unwrap();
        assert!(p.dup);
        assert_eq!(p.qos.packet_id().unwrap().get(), 5);
        assert_eq!(list.next_resend(2), None);
        assert_eq!(list.held, 0);
    }
}
