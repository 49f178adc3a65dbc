//! Exponential backoff with full jitter, and the crate's one random source (`fastrand`).
//! A leaf: it takes the policy's durations, not the `Reconnect` options.

use std::time::Duration;

/// A random number (for jitter and generated client ids, not for cryptography).
pub(crate) fn random_u64() -> u64 {
    fastrand::u64(..)
}

/// The delay before reconnection attempt `attempt` (from 0): uniform in
/// `0..=min(max_delay, min_delay * 2^attempt)`.
pub(crate) fn delay(min_delay: Duration, max_delay: Duration, attempt: u32) -> Duration {
    let cap = min_delay
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(max_delay)
        .min(max_delay);
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(fastrand::u64(..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_the_exponential_cap() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for attempt in 0..40 {
            let cap = Duration::from_millis(100)
                .saturating_mul(1 << attempt.min(20))
                .min(Duration::from_secs(5));
            for _ in 0..50 {
                assert!(delay(min, max, attempt) <= cap);
            }
        }
    }

    #[test]
    fn an_unbounded_max_delay_does_not_overflow() {
        for attempt in [0, 1, 31, 40] {
            let _ = delay(Duration::from_secs(u64::MAX / 2), Duration::MAX, attempt);
        }
    }

    #[test]
    fn delays_are_jittered() {
        // The defaults of `Reconnect`: 100 ms doubling up to 30 s.
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(30));
        let d: std::collections::HashSet<_> = (0..20).map(|_| delay(min, max, 10)).collect();
        assert!(d.len() > 10, "full jitter gives distinct delays: {d:?}");
    }
}
