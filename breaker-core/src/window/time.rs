//! A time-based sliding window of `B` fixed buckets.

use core::fmt;

use portable_atomic::{AtomicU64, Ordering};

#[cfg(test)]
use super::TIME_BUCKET_CAPACITY;
use super::{Counts, Sample, Window, WindowKind, MAX_TIME_BUCKETS};
use crate::clock::Instant;

/// Bits per count in a bucket's word.
const FIELD: u32 = 16;
const MASK: u64 = (1 << FIELD) - 1;
const _: () = assert!(super::TIME_BUCKET_CAPACITY as u64 == MASK);
/// A bucket's word: `calls | failures << 16 | slow << 32 | tag << 48`.
const TAG_SHIFT: u32 = 3 * FIELD;
/// Tags compare modulo 2^16: a tag less than half the range behind another is older.
const TAG_HALF: u64 = 1 << (64 - TAG_SHIFT - 1);
const TAG_MASK: u64 = (TAG_HALF << 1) - 1;

/// The calls of the last `B` buckets of a configured width (the current bucket included).
///
/// Each bucket is ONE atomic word holding both which bucket it is (a 16-bit tag: the bucket's
/// lap, `number / B`, modulo 2^16) and its counts (16 bits apiece), so a bucket's identity and its
/// counts change together: a thread that claims a bucket for a newer number replaces the expired
/// counts in the same compare-and-swap, and nobody can add to, or be judged by, expired counts.
///
/// Running totals of the whole window are kept beside the buckets (`u64` words, so no sum can
/// overflow), and every change of a bucket's counts moves them by exactly that change: the
/// window's counts are two loads. Counts a bucket loses (to a claim or a reset) leave the totals
/// just before the bucket's compare-and-swap, so expired counts are gone from the totals before
/// anyone can see their bucket claimed for a newer number. Time moves the window on without a sweep on every record: a
/// `head` word holds the newest bucket number seen, and the first record in a newer bucket claims
/// the buckets passed since then (at most `B`), subtracting their expired counts from the totals,
/// once each. So recording is `O(1)` per outcome (plus one claim per bucket that passes, shared by
/// all records), and reading is `O(1)` (a read ahead of every record meanwhile subtracts the
/// buckets that expired since, at most `B`).
///
/// Stated limits:
///
/// - A bucket counts up to [`super::TIME_BUCKET_CAPACITY`] calls; later ones in the same bucket are sampled
///   out (which keeps the rates of a steady mix). The window holds at most
///   `B * TIME_BUCKET_CAPACITY` calls; [`crate::ConfigBuilder::build`] refuses a `minimum_calls` above
///   that.
/// - An outcome whose bucket has already left the window when it is recorded (its thread read the
///   clock, then was delayed by `B` buckets or more) is dropped, and its record returns empty
///   counts (no part of the window of its time is still held), so it can trip nothing.
/// - Tags are compared modulo 2^16 laps. A thread stalled between loading the window's head and
///   its compare-and-swap on a bucket for 2^15 laps (`2^15 * B` bucket widths: over 9 hours with
///   ten 100 ms buckets, 33 ms with one 1 µs bucket) may file its one outcome in the bucket's
///   newer lap or drop it. After an idle time of an exact multiple of 2^16 laps the tags of the
///   expired buckets equal the new ones; those expired counts are still cleared, but outcomes
///   recorded by other threads while the first one clears them may be cleared with them.
/// - While records are in flight the counts may be off by their outcomes (see [`Window`]); while
///   two threads claim the same expired bucket at once, the totals may lack that bucket's
///   expired counts a second time for that moment (an under-count, undone by the loser).
pub struct TimeWindow<const B: usize> {
    buckets: [AtomicU64; B],
    /// The newest bucket number whose passed buckets have been claimed.
    head: AtomicU64,
    /// Window totals, `calls | failures << 32`, each a two's-complement `i32` field (a total is
    /// momentarily negative when a claim's subtraction overtakes a record's addition).
    calls_failures: AtomicU64,
    /// Window total of slow calls, two's complement.
    slow: AtomicU64,
    evidence: super::Evidence,
}

