//! Runs one call loop of chosen subjects, for instruction counts under callgrind:
//! `valgrind --tool=callgrind target/release/examples/instr tower breaker-tower 1000000`, then the
//! same with `0` calls; the difference of the totals over the calls is the cost of one call,
//! the loop included (the baseline subject gives the floor).
//!
//! Arguments: the kind (`sync`, `async`, `tower`), a substring of the subject's name, the calls.

use breaker_bench::{subjects, Kind};

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("floor") {
        let n = args
            .nth(1)
            .map_or(1_000_000, |s| s.parse().expect("a number of calls"));
        if args.next().as_deref() == Some("time") {
            let best = (0..15)
                .map(|_| {
                    let t = std::time::Instant::now();
                    floor(n);
                    t.elapsed().as_secs_f64() * 1e9 / n as f64
                })
                .fold(f64::INFINITY, f64::min);
            println!("{best:>8.2} ns  floor");
        } else {
            println!("floor: {} of {n}", floor(n));
        }
        return;
    }
    let kind = match first.as_deref() {
        Some("sync") => Kind::ClosedSync,
        Some("async") => Kind::ClosedAsync,
        Some("tower") => Kind::Tower,
        other => panic!("kind: sync, async or tower, not {other:?}"),
    };
    let filter = args.next().unwrap_or_default();
    let n: u64 = args
        .next()
        .map_or(1_000_000, |s| s.parse().expect("a number of calls"));
    // With a fourth argument, `time`: the best of 15 rounds of `n` calls, in ns per call (the
    // minimum, since the machine is shared: noise only adds).
    let time = args.next().as_deref() == Some("time");
    for s in subjects().iter().filter(|s| s.name().contains(&filter)) {
        if let Some(mut p) = s.prepare(kind) {
            if time {
                let best = (0..15)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        p.run(n);
                        t.elapsed().as_secs_f64() * 1e9 / n as f64
                    })
                    .fold(f64::INFINITY, f64::min);
                println!("{:>8.2} ns  {}", best, s.name());
            } else {
                let admitted = p.run(n);
                println!("{}: {admitted} of {n} admitted", s.name());
            }
        }
    }
}

/// The tower path with no layer at all, the inner service held as the rows hold theirs (not
/// rebuilt per call, as the baseline row does): what any layer's row pays on top of its own work.
fn floor(n: u64) -> u64 {
    use breaker_bench::{block_on, inner_service, Req};
    use std::hint::black_box;
    use tower::{Service, ServiceExt};
    let mut svc = inner_service()
        .map_err(|()| -> breaker_tower::error::BoxError { Box::new(std::fmt::Error) });
    let mut ok = 0u64;
    for _ in 0..n {
        let l = black_box(&mut svc);
        let r = block_on(async {
            match ServiceExt::<Req>::ready(l).await {
                Ok(svc) => svc.call(Req::Ok).await,
                Err(e) => Err(e),
            }
        });
        ok += black_box(r.is_ok()) as u64;
    }
    ok
}
