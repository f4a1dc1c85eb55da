//! The shared breaker: Redis is the authority, a local view answers the hot path.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use breaker_core::machine::{Admission, Fixed, Machine, Manual, Outcome, Report, Transition};
use breaker_core::window::{NoWindow, Window, WindowKind};
use breaker_core::{
    Admitted, Admitting, Breaker, CircuitBreaker, Clock, Config, Duration, End, Instant, Listener,
    Rejected, Reported, State, Stats, Ticket, WaitHint,
};
use futures_channel::{mpsc, oneshot};
use futures_util::future::AbortHandle;

use crate::connection::{Client, Con};
use crate::executor::Executor;
use crate::options::{Options, Outage};
use crate::store::{state_code, Op, Reply, Store, StoreError};
use breaker_core::Reason;

mod driver;

/// Events of a shared breaker beyond the core's: Redis going away and coming back, and data
/// under the breaker's key that was not the breaker's. Every method has a no-op default.
pub trait Events: Listener {
    /// Redis became unreachable (or slower than its timeout); reported once per outage.
    fn on_outage(&self, name: &'static str, error: &StoreError) {
        let _ = (name, error);
    }
    /// Redis is reachable again and the local view was read afresh from it.
    fn on_resync(&self, name: &'static str, state: State) {
        let _ = (name, state);
    }
    /// The breaker's key held data this crate did not write; it was reset to closed.
    fn on_corrupt(&self, name: &'static str) {
        let _ = name;
    }
    /// A command sent in the background (a report, a window flush) got an error that is not an
    /// outage (a script error, a `MOVED` from a cluster node that does not own the slot, a reply
    /// of the wrong shape): its event was not applied. Reported for each such command.
    fn on_store_error(&self, name: &'static str, error: &StoreError) {
        let _ = (name, error);
    }
}

impl Events for () {}

/// Tickets of calls admitted by the local fallback breaker during an outage carry this bit in
/// their generation (Redis generations are 24 bits), so their outcomes go back to it.
const FALLBACK: u32 = 1 << 31;
// No generation of the shared machine has the bit (see `breaker_core::limits`).
const _: () = assert!(breaker_core::limits::GENERATION_MASK & FALLBACK == 0);

// The fast word: what the hot path reads with one load.
const STATE_MASK: u64 = 0b111;
const FAILURES: u64 = 1 << 3;
const UP: u64 = 1 << 4;
const GEN_SHIFT: u32 = 8;

fn fast_word(m: &Machine, up: bool) -> u64 {
    state_code(m.state) as u64
        | if m.failures > 0 { FAILURES } else { 0 }
        | if up { UP } else { 0 }
        | (u64::from(m.generation) << GEN_SHIFT)
}

fn admits_without_redis(w: u64) -> bool {
    w & UP != 0 && matches!(w & STATE_MASK, 0 | 4)
}

#[derive(Debug)]
struct Grant {
    id: u64,
    generation: u32,
}

#[derive(Debug)]
struct View {
    machine: Machine,
    seq: u64,
    /// Server time minus local clock, in µs, at the last reading.
    offset: i64,
    up: bool,
    outage_reported: bool,
    /// Trial slots granted by Redis to this process (reserved), waiting for a caller.
    grants: Vec<Grant>,
    next_grant: u64,
    /// A `Cmd::Reserve` is queued or running.
    acquiring: bool,
    /// No trial acquisition before this local instant (Redis said every slot is taken).
    acquire_after: Option<Instant>,
    /// The generation whose open deadline a timer is armed for (it reserves the trial slots
    /// when the open duration ends).
    armed: Option<u32>,
}

impl View {
    fn server_now(&self, local: Instant) -> Instant {
        Instant::from_micros(
            (local.as_micros() as i64)
                .saturating_add(self.offset)
                .max(0) as u64,
        )
    }
}

/// What the driver does for the rest of the breaker, one command at a time, in the order sent:
/// a command is sent to Redis only after the previous one's reply came back, so Redis applies
/// this process's events in the order they were reported (a success reported after a failure
/// is applied after it, whatever the runtime's scheduling; a `NOSCRIPT` reload cannot reorder).
enum Cmd {
    /// Run `op`; send the reply back if asked.
    Run(Op, Option<oneshot::Sender<Result<Reply, StoreError>>>),
    /// An outcome from the seam's `report`. Judged again against the view when its turn comes:
    /// by then the replies to every earlier command of this process are in the view, so a
    /// report that would change nothing (stale, or a closed success with no failure counted)
    /// is dropped without a round trip. `done`: the caller awaits the state change it caused
    /// (`Breaker::report_start`); dropped unanswered when the report was not applied.
    Report {
        report: Report,
        trial: bool,
        done: Option<oneshot::Sender<Option<Transition>>>,
    },
    /// Reserve the free half-open trial slots for this process's callers; `timer`: sent by the
    /// open-deadline timer armed for that generation.
    Reserve { timer: Option<u32> },
    /// A reserved slot nobody claimed within the claim time goes back.
    Unclaimed(u64),
    /// Answered once every command sent before it is done.
    Barrier(oneshot::Sender<()>),
}

/// The driver's queue, with its count of commands not done yet (timers hold a clone).
#[derive(Clone)]
struct Queue {
    tx: mpsc::UnboundedSender<Cmd>,
    queued: Arc<AtomicU64>,
    executor: Executor,
}

impl Queue {
    /// Hands `cmd` to the driver; false if the driver is gone (the breaker is being dropped).
    fn send(&self, cmd: Cmd) -> bool {
        self.queued.fetch_add(1, Ordering::AcqRel);
        if self.tx.unbounded_send(cmd).is_ok() {
            return true;
        }
        self.queued.fetch_sub(1, Ordering::AcqRel);
        false
    }

    /// Sends `cmd` after `delay`, from a task of its own.
    fn send_after(&self, delay: core::time::Duration, cmd: Cmd) {
        let queue = self.clone();
        self.executor.spawn(async move {
            queue.executor.sleep(delay).await;
            queue.send(cmd);
        });
    }
}

/// Failed calls awaiting their report's answer (`Breaker::report_start`), by id.
struct Waiters {
    /// The driver's executor: the timeouts of the waits are its timers, whichever executor
    /// polls the call.
    executor: Executor,
    next: u64,
    map: std::collections::HashMap<u64, Waiter>,
    /// Calls awaiting a trial slot (`Breaker::admit_start`), by id.
    admits: std::collections::HashMap<u64, AdmitWaiter>,
}

