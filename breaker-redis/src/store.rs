//! The Redis side: one hash per breaker, every transition one Lua script (`transition.lua`),
//! and the typed reply it gives back.

use core::fmt;

use breaker_core::machine::{
    self, Admission, Machine, Manual, Outcome, Reason, Report, Transition,
};
use breaker_core::window::Counts;
use breaker_core::{Duration, Instant, Settings, State};
use redis::aio::ConnectionLike;

/// Why a Redis operation did not give a usable answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis could not be reached, or answered with an error.
    Redis(redis::RedisError),
    /// Redis did not answer within the configured timeout.
    Timeout(core::time::Duration),
    /// The reply had an unexpected shape (another program's script under our name, a proxy in
    /// between): nothing was applied from it.
    BadReply(&'static str),
    /// The outage policy rejects calls, or Redis sits behind its own open breaker.
    Unavailable,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Redis(e) => write!(f, "redis error: {e}"),
            StoreError::Timeout(t) => write!(f, "redis did not answer within {t:?}"),
            StoreError::BadReply(why) => {
                write!(f, "unexpected reply from the breaker script: {why}")
            }
            StoreError::Unavailable => f.write_str("redis is unavailable"),
        }
    }
}

impl core::error::Error for StoreError {}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Redis(e)
    }
}

/// One event applied to the shared machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read the machine and the server's time; writes only to repair corrupted data.
    Read,
    /// `Machine::acquire`.
    Acquire,
    /// `Machine::record`.
    Record(Report),
    /// `Machine::manual`.
    Manual(Manual),
    /// `Machine::advance`.
    Advance,
    /// A batch of `calls` successes (`slow` of them slow) of `generation`, added to the shared
    /// window only (a breaker with no window ignores it): what a process flushes within the
    /// staleness bound instead of one command per success. A time window adds the batch to
    /// its current bucket; a count window applies the plain successes, then the slow ones, one
    /// outcome at a time as the core's machine would, opening at the first that trips it.
    Window {
        /// The generation the calls were admitted in; another one's batch is dropped.
        generation: u32,
        /// Successful calls.
        calls: u32,
        /// Of which slow.
        slow: u32,
    },
}

/// What the script answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The data under the key was not a breaker this script wrote; it was reset to closed.
    pub corrupt: bool,
    /// The write counter: every change increments it, so views order readings by it.
    pub seq: u64,
    /// The machine after the event; deadlines on the server's timeline (µs since the Unix epoch).
    pub machine: Machine,
    /// The server's time the event was applied at.
    pub now: Instant,
    /// For [`Op::Acquire`]: admitted or not.
    pub admission: Option<Admission>,
    /// The state and generation before the event.
    pub before: (State, u32),
    /// Why the machine changed, as the core's transitions say (`None` when it did not, or for
    /// a reason code this version does not know).
    pub reason: Option<Reason>,
}

impl Reply {
    /// The state change the event caused, as the core reports it, with the core's reason.
    pub fn transition(&self) -> Option<Transition> {
        (self.machine.generation != self.before.1).then_some(Transition {
            from: self.before.0,
            to: self.machine.state,
            generation: self.machine.generation,
            reason: self.reason.unwrap_or(Reason::Remote),
        })
    }
}

/// The script's reason code and numbers (`why` in `transition.lua`) as the core's [`Reason`];
/// the configured thresholds come from `s`, as in the core. `None` for code 0 (no change) and
/// for codes or numbers out of range.
pub(crate) fn reason_from(code: i64, a: i64, b: i64, c: i64, s: &Settings) -> Option<Reason> {
    let u32_of = |v: i64| u32::try_from(v).ok();
    let u16_of = |v: i64| u16::try_from(v).ok();
    Some(match code {
        1 => Reason::ConsecutiveFailures {
            failures: u32_of(a)?,
            threshold: s.failure_threshold().unwrap_or(0),
        },
        2 => machine::window_reason(
            Counts {
                calls: u32_of(a)?,
                failures: u32_of(b)?,
                slow: u32_of(c)?,
            },
            s,
        ),
        3 => Reason::TrialFailed { slow: a == 1 },
        4 => Reason::TrialsAbandoned {
            trials: u16_of(a)?,
            max_wait: s.half_open_max_wait(),
        },
        5 => Reason::TrialsSucceeded {
            successes: u16_of(a)?,
            threshold: s.success_threshold(),
        },
        6 => Reason::OpenTimeElapsed {
            deadline: Instant::from_micros(u64::try_from(a).ok()?),
        },
        7 => Reason::Manual(match a {
            0 => Manual::Open,
            1 => Manual::ForceOpen,
            2 => Manual::Close,
            3 => Manual::HalfOpen,
            4 => Manual::Disable,
            _ => return None,
        }),
        _ => return None,
    })
}