impl<const B: usize> fmt::Debug for TimeWindow<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeWindow").field("buckets", &B).finish()
    }
}

pub(super) fn bucket_number(now: Instant, width: u64) -> u64 {
    now.as_micros() / width.max(1)
}

/// The few atomic operations the window needs, so that the algorithm runs unchanged on loom's
/// atomics in the model checks.
pub(crate) trait Atom {
    fn load(&self, order: Ordering) -> u64;
    fn cas(&self, current: u64, new: u64) -> Result<u64, u64>;
    fn fetch_add(&self, v: u64) -> u64;
    fn fetch_max(&self, v: u64) -> u64;
}

impl Atom for AtomicU64 {
    #[inline]
    fn load(&self, order: Ordering) -> u64 {
        AtomicU64::load(self, order)
    }
    #[inline]
    fn cas(&self, current: u64, new: u64) -> Result<u64, u64> {
        self.compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
    #[inline]
    fn fetch_add(&self, v: u64) -> u64 {
        AtomicU64::fetch_add(self, v, Ordering::AcqRel)
    }
    #[inline]
    fn fetch_max(&self, v: u64) -> u64 {
        AtomicU64::fetch_max(self, v, Ordering::AcqRel)
    }
}

/// The window's algorithm over borrowed atomics (the real window's, or loom's in the models).
pub(crate) struct Parts<'a, A> {
    pub(crate) buckets: &'a [A],
    pub(crate) head: &'a A,
    pub(crate) calls_failures: &'a A,
    pub(crate) slow: &'a A,
}

const fn unpack_bucket(word: u64) -> [u64; 3] {
    [
        word & MASK,
        (word >> FIELD) & MASK,
        (word >> (2 * FIELD)) & MASK,
    ]
}

const fn tag_of(word: u64) -> u64 {
    word >> TAG_SHIFT
}

/// `a` is an older tag than `b` (modulo 2^16, within half the range).
const fn older(a: u64, b: u64) -> bool {
    a != b && (b.wrapping_sub(a) & TAG_MASK) < TAG_HALF
}

