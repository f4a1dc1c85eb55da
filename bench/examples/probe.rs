//! Instruction-count probe for one path: `probe [sync|async|window|reject]`; run under
//! callgrind. `async` polls `call_async` of a ready future once, with a no-op waker.
use breaker_core::{CircuitBreaker, Config, CountWindow, Duration, StdClock};
use std::hint::black_box;

fn run(n: u64, mut f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    let mut ok = 0u64;
    for _ in 0..n {
        ok += black_box(f()) as u64;
    }
    println!(
        "{:.2} ns/call ({ok} admitted)",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "sync".into());
    let n = 2_000_000u64;
    match mode.as_str() {
        "window" => {
            let config: Config<CountWindow<100>> = Config::builder()
                .count_window::<100>()
                .failure_rate(0.5)
                .build()
                .unwrap();
            let b = CircuitBreaker::<StdClock, _>::new(&config);
            run(n, || {
                black_box(&b).call(|| black_box(Ok::<(), ()>(()))).is_ok()
            });
        }
        "reject" => {
            let config = Config::builder()
                .open_for(Duration::from_secs(3600))
                .build()
                .unwrap();
            let b = CircuitBreaker::<StdClock, _>::new(&config);
            b.open();
            run(n, || {
                black_box(&b).call(|| black_box(Ok::<(), ()>(()))).is_ok()
            });
        }
        "async" => {
            let config = Config::builder().build().unwrap();
            let b = CircuitBreaker::<StdClock, _>::new(&config);
            struct Noop;
            impl std::task::Wake for Noop {
                fn wake(self: std::sync::Arc<Self>) {}
            }
            // `Waker::noop` is newer than the workspace's MSRV.
            let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
            let mut cx = std::task::Context::from_waker(&waker);
            run(n, || {
                let call =
                    black_box(&b).call_async(std::future::ready(black_box(Ok::<(), ()>(()))));
                let mut call = std::pin::pin!(call);
                matches!(
                    std::future::Future::poll(call.as_mut(), &mut cx),
                    std::task::Poll::Ready(Ok(()))
                )
            });
        }
        _ => {
            let config = Config::builder().build().unwrap();
            let b = CircuitBreaker::<StdClock, _>::new(&config);
            run(n, || {
                black_box(&b).call(|| black_box(Ok::<(), ()>(()))).is_ok()
            });
        }
    }
}
