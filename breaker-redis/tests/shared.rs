//! One breaker shared by many tasks and processes through a real redis-server: exact counts,
//! one trip, exact trials, leases freed at their deadline, outages, corrupted data.

mod common;

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration as StdDuration;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant as StdInstant;

use breaker_core::machine::{Manual, Outcome, Report};
use breaker_core::{Admitted, Breaker, Config, Duration, Handle, State, StdClock};
use breaker_redis::{Op, Options, Outage, RedisBreaker};
use common::{eventually, leak, Count, RedisServer};

const FAIL_MAX: u32 = 5;
const TRIALS: u16 = 3;

fn config(open_ms: u64, wait_ms: u64) -> Config {
    Config::builder()
        .name("shared")
        .failure_threshold(FAIL_MAX)
        .open_for(Duration::from_millis(open_ms))
        .half_open_trials(TRIALS)
        .success_threshold(TRIALS)
        .half_open_max_wait(Duration::from_millis(wait_ms))
        .build()
        .unwrap()
}

async fn breaker(
    url: &str,
    ns: &str,
    config: Config,
    count: &'static Count,
) -> Arc<RedisBreaker<StdClock, &'static Count>> {
    let opts = Options::new(url)
        .namespace(ns)
        .redis_timeout(StdDuration::from_millis(100))
        .poll_interval(StdDuration::from_millis(100))
        .reconnect_backoff(StdDuration::from_millis(20), StdDuration::from_millis(200));
    let b = Arc::new(RedisBreaker::new(config, opts, StdClock, count).unwrap());
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_reach_exactly_fail_max_and_trip_once() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let count = leak(Count::default());
    let b = breaker(&server.url(), "tasks", config(60_000, 60_000), count).await;
    // 64 tasks fail at once through ordinary permits (each failure: one script call, sent in
    // the background).
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let b = Arc::clone(&b);
        tasks.push(tokio::spawn(async move {
            if let Ok(p) = b.try_acquire() {
                p.failure();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(eventually(StdDuration::from_secs(3), || b.view().state == State::Open).await);
    tokio::time::sleep(StdDuration::from_millis(200)).await; // let stale reports land
    let r = b.execute(Op::Read).await.unwrap();
    assert_eq!(r.machine.state, State::Open);
    assert_eq!(r.machine.failures, FAIL_MAX, "the count overshot fail_max");
    assert_eq!(r.machine.generation, 1, "more than one trip");
    assert_eq!(count.opened.load(Ordering::SeqCst), 1);
    // Open: rejected locally, with no Redis command.
    let before = b.commands_sent();
    for _ in 0..1000 {
        assert!(Arc::clone(&b).try_acquire().is_err());
    }
    assert_eq!(b.commands_sent(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_successes_cost_no_redis_command() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let count = leak(Count::default());
    let b = breaker(&server.url(), "quiet", config(60_000, 60_000), count).await;
    let before = b.commands_sent();
    for _ in 0..10_000 {
        Arc::clone(&b).try_acquire().unwrap().success();
    }
    // Polls may run meanwhile (one per poll interval); calls add nothing.
    assert!(
        b.commands_sent() - before <= 3,
        "{}",
        b.commands_sent() - before
    );
    // A failure costs one command, and the success after it one more (it resets the count).
    let before = b.commands_sent();
    Arc::clone(&b).try_acquire().unwrap().failure();
    assert!(eventually(StdDuration::from_secs(2), || b.view().failures == 1).await);
    Arc::clone(&b).try_acquire().unwrap().success();
    assert!(eventually(StdDuration::from_secs(2), || b.view().failures == 0).await);
    assert!(b.commands_sent() - before <= 2 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admits_exactly_the_configured_trials() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let count = leak(Count::default());
    // Two breakers (two views, as two processes would have) on one key.
    let a = breaker(&server.url(), "trials", config(50, 60_000), count).await;
    let c = breaker(&server.url(), "trials", config(50, 60_000), count).await;
    a.manual(Manual::Open).await.unwrap();
    // The other view learns of the trip by pub/sub (until then it would admit as closed: the
    // staleness bound).
    assert!(eventually(StdDuration::from_secs(2), || c.view().state == State::Open).await);
    tokio::time::sleep(StdDuration::from_millis(80)).await;
    let admitted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let b = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&c)
        };
        let admitted = Arc::clone(&admitted);
        tasks.push(tokio::spawn(async move {
            let end = StdInstant::now() + StdDuration::from_millis(500);
            let mut held = Vec::new();
            while StdInstant::now() < end {
                // Half the tasks use the synchronous seam, half the awaited admission.
                let ticket = if i % 4 < 2 {
                    Breaker::admit(&*b).ok().map(|a| a.ticket)
                } else {
                    b.admit_async().await.ok().map(|a| a.ticket)
                };
                if let Some(t) = ticket {
                    assert!(t.is_trial());
                    admitted.fetch_add(1, Ordering::SeqCst);
                    held.push(t); // held, never reported
                }
                tokio::time::sleep(StdDuration::from_millis(2)).await;
            }
            held.len()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(admitted.load(Ordering::SeqCst), TRIALS as usize);
    let r = a.execute(Op::Read).await.unwrap();
    assert_eq!(
        (r.machine.state, r.machine.trials),
        (State::HalfOpen, TRIALS)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_data_is_reset_with_an_error_never_a_panic() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let count = leak(Count::default());
    let b = breaker(&server.url(), "corrupt", config(60_000, 60_000), count).await;
    let key = b.store().key().to_owned();
    let mut con = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let garbage: [&[&str]; 6] = [
        &["SET", &key, "not a hash"],
        &["HSET", &key, "st", "9"],
        &["HSET", &key, "st", "1", "gen", "abc"],
        &[
            "HSET", &key, "st", "1", "gen", "1.5", "fail", "0", "tri", "0", "suc", "0", "opn", "0",
            "dl", "0", "seq", "1",
        ],
        &[
            "HSET", &key, "st", "0", "gen", "0", "fail", "-3", "tri", "0", "suc", "0", "opn", "0",
            "dl", "-1", "seq", "1",
        ],
        &["RPUSH", &key, "a", "b"],
    ];
    for (i, cmd) in garbage.iter().enumerate() {
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        let mut c = redis::cmd(cmd[0]);
        for a in &cmd[1..] {
            c.arg(*a);
        }
        let _: redis::Value = c.query_async(&mut con).await.unwrap();
        let r = b
            .execute(Op::Record(Report::new(0, Outcome::Failure)))
            .await
            .unwrap();
        assert!(r.corrupt, "case {i}");
        // Reset to closed, then the failure counted on the known state.
        assert_eq!(
            (r.machine.state, r.machine.failures),
            (State::Closed, 1),
            "case {i}"
        );
        assert_eq!(count.corrupt.load(Ordering::SeqCst), i + 1);
    }
    assert!(b.is_synced());
}

/// The entry point of the worker processes of `processes_share_one_breaker`: inert unless the
/// test binary is started with `BREAKER_REDIS_WORKER` set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_entry() {
    let Ok(role) = std::env::var("BREAKER_REDIS_WORKER") else {
        return;
    };
    let url = std::env::var("BREAKER_REDIS_URL").unwrap();
    let count = leak(Count::default());
    let b = breaker(&url, "procs", config(300, 1500), count).await;
    match role.as_str() {
        "fail" => {
            // 16 tasks fail at once, each through the awaited form so the process can say what
            // it caused.
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let b = Arc::clone(&b);
                tasks.push(tokio::spawn(async move {
                    let r = b
                        .execute(Op::Record(Report::new(0, Outcome::Failure)))
                        .await
                        .unwrap();
                    usize::from(r.transition().is_some())
                }));
            }
            let mut trips = 0;
            for t in tasks {
                trips += t.await.unwrap();
            }
            println!("TRIPS {trips}");
        }
        "trial" => {
            let end = StdInstant::now() + StdDuration::from_millis(1200);
            while StdInstant::now() < end {
                if let Ok(Admitted { ticket: t, .. }) = b.admit_async().await {
                    println!("TRIAL {}", t.generation());
                    // Hold the trial and never report: the parent kills this process.
                    tokio::time::sleep(StdDuration::from_secs(30)).await;
                }
                tokio::time::sleep(StdDuration::from_millis(3)).await;
            }
            println!("NONE");
        }
        _ => unreachable!(),
    }
}

fn spawn_worker(role: &str, url: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "worker_entry",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("BREAKER_REDIS_WORKER", role)
        .env("BREAKER_REDIS_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_one_breaker() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    // 4 processes x 16 tasks fail at once: exactly fail_max counted, one trip in all.
    let workers: Vec<_> = (0..4).map(|_| spawn_worker("fail", &url)).collect();
    let mut trips = 0;
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        // libtest prints the test's name on the same line, before its output.
        let at = text.find("TRIPS ").expect("worker reported");
        let n = text[at + 6..].split_whitespace().next().unwrap();
        trips += n.parse::<usize>().unwrap();
    }
    assert_eq!(trips, 1, "one trip across the processes");
    let count = leak(Count::default());
    let b = breaker(&url, "procs", config(300, 1500), count).await;
    let r = b.execute(Op::Read).await.unwrap();
    assert_eq!(
        (r.machine.state, r.machine.failures, r.machine.generation),
        (State::Open, FAIL_MAX, 1)
    );

    // 5 processes compete for the half-open trials: exactly TRIALS get one.
    let mut workers: Vec<_> = (0..5).map(|_| spawn_worker("trial", &url)).collect();
    let mut holders = Vec::new();
    let mut readers = Vec::new();
    for (i, w) in workers.iter_mut().enumerate() {
        let out = w.stdout.take().unwrap();
        readers.push(std::thread::spawn(move || {
            use std::io::BufRead;
            let line = std::io::BufReader::new(out).lines().find_map(|l| {
                let l = l.ok()?;
                (l.contains("TRIAL") || l.contains("NONE")).then_some(l)
            });
            (i, line)
        }));
    }
    let mut none = 0;
    for r in readers {
        let (i, line) = r.join().unwrap();
        match line.as_deref() {
            Some(l) if l.contains("TRIAL") => holders.push(i),
            _ => none += 1,
        }
    }
    assert_eq!(holders.len(), TRIALS as usize, "trials cluster-wide");
    assert_eq!(none, 5 - TRIALS as usize);
    let r = b.execute(Op::Read).await.unwrap();
    assert_eq!(
        (r.machine.state, r.machine.trials),
        (State::HalfOpen, TRIALS)
    );
    let lease_deadline = r.machine.deadline.unwrap();
    // kill -9 the holders: their leases are freed at the lease deadline (the half-open maximum
    // wait): the breaker gives the trials up (re-opens, the core's rule), then admits new ones.
    for i in &holders {
        let _ = workers[*i].kill();
    }
    for w in &mut workers {
        let _ = w.wait();
    }
    let r = b.execute(Op::Advance).await.unwrap();
    if r.now < lease_deadline {
        assert_eq!(
            r.machine.state,
            State::HalfOpen,
            "freed before the lease deadline"
        );
    }
    tokio::time::sleep(StdDuration::from_micros(
        (lease_deadline.as_micros() - r.now.as_micros().min(lease_deadline.as_micros())) + 20_000,
    ))
    .await;
    let r = b.execute(Op::Advance).await.unwrap();
    assert!(r.now >= lease_deadline);
    assert_eq!((r.machine.state, r.machine.generation), (State::Open, 3));
    tokio::time::sleep(StdDuration::from_millis(350)).await;
    assert!(b.admit_async().await.unwrap().ticket.is_trial());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_follow_the_policy_and_resync() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let count = leak(Count::default());
    let b = breaker(&server.url(), "chaos", config(60_000, 60_000), count).await;
    let reject_count = leak(Count::default());
    let opts = Options::new(server.url())
        .namespace("chaos")
        .outage(Outage::Reject)
        .redis_timeout(StdDuration::from_millis(100))
        .poll_interval(StdDuration::from_millis(100));
    let rejecting =
        Arc::new(RedisBreaker::new(config(60_000, 60_000), opts, StdClock, reject_count).unwrap());
    assert!(rejecting.wait_synced(StdDuration::from_secs(5)).await);
    // A call takes microseconds whatever Redis does: nothing on the call path waits for it.
    let slowest = Arc::new(std::sync::Mutex::new(StdDuration::ZERO));
    let calls = |b: &Arc<RedisBreaker<StdClock, &'static Count>>, n: usize, fail: bool| {
        let mut admitted = 0;
        for _ in 0..n {
            let t = StdInstant::now();
            if let Ok(p) = Arc::clone(b).try_acquire() {
                admitted += 1;
                if fail {
                    p.failure();
                } else {
                    p.success();
                }
            }
            let e = t.elapsed();
            let mut s = slowest.lock().unwrap();
            *s = (*s).max(e);
        }
        admitted
    };

    // SIGSTOP: Redis stops answering. Within the staleness bound both breakers see the outage,
    // report it once, and follow their policies.
    server.signal("-STOP");
    assert!(
        eventually(StdDuration::from_secs(2), || !b.is_synced()
            && !rejecting.is_synced())
        .await
    );
    assert_eq!(
        calls(&rejecting, 100, false),
        0,
        "Outage::Reject admits nothing"
    );
    // Outage::Local: a local breaker takes over, and trips on its own after fail_max.
    assert_eq!(calls(&b, 20, true), FAIL_MAX as usize);
    assert_eq!(b.state(), State::Open);
    let t = StdInstant::now();
    assert!(b.execute(Op::Read).await.is_err());
    assert!(
        t.elapsed() < StdDuration::from_millis(50),
        "an awaited command waited for Redis"
    );
    tokio::time::sleep(StdDuration::from_millis(400)).await; // reconnect attempts fail meanwhile
    assert_eq!(count.outages.load(Ordering::SeqCst), 1, "reported once");
    server.signal("-CONT");
    assert!(
        eventually(StdDuration::from_secs(3), || b.is_synced()
            && rejecting.is_synced())
        .await
    );
    assert_eq!(count.resyncs.load(Ordering::SeqCst), 1);
    // The shared state rules again: closed (the outage's failures were local).
    assert_eq!(calls(&b, 10, false), 10);

    // Kill and restart redis-server (its data is gone): the views resync to the fresh state.
    b.manual(Manual::ForceOpen).await.unwrap();
    assert!(
        eventually(StdDuration::from_secs(2), || rejecting.view().state
            == State::ForcedOpen)
        .await
    );
    server.kill();
    assert!(eventually(StdDuration::from_secs(2), || !b.is_synced()).await);
    server.restart();
    assert!(
        eventually(StdDuration::from_secs(5), || b.is_synced()
            && rejecting.is_synced())
        .await
    );
    assert_eq!(rejecting.view().state, State::Closed);
    assert_eq!(calls(&rejecting, 10, false), 10);
    assert_eq!(count.outages.load(Ordering::SeqCst), 2);
    assert_eq!(count.resyncs.load(Ordering::SeqCst), 2);
    let slowest = *slowest.lock().unwrap();
    assert!(
        slowest < StdDuration::from_millis(50),
        "a call took {slowest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_reaches_other_views_by_pubsub_without_polling() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let count = leak(Count::default());
    let slow_poll = |ns: &str| {
        Options::new(server.url())
            .namespace(ns)
            .poll_interval(StdDuration::from_secs(60))
    };
    let a =
        RedisBreaker::new(config(60_000, 60_000), slow_poll("pubsub"), StdClock, count).unwrap();
    let c =
        RedisBreaker::new(config(60_000, 60_000), slow_poll("pubsub"), StdClock, count).unwrap();
    assert!(a.wait_synced(StdDuration::from_secs(5)).await);
    assert!(c.wait_synced(StdDuration::from_secs(5)).await);
    a.manual(Manual::Open).await.unwrap();
    assert!(eventually(StdDuration::from_secs(1), || c.view().state == State::Open).await);
    a.manual(Manual::Close).await.unwrap();
    assert!(
        eventually(StdDuration::from_secs(1), || c.view().state
            == State::Closed)
        .await
    );
}

#[cfg(feature = "smol")]
/// The client connections a redis-server has open (`CLIENT LIST`, this one's own excluded).
fn clients(server: &RedisServer) -> usize {
    let out = Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "CLIENT", "LIST"])
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).lines().count() - 1
}

/// The same breaker on smol: the driver on smol's global executor, redis's `smol-comp`
/// connections, async-io timers. Failures through the seam trip it, another view hears of it by
/// pub/sub alone, and dropping the breakers ends their drivers and closes their connections.
#[cfg(feature = "smol")]
#[test]
fn a_shared_breaker_runs_on_smol() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    smol::block_on(async {
        let count = leak(Count::default());
        let options = || {
            Options::new(server.url())
                .namespace("smol")
                .poll_interval(StdDuration::from_secs(60))
                .executor(breaker_redis::Executor::smol())
        };
        let a = Arc::new(
            RedisBreaker::new(config(60_000, 60_000), options(), StdClock, count).unwrap(),
        );
        let c = RedisBreaker::new(config(60_000, 60_000), options(), StdClock, count).unwrap();
        assert!(a.wait_synced(StdDuration::from_secs(5)).await);
        assert!(c.wait_synced(StdDuration::from_secs(5)).await);
        // Each breaker: a command connection and a pub/sub connection.
        assert_eq!(clients(&server), 4);
        for _ in 0..FAIL_MAX {
            let r = Arc::clone(&a).call(|| Err::<(), _>(std::io::Error::other("down")));
            assert!(r.is_err());
            // Sent in the background; applied in Redis once flushed.
            a.flush().await;
        }
        assert_eq!(a.view().state, State::Open);
        assert!(
            common::eventually_any(StdDuration::from_secs(2), || c.view().state == State::Open)
                .await
        );
        assert_eq!(count.outages.load(Ordering::SeqCst), 0);
        drop(a);
        drop(c);
        assert!(
            common::eventually_any(StdDuration::from_secs(2), || clients(&server) == 0).await,
            "the drivers ended and closed their connections"
        );
    });
}

/// Bad input gives a typed error, never a panic: a tokio executor outside a tokio runtime, and a
/// cluster with no node.
#[test]
fn a_breaker_that_cannot_run_is_refused_when_built() {
    let tokio_outside =
        Options::new("redis://127.0.0.1:1").executor(breaker_redis::Executor::tokio());
    let r = RedisBreaker::new(config(1_000, 1_000), tokio_outside, StdClock, ());
    assert!(
        matches!(r, Err(breaker_redis::BuildError::NoExecutor)),
        "{r:?}"
    );
    let r = RedisBreaker::new(
        config(1_000, 1_000),
        Options::cluster(Vec::<String>::new()),
        StdClock,
        (),
    );
    assert!(matches!(r, Err(breaker_redis::BuildError::Url(_))), "{r:?}");
    let r = RedisBreaker::new(
        config(1_000, 1_000),
        Options::new("not a url"),
        StdClock,
        (),
    );
    assert!(matches!(r, Err(breaker_redis::BuildError::Url(_))), "{r:?}");
}
