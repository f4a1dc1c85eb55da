//! What `#[circuit]` costs over the same call written by hand against a `static` breaker:
//! `cargo bench -p breaker-macros --bench overhead` (`BENCH_QUICK=1` for a smoke run).
//!
//! Every round runs every subject once, in an order rotated by one each round, so drift hits
//! all alike; a sample is the time of one batch divided by its size; the table shows the median
//! over rounds, closed breaker, every call a success. Nothing here asserts a time.

use core::future::Future;
use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;
use std::time::Instant;

use breaker_tokio::{circuit, CircuitBreaker, Config, Policy};

#[inline(always)]
fn op() -> Result<u64, ()> {
    black_box(Ok(1))
}

#[circuit]
fn attribute_sync() -> Result<u64, ()> {
    op()
}

#[circuit]
async fn attribute_async() -> Result<u64, ()> {
    op()
}

static BY_HAND: CircuitBreaker = CircuitBreaker::new(Config::default_config());

fn by_hand_sync() -> Result<u64, breaker_tokio::Error<()>> {
    BY_HAND.call(op)
}

async fn by_hand_async() -> Result<u64, breaker_tokio::Error<()>> {
    BY_HAND.call_async(async { op() }).await
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `f` to completion on this thread (every future here is ready at once).
#[inline(always)]
fn block_on<F: Future>(cx: &mut Context<'_>, f: F) -> F::Output {
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return v;
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (rounds, batch) = if quick {
        (3, 20_000u64)
    } else {
        (21, 2_000_000u64)
    };
    let waker = Waker::from(Arc::new(Noop));
    let protected = BY_HAND.protect(Policy::NONE, |()| async { op() });

    type Run<'a> = Box<dyn Fn(&mut Context<'_>, u64) -> u64 + 'a>;
    let subjects: Vec<(&str, Run<'_>)> = vec![
        (
            "baseline: the operation alone",
            Box::new(|_, n| (0..n).map(|_| op().unwrap_or(0)).sum()),
        ),
        (
            "sync, by hand: BREAKER.call(op)",
            Box::new(|_, n| (0..n).map(|_| by_hand_sync().unwrap_or(0)).sum()),
        ),
        (
            "sync, #[circuit] fn",
            Box::new(|_, n| (0..n).map(|_| attribute_sync().unwrap_or(0)).sum()),
        ),
        (
            "async, by hand: BREAKER.call_async(fut)",
            Box::new(|cx, n| {
                (0..n)
                    .map(|_| block_on(cx, by_hand_async()).unwrap_or(0))
                    .sum()
            }),
        ),
        (
            "async, by hand: BREAKER.protect(Policy::NONE, f).call(())",
            Box::new(|cx, n| {
                (0..n)
                    .map(|_| block_on(cx, protected.call(())).unwrap_or(0))
                    .sum()
            }),
        ),
        (
            "async, #[circuit] async fn",
            Box::new(|cx, n| {
                (0..n)
                    .map(|_| block_on(cx, attribute_async()).unwrap_or(0))
                    .sum()
            }),
        ),
    ];
    let mut cx = Context::from_waker(&waker);
    let mut samples = vec![Vec::new(); subjects.len()];
    for (_, run) in &subjects {
        black_box(run(&mut cx, batch / 10)); // warm-up
    }
    for r in 0..rounds {
        for i in (0..subjects.len()).map(|i| (i + r) % subjects.len()) {
            let t0 = Instant::now();
            let admitted = subjects[i].1(&mut cx, batch);
            let dt = t0.elapsed();
            assert_eq!(
                admitted, batch,
                "{}: not every call succeeded",
                subjects[i].0
            );
            samples[i].push(dt.as_nanos() as f64 / batch as f64);
        }
    }
    println!("| path ({rounds} rounds of {batch} calls) | ns/call, median | min..max |");
    println!("|---|---:|---:|");
    for ((name, _), s) in subjects.iter().zip(&mut samples) {
        let m = median(s);
        println!("| {name} | {m:.2} | {:.2}..{:.2} |", s[0], s[s.len() - 1]);
    }
}
