//! A window whose kind and size come from the configuration at run time (with `alloc`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use once_cell::race::OnceBox;
use portable_atomic::{AtomicU64, AtomicU8, AtomicUsize};

use super::{count, time, Counts, Evidence, Sample, Window, WindowKind};
use crate::clock::Instant;
use crate::config::Settings;

/// A count or time window sized at run time, from the configuration
/// ([`count_window_sized`](crate::ConfigBuilder::count_window_sized),
/// [`time_window_sized`](crate::ConfigBuilder::time_window_sized)): a breaker's type does not
/// change with its window's size, `CircuitBreaker<Clock, Config<DynWindow>>` for any.
///
/// It runs the same algorithms as [`super::CountWindow`] and [`super::TimeWindow`] (the same code,
/// over a boxed slice instead of an array), with the same limits and the same guarantees:
/// lock-free, `O(1)` per recorded outcome, exact once no record or reset is in flight.
///
/// Its storage is allocated once per breaker, by the breaker's first recorded outcome (so
/// [`CircuitBreaker::new`](crate::CircuitBreaker::new) stays `const`), through a set-once box:
/// threads that record the very first outcomes at the same moment may each allocate, one wins,
/// the others free theirs. Before that first outcome the window is empty, and reading or
/// resetting it allocates nothing.
///
/// Used on its own rather than in a breaker, build it with [`DynWindow::with_kind`]: a window
/// from [`Window::NEW`] learns its size from the [`Settings`] that the breaker passes to
/// [`Window::record_for`], and [`Window::record`] on it before then has nowhere to count and
/// returns empty counts.
pub struct DynWindow {
    storage: OnceBox<Storage>,
    evidence: Evidence,
}

enum Storage {
    Count {
        seq: AtomicUsize,
        totals: AtomicU64,
        slots: Box<[AtomicU8]>,
    },
    Time {
        buckets: Box<[AtomicU64]>,
        head: AtomicU64,
        calls_failures: AtomicU64,
        slow: AtomicU64,
    },
    /// Not a window (a configuration without one never records; kept for completeness).
    None,
}

impl Storage {
    fn new(kind: WindowKind) -> Storage {
        match kind {
            WindowKind::Count { size } => Storage::Count {
                seq: AtomicUsize::new(0),
                totals: AtomicU64::new(0),
                slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            },
            WindowKind::Time { buckets } => Storage::Time {
                buckets: (0..buckets)
                    .map(|_| AtomicU64::new(0))
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
                head: AtomicU64::new(0),
                calls_failures: AtomicU64::new(0),
                slow: AtomicU64::new(0),
            },
            WindowKind::None => Storage::None,
        }
    }

    fn kind(&self) -> WindowKind {
        match self {
            Storage::Count { slots, .. } => WindowKind::Count {
                size: slots.len() as u32,
            },
            Storage::Time { buckets, .. } => WindowKind::Time {
                buckets: buckets.len() as u32,
            },
            Storage::None => WindowKind::None,
        }
    }

    fn record(&self, now: Instant, width: u64, sample: Sample) -> Counts {
        match self {
            Storage::Count { seq, totals, slots } => {
                count::Parts { seq, totals, slots }.record(sample)
            }
            Storage::Time {
                buckets,
                head,
                calls_failures,
                slow,
            } if !buckets.is_empty() => time::Parts {
                buckets,
                head,
                calls_failures,
                slow,
            }
            .record(time::bucket_number(now, width), sample),
            _ => Counts::default(),
        }
    }

    fn counts(&self, now: Instant, width: u64) -> Counts {
        match self {
            Storage::Count { seq, totals, slots } => count::Parts { seq, totals, slots }.counts(),
            Storage::Time {
                buckets,
                head,
                calls_failures,
                slow,
            } if !buckets.is_empty() => time::Parts {
                buckets,
                head,
                calls_failures,
                slow,
            }
            .counts(time::bucket_number(now, width)),
            _ => Counts::default(),
        }
    }

    fn reset(&self) {
        match self {
            Storage::Count { seq, totals, slots } => count::Parts { seq, totals, slots }.reset(),
            Storage::Time {
                buckets,
                head,
                calls_failures,
                slow,
            } => time::Parts {
                buckets,
                head,
                calls_failures,
                slow,
            }
            .reset(),
            Storage::None => {}
        }
    }
}

