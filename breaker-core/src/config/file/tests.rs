use super::*;
use crate::window::WindowKind;
use crate::{State, StdClock};

fn parse(json: &str) -> Result<ConfigFile, FileError> {
    ConfigFile::from_deserializer(&mut serde_json::Deserializer::from_str(json))
}

fn load(json: &str) -> Result<Loaded, FileError> {
    parse(json)?.load()
}

const GOOD: &str = r#"{
  "limits": { "db": 10 },
  "breakers": {
    "payments": {
      "window": { "kind": "count", "size": 50 },
      "failure_rate": 0.5,
      "slow_calls": { "threshold": "250ms", "rate": 0.25 },
      "minimum_calls": 20,
      "open_exponential": { "base": "1s", "multiplier": 2, "max": "1m" },
      "half_open_max_wait": "forever",
      "policy": { "timeout": "2s", "limit": "db" }
    },
    "search": {
      "window": { "kind": "time", "buckets": 10, "bucket": "1.5s" },
      "slow_calls": { "threshold": "100ms", "rate": 0.5 },
      "failure_threshold": 3
    },
    "plain": { "open_for": "30s", "trip_error": false }
  }
}"#;

#[test]
fn a_valid_file_loads_into_typed_configurations_and_a_registry() {
    let loaded = load(GOOD).unwrap();
    assert_eq!(loaded.limits(), &[("db", 10)]);
    let names: Vec<_> = loaded
        .breakers()
        .iter()
        .map(|e| e.config.settings().name())
        .collect();
    assert_eq!(names, ["payments", "plain", "search"]);
    let p = &loaded.breakers()[0];
    let s = p.config.settings();
    assert_eq!(s.window(), WindowKind::Count { size: 50 });
    assert_eq!(s.failure_rate_ppm(), Some(500_000));
    assert_eq!(s.slow_call(), Some((Duration::from_millis(250), 250_000)));
    assert_eq!(s.minimum_calls(), 20);
    assert_eq!(s.open().max(), Duration::from_secs(60));
    assert_eq!(s.half_open_max_wait(), Duration::MAX);
    assert_eq!(p.policy.timeout(), Some(Duration::from_secs(2)));
    assert_eq!(p.limit, Some(("db", 10)));
    let t = loaded.breakers()[2].config.settings();
    assert_eq!(t.window(), WindowKind::Time { buckets: 10 });
    assert_eq!(t.bucket(), Duration::from_millis(1_500));
    assert_eq!(t.failure_threshold(), Some(3));
    assert!(!loaded.breakers()[1].config.settings().trip_error());

    let registry = Registry::new();
    let built = loaded.register::<StdClock>(&registry, false).unwrap();
    assert_eq!(registry.names(), ["payments", "plain", "search"]);
    // A second load of the same file refuses the names already registered ...
    let again = load(GOOD).unwrap();
    let e = again.register::<StdClock>(&registry, false).unwrap_err();
    assert_eq!(e.path(), "breakers.payments");
    // ... and a reload replaces them: new breakers, closed, the same interned names.
    built[1].force_open();
    assert_eq!(registry.stats("plain").unwrap().state, State::ForcedOpen);
    let reloaded = again.register::<StdClock>(&registry, true).unwrap();
    assert_eq!(registry.stats("plain").unwrap().state, State::Closed);
    assert!(core::ptr::eq(built[1].name(), reloaded[1].name()));
}

