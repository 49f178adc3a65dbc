//! The messages inflight to a client: sent, not fully acknowledged, in sending order and
//! indexed by packet id.

use std::collections::{HashMap, VecDeque};

use mqtt_proto::{PacketId, Publish};
use tokio::time::Instant;

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
    pub(crate) resend_due: bool,
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

    pub(crate) fn push_back(&mut self, m: Inflight) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use mqtt_proto::QosPid;

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