impl DynWindow {
    /// A window of `kind`, its storage allocated now (for use outside a breaker; a breaker
    /// allocates its window on its first recorded outcome).
    ///
    /// # Errors
    ///
    /// [`ConfigErrorKind::WindowSize`](crate::ConfigErrorKind::WindowSize) for an empty window
    /// or one above [`super::MAX_COUNT_WINDOW`] calls or [`super::MAX_TIME_BUCKETS`] buckets.
    pub fn with_kind(kind: WindowKind) -> Result<DynWindow, crate::ConfigError> {
        use crate::config::{ConfigError, ConfigErrorKind};
        let (field, size, max) = match kind {
            WindowKind::Count { size } => ("count_window_sized", size, super::MAX_COUNT_WINDOW),
            WindowKind::Time { buckets } => ("time_window_sized", buckets, super::MAX_TIME_BUCKETS),
            WindowKind::None => ("window", 0, 0),
        };
        if size == 0 || size > max {
            return Err(ConfigError::new(
                field,
                ConfigErrorKind::WindowSize { window: kind, max },
            ));
        }
        let w = <DynWindow as Window>::NEW;
        // A fresh box: nobody else can have set it.
        let _ = w.storage.set(Box::new(Storage::new(kind)));
        Ok(w)
    }

    /// The window's kind and size, once its storage is allocated.
    pub fn kind(&self) -> Option<WindowKind> {
        self.storage.get().map(Storage::kind)
    }
}

impl fmt::Debug for DynWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynWindow")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl Window for DynWindow {
    /// A placeholder: the kind is the configuration's, [`Settings::window`] (see
    /// [`Window::SIZED_AT_RUN_TIME`]).
    const KIND: WindowKind = WindowKind::None;
    const SIZED_AT_RUN_TIME: bool = true;
    const NEW: Self = DynWindow {
        storage: OnceBox::new(),
        evidence: Evidence::new(),
    };

    fn record(&self, now: Instant, bucket_micros: u64, sample: Sample) -> Counts {
        match self.storage.get() {
            Some(s) => s.record(now, bucket_micros, sample),
            None => Counts::default(),
        }
    }

    fn record_for(&self, settings: &Settings, now: Instant, sample: Sample) -> Counts {
        // Allocated once, by the first outcome: one atomic load on every later record.
        let storage = self
            .storage
            .get_or_init(|| Box::new(Storage::new(settings.window())));
        storage.record(now, settings.bucket_micros(), sample)
    }

    fn counts(&self, now: Instant, bucket_micros: u64) -> Counts {
        match self.storage.get() {
            Some(s) => s.counts(now, bucket_micros),
            None => Counts::default(),
        }
    }

    fn reset(&self) {
        if let Some(s) = self.storage.get() {
            s.reset();
        }
    }

    fn keep_evidence(&self, counts: Counts) {
        self.evidence.keep(counts);
    }

    fn evidence(&self) -> Counts {
        self.evidence.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_out_of_range_are_refused() {
        for kind in [
            WindowKind::Count { size: 0 },
            WindowKind::Count {
                size: super::super::MAX_COUNT_WINDOW + 1,
            },
            WindowKind::Time { buckets: 0 },
            WindowKind::Time {
                buckets: super::super::MAX_TIME_BUCKETS + 1,
            },
            WindowKind::None,
        ] {
            assert!(DynWindow::with_kind(kind).is_err(), "{kind:?}");
        }
        let w = DynWindow::with_kind(WindowKind::Count { size: 3 }).unwrap();
        assert_eq!(w.kind(), Some(WindowKind::Count { size: 3 }));
    }

    #[test]
    fn an_unallocated_window_is_empty_and_allocates_on_the_first_record() {
        let w = DynWindow::NEW;
        assert_eq!(w.kind(), None);
        w.reset();
        assert_eq!(w.counts(Instant::ZERO, 1), Counts::default());
        assert_eq!(w.kind(), None);
        let s = crate::Config::builder()
            .count_window_sized(2)
            .failure_rate(0.5)
            .minimum_calls(2)
            .build()
            .unwrap();
        let f = Sample {
            failure: true,
            slow: false,
        };
        w.record_for(s.settings(), Instant::ZERO, f);
        w.record_for(s.settings(), Instant::ZERO, Sample::default());
        assert_eq!(w.kind(), Some(WindowKind::Count { size: 2 }));
        assert_eq!(
            w.record_for(s.settings(), Instant::ZERO, Sample::default()),
            Counts {
                calls: 2,
                failures: 0,
                slow: 0
            }
        );
    }
}
