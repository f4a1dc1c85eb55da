//! An axum server in front of a flaky upstream, both on loopback.
//!
//! `cargo run -p breaker-tower --example axum` prints what a client sees:
//!
//! 1. the upstream is up: `200`;
//! 2. the upstream fails: its `500`s are passed on, and count as failures (`ServerErrors`);
//! 3. the breaker is open: `/api` answers `503 Service Unavailable` with `Retry-After` at once,
//!    without calling the upstream, and `/page` answers a cached fallback page instead;
//! 4. the upstream is back and the open duration has passed: a half-open trial gets `200`, and
//!    the breaker closes.
//!
//! The stack is tower's: `HandleErrorLayer` (turns every error into a response: axum needs
//! services that cannot fail), `LoadShed` + `ConcurrencyLimit` (at most 32 requests in flight,
//! the rest are shed at once), the breaker, then `Timeout` (a hung upstream is a failure too:
//! the breaker sits outside the timeout, so it sees the `Elapsed` error).
//!
//! `tests/axum_example.rs` runs [`demo`] and checks each step, so this example runs in CI.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{header, Request, Response, StatusCode, Uri};
use axum::routing::get;
use axum::Router;
use breaker_core::{CircuitBreaker, Config, StdClock};
use breaker_tower::error::{BoxError, Rejected};
use breaker_tower::http::ServerErrors;
use breaker_tower::CircuitBreakerLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;

/// The upstream's switch: up (`200`) or down (`500`).
type Up = Arc<AtomicBool>;

/// What the client saw for one request.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status code.
    pub(crate) status: u16,
    /// The `Retry-After` header, if any.
    pub(crate) retry_after: Option<String>,
    /// The body.
    pub(crate) body: String,
}

/// Every step of the demo, as the client saw it.
#[derive(Debug)]
pub(crate) struct Transcript {
    /// `/api` while the upstream is up.
    pub(crate) healthy: Reply,
    /// `/api` while the upstream fails, until the breaker opens.
    pub(crate) outage: Vec<Reply>,
    /// `/api` with the breaker open.
    pub(crate) refused: Reply,
    /// `/page` with the breaker open: the fallback.
    pub(crate) fallback: Reply,
    /// `/api` once the upstream is back and the open duration has passed.
    pub(crate) recovered: Reply,
}

/// Starts the upstream on loopback: `GET /` answers `200` while `up`, `500` otherwise.
async fn upstream(up: Up) -> io::Result<SocketAddr> {
    let app = Router::new().route(
        "/",
        get(move || async move {
            if up.load(Ordering::Relaxed) {
                (StatusCode::OK, "fresh data")
            } else {
                (StatusCode::INTERNAL_SERVER_ERROR, "database on fire")
            }
        }),
    );
    serve(app).await
}

/// Starts the front server on loopback: `/api` and `/page` proxy to `upstream` through the
/// breaker.
async fn front(upstream: SocketAddr, open_for: Duration) -> io::Result<SocketAddr> {
    let config = Config::builder()
        .name("upstream")
        .failure_threshold(3)
        .open_for(open_for)
        .build()
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    let breaker = Arc::new(CircuitBreaker::<StdClock>::new(config));

    let proxy = tower::service_fn(move |_: Request<Body>| async move {
        let reply = fetch(upstream, "/").await?;
        let mut response = Response::new(Body::from(reply.body));
        *response.status_mut() = StatusCode::from_u16(reply.status).map_err(io::Error::other)?;
        Ok::<_, io::Error>(response)
    });
    let service = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(handle_error))
        .load_shed()
        .concurrency_limit(32)
        .layer(CircuitBreakerLayer::new(breaker).classify(ServerErrors))
        .timeout(Duration::from_secs(2))
        .service(proxy);
    let app = Router::new()
        .route_service("/api", service.clone())
        .route_service("/page", service);
    serve(app).await
}

/// Turns every error of the stack into a response.
async fn handle_error(uri: Uri, error: BoxError) -> Response<Body> {
    if let Some(rejected) = error.downcast_ref::<Rejected>() {
        if uri.path() == "/page" {
            // The fallback: something useful instead of the upstream's answer.
            let mut r = Response::new(Body::from("cached page from a minute ago"));
            r.headers_mut()
                .insert("x-fallback", header::HeaderValue::from_static("cached"));
            return r;
        }
        return breaker_tower::http::service_unavailable(rejected);
    }
    let status = if error.is::<tower::timeout::error::Elapsed>() {
        StatusCode::GATEWAY_TIMEOUT
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_GATEWAY
    };
    let mut r = Response::new(Body::from(error.to_string()));
    *r.status_mut() = status;
    r
}

async fn serve(app: Router) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// A minimal HTTP/1.1 client: one `GET` per connection, bounded in time.
pub(crate) async fn fetch(addr: SocketAddr, path: &str) -> io::Result<Reply> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw)
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply in 5 s"))?
}

fn parse(raw: &[u8]) -> io::Result<Reply> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let retry_after = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_string())
    });
    Ok(Reply {
        status,
        retry_after,
        body: body.to_string(),
    })
}

/// Runs the whole story against real sockets; the breaker stays open for `open_for`.
pub(crate) async fn demo(open_for: Duration) -> io::Result<Transcript> {
    let up: Up = Arc::new(AtomicBool::new(true));
    let upstream = upstream(Arc::clone(&up)).await?;
    let front = front(upstream, open_for).await?;

    let healthy = fetch(front, "/api").await?;

    up.store(false, Ordering::Relaxed);
    let mut outage = Vec::new();
    for _ in 0..3 {
        outage.push(fetch(front, "/api").await?);
    }
    let refused = fetch(front, "/api").await?;
    let fallback = fetch(front, "/page").await?;

    up.store(true, Ordering::Relaxed);
    tokio::time::sleep(open_for).await;
    let recovered = fetch(front, "/api").await?;

    Ok(Transcript {
        healthy,
        outage,
        refused,
        fallback,
        recovered,
    })
}

#[allow(dead_code)] // `tests/axum_example.rs` includes this file for `demo` only
#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let t = demo(Duration::from_secs(2)).await?;
    let show = |step: &str, r: &Reply| {
        let retry = r
            .retry_after
            .as_deref()
            .map_or(String::new(), |s| format!(" (Retry-After: {s})"));
        println!("{step:<28} {}{retry} {:?}", r.status, r.body);
    };
    show("upstream up", &t.healthy);
    for r in &t.outage {
        show("upstream down", r);
    }
    show("breaker open, /api", &t.refused);
    show("breaker open, /page", &t.fallback);
    show("upstream back, after wait", &t.recovered);
    Ok(())
}
