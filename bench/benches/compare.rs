//! Comparative circuit-breaker benchmark, custom harness.
//!
//! `cargo bench --bench compare` (full, ~1 min on 2 cores);
//! `BENCH_QUICK=1 cargo bench --bench compare` (smoke test, a few seconds).
//!
//! Every measurement runs R rounds; each round runs every subject once, in an order rotated by
//! one each round, so drift (thermal, noisy neighbours) hits all subjects alike. A sample is the
//! time of one batch of calls divided by the batch size; tables report the median over rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use breaker_bench::alloc_count::{self, CountingAlloc};
use breaker_bench::ours::BASELINE;
use breaker_bench::{subjects, DynSubject, Kind};
use breaker_core::Clock;

/// The label of this project's core breaker (the adapters have their own rows).
const CORE: &str = "breaker-core (this project)";
/// The label prefix of the core breaker with its driver running.
const DRIVEN: &str = "breaker-core, driven";
/// The label prefix of this project's tower layer rows.
const TOWER: &str = "breaker-tower";

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Cfg {
    quick: bool,
    rounds: usize,
    batch: u64,
    alloc_batch: u64,
    mt_dur: Duration,
    race_rounds: usize,
    race_open_for: Duration,
}

impl Cfg {
    fn from_env() -> Self {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Cfg {
                quick,
                rounds: 3,
                batch: 20_000,
                alloc_batch: 2_000,
                mt_dur: Duration::from_millis(20),
                race_rounds: 2,
                race_open_for: Duration::from_millis(10),
            }
        } else {
            Cfg {
                quick,
                rounds: 15,
                batch: 1_000_000,
                alloc_batch: 100_000,
                mt_dur: Duration::from_millis(200),
                race_rounds: 15,
                race_open_for: Duration::from_millis(20),
            }
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Rotating round-robin order for round `r` over `n` subjects.
fn order(r: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |i| (i + r) % n)
}

struct Row {
    name: &'static str,
    median: f64,
    min: f64,
    max: f64,
    allocs: f64,
    bytes: f64,
}

/// One single-thread call-loop measurement across all subjects that support `kind`.
fn measure(cfg: &Cfg, subs: &[Box<dyn DynSubject>], kind: Kind, expect_admitted: bool) -> Vec<Row> {
    // Fresh breaker per subject, kept for all rounds (closed stays closed, open stays open).
    let mut prepared: Vec<_> = subs.iter().map(|s| s.prepare(kind)).collect();
    let idx: Vec<usize> = (0..subs.len()).filter(|&i| prepared[i].is_some()).collect();
    let mut samples = vec![Vec::with_capacity(cfg.rounds); subs.len()];
    for &i in &idx {
        let p = prepared[i].as_mut().unwrap();
        black_box(p.run(cfg.batch / 10)); // warm-up
    }
    for r in 0..cfg.rounds {
        for j in order(r, idx.len()) {
            let i = idx[j];
            let p = prepared[i].as_mut().unwrap();
            let t0 = Instant::now();
            let admitted = p.run(cfg.batch);
            let dt = t0.elapsed();
            let want = if expect_admitted { cfg.batch } else { 0 };
            assert_eq!(
                admitted,
                want,
                "{} {:?}: admitted {admitted}/{}",
                subs[i].name(),
                kind,
                cfg.batch
            );
            samples[i].push(dt.as_nanos() as f64 / cfg.batch as f64);
        }
    }
    let mut rows = Vec::new();
    for &i in &idx {
        let p = prepared[i].as_mut().unwrap();
        alloc_count::start();
        black_box(p.run(cfg.alloc_batch));
        let snap = alloc_count::stop();
        let s = &mut samples[i];
        let med = median(s);
        rows.push(Row {
            name: subs[i].name(),
            median: med,
            min: s[0],
            max: s[s.len() - 1],
            allocs: snap.allocs as f64 / cfg.alloc_batch as f64,
            bytes: snap.bytes as f64 / cfg.alloc_batch as f64,
        });
    }
    rows
}

fn print_rows(title: &str, rows: &[Row], subs: &[Box<dyn DynSubject>]) {
    println!("\n### {title}\n");
    if rows.is_empty() {
        println!("(no subject supports this path)");
        return;
    }
    let is_peer = |name: &str| subs.iter().any(|s| s.name() == name && s.is_peer());
    let fastest_peer = rows
        .iter()
        .filter(|r| is_peer(r.name))
        .map(|r| r.median)
        .fold(f64::INFINITY, f64::min);
    let base = rows.iter().find(|r| r.name == BASELINE).map(|r| r.median);
    println!("| subject | median ns/call | min..max | overhead ns (minus baseline) | vs fastest peer | allocs/call | bytes/call |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let overhead = base.map_or("-".to_string(), |b| format!("{:.1}", r.median - b));
        println!(
            "| {} | {:.1} | {:.1}..{:.1} | {} | {:.2}x | {:.2} | {:.1} |",
            r.name,
            r.median,
            r.min,
            r.max,
            overhead,
            r.median / fastest_peer,
            r.allocs,
            r.bytes
        );
    }
    let missing: Vec<_> = subs
        .iter()
        .map(|s| s.name())
        .filter(|n| !rows.iter().any(|r| r.name == *n))
        .collect();
    if !missing.is_empty() {
        println!("\nnot applicable: {}", missing.join(", "));
    }
}

/// Medians of the measurements the goals are stated in.
#[derive(Default)]
struct Goals {
    ours: std::collections::HashMap<&'static str, f64>,
    fastest_peer: std::collections::HashMap<&'static str, f64>,
    baseline: std::collections::HashMap<&'static str, f64>,
    adapters: std::collections::HashMap<(&'static str, &'static str), f64>,
    recloser_window: f64,
    ours_allocs: f64,
    clock_read: f64,
    ours_scaling: Vec<(usize, f64)>,
    ours_reject_scaling: Vec<(usize, f64)>,
    driven_reject_scaling: Vec<(usize, f64)>,
    /// The driven core breaker's rows, by key.
    driven: std::collections::HashMap<&'static str, f64>,
    ours_race_max: f64,
    ours_size: usize,
    /// Per tower-layer row of this project (`breaker-tower`): allocations per call, by key.
    tower_allocs: std::collections::HashMap<(&'static str, &'static str), f64>,
}

fn note_rows(goals: &mut Goals, key: &'static str, rows: &[Row], subs: &[Box<dyn DynSubject>]) {
    let is_peer = |name: &str| subs.iter().any(|s| s.name() == name && s.is_peer());
    for r in rows {
        if r.name == BASELINE {
            goals.baseline.insert(key, r.median);
        } else if is_peer(r.name) {
            let e = goals.fastest_peer.entry(key).or_insert(f64::INFINITY);
            *e = e.min(r.median);
            if key == "window" && r.name.starts_with("recloser") {
                goals.recloser_window = r.median;
            }
        } else if r.name.starts_with(CORE) {
            goals.ours.insert(key, r.median);
            goals.ours_allocs = goals.ours_allocs.max(r.allocs);
        } else if r.name.starts_with(DRIVEN) {
            goals.driven.insert(key, r.median);
        } else {
            goals.adapters.insert((r.name, key), r.median);
            if r.name.starts_with(TOWER) {
                goals.tower_allocs.insert((r.name, key), r.allocs);
            }
        }
    }
}

/// The cost of one `StdClock::now()`, the clock the breaker reads when it must.
fn clock_read_ns(cfg: &Cfg) -> f64 {
    let clock = breaker_core::StdClock;
    let mut samples = Vec::new();
    for _ in 0..cfg.rounds {
        let t0 = Instant::now();
        for _ in 0..cfg.batch {
            black_box(black_box(&clock).now());
        }
        samples.push(t0.elapsed().as_nanos() as f64 / cfg.batch as f64);
    }
    median(&mut samples)
}

fn print_goals(g: &Goals) {
    let verdict = |ok: bool| if ok { "met" } else { "NOT MET" };
    println!("\n### Goals (issues 2 and 5), from this run\n");
    println!("| goal | target | measured | verdict |");
    println!("|---|---|---|---|");
    let get =
        |m: &std::collections::HashMap<&'static str, f64>, k| m.get(k).copied().unwrap_or(f64::NAN);
    let sync_over = get(&g.ours, "sync") - get(&g.baseline, "sync");
    println!(
        "| closed success overhead, sync | <= 3 ns | {sync_over:.2} ns | {} |",
        verdict(sync_over <= 3.0)
    );
    let async_over = get(&g.ours, "async") - get(&g.baseline, "async");
    println!(
        "| closed success overhead, async (ready future) | <= 3 ns | {async_over:.2} ns | {} |",
        verdict(async_over <= 3.0)
    );
    for (k, label) in [
        ("sync", "sync"),
        ("async", "async"),
        ("window", "count window 100"),
    ] {
        let ratio = get(&g.fastest_peer, k) / get(&g.ours, k);
        println!(
            "| closed success, {label}: faster than the fastest peer, time per call | >= 5x | {ratio:.2}x | {} |",
            verdict(ratio >= 5.0)
        );
        let base = get(&g.baseline, k);
        let ratio = (get(&g.fastest_peer, k) - base) / (get(&g.ours, k) - base);
        println!(
            "| closed success, {label}: faster than the fastest peer, overhead (minus baseline) | >= 5x | {ratio:.2}x | {} |",
            verdict(ratio >= 5.0)
        );
    }
    let core_async = get(&g.ours, "async");
    let mut adapters: Vec<_> = g
        .adapters
        .iter()
        .filter(|((_, k), _)| *k == "async")
        .collect();
    adapters.sort_by(|a, b| a.0.cmp(b.0));
    for ((name, _), v) in adapters {
        let extra = v - core_async;
        println!(
            "| {name}: timeout-free async call over the core's | <= 5 ns | {extra:+.2} ns | {} |",
            verdict(extra <= 5.0)
        );
    }
    // The tower layer against the peers' tower layers (issue 10).
    let mut towers: Vec<_> = g
        .adapters
        .iter()
        .filter(|((n, k), _)| *k == "tower" && n.starts_with(TOWER))
        .collect();
    towers.sort_by(|a, b| a.0.cmp(b.0));
    for ((name, _), v) in towers {
        let ratio = get(&g.fastest_peer, "tower") / v;
        println!(
            "| {name}: closed success, tower path, faster than the fastest peer's, time per call | >= 5x | {ratio:.2}x | {} |",
            verdict(ratio >= 5.0)
        );
        // The floor: the same inner service driven the same way with no layer.
        let base = get(&g.baseline, "tower");
        let ratio = (get(&g.fastest_peer, "tower") - base) / (v - base);
        println!(
            "| {name}: closed success, tower path, faster than the fastest peer's, overhead (minus baseline) | >= 5x | {ratio:.2}x | {} |",
            verdict(ratio >= 5.0)
        );
        let allocs = g
            .tower_allocs
            .get(&(*name, "tower"))
            .copied()
            .unwrap_or(f64::NAN);
        println!(
            "| {name}: allocations per call, tower path | 0 | {allocs:.2} | {} |",
            verdict(allocs == 0.0)
        );
    }
    // A rejected call never runs the operation: its whole time is the breaker's.
    let reject = get(&g.ours, "reject");
    println!(
        "| rejection, no driver | <= one clock read ({:.1} ns) + 5 ns | {reject:.1} ns | {} |",
        g.clock_read,
        verdict(reject <= g.clock_read + 5.0)
    );
    let driven = get(&g.driven, "reject");
    let peer = get(&g.fastest_peer, "reject");
    println!(
        "| rejection, with the driver: faster than every peer (issue 9) | < fastest peer ({peer:.1} ns) | {driven:.1} ns | {} |",
        verdict(driven < peer)
    );
    println!(
        "| rejection, no driver: faster than every peer (issue 9) | < fastest peer ({peer:.1} ns) | {reject:.1} ns | {} |",
        verdict(reject < peer)
    );
    for (label, scaling) in [
        ("no driver", &g.ours_reject_scaling),
        ("with the driver", &g.driven_reject_scaling),
    ] {
        if let Some((_, x)) = scaling.iter().find(|(t, _)| *t == 2) {
            println!(
                "| refusals on one open breaker, {label}: 2 threads vs 1 (issue 9) | >= 1.8x | {x:.2}x | {} |",
                verdict(*x >= 1.8)
            );
        }
    }
    let win = get(&g.ours, "window") - get(&g.baseline, "window");
    let rec = g.recloser_window - get(&g.baseline, "window");
    println!(
        "| count window of 100, overhead | <= half of recloser's ({:.1} ns) | {win:.1} ns | {} |",
        rec,
        verdict(win <= rec / 2.0)
    );
    println!(
        "| allocations per call | 0 | {:.2} | {} |",
        g.ours_allocs,
        verdict(g.ours_allocs == 0.0)
    );
    println!(
        "| size of a consecutive-policy breaker | <= 64 B, no heap | {} B | {} |",
        g.ours_size,
        verdict(g.ours_size <= 64)
    );
    for (t, x) in &g.ours_scaling {
        let target = if *t == 2 { ">= 1.8x" } else { "(reported)" };
        let ok = *t != 2 || *x >= 1.8;
        println!(
            "| throughput with {t} threads on one breaker vs 1 thread | {target} | {x:.2}x | {} |",
            verdict(ok)
        );
    }
    println!(
        "| half-open trials admitted under contention | <= 1 (configured) | {:.0} max | {} |",
        g.ours_race_max,
        verdict(g.ours_race_max <= 1.0)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this binary too. Ignore args.
    let cfg = Cfg::from_env();
    let subs = subjects();
    let avail = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(c) = cores.first() {
        core_affinity::set_for_current(*c);
    }
    let t_start = Instant::now();
    println!("# breaker-bench: circuit-breaker peers compared");
    println!(
        "\nmode: {} | rounds: {} | batch: {} calls/sample | available_parallelism: {} | pinned cores: {}",
        if cfg.quick { "QUICK" } else { "full" },
        cfg.rounds,
        cfg.batch,
        avail,
        cores.len()
    );
    println!("Median over rounds of (batch time / batch size); rounds interleave subjects in rotating order.");
    if !alloc_count::installed() {
        println!("WARNING: counting allocator not installed; allocation columns are 0.");
    }

    let m = [
        (
            Kind::ClosedSync,
            true,
            "Closed, success, sync call (consecutive-failures policy, threshold 5)",
        ),
        (
            Kind::Window100,
            true,
            "Closed, success, sync call through a count window of 100",
        ),
        (
            Kind::ClosedAsync,
            true,
            "Closed, success, async call on a ready future (no-op-waker block_on)",
        ),
        (
            Kind::Tower,
            true,
            "Closed, success, tower Service path (ServiceExt::ready + call, block_on)",
        ),
        (
            Kind::AsyncTimeout,
            true,
            "Closed, success, async call under a per-call timeout (a runtime timer per call)",
        ),
        (
            Kind::OpenReject,
            false,
            "Open state: cost of a rejected call",
        ),
    ];
    let mut goals = Goals::default();
    for (kind, expect, title) in m {
        let rows = measure(&cfg, &subs, kind, expect);
        print_rows(title, &rows, &subs);
        let key = match kind {
            Kind::ClosedSync => "sync",
            Kind::Window100 => "window",
            Kind::ClosedAsync => "async",
            Kind::Tower => "tower",
            Kind::AsyncTimeout => "timeout",
            Kind::OpenReject => "reject",
        };
        note_rows(&mut goals, key, &rows, &subs);
    }
    goals.clock_read = clock_read_ns(&cfg);
    println!(
        "\nOne `StdClock::now()` (std::time::Instant): {:.1} ns",
        goals.clock_read
    );

    // Multi-thread throughput on one shared breaker: closed (admissions), then open (refusals).
    let mut counts = vec![1usize, 2, avail];
    counts.sort_unstable();
    counts.dedup();
    for open in [false, true] {
        let mut mt = vec![vec![Vec::with_capacity(cfg.rounds); counts.len()]; subs.len()];
        for r in 0..cfg.rounds {
            for (ci, &t) in counts.iter().enumerate() {
                for i in order(r, subs.len()) {
                    if open && subs[i].name() == BASELINE {
                        mt[i][ci].push(f64::NAN);
                        continue;
                    }
                    let (calls, el) = subs[i].multi_thread(t, &cores, cfg.mt_dur, open);
                    mt[i][ci].push(calls as f64 / el.as_secs_f64() / 1e6);
                }
            }
        }
        if open {
            println!(
                "\n### Throughput, {:?} threads calling ONE shared OPEN breaker (refusals; pinned; total Mcalls/s: median (min..max), xN = median vs 1 thread)\n",
                counts
            );
        } else {
            println!(
                "\n### Throughput, {:?} threads hammering ONE shared closed breaker (pinned; total Mcalls/s: median (min..max), xN = median vs 1 thread)\n",
                counts
            );
        }
        print!("| subject |");
        for t in &counts {
            print!(" {t} thr |");
        }
        println!();
        print!("|---|");
        for _ in &counts {
            print!("---:|");
        }
        println!();
        for (i, s) in subs.iter().enumerate() {
            if open && s.name() == BASELINE {
                continue;
            }
            let meds: Vec<f64> = mt[i].iter_mut().map(|v| median(v)).collect();
            let scaling: Vec<(usize, f64)> = counts
                .iter()
                .zip(&meds)
                .skip(1)
                .map(|(t, m)| (*t, m / meds[0]))
                .collect();
            if s.name().starts_with(CORE) {
                if open {
                    goals.ours_reject_scaling = scaling;
                } else {
                    goals.ours_scaling = scaling;
                }
            } else if open && s.name().starts_with(DRIVEN) {
                goals.driven_reject_scaling = scaling;
            }
            print!("| {} |", s.name());
            for (ci, m) in meds.iter().enumerate() {
                // `median` sorted the samples: first/last are min/max.
                let (lo, hi) = (mt[i][ci][0], mt[i][ci][mt[i][ci].len() - 1]);
                if ci == 0 {
                    print!(" {m:.2} ({lo:.2}..{hi:.2}) |");
                } else {
                    print!(" {m:.2} ({lo:.2}..{hi:.2}) x{:.2} |", m / meds[0]);
                }
            }
            println!();
        }
    }

    // Half-open admission under contention.
    let race_threads = (2 * avail).max(4);
    let mut race = vec![Vec::new(); subs.len()];
    for r in 0..cfg.race_rounds {
        for i in order(r, subs.len()) {
            if subs[i].name() == BASELINE {
                race[i].push(Default::default());
                continue;
            }
            race[i].push(subs[i].half_open_race(race_threads, &cores, cfg.race_open_for));
        }
    }
    println!(
        "\n### Half-open admission: {race_threads} threads call at once after the {:?} open timeout; trials block until all have been answered ({} rounds)\n",
        cfg.race_open_for, cfg.race_rounds
    );
    println!(
        "| subject | configured trial limit | trials admitted (median) | min..max | verdict |"
    );
    println!("|---|---:|---:|---:|---|");
    for (i, s) in subs.iter().enumerate() {
        if s.name() == BASELINE {
            continue;
        }
        let mut a: Vec<f64> = race[i].iter().map(|r| r.admitted as f64).collect();
        let med = median(&mut a);
        let (lo, hi) = (a[0], a[a.len() - 1]);
        if s.name().starts_with(CORE) {
            goals.ours_race_max = hi;
        }
        let limit = s.half_open_limit();
        let verdict = match limit {
            Some(l) if hi <= l as f64 => "ok: limit held",
            Some(_) => "EXCEEDS limit",
            None if hi <= 1.0 => "ok",
            None => "no limit: admits every caller",
        };
        println!(
            "| {} | {} | {med:.0} of {race_threads} | {lo:.0}..{hi:.0} | {verdict} |",
            s.name(),
            limit.map_or("none".to_string(), |l| l.to_string()),
        );
    }

    // Memory.
    println!("\n### Memory: size_of the breaker, heap allocated by its constructor\n");
    println!("| subject | size_of (B) | consecutive: allocs / bytes / live bytes | window 100: allocs / bytes / live bytes |");
    println!("|---|---:|---:|---:|");
    for s in &subs {
        if s.name() == BASELINE {
            continue;
        }
        if s.name().starts_with(CORE) {
            goals.ours_size = s.breaker_size();
        }
        let c = s.construct_heap(false).unwrap();
        let w = s.construct_heap(true).map_or("n/a".to_string(), |w| {
            format!("{} / {} / {}", w.allocs, w.bytes, w.live_bytes)
        });
        println!(
            "| {} | {} | {} / {} / {} | {} |",
            s.name(),
            s.breaker_size(),
            c.allocs,
            c.bytes,
            c.live_bytes,
            w
        );
    }

    println!("\nNotes:");
    for s in &subs {
        if !s.note().is_empty() {
            println!("- {}", s.note());
        }
    }
    print_goals(&goals);
    println!(
        "\ntotal bench time: {:.1} s",
        t_start.elapsed().as_secs_f64()
    );
}