struct AdmitWaiter {
    answer: oneshot::Receiver<Result<Reply, StoreError>>,
    /// The wait ends here with the outage policy's answer (`Options::redis_timeout`).
    timeout: crate::executor::Task,
}

impl Waiters {
    fn id(&mut self) -> u64 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }

    fn timeout(&self, t: core::time::Duration) -> crate::executor::Task {
        self.executor.sleep(t)
    }
}

struct Waiter {
    answer: oneshot::Receiver<Option<Transition>>,
    /// The wait ends here with no answer (`Options::redis_timeout` after the report).
    timeout: crate::executor::Task,
}

/// Successes batched for the shared window: (generation, calls, slow).
#[derive(Debug, Default)]
struct Batch {
    generation: u32,
    calls: u32,
    slow: u32,
}

pub(crate) struct Inner<C: Clock, L, W: Window> {
    name: &'static str,
    config: Config<W>,
    options: Options,
    store: Store,
    client: Client,
    executor: Executor,
    clock: C,
    listener: L,
    fast: AtomicU64,
    view: Mutex<View>,
    local: CircuitBreaker<C, Config<W>>,
    tx: Queue,
    commands: AtomicU64,
    /// Failures reported through the seam and not yet done by the driver (applied, dropped as
    /// stale, or failed): while there are any, a closed success is sent, since the view may
    /// not show the failures it must reset yet.
    unacked: AtomicU64,
    /// This process wants half-open trials: one of its calls failed, was refused while open or
    /// half-open, ran as a trial, or it half-opened the breaker by hand. Only then does it
    /// reserve trial slots ahead of its callers; cleared when the breaker closes and when a
    /// reserved slot goes back unclaimed, so an idle process never holds the fleet's trials.
    demand: AtomicBool,
    /// A shared time window is kept: successes are batched, calls are timed if slow calls count.
    windowed: bool,
    timed: bool,
    batch: Mutex<Batch>,
    waiters: Mutex<Waiters>,
}

/// A circuit breaker whose state is shared by every process that opens it with the same
/// namespace and name.
///
/// Redis holds the one machine (a hash, changed only by `transition.lua`, which mirrors
/// `breaker_core::machine`); every process keeps a local view of it, refreshed by pub/sub and
/// polling, and answers admission from that view. See the crate documentation for the costs.
///
/// Hold it in an `Arc` to get owned permits: `Arc::clone(&b).try_acquire()`. Dropping the
/// breaker stops its background driver.
pub struct RedisBreaker<C: Clock = breaker_core::StdClock, L = (), W: Window = NoWindow> {
    inner: Arc<Inner<C, L, W>>,
    driver: AbortHandle,
}

impl<C: Clock, L, W: Window> core::fmt::Debug for RedisBreaker<C, L, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RedisBreaker")
            .field("name", &self.inner.name)
            .field("key", &self.inner.store.key())
            .finish_non_exhaustive()
    }
}

impl<C: Clock, L, W: Window> Drop for RedisBreaker<C, L, W> {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Why a shared breaker could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The URL could not be parsed (or asks for TLS without the `tls-tokio`/`tls-smol`
    /// feature), or a cluster was given no node or nodes with different credentials.
    Url(redis::RedisError),
    /// No executor was given ([`Options::executor`]) and none was found, or the one given cannot
    /// spawn from here: with only the `tokio` feature (or [`Executor::tokio`]), the breaker was
    /// built outside a tokio runtime.
    NoExecutor,
    /// The configuration asks for what cannot be shared (a count window larger than
    /// `breaker_core::window::MAX_COUNT_WINDOW`).
    Unsupported(&'static str),
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::Url(e) => write!(f, "bad redis url: {e}"),
            BuildError::NoExecutor => f.write_str("no executor to run the redis driver on"),
            BuildError::Unsupported(what) => write!(f, "not supported: {what}"),
        }
    }
}

impl core::error::Error for BuildError {}

impl<C, L, W> RedisBreaker<C, L, W>
where
    C: Clock + Clone + Send + Sync + 'static,
    L: Events + Send + Sync + 'static,
    W: Window + Send + 'static,
{
    /// A shared breaker named by `config`'s name (`"default"` if it has none), connected as
    /// `options` says. Spawns the driver that talks to Redis on the options' executor (by
    /// default [`Executor::detect`]: the current tokio runtime, or smol's global executor).
    /// Returns at once; until the first reading arrives the breaker follows the outage policy.
    ///
    /// # Errors
    ///
    /// [`BuildError::Url`] for a URL the redis crate refuses; [`BuildError::NoExecutor`] when
    /// there is nothing to run the driver on; [`BuildError::Unsupported`] for a count window of
    /// more than `MAX_COUNT_WINDOW` outcomes (the core refuses those too).
    pub fn new(
        config: Config<W>,
        options: Options,
        clock: C,
        listener: L,
    ) -> Result<Self, BuildError> {
        let client =
            Client::open(&options.target, options.redis_timeout).map_err(BuildError::Url)?;
        let exec = match &options.executor {
            Some(e) => e.clone(),
            None => Executor::detect().ok_or(BuildError::NoExecutor)?,
        };
        if !exec.available() {
            return Err(BuildError::NoExecutor);
        }
        let name = config.settings().name();
        // The configuration's own window (a `DynWindow`'s kind is known only at run time).
        let (buckets, count) = match config.settings().window() {
            WindowKind::None => (0, 0),
            WindowKind::Time { buckets } => (buckets, 0),
            WindowKind::Count { size } if size <= breaker_core::window::MAX_COUNT_WINDOW => {
                (0, size)
            }
            WindowKind::Count { .. } => {
                return Err(BuildError::Unsupported(
                    "a count window larger than MAX_COUNT_WINDOW",
                ))
            }
        };
        let process = options.process_id.clone().unwrap_or_else(process_id);
        let store = Store::new(
            &options.namespace,
            if name.is_empty() { "default" } else { name },
        );
        let store = if count > 0 {
            store.with_count_window(count)
        } else {
            store.with_time_window(buckets)
        }
        .with_min_processes(options.min_processes, process);
        let timed = config.settings().slow_call_threshold().is_some();
        let (tx, rx) = mpsc::unbounded();
        let inner = Arc::new(Inner {
            name,
            config,
            local: CircuitBreaker::with_clock(clock.clone(), config),
            options,
            store,
            client,
            executor: exec.clone(),
            clock,
            listener,
            fast: AtomicU64::new(fast_word(&Machine::INITIAL, false)),
            view: Mutex::new(View {
                machine: Machine::INITIAL,
                seq: 0,
                offset: 0,
                up: false,
                outage_reported: false,
                grants: Vec::new(),
                next_grant: 0,
                acquiring: false,
                acquire_after: None,
                armed: None,
            }),
            tx: Queue {
                tx,
                queued: Arc::new(AtomicU64::new(0)),
                executor: exec.clone(),
            },
            commands: AtomicU64::new(0),
            unacked: AtomicU64::new(0),
            demand: AtomicBool::new(false),
            windowed: buckets > 0 || count > 0,
            timed,
            batch: Mutex::new(Batch::default()),
            waiters: Mutex::new(Waiters {
                executor: exec.clone(),
                next: 0,
                map: std::collections::HashMap::new(),
                admits: std::collections::HashMap::new(),
            }),
        });
        // Abortable: a connected session holds the breaker's state strongly, so dropping the
        // breaker ends the driver through this handle (on any executor).
        let (task, driver) =
            futures_util::future::abortable(driver::drive(Arc::downgrade(&inner), rx));
        exec.spawn(async move {
            let _ = task.await;
        });
        Ok(RedisBreaker { inner, driver })
    }
}

