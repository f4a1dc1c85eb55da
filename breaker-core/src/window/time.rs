//! A time-based sliding window of `B` fixed buckets.

use core::fmt;

use portable_atomic::{AtomicU64, Ordering};

use super::{Counts, Sample, Window, WindowKind, MAX_TIME_BUCKETS};
use crate::clock::{Duration, Instant};

const FIELD: u32 = 16;
const MAX: u64 = (1 << FIELD) - 1;

/// The calls of the last `B` buckets of a configured width (the current bucket included).
///
/// Each bucket is one atomic word, `tag | calls << 16 | failures << 32 | slow << 48`, where the tag
/// is the bucket's number (`now / width`, modulo 2^16). A record that finds an older tag starts the
/// bucket afresh, so buckets expire without any sweep, and the window slides bucket by bucket.
///
/// Limits, stated rather than hidden: a bucket counts at most 65,535 calls (later ones in the same
/// bucket are sampled out, which keeps the rates right for any steady mix); and a bucket left
/// untouched for exactly a multiple of 65,536 bucket widths would be read as current.
pub struct TimeWindow<const B: usize> {
    buckets: [AtomicU64; B],
}

impl<const B: usize> fmt::Debug for TimeWindow<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeWindow").field("buckets", &B).finish()
    }
}

fn bucket_number(now: Instant, width: Duration) -> u64 {
    now.as_micros() / width.as_micros().max(1)
}

impl<const B: usize> Window for TimeWindow<B> {
    const KIND: WindowKind = WindowKind::Time {
        buckets: if B > MAX_TIME_BUCKETS as usize {
            u32::MAX
        } else {
            B as u32
        },
    };
    const NEW: Self = TimeWindow {
        buckets: [const { AtomicU64::new(0) }; B],
    };

    fn record(&self, now: Instant, width: Duration, sample: Sample) -> Counts {
        if B == 0 {
            return Counts::default();
        }
        let number = bucket_number(now, width);
        let tag = number & MAX;
        let bucket = &self.buckets[(number % B as u64) as usize];
        let add = (1 << FIELD)
            | ((sample.failure as u64) << (2 * FIELD))
            | ((sample.slow as u64) << (3 * FIELD));
        let _ = bucket.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
            let word = if word & MAX == tag { word } else { tag };
            if (word >> FIELD) & MAX == MAX {
                None // full: sample this call out
            } else {
                Some(word + add)
            }
        });
        self.counts(now, width)
    }

    fn counts(&self, now: Instant, width: Duration) -> Counts {
        let current = bucket_number(now, width) & MAX;
        let mut c = Counts::default();
        for bucket in &self.buckets {
            let word = bucket.load(Ordering::Relaxed);
            let age = current.wrapping_sub(word & MAX) & MAX;
            if age < B as u64 {
                c.calls += ((word >> FIELD) & MAX) as u32;
                c.failures += ((word >> (2 * FIELD)) & MAX) as u32;
                c.slow += ((word >> (3 * FIELD)) & MAX) as u32;
            }
        }
        c
    }

    fn reset(&self) {
        // An all-zero bucket adds nothing whatever its tag, so zeroing is a complete reset.
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_expire_as_time_passes() {
        let w = TimeWindow::<3>::NEW;
        let width = Duration::from_secs(1);
        let at = |s: u64| Instant::from_micros(s * 1_000_000 + 10);
        let f = Sample {
            failure: true,
            slow: false,
        };
        let ok = Sample::default();
        w.record(at(0), width, f);
        w.record(at(1), width, ok);
        assert_eq!(
            w.record(at(2), width, f),
            Counts {
                calls: 3,
                failures: 2,
                slow: 0
            }
        );
        // Second 0 leaves the window at second 3.
        assert_eq!(
            w.counts(at(3), width),
            Counts {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(w.counts(at(5), width), Counts::default());
        assert_eq!(
            w.record(at(9), width, ok),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        w.reset();
        assert_eq!(w.counts(at(9), width), Counts::default());
    }
}