#[test]
fn valid_files_round_trip() {
    let file = parse(GOOD).unwrap();
    let json = serde_json::to_string_pretty(&file).unwrap();
    let back = parse(&json).unwrap();
    assert_eq!(back, file);
    // Durations are written in the largest exact unit.
    assert!(json.contains(r#""max": "1m""#), "{json}");
    assert!(json.contains(r#""bucket": "1500ms""#), "{json}");
    assert!(
        json.contains(r#""half_open_max_wait": "forever""#),
        "{json}"
    );
    assert_eq!(
        serde_json::to_string(&parse("{}").unwrap()).unwrap(),
        r#"{"breakers":{}}"#
    );
}

#[test]
fn durations_parse_and_print() {
    for (text, d) in [
        ("30s", Duration::from_secs(30)),
        ("250ms", Duration::from_millis(250)),
        ("1.5s", Duration::from_millis(1_500)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3_600)),
        ("7us", Duration::from_micros(7)),
        ("7µs", Duration::from_micros(7)),
        ("3ns", Duration::from_nanos(3)),
        (".5s", Duration::from_millis(500)),
    ] {
        let parsed: FileDuration = text.parse().unwrap();
        assert_eq!(parsed.0, d, "{text}");
        let printed = parsed.to_string();
        assert_eq!(printed.parse::<FileDuration>().unwrap(), parsed);
    }
    for bad in [
        "",
        "30",
        "s",
        "1.5",
        "3 parsecs",
        "1x",
        "0.5ns",
        "-1s",
        "1.2.3s",
    ] {
        assert!(bad.parse::<FileDuration>().is_err(), "{bad:?}");
    }
}

/// Each invalid field gives an error naming its key path, its breaker and the field.
#[test]
fn each_invalid_field_is_named() {
    let cases: &[(&str, &str)] = &[
        (r#""failure_threshold": 0"#, "failure_threshold"),
        (r#""consecutive_failures": false"#, "consecutive_failures"),
        (r#""window": {"kind": "count", "size": 0}"#, "window.size"),
        (
            r#""window": {"kind": "count", "size": 2000000}"#,
            "window.size",
        ),
        (
            r#""window": {"kind": "time", "buckets": 0, "bucket": "1s"}"#,
            "window.buckets",
        ),
        (
            r#""window": {"kind": "time", "buckets": 4, "bucket": "0s"}"#,
            "window.bucket",
        ),
        (
            r#""window": {"kind": "time", "buckets": 4096, "bucket": "100000h"}"#,
            "window",
        ),
        (
            r#""window": {"kind": "count", "size": 5}, "failure_rate": 1.5"#,
            "failure_rate",
        ),
        (r#""failure_rate": 0.5"#, "failure_rate"),
        (
            r#""window": {"kind": "count", "size": 5}, "failure_rate": 0.5"#,
            "minimum_calls",
        ),
        (
            r#""window": {"kind": "count", "size": 5}, "slow_calls": {"threshold": "0s", "rate": 0.5}"#,
            "slow_calls.threshold",
        ),
        (
            r#""window": {"kind": "count", "size": 5}, "slow_calls": {"threshold": "1s", "rate": 0}"#,
            "slow_calls.rate",
        ),
        (r#""minimum_calls": 0"#, "minimum_calls"),
        (r#""open_for": "0ms""#, "open_for"),
        (
            r#""open_exponential": {"base": "2s", "multiplier": 2, "max": "1s"}"#,
            "open_exponential.max",
        ),
        (
            r#""open_exponential": {"base": "2s", "multiplier": 0, "max": "3s"}"#,
            "open_exponential.multiplier",
        ),
        (r#""half_open_trials": 0"#, "half_open_trials"),
        (r#""success_threshold": 5000"#, "success_threshold"),
        (r#""half_open_max_wait": "0s""#, "half_open_max_wait"),
        (r#""policy": {"timeout": "0s"}"#, "policy.timeout"),
        (r#""policy": {"limit": "nope"}"#, "policy.limit"),
    ];
    for (body, key) in cases {
        let file = format!(r#"{{"breakers": {{"orders": {{ {body} }}}}}}"#);
        let e = load(&file).unwrap_err();
        assert_eq!(e.path(), format!("breakers.orders.{key}"), "{body}: {e}");
        assert_eq!(e.breaker(), Some("orders"), "{body}");
        assert_eq!(e.field(), key.rsplit('.').next().unwrap(), "{body}");
        assert!(
            e.to_string()
                .starts_with(&format!("breakers.orders.{key}: ")),
            "{e}"
        );
    }
    let e = load(r#"{"limits": {"db": 0}}"#).unwrap_err();
    assert_eq!(
        (e.path(), e.kind()),
        ("limits.db", &FileErrorKind::ZeroPermits)
    );
}

/// Errors in the file's shape name the key path too, with the format's own position.
#[test]
fn shape_errors_name_the_path() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"breakers": {"a": {"open_for": "30 parsecs"}}}"#,
            "breakers.a.open_for",
        ),
        (
            r#"{"breakers": {"a": {"open_for": 30}}}"#,
            "breakers.a.open_for",
        ),
        (
            r#"{"breakers": {"a": {"opne_for": "1s"}}}"#,
            "breakers.a.opne_for",
        ),
        (
            r#"{"breakers": {"a": {"window": {"kind": "sliding"}}}}"#,
            "breakers.a.window.kind",
        ),
        (
            r#"{"breakers": {"a": {"window": {"kind": "count", "size": -1}}}}"#,
            // An internally tagged enum is buffered: serde gives the path down to the window.
            "breakers.a.window",
        ),
        (
            r#"{"breakers": {"a": {"policy": {"limit": 3}}}}"#,
            "breakers.a.policy.limit",
        ),
        (r#"{"limits": {"db": "ten"}}"#, "limits.db"),
    ];
    for (json, path) in cases {
        let e = parse(json).unwrap_err();
        assert!(matches!(e.kind(), FileErrorKind::Parse(_)), "{json}");
        assert_eq!(e.path(), *path, "{json}: {e}");
        assert!(e.to_string().contains("line 1 column"), "{e}");
    }
    let e = parse(r#"{"breakers": {"a": {"open_for": "1x"}}}"#).unwrap_err();
    assert_eq!(e.breaker(), Some("a"));
    assert!(e.to_string().contains("unknown unit"), "{e}");
}
