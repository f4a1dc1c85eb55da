//! Sliding windows of recent outcomes, for the failure-rate and slow-call-rate rules.
//!
//! A window's storage is part of the breaker's type (`CountWindow<100>`, `TimeWindow<10>`), so it
//! is sized at compile time: no allocation, and `O(1)` work per recorded outcome. Both are true
//! sliding windows: an outcome leaves the window when it is `N` calls (or `B` buckets) old,
//! unlike "windows" that keep running totals since the last state change.
//!
//! With `alloc`, `DynWindow` is either kind, its size read from the configuration at run time
//! (a file, the environment), allocated once per breaker; the breaker's type then does not
//! change with the size.
//!
//! The trip decision over a window's [`Counts`] is the pure [`crate::machine::window_trips`].

mod count;
#[cfg(all(feature = "alloc", not(loom)))]
mod sized;
mod time;

pub use count::CountWindow;
#[cfg(all(feature = "alloc", not(loom)))]
pub use sized::DynWindow;
#[cfg(loom)]
#[doc(hidden)]
pub use time::model;
pub use time::TimeWindow;

use crate::clock::Instant;

/// The windows' sizes, defined with the machine's other limits (see [`crate::limits`]).
pub use crate::limits::{MAX_COUNT_WINDOW, MAX_TIME_BUCKETS, TIME_BUCKET_CAPACITY};

/// What a window type is, for the `const` validation in [`crate::ConfigBuilder::build`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// No window: only the consecutive-failures rule can open the breaker.
    None,
    /// The last `size` calls.
    Count {
        /// Calls held.
        size: u32,
    },
    /// `buckets` buckets of the configured width.
    Time {
        /// Buckets held.
        buckets: u32,
    },
}

/// A [`WindowKind`] in three bytes, as [`crate::Settings`] keeps the window of a configuration
/// sized at run time: three bytes fit in the padding `Settings` already has (88 bytes on a
/// 32-bit target either way), so configurations of the fixed windows kept in flash do not grow.
/// `kind:2 | size:22`, the size saturating (the builder refuses sizes that large first).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct PackedKind([u8; 3]);

impl PackedKind {
    pub(crate) const NONE: PackedKind = PackedKind([0; 3]);
    const COUNT: u32 = 1 << 22;
    const TIME: u32 = 2 << 22;
    const SIZE: u32 = (1 << 22) - 1;

    pub(crate) const fn pack(kind: WindowKind) -> PackedKind {
        let v = match kind {
            WindowKind::None => 0,
            WindowKind::Count { size } => Self::COUNT | min(size, Self::SIZE),
            WindowKind::Time { buckets } => Self::TIME | min(buckets, Self::SIZE),
        };
        let b = v.to_le_bytes();
        PackedKind([b[0], b[1], b[2]])
    }

    pub(crate) const fn get(self) -> WindowKind {
        let v = u32::from_le_bytes([self.0[0], self.0[1], self.0[2], 0]);
        let size = v & Self::SIZE;
        match v >> 22 {
            1 => WindowKind::Count { size },
            2 => WindowKind::Time { buckets: size },
            _ => WindowKind::None,
        }
    }
}

const fn min(a: u32, b: u32) -> u32 {
    if a < b {
        a
    } else {
        b
    }
}

/// What one finished call adds to a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sample {
    /// The call failed.
    pub failure: bool,
    /// The call took longer than the slow-call threshold.
    pub slow: bool,
}

/// How many calls a window holds, and how many of them failed or were slow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counts {
    /// Calls in the window.
    pub calls: u32,
    /// Failed calls in the window.
    pub failures: u32,
    /// Slow calls in the window.
    pub slow: u32,
}

impl Counts {
    /// The failure rate in parts per million (0 for an empty window).
    pub const fn failure_rate_ppm(&self) -> u32 {
        ratio_ppm(self.failures, self.calls)
    }
    /// The slow-call rate in parts per million (0 for an empty window).
    pub const fn slow_rate_ppm(&self) -> u32 {
        ratio_ppm(self.slow, self.calls)
    }
}

const fn ratio_ppm(part: u32, whole: u32) -> u32 {
    if whole == 0 {
        0
    } else {
        ((part as u64 * crate::config::PPM as u64) / whole as u64) as u32
    }
}

