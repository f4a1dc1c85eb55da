//! The conformance suite on the shared breaker, `breaker_redis::RedisBreaker`, directly and
//! through the tower layer, against a private `redis-server` started once for this test binary,
//! on tokio (`Executor::tokio`, redis's `tokio-comp`) and on smol (the driver on a smol
//! executor given through `Executor::new`, redis's `smol-comp`; async-std programs take the
//! same path, since redis 1.x has no async-std integration).
//!
//! Real time: the breaker's deadlines are on the Redis server's clock, which a paused tokio
//! clock cannot move, and a paused clock would fire the driver's Redis timeout before any reply
//! could arrive. On tokio the runtime is current-thread, so the driver runs only while the
//! scenario awaits: calls made one after another without an await see the local view as it
//! was, which is what a busy single-threaded service sees within the staleness bound. On smol
//! the scenario and the drivers run on one `smol::Executor` driven by the test's thread, for
//! the same reason, but redis's `smol-comp` runs its connection tasks on smol's global
//! executor, a thread of its own, which a busy machine may delay independently of the
//! scenario: each script call crosses to it and back. So the half-open scenarios, which call
//! `LATENESS` after the open deadline and find the trial slot reserved by then, can fail on an
//! overloaded machine: measured on the shared 2-core development machine at a load average of
//! 9-11, 1 run of the smol module in 10 had a failure with 35 ms (with 25 ms: 2 to 6 runs in
//! 10, the drivers on `Executor::smol()` or on the scenario's thread), against 0 in 20 for the
//! tokio module. `Executor::smol()` itself is tested by breaker-redis's own tests.
//!
//! Without `redis-server` on the `PATH` every test prints `SKIPPED` and passes (CI installs it).

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration as StdDuration;
use std::collections::HashMap;
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant as StdInstant;

use breaker_conformance::{Harness, Kind};
use breaker_core::machine::{Machine, Manual};
use breaker_core::{Config, ConfigError, GlobalClock, Listener, Rejected};
use breaker_redis::{Events, Executor, Op, Options, RedisBreaker};

/// A `redis-server` on a free loopback port, for the whole test binary.
///
/// It runs under a shell that waits for its stdin to close: the pipe's write end lives in a
/// `static`, so when this process ends, however it ends, the shell stops the server.
struct Server {
    url: String,
    _child: Child,
    _stdin: ChildStdin,
}

fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    SERVER.get_or_init(start).as_ref()
}

fn start() -> Option<Server> {
    if Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let script = "redis-server --port \"$0\" --bind 127.0.0.1 --save '' --appendonly no \
                  --daemonize no >/dev/null 2>&1 & r=$!; cat >/dev/null; kill $r";
    let mut child = Command::new("sh")
        .args(["-c", script, &port.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh starts redis-server");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let end = StdInstant::now() + StdDuration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            StdInstant::now() < end,
            "redis-server did not listen within 10 s"
        );
        std::thread::sleep(StdDuration::from_millis(10));
    }
    // Nothing is written to the watchdog: it only waits for end of file.
    stdin.flush().expect("the watchdog's stdin");
    Some(Server {
        url: format!("redis://127.0.0.1:{port}/0"),
        _child: child,
        _stdin: stdin,
    })
}

/// Runs `test` unless there is no `redis-server`, one scenario at a time: they run in real
/// time against deadlines of tens of milliseconds, and a busy 2-core machine running all of
/// them at once (each with its own runtime and driver) delays a timer past the slack the
/// scenarios allow.
fn serially(test: impl FnOnce()) {
    if server().is_none() {
        eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server)");
        return;
    }
    static SERIAL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    test();
}

/// A harness the shared breaker runs on: the executor its driver is given, and how late the
/// trial slots may be reserved after the open deadline ([`Kind::LATENESS`]).
trait RedisHarness: Harness {
    fn executor() -> Executor;

    /// On tokio's current-thread runtime the driver, its timers, redis's connection and the
    /// scenario share one thread: a busy machine delays them alike, and 20 ms is enough. On
    /// smol, redis's connection tasks run on another thread, which a busy machine may delay
    /// independently; a reservation crosses to it and back, so it is the later side that needs
    /// the slack: 35 ms, with 15 ms left before the slot, reserved about 1 ms after the
    /// deadline, goes back unclaimed after 50 ms (see the module's documentation).
    const LATENESS: breaker_core::Duration = breaker_core::Duration::from_millis(35);
}

