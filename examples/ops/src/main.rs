//! Runs the operations example on 127.0.0.1:3000 (or the address in `BREAKER_OPS_ADDR`).
//!
//! ```text
//! cargo run -p breaker-ops
//! curl -s -XPOST localhost:3000/outage/payments/on
//! for i in $(seq 10); do curl -s localhost:3000/call/payments; echo; done
//! curl -s localhost:3000/metrics | grep payments
//! curl -s localhost:3000/breakers | jq .
//! curl -s -XPOST localhost:3000/breakers/payments/force_closed
//! ```

use breaker_core::registry::Registry;
use breaker_core::Duration;
use breaker_ops::App;
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn core::error::Error>> {
    tracing_subscriber::fmt().with_target(false).init();
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let app = App::new(
        Registry::global(),
        prometheus,
        &["payments", "search"],
        Duration::from_secs(10),
    );
    let addr = std::env::var("BREAKER_OPS_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