/// A name for this process in the K-distinct-processes guard: the OS process id and a random
/// suffix (std's per-process random hash keys), so two breakers of one process are two names.
fn process_id() -> String {
    use core::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{}-{:016x}", std::process::id(), h.finish())
}

impl<C: Clock, L: Events, W: Window> RedisBreaker<C, L, W> {
    /// The keys and script this breaker uses.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Whether the local view currently follows Redis (false during an outage).
    pub fn is_synced(&self) -> bool {
        self.inner.fast.load(Ordering::Acquire) & UP != 0
    }

    /// The shared machine as last read (deadlines on the Redis server's clock).
    pub fn view(&self) -> Machine {
        self.inner.lock().machine
    }

    /// Script calls this process has sent to Redis (not counting connection set-up).
    pub fn commands_sent(&self) -> u64 {
        self.inner.commands.load(Ordering::Relaxed)
    }

    /// Commands handed to the background driver and not done yet (reports, trial
    /// reservations, awaited operations): zero once everything this process reported so far
    /// has been applied in Redis (or dropped as changing nothing) and its reply taken in.
    pub fn commands_queued(&self) -> u64 {
        self.inner.tx.queued.load(Ordering::Acquire)
    }

    /// Half-open trial slots this process holds in Redis for its callers and has not handed
    /// to a call yet (they count in the shared machine's `trials`; one unclaimed within the
    /// claim time goes back, see [`Options::trial_claim`]).
    pub fn reserved_trials(&self) -> u16 {
        self.inner.lock().grants.len() as u16
    }

    /// Applies `op` to the shared machine in one round trip and waits for the answer: the
    /// exact, awaited form of what the synchronous [`Breaker`] methods send in the background.
    /// It is queued behind this process's earlier commands (reports, reservations), so Redis
    /// applies it after them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] during an outage (nothing is sent), or the error of the call.
    pub async fn execute(&self, op: Op) -> Result<Reply, StoreError> {
        if !self.is_synced() {
            return Err(StoreError::Unavailable);
        }
        let (tx, rx) = oneshot::channel();
        if !self.inner.send(Cmd::Run(op, Some(tx))) {
            return Err(StoreError::Unavailable);
        }
        rx.await.unwrap_or(Err(StoreError::Unavailable))
    }

    /// A manual change (open, force open, close, half-open, disable), applied to the shared
    /// state: every process follows within the staleness bound. Returns once the change and
    /// what it started in this process are done: after a manual half-open, this process holds
    /// the free trial slots for its next callers (unclaimed ones go back after
    /// [`Options::trial_claim`]).
    ///
    /// # Errors
    ///
    /// As [`RedisBreaker::execute`].
    pub async fn manual(&self, action: Manual) -> Result<Option<Transition>, StoreError> {
        if action == Manual::HalfOpen {
            // Whoever starts the probing by hand is about to probe: reserve the trial slots
            // for this process's callers (unclaimed ones go back). `execute` stays the bare
            // event, with no such side effect.
            self.inner.demand.store(true, Ordering::Relaxed);
        }
        let r = self.execute(Op::Manual(action)).await?;
        self.flush().await;
        Ok(r.transition())
    }

    /// Waits until every command this process handed to the driver before the call is done:
    /// the reports made so far are applied in Redis (or dropped as changing nothing) and their
    /// replies are in the view. Returns at once during an outage (nothing is queued for Redis
    /// then).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.send(Cmd::Barrier(tx)) {
            let _ = rx.await;
        }
    }

    /// Waits until the local view is synced with Redis, or `timeout` passes; returns whether it
    /// is.
    pub async fn wait_synced(&self, timeout: core::time::Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        while !self.is_synced() {
            if std::time::Instant::now() >= end {
                return false;
            }
            self.inner
                .executor
                .sleep(core::time::Duration::from_millis(2))
                .await;
        }
        true
    }

    /// Asks for a call, awaiting Redis when the answer needs it (a half-open trial): unlike
    /// [`Breaker::admit`], which answers from the local view at once and asks Redis for a trial
    /// slot in the background, this admits a trial on the first ask.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the shared breaker refuses the call.
    pub async fn admit_async(&self) -> Result<Admitted, Rejected> {
        let w = self.inner.fast.load(Ordering::Acquire);
        if admits_without_redis(w) || w & UP == 0 {
            return self.admit();
        }
        let local = self.inner.clock.now();
        let (left, grant) = {
            let mut v = self.inner.lock();
            let now = v.server_now(local);
            match v.machine.open_time_left(now) {
                Some(left) => (Some(left), None),
                // A slot this process already holds: no round trip.
                None => (None, v.grants.pop()),
            }
        };
        if let Some(left) = left {
            return Err(self.inner.reject(State::Open, Some(left)));
        }
        if let Some(g) = grant {
            return Ok(Ticket::new(g.generation, true, self.inner.start()).into());
        }
        match self.execute(Op::Acquire).await {
            Ok(Reply {
                admission: Some(Admission::Admitted { generation, trial }),
                ..
            }) => Ok(Ticket::new(generation, trial, self.inner.start()).into()),
            Ok(r) => {
                let retry = match r.admission {
                    Some(Admission::Rejected { retry_after }) => retry_after,
                    _ => None,
                };
                Err(self.inner.reject(r.machine.state, retry))
            }
            Err(_) => self.inner.admit_outage(),
        }
    }
}