/// Storage for a sliding window, shared by all threads using one breaker.
///
/// # Contract
///
/// - `record` and `counts` MUST be lock-free, allocation-free and `O(1)` in the number of calls.
/// - Counts MUST be exact once no `record` or `reset` is in flight: they equal what the window
///   then holds, whatever the interleaving that led there. While some are in flight, counts MAY
///   be off by what those in-flight operations have changed and not yet accounted (at most one
///   outcome per recording thread, and what a running `reset` has cleared), never lastingly,
///   and MUST stay within `0..=capacity` and `failures, slow <= calls`.
/// - A `reset` racing a `record` may order either way: the outcome of a call whose record
///   overlaps the reset lands in the old period (and is cleared) or in the new one. Outcomes are
///   never counted twice or lost from the totals on that account. (The breaker drops outcomes of
///   calls admitted in an earlier generation before recording; a record that passed that check
///   just before a transition's reset can still land in the new period: at most one outcome per
///   thread that was recording at that moment.)
pub trait Window: Sync {
    /// What this window is.
    const KIND: WindowKind;
    /// The window's kind and size are the configuration's, read at run time
    /// ([`crate::Settings::window`]) rather than [`Window::KIND`], which is then a placeholder
    /// (`DynWindow`, with `alloc`). `false` for the windows sized at compile time; the breaker and the
    /// configuration's checks branch on it at compile time, so those windows pay nothing.
    const SIZED_AT_RUN_TIME: bool = false;
    /// An empty window (a `const`, so a breaker holding one can be built in a `static`).
    const NEW: Self;
    /// Adds one outcome at `now` and returns the counts after it. `bucket_micros` is the width
    /// of a time window's bucket in microseconds ([`crate::Settings::bucket_micros`]): integer
    /// time, as everywhere on the breaker's own paths.
    fn record(&self, now: Instant, bucket_micros: u64, sample: Sample) -> Counts;
    /// Adds one outcome at `now` for a breaker configured with `settings`, and returns the
    /// counts after it: what the breaker calls. The default is [`Window::record`] with the
    /// configured bucket width; a window sized at run time also learns its size here.
    #[inline(always)]
    fn record_for(&self, settings: &crate::Settings, now: Instant, sample: Sample) -> Counts {
        self.record(now, settings.bucket_micros(), sample)
    }
    /// The counts at `now` (`bucket_micros` as for [`Window::record`]).
    fn counts(&self, now: Instant, bucket_micros: u64) -> Counts;
    /// Empties the window (done when the breaker closes, so every closed period starts afresh).
    fn reset(&self);
    /// Keeps `counts` as the evidence of the last trip (the window is emptied when the breaker
    /// closes, and a time window's counts age: the evidence stays). Windows without storage for
    /// it (the default) keep nothing.
    fn keep_evidence(&self, counts: Counts) {
        let _ = counts;
    }
    /// The counts last kept by [`Window::keep_evidence`] (zero if none).
    fn evidence(&self) -> Counts {
        Counts::default()
    }
}

/// The counts a window kept as the evidence of its last trip, in one atomic word:
/// `calls:20 | failures:20 | slow:20 | shift:4`. Counts of up to 2^20 - 1 calls (every count
/// window) are kept exactly; larger ones (a time window holds up to 2^28 calls) are shifted right
/// until they fit, which keeps the rates to within 2^-19.
#[derive(Debug)]
pub(crate) struct Evidence(portable_atomic::AtomicU64);

impl Evidence {
    pub(crate) const fn new() -> Evidence {
        Evidence(portable_atomic::AtomicU64::new(0))
    }
    const FIELD: u32 = 20;
    const MASK: u64 = (1 << Self::FIELD) - 1;

    pub(crate) fn keep(&self, c: Counts) {
        let mut shift = 0;
        while (c.calls >> shift) as u64 > Self::MASK {
            shift += 1;
        }
        let word = (c.calls >> shift) as u64
            | ((c.failures >> shift) as u64) << Self::FIELD
            | ((c.slow >> shift) as u64) << (2 * Self::FIELD)
            | (shift as u64) << (3 * Self::FIELD);
        // Written by a trip's winner, read by snapshots: no other memory depends on it.
        self.0.store(word, portable_atomic::Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> Counts {
        let w = self.0.load(portable_atomic::Ordering::Relaxed);
        let shift = (w >> (3 * Self::FIELD)) as u32;
        let field = |i: u32| (((w >> (i * Self::FIELD)) & Self::MASK) as u32) << shift;
        Counts {
            calls: field(0),
            failures: field(1),
            slow: field(2),
        }
    }
}

/// No window: the breaker keeps only its consecutive-failures counter. Zero-sized.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoWindow;

impl Window for NoWindow {
    const KIND: WindowKind = WindowKind::None;
    const NEW: Self = NoWindow;
    #[inline]
    fn record(&self, _: Instant, _: u64, _: Sample) -> Counts {
        Counts::default()
    }
    #[inline]
    fn counts(&self, _: Instant, _: u64) -> Counts {
        Counts::default()
    }
    #[inline]
    fn reset(&self) {}
}