impl<A: Atom> Parts<'_, A> {
    fn lap_tag(&self, number: u64) -> u64 {
        (number / self.buckets.len() as u64) & TAG_MASK
    }

    fn slot(&self, number: u64) -> &A {
        &self.buckets[(number % self.buckets.len() as u64) as usize]
    }

    /// Moves the totals by `counts_new - counts_old` (each `[calls, failures, slow]`).
    fn account(&self, new: [u64; 3], old: [u64; 3]) {
        let d = |i: usize| new[i].wrapping_sub(old[i]);
        let cf = d(0).wrapping_add(d(1) << 32);
        if cf != 0 {
            self.calls_failures.fetch_add(cf);
        }
        if d(2) != 0 {
            self.slow.fetch_add(d(2));
        }
    }

    /// Takes counts a bucket is about to lose out of the totals BEFORE the compare-and-swap that
    /// removes them from the bucket (and puts them back if it fails). The totals and a bucket
    /// cannot change in one instruction; this order means that expired counts have always left
    /// the totals by the time anyone can see their bucket claimed for a newer number, so no
    /// reader or writer is ever judged by them. The price: while two threads try to claim the
    /// same bucket at once, the loser's removal is undone a moment later (an under-count, by
    /// that expired bucket's counts, for that moment).
    fn remove_first(&self, counts: [u64; 3]) {
        self.account([0; 3], counts);
    }

    /// Adds one outcome at bucket `number` and returns the window's counts after it.
    pub(crate) fn record(&self, number: u64, sample: Sample) -> Counts {
        let b = self.buckets.len() as u64;
        let head = self.head.load(Ordering::Acquire);
        if number > head {
            self.advance(head, number);
        } else if head - number >= b {
            // Its bucket has already left the window: the outcome is older than everything held,
            // and nothing of the window as it stood at its time is still held either. (The
            // totals are the window of a later time: not what this outcome's call should be
            // judged by.)
            return Counts::default();
        }
        let add = [1, sample.failure as u64, sample.slow as u64];
        let tag = self.lap_tag(number);
        let slot = self.slot(number);
        let mut word = slot.load(Ordering::Acquire);
        loop {
            let t = tag_of(word);
            let counts = unpack_bucket(word);
            let (new, expired) = if t == tag {
                if counts[0] == MASK {
                    break; // the bucket is full: sampled out
                }
                (
                    word + (add[0] | add[1] << FIELD | add[2] << (2 * FIELD)),
                    None,
                )
            } else if older(t, tag) {
                // Claimed here (the advance claims it first unless a later record overtook it):
                // the expired counts go in the same compare-and-swap as the new outcome.
                let fresh = tag << TAG_SHIFT | add[0] | add[1] << FIELD | add[2] << (2 * FIELD);
                (fresh, Some(counts))
            } else {
                // The bucket moved on to a newer lap: this outcome has left the window, and so
                // has the window of its time (see above).
                return Counts::default();
            };
            if let Some(expired) = expired {
                self.remove_first(expired);
            }
            match slot.cas(word, new) {
                Ok(_) => {
                    self.account(add, [0; 3]);
                    break;
                }
                Err(actual) => {
                    if let Some(expired) = expired {
                        self.account(expired, [0; 3]); // not ours to remove after all
                    }
                    word = actual;
                }
            }
        }
        self.totals_at(number)
    }

    /// The totals, as the window at bucket `number` once the head is at or past it: the window as
    /// it stands (including buckets begun since `number`, which are the window's present), or
    /// empty if the whole window of `number` has passed meanwhile.
    ///
    /// The head is read after the totals: outcomes of a bucket are added only after their
    /// recorder has moved the head to it, so totals that include them come with a head that
    /// shows it, and a record is never judged by a window that has entirely moved past it.
    fn totals_at(&self, number: u64) -> Counts {
        let t = self.totals();
        let head = self.head.load(Ordering::Acquire);
        if head > number && head - number >= self.buckets.len() as u64 {
            Counts::default()
        } else {
            t
        }
    }

    /// Claims the buckets of the numbers after `head` up to `number` (the last `B` of them), so
    /// their expired counts leave the totals, then publishes `number` as the head.
    fn advance(&self, head: u64, number: u64) {
        let b = self.buckets.len() as u64;
        // `number - (b - 1)`, not `number + 1 - b`: a clock that breaks its contract may report
        // `u64::MAX` µs, and with 1 µs buckets `number + 1` would overflow.
        let first = (head + 1).max(number.saturating_sub(b.saturating_sub(1)));
        for k in first..=number {
            // What the slot held when `head` was published: the number congruent to `k` in
            // `(head - B, head]` (lap 0 for a slot never claimed, whose counts are zero).
            let back = (k - head).div_ceil(b);
            let expected_old = (k / b).saturating_sub(back) & TAG_MASK;
            let tag = self.lap_tag(k);
            let slot = self.slot(k);
            let mut word = slot.load(Ordering::Acquire);
            loop {
                let t = tag_of(word);
                // The expected old lap first: after an idle time of a multiple of 2^16 laps it
                // equals the new tag, and expired counts must not pass for current ones.
                let take = t == expected_old || older(t, tag);
                if !take || word == tag << TAG_SHIFT {
                    break;
                }
                let expired = unpack_bucket(word);
                self.remove_first(expired);
                match slot.cas(word, tag << TAG_SHIFT) {
                    Ok(_) => break,
                    Err(actual) => {
                        self.account(expired, [0; 3]);
                        word = actual;
                    }
                }
            }
        }
        self.head.fetch_max(number);
    }

    /// The window's counts at bucket `number`.
    pub(crate) fn counts(&self, number: u64) -> Counts {
        let b = self.buckets.len() as u64;
        let head = self.head.load(Ordering::Acquire);
        if number <= head {
            return self.totals_at(number);
        }
        if number - head >= b {
            // Every bucket claimed up to `head` has expired, and sequentially nothing was claimed
            // after it; concurrent records are in flight and may be missed.
            return Counts::default();
        }
        // Buckets that expired since the head and are not yet claimed: subtract their counts.
        let mut t = self.signed_totals();
        for k in head + 1..=number {
            let word = self.slot(k).load(Ordering::Acquire);
            if tag_of(word) != self.lap_tag(k) {
                let c = unpack_bucket(word);
                for i in 0..3 {
                    t[i] -= c[i] as i64;
                }
            }
        }
        clamp(t)
    }

    fn signed_totals(&self) -> [i64; 3] {
        let cf = self.calls_failures.load(Ordering::Acquire);
        let slow = self.slow.load(Ordering::Acquire);
        let calls = cf as u32 as i32 as i64;
        // Undo the borrow a negative `calls` field took from `failures`.
        let failures = (cf.wrapping_sub(calls as u64) >> 32) as u32 as i32 as i64;
        [calls, failures, slow as i64]
    }

    /// The totals as they stand.
    fn totals(&self) -> Counts {
        clamp(self.signed_totals())
    }

    /// Empties every bucket, each with its own compare-and-swap whose removed counts leave the
    /// totals: exact against racing records, as each of theirs is paired with its own delta.
    pub(crate) fn reset(&self) {
        for slot in self.buckets {
            let mut word = slot.load(Ordering::Acquire);
            while word & !(TAG_MASK << TAG_SHIFT) != 0 {
                let empty = word & (TAG_MASK << TAG_SHIFT);
                let cleared = unpack_bucket(word);
                self.remove_first(cleared);
                match slot.cas(word, empty) {
                    Ok(_) => break,
                    Err(actual) => {
                        self.account(cleared, [0; 3]);
                        word = actual;
                    }
                }
            }
        }
    }
}

