//! Property tests of the sliding windows against simple sequential reference models: random
//! timestamped outcomes (time only moving forward, by random steps that cross zero, a few or many
//! buckets, and idle gaps of whole tag laps), resets mixed in; after every step the window's
//! counts must equal the model's exactly.
#![cfg(not(loom))]

use std::collections::VecDeque;

use breaker_core::window::{DynWindow, Sample, Window, WindowKind, TIME_BUCKET_CAPACITY};
use breaker_core::{CountWindow, Counts, Instant, TimeWindow};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Move the clock on by this many microseconds, then record.
    Record {
        step: u64,
        failure: bool,
        slow: bool,
    },
    /// Read the counts after moving the clock on.
    Read {
        step: u64,
    },
    Reset,
}

fn step() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => Just(0u64),
        6 => 0u64..30,
        2 => 0u64..400,
        1 => (0u64..3).prop_map(|k| k * (1u64 << 16) * 1000 * 4), // whole tag laps (B = 4, width 1000)
        1 => 0u64..10_000_000,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (step(), any::<bool>(), any::<bool>())
            .prop_map(|(step, failure, slow)| Op::Record { step, failure, slow }),
        4 => step().prop_map(|step| Op::Read { step }),
        1 => Just(Op::Reset),
    ]
}

/// The reference: every outcome with its bucket number, a bucket counting at most
/// `TIME_BUCKET_CAPACITY` calls; the window at bucket `n` is the outcomes of buckets `n-B+1..=n`.
#[derive(Default)]
struct TimeModel {
    outcomes: Vec<(u64, Sample)>,
}

impl TimeModel {
    fn counts(&self, b: u64, n: u64) -> Counts {
        let mut c = Counts::default();
        for (m, s) in &self.outcomes {
            if *m <= n && n - m < b {
                c.calls += 1;
                c.failures += s.failure as u32;
                c.slow += s.slow as u32;
            }
        }
        c
    }
    fn record(&mut self, b: u64, n: u64, s: Sample) -> Counts {
        let in_bucket = self.outcomes.iter().filter(|(m, _)| *m == n).count();
        if in_bucket < TIME_BUCKET_CAPACITY as usize {
            self.outcomes.push((n, s));
        }
        self.counts(b, n)
    }
}

fn check_time<const B: usize>(width: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let w = TimeWindow::<B>::NEW;
    check_time_on(&w, B, width, ops)
}

/// The same check on a time window sized at run time.
fn check_dyn_time(b: u32, width: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let w = DynWindow::with_kind(WindowKind::Time { buckets: b }).unwrap();
    check_time_on(&w, b as usize, width, ops)
}

fn check_time_on<W: Window>(w: &W, b: usize, width: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    #[allow(non_snake_case)]
    let B = b;
    let width_d = width;
    let mut model = TimeModel::default();
    let mut now = 0u64;
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Record {
                step,
                failure,
                slow,
            } => {
                now += step;
                let s = Sample { failure, slow };
                let got = w.record(Instant::from_micros(now), width_d, s);
                let want = model.record(B as u64, now / width, s);
                prop_assert_eq!(got, want, "step {} {:?} at {}", i, op, now);
            }
            Op::Read { step } => {
                now += step;
                let got = w.counts(Instant::from_micros(now), width_d);
                prop_assert_eq!(
                    got,
                    model.counts(B as u64, now / width),
                    "step {} read at {}",
                    i,
                    now
                );
            }
            Op::Reset => {
                w.reset();
                model.outcomes.clear();
                prop_assert_eq!(
                    w.counts(Instant::from_micros(now), width_d),
                    Counts::default()
                );
            }
        }
    }
    Ok(())
}

/// The reference count window: the last `N` outcomes since the last reset.
fn check_count<const N: usize>(ops: &[Op]) -> Result<(), TestCaseError> {
    let w = CountWindow::<N>::NEW;
    check_count_on(&w, N, ops)
}

/// The same check on a count window sized at run time.
fn check_dyn_count(n: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let w = DynWindow::with_kind(WindowKind::Count { size: n }).unwrap();
    check_count_on(&w, n as usize, ops)
}