pub(crate) fn state_code(s: State) -> i64 {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::Disabled => 4,
    }
}

pub(crate) fn code_state(c: i64) -> Option<State> {
    Some(match c {
        0 => State::Closed,
        1 => State::Open,
        2 => State::HalfOpen,
        3 => State::ForcedOpen,
        4 => State::Disabled,
        _ => return None,
    })
}

fn manual_code(m: Manual) -> i64 {
    match m {
        Manual::Open => 0,
        Manual::ForceOpen => 1,
        Manual::Close => 2,
        Manual::HalfOpen => 3,
        Manual::Disable => 4,
    }
}

/// Builds a machine from the script's integers, refusing any that are out of range.
pub(crate) fn machine_from(f: &[i64]) -> Result<Machine, StoreError> {
    let [st, gen, fail, tri, suc, opn, dl] = f else {
        return Err(StoreError::BadReply("machine fields"));
    };
    let state = code_state(*st).ok_or(StoreError::BadReply("state code"))?;
    let in_range = |v: i64, max: i64| (0..=max).contains(&v);
    if !in_range(*gen, breaker_core::limits::GENERATION_MASK as i64)
        || !in_range(*fail, u32::MAX as i64)
        || !in_range(*tri, breaker_core::limits::MAX_HALF_OPEN_COUNT as i64)
        || !in_range(*suc, breaker_core::limits::MAX_HALF_OPEN_COUNT as i64)
        || !in_range(*opn, breaker_core::limits::MAX_OPENS as i64)
        || *dl < -1
    {
        return Err(StoreError::BadReply("machine field out of range"));
    }
    Ok(Machine {
        state,
        generation: *gen as u32,
        failures: *fail as u32,
        trials: *tri as u16,
        successes: *suc as u16,
        opens: *opn as u8,
        deadline: (*dl >= 0).then(|| Instant::from_micros(*dl as u64)),
    })
}

/// The keys and script of one shared breaker.
#[derive(Debug, Clone)]
pub struct Store {
    key: String,
    procs: String,
    ring: String,
    channel: String,
    script: redis::Script,
    buckets: u32,
    count: u32,
    min_processes: u32,
    process: String,
}

/// The settings, as the script's arguments 3..=18.
fn settings_args(
    s: &Settings,
    random: u32,
    buckets: u32,
    count: u32,
    min_processes: u32,
) -> [i64; 16] {
    let open = s.open();
    let wait = s.half_open_max_wait_micros();
    [
        s.failure_threshold().unwrap_or(0) as i64,
        open.base_micros() as i64,
        open.multiplier() as i64,
        open.max_micros() as i64,
        open.jitter_ppm() as i64,
        random as i64,
        s.half_open_trials() as i64,
        s.success_threshold() as i64,
        if wait == u64::MAX { -1 } else { wait as i64 },
        s.slow_call().map_or(0, |(_, ppm)| ppm) as i64,
        s.failure_rate_ppm().unwrap_or(0) as i64,
        s.minimum_calls() as i64,
        s.bucket().as_micros().max(1) as i64,
        buckets as i64,
        min_processes as i64,
        count as i64,
    ]
}

