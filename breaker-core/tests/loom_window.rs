//! Loom models of the time window's lock-free algorithm (the same code as `TimeWindow`, run on
//! loom's atomics): every interleaving of bucket claims, records, advances of the head and resets.
//! Run: RUSTFLAGS="--cfg loom" cargo test -p breaker-core --test loom_window --release
#![cfg(loom)]

use breaker_core::window::model::ModelTimeWindow;
use breaker_core::window::Sample;
use breaker_core::Counts;
use loom::sync::Arc;
use loom::thread;

const FAIL: Sample = Sample {
    failure: true,
    slow: false,
};
const OK: Sample = Sample {
    failure: false,
    slow: false,
};
const SLOW: Sample = Sample {
    failure: false,
    slow: true,
};

/// What the buckets of the window ending at `number` hold: the totals must equal it once
/// every thread is done.
fn held<const B: usize>(w: &ModelTimeWindow<B>, number: u64) -> Counts {
    let mut c = Counts::default();
    for k in (number + 1).saturating_sub(B as u64)..=number {
        let [calls, failures, slow] = w.bucket(k);
        c.calls += calls as u32;
        c.failures += failures as u32;
        c.slow += slow as u32;
    }
    c
}

/// Two threads start a new bucket over an expired one full of failures (the interleaving behind
/// `repro_time_window`): neither is ever judged by the expired failures, and afterwards the
/// window holds exactly their two successes.
#[test]
fn an_expired_bucket_never_revives() {
    loom::model(|| {
        let w = Arc::new(ModelTimeWindow::<1>::default());
        w.record(0, FAIL);
        w.record(0, FAIL);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let w = w.clone();
                thread::spawn(move || w.record(1, OK))
            })
            .collect();
        for h in handles {
            let c = h.join().unwrap();
            assert_eq!(c.failures, 0, "judged by expired counts: {c:?}");
            // Momentarily it may read fewer (a loser's removal not yet undone), never more.
            assert!(c.calls <= 2, "{c:?}");
        }
        assert_eq!(
            w.counts(1),
            Counts {
                calls: 2,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(held(&w, 1), w.counts(1));
    });
}

/// A record racing the advance of another thread to a later bucket (both claim buckets): the
/// totals end exactly equal to what the window's buckets hold, and no expired outcome is counted.
#[test]
fn racing_advances_keep_totals_exact() {
    loom::model(|| {
        let w = Arc::new(ModelTimeWindow::<2>::default());
        w.record(0, FAIL);
        w.record(1, SLOW);
        let a = {
            let w = w.clone();
            thread::spawn(move || w.record(3, OK))
        };
        let b = {
            let w = w.clone();
            thread::spawn(move || w.record(2, FAIL))
        };
        let ca = a.join().unwrap();
        let cb = b.join().unwrap();
        // Buckets 0 and 1 have left the window at 3; at 2, bucket 1's slow call is still in it.
        assert!(ca.failures <= 1 && ca.slow <= 1, "{ca:?}");
        assert!(cb.calls <= 2, "{cb:?}");
        let c = w.counts(3);
        assert_eq!(c, held(&w, 3));
        // The outcome at 2 is kept unless the advance to 3 passed it first (then it is older
        // than the window's start only if 2 <= 3 - 2: it is not, so it is always kept).
        assert_eq!(
            c,
            Counts {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
    });
}

/// A reset racing a record that claims a bucket: whichever order, the totals end equal to what the
/// buckets hold (never lastingly off, never negative).
#[test]
fn a_reset_racing_a_claim_leaves_exact_totals() {
    loom::model(|| {
        let w = Arc::new(ModelTimeWindow::<2>::default());
        w.record(0, FAIL);
        w.record(1, FAIL);
        let a = {
            let w = w.clone();
            thread::spawn(move || w.record(2, SLOW))
        };
        let b = {
            let w = w.clone();
            thread::spawn(move || w.reset())
        };
        let ca = a.join().unwrap();
        b.join().unwrap();
        assert!(ca.calls <= 2 && ca.failures <= 1, "{ca:?}");
        let c = w.counts(2);
        assert_eq!(c, held(&w, 2));
        // The slow call is kept or cleared by the reset, the failure at 1 is always cleared.
        assert_eq!(c.failures, 0);
        assert!(
            c == Counts::default()
                || c == Counts {
                    calls: 1,
                    failures: 0,
                    slow: 1
                },
            "{c:?}"
        );
    });
}

/// Two records in the same bucket racing one that moves the window on by a whole window: the
/// totals end equal to the buckets; the old bucket's outcomes are gone.
#[test]
fn a_stale_record_never_lands_in_a_newer_lap() {
    loom::model(|| {
        let w = Arc::new(ModelTimeWindow::<1>::default());
        w.record(0, OK);
        let a = {
            let w = w.clone();
            thread::spawn(move || w.record(0, FAIL)) // read its clock in bucket 0
        };
        let b = {
            let w = w.clone();
            thread::spawn(move || w.record(1, OK))
        };
        a.join().unwrap();
        let cb = b.join().unwrap();
        assert_eq!(cb.failures, 0, "{cb:?}");
        let c = w.counts(1);
        assert_eq!(c, held(&w, 1));
        assert_eq!(
            c,
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    });
}