#[allow(non_snake_case)]
fn check_count_on<W: Window>(w: &W, N: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model: VecDeque<Sample> = VecDeque::new();
    let of = |m: &VecDeque<Sample>| Counts {
        calls: m.len() as u32,
        failures: m.iter().filter(|s| s.failure).count() as u32,
        slow: m.iter().filter(|s| s.slow).count() as u32,
    };
    for op in ops {
        match *op {
            Op::Record { failure, slow, .. } => {
                let s = Sample { failure, slow };
                model.push_back(s);
                if model.len() > N {
                    model.pop_front();
                }
                prop_assert_eq!(w.record(Instant::ZERO, 0, s), of(&model));
            }
            Op::Read { .. } => {
                prop_assert_eq!(w.counts(Instant::ZERO, 0), of(&model));
            }
            Op::Reset => {
                w.reset();
                model.clear();
                prop_assert_eq!(w.counts(Instant::ZERO, 0), of(&model));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn time_window_matches_the_model(ops in prop::collection::vec(op(), 1..300)) {
        check_time::<1>(1000, &ops)?;
        check_time::<4>(1000, &ops)?;
        check_time::<7>(10, &ops)?;
        check_time::<4>(1, &ops)?;
    }

    #[test]
    fn count_window_matches_the_model(ops in prop::collection::vec(op(), 1..300)) {
        check_count::<1>(&ops)?;
        check_count::<5>(&ops)?;
        check_count::<64>(&ops)?;
    }

    /// Windows sized at run time run the same algorithms over a boxed slice: the same model,
    /// for a few sizes.
    #[test]
    fn sized_windows_match_the_model(ops in prop::collection::vec(op(), 1..300)) {
        check_dyn_count(1, &ops)?;
        check_dyn_count(5, &ops)?;
        check_dyn_count(64, &ops)?;
        check_dyn_time(1, 1000, &ops)?;
        check_dyn_time(4, 1000, &ops)?;
        check_dyn_time(7, 10, &ops)?;
        check_dyn_time(4, 1, &ops)?;
    }
}

/// A bucket samples out calls past its capacity; the window's totals stay those of the model.
#[test]
fn a_full_bucket_samples_out() {
    let w = TimeWindow::<2>::NEW;
    let width = 1_000_000; // µs
    let mut last = Counts::default();
    for i in 0..TIME_BUCKET_CAPACITY + 10 {
        last = w.record(
            Instant::from_micros(5),
            width,
            Sample {
                failure: i % 2 == 0,
                slow: false,
            },
        );
    }
    assert_eq!(last.calls, TIME_BUCKET_CAPACITY);
    assert_eq!(last.failures, TIME_BUCKET_CAPACITY.div_ceil(2));
    let next = w.record(Instant::from_micros(1_000_000), width, Sample::default());
    assert_eq!(next.calls, TIME_BUCKET_CAPACITY + 1);
}

/// Many threads record into a time window while time moves on and resets come in; once they
/// stop, the window's counts must equal exactly what its buckets hold (checked by reading it
/// again after a full window of single-threaded records: every in-window bucket overwritten).
#[test]
fn concurrent_records_and_resets_leave_exact_totals() {
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let w = TimeWindow::<8>::NEW;
    let width = 10; // µs
    let clock = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (w, clock, stop) = (&w, &clock, &stop);
            s.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let now = clock.load(Ordering::Relaxed);
                    w.record(
                        Instant::from_micros(now),
                        width,
                        Sample {
                            failure: (i + t) % 3 == 0,
                            slow: i % 5 == 0,
                        },
                    );
                    i += 1;
                }
            });
        }
        for round in 0..20_000u64 {
            clock.fetch_add(1 + round % 7, Ordering::Relaxed);
            if round % 1000 == 999 {
                w.reset();
            }
            core::hint::spin_loop();
        }
        stop.store(true, Ordering::Relaxed);
    });
    // Quiescent: move past the window, then fill every bucket with 3 calls, one failure each.
    let start = clock.load(Ordering::Relaxed) + 1000;
    let mut c = Counts::default();
    for b in 0..8u64 {
        for k in 0..3 {
            c = w.record(
                Instant::from_micros(start + b * 10),
                width,
                Sample {
                    failure: k == 0,
                    slow: false,
                },
            );
        }
    }
    assert_eq!(
        c,
        Counts {
            calls: 24,
            failures: 8,
            slow: 0
        }
    );
}

/// A breaker over a window sized at run time behaves as the same breaker over the fixed window
/// of that size: the same states, stats and last trip after every call, for count and time
/// windows, through slow calls and time passing.
mod sized_breaker {
    use super::*;
    use breaker_core::{CircuitBreaker, Config, Duration, ManualClock};

    #[derive(Clone, Copy, Debug)]
    enum Call {
        /// Advance the clock by this many ms, then call; the call takes `took` ms.
        Run {
            advance: u64,
            took: u64,
            fails: bool,
        },
    }

    fn call() -> impl Strategy<Value = Call> {
        (
            prop_oneof![4 => 0u64..5, 1 => 0u64..1_500],
            0u64..40,
            any::<bool>(),
        )
            .prop_map(|(advance, took, fails)| Call::Run {
                advance,
                took,
                fails,
            })
    }