/// Tokio on real time, with I/O (the Redis connection).
struct TokioRedis;

impl Harness for TokioRedis {
    type Runtime = breaker_tokio::Tokio;
    type Limit = breaker_tokio::Limit;
    const VIRTUAL: bool = false;

    fn block_on<F: core::future::Future<Output = ()> + 'static>(test: F) {
        serially(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(test);
        });
    }

    fn try_limit(permits: usize) -> Result<Self::Limit, ConfigError> {
        breaker_tokio::Limit::new(permits)
    }
}

impl RedisHarness for TokioRedis {
    fn executor() -> Executor {
        Executor::tokio()
    }

    const LATENESS: breaker_core::Duration = breaker_core::Duration::from_millis(20);
}

/// The executor the smol scenarios and their breakers' drivers share, run by the test's thread
/// (one at a time: `serially`), as tokio's current-thread runtime runs both.
static SMOL: smol::Executor<'static> = smol::Executor::new();

/// smol (async-io's clock and timer), the driver on a smol executor run by the scenario's
/// thread (redis's own connection tasks run on smol's global executor).
struct SmolRedis;

impl Harness for SmolRedis {
    type Runtime = breaker_smol::AsyncIo;
    type Limit = breaker_smol::Limit;
    const VIRTUAL: bool = false;

    fn block_on<F: core::future::Future<Output = ()> + 'static>(test: F) {
        serially(|| smol::block_on(SMOL.run(test)));
    }

    fn try_limit(permits: usize) -> Result<Self::Limit, ConfigError> {
        breaker_smol::Limit::new(permits)
    }
}

impl RedisHarness for SmolRedis {
    fn executor() -> Executor {
        Executor::new(|task| SMOL.spawn(task).detach(), breaker_smol::AsyncIo)
    }
}

/// Counts the rejections a shared breaker reports to its listener (it keeps no count itself).
#[derive(Debug, Default)]
struct Tally {
    rejected: AtomicU64,
}

impl Listener for &'static Tally {
    fn on_rejected(&self, _: &'static str, _: &Rejected) {
        self.rejected.fetch_add(1, Ordering::SeqCst);
    }
}

impl Events for &'static Tally {}

/// Each breaker's tally, by its Redis key.
fn tallies() -> &'static Mutex<HashMap<String, &'static Tally>> {
    static TALLIES: OnceLock<Mutex<HashMap<String, &'static Tally>>> = OnceLock::new();
    TALLIES.get_or_init(Default::default)
}

type Shared<H> = RedisBreaker<<H as Harness>::Runtime, &'static Tally>;

/// The shared breaker kind, one Redis key per breaker built, default [`Options`] otherwise.
struct Redis;

impl<H: RedisHarness> Kind<H> for Redis
where
    H::Runtime: Clone + Send + Sync,
{
    type Breaker = Shared<H>;

    /// The trial slots are reserved by a timer at the end of the open duration, in one script
    /// call each: a timer tick plus a round trip after the deadline (the clocks' offset is read
    /// to within a round trip). The scenarios call once LATENESS has passed, and a reserved
    /// slot waits half the half-open maximum wait (50 ms there: the maximum wait defaults to
    /// the open duration) for them: the harness's lateness ([`RedisHarness::LATENESS`]) leaves
    /// room for timer lateness on both sides.
    const LATENESS: breaker_core::Duration = H::LATENESS;

    async fn build(config: Config) -> Arc<Shared<H>> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let server = server().expect("the harness skips without a server");
        let namespace = format!(
            "conformance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let tally: &'static Tally = Box::leak(Box::default());
        let options = Options::new(server.url.as_str())
            .namespace(namespace)
            .executor(H::executor());
        let b = RedisBreaker::new(config, options, <H::Runtime as GlobalClock>::NEW, tally)
            .expect("a consecutive-failures configuration and a valid URL");
        tallies()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(b.store().key().to_owned(), tally);
        assert!(
            b.wait_synced(StdDuration::from_secs(5)).await,
            "the breaker did not reach redis-server"
        );
        Arc::new(b)
    }

    /// Reads the shared machine until two reads in a row show the same write counter and the
    /// driver's queue is empty: the reports this process sent before (queued in order behind
    /// each other, one script call each) and the trial reservations their replies started
    /// have then been applied, and the replies brought the local view up to date.
    async fn settle(b: &Arc<Shared<H>>) {
        let mut last = None;
        for _ in 0..100 {
            b.flush().await;
            let seq = b.execute(Op::Read).await.expect("redis answers").seq;
            if last == Some(seq) && b.commands_queued() == 0 {
                return;
            }
            last = Some(seq);
            breaker_conformance::sleep::<H>(breaker_conformance::ms(1)).await;
        }
        panic!("the shared state kept changing");
    }

    async fn manual(b: &Arc<Shared<H>>, change: Manual) {
        b.manual(change).await.expect("redis answers");
    }

    /// The shared machine, with the trial slots this process holds for callers that have not
    /// come yet (`reserved_trials`) not counted as trials in flight: the scenarios count calls
    /// running as trials, and a reserved slot runs no call (it goes back unclaimed).
    fn machine(b: &Arc<Shared<H>>) -> Machine {
        let mut m = b.view();
        m.trials = m.trials.saturating_sub(b.reserved_trials());
        m
    }

    fn rejections(b: &Arc<Shared<H>>) -> u64 {
        let tallies = tallies().lock().unwrap_or_else(|e| e.into_inner());
        tallies[b.store().key()].rejected.load(Ordering::SeqCst)
    }
}

