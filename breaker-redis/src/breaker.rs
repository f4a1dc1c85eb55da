//! The shared breaker: Redis is the authority, a local view answers the hot path.

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use breaker_core::machine::{Admission, Fixed, Machine, Manual, Outcome, Report, Transition};
use breaker_core::window::{NoWindow, Window, WindowKind};
use breaker_core::{
    Breaker, CircuitBreaker, Clock, Config, Duration, End, Instant, Listener, Rejected, State,
    Stats, Ticket, WaitHint,
};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::options::{Options, Outage};
use crate::store::{parse_event, state_code, Op, Reply, Store, StoreError};

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
    /// Trial slots granted by Redis to this process, waiting for a caller.
    grants: Vec<Grant>,
    next_grant: u64,
    acquiring: bool,
    /// No trial acquisition before this local instant (Redis said every slot is taken).
    acquire_after: Option<Instant>,
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

enum Cmd {
    /// Run `op`; send the reply back if asked.
    Run(Op, Option<oneshot::Sender<Result<Reply, StoreError>>>),
    /// Ask for a half-open trial slot for a caller of this process.
    Prefetch,
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
    client: redis::Client,
    clock: C,
    listener: L,
    fast: AtomicU64,
    view: Mutex<View>,
    local: CircuitBreaker<C, Config<W>>,
    tx: mpsc::UnboundedSender<Cmd>,
    commands: AtomicU64,
    /// A shared time window is kept: successes are batched, calls are timed if slow calls count.
    windowed: bool,
    timed: bool,
    batch: Mutex<Batch>,
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
    driver: tokio::task::JoinHandle<()>,
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
    /// The URL could not be parsed (or asks for TLS without the `tls` feature).
    Url(redis::RedisError),
    /// The configuration asks for what is not shared yet (a count window: see the README).
    Unsupported(&'static str),
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::Url(e) => write!(f, "bad redis url: {e}"),
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
    /// `options` says. Must be called within a tokio runtime: it spawns the driver that talks
    /// to Redis. Returns at once; until the first reading arrives the breaker follows the
    /// outage policy.
    ///
    /// # Errors
    ///
    /// [`BuildError::Url`] for a URL the redis crate refuses; [`BuildError::Unsupported`] for
    /// a count window (time windows are shared; count windows are not yet).
    pub fn new(
        config: Config<W>,
        options: Options,
        clock: C,
        listener: L,
    ) -> Result<Self, BuildError> {
        let client = redis::Client::open(options.url.as_str()).map_err(BuildError::Url)?;
        let name = config.settings().name();
        let buckets = match W::KIND {
            WindowKind::None => 0,
            WindowKind::Time { buckets } => buckets,
            WindowKind::Count { .. } => {
                return Err(BuildError::Unsupported(
                    "a count window (use a time window, which is shared)",
                ))
            }
        };
        let process = options.process_id.clone().unwrap_or_else(process_id);
        let store = Store::new(
            &options.namespace,
            if name.is_empty() { "default" } else { name },
        )
        .with_time_window(buckets)
        .with_min_processes(options.min_processes, process);
        let timed = config.settings().slow_call_threshold().is_some();
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            name,
            config,
            local: CircuitBreaker::with_clock(clock.clone(), config),
            options,
            store,
            client,
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
            }),
            tx,
            commands: AtomicU64::new(0),
            windowed: buckets > 0,
            timed,
            batch: Mutex::new(Batch::default()),
        });
        let driver = tokio::spawn(drive(Arc::downgrade(&inner), rx));
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

    /// Applies `op` to the shared machine in one round trip and waits for the answer: the
    /// exact, awaited form of what the synchronous [`Breaker`] methods send in the background.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] during an outage (nothing is sent), or the error of the call.
    pub async fn execute(&self, op: Op) -> Result<Reply, StoreError> {
        if !self.is_synced() {
            return Err(StoreError::Unavailable);
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Cmd::Run(op, Some(tx)))
            .map_err(|_| StoreError::Unavailable)?;
        rx.await.unwrap_or(Err(StoreError::Unavailable))
    }

    /// A manual change (open, force open, close, half-open, disable), applied to the shared
    /// state: every process follows within the staleness bound.
    ///
    /// # Errors
    ///
    /// As [`RedisBreaker::execute`].
    pub async fn manual(&self, action: Manual) -> Result<Option<Transition>, StoreError> {
        self.execute(Op::Manual(action))
            .await
            .map(|r| r.transition())
    }

    /// Waits until the local view is synced with Redis, or `timeout` passes; returns whether it
    /// is.
    pub async fn wait_synced(&self, timeout: core::time::Duration) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        while !self.is_synced() {
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(core::time::Duration::from_millis(2)).await;
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
    pub async fn admit_async(&self) -> Result<Ticket, Rejected> {
        let w = self.inner.fast.load(Ordering::Acquire);
        if admits_without_redis(w) || w & UP == 0 {
            return self.admit();
        }
        let m = self.view();
        let now = self.inner.server_now();
        if let Some(left) = m.open_time_left(now) {
            return Err(self.inner.reject(State::Open, Some(left)));
        }
        match self.execute(Op::Acquire).await {
            Ok(Reply {
                admission: Some(Admission::Admitted { generation, trial }),
                ..
            }) => Ok(Ticket::new(generation, trial, self.inner.start())),
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

    fn server_now(&self) -> Instant {
        let local = self.clock.now();
        self.lock().server_now(local)
    }

    fn reject(&self, state: State, retry_after: Option<Duration>) -> Rejected {
        let r = Rejected::new(self.name, state, retry_after);
        self.listener.on_rejected(self.name, &r);
        r
    }

    fn send(&self, cmd: Cmd) {
        // The driver lives as long as the breaker; a send can fail only while it is dropped.
        let _ = self.tx.send(cmd);
    }

    /// Admission while Redis is away, as the outage policy says.
    fn admit_outage(&self) -> Result<Ticket, Rejected> {
        match self.options.outage {
            Outage::Local => match Breaker::admit(&self.local) {
                Ok(t) => Ok(
                    Ticket::new(t.generation() | FALLBACK, t.is_trial(), t.started_at())
                        .with_transition(t.transition()),
                ),
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
                    State::Closed | State::Disabled => Ok(Ticket::new(m.generation, false, None)),
                    _ => Err(self.reject(m.state, m.open_time_left(now))),
                }
            }
        }
    }

    fn admit_slow(&self, w: u64) -> Result<Ticket, Rejected> {
        if w & UP == 0 {
            return self.admit_outage();
        }
        let local = self.clock.now();
        let mut v = self.lock();
        let m = v.machine;
        let now = v.server_now(local);
        match m.state {
            State::Closed | State::Disabled => Ok(Ticket::new(m.generation, false, self.start())),
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
                    return Ok(Ticket::new(g.generation, true, self.start()));
                }
                let may_ask = !v.acquiring && v.acquire_after.is_none_or(|t| local >= t);
                if may_ask {
                    v.acquiring = true;
                    self.send(Cmd::Prefetch);
                }
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
    fn observe(&self, seq: u64, m: Machine, server_now: Instant, force: bool) {
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
        } else if m.trials < old.trials {
            v.acquire_after = None;
        }
        self.fast.store(fast_word(&m, v.up), Ordering::Release);
        drop(v);
        if m.generation != old.generation && m.state != old.state && L::ENABLED {
            let t = Transition {
                from: old.state,
                to: m.state,
                generation: m.generation,
                // issue 11: a change seen in Redis; the process that made it knows why.
                reason: breaker_core::Reason::Remote,
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
        self.observe(r.seq, r.machine, r.now, force || r.corrupt);
    }

    fn went_down(&self, e: &StoreError) {
        let mut v = self.lock();
        let was_up = v.up;
        v.up = false;
        v.acquiring = false;
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

    async fn run(
        &self,
        con: &mut redis::aio::MultiplexedConnection,
        op: Op,
    ) -> Result<Reply, StoreError> {
        let s = self.config.settings();
        let random = match s.open().random() {
            Some(r) if s.open().is_jittered() => r.next_u32(),
            _ => 0,
        };
        self.commands.fetch_add(1, Ordering::Relaxed);
        let t = self.options.redis_timeout;
        match tokio::time::timeout(t, self.store.apply(con, s, op, random)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(t)),
        }
    }
}

/// Runs one command on its own task, so that many calls' round trips overlap on the one
/// multiplexed connection.
async fn serve<
    C: Clock + Send + Sync + 'static,
    L: Events + Send + Sync + 'static,
    W: Window + Send + 'static,
>(
    inner: Arc<Inner<C, L, W>>,
    mut con: redis::aio::MultiplexedConnection,
    cmd: Cmd,
    errors: mpsc::UnboundedSender<StoreError>,
) {
    match cmd {
        Cmd::Run(op, reply) => {
            let r = inner.run(&mut con, op).await;
            if let Ok(r) = &r {
                inner.observe_reply(r, false);
            }
            match (reply, r) {
                (Some(tx), r) => {
                    if let Err(e) = &r {
                        let _ = errors.send(copy_error(e));
                    }
                    let _ = tx.send(r);
                }
                (None, Err(e)) => {
                    let _ = errors.send(e);
                }
                (None, Ok(_)) => {}
            }
        }
        Cmd::Prefetch => {
            let r = inner.run(&mut con, Op::Acquire).await;
            let local = inner.clock.now();
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    inner.lock().acquiring = false;
                    let _ = errors.send(e);
                    return;
                }
            };
            let grant = {
                let mut v = inner.lock();
                v.acquiring = false;
                match r.admission {
                    Some(Admission::Admitted {
                        generation,
                        trial: true,
                    }) => {
                        let id = v.next_grant;
                        v.next_grant += 1;
                        v.grants.push(Grant { id, generation });
                        Some((id, generation))
                    }
                    Some(Admission::Rejected { retry_after }) => {
                        let wait = retry_after
                            .unwrap_or(inner.options.poll_interval)
                            .min(inner.options.poll_interval);
                        v.acquire_after = Some(local + wait);
                        None
                    }
                    _ => None,
                }
            };
            inner.observe_reply(&r, false);
            if let Some((id, generation)) = grant {
                // A slot nobody claims goes back to the cluster, so that an idle process does
                // not hold the fleet's only trial.
                tokio::time::sleep(inner.options.trial_claim).await;
                let unclaimed = {
                    let mut v = inner.lock();
                    let before = v.grants.len();
                    v.grants.retain(|g| g.id != id);
                    v.grants.len() != before
                };
                if unclaimed {
                    let report = Report::new(generation, Outcome::Ignored);
                    if let Ok(r) = inner.run(&mut con, Op::Record(report)).await {
                        inner.observe_reply(&r, false);
                    }
                }
            }
        }
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

/// The shortest window flush interval (a zero one would spin the driver).
const MIN_FLUSH: core::time::Duration = core::time::Duration::from_millis(1);

/// Whether an error means Redis is away (rather than one bad reply).
fn is_outage(e: &StoreError) -> bool {
    match e {
        StoreError::Timeout(_) | StoreError::Unavailable => true,
        StoreError::Redis(e) => {
            e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_unrecoverable_error()
        }
        StoreError::BadReply(_) => false,
    }
}

/// The background driver: connect, resync, follow pub/sub and polls, run commands; on an
/// outage, report it once and reconnect with backoff.
async fn drive<
    C: Clock + Send + Sync + 'static,
    L: Events + Send + Sync + 'static,
    W: Window + Send + 'static,
>(
    weak: Weak<Inner<C, L, W>>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) {
    let mut backoff: Option<core::time::Duration> = None;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let (min, max) = (inner.options.reconnect_min, inner.options.reconnect_max);
        let (connected, err) = session(&inner, &mut rx).await;
        let Some(err) = err else { return };
        inner.went_down(&err);
        drop(inner);
        backoff = Some(match backoff {
            Some(b) if !connected => (b * 2).min(max),
            _ => min,
        });
        let sleep = tokio::time::sleep(backoff.unwrap_or(min));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                cmd = rx.recv() => match cmd {
                    None => return,
                    // Redis is away: answer at once rather than queue behind the outage.
                    Some(Cmd::Run(_, Some(tx))) => { let _ = tx.send(Err(StoreError::Unavailable)); }
                    Some(_) => {}
                },
            }
        }
    }
}