impl<C: Clock, L: Events, W: Window> Inner<C, L, W> {
    /// The call's start, when slow calls are counted (they need its duration).
    fn start(&self) -> Option<Instant> {
        self.timed.then(|| self.clock.now())
    }

    /// The seam's `report` (`answer` false) and `report_start` (`answer` true: a failure sent
    /// to Redis is answered later, through `Waiters`).
    fn report_with(&self, ticket: &Ticket, end: End<'_>, answer: bool) -> Reported {
        let inner = self;
        if ticket.generation() & FALLBACK != 0 {
            return Reported::Now(Breaker::report(&inner.local, &local_ticket(ticket), end));
        }
        let outcome = match end {
            End::Finished(o, _) => o,
            End::Cancelled | End::Unused => Outcome::Ignored,
        };
        match end {
            End::Finished(Outcome::Success, _) => inner.listener.on_success(inner.name, None),
            End::Finished(Outcome::Failure, e) => inner.listener.on_failure(inner.name, e),
            End::Finished(Outcome::Ignored, _) => inner.listener.on_ignored(inner.name),
            End::Cancelled => inner.listener.on_cancelled(inner.name),
            End::Unused => {} // the policy reports why (a full concurrency limit)
        }
        // `unacked` before the view: a report that reads it back to zero also sees the view
        // the acknowledged failures left (the driver stores the view, then releases the count).
        let unacked = inner.unacked.load(Ordering::Acquire);
        let w = inner.fast.load(Ordering::Acquire);
        if w & UP == 0 {
            // Redis is away: the outcome of a call admitted by the shared state cannot be
            // counted there (the fallback counts only what it admitted itself).
            return Reported::Now(None);
        }
        // Slow by the call's own duration (tickets carry a start only when slow calls count).
        let slow = match (
            ticket.started_at(),
            inner.config.settings().slow_call_threshold(),
        ) {
            (Some(start), Some(t)) if outcome != Outcome::Ignored => inner.clock.now() - start >= t,
            _ => false,
        };
        let gen = (w >> GEN_SHIFT) as u32;
        let trial = ticket.is_trial();
        if !trial {
            let closed = matches!(w & STATE_MASK, 0 | 4);
            match outcome {
                // A success that changes nothing: closed or disabled, no failure counted, and
                // none of this process's failures still on its way to Redis (the view learns
                // of a failure only from its reply: without this check, a success reported
                // within a round trip of a failure would be skipped and the count not reset).
                // No Redis command (with a time window: batched, flushed by the driver every
                // `window_flush`).
                Outcome::Success if closed && w & FAILURES == 0 && unacked == 0 => {
                    if inner.windowed && gen == ticket.generation() {
                        inner.add_to_batch(gen, slow);
                    }
                    return Reported::Now(None);
                }
                Outcome::Ignored => return Reported::Now(None),
                // Stale by the view: the script would ignore it too (the generation only moves
                // forward), so save the round trip.
                _ if gen != ticket.generation() => return Reported::Now(None),
                _ => {}
            }
        }
        if outcome == Outcome::Failure {
            inner.demand.store(true, Ordering::Relaxed);
            inner.unacked.fetch_add(1, Ordering::AcqRel);
        }
        let mut report = Report::new(ticket.generation(), outcome);
        report.slow = slow;
        // Queued behind this process's earlier reports: Redis applies them in this order. The
        // change, if any, is decided in Redis and reported to listeners when its answer
        // arrives; `report` cannot wait for it, `report_start` of a failure hands out a wait.
        if answer && outcome == Outcome::Failure {
            let (tx, rx) = oneshot::channel();
            let id = {
                let mut w = inner.waiters();
                let id = w.id();
                let timeout = w.timeout(inner.options.redis_timeout);
                w.map.insert(
                    id,
                    Waiter {
                        answer: rx,
                        timeout,
                    },
                );
                id
            };
            if inner.send(Cmd::Report {
                report,
                trial,
                done: Some(tx),
            }) {
                return Reported::Later(id);
            }
            inner.waiters().map.remove(&id);
            return Reported::Now(None);
        }
        inner.send(Cmd::Report {
            report,
            trial,
            done: None,
        });
        Reported::Now(None)
    }

    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        // Plain data updated in one step: a panic elsewhere cannot leave it torn.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the batched successes for the shared window, if any.
    fn take_batch(&self) -> Option<Op> {
        let mut b = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        if b.calls == 0 {
            return None;
        }
        let op = Op::Window {
            generation: b.generation,
            calls: b.calls,
            slow: b.slow,
        };
        b.calls = 0;
        b.slow = 0;
        Some(op)
    }

    fn lock(&self) -> MutexGuard<'_, View> {
        // The view is plain data updated in one step: a panic elsewhere cannot leave it torn.
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reject(&self, state: State, retry_after: Option<Duration>) -> Rejected {
        let r = Rejected::new(self.name, state, retry_after);
        self.listener.on_rejected(self.name, &r);
        r
    }

    /// Hands `cmd` to the driver; false if the driver is gone (the breaker is being dropped).
    fn send(&self, cmd: Cmd) -> bool {
        self.tx.send(cmd)
    }

