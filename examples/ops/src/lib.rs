#![doc = include_str!("../README.md")]

use core::sync::atomic::{AtomicBool, Ordering};
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use breaker_core::listener::{Metrics, Tracing};
use breaker_core::registry::{Control, Registry, RegistryError};
use breaker_core::{Config, CountWindow, Duration, Error};
use metrics_exporter_prometheus::PrometheusHandle;

/// Every breaker of the service reports to three listeners: Prometheus metrics, `tracing` logs,
/// and the registry (whose run-time listeners an operator may add).
pub type Listen = (Metrics, Tracing, &'static Registry);

/// The service's breakers: on tokio's clock, with a window of the last 20 calls.
pub type Breaker = breaker_tokio::CircuitBreaker<Config<CountWindow<20>>, Listen>;

/// A fake upstream the demo calls through its breaker: healthy until an outage is switched on.
#[derive(Debug)]
pub struct Upstream {
    /// The breaker protecting calls to it.
    pub breaker: Arc<Breaker>,
    down: AtomicBool,
}

impl Upstream {
    /// Calls the upstream through its breaker.
    ///
    /// # Errors
    ///
    /// The breaker's refusal, or the upstream's error during an outage.
    pub async fn call(&self) -> Result<&'static str, Error<&'static str>> {
        let down = self.down.load(Ordering::Relaxed);
        self.breaker
            .call_async(async move {
                if down {
                    Err("upstream unavailable")
                } else {
                    Ok("ok")
                }
            })
            .await
    }

    /// Starts or ends an outage.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }
}

/// The service's state: the registry every breaker is in, the fake upstreams, and the handle
/// that renders the Prometheus text.
#[derive(Clone, Debug)]
pub struct App {
    /// The registry of breakers.
    pub registry: &'static Registry,
    /// The fake upstreams, by name.
    pub upstreams: Arc<BTreeMap<&'static str, Upstream>>,
    /// Renders the metrics.
    pub prometheus: PrometheusHandle,
}

impl App {
    /// Builds a breaker per name (opening at a 50% failure rate over at least 5 of the last 20
    /// calls, or 5 consecutive failures; open for `open_for`), registers each, and spawns its
    /// driver, so that the change to half-open shows when it is due, with no traffic.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if a name is already registered.
    pub fn new(
        registry: &'static Registry,
        prometheus: PrometheusHandle,
        names: &[&'static str],
        open_for: Duration,
    ) -> App {
        let mut upstreams = BTreeMap::new();
        for &name in names {
            let config = Config::builder()
                .name(name)
                .count_window::<20>()
                .failure_rate(0.5)
                .minimum_calls(5)
                .open_for(open_for)
                .build()
                .expect("a valid configuration");
            let breaker = Arc::new(Breaker::with_listener(
                config,
                (Metrics::new(), Tracing, registry),
            ));
            Metrics::export(&breaker.stats());
            registry
                .register(breaker.clone())
                .expect("names are unique");
            breaker_tokio::spawn_driver(Arc::downgrade(&breaker));
            let down = AtomicBool::new(false);
            upstreams.insert(name, Upstream { breaker, down });
        }
        App {
            registry,
            upstreams: Arc::new(upstreams),
            prometheus,
        }
    }

    /// The routes:
    ///
    /// - `GET /metrics`: Prometheus text (every breaker's gauges refreshed first);
    /// - `GET /breakers`, `GET /breakers/{name}`: stats as JSON, from the registry;
    /// - `POST /breakers/{name}/{action}`, action one of `force_open`, `force_closed`, `open`,
    ///   `half_open`, `disable`, `reset`: manual control, answers the stats after;
    /// - `GET /call/{name}`, `POST /outage/{name}/{on|off}`: the demo's traffic and outages.
    pub fn router(self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .route("/breakers", get(breakers))
            .route("/breakers/{name}", get(breaker))
            .route("/breakers/{name}/{action}", post(control))
            .route("/call/{name}", get(call))
            .route("/outage/{name}/{switch}", post(outage))
            .with_state(self)
    }
}

async fn metrics(State(app): State<App>) -> String {
    // Rates and state gauges as they are now, not as at the last state change.
    for stats in app.registry.list() {
        Metrics::export(&stats);
    }
    app.prometheus.render()
}

async fn breakers(State(app): State<App>) -> Response {
    Json(app.registry.list()).into_response()
}

async fn breaker(State(app): State<App>, Path(name): Path<String>) -> Response {
    match app.registry.stats(&name) {
        Some(stats) => Json(stats).into_response(),
        None => not_found(&name),
    }
}

fn not_found(name: &str) -> Response {
    let e = RegistryError::Unknown(name.to_string());
    (StatusCode::NOT_FOUND, e.to_string()).into_response()
}

async fn control(State(app): State<App>, Path((name, action)): Path<(String, String)>) -> Response {
    let action = match action.as_str() {
        "force_open" => Control::ForceOpen,
        "force_closed" => Control::ForceClosed,
        "open" => Control::Open,
        "half_open" => Control::HalfOpen,
        "disable" => Control::Disable,
        "reset" => Control::Reset,
        other => {
            let msg = format!("unknown action `{other}`");
            return (StatusCode::BAD_REQUEST, msg).into_response();
        }
    };
    match app.registry.control(&name, action) {
        Ok(stats) => Json(stats).into_response(),
        Err(_) => not_found(&name),
    }
}

async fn call(State(app): State<App>, Path(name): Path<String>) -> Response {
    let Some(upstream) = app.upstreams.get(name.as_str()) else {
        return not_found(&name);
    };
    match upstream.call().await {
        Ok(body) => body.into_response(),
        Err(e @ Error::Rejected(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn outage(State(app): State<App>, Path((name, switch)): Path<(String, String)>) -> Response {
    let Some(upstream) = app.upstreams.get(name.as_str()) else {
        return not_found(&name);
    };
    match switch.as_str() {
        "on" => upstream.set_down(true),
        "off" => upstream.set_down(false),
        _ => return (StatusCode::BAD_REQUEST, "on or off").into_response(),
    }
    StatusCode::NO_CONTENT.into_response()
}
