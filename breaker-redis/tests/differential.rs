//! Random event sequences applied to the core's pure machine and to the Redis script give the
//! same machines, admissions and transitions, step for step, on the server's clock.

mod common;

use breaker_core::machine::{Admission, Env, Fixed, Machine, Manual, Outcome, Report};
use breaker_core::{Config, Duration, Random, Reason, StdClock};
use breaker_redis::{Op, Options, RedisBreaker};

struct Const(u32);
impl Random for Const {
    fn next_u32(&self) -> u32 {
        self.0
    }
}

static RANDOM: Const = Const(0xDEAD_BEEF);

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

async fn run(config: Config, random: u32, seed: u64, steps: usize) {
    let Some(server) = common::RedisServer::start() else {
        return;
    };
    let opts = Options::new(server.url()).namespace(format!("diff{seed}"));
    let b = RedisBreaker::new(config, opts, StdClock, ()).unwrap();
    assert!(b.wait_synced(core::time::Duration::from_secs(5)).await);
    let s = config.settings();
    let mut m = Machine::INITIAL;
    let mut rng = seed;
    let mut transitions = 0;
    let mut reasons = [0usize; 9];
    for step in 0..steps {
        let r = xorshift(&mut rng);
        let op = match r % 16 {
            0..=4 => Op::Acquire,
            5..=10 => {
                // Mostly the current generation, sometimes a stale or future one.
                let generation = match (r >> 8) % 6 {
                    0 => m.generation.wrapping_sub(1) & 0xFF_FFFF,
                    1 => (m.generation + 1) & 0xFF_FFFF,
                    _ => m.generation,
                };
                let outcome = match (r >> 16) % 5 {
                    0 | 1 => Outcome::Failure,
                    2 | 3 => Outcome::Success,
                    _ => Outcome::Ignored,
                };
                let mut report = Report::new(generation, outcome);
                report.slow = (r >> 24) % 4 == 0;
                report.window_trips = (r >> 28) % 16 == 0;
                Op::Record(report)
            }
            11 => Op::Manual(
                [
                    Manual::Open,
                    Manual::ForceOpen,
                    Manual::Close,
                    Manual::HalfOpen,
                    Manual::Disable,
                ][((r >> 8) % 5) as usize],
            ),
            12 => Op::Advance,
            13 => Op::Read,
            _ => {
                // Let time pass, so open durations and half-open waits run out.
                tokio::time::sleep(core::time::Duration::from_millis((r >> 8) % 25)).await;
                continue;
            }
        };
        let reply = b
            .execute(op)
            .await
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        let mut env = Fixed {
            now: reply.now,
            random,
        };
        let (next, transition, admission) = match op {
            Op::Acquire => {
                let st = m.acquire(s, &mut env);
                (st.next, st.transition, Some(st.value))
            }
            Op::Record(rep) => {
                let st = m.record(rep, s, &mut env);
                (st.next, st.transition, None)
            }
            Op::Manual(a) => {
                let st = m.manual(a, s, &mut env);
                (st.next, st.transition, None)
            }
            Op::Advance => {
                let st = m.advance(s, &mut env);
                (st.next, st.transition, None)
            }
            Op::Read | Op::Window { .. } => (m, None, None),
        };
        let _ = env.now();
        assert!(!reply.corrupt);
        assert_eq!(
            reply.machine, next,
            "step {step}: {op:?} at {:?}",
            reply.now
        );
        // The whole change, its reason and the reason's numbers included.
        assert_eq!(reply.transition(), transition, "step {step}: {op:?}");
        if let Some(t) = transition {
            reasons[reason_index(&t.reason)] += 1;
        }
        if let Some(a) = admission {
            match (a, reply.admission.unwrap()) {
                (Admission::Admitted { .. }, b @ Admission::Admitted { .. }) => assert_eq!(a, b),
                (
                    Admission::Rejected { retry_after: x },
                    Admission::Rejected { retry_after: y },
                ) => {
                    assert_eq!(x, y, "step {step}")
                }
                (x, y) => panic!("step {step}: model {x:?}, redis {y:?}"),
            }
        }
        transitions += usize::from(transition.is_some());
        m = next;
    }
    // The sequence must have exercised the machine, not idled in one state, and the reasons
    // compared must include every kind a sequence without a window can give.
    assert!(transitions >= 10, "only {transitions} transitions");
    for (i, name) in [
        "consecutive failures",
        "trial failed",
        "trials succeeded or abandoned",
        "open time elapsed",
        "manual",
    ]
    .iter()
    .enumerate()
    {
        let seen = match i {
            0 => reasons[0],
            1 => reasons[3],
            2 => reasons[4] + reasons[5],
            3 => reasons[6],
            _ => reasons[7],
        };
        assert!(seen > 0, "no transition for {name}: {reasons:?}");
    }
}

