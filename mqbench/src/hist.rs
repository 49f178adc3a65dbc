//! A log-linear histogram of latencies (microseconds), shared by every subscriber task:
//! 64 buckets per power of two (values below 128 exact), so a percentile is within 1.6% of
//! the true value; atomics, so recording takes no lock.

use std::sync::atomic::{AtomicU64, Ordering};

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values up to 2^40 µs (12 days) have buckets; larger ones count in the last.
const MAX_EXP: u32 = 40;
const BUCKETS: usize = (2 * SUB + (MAX_EXP as u64 - SUB_BITS as u64) * SUB) as usize;

/// Latency histogram.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn index(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= 7
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let mantissa = v >> (exp - SUB_BITS); // in SUB..2*SUB
    (2 * SUB + u64::from(exp - SUB_BITS - 1) * SUB + (mantissa - SUB)) as usize
}

/// The largest value of bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB {
        return i;
    }
    let exp = (i - 2 * SUB) / SUB + u64::from(SUB_BITS) + 1;
    let mantissa = (i - 2 * SUB) % SUB + SUB;
    ((mantissa + 1) << (exp - u64::from(SUB_BITS))) - 1
}

impl Histogram {
    /// Record one value.
    pub fn record(&self, v: u64) {
        self.buckets[index(v)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The largest value recorded (exact).
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The value at quantile `q` (0..=1): the upper bound of its bucket, never above the
    /// maximum; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let count = self.count();
        if count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return upper(i).min(self.max());
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_values() {
        for v in (0..100_000u64).chain([1 << 20, (1 << 39) + 12345, u64::MAX / 2]) {
            let i = index(v);
            assert!(i < BUCKETS);
            if v < 1 << MAX_EXP {
                assert!(upper(i) >= v, "{v} above its bucket {i} ({})", upper(i));
                assert!(i == 0 || upper(i - 1) < v, "{v} belongs below bucket {i}");
                assert!(upper(i) - v <= v / 64, "{v}: bucket too wide");
            }
        }
    }

    #[test]
    fn quantiles() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 1000);
        let p50 = h.quantile(0.5);
        assert!((500..=508).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 1000);
    }
}
