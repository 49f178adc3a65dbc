//! Exponential backoff with full jitter, and the small random source it needs.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::options::Reconnect;

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9E37_79B9_7F4A_7C15);
        h.finish() | 1
    });
}

/// A random number (xorshift64*, seeded per thread from the standard library's hasher
/// keys): for jitter and generated client ids, not for cryptography.
pub(crate) fn random_u64() -> u64 {
    RNG.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// The delay before reconnection attempt `attempt` (from 0): uniform in
/// `0..=min(max_delay, min_delay * 2^attempt)`.
pub(crate) fn delay(policy: &Reconnect, attempt: u32) -> Duration {
    let cap = policy
        .min_delay
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(policy.max_delay)
        .min(policy.max_delay);
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(random_u64() % nanos.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_the_exponential_cap() {
        let policy = Reconnect {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            ..Reconnect::default()
        };
        for attempt in 0..40 {
            let cap = Duration::from_millis(100)
                .saturating_mul(1 << attempt.min(20))
                .min(Duration::from_secs(5));
            for _ in 0..50 {
                assert!(delay(&policy, attempt) <= cap);
            }
        }
    }

    #[test]
    fn an_unbounded_max_delay_does_not_overflow() {
        let policy = Reconnect {
            min_delay: Duration::from_secs(u64::MAX / 2),
            max_delay: Duration::MAX,
            ..Reconnect::default()
        };
        for attempt in [0, 1, 31, 40] {
            let _ = delay(&policy, attempt);
        }
    }

    #[test]
    fn delays_are_jittered() {
        let policy = Reconnect::default();
        let d: std::collections::HashSet<_> = (0..20).map(|_| delay(&policy, 10)).collect();
        assert!(d.len() > 10, "full jitter gives distinct delays: {d:?}");
    }
}