/// Momentary negatives read as 0, parts never above the whole. The totals are at most
/// `4096 * (2^16 - 1)` calls, far below `u32::MAX`.
fn clamp(t: [i64; 3]) -> Counts {
    let calls = t[0].clamp(0, u32::MAX as i64) as u32;
    let part = |v: i64| (v.max(0) as u64).min(calls as u64) as u32;
    Counts {
        calls,
        failures: part(t[1]),
        slow: part(t[2]),
    }
}

impl<const B: usize> TimeWindow<B> {
    fn parts(&self) -> Parts<'_, AtomicU64> {
        Parts {
            buckets: &self.buckets,
            head: &self.head,
            calls_failures: &self.calls_failures,
            slow: &self.slow,
        }
    }
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
        head: AtomicU64::new(0),
        calls_failures: AtomicU64::new(0),
        slow: AtomicU64::new(0),
        evidence: super::Evidence::new(),
    };

    fn keep_evidence(&self, counts: Counts) {
        self.evidence.keep(counts);
    }

    fn evidence(&self) -> Counts {
        self.evidence.get()
    }

    fn record(&self, now: Instant, width: u64, sample: Sample) -> Counts {
        if B == 0 {
            return Counts::default();
        }
        self.parts().record(bucket_number(now, width), sample)
    }

    fn counts(&self, now: Instant, width: u64) -> Counts {
        if B == 0 {
            return Counts::default();
        }
        self.parts().counts(bucket_number(now, width))
    }

    fn reset(&self) {
        self.parts().reset();
    }
}

/// The window's algorithm on loom's atomics, for the model checks in `tests/loom_window.rs`.
#[cfg(loom)]
#[doc(hidden)]
pub mod model {
    use super::{Atom, Counts, Parts, Sample};
    use loom::sync::atomic::{AtomicU64, Ordering};

    impl Atom for AtomicU64 {
        fn load(&self, order: Ordering) -> u64 {
            AtomicU64::load(self, order)
        }
        fn cas(&self, current: u64, new: u64) -> Result<u64, u64> {
            self.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
        }
        fn fetch_add(&self, v: u64) -> u64 {
            AtomicU64::fetch_add(self, v, Ordering::AcqRel)
        }
        fn fetch_max(&self, v: u64) -> u64 {
            AtomicU64::fetch_max(self, v, Ordering::AcqRel)
        }
    }