    /// A command the driver will not run (Redis is away): its waiter learns it, its counts are
    /// released.
    fn discard(&self, cmd: Cmd) {
        match cmd {
            Cmd::Run(_, Some(tx)) => {
                let _ = tx.send(Err(StoreError::Unavailable));
            }
            Cmd::Report { report, .. } if report.outcome == Outcome::Failure => {
                self.unacked.fetch_sub(1, Ordering::AcqRel);
            }
            Cmd::Reserve { .. } => self.lock().acquiring = false,
            Cmd::Barrier(tx) => {
                let _ = tx.send(());
            }
            _ => {}
        }
        self.tx.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// Asks the driver to reserve trial slots, unless a reservation is under way or Redis said
    /// to wait.
    fn ask_for_trials(&self, v: &mut View, local: Instant) {
        if !v.acquiring && v.acquire_after.is_none_or(|t| local >= t) {
            v.acquiring = true;
            if !self.send(Cmd::Reserve { timer: None }) {
                v.acquiring = false;
            }
        }
    }

    /// With demand for trials, gets slots ready before the callers ask: arms a timer for the end
    /// of the open duration, or asks now if it is over (or half-open has free slots and this
    /// process holds none).
    fn plan_trials(&self, v: &mut View, local: Instant) {
        if !v.up || !self.demand.load(Ordering::Relaxed) {
            return;
        }
        let m = v.machine;
        match m.state {
            State::Open => match m.open_time_left(v.server_now(local)) {
                Some(left) if v.armed != Some(m.generation) => {
                    v.armed = Some(m.generation);
                    self.tx.send_after(
                        left,
                        Cmd::Reserve {
                            timer: Some(m.generation),
                        },
                    );
                }
                Some(_) => {}
                None => self.ask_for_trials(v, local),
            },
            State::HalfOpen
                if v.grants.is_empty() && m.trials < self.config.settings().half_open_trials() =>
            {
                self.ask_for_trials(v, local);
            }
            _ => {}
        }
    }

    /// How long a reserved slot waits for a local caller: the configured claim time, and at
    /// most half the half-open maximum wait (a slot held past it would be given up as a failed
    /// trial and re-open the breaker for the whole fleet).
    fn claim_time(&self) -> core::time::Duration {
        let wait = self.config.settings().half_open_max_wait();
        let claim = self.options.trial_claim;
        if self.config.settings().half_open_max_wait_micros() == u64::MAX {
            claim
        } else {
            claim.min(wait / 2)
        }
    }

    /// Admission while Redis is away, as the outage policy says.
    fn admit_outage(&self) -> Result<Admitted, Rejected> {
        match self.options.outage {
            Outage::Local => match Breaker::admit(&self.local) {
                Ok(Admitted { ticket, transition }) => Ok(Admitted {
                    ticket: Ticket::new(
                        ticket.generation() | FALLBACK,
                        ticket.is_trial(),
                        ticket.started_at(),
                    )
                    .with_token(ticket.token()),
                    transition,
                }),
                Err(r) => {
                    self.listener.on_rejected(self.name, &r);
                    Err(r)
                }
            },
            Outage::Reject => Err(self.reject(self.lock().machine.state, None)),
            Outage::LastKnown => {
                let local = self.clock.now();
                let v = self.lock();
                let m = v.machine;
                let now = v.server_now(local);
                drop(v);
                match m.state {
                    State::Closed | State::Disabled => {
                        Ok(Ticket::new(m.generation, false, None).into())
                    }
                    _ => Err(self.reject(m.state, m.open_time_left(now))),
                }
            }
        }
    }

    fn admit_slow(&self, w: u64) -> Result<Admitted, Rejected> {
        if w & UP == 0 {
            return self.admit_outage();
        }
        let local = self.clock.now();
        let mut v = self.lock();
        let m = v.machine;
        let now = v.server_now(local);
        match m.state {
            State::Closed | State::Disabled => {
                Ok(Ticket::new(m.generation, false, self.start()).into())
            }
            State::ForcedOpen => {
                drop(v);
                Err(self.reject(State::ForcedOpen, None))
            }
            State::Open if m.open_time_left(now).is_some() => {
                drop(v);
                Err(self.reject(State::Open, m.open_time_left(now)))
            }
            // Open past its deadline, or half-open: only Redis grants trials.
            _ => {
                if let Some(g) = v.grants.pop() {
                    return Ok(Ticket::new(g.generation, true, self.start()).into());
                }
                // No slot held: ask Redis for the free ones in the background and refuse this
                // call (the seam's `admit` cannot wait); the next callers take them.
                self.demand.store(true, Ordering::Relaxed);
                self.ask_for_trials(&mut v, local);
                drop(v);
                let state = if m.state == State::Open {
                    State::HalfOpen
                } else {
                    m.state
                };
                Err(self.reject(state, None))
            }
        }
    }

    /// Takes in a reading of the shared machine; `force` for authoritative reads (resync,
    /// polling, a repaired key), which may move the write counter backwards (a restarted Redis).
    /// `cause`: the generation the change left and its reason, when the reading says; the
    /// listeners hear that reason when the change left the generation this view held (else
    /// the view missed changes in between, and says `Reason::Remote`).
    fn observe(
        &self,
        seq: u64,
        m: Machine,
        server_now: Instant,
        force: bool,
        cause: Option<(u32, Option<Reason>)>,
    ) {
        let local = self.clock.now();
        let mut v = self.lock();
        if !force && seq <= v.seq && seq != 0 {
            if seq == v.seq {
                v.offset = server_now.as_micros() as i64 - local.as_micros() as i64;
            }
            return;
        }
        let old = v.machine;
        v.seq = seq;
        v.machine = m;
        v.offset = server_now.as_micros() as i64 - local.as_micros() as i64;
        if m.generation != old.generation {
            v.grants.retain(|g| g.generation == m.generation);
            v.acquire_after = None;
            if matches!(m.state, State::Closed | State::Disabled) {
                self.demand.store(false, Ordering::Relaxed);
            }
        } else if m.trials < old.trials {
            v.acquire_after = None;
        }
        self.fast.store(fast_word(&m, v.up), Ordering::Release);
        self.plan_trials(&mut v, local);
        drop(v);
        if m.generation != old.generation && m.state != old.state && L::ENABLED {
            let reason = match cause {
                Some((left, Some(reason))) if left == old.generation => reason,
                _ => Reason::Remote,
            };
            let t = Transition {
                from: old.state,
                to: m.state,
                generation: m.generation,
                reason,
            };
            self.listener.on_state_change(
                self.name,
                &t,
                &Stats::of_machine(self.name, &m, server_now),
            );
        }
    }

    fn observe_reply(&self, r: &Reply, force: bool) {
        if r.corrupt {
            self.listener.on_corrupt(self.name);
        }
        self.observe(
            r.seq,
            r.machine,
            r.now,
            force || r.corrupt,
            Some((r.before.1, r.reason)),
        );
    }

    fn went_down(&self, e: &StoreError) {
        let mut v = self.lock();
        let was_up = v.up;
        v.up = false;
        v.acquiring = false;
        v.armed = None;
        v.grants.clear();
        let report = !v.outage_reported;
        v.outage_reported = true;
        self.fast
            .store(fast_word(&v.machine, false), Ordering::Release);
        drop(v);
        if was_up {
            // Each outage starts the fallback afresh: closed, counting this outage alone.
            self.local.force_closed();
        }
        if report {
            self.listener.on_outage(self.name, e);
        }
    }

    fn came_up(&self, r: &Reply) {
        let mut v = self.lock();
        v.up = true;
        let reported = core::mem::take(&mut v.outage_reported);
        v.seq = 0;
        drop(v);
        self.observe_reply(r, true);
        if reported {
            self.listener.on_resync(self.name, r.machine.state);
        }
    }

    async fn run(&self, con: &mut Con, op: Op) -> Result<Reply, StoreError> {
        let s = self.config.settings();
        let random = match s.open().random() {
            Some(r) if s.open().is_jittered() => r.next_u32(),
            _ => 0,
        };
        self.commands.fetch_add(1, Ordering::Relaxed);
        let t = self.options.redis_timeout;
        match self
            .executor
            .timeout(t, self.store.apply(con, s, op, random))
            .await
        {
            Some(r) => r,
            None => Err(StoreError::Timeout(t)),
        }
    }
}

impl<C: Clock, L: Events, W: Window> Inner<C, L, W> {
    /// Does one command of the driver's queue; returns the error of a command that failed.
    async fn handle(&self, con: &mut Con, cmd: Cmd) -> Result<(), StoreError> {
        let r = self.exec(con, cmd).await;
        // After the command's reply is in the view (and `unacked` released): a caller that
        // sees the queue empty sees the view with every reply.
        self.tx.queued.fetch_sub(1, Ordering::AcqRel);
        r
    }

