//! Runs `examples/axum.rs` against real loopback sockets and checks what the client saw.

#[path = "../examples/axum.rs"]
mod example;

use core::time::Duration;

#[tokio::test]
async fn outage_gives_503_with_retry_after_then_recovers() {
    let open_for = Duration::from_millis(1500);
    let t = tokio::time::timeout(Duration::from_secs(30), example::demo(open_for))
        .await
        .expect("the demo finished in time")
        .expect("the demo's sockets worked");

    assert_eq!(
        (t.healthy.status, t.healthy.body.as_str()),
        (200, "fresh data")
    );
    // The upstream's 500s are passed on as they are, and counted.
    assert_eq!(t.outage.len(), 3);
    for r in &t.outage {
        assert_eq!((r.status, r.body.as_str()), (500, "database on fire"));
    }
    // Open: 503 with the rest of the open duration (under 1.5 s), rounded up to whole seconds:
    // 2, or 1 on a machine slow enough to take half a second between opening and refusing.
    assert_eq!(t.refused.status, 503, "{:?}", t.refused);
    let retry_after: u64 = t
        .refused
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    // The fallback route answers from its cache instead.
    assert_eq!(
        (t.fallback.status, t.fallback.body.as_str()),
        (200, "cached page from a minute ago")
    );
    // After the open duration, the trial reaches the recovered upstream.
    assert_eq!(
        (t.recovered.status, t.recovered.body.as_str()),
        (200, "fresh data")
    );
}
