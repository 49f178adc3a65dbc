//! Packet identifiers: one pool over 1..=65535 shared by PUBLISH, SUBSCRIBE and UNSUBSCRIBE
//! [MQTT-2.2.1-3].

use crate::types::PacketId;

/// A set of packet identifiers in use, handing out the next free one after the last.
#[derive(Debug, Clone)]
pub(crate) struct PacketIdPool {
    /// Bit `n` set: identifier `n` is in use (bit 0, for the invalid 0, stays set).
    used: Box<[u64; 1024]>,
    in_use: usize,
    /// The last identifier handed out; the search starts after it, so identifiers are not
    /// reused sooner than needed.
    last: u16,
}

impl PacketIdPool {
    pub(crate) fn new() -> Self {
        let mut used = Box::new([0u64; 1024]);
        used[0] = 1;
        Self {
            used,
            in_use: 0,
            last: 0,
        }
    }

    /// The next free identifier, now in use; `None` when all 65,535 are taken (backpressure).
    pub(crate) fn allocate(&mut self) -> Option<PacketId> {
        if self.in_use == 65_535 {
            return None;
        }
        let start = u32::from(self.last) + 1;
        let id = self
            .find_free(start, 65_535)
            .or_else(|| self.find_free(1, start.saturating_sub(1)))?;
        self.mark(id);
        self.last = id;
        PacketId::new(id)
    }

    /// The lowest free identifier in `from..=to`, a word of 64 at a time.
    fn find_free(&self, from: u32, to: u32) -> Option<u16> {
        let mut v = from;
        while v <= to {
            let word = self.used[(v / 64) as usize];
            let free = !word & (u64::MAX << (v % 64));
            if free != 0 {
                let id = (v / 64) * 64 + free.trailing_zeros();
                return u16::try_from(id).ok().filter(|&id| u32::from(id) <= to);
            }
            v = (v / 64 + 1) * 64;
        }
        None
    }

    pub(crate) fn release(&mut self, id: PacketId) {
        let v = id.get();
        if self.contains_raw(v) {
            self.used[usize::from(v / 64)] &= !(1u64 << (v % 64));
            self.in_use -= 1;
        }
    }

    /// Mark an identifier in use (a restored session's); `false` if it already was.
    pub(crate) fn reserve(&mut self, id: PacketId) -> bool {
        let v = id.get();
        if self.contains_raw(v) {
            return false;
        }
        self.mark(v);
        true
    }

    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    fn contains_raw(&self, v: u16) -> bool {
        self.used[usize::from(v / 64)] & (1u64 << (v % 64)) != 0
    }

    fn mark(&mut self, v: u16) {
        self.used[usize::from(v / 64)] |= 1u64 << (v % 64);
        self.in_use += 1;
    }
}

/// Publishes in flight, in the order they were sent (the order they are resent in
/// [MQTT-4.6.0-1]). Acknowledgements normally arrive in that order too, so looking an
/// identifier up from the front is constant time in practice, with no hashing and no tree.
#[derive(Debug)]
pub(crate) struct Inflight<T> {
    items: std::collections::VecDeque<(PacketId, T)>,
}

impl<T> Default for Inflight<T> {
    fn default() -> Self {
        Self {
            items: std::collections::VecDeque::new(),
        }
    }
}

impl<T> Inflight<T> {
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Append (the identifier is not in flight: the pool hands out free ones only).
    pub(crate) fn insert(&mut self, pid: PacketId, value: T) {
        self.items.push_back((pid, value));
    }

    fn position(&self, pid: PacketId) -> Option<usize> {
        self.items.iter().position(|(p, _)| *p == pid)
    }

    pub(crate) fn get(&self, pid: PacketId) -> Option<&T> {
        self.position(pid)
            .and_then(|i| self.items.get(i))
            .map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, pid: PacketId) -> Option<&mut T> {
        let i = self.position(pid)?;
        self.items.get_mut(i).map(|(_, v)| v)
    }

    pub(crate) fn remove(&mut self, pid: PacketId) -> Option<T> {
        let i = self.position(pid)?;
        self.items.remove(i).map(|(_, v)| v)
    }

    /// In send order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(PacketId, T)> {
        self.items.iter()
    }
}

impl<T> IntoIterator for Inflight<T> {
    type Item = (PacketId, T);
    type IntoIter = std::collections::vec_deque::IntoIter<(PacketId, T)>;

    /// In send order.
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_every_identifier_once_then_none_mqtt_2_2_1_3() {
        let mut pool = PacketIdPool::new();
        let mut seen = vec![false; 65_536];
        for _ in 0..65_535 {
            let id = pool.allocate().unwrap().get();
            assert!(!seen[usize::from(id)], "{id} handed out twice");
            seen[usize::from(id)] = true;
        }
        assert_eq!(pool.allocate(), None);
        assert!(!seen[0]);
        pool.release(PacketId::new(40_000).unwrap());
        assert_eq!(pool.allocate().unwrap().get(), 40_000);
        assert_eq!(pool.allocate(), None);
    }

    #[test]
    fn does_not_reuse_a_released_identifier_at_once() {
        let mut pool = PacketIdPool::new();
        let a = pool.allocate().unwrap();
        pool.release(a);
        let b = pool.allocate().unwrap();
        assert_ne!(a, b);
        assert_eq!(b.get(), 2);
    }

    #[test]
    fn wraps_around_past_65535() {
        let mut pool = PacketIdPool::new();
        for _ in 0..65_535 {
            pool.allocate().unwrap();
        }
        pool.release(PacketId::new(3).unwrap());
        pool.release(PacketId::new(65_535).unwrap());
        // The cursor is at 65535; the next free after it, wrapping, is 3... or 65535 itself
        // once released; the search starts after the last one handed out.
        assert_eq!(pool.allocate().unwrap().get(), 3);
        assert_eq!(pool.allocate().unwrap().get(), 65_535);
        assert_eq!(pool.in_use(), 65_535);
    }
}