/// One connected session; returns whether it got connected, and the error that ended it
/// (`None`: the breaker was dropped).
async fn session<
    C: Clock + Send + Sync + 'static,
    L: Events + Send + Sync + 'static,
    W: Window + Send + 'static,
>(
    inner: &Arc<Inner<C, L, W>>,
    rx: &mut mpsc::UnboundedReceiver<Cmd>,
) -> (bool, Option<StoreError>) {
    let t = inner.options.redis_timeout;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(t))
        .set_response_timeout(Some(t));
    let connect = async {
        let con = inner
            .client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await?;
        let mut pubsub = inner.client.get_async_pubsub().await?;
        pubsub.subscribe(inner.store.channel()).await?;
        Ok::<_, redis::RedisError>((con, pubsub))
    };
    let (mut con, pubsub) = match tokio::time::timeout(t * 2, connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return (false, Some(StoreError::Redis(e))),
        Err(_) => return (false, Some(StoreError::Timeout(t))),
    };
    // The sink must live as long as the stream: dropping it ends the subscription.
    let (_sink, mut events) = pubsub.split();
    // Resynchronise: the shared state as it is now, not as it was before the outage.
    match inner.run(&mut con, Op::Read).await {
        Ok(r) => inner.came_up(&r),
        Err(e) => return (false, Some(e)),
    }
    let (err_tx, mut err_rx) = mpsc::unbounded_channel();
    let mut poll = tokio::time::interval(inner.options.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    let mut flush = tokio::time::interval(inner.options.window_flush.max(MIN_FLUSH));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.tick().await;
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return (true, None) };
                tokio::spawn(serve(Arc::clone(inner), con.clone(), cmd, err_tx.clone()));
            }
            msg = events.next() => {
                let Some(msg) = msg else {
                    return (true, Some(StoreError::BadReply("pub/sub connection closed")));
                };
                if let Ok(payload) = msg.get_payload::<String>() {
                    if let Some((seq, m, now)) = parse_event(&payload) {
                        inner.observe(seq, m, now, false);
                    }
                }
            }
            _ = flush.tick(), if inner.windowed => {
                if let Some(op) = inner.take_batch() {
                    tokio::spawn(serve(Arc::clone(inner), con.clone(), Cmd::Run(op, None), err_tx.clone()));
                }
            }
            _ = poll.tick() => {
                match inner.run(&mut con, Op::Read).await {
                    Ok(r) => inner.observe_reply(&r, true),
                    Err(e) => return (true, Some(e)),
                }
            }
            e = err_rx.recv() => {
                if let Some(e) = e {
                    if is_outage(&e) {
                        return (true, Some(e));
                    }
                    inner.listener.on_store_error(inner.name, &e);
                }
            }
        }
    }
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
    fn admit(&self) -> Result<Ticket, Rejected> {
        let w = self.inner.fast.load(Ordering::Acquire);
        if admits_without_redis(w) {
            return Ok(Ticket::new(
                (w >> GEN_SHIFT) as u32,
                false,
                self.inner.start(),
            ));
        }
        self.inner.admit_slow(w)
    }

    fn admitted(&self, ticket: &Ticket) {
        if ticket.generation() & FALLBACK != 0 {
            let t = Ticket::new(
                ticket.generation() & !FALLBACK,
                ticket.is_trial(),
                ticket.started_at(),
            )
            .with_transition(ticket.transition());
            Breaker::admitted(&self.inner.local, &t);
        }
        self.inner
            .listener
            .before_call(self.inner.name, ticket.is_trial());
    }

    fn report(&self, ticket: &Ticket, end: End<'_>) -> Option<Transition> {
        let inner = &self.inner;
        if ticket.generation() & FALLBACK != 0 {
            let t = Ticket::new(
                ticket.generation() & !FALLBACK,
                ticket.is_trial(),
                ticket.started_at(),
            );
            return Breaker::report(&inner.local, &t, end);
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
        let w = inner.fast.load(Ordering::Acquire);
        if w & UP == 0 {
            // Redis is away: the outcome of a call admitted by the shared state cannot be
            // counted there (the fallback counts only what it admitted itself).
            return None;
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
        if inner.windowed
            && outcome == Outcome::Success
            && matches!(w & STATE_MASK, 0 | 4)
            && w & FAILURES == 0
            && !ticket.is_trial()
        {
            // A success that changes nothing but the window: batched, flushed by the driver
            // every `window_flush` (one command per interval, not per call).
            if gen == ticket.generation() {
                let mut b = inner.batch.lock().unwrap_or_else(PoisonError::into_inner);
                if b.generation != gen {
                    *b = Batch {
                        generation: gen,
                        ..Batch::default()
                    };
                }
                b.calls = b.calls.saturating_add(1);
                b.slow = b.slow.saturating_add(u32::from(slow));
            }
            return None;
        }
        let changes_nothing = match outcome {
            // Closed or disabled with no failures counted: a success changes nothing (the
            // core's `success_is_noop`), so it costs no Redis command.
            Outcome::Success => matches!(w & STATE_MASK, 0 | 4) && w & FAILURES == 0,
            Outcome::Ignored => !ticket.is_trial(),
            Outcome::Failure => false,
        };
        if changes_nothing {
            return None;
        }
        if outcome == Outcome::Failure && gen != ticket.generation() && !ticket.is_trial() {
            // Stale by the view: the script would ignore it too (the generation only moves
            // forward), so save the round trip.
            return None;
        }
        let mut report = Report::new(ticket.generation(), outcome);
        report.slow = slow;
        inner.send(Cmd::Run(Op::Record(report), None));
        // The change, if any, is decided in Redis and reported to listeners when its answer
        // arrives; the seam's answer cannot wait for it.
        None
    }

    fn trip_error(&self) -> bool {
        // The call whose failure trips the shared breaker learns it only after its report's
        // round trip, so it reports its own error.
        false
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
        let v = self.inner.lock();
        let server = v.server_now(now);
        match v.machine.state {
            State::Closed | State::Disabled => WaitHint::AskNow,
            State::Open => match v.machine.open_time_left(server) {
                Some(left) => WaitHint::Sleep(left),
                None if v.grants.is_empty() && v.acquiring => WaitHint::Poll,
                None => WaitHint::AskNow,
            },
            State::HalfOpen if !v.grants.is_empty() || !v.acquiring => WaitHint::AskNow,
            _ => WaitHint::Poll,
        }
    }
}