    async fn exec(&self, con: &mut Con, cmd: Cmd) -> Result<(), StoreError> {
        match cmd {
            Cmd::Run(op, reply) => {
                let r = self.run(con, op).await;
                if let Ok(r) = &r {
                    self.observe_reply(r, false);
                }
                match reply {
                    Some(tx) => {
                        let e = r.as_ref().err().map(copy_error);
                        if let Err(Ok(reply)) = tx.send(r) {
                            // Its waiter went away (an awaited admission that timed out or
                            // was dropped): a trial slot granted to nobody goes back now.
                            if let Some(Admission::Admitted {
                                generation,
                                trial: true,
                            }) = reply.admission
                            {
                                self.give_back(con, generation).await?;
                            }
                        }
                        e.map_or(Ok(()), Err)
                    }
                    None => r.map(drop),
                }
            }
            Cmd::Report {
                report,
                trial,
                done,
            } => {
                let r = if self.still_changes(&report, trial) {
                    self.run(con, Op::Record(report)).await.map(|r| {
                        self.observe_reply(&r, false);
                        if let Some(done) = done {
                            // The caller awaiting it: the change this report made, if any.
                            let _ = done.send(r.transition());
                        }
                    })
                } else {
                    Ok(())
                };
                if report.outcome == Outcome::Failure {
                    // Release: a report that reads the count back to zero also reads the view
                    // this failure's reply left (the fast word, stored before).
                    self.unacked.fetch_sub(1, Ordering::AcqRel);
                }
                r
            }
            Cmd::Reserve { timer } => self.reserve(con, timer).await,
            Cmd::Barrier(tx) => {
                let _ = tx.send(());
                Ok(())
            }
            Cmd::Unclaimed(id) => {
                let generation = {
                    let mut v = self.lock();
                    let at = v.grants.iter().position(|g| g.id == id);
                    at.map(|at| v.grants.swap_remove(at).generation)
                };
                let Some(generation) = generation else {
                    return Ok(()); // a caller took it
                };
                // Nobody here wanted it: this process stops reserving until it has callers
                // again, and the slot goes back to the fleet.
                self.demand.store(false, Ordering::Relaxed);
                let report = Report::new(generation, Outcome::Ignored);
                let r = self.run(con, Op::Record(report)).await?;
                self.observe_reply(&r, false);
                Ok(())
            }
        }
    }

    /// Gives back a trial slot of `generation` that no caller will use (an ignored trial).
    async fn give_back(&self, con: &mut Con, generation: u32) -> Result<(), StoreError> {
        let report = Report::new(generation, Outcome::Ignored);
        let r = self.run(con, Op::Record(report)).await?;
        self.observe_reply(&r, false);
        Ok(())
    }

    /// Whether a report from the seam still changes the shared machine, judged from the view,
    /// which by now holds the replies to every earlier command of this process. A closed
    /// success that changes nothing goes to the window batch, as `report` would have sent it.
    fn still_changes(&self, report: &Report, trial: bool) -> bool {
        if trial {
            // A trial's outcome (or its slot given back) always goes to Redis, which judges it.
            return true;
        }
        let m = self.lock().machine;
        if report.generation != m.generation {
            // Stale: the script ignores a report of another generation.
            return false;
        }
        match report.outcome {
            Outcome::Success
                if matches!(m.state, State::Closed | State::Disabled) && m.failures == 0 =>
            {
                if self.windowed {
                    self.add_to_batch(m.generation, report.slow);
                }
                false
            }
            Outcome::Ignored => false,
            _ => true,
        }
    }

    /// Adds a success that changes nothing but the shared window to the batch.
    fn add_to_batch(&self, generation: u32, slow: bool) {
        let mut b = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        if b.generation != generation {
            *b = Batch {
                generation,
                ..Batch::default()
            };
        }
        b.calls = b.calls.saturating_add(1);
        b.slow = b.slow.saturating_add(u32::from(slow));
    }

