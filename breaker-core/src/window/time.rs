//! A time-based sliding window of `B` fixed buckets.

use core::fmt;

use portable_atomic::{AtomicU64, Ordering};

use super::{Counts, Sample, Window, WindowKind, MAX_TIME_BUCKETS};
use crate::clock::{Duration, Instant};

const FIELD: u32 = 21;
const MASK: u64 = (1 << FIELD) - 1;

/// The calls of the last `B` buckets of a configured width (the current bucket included).
///
/// Each bucket is two atomic words: the full number of the bucket it holds (`now / width`), and
/// its counts, `calls | failures << 21 | slow << 42`. A record that finds an older number claims
/// the bucket with a compare-and-swap and starts its counts afresh, so buckets expire without a
/// sweep and the window slides bucket by bucket. Full bucket numbers mean an idle bucket can never
/// be mistaken for a current one, however long it sat unused.
///
/// Stated limits: a bucket counts up to 2^21 - 1 calls (later ones in the same bucket are
/// sampled out, which keeps the rates of a steady mix); and a record racing the claim of its
/// bucket by another thread may be lost, or a reader may see the expired counts for that instant.
pub struct TimeWindow<const B: usize> {
    numbers: [AtomicU64; B],
    counts: [AtomicU64; B],
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
        numbers: [const { AtomicU64::new(0) }; B],
        counts: [const { AtomicU64::new(0) }; B],
    };

    fn record(&self, now: Instant, width: Duration, sample: Sample) -> Counts {
        if B == 0 {
            return Counts::default();
        }
        let number = bucket_number(now, width);
        let slot = (number % B as u64) as usize;
        let held = self.numbers[slot].load(Ordering::Acquire);
        if held != number {
            // A thread that read the clock a moment earlier may find the bucket already claimed
            // for a later number: its outcome is older than the bucket, so it is dropped.
            let claim = if held < number {
                self.numbers[slot].compare_exchange(
                    held,
                    number,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
            } else {
                Err(held)
            };
            match claim {
                Ok(_) => self.counts[slot].store(0, Ordering::Release),
                Err(now_held) if now_held == number => {} // another caller claimed it for us
                Err(_) => return self.counts(now, width),
            }
        }
        let add = 1 | ((sample.failure as u64) << FIELD) | ((sample.slow as u64) << (2 * FIELD));
        let _ = self.counts[slot].fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            (word & MASK != MASK).then_some(word + add)
        });
        self.counts(now, width)
    }

    fn counts(&self, now: Instant, width: Duration) -> Counts {
        let current = bucket_number(now, width);
        let mut c = Counts::default();
        for (number, counts) in self.numbers.iter().zip(&self.counts) {
            let age = current.wrapping_sub(number.load(Ordering::Acquire));
            if age < B as u64 {
                let word = counts.load(Ordering::Acquire);
                c.calls += (word & MASK) as u32;
                c.failures += ((word >> FIELD) & MASK) as u32;
                c.slow += ((word >> (2 * FIELD)) & MASK) as u32;
            }
        }
        c
    }

    fn reset(&self) {
        // Zero counts add nothing whatever bucket they are tagged with.
        for counts in &self.counts {
            counts.store(0, Ordering::Relaxed);
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