fn reason_index(r: &Reason) -> usize {
    match r {
        Reason::ConsecutiveFailures { .. } => 0,
        Reason::FailureRate { .. } => 1,
        Reason::SlowCallRate { .. } => 2,
        Reason::TrialFailed { .. } => 3,
        Reason::TrialsAbandoned { .. } => 4,
        Reason::TrialsSucceeded { .. } => 5,
        Reason::OpenTimeElapsed { .. } => 6,
        Reason::Manual(_) => 7,
        _ => 8,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_mirrors_the_pure_machine() {
    let config = Config::builder()
        .name("diff")
        .failure_threshold(3)
        .open_for(Duration::from_millis(30))
        .half_open_trials(2)
        .success_threshold(2)
        .half_open_max_wait(Duration::from_millis(40))
        .build()
        .unwrap();
    run(config, 0, 0x9E37_79B9_7F4A_7C15, 600).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_mirrors_exponential_jittered_backoff() {
    let config = Config::builder()
        .name("diffexp")
        .failure_threshold(2)
        .open_exponential(Duration::from_millis(7), 3, Duration::from_millis(50))
        .jitter(0.7, &RANDOM)
        .half_open_trials(1)
        .half_open_max_wait(Duration::from_millis(20))
        .build()
        .unwrap();
    run(config, RANDOM.0, 0x1234_5678_9ABC_DEF1, 600).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_jitter_product_is_exact_for_long_durations() {
    // Large open durations make the core's u128 jitter product exceed 2^53: the limb arithmetic
    // must still agree to the microsecond.
    let config = Config::builder()
        .name("diffbig")
        .failure_threshold(1)
        .open_exponential(
            Duration::from_secs(1_000_000),
            7,
            Duration::from_micros(1 << 50),
        )
        .jitter(0.999, &RANDOM)
        .build()
        .unwrap();
    let Some(server) = common::RedisServer::start() else {
        return;
    };
    let b = RedisBreaker::new(config, Options::new(server.url()), StdClock, ()).unwrap();
    assert!(b.wait_synced(core::time::Duration::from_secs(5)).await);
    let s = config.settings();
    let mut m = Machine::INITIAL;
    for _ in 0..12 {
        // Re-open through manual half-open + failure, raising the backoff level each time.
        for op in [Op::Manual(Manual::HalfOpen), Op::Acquire] {
            let r = b.execute(op).await.unwrap();
            let mut env = Fixed {
                now: r.now,
                random: RANDOM.0,
            };
            m = match op {
                Op::Manual(a) => m.manual(a, s, &mut env).next,
                _ => m.acquire(s, &mut env).next,
            };
            assert_eq!(r.machine, m);
        }
        let r = b
            .execute(Op::Record(Report::new(m.generation, Outcome::Failure)))
            .await
            .unwrap();
        m = m
            .record(
                Report::new(m.generation, Outcome::Failure),
                s,
                &mut Fixed {
                    now: r.now,
                    random: RANDOM.0,
                },
            )
            .next;
        assert_eq!(r.machine, m);
    }
    assert!(m.opens >= 10);
}
