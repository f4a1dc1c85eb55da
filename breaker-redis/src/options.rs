//! How a shared breaker connects, and what it does when Redis is away.

use core::time::Duration;

use crate::connection::Target;
use crate::executor::Executor;

/// What calls do while Redis is unreachable or slower than [`Options::redis_timeout`].
///
/// Whichever is chosen, the outage is reported once through [`crate::Events::on_outage`], and
/// the end of it through [`crate::Events::on_resync`]: never silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Outage {
    /// Fall back to an in-process breaker with the same configuration, started closed at the
    /// beginning of each outage (the default): the process protects itself alone until Redis
    /// is back, then the shared state, read afresh, rules again.
    #[default]
    Local,
    /// Reject every call until Redis is back (fail closed).
    Reject,
    /// Keep answering from the last state read: a closed breaker admits, an open one rejects
    /// until its deadline (then half-open trials are refused, since only Redis may grant them);
    /// outcomes are not counted.
    LastKnown,
}

/// Connection and local-view settings of a [`crate::RedisBreaker`].
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) target: Target,
    pub(crate) executor: Option<Executor>,
    pub(crate) namespace: String,
    pub(crate) redis_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) outage: Outage,
    pub(crate) trial_claim: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) window_flush: Duration,
    pub(crate) min_processes: u32,
    pub(crate) process_id: Option<String>,
}

impl Options {
    /// Options for the Redis at `url`: `redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` (TLS) with the `tls-tokio` or `tls-smol` feature. Namespace `breaker`,
    /// timeout 200 ms, poll every 500 ms, [`Outage::Local`], the executor found by
    /// [`Executor::detect`].
    ///
    /// For a Redis Cluster use [`Options::cluster`]: a node that does not own the breaker's
    /// slot answers `MOVED`, which this single-node connection does not follow.
    pub fn new(url: impl Into<String>) -> Self {
        Options::with_target(Target::Node(url.into()))
    }

    /// Options for a Redis Cluster reached through any of `urls` (each `redis://host:port`, or
    /// `rediss://`; same user and password on all): the client reads the slot map from them,
    /// sends the breaker's script to the master that owns its slot and follows `MOVED` and
    /// `ASK` when slots move; the view subscribes to the breaker's channel on the first of
    /// `urls` that answers (Redis Cluster forwards every `PUBLISH` to every node). Give several
    /// nodes so that connecting and subscribing survive one of them being down. Defaults as in
    /// [`Options::new`]. An empty list is refused when the breaker is built
    /// ([`crate::BuildError::Url`]).
    pub fn cluster<U: Into<String>>(urls: impl IntoIterator<Item = U>) -> Self {
        Options::with_target(Target::Cluster(urls.into_iter().map(Into::into).collect()))
    }

    fn with_target(target: Target) -> Self {
        Options {
            target,
            executor: None,
            namespace: "breaker".into(),
            redis_timeout: Duration::from_millis(200),
            poll_interval: Duration::from_millis(500),
            outage: Outage::Local,
            trial_claim: Duration::from_millis(100),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
            window_flush: Duration::from_millis(100),
            min_processes: 1,
            process_id: None,
        }
    }

    /// Runs the background driver on `executor` rather than the one [`Executor::detect`]
    /// finds when the breaker is built.
    pub fn executor(mut self, executor: Executor) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Whether these options name a Redis Cluster ([`Options::cluster`]).
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// The key prefix (pybreaker's `namespace`): keys are `{namespace:name}:state`.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }

    /// The longest a Redis command may take; past it Redis counts as unreachable. No call waits
    /// on Redis at all: this bounds how long the breaker's background driver waits.
    pub fn redis_timeout(mut self, t: Duration) -> Self {
        self.redis_timeout = t;
        self
    }

    /// How often the local view is re-read even when pub/sub is quiet. With pub/sub working a
    /// change reaches every process within the pub/sub delay (about a round trip); if a message
    /// is lost, within this interval. The staleness bound is this plus one `redis_timeout`.
    pub fn poll_interval(mut self, t: Duration) -> Self {
        self.poll_interval = t;
        self
    }

    /// What calls do while Redis is away.
    pub fn outage(mut self, o: Outage) -> Self {
        self.outage = o;
        self
    }

    /// How long a half-open trial slot that this process reserved for its callers waits to be
    /// claimed before it is handed back to the cluster (default 100 ms; at most half the
    /// configuration's half-open maximum wait is used, so that a held slot is never given up
    /// as a failed trial).
    pub fn trial_claim(mut self, t: Duration) -> Self {
        self.trial_claim = t;
        self
    }

    /// The reconnect backoff: doubles from `min` to `max` while Redis stays away.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// With a time window: how often a process sends the successes it has batched for the
    /// shared window (one command per interval while calls succeed, none while idle). Failures
    /// are never batched. Default 100 ms; the window's rate may lag by this much.
    pub fn window_flush(mut self, t: Duration) -> Self {
        self.window_flush = t;
        self
    }

    /// Requires failures from at least `k` distinct processes since the breaker last closed
    /// before the consecutive-failures or window rules may open the shared breaker (off, 1, by
    /// default). Use it when one misbehaving instance (bad configuration, a broken network path
    /// of its own) must not open the breaker for the whole fleet; leave it off when a single
    /// process's view of the upstream is as good as any, or when the fleet may be smaller than
    /// `k` (the breaker would then never open by itself). While fewer than `k` processes fail,
    /// the closed state goes on counting past the threshold.
    pub fn min_failing_processes(mut self, k: u32) -> Self {
        self.min_processes = k.max(1);
        self
    }

    /// This process's name for [`Options::min_failing_processes`] (default: the OS process id
    /// and a random suffix, so that two breakers of one process count as two).
    pub fn process_id(mut self, id: impl Into<String>) -> Self {
        self.process_id = Some(id.into());
        self
    }

    /// The time bound on how stale the local view may be while Redis is reachable.
    pub fn staleness_bound(&self) -> Duration {
        self.poll_interval + self.redis_timeout
    }
}
