//! A count-based sliding window over the last `N` calls.

use core::fmt;

use portable_atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use super::{Counts, Sample, Window, WindowKind, MAX_COUNT_WINDOW};
use crate::clock::Instant;

const FAILED: u8 = 1;
const SLOW: u8 = 2;
const FILLED: u8 = 4;

const FIELD: u32 = 21;
const MASK: u64 = (1 << FIELD) - 1;

/// The last `N` calls, as a ring of one byte per call plus packed totals.
///
/// Recording moves the ring's position with a plain load and store (no locked instruction), puts
/// the call's outcome into the slot there, and adjusts the totals by the difference between the
/// new outcome and the one it replaces. In the steady state (a success replacing a success) that
/// is loads and one store: no atomic read-modify-write, so a window costs a few nanoseconds and
/// does not serialise threads. An outcome leaves the window when it is `N` calls old.
///
/// Single-threaded the window is exact. Under contention, calls that record at the same instant
/// may be given the same slot, and the later outcome replaces the earlier: the window then samples
/// the most recent calls rather than holding every one. The totals always equal what the slots
/// hold (each slot change, by `record` or by `reset`, is an atomic swap, and the totals move by
/// exactly its difference), so rates stay consistent: they are off only while a record or a reset
/// is between its swap and its add, by that record's one outcome (or, for a reset, by what it
/// has cleared and not yet subtracted), and never lastingly.
///
/// `N` must be between 1 and [`MAX_COUNT_WINDOW`]; [`crate::ConfigBuilder::build`] checks it.
pub struct CountWindow<const N: usize> {
    /// The next slot, in `0..N`.
    seq: AtomicUsize,
    /// `calls | failures << 21 | slow << 42`.
    totals: AtomicU64,
    slots: [AtomicU8; N],
    evidence: super::Evidence,
}

impl<const N: usize> fmt::Debug for CountWindow<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountWindow")
            .field("size", &N)
            .field("counts", &self.counts(Instant::ZERO, 0))
            .finish()
    }
}

impl<const N: usize> CountWindow<N> {
    #[inline(always)]
    fn parts(&self) -> Parts<'_> {
        Parts {
            seq: &self.seq,
            totals: &self.totals,
            slots: &self.slots,
        }
    }
}

/// The window's algorithm over borrowed storage: the array of a [`CountWindow`], or the boxed
/// slice of a window sized at run time ([`super::DynWindow`]). Always inlined, so that for an
/// array the slice's length is the constant `N` and the code is what it was for the array.
pub(crate) struct Parts<'a> {
    pub(crate) seq: &'a AtomicUsize,
    pub(crate) totals: &'a AtomicU64,
    pub(crate) slots: &'a [AtomicU8],
}

impl Parts<'_> {
    #[inline(always)]
    fn unpack(&self, word: u64) -> Counts {
        let n = self.slots.len();
        // A field above the capacity is one a racing reset made momentarily negative: read it as 0.
        let field = |shift: u32| {
            let v = ((word >> shift) & MASK) as u32;
            if v as usize > n {
                0
            } else {
                v
            }
        };
        let calls = field(0);
        Counts {
            calls,
            failures: field(FIELD).min(calls),
            slow: field(2 * FIELD).min(calls),
        }
    }

    #[inline(always)]
    pub(crate) fn record(&self, sample: Sample) -> Counts {
        let n = self.slots.len();
        if n == 0 {
            return Counts::default();
        }
        // A load and a store rather than `fetch_add`: see the type's documentation.
        // The position wraps at `n` itself (no division on the hot path); every stored position
        // is below `n`, and `min` says so to the compiler, which drops the bounds check.
        let pos = self.seq.load(Ordering::Relaxed).min(n - 1);
        self.seq
            .store(if pos + 1 == n { 0 } else { pos + 1 }, Ordering::Relaxed);
        let slot = &self.slots[pos];
        let new = FILLED | (sample.failure as u8 * FAILED) | (sample.slow as u8 * SLOW);
        // In the steady state the slot already holds the same outcome: a load, no write.
        let cur = slot.load(Ordering::Relaxed);
        let old = if cur == new {
            cur
        } else {
            slot.swap(new, Ordering::Relaxed)
        };
        let delta = |bit: u8, shift: u32| -> u64 {
            let d = (new & bit != 0) as i64 - (old & bit != 0) as i64;
            (d << shift) as u64
        };
        let add = delta(FILLED, 0)
            .wrapping_add(delta(FAILED, FIELD))
            .wrapping_add(delta(SLOW, 2 * FIELD));
        let word = if add == 0 {
            self.totals.load(Ordering::Relaxed)
        } else {
            self.totals
                .fetch_add(add, Ordering::Relaxed)
                .wrapping_add(add)
        };
        self.unpack(word)
    }

    #[inline(always)]
    pub(crate) fn counts(&self) -> Counts {
        self.unpack(self.totals.load(Ordering::Relaxed))
    }

    #[inline(always)]
    pub(crate) fn reset(&self) {
        // Rare (when the breaker closes). Each slot is emptied with its own atomic swap and the
        // totals lose exactly what that swap removed, as `record` adds exactly what its swap
        // changed: every slot change is paired with its own delta, so once the racing records
        // have applied theirs the totals equal the slots again, whatever the interleaving.
        // (Storing 0 into the totals instead would erase the delta of a record whose swap came
        // before the reset and whose add came after it: the totals off for the whole period.)
        // A slot read as empty is left alone: a record filling it now is simply a record of the
        // new period, and its own delta counts it.
        self.seq.store(0, Ordering::Relaxed);
        let mut removed: u64 = 0;
        for slot in self.slots {
            if slot.load(Ordering::Relaxed) != 0 {
                removed += value(slot.swap(0, Ordering::Relaxed));
            }
        }
        if removed != 0 {
            self.totals.fetch_sub(removed, Ordering::Relaxed);
        }
    }
}

