//! The server side of a session (3.1.1 §4.1, 5.0 §4.1): subscriptions, the queue of
//! messages not sent yet, the inflight window and inbound QoS 2 ids; and the handle of the
//! live connection that owns it.

mod inflight;

use std::collections::{HashMap, HashSet, VecDeque};

use mqtt_proto::{PacketId, Publish, QoS, QosPid, SubscribeFilter, SubscriptionId};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub(crate) use inflight::{Inflight, InflightList, OutState};

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

/// The server side of a session (3.1.1 §4.1, 5.0 §4.1).
#[derive(Debug)]
pub(crate) struct Session {
    /// Kept after the connection ends (clean session 0, or a 5.0 Session Expiry > 0).
    pub(crate) persistent: bool,
    /// The user name of the CONNECT that last opened the session (for the authorizer).
    pub(crate) username: Option<String>,
    /// Subscriptions in the order they were made; one per filter [MQTT-3.8.4-3].
    pub(crate) subscriptions: Vec<SubscribeFilter>,
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
            username: None,
        }
    }

    /// Whether connection `conn_id` owns this session.
    pub(crate) fn owned_by(&self, conn_id: u64) -> bool {
        self.conn.as_ref().is_some_and(|c| c.id == conn_id)
    }

    /// Whether the session has a subscription to exactly this filter.
    pub(crate) fn has_subscription(&self, filter: &str) -> bool {
        self.subscription_index.contains_key(filter)
    }

    /// Add `sub`, or replace the subscription to the same filter, its Subscription
    /// Identifier included [MQTT-3.8.4-3]. Returns whether it replaced one.
    pub(crate) fn subscribe(&mut self, sub: SubscribeFilter, id: Option<SubscriptionId>) -> bool {
        let filter = sub.filter.as_str().to_owned();
        match id {
            Some(sid) => {
                self.subscription_ids.insert(filter.clone(), sid);
            }
            None => {
                self.subscription_ids.remove(&filter);
            }
        }
        let index = self.subscription_index.get(&filter).copied();
        if let Some(old) = index.and_then(|i| self.subscriptions.get_mut(i)) {
            *old = sub;
            true
        } else {
            self.subscription_index
                .insert(filter, self.subscriptions.len());
            self.subscriptions.push(sub);
            false
        }
    }

    /// Remove the subscription to `filter`; returns whether there was one.
    pub(crate) fn unsubscribe(&mut self, filter: &str) -> bool {
        let before = self.subscriptions.len();
        if self.subscription_index.remove(filter).is_some() {
            self.subscriptions.retain(|s| s.filter.as_str() != filter);
            self.subscription_index = self
                .subscriptions
                .iter()
                .enumerate()
                .map(|(i, s)| (s.filter.as_str().to_owned(), i))
                .collect();
        }
        self.subscription_ids.remove(filter);
        self.subscriptions.len() < before
    }

    /// A packet id not used by any inflight message. The window is at most 65535 wide, so
    /// one is always free when there is room in it.
    fn alloc_pid(&mut self) -> PacketId {
        loop {
            let candidate = PacketId::new(self.next_pid);
            self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
            if let Some(pid) = candidate
                && !self.inflight.contains(pid)
            {
                return pid;
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