impl Store {
    /// The store of breaker `name` in `namespace`: every key under the hash tag `{namespace:name}`,
    /// so a Redis Cluster keeps them in one slot.
    pub fn new(namespace: &str, name: &str) -> Self {
        Store {
            key: format!("{{{namespace}:{name}}}:state"),
            procs: format!("{{{namespace}:{name}}}:procs"),
            ring: format!("{{{namespace}:{name}}}:ring"),
            channel: format!("{{{namespace}:{name}}}:events"),
            script: redis::Script::new(include_str!("transition.lua")),
            buckets: 0,
            count: 0,
            min_processes: 1,
            process: String::new(),
        }
    }

    /// Keeps a shared time window of `buckets` buckets (0: none) in the hash, as
    /// `breaker_core::TimeWindow<B>` does in memory, for the failure-rate and slow-call rules.
    pub fn with_time_window(mut self, buckets: u32) -> Self {
        self.buckets = buckets;
        self.count = 0;
        self
    }

    /// Keeps a shared count window of the last `size` outcomes (0: none), as
    /// `breaker_core::CountWindow<N>` does in memory: a ring of one byte per outcome in the
    /// string [`Store::ring_key`], its position and totals in the hash.
    pub fn with_count_window(mut self, size: u32) -> Self {
        self.count = size;
        self.buckets = 0;
        self
    }

    /// The count window's ring (one byte per slot), under the breaker's hash tag.
    pub fn ring_key(&self) -> &str {
        &self.ring
    }

    /// Requires failures from at least `k` distinct processes (named by `process`) since the
    /// breaker last closed before its own rules may open it (`k <= 1`: off).
    pub fn with_min_processes(mut self, k: u32, process: impl Into<String>) -> Self {
        self.min_processes = k.max(1);
        self.process = process.into();
        self
    }

    /// The set of processes whose failures were counted since the breaker last closed (used
    /// only with [`Store::with_min_processes`]).
    pub fn procs_key(&self) -> &str {
        &self.procs
    }

    /// The hash holding the machine.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The pub/sub channel every change is published on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The script's SHA1 (as `EVALSHA` names it).
    pub fn script_hash(&self) -> &str {
        self.script.get_hash()
    }

    /// Applies `op` in one round trip (`EVALSHA`, reloading the script after `NOSCRIPT`).
    /// `random` is the jitter draw, used only if the event opens a jittered breaker.
    ///
    /// # Errors
    ///
    /// [`StoreError::Redis`] when Redis fails, [`StoreError::BadReply`] when the answer is not the
    /// script's.
    pub async fn apply<C: ConnectionLike>(
        &self,
        con: &mut C,
        settings: &Settings,
        op: Op,
        random: u32,
    ) -> Result<Reply, StoreError> {
        let mut inv = self.script.key(&self.key);
        inv.key(&self.procs).key(&self.ring);
        let name = match op {
            Op::Read => "read",
            Op::Acquire => "acquire",
            Op::Record(_) => "record",
            Op::Manual(_) => "manual",
            Op::Advance => "advance",
            Op::Window { .. } => "window",
        };
        inv.arg(name).arg(&self.channel);
        for a in settings_args(
            settings,
            random,
            self.buckets,
            self.count,
            self.min_processes,
        ) {
            inv.arg(a);
        }
        inv.arg(&self.process);
        match op {
            Op::Record(r) => {
                let outcome = match r.outcome {
                    Outcome::Success => 0,
                    Outcome::Failure => 1,
                    Outcome::Ignored => 2,
                };
                inv.arg(r.generation)
                    .arg(outcome)
                    .arg(u8::from(r.slow))
                    .arg(u8::from(r.window_trips));
            }
            Op::Manual(m) => {
                inv.arg(manual_code(m));
            }
            Op::Window {
                generation,
                calls,
                slow,
            } => {
                inv.arg(generation).arg(calls).arg(slow);
            }
            _ => {}
        }
        let raw: redis::Value = inv.invoke_async(con).await?;
        parse_reply(&raw, op, settings)
    }
}