    /// Acquires the free trial slots for this process's callers, one script call each (each
    /// exactly counted in Redis, so never more trials than configured across the fleet); each
    /// slot granted waits `claim_time` for a caller, then goes back.
    async fn reserve(&self, con: &mut Con, timer: Option<u32>) -> Result<(), StoreError> {
        let want = {
            let mut v = self.lock();
            if timer.is_some() && v.armed == timer {
                v.armed = None;
            }
            v.acquiring = true;
            let m = v.machine;
            let max = self.config.settings().half_open_trials();
            let wanted = self.demand.load(Ordering::Relaxed) && v.up;
            match m.state {
                _ if !wanted => 0,
                // Past the deadline by the view, or a timer armed for it: the first acquire
                // half-opens the breaker. A timer may fire a little early (the clocks' offset
                // is read to within a round trip): Redis then refuses with the time left, the
                // loop stops, and the reply re-arms the timer.
                State::Open => max,
                State::HalfOpen if v.grants.is_empty() => max.saturating_sub(m.trials),
                _ => 0,
            }
        };
        let mut result = Ok(());
        for _ in 0..want {
            let r = match self.run(con, Op::Acquire).await {
                Ok(r) => r,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let local = self.clock.now();
            let grant = {
                let mut v = self.lock();
                match r.admission {
                    Some(Admission::Admitted {
                        generation,
                        trial: true,
                    }) => {
                        let id = v.next_grant;
                        v.next_grant += 1;
                        v.grants.push(Grant { id, generation });
                        Some(id)
                    }
                    Some(Admission::Rejected { retry_after }) => {
                        if r.machine.state != State::Open {
                            // Every slot is taken: ask again when one may be free.
                            let wait = retry_after
                                .unwrap_or(self.options.poll_interval)
                                .min(self.options.poll_interval);
                            v.acquire_after = Some(local + wait);
                        }
                        None
                    }
                    // Admitted as closed (it closed meanwhile): no slot is held.
                    _ => None,
                }
            };
            // `acquiring` stays set while the loop runs, so the replies it takes in do not
            // queue another reservation.
            self.observe_reply(&r, false);
            let Some(id) = grant else { break };
            self.tx.send_after(self.claim_time(), Cmd::Unclaimed(id));
        }
        self.lock().acquiring = false;
        result
    }
}

fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Timeout(t) => StoreError::Timeout(*t),
        StoreError::BadReply(w) => StoreError::BadReply(w),
        StoreError::Unavailable => StoreError::Unavailable,
        StoreError::Redis(e) => StoreError::Redis(redis::RedisError::from((
            e.kind(),
            "redis error",
            e.to_string(),
        ))),
    }
}

/// The local breaker's own ticket, from one this breaker gave out while Redis was away.
fn local_ticket(ticket: &Ticket) -> Ticket {
    Ticket::new(
        ticket.generation() & !FALLBACK,
        ticket.is_trial(),
        ticket.started_at(),
    )
    .with_token(ticket.token())
}

impl<C: Clock, L: Events, W: Window> Breaker for RedisBreaker<C, L, W> {
    type Clock = C;

    fn clock(&self) -> &C {
        &self.inner.clock
    }

    fn name(&self) -> &'static str {
        self.inner.name
    }

    #[inline]
    fn admit(&self) -> Result<Admitted, Rejected> {
        let w = self.inner.fast.load(Ordering::Acquire);
        if admits_without_redis(w) {
            return Ok(Ticket::new((w >> GEN_SHIFT) as u32, false, self.inner.start()).into());
        }
        self.inner.admit_slow(w)
    }

    fn admitted(&self, ticket: &Ticket, transition: Option<Transition>) {
        if ticket.generation() & FALLBACK != 0 {
            Breaker::admitted(&self.inner.local, &local_ticket(ticket), transition);
        }
        self.inner
            .listener
            .before_call(self.inner.name, ticket.is_trial());
    }

    fn report(&self, ticket: &Ticket, end: End<'_>) -> Option<Transition> {
        match self.inner.report_with(ticket, end, false) {
            Reported::Now(t) => t,
            Reported::Later(_) => None,
        }
    }

    /// Failures are decided in Redis, a round trip after `report`: the call futures and the
    /// timer policy await them (`report_start`), so the call that trips learns it.
    #[inline]
    fn awaits_reports(&self) -> bool {
        true
    }

    /// As `report`, but a failure sent to Redis is answered later: the state change its
    /// script call made, within `Options::redis_timeout` (else `None`; the report stands and
    /// the outage policy applies as usual). A success never waits: it is `report`'s answer.
    fn report_start(&self, ticket: &Ticket, end: End<'_>) -> Reported {
        self.inner.report_with(ticket, end, true)
    }

    fn poll_reported(
        &self,
        id: u64,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Option<Transition>> {
        use core::future::Future as _;
        use core::task::Poll;
        let mut w = self.inner.waiters();
        let Some(waiter) = w.map.get_mut(&id) else {
            return Poll::Ready(None);
        };
        let answer = match core::pin::Pin::new(&mut waiter.answer).poll(cx) {
            Poll::Ready(answer) => answer.unwrap_or(None),
            Poll::Pending => match waiter.timeout.as_mut().poll(cx) {
                Poll::Ready(()) => None,
                Poll::Pending => return Poll::Pending,
            },
        };
        w.map.remove(&id);
        Poll::Ready(answer)
    }

    fn forget_reported(&self, id: u64) {
        self.inner.waiters().map.remove(&id);
    }

    /// Half-open (or open past its deadline) with no slot held: the call futures and the timer
    /// policy await a trial slot from Redis (one round trip) instead of being refused once.
    #[inline]
    fn awaits_admission(&self) -> bool {
        true
    }

    /// As `admit`, except that a call that would be refused only because this process holds
    /// no trial slot asks Redis for one and waits for the answer (within
    /// `Options::redis_timeout`; past it, the outage policy answers).
    fn admit_start(&self) -> Admitting {
        let inner = &self.inner;
        let w = inner.fast.load(Ordering::Acquire);
        if admits_without_redis(w) || w & UP == 0 {
            return Admitting::Now(self.admit());
        }
        let local = inner.clock.now();
        let (left, grant, state) = {
            let mut v = inner.lock();
            let now = v.server_now(local);
            match v.machine.open_time_left(now) {
                Some(left) => (Some(left), None, v.machine.state),
                None => (None, v.grants.pop(), v.machine.state),
            }
        };
        if let Some(left) = left {
            return Admitting::Now(Err(inner.reject(State::Open, Some(left))));
        }
        if let Some(g) = grant {
            return Admitting::Now(Ok(Ticket::new(g.generation, true, inner.start()).into()));
        }
        if !matches!(state, State::Open | State::HalfOpen) {
            return Admitting::Now(self.admit());
        }
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut w = inner.waiters();
            let id = w.id();
            let timeout = w.timeout(inner.options.redis_timeout);
            w.admits.insert(
                id,
                AdmitWaiter {
                    answer: rx,
                    timeout,
                },
            );
            id
        };
        if inner.send(Cmd::Run(Op::Acquire, Some(tx))) {
            return Admitting::Later(id);
        }
        inner.waiters().admits.remove(&id);
        Admitting::Now(self.admit())
    }

    fn poll_admitted(
        &self,
        id: u64,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Result<Admitted, Rejected>> {
        use core::future::Future as _;
        use core::task::Poll;
        let inner = &self.inner;
        let answer = {
            let mut w = inner.waiters();
            let Some(waiter) = w.admits.get_mut(&id) else {
                return Poll::Ready(self.admit());
            };
            let answer = match core::pin::Pin::new(&mut waiter.answer).poll(cx) {
                Poll::Ready(answer) => answer.ok().and_then(Result::ok),
                Poll::Pending => match waiter.timeout.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        // Closed first, so that an answer is either in now (and used) or
                        // refused to the driver, which then gives a granted slot back.
                        waiter.answer.close();
                        waiter.answer.try_recv().ok().flatten().and_then(Result::ok)
                    }
                    Poll::Pending => return Poll::Pending,
                },
            };
            w.admits.remove(&id);
            answer
        };
        // Listeners run with no lock held.
        Poll::Ready(match answer {
            Some(Reply {
                admission: Some(Admission::Admitted { generation, trial }),
                ..
            }) => Ok(Ticket::new(generation, trial, inner.start()).into()),
            Some(r) => {
                let retry = match r.admission {
                    Some(Admission::Rejected { retry_after }) => retry_after,
                    _ => None,
                };
                Err(inner.reject(r.machine.state, retry))
            }
            // Redis did not answer in time, or is away: the outage policy answers.
            None => inner.admit_outage(),
        })
    }

    fn forget_admitted(&self, id: u64) {
        let waiter = self.inner.waiters().admits.remove(&id);
        let Some(mut waiter) = waiter else { return };
        // Closed first: an answer already in is taken here, and a slot it granted to nobody
        // goes back; one not in yet is refused to the driver, which gives the slot back.
        waiter.answer.close();
        if let Ok(Some(Ok(Reply {
            admission:
                Some(Admission::Admitted {
                    generation,
                    trial: true,
                }),
            ..
        }))) = waiter.answer.try_recv()
        {
            self.inner.send(Cmd::Report {
                report: Report::new(generation, Outcome::Ignored),
                trial: true,
                done: None,
            });
        }
    }

    fn trip_error(&self) -> bool {
        // As configured: the call futures and the timer policy await a failure's answer, so
        // the call that trips learns it. (The synchronous paths, `call` and `Permit::failure`,
        // cannot wait: there the tripping call reports its own error.)
        self.inner.config.settings().trip_error()
    }

    fn state(&self) -> State {
        let w = self.inner.fast.load(Ordering::Acquire);
        if w & UP == 0 && self.inner.options.outage == Outage::Local {
            return self.inner.local.state();
        }
        let local = self.inner.clock.now();
        let v = self.inner.lock();
        let now = v.server_now(local);
        let m = v.machine;
        drop(v);
        m.advance(self.inner.config.settings(), &mut Fixed::at(now))
            .next
            .state
    }

    fn wait_hint(&self, now: Instant) -> WaitHint {
        let w = self.inner.fast.load(Ordering::Acquire);
        if admits_without_redis(w) {
            return WaitHint::AskNow;
        }
        if w & UP == 0 {
            return match self.inner.options.outage {
                Outage::Local => Breaker::wait_hint(&self.inner.local, now),
                _ => WaitHint::Poll,
            };
        }
        let inner = &self.inner;
        let mut v = inner.lock();
        let left = v.machine.open_time_left(v.server_now(now));
        match v.machine.state {
            State::Closed | State::Disabled => WaitHint::AskNow,
            State::Open if left.is_some() => WaitHint::Sleep(left.unwrap_or(Duration::ZERO)),
            // Open past its deadline, or half-open: ask only when this process holds a slot
            // (asking without one would be refused and counted as a rejection). Otherwise have
            // the driver reserve the free ones, and look again after the poll interval.
            State::Open | State::HalfOpen if v.grants.is_empty() => {
                inner.demand.store(true, Ordering::Relaxed);
                inner.ask_for_trials(&mut v, now);
                WaitHint::Poll
            }
            State::Open | State::HalfOpen => WaitHint::AskNow,
            State::ForcedOpen => WaitHint::Poll,
        }
    }
}