    fn same<A: Window, B: Window>(
        fixed: Config<A>,
        sized: Config<B>,
        calls: &[Call],
    ) -> Result<(), TestCaseError> {
        let clock = ManualClock::new();
        let a = CircuitBreaker::with_clock(&clock, fixed);
        let b = CircuitBreaker::with_clock(&clock, sized);
        for (i, c) in calls.iter().enumerate() {
            let Call::Run {
                advance,
                took,
                fails,
            } = *c;
            clock.advance(Duration::from_millis(advance));
            let pa = a.try_acquire();
            let pb = b.try_acquire();
            prop_assert_eq!(pa.is_ok(), pb.is_ok(), "call {}", i);
            clock.advance(Duration::from_millis(took));
            if let (Ok(pa), Ok(pb)) = (pa, pb) {
                let o = if fails {
                    breaker_core::Outcome::Failure
                } else {
                    breaker_core::Outcome::Success
                };
                prop_assert_eq!(pa.record(o), pb.record(o), "call {}", i);
            }
            let (sa, sb) = (a.stats(), b.stats());
            prop_assert_eq!(sa.state, sb.state, "call {}", i);
            prop_assert_eq!(sa.window, sb.window, "call {}", i);
            prop_assert_eq!(
                sa.last_trip.map(|t| t.reason),
                sb.last_trip.map(|t| t.reason),
                "call {}",
                i
            );
        }
        Ok(())
    }

    fn rules<W: Window>(b: breaker_core::ConfigBuilder<W>) -> breaker_core::ConfigBuilder<W> {
        b.failure_rate(0.5)
            .slow_calls(Duration::from_millis(20), 0.8)
            .minimum_calls(3)
            .open_for(Duration::from_millis(500))
            .half_open_trials(2)
            .success_threshold(2)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn count_and_time_breakers_match_their_fixed_twins(calls in prop::collection::vec(call(), 1..200)) {
            same(
                rules(Config::builder().count_window::<5>()).build().unwrap(),
                rules(Config::builder().count_window_sized(5)).build().unwrap(),
                &calls,
            )?;
            let width = Duration::from_millis(100);
            same(
                rules(Config::builder().time_window::<4>(width)).build().unwrap(),
                rules(Config::builder().time_window_sized(4, width)).build().unwrap(),
                &calls,
            )?;
        }
    }

    /// The size read from a string, as a configuration file gives it; the breaker's type is
    /// the same for every size.
    #[test]
    fn a_size_read_from_a_string() {
        fn build(size: &str) -> CircuitBreaker<breaker_core::StdClock, Config<DynWindow>> {
            let config = Config::builder()
                .name_str(&format!("sized-{size}"))
                .count_window_sized(size.parse().unwrap())
                .failure_rate(0.5)
                .minimum_calls(2)
                .build()
                .unwrap();
            CircuitBreaker::new(config)
        }
        let small = build("2");
        let large = build("1000");
        for b in [&small, &large] {
            let _ = b.call(|| Err::<(), _>("down"));
            let _ = b.call(|| Err::<(), _>("down"));
        }
        assert_eq!(small.state(), breaker_core::State::Open);
        assert_eq!(large.state(), breaker_core::State::Open);
        assert_eq!(small.name(), "sized-2");
        assert_eq!(
            small.config().settings().window(),
            WindowKind::Count { size: 2 }
        );
        assert_eq!(
            large.config().settings().window(),
            WindowKind::Count { size: 1000 }
        );
        // The window keeps the last `size` calls: 2 successes push the failures out of the
        // small one only.
        for b in [&small, &large] {
            b.force_closed();
            let _ = b.call(|| Ok::<_, &str>(()));
            let _ = b.call(|| Ok::<_, &str>(()));
        }
        assert_eq!(small.stats().window.failures, 0);
    }

    #[test]
    fn sizes_are_checked_as_for_the_fixed_windows() {
        use breaker_core::ConfigErrorKind;
        let e = Config::builder()
            .count_window_sized(0)
            .failure_rate(0.5)
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "count_window_sized");
        assert_eq!(
            e.to_string(),
            "count_window_sized (0 calls) must hold 1 to 1048575 calls"
        );
        let e = Config::builder()
            .time_window_sized(5_000, Duration::from_secs(1))
            .failure_rate(0.5)
            .build()
            .unwrap_err();
        assert_eq!(
            e.kind(),
            ConfigErrorKind::WindowSize {
                window: WindowKind::Time { buckets: 5_000 },
                max: breaker_core::window::MAX_TIME_BUCKETS
            }
        );
        let e = Config::builder()
            .count_window_sized(5)
            .failure_rate(0.5)
            .name("p")
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"breaker "p": minimum_calls (10, the default) exceeds what the count window holds (5)"#
        );
        let e = Config::builder()
            .time_window_sized(4, Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "time_window_sized(bucket)");
        let e = Config::builder()
            .time_window_sized(4096, Duration::from_secs(1 << 30))
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "time_window_sized");
    }
}
