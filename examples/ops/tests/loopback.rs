//! The operations service on loopback: a scripted outage, read back through `/metrics`,
//! `/breakers` and manual control, every request bounded by a timeout.

use core::time::Duration as StdDuration;

use breaker_core::registry::Registry;
use breaker_core::Duration;
use breaker_ops::App;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUND: StdDuration = StdDuration::from_secs(5);

async fn request(addr: core::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).unwrap()
    };
    let raw = tokio::time::timeout(BOUND, exchange)
        .await
        .expect("the service answers in time");
    let status = raw[9..12].parse().unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    // axum answers small bodies with a length, not chunked.
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    (status, body.to_string())
}

/// The value of the sample `name` whose labels include every pair of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            if n != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse().unwrap())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_seen_through_metrics_json_and_manual_control() {
    static REGISTRY: Registry = Registry::new();
    let prometheus = PrometheusBuilder::new().install_recorder().unwrap();
    let app = App::new(
        &REGISTRY,
        prometheus,
        &["payments", "search"],
        Duration::from_millis(300),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app.router()).await });

    // Healthy traffic, then an outage: the third failure makes 3 of 6 calls (50%) and trips it.
    for _ in 0..3 {
        assert_eq!(
            request(addr, "GET", "/call/payments").await,
            (200, "ok".into())
        );
    }
    assert_eq!(request(addr, "POST", "/outage/payments/on").await.0, 204);
    for _ in 0..3 {
        assert_eq!(request(addr, "GET", "/call/payments").await.0, 502);
    }
    for _ in 0..2 {
        assert_eq!(request(addr, "GET", "/call/payments").await.0, 503);
    }

    let (status, text) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    let p = [("breaker", "payments")];
    let with = |extra: (&'static str, &'static str)| [p[0], extra];
    assert_eq!(
        sample(&text, "breaker_state", &with(("state", "open"))),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "breaker_state", &with(("state", "closed"))),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "breaker_calls_total", &with(("outcome", "success"))),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "breaker_calls_total", &with(("outcome", "failure"))),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "breaker_rejections_total", &with(("state", "open"))),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "breaker_transitions_total",
            &with(("reason", "failure_rate"))
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "breaker_failure_rate", &p), Some(0.5));
    // The other breaker is untouched.
    let s = [("breaker", "search"), ("state", "closed")];
    assert_eq!(sample(&text, "breaker_state", &s), Some(1.0));

    let (status, json) = request(addr, "GET", "/breakers").await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    let payments = &list[0];
    assert_eq!(payments["name"], "payments");
    assert_eq!(payments["state"], "open");
    assert_eq!(payments["last_trip"]["reason"]["window"]["calls"], 6);
    assert_eq!(payments["last_trip"]["reason"]["window"]["failures"], 3);
    assert_eq!(payments["last_trip"]["reason"]["kind"], "failure_rate");
    assert_eq!(payments["last_trip"]["reason"]["rate_ppm"], 500_000);
    assert_eq!(list[1]["state"], "closed");

    // With no traffic, the driver half-opens it when the open time has passed, and says so.
    let half_open = [
        ("breaker", "payments"),
        ("to", "half_open"),
        ("reason", "open_time_elapsed"),
    ];
    let seen = tokio::time::timeout(BOUND, async {
        loop {
            let text = request(addr, "GET", "/metrics").await.1;
            if sample(&text, "breaker_transitions_total", &half_open) == Some(1.0) {
                return text;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    })
    .await
    .expect("the driver reports half-open with no calls");
    assert_eq!(
        sample(&seen, "breaker_state", &with(("state", "half_open"))),
        Some(1.0)
    );
    assert_eq!(
        sample(&seen, "breaker_state", &with(("state", "open"))),
        Some(0.0)
    );

    // Manual control by name.
    let (status, json) = request(addr, "POST", "/breakers/payments/force_closed").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["state"],
        "closed"
    );
    let (status, json) = request(addr, "POST", "/breakers/search/force_open").await;
    assert_eq!((status, &json[..0]), (200, ""));
    assert_eq!(request(addr, "GET", "/call/search").await.0, 503);
    let text = request(addr, "GET", "/metrics").await.1;
    let search = |state| [("breaker", "search"), ("state", state)];
    assert_eq!(
        sample(&text, "breaker_state", &search("forced_open")),
        Some(1.0)
    );
    assert_eq!(sample(&text, "breaker_state", &search("closed")), Some(0.0));
    assert_eq!(
        sample(&text, "breaker_state", &with(("state", "closed"))),
        Some(1.0)
    );
    assert_eq!(
        request(addr, "POST", "/breakers/nope/force_open").await.0,
        404
    );
    assert_eq!(
        request(addr, "POST", "/breakers/search/explode").await.0,
        400
    );
    assert_eq!(request(addr, "GET", "/breakers/search").await.0, 200);

    server.abort();
}
