//! The metrics listener's values after a scripted outage, read back through `metrics-util`'s
//! debugging recorder, and the tracing listener's output, captured.

use std::io::Write;
use std::sync::{Arc, Mutex};

use breaker_core::listener::{Metrics, Tracing};
use breaker_core::{CircuitBreaker, Config, Duration, ManualClock};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;

type Snapshot = Vec<(MetricKind, String, Vec<(String, String)>, DebugValue)>;

fn snapshot(recorder: &DebuggingRecorder) -> Snapshot {
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let labels = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            (kind, key.name().to_string(), labels, value)
        })
        .collect()
}

fn find<'a>(s: &'a Snapshot, name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    s.iter().find_map(|(_, n, ls, v)| {
        let all = labels
            .iter()
            .all(|(k, want)| ls.iter().any(|(lk, lv)| lk == k && lv == want));
        (n == name && all).then_some(v)
    })
}

fn counter(s: &Snapshot, name: &str, labels: &[(&str, &str)]) -> u64 {
    match find(s, name, labels) {
        Some(DebugValue::Counter(c)) => *c,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

fn gauge(s: &Snapshot, name: &str, labels: &[(&str, &str)]) -> f64 {
    match find(s, name, labels) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

#[test]
fn metrics_after_a_scripted_outage() {
    let recorder = DebuggingRecorder::new();
    let clock = ManualClock::new();
    metrics::with_local_recorder(&recorder, || {
        let config = Config::builder()
            .name("db")
            .failure_threshold(3)
            .slow_calls(Duration::from_millis(100), 1.0)
            .count_window::<10>()
            .minimum_calls(10)
            .open_for(Duration::from_secs(10))
            .build()
            .unwrap();
        let b = CircuitBreaker::with_clock_and_listener(&clock, config, Metrics::new());
        Metrics::export(&b.stats());
        // 2 successes (20 ms each), 3 failures: open; 2 refusals; then a trial that succeeds.
        for _ in 0..2 {
            b.call(|| {
                clock.advance(Duration::from_millis(20));
                Ok::<_, ()>(())
            })
            .unwrap();
        }
        for _ in 0..3 {
            let _ = b.call(|| Err::<(), _>("down"));
        }
        let s = snapshot(&recorder);
        let db = |k, v| [("breaker", "db"), (k, v)];
        assert_eq!(
            counter(&s, "breaker_calls_total", &db("outcome", "success")),
            2
        );
        assert_eq!(
            counter(&s, "breaker_calls_total", &db("outcome", "failure")),
            3
        );
        assert_eq!(gauge(&s, "breaker_state", &db("state", "open")), 1.0);
        assert_eq!(gauge(&s, "breaker_state", &db("state", "closed")), 0.0);
        // A consecutive-failures trip keeps no window evidence: the open breaker's window
        // gauges read what its snapshot does (empty).
        assert_eq!(gauge(&s, "breaker_window_calls", &[("breaker", "db")]), 0.0);
        let trip = [
            ("breaker", "db"),
            ("from", "closed"),
            ("to", "open"),
            ("reason", "consecutive_failures"),
        ];
        assert_eq!(counter(&s, "breaker_transitions_total", &trip), 1);
        match find(&s, "breaker_call_duration_seconds", &[("breaker", "db")]) {
            Some(DebugValue::Histogram(h)) => {
                // Successes are timed (the slow-call rule is on): two of 20 ms.
                let secs: Vec<f64> = h.iter().map(|v| v.into_inner()).collect();
                assert_eq!(secs, [0.02, 0.02]);
            }
            other => panic!("histogram: {other:?}"),
        }

        for _ in 0..2 {
            assert!(b.call(|| Ok::<_, ()>(())).is_err());
        }
        clock.advance(Duration::from_secs(10));
        b.call(|| Ok::<_, ()>(())).unwrap();
        let s = snapshot(&recorder);
        assert_eq!(
            counter(&s, "breaker_rejections_total", &db("state", "open")),
            2
        );
        // Every state gauge moved: the old state's back to 0.
        assert_eq!(gauge(&s, "breaker_state", &db("state", "closed")), 1.0);
        assert_eq!(gauge(&s, "breaker_state", &db("state", "open")), 0.0);
        assert_eq!(gauge(&s, "breaker_state", &db("state", "half_open")), 0.0);
        assert_eq!(gauge(&s, "breaker_window_calls", &[("breaker", "db")]), 0.0);
        let half = [
            ("breaker", "db"),
            ("to", "half_open"),
            ("reason", "open_time_elapsed"),
        ];
        assert_eq!(counter(&s, "breaker_transitions_total", &half), 1);
        let closed = [
            ("breaker", "db"),
            ("to", "closed"),
            ("reason", "trials_succeeded"),
        ];
        assert_eq!(counter(&s, "breaker_transitions_total", &closed), 1);
    });
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn tracing_output_names_the_breaker_and_the_reason() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let clock = ManualClock::new();
    tracing::subscriber::with_default(subscriber, || {
        let config = Config::builder()
            .name("cache")
            .failure_threshold(2)
            .build()
            .unwrap();
        let b = CircuitBreaker::with_clock_and_listener(&clock, config, Tracing);
        b.call(|| Ok::<_, ()>(())).unwrap();
        for _ in 0..2 {
            let _ = b.call(|| Err::<(), _>("refused"));
        }
        let _ = b.call(|| Ok::<_, ()>(()));
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let has = |level: &str, parts: &[&str]| {
        lines
            .iter()
            .any(|l| l.contains(level) && parts.iter().all(|p| l.contains(p)))
    };
    assert!(
        has("TRACE", &["call admitted", "breaker=\"cache\""]),
        "{text}"
    );
    assert!(
        has("TRACE", &["call succeeded", "breaker=\"cache\""]),
        "{text}"
    );
    assert!(
        has("DEBUG", &["call failed", "error=Some(\"refused\")"]),
        "{text}"
    );
    assert!(
        has(
            "WARN",
            &[
                "state changed",
                "breaker=\"cache\"",
                "from=\"closed\"",
                "to=\"open\"",
                "reason=2 consecutive failures (threshold 2)",
                "reason_kind=\"consecutive_failures\"",
            ]
        ),
        "{text}"
    );
    assert!(
        has(
            "DEBUG",
            &["call rejected", "state=open", "retry_after_ms=30000"]
        ),
        "{text}"
    );
}