    /// A time window of `B` buckets on loom's atomics; numbers are bucket numbers.
    #[derive(Debug)]
    pub struct ModelTimeWindow<const B: usize> {
        buckets: [AtomicU64; B],
        head: AtomicU64,
        calls_failures: AtomicU64,
        slow: AtomicU64,
    }

    impl<const B: usize> Default for ModelTimeWindow<B> {
        fn default() -> Self {
            Self {
                buckets: core::array::from_fn(|_| AtomicU64::new(0)),
                head: AtomicU64::new(0),
                calls_failures: AtomicU64::new(0),
                slow: AtomicU64::new(0),
            }
        }
    }

    impl<const B: usize> ModelTimeWindow<B> {
        fn parts(&self) -> Parts<'_, AtomicU64> {
            Parts {
                buckets: &self.buckets,
                head: &self.head,
                calls_failures: &self.calls_failures,
                slow: &self.slow,
            }
        }
        /// Records one outcome in bucket `number`.
        pub fn record(&self, number: u64, sample: Sample) -> Counts {
            self.parts().record(number, sample)
        }
        /// The counts at bucket `number`.
        pub fn counts(&self, number: u64) -> Counts {
            self.parts().counts(number)
        }
        /// Empties the window.
        pub fn reset(&self) {
            self.parts().reset()
        }
        /// Each bucket's `[calls, failures, slow]` if it holds bucket `number`'s lap, else zeros.
        pub fn bucket(&self, number: u64) -> [u64; 3] {
            let p = self.parts();
            let w = p.slot(number).load(Ordering::SeqCst);
            if super::tag_of(w) == p.lap_tag(number) {
                super::unpack_bucket(w)
            } else {
                [0; 3]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_expire_as_time_passes() {
        let w = TimeWindow::<3>::NEW;
        let width = 1_000_000;
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

    #[test]
    fn full_buckets_sum_without_overflow() {
        // 4096 full buckets (filled directly, as 268M records take minutes in a debug build),
        // half of each bucket's calls failures. The old u32 sums of 2^21-call buckets overflowed
        // here: a panic in debug, 100 % in release.
        let w = TimeWindow::<4096>::NEW;
        let p = w.parts();
        let cap = u64::from(TIME_BUCKET_CAPACITY);
        let full = [cap, cap / 2, 1];
        for n in 0..4096u64 {
            p.slot(n).store(
                full[0] | full[1] << FIELD | full[2] << (2 * FIELD),
                Ordering::Relaxed,
            );
            p.account(full, [0; 3]);
        }
        p.head.store(4095, Ordering::Relaxed);
        let width = 1;
        let c = w.counts(Instant::from_micros(0), width);
        assert_eq!(c.calls, 4096 * TIME_BUCKET_CAPACITY);
        assert_eq!(c.failures, 4096 * (TIME_BUCKET_CAPACITY / 2));
        assert_eq!(c.slow, 4096);
        assert_eq!(c.failure_rate_ppm(), 499_992);
        // A full bucket samples out further calls, and the totals stay exact.
        let after = w.record(Instant::from_micros(0), width, Sample::default());
        assert_eq!(after, c);
        // Time moves on: the expired full buckets leave the totals bucket by bucket.
        let c = w.record(Instant::from_micros(4096 + 9), width, Sample::default());
        assert_eq!(c.calls, 4086 * TIME_BUCKET_CAPACITY + 1);
        assert_eq!(c.failures, 4086 * (TIME_BUCKET_CAPACITY / 2));
    }

    #[test]
    fn an_idle_gap_of_whole_tag_laps_does_not_revive_buckets() {
        // After exactly 2^16 laps the tags repeat; the expired counts must still be cleared.
        let w = TimeWindow::<2>::NEW;
        let width = 1;
        let f = Sample {
            failure: true,
            slow: false,
        };
        w.record(Instant::from_micros(0), width, f);
        w.record(Instant::from_micros(1), width, f);
        let later = 2 * (1 << 16);
        assert_eq!(
            w.counts(Instant::from_micros(later), width),
            Counts::default()
        );
        assert_eq!(
            w.record(Instant::from_micros(later + 1), width, Sample::default()),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }
}