/// Listed in a `breaker_core::registry::Registry` with the in-process breakers: the name, the
/// shared state and a snapshot as this process's view has them, and manual control.
impl<C, L, W> breaker_core::registry::Managed for RedisBreaker<C, L, W>
where
    C: Clock + Send + Sync,
    L: Events + Send + Sync,
    W: Window + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.inner.name
    }

    fn state(&self) -> State {
        Breaker::state(self)
    }

    /// The shared machine as last read (no window counts: the window lives in Redis). During an
    /// outage with `Outage::Local`, the fallback breaker's own snapshot.
    fn stats(&self) -> Stats {
        if !self.is_synced() && self.inner.options.outage == Outage::Local {
            return self.inner.local.stats();
        }
        let local = self.inner.clock.now();
        let v = self.inner.lock();
        Stats::of_machine(self.inner.name, &v.machine, v.server_now(local))
    }

    /// Sends the manual change to Redis without waiting (`RedisBreaker::manual` awaits it);
    /// every process follows within the staleness bound. `Reset` is a close (closing empties
    /// the shared window). During an outage the change cannot reach Redis: with
    /// `Outage::Local` it applies to the fallback breaker, otherwise it is dropped.
    fn control(&self, action: breaker_core::registry::Control) {
        use breaker_core::registry::Control;
        let manual = match action {
            Control::Open => Manual::Open,
            Control::ForceOpen => Manual::ForceOpen,
            Control::ForceClosed | Control::Reset => Manual::Close,
            Control::HalfOpen => Manual::HalfOpen,
            Control::Disable => Manual::Disable,
            _ => return,
        };
        if !self.is_synced() {
            if self.inner.options.outage == Outage::Local {
                let local = &self.inner.local;
                match action {
                    Control::Open => local.open(),
                    Control::ForceOpen => local.force_open(),
                    Control::ForceClosed => local.force_closed(),
                    Control::HalfOpen => local.half_open(),
                    Control::Disable => local.disable(),
                    _ => local.reset(),
                }
            }
            return;
        }
        if manual == Manual::HalfOpen {
            // As `RedisBreaker::manual`: whoever half-opens by hand reserves the trial slots.
            self.inner.demand.store(true, Ordering::Relaxed);
        }
        self.inner.send(Cmd::Run(Op::Manual(manual), None));
    }
}