// The scenarios of `conformance!(mod ..)`, listed by hand (a kind that cannot pass one for a
// documented reason marks it `#[ignore = "why"]`; none is marked now). The half-open scenarios
// pass because a process that wants trials reserves the free slots in Redis ahead of its callers
// (at the open deadline, after a manual half-open, when a trial's reply frees a slot), and its
// wait hint answers `Poll` rather than a refused `AskNow` while it holds none (breaker-redis
// README, "The local view and the hot path"). `Redis::machine` does not count a reserved slot
// that no call holds yet as a trial in flight.
mod redis {
    use super::*;

    mod direct {
        use super::*;
        breaker_conformance::conformance!(@tests TokioRedis, Redis, breaker_conformance::Direct;
            trips_after_n_failures,
            rejects_while_open_with_the_time_left,
            half_opens_after_the_open_duration,
            success_threshold_closes_after_enough_trials,
            admits_exactly_the_permitted_trials_under_many_callers,
            a_cancelled_call_gives_its_trial_slot_back,
            a_panicking_call_is_not_swallowed_and_frees_its_trial_slot,
            a_timeout_counts_as_a_failure,
            wait_mode_admits_waiters_after_reclosing_without_a_stampede,
            the_concurrency_limit_holds,
            the_fallback_runs_when_the_call_is_refused,
        );
    }

    mod tower {
        use super::*;
        breaker_conformance::conformance!(@tests TokioRedis, Redis, breaker_conformance::Tower;
            trips_after_n_failures,
            rejects_while_open_with_the_time_left,
            half_opens_after_the_open_duration,
            success_threshold_closes_after_enough_trials,
            admits_exactly_the_permitted_trials_under_many_callers,
            a_cancelled_call_gives_its_trial_slot_back,
            a_panicking_call_is_not_swallowed_and_frees_its_trial_slot,
        );
    }
}

mod redis_smol {
    use super::*;

    mod direct {
        use super::*;
        breaker_conformance::conformance!(@tests SmolRedis, Redis, breaker_conformance::Direct;
            trips_after_n_failures,
            rejects_while_open_with_the_time_left,
            half_opens_after_the_open_duration,
            success_threshold_closes_after_enough_trials,
            admits_exactly_the_permitted_trials_under_many_callers,
            a_cancelled_call_gives_its_trial_slot_back,
            a_panicking_call_is_not_swallowed_and_frees_its_trial_slot,
            a_timeout_counts_as_a_failure,
            wait_mode_admits_waiters_after_reclosing_without_a_stampede,
            the_concurrency_limit_holds,
            the_fallback_runs_when_the_call_is_refused,
        );
    }

    mod tower {
        use super::*;
        breaker_conformance::conformance!(@tests SmolRedis, Redis, breaker_conformance::Tower;
            trips_after_n_failures,
            rejects_while_open_with_the_time_left,
            half_opens_after_the_open_duration,
            success_threshold_closes_after_enough_trials,
            admits_exactly_the_permitted_trials_under_many_callers,
            a_cancelled_call_gives_its_trial_slot_back,
            a_panicking_call_is_not_swallowed_and_frees_its_trial_slot,
        );
    }
}
