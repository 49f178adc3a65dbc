//! The broker's shared state: sessions, subscriptions, retained messages, routing; the
//! session lifecycle (start, resume, takeover, leave, expiry); the armed fault rules.
//!
//! One `std::sync::Mutex` guards it all and is never held across an `.await`: a test broker
//! values a simple, obviously ordered model over throughput. Every routing decision is taken
//! under the lock, so messages reach each session's queue in the order they were accepted.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use mqtt_proto::{Publish, QoS, QosPid, SubscriptionId, TopicFilter};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::acl::Access;
use crate::config::Config;
use crate::event::Event;
use crate::fault::{Action, Direction, Fault, FaultRules};
use crate::session::{ConnCmd, ConnHandle, Queued, Session};

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

/// How a CONNECT asks for its session: [`State::open_session`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionStart {
    /// 3.x clean session, 5.0 clean start.
    pub(crate) clean_start: bool,
    /// Whether the session outlives the connection (3.x clean session 0, 5.0 Session
    /// Expiry Interval > 0).
    pub(crate) persistent: bool,
    /// The client's Receive Maximum (how many QoS 1 and 2 messages may be inflight to it).
    pub(crate) send_quota: usize,
}

/// What became of a session when its connection ended: [`State::leave_session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Left {
    /// Another connection owns it (a takeover): untouched.
    NotOwned,
    /// It ended with the connection.
    Ended,
    /// It is kept for the client, until then (`None`: for ever).
    Kept {
        /// When it expires.
        expires_at: Option<Instant>,
    },
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
    pub(crate) faults: FaultRules,
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
            faults: FaultRules::default(),
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

    /// How many clients other than `client_id` are connected (past CONNECT).
    pub(crate) fn connected_except(&self, client_id: &str) -> usize {
        self.sessions
            .iter()
            .filter(|(id, s)| s.conn.is_some() && id.as_str() != client_id)
            .count()
    }

    /// The session of `client_id`, if connection `conn_id` owns it.
    pub(crate) fn owned_session_mut(
        &mut self,
        client_id: &str,
        conn_id: u64,
    ) -> Option<&mut Session> {
        self.sessions
            .get_mut(client_id)
            .filter(|s| s.owned_by(conn_id))
    }

    /// Whether connection `conn_id` owns the session of `client_id`.
    pub(crate) fn owns(&self, client_id: &str, conn_id: u64) -> bool {
        self.sessions
            .get(client_id)
            .is_some_and(|s| s.owned_by(conn_id))
    }

    /// A CONNECT of `client_id` was accepted on connection `conn`: start its session,
    /// resume the one it had, or take it over from a live connection (which is told to
    /// close). Returns Session Present.
    ///
    /// A session whose connection asked for none to be kept (3.x clean session 1, 5.0
    /// Session Expiry Interval 0) lasts as long as that connection (3.1.1 [MQTT-3.1.2-6],
    /// 5.0 §3.1.2.11.2). A takeover closes the old connection first, then processes clean
    /// session (3.1.1 [MQTT-3.1.4-2], [MQTT-3.1.4-3]; 5.0 [MQTT-3.1.4-3], [MQTT-3.1.4-4]):
    /// such a session is gone by then, so it cannot be resumed. A will still waiting for
    /// its delay is not sent if the session resumes [MQTT-3.1.3-9], and is sent now if the
    /// session ends here.
    pub(crate) fn open_session(
        &mut self,
        client_id: &str,
        conn: ConnHandle,
        start: SessionStart,
    ) -> bool {
        let SessionStart {
            clean_start,
            persistent,
            send_quota,
        } = start;
        let mut ended_will = None;
        let (mut session, session_present) = match self.sessions.remove(client_id) {
            Some(mut old) => {
                let resumable = !clean_start && old.persistent;
                if let Some((_, will)) = old.delayed_will.take()
                    && !resumable
                {
                    ended_will = Some(will);
                }
                old.expires_at = None;
                old.taken_over_from = None;
                if let Some(live) = old.conn.take() {
                    // Takeover [MQTT-3.1.4-2]: the old connection closes; the session (if
                    // kept) carries on here.
                    tracing::info!(client_id, "session taken over by a new connection");
                    let _ = live.tx.send(ConnCmd::Kick);
                    if resumable {
                        // Its delayed will is not sent: the session resumed [MQTT-3.1.3-9].
                        old.taken_over_from = Some(live.id);
                    }
                }
                if resumable {
                    (old, true)
                } else {
                    // The old session is discarded and a new, empty one starts, with
                    // Session Present 0 (3.1.1 [MQTT-3.2.2-1], [MQTT-3.2.2-3]; 5.0
                    // [MQTT-3.2.2-2], [MQTT-3.2.2-3]).
                    if !clean_start {
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
        session.conn = Some(conn);
        self.sessions.insert(client_id.to_owned(), session);
        if let Some(will) = ended_will {
            self.publish(client_id, &will, true);
        }
        session_present
    }

    /// Connection `conn_id` of `client_id` ended, its session to last `expiry` seconds
    /// more (`u32::MAX`: for ever; 0: it ends now). Nothing happens unless the connection
    /// still owns the session (it was not taken over).
    pub(crate) fn leave_session(
        &mut self,
        client_id: &str,
        conn_id: u64,
        expiry: u32,
        now: Instant,
    ) -> Left {
        let Some(session) = self.owned_session_mut(client_id, conn_id) else {
            return Left::NotOwned;
        };
        let expires_at = (expiry != u32::MAX).then(|| now + Duration::from_secs(u64::from(expiry)));
        session.conn = None;
        // QoS 0 messages are not kept for an absent client.
        session.pending.retain(|q| q.qos != QoS::AtMostOnce);
        session.persistent = expiry > 0;
        session.left_by = Some(conn_id);
        session.expires_at = expires_at;
        if session.persistent {
            Left::Kept { expires_at }
        } else {
            self.sessions.remove(client_id);
            Left::Ended
        }
    }

    /// Report a fault rule that fired for `client_id`.
    pub(crate) fn fault_fired(&mut self, client_id: &str, fault: Fault) {
        tracing::info!(client_id, ?fault, "fault injected");
        self.emit(Event::FaultFired {
            client_id: client_id.to_owned(),
            fault,
        });
    }

    /// Count a packet of `client_id` on connection `conn_id` against the fault rules; the
    /// first rule that fires decides (and is reported).
    pub(crate) fn fault_for_packet(
        &mut self,
        client_id: &str,
        conn_id: u64,
        direction: Direction,
        packet: mqtt_proto::PacketType,
    ) -> Action {
        let (action, fired) = self
            .faults
            .for_packet(client_id, conn_id, direction, packet);
        if let Some(fault) = fired {
            self.fault_fired(client_id, fault);
        }
        action
    }

    /// The first fault rule for connection `conn_id` of `client_id` that `pick` accepts,
    /// fired and reported.
    pub(crate) fn take_fault<T>(
        &mut self,
        client_id: &str,
        conn_id: u64,
        pick: impl Fn(&Fault) -> Option<T>,
    ) -> Option<T> {
        let (value, fault) = self.faults.take(client_id, conn_id, pick)?;
        self.fault_fired(client_id, fault);
        Some(value)
    }

    /// The code a [`Fault::RefuseConnect`] rule refuses this CONNECT with, if one fires.
    pub(crate) fn fault_refuse_connect(
        &mut self,
        client_id: &str,
        conn_id: u64,
    ) -> Option<mqtt_proto::ConnectReason> {
        self.take_fault(client_id, conn_id, |f| match f {
            Fault::RefuseConnect(reason) => Some(*reason),
            _ => None,
        })
    }

    /// The Session Present flag a [`Fault::SessionPresent`] rule forces, if one fires.
    pub(crate) fn fault_session_present(&mut self, client_id: &str, conn_id: u64) -> Option<bool> {
        self.take_fault(client_id, conn_id, |f| match f {
            Fault::SessionPresent(p) => Some(*p),
            _ => None,
        })
    }

    /// Whether a [`Fault::DuplicatePublish`] rule fires for the PUBLISH being sent.
    pub(crate) fn fault_duplicate_publish(&mut self, client_id: &str, conn_id: u64) -> bool {
        self.take_fault(client_id, conn_id, |f| {
            matches!(f, Fault::DuplicatePublish).then_some(())
        })
        .is_some()
    }

    /// How long to hold a received packet of type `packet` before processing it, if a
    /// [`Fault::DelayReceived`] rule fires for it.
    pub(crate) fn fault_delay_received(
        &mut self,
        client_id: &str,
        conn_id: u64,
        packet: mqtt_proto::PacketType,
    ) -> Option<Duration> {
        self.take_fault(client_id, conn_id, |f| match f {
            Fault::DelayReceived { packet: p, by } if *p == packet => Some(*by),
            _ => None,
        })
    }

    /// The shortest [`Fault::CloseAfterTime`] armed for connection `conn_id` of
    /// `client_id`, without firing it.
    pub(crate) fn fault_close_timer(&self, client_id: &str, conn_id: u64) -> Option<Duration> {
        self.faults.close_timer(client_id, conn_id)
    }

    /// A close timer of connection `conn_id` came due: fire the shortest
    /// [`Fault::CloseAfterTime`] rule still armed (whether to close).
    pub(crate) fn fire_close_timer(&mut self, client_id: &str, conn_id: u64) -> bool {
        let Some(shortest) = self.fault_close_timer(client_id, conn_id) else {
            return false;
        };
        self.take_fault(client_id, conn_id, |f| {
            matches!(f, Fault::CloseAfterTime { after } if *after == shortest).then_some(())
        })
        .is_some()
    }

    /// Connection `conn_id` ended: its own fault rules go with it.
    pub(crate) fn drop_connection_faults(&mut self, conn_id: u64) {
        self.faults.drop_connection(conn_id);
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
            // Asked once per session, at its first matching subscription.
            let mut readable = None;
            for sub in &session.subscriptions {
                if !sub.filter.matches(topic) {
                    continue;
                }
                // An authorizer may keep a topic from a session, whatever filter matches
                // it (mosquitto checks read access per message).
                let readable = *readable.get_or_insert_with(|| {
                    self.config.allows(
                        client_id,
                        session.username.as_deref(),
                        topic.as_str(),
                        Access::Read,
                    )
                });
                if !readable {
                    break;
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
        let username = self
            .sessions
            .get(client_id)
            .and_then(|s| s.username.as_deref());
        for (topic, retained) in &self.retained {
            if !filter.matches(&retained.publish.topic) {
                continue;
            }
            if !self.config.allows(client_id, username, topic, Access::Read) {
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