/// Parses the script's reply; anything else is a [`StoreError::BadReply`], never a panic.
pub(crate) fn parse_reply(
    raw: &redis::Value,
    op: Op,
    settings: &Settings,
) -> Result<Reply, StoreError> {
    let redis::Value::Array(items) = raw else {
        return Err(StoreError::BadReply("not an array"));
    };
    if items.len() != 19 {
        return Err(StoreError::BadReply("wrong length"));
    }
    let mut f = [0i64; 19];
    for (slot, v) in f.iter_mut().zip(items) {
        let redis::Value::Int(i) = v else {
            return Err(StoreError::BadReply("not an integer"));
        };
        *slot = *i;
    }
    let machine = machine_from(&f[2..9])?;
    if f[1] < 0 || f[9] < 0 || f[14] < 0 {
        return Err(StoreError::BadReply("negative counter"));
    }
    let before_state = code_state(f[13]).ok_or(StoreError::BadReply("state code"))?;
    let admission = match op {
        Op::Acquire => Some(if f[10] == 1 {
            Admission::Admitted {
                generation: machine.generation,
                trial: f[11] == 1,
            }
        } else {
            Admission::Rejected {
                retry_after: (f[12] >= 0).then(|| Duration::from_micros(f[12] as u64)),
            }
        }),
        _ => None,
    };
    Ok(Reply {
        corrupt: f[0] == 1,
        seq: f[1] as u64,
        machine,
        now: Instant::from_micros(f[9] as u64),
        admission,
        before: (
            before_state,
            (f[14] as u32) & breaker_core::limits::GENERATION_MASK,
        ),
        reason: reason_from(f[15], f[16], f[17], f[18], settings),
    })
}

/// A change read from the pub/sub channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) seq: u64,
    pub(crate) machine: Machine,
    pub(crate) now: Instant,
    /// The generation the change left and why it was made; `None` from a writer that does
    /// not publish them (an older version of this crate).
    pub(crate) cause: Option<(u32, Option<Reason>)>,
}

/// Parses a pub/sub message: `seq st gen fail tri suc opn dl now prev_gen reason r1 r2 r3`
/// (the last five are absent from an older writer's messages).
pub(crate) fn parse_event(payload: &str, settings: &Settings) -> Option<Event> {
    let mut f = [0i64; 14];
    let mut n = 0;
    for part in payload.split(' ') {
        *f.get_mut(n)? = part.parse().ok()?;
        n += 1;
    }
    if !(n == 9 || n == 14) || f[0] < 0 || f[8] < 0 {
        return None;
    }
    let machine = machine_from(&f[1..8]).ok()?;
    let cause = (n == 14)
        .then(|| {
            let prev = u32::try_from(f[9]).ok()? & breaker_core::limits::GENERATION_MASK;
            Some((prev, reason_from(f[10], f[11], f[12], f[13], settings)))
        })
        .flatten();
    Some(Event {
        seq: f[0] as u64,
        machine,
        now: Instant::from_micros(f[8] as u64),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use breaker_core::limits;

    /// The value of `local NAME = value` in the script.
    fn lua_const(name: &str) -> i64 {
        let script = include_str!("transition.lua");
        let prefix = format!("local {name} = ");
        let line = script
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("transition.lua defines no {name}"));
        let value = line.split_whitespace().next().unwrap_or_default();
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not an integer: {value}"))
    }

    /// The script mirrors the machine, so it must wrap and saturate where the core does: the
    /// limits every store must hold (`breaker_core::limits`), written out again in Lua.
    #[test]
    fn the_script_holds_the_core_limits() {
        assert_eq!(lua_const("GEN_MOD"), i64::from(limits::GENERATION_MASK) + 1);
        assert_eq!(
            lua_const("MAX_HALF_FAIL"),
            i64::from(limits::MAX_HALF_OPEN_FAILURES)
        );
        assert_eq!(lua_const("MAX_OPENS"), i64::from(limits::MAX_OPENS));
        assert_eq!(
            lua_const("MAX_COUNT"),
            i64::from(limits::MAX_HALF_OPEN_COUNT)
        );
        assert_eq!(
            lua_const("BUCKET_CAP"),
            i64::from(limits::TIME_BUCKET_CAPACITY)
        );
    }
}