impl<const N: usize> Window for CountWindow<N> {
    const KIND: WindowKind = WindowKind::Count {
        size: if N > MAX_COUNT_WINDOW as usize {
            u32::MAX
        } else {
            N as u32
        },
    };
    const NEW: Self = CountWindow {
        seq: AtomicUsize::new(0),
        totals: AtomicU64::new(0),
        slots: [const { AtomicU8::new(0) }; N],
        evidence: super::Evidence::new(),
    };

    fn record(&self, _: Instant, _: u64, sample: Sample) -> Counts {
        self.parts().record(sample)
    }

    fn counts(&self, _: Instant, _: u64) -> Counts {
        self.parts().counts()
    }

    fn keep_evidence(&self, counts: Counts) {
        self.evidence.keep(counts);
    }

    fn evidence(&self) -> Counts {
        self.evidence.get()
    }

    fn reset(&self) {
        self.parts().reset();
    }
}

/// What a slot's byte adds to the packed totals.
fn value(slot: u8) -> u64 {
    (slot & FILLED != 0) as u64
        | (((slot & FAILED != 0) as u64) << FIELD)
        | (((slot & SLOW != 0) as u64) << (2 * FIELD))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<const N: usize>(w: &CountWindow<N>, failure: bool, slow: bool) -> Counts {
        w.record(Instant::ZERO, 0, Sample { failure, slow })
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let w = CountWindow::<4>::NEW;
        assert_eq!(
            rec(&w, true, false),
            Counts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        rec(&w, true, true);
        rec(&w, false, false);
        assert_eq!(
            rec(&w, false, false),
            Counts {
                calls: 4,
                failures: 2,
                slow: 1
            }
        );
        // The two failures are pushed out by successes: a true sliding window.
        rec(&w, false, false);
        assert_eq!(
            rec(&w, false, false),
            Counts {
                calls: 4,
                failures: 0,
                slow: 0
            }
        );
        // After 100 successes, 4 failures fill it again (no running totals since a state change).
        for _ in 0..100 {
            rec(&w, false, false);
        }
        for _ in 0..4 {
            rec(&w, true, false);
        }
        assert_eq!(
            w.counts(Instant::ZERO, 0),
            Counts {
                calls: 4,
                failures: 4,
                slow: 0
            }
        );
        w.reset();
        assert_eq!(w.counts(Instant::ZERO, 0), Counts::default());
        assert_eq!(
            rec(&w, false, false),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn concurrent_records_keep_totals_exact() {
        let w = CountWindow::<64>::NEW;
        std::thread::scope(|s| {
            for t in 0..4 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..10_000 {
                        rec(w, (i + t) % 3 == 0, false);
                    }
                });
            }
        });
        // Whatever the interleaving, the totals equal what the slots hold.
        let failures = w
            .slots
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) & FAILED != 0)
            .count();
        let c = w.counts(Instant::ZERO, 0);
        assert_eq!(c.calls, 64);
        assert_eq!(c.failures as usize, failures);
    }
}
