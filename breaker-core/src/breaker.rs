//! The shared, lock-free breaker: the pure transitions of [`crate::machine`] applied to atomics.
//!
//! The state lives in one `AtomicU64` (state, backoff level, generation, and the counters of the
//! current state), so every transition is a single compare-and-swap of the value the pure function
//! returned. Deadlines live in a second word tagged with the generation they belong to: a reader
//! that finds a tag from another generation knows the deadline is still being published, and
//! treats the breaker as still open.
//!
//! In the closed state with the consecutive rule, admitting a call is one load, and a success that
//! changes nothing (no failures counted) is one more load: no shared write and no clock read, so
//! throughput grows with cores.

use core::fmt;

use crate::backoff::Random;
use crate::classify::{self, Classify};
use crate::clock::{Clock, Duration, GlobalClock, Instant};
use crate::config::{AsConfig, Config};
use crate::error::{Error, Rejected};
use crate::future::Call;
use crate::limits;
use crate::listener::Listener;
use crate::machine::{
    self, Admission, Env, Fixed, Machine, Manual, Outcome, Reason, Report, State, Step, Transition,
};
use crate::permit::Permit;
use crate::seam::{self, Breaker, End, Handle, Ticket, WaitHint};
use crate::stats::Stats;
use atomic_waker::AtomicWaker;

use crate::sync::{const_unless_loom, AtomicU64, Ordering};
use crate::window::{Counts, Sample, Window, WindowKind};

/// Bits of the generation that tag the deadline word (see [`crate::limits`]).
const TAG_BITS: u32 = limits::DEADLINE_TAG_BITS;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// "No deadline" in the deadline word: the largest 52-bit instant.
const NEVER: u64 = (1 << (64 - TAG_BITS)) - 1;
const NOT_OPENED: u64 = u64::MAX;
/// The top bit of the transition count: a driver is attached (see `CircuitBreaker::transitions`).
const DRIVEN: u64 = 1 << 63;
/// The count part of the transition count (it would reach the flag after 2^63 transitions).
const COUNT: u64 = DRIVEN - 1;
/// The generation a report carries once its own has come round again: it matches none.
const STALE: u32 = u32::MAX;

fn state_code(s: State) -> u64 {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::Disabled => 4,
    }
}

fn code_state(c: u64) -> State {
    match c {
        0 => State::Closed,
        1 => State::Open,
        2 => State::HalfOpen,
        3 => State::ForcedOpen,
        _ => State::Disabled,
    }
}

/// `state:3 | opens:5 | generation:24 | payload:32`, where the payload is the consecutive failures,
/// or, while half-open, `trials:10 | successes:10 | failures:12`.
pub(crate) fn pack(m: &Machine) -> u64 {
    let count = limits::MAX_HALF_OPEN_COUNT;
    let payload = match m.state {
        State::HalfOpen => {
            (m.trials.min(count) as u32)
                | ((m.successes.min(count) as u32) << 10)
                | (m.failures.min(limits::MAX_HALF_OPEN_FAILURES) << 20)
        }
        _ => m.failures,
    };
    state_code(m.state)
        | ((m.opens.min(limits::MAX_OPENS) as u64) << 3)
        | (((m.generation & limits::GENERATION_MASK) as u64) << 8)
        | ((payload as u64) << 32)
}

pub(crate) fn unpack(word: u64, deadline: Option<Instant>) -> Machine {
    let state = code_state(word & 0b111);
    let payload = (word >> 32) as u32;
    let (failures, trials, successes) = match state {
        State::HalfOpen => (
            payload >> 20,
            (payload & 0x3FF) as u16,
            ((payload >> 10) & 0x3FF) as u16,
        ),
        _ => (payload, 0, 0),
    };
    Machine {
        state,
        generation: ((word >> 8) as u32) & limits::GENERATION_MASK,
        failures,
        trials,
        successes,
        opens: ((word >> 3) & 0x1F) as u8,
        deadline,
    }
}

/// Runs the listeners of a permit dropped without a report (a cancellation). A permit is also
/// dropped while its thread unwinds from a panic (the call, or another listener, panicked): the
/// breaker is consistent by then, and the listeners still hear of the cancellation, but with
/// `std` a listener that panics again is caught here, since a second panic escaping a drop
/// during an unwind aborts the process. Without `std` a panic cannot be caught: such a listener
/// aborts (as any panic does under `panic = "abort"`, the usual setting on bare metal).
#[inline]
fn cancelled_listeners(f: impl FnOnce()) {
    #[cfg(feature = "std")]
    {
        if std::thread::panicking() {
            let _ = std::panic::catch_unwind(core::panic::AssertUnwindSafe(f));
            return;
        }
    }
    f()
}

/// How [`CircuitBreaker::publish_deadline`] treats a deadline already stored for its generation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// The transition's winner, after its compare-and-swap.
    Winner,
    /// A deadline that changes within a generation (the half-open maximum wait restarting).
    Later,
    /// A caller that found an open state's deadline unpublished.
    Help,
}

/// A deadline as stored in the deadline word: microseconds, `NEVER` for none. Out of line: each
/// publishing path needs it (flash).
#[inline(never)]
fn deadline_micros(d: Option<Instant>) -> u64 {
    d.map_or(NEVER, |d| d.as_micros().min(NEVER - 1))
}

/// The live environment: the breaker's clock, read at most once per operation, and the
/// configuration's random source, drawn only when a jittered open duration is set.
struct LiveEnv<'a, C> {
    clock: &'a C,
    now: Option<Instant>,
    random: Option<&'static dyn Random>,
}

impl<C: Clock> Env for LiveEnv<'_, C> {
    // Out of line: the transitions ask for the time in many places, and a runtime's clock read
    // (embassy's: a critical section and a tick conversion) with the caching around it, inlined
    // at each of them, is what a firmware pays for in flash. A call costs a nanosecond on paths
    // that already do a compare-and-swap.
    #[inline(never)]
    fn now(&mut self) -> Instant {
        match self.now {
            Some(now) => now,
            None => *self.now.insert(self.clock.now()),
        }
    }
    fn random(&mut self) -> u32 {
        self.random.map_or(0, |r| r.next_u32())
    }
}

/// A circuit breaker.
///
/// - `C`: the [`Clock`] (a runtime adapter supplies one and names it for you; `StdClock`
///   without a runtime; [`crate::ManualClock`] for tests).
/// - `K`: the configuration, and how it is held: a [`Config`] by value (the default), or a
///   `&'static Config` to keep the breaker small (on a microcontroller the configuration then
///   stays in flash, and only the atomics take RAM), or an `Arc<Config>`. The configuration's
///   window type (`Config<CountWindow<100>>`) decides the window the breaker keeps.
/// - `L`: the [`Listener`], `()` for none.
///
/// Admission ([`CircuitBreaker::try_acquire`], [`CircuitBreaker::call`],
/// [`CircuitBreaker::call_async`]) borrows the breaker; through an `Arc` or a `&'static`, the
/// [`Handle`] methods give owned permits and futures instead.
///
/// # Examples
///
/// ```
/// use breaker_core::{CircuitBreaker, Config, Duration, Error, ManualClock, State};
///
/// let clock = ManualClock::new();
/// let config = Config::builder().failure_threshold(2).open_for(Duration::from_secs(5)).build()?;
/// let breaker = CircuitBreaker::with_clock(&clock, config);
///
/// for _ in 0..2 {
///     let _ = breaker.call(|| Err::<(), _>("upstream down"));
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let Err(Error::Rejected(r)) = breaker.call(|| Ok::<_, &str>(1)) else { panic!() };
/// assert_eq!(r.retry_after(), Some(Duration::from_secs(5)));
///
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(breaker.call(|| Ok::<_, &str>(1)), Ok(1)); // the trial succeeds
/// assert_eq!(breaker.state(), State::Closed);
/// # Ok::<(), breaker_core::ConfigError>(())
/// ```
pub struct CircuitBreaker<C, K: AsConfig = Config, L = ()> {
    word: AtomicU64,
    /// `deadline_micros << 12 | generation & 0xFFF`.
    deadline: AtomicU64,
    opened_at: AtomicU64,
    /// Transitions won so far, counted after each winning compare-and-swap: tells a permit whose
    /// generation has come round again (2^24 transitions later) from a current one.
    ///
    /// Its top bit ([`DRIVEN`]) says a driver applies the time-driven changes, so an open
    /// breaker refuses calls from its state alone, without reading the clock. (Kept here rather
    /// than in a word of its own: the breaker stays within 64 bytes on a microcontroller.)
    transitions: AtomicU64,
    /// Wakes the driver (see [`crate::runtime::drive`]) when the state changes.
    waker: AtomicWaker,
    window: K::Window,
    clock: C,
    listener: L,
    config: K,
}

impl<C: GlobalClock, K: AsConfig> CircuitBreaker<C, K, ()> {
    const_unless_loom! {
        /// A breaker on the clock `C`, which needs no instance (a runtime adapter's, or
        /// `StdClock`, with `std`); `const`, so it can be a `static`.
        pub fn new(config: K) -> Self {
            CircuitBreaker::with_clock_and_listener(C::NEW, config, ())
        }
    }
}

impl<C: GlobalClock, K: AsConfig, L> CircuitBreaker<C, K, L> {
    const_unless_loom! {
        /// A breaker on the clock `C` that reports its events to `listener` (several
        /// listeners: a tuple).
        pub fn with_listener(config: K, listener: L) -> Self {
            CircuitBreaker::with_clock_and_listener(C::NEW, config, listener)
        }
    }
}

impl<C, K: AsConfig> CircuitBreaker<C, K, ()> {
    const_unless_loom! {
        /// A breaker on `clock` (a [`crate::ManualClock`] in tests, a clock of your own).
        pub fn with_clock(clock: C, config: K) -> Self {
            CircuitBreaker::with_clock_and_listener(clock, config, ())
        }
    }
}

impl<C, K: AsConfig, L> CircuitBreaker<C, K, L> {
    const_unless_loom! {
        /// A breaker on `clock` that reports its events to `listener`.
        pub fn with_clock_and_listener(clock: C, config: K, listener: L) -> Self {
            CircuitBreaker {
                word: AtomicU64::new(0),
                deadline: AtomicU64::new(0),
                opened_at: AtomicU64::new(NOT_OPENED),
                transitions: AtomicU64::new(0),
                waker: AtomicWaker::new(),
                window: <K::Window as Window>::NEW,
                clock,
                listener,
                config,
            }
        }
    }

    /// The clock.
    pub const fn clock(&self) -> &C {
        &self.clock
    }

    /// The listener.
    pub const fn listener(&self) -> &L {
        &self.listener
    }
}

impl<C, K, L> fmt::Debug for CircuitBreaker<C, K, L>
where
    C: Clock,
    K: AsConfig,
    L: Listener,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("machine", &self.machine())
            .finish_non_exhaustive()
    }
}

impl<C, K, L> CircuitBreaker<C, K, L>
where
    C: Clock,
    K: AsConfig,
    L: Listener,
{
    /// The configuration.
    #[inline]
    pub fn config(&self) -> &Config<K::Window> {
        self.config.as_config()
    }

    /// The breaker's name.
    #[inline]
    pub fn name(&self) -> &'static str {
        self.config().settings().name()
    }

    fn env(&self) -> LiveEnv<'_, C> {
        LiveEnv {
            clock: &self.clock,
            now: None,
            random: self.config().settings().open().random,
        }
    }

    fn deadline_for(&self, word: u64) -> Option<Instant> {
        let m = unpack(word, None);
        if !matches!(m.state, State::Open | State::HalfOpen) {
            return None;
        }
        let d = self.deadline.load(Ordering::Acquire);
        if d & TAG_MASK != (m.generation as u64) & TAG_MASK {
            return None; // still being published by the transition's winner
        }
        let micros = d >> TAG_BITS;
        (micros != NEVER).then_some(Instant::from_micros(micros))
    }

    fn load(&self, word: u64) -> Machine {
        unpack(word, self.deadline_for(word))
    }

    /// The machine as stored, without applying time-driven changes.
    pub fn machine(&self) -> Machine {
        self.load(self.word.load(Ordering::Acquire))
    }

    /// Applies a pure transition with compare-and-swap, retrying on contention. Writes nothing when
    /// the transition changes nothing.
    fn apply<T>(
        &self,
        env: &mut LiveEnv<'_, C>,
        mut f: impl FnMut(Machine, &mut LiveEnv<'_, C>) -> Step<T>,
    ) -> Step<T> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let m = self.load(word);
            let step = f(m, env);
            match self.commit(word, &m, &step.next, step.transition.is_some()) {
                None => return step,
                Some(actual) => word = actual,
            }
        }
    }

    /// `apply`'s attempt to move from `m` (loaded as `word`) to `next`: `None` once settled
    /// (written, or nothing to write), or the word to retry from. Not generic, and out of line:
    /// one copy for every transition (flash on a microcontroller).
    #[inline(never)]
    fn commit(&self, word: u64, m: &Machine, next: &Machine, transition: bool) -> Option<u64> {
        if !transition && next.deadline != m.deadline {
            // A deadline that changes within a generation (the half-open maximum wait
            // restarting with a trial) is published before the word that relies on it, so no
            // reader pairs the new trial with the old deadline.
            self.publish_later(next);
        }
        let packed = pack(next);
        if packed == word {
            // Nothing to write. But a deadline read as unpublished may instead belong to a
            // transition that replaced `word` meanwhile (say, open → half-open): an answer
            // from that stale pair (a rejection as still open) stands only if `word` does.
            if m.deadline.is_some() || !matches!(m.state, State::Open | State::HalfOpen) {
                return None;
            }
            let current = self.word.load(Ordering::Acquire);
            return if current == word { None } else { Some(current) };
        }
        match self
            .word
            .compare_exchange_weak(word, packed, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                if transition {
                    // First, so that at most one transition per thread is ever uncounted.
                    let since = self.transitions.fetch_add(1, Ordering::Relaxed);
                    self.publish(next, since.wrapping_add(1));
                }
                None
            }
            Err(actual) => Some(actual),
        }
    }

    /// Publishes the deadline of `next`, which changed within its generation (see `apply`). Out
    /// of line: every path that can change the state shares one copy.
    #[inline(never)]
    fn publish_later(&self, next: &Machine) {
        let micros = deadline_micros(next.deadline);
        let since = self.transitions.load(Ordering::Relaxed);
        self.publish_deadline(next.generation, since, micros, Publish::Later);
    }

    /// After a winning transition: publish its deadline and start a closed period with an empty
    /// window. Out of line: every path that can change the state shares one copy.
    #[inline(never)]
    fn publish(&self, m: &Machine, since: u64) {
        match m.state {
            State::Open | State::HalfOpen => {
                let micros = deadline_micros(m.deadline);
                self.publish_deadline(m.generation, since, micros, Publish::Winner)
            }
            // Closed, forced open and disabled read no deadline (see `deadline_for`).
            State::Closed => self.window.reset(),
            State::ForcedOpen | State::Disabled => {}
        }
    }

    /// Stores a deadline for `generation`, tagged with it, if that generation is still the one
    /// live in the state word.
    ///
    /// Only the live generation publishes: a publisher overtaken by a later transition (a thread
    /// descheduled between its compare-and-swap and this store, for any number of transitions)
    /// gives up, and the later transition publishes its own deadline. The state word is loaded
    /// after the deadline word, so a deadline already published by a later generation (stored
    /// after that generation's word) is always seen with that word, and the publisher gives up;
    /// a later publish that lands between the check and the compare-and-swap below fails it.
    /// (An earlier design compared 12-bit tags modulo 4096 to decide which publish is newer: a
    /// publisher delayed across 2049..=4095 transitions looked newer, overwrote the live
    /// deadline, and the breaker stayed open for good.)
    ///
    /// The state word's generation comes round again every 2^24 transitions; `since` (the
    /// transition count just after the word that made `generation` live was seen) tells a
    /// generation come round again from the live one, as for permits (see `current`).
    ///
    /// What is left: the compare-and-swap succeeds on a stale value only if the deadline word
    /// went back to the exact value loaded (same instant and same tag, so 2^12 transitions or a
    /// multiple, each publishing that same instant) between two adjacent instructions of this
    /// loop. Then the live generation reads a wrong deadline, or none: an open breaker whose
    /// deadline reads as unpublished gets one from its next caller ([`Publish::Help`]), so it
    /// still half-opens, at most one nominal open duration after that call.
    fn publish_deadline(&self, generation: u32, since: u64, micros: u64, mode: Publish) {
        let tag = (generation as u64) & TAG_MASK;
        let new = (micros << TAG_BITS) | tag;
        let mut old = self.deadline.load(Ordering::Acquire);
        loop {
            let live = unpack(self.word.load(Ordering::Acquire), None);
            if live.generation != generation
                || !matches!(live.state, State::Open | State::HalfOpen)
                || self.current(generation, since) == STALE
            {
                return; // overtaken: the live generation publishes its own
            }
            let ours = old & TAG_MASK == tag;
            let stored = old >> TAG_BITS;
            let keep = match mode {
                // The transition's own open deadline is the truth, over a helper's estimate.
                Publish::Winner if live.state == State::Open => old == new,
                // A half-open deadline only moves later within its generation: a trial admitted
                // before the winner published may have restarted the maximum wait already.
                Publish::Winner | Publish::Later => ours && stored >= micros,
                Publish::Help => ours && stored != NEVER,
            };
            if keep {
                return;
            }
            match self
                .deadline
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // The deadline word may have held `old` all along while transitions went by
                    // (a later generation that published the same instant with the same tag,
                    // 2^12 transitions on, found its value there and kept it): overtaken in the
                    // meantime, put back what was there.
                    let live = unpack(self.word.load(Ordering::Acquire), None);
                    if live.generation != generation || self.current(generation, since) == STALE {
                        let _ = self.deadline.compare_exchange(
                            new,
                            old,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        );
                    }
                    return;
                }
                Err(actual) => old = actual,
            }
        }
    }

    /// An open state whose deadline reads as unpublished: its winner has not published yet (it is
    /// descheduled, or lost its publish to a wrap-around, see `publish_deadline`). Rather than
    /// stay open until it does, the caller publishes an estimate, `now` plus the nominal open
    /// duration, which is never earlier than the true deadline; the winner's own publish, if it
    /// comes, replaces it.
    #[cold]
    fn help_publish(&self, m: &Machine, env: &mut LiveEnv<'_, C>) {
        let since = self.transitions.load(Ordering::Relaxed);
        let open = self.config().settings().open();
        let estimate = env
            .now()
            .saturating_add_micros(open.nominal_micros(m.opens));
        let micros = deadline_micros(Some(estimate));
        self.publish_deadline(m.generation, since, micros, Publish::Help);
    }

    /// Book-keeping of a transition this thread won, done before any listener runs (a listener
    /// that panics must not leave it undone).
    #[inline]
    fn transitioned(&self, transition: Option<Transition>, env: &mut LiveEnv<'_, C>) {
        if let Some(t) = &transition {
            self.transitioned_to(t, env);
        }
    }

    /// [`CircuitBreaker::transitioned`] for a transition: out of line, so that every path that
    /// can change the state shares one copy (flash on a microcontroller).
    #[inline(never)]
    fn transitioned_to(&self, t: &Transition, env: &mut LiveEnv<'_, C>) {
        if t.to == State::Open {
            // ops: the last trip's reason, kept with when it happened (see `last_trip`).
            if let Reason::FailureRate { window, .. } | Reason::SlowCallRate { window, .. } =
                t.reason
            {
                self.window.keep_evidence(window);
            }
            let code = crate::stats::trip_code(&t.reason);
            self.opened_at.store(
                env.now().as_micros().min(NEVER) << 12 | code,
                Ordering::Relaxed,
            );
        }
        // After the deadline was published: a woken driver reads it.
        self.waker.wake();
    }

    #[inline]
    fn notify(&self, transition: Option<Transition>) {
        if let Some(t) = transition {
            self.notify_change(t);
        }
    }

    #[cold]
    #[inline(never)]
    fn notify_change(&self, t: Transition) {
        // A manual close of a closed breaker starts a generation but changes no state.
        if L::ENABLED && t.from != t.to {
            self.listener
                .on_state_change(self.name(), &t, &self.stats());
        }
    }

    /// Asks to make a call: a [`Permit`] to report the outcome with, or why not. The permit
    /// borrows the breaker; through an `Arc` (or a `&'static`), [`Handle::try_acquire`] gives an
    /// owned one.
    ///
    /// Closed (the common case) costs one atomic load, and a clock read only when the slow-call
    /// rule needs the call timed.
    ///
    /// # Errors
    ///
    /// [`Rejected`] while open (with the time left), forced open, or half-open with every trial
    /// slot taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<&Self>, Rejected> {
        Handle::try_acquire(self)
    }

    /// Runs `f` through the breaker; every `Err` counts as a failure.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] if the breaker refused the call (then `f` did not run),
    /// [`Error::Tripped`] if `f` failed and that opened the breaker, [`Error::Inner`] otherwise.
    #[inline]
    pub fn call<T, E: fmt::Debug>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, Error<E>> {
        Handle::call_classified(self, classify::Errors, f)
    }

    /// Runs `f` through the breaker, with `classify` deciding how its result counts.
    ///
    /// A panic in `f` propagates; the permit is dropped on the way out, so a half-open trial slot
    /// is given back.
    ///
    /// # Errors
    ///
    /// As [`CircuitBreaker::call`].
    #[inline]
    pub fn call_classified<T, E: fmt::Debug>(
        &self,
        classify: impl Classify<T, E>,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, Error<E>> {
        Handle::call_classified(self, classify, f)
    }

    /// Runs `future` through the breaker; every `Err` counts as a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_executor::block_on(async {
    /// use breaker_core::{CircuitBreaker, Config, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = CircuitBreaker::with_clock(&clock, Config::default());
    /// let reply = breaker.call_async(async { Ok::<_, std::io::Error>(7) }).await;
    /// assert_eq!(reply.unwrap(), 7);
    /// # });
    /// ```
    #[inline]
    pub fn call_async<F: core::future::Future>(
        &self,
        future: F,
    ) -> Call<&Self, F, classify::Errors> {
        Call::new(self, classify::Errors, future)
    }

    /// Runs `future` through the breaker, with `classify` deciding how its result counts.
    #[inline]
    pub fn call_async_classified<F: core::future::Future, P>(
        &self,
        classify: P,
        future: F,
    ) -> Call<&Self, F, P> {
        Call::new(self, classify, future)
    }

    #[inline]
    fn admit_fast(&self) -> Result<seam::Admitted, Rejected> {
        let word = self.word.load(Ordering::Acquire);
        let m = unpack(word, None);
        if m.admits_without_clock() {
            return Ok(self.ticket(m.generation, false).into());
        }
        if m.state == State::Open {
            let refused = if self.transitions.load(Ordering::Relaxed) & DRIVEN != 0 {
                self.reject_driven(word)
            } else {
                self.reject_open(word)
            };
            if let Some(r) = refused {
                return Err(r);
            }
        }
        self.admit_slow()
    }

    /// The common refusal without a driver: open, its deadline published and not reached. One
    /// clock read and two loads; changes nothing. `None` (ask `admit_slow`) when the deadline
    /// has come or is not published yet.
    #[inline]
    fn reject_open(&self, word: u64) -> Option<Rejected> {
        let deadline = self.deadline_for(word)?;
        let now = self.clock.now();
        if now >= deadline {
            return None;
        }
        Some(self.reject(State::Open, Some(deadline - now)))
    }

    #[cold]
    #[inline(never)]
    fn admit_slow(&self) -> Result<seam::Admitted, Rejected> {
        let s = self.config().settings();
        let mut env = self.env();
        // `admit_fast` answered the common rejection; one seen here (the state changed in
        // between) changes nothing either: answer it from the loaded word, without the
        // compare-and-swap loop. A deadline that reads as unpublished is left to `apply`, since
        // it may belong to a transition that replaced this word meanwhile.
        let m = self.load(self.word.load(Ordering::Acquire));
        if m.state == State::Open {
            if m.deadline.is_none() {
                self.help_publish(&m, &mut env);
            } else if let Some(left) = m.open_time_left(env.now()) {
                return Err(self.reject(State::Open, Some(left)));
            }
        }
        let step = self.apply(&mut env, |m, env| m.acquire(s, env));
        self.transitioned(step.transition, &mut env);
        match step.value {
            // The admitting transition (open to half-open) is reported by `admitted`, once the
            // permit exists: a listener that panics there drops the permit, which gives the
            // trial slot back.
            Admission::Admitted { generation, trial } => Ok(seam::Admitted {
                ticket: self.ticket(generation, trial),
                transition: step.transition,
            }),
            Admission::Rejected { retry_after } => {
                self.notify(step.transition);
                Err(self.reject(step.next.state, retry_after))
            }
        }
    }

    #[inline]
    fn reject(&self, state: State, retry_after: Option<Duration>) -> Rejected {
        // No shared counter here: a refusal writes no shared memory, so threads refusing calls
        // of one open breaker do not contend (a listener counts refusals if asked to).
        let r = Rejected::new(self.name(), state, retry_after);
        self.listener.on_rejected(r.name, &r);
        r
    }

    /// A refusal from an open breaker with a driver: the driver changes the state when the open
    /// duration ends, so the state word alone says "not yet", and the time left is worked out
    /// only if the caller asks for it. `None` when the deadline or a clock reader is missing.
    #[inline]
    fn reject_driven(&self, word: u64) -> Option<Rejected> {
        let now = self.clock.reader()?;
        let deadline = self.deadline_for(word)?;
        let r = Rejected::until(self.name(), State::Open, deadline, now);
        self.listener.on_rejected(r.name, &r);
        Some(r)
    }

    #[inline]
    fn ticket(&self, generation: u32, trial: bool) -> Ticket {
        let start = if self.config().settings().slow_call_threshold().is_some() {
            Some(self.clock.now())
        } else {
            None
        };
        // Read after the word that admitted the call (see `current`).
        let since = self.transitions.load(Ordering::Relaxed);
        Ticket::new(generation, trial, start).with_token(since)
    }

    /// The generation a permit admitted in `generation`, when `since` transitions had been counted,
    /// reports with: its own, or [`STALE`] once its generation has come round again.
    ///
    /// Generations repeat every 2^24 transitions (they share the state word), so the generation
    /// alone would take a permit held across 2^24 transitions for a current one: a trial's report
    /// would give back the slot of the current trial. The transition count tells them apart:
    /// a current permit has seen at most one uncounted transition per thread (each winner counts
    /// its transition right after its compare-and-swap), far below 2^23; a permit whose generation
    /// came round again has seen 2^24 transitions, at most as many below that as transitions
    /// happened between the word that admitted it and its reading of the count (two adjacent
    /// instructions). So this holds unless 2^23 transitions happen between two instructions of one
    /// acquire, or 2^23 threads are between a compare-and-swap and the count at once.
    #[inline]
    fn current(&self, generation: u32, since: u64) -> u32 {
        let seen = self.transitions.load(Ordering::Relaxed).wrapping_sub(since) & COUNT;
        if seen > u64::from(limits::GENERATION_MASK / 2) {
            STALE
        } else {
            generation
        }
    }

    /// [run-time windows] The window's kind: the type's, or for a window sized at run time
    /// ([`crate::window::DynWindow`]) the configuration's. A constant for the fixed windows, so
    /// the matches on it fold away as before.
    #[inline(always)]
    fn window_kind(&self) -> WindowKind {
        if <K::Window as Window>::SIZED_AT_RUN_TIME {
            self.config().settings().window()
        } else {
            <K::Window as Window>::KIND
        }
    }

    /// Records a finished call; returns the state change it caused.
    ///
    /// The fast path: a success, or the cancellation of a call admitted while closed, on a breaker
    /// whose [`Machine::success_is_noop`] holds changes nothing, so it costs one load and no write.
    #[inline(always)]
    fn finish(&self, ticket: &Ticket, end: End<'_>) -> Option<Transition> {
        // The steady closed success of a breaker without a window, inlined into the caller:
        // one load. Everything else is one call away, so that this stays small enough for the
        // whole call path (admission, permit, report) to inline into the caller's loop.
        if let End::Finished(Outcome::Success, _) = end {
            if ticket.started_at().is_none()
                && matches!(self.window_kind(), WindowKind::None)
                && unpack(self.word.load(Ordering::Acquire), None).success_is_noop()
            {
                self.listener.on_success(self.name(), None);
                return None;
            }
        }
        // In scalars: a reference would make the caller keep its permit in memory.
        self.finish_other(
            ticket.generation(),
            ticket.is_trial(),
            ticket.token(),
            ticket.started_at(),
            end,
        )
    }

    /// [`CircuitBreaker::finish`] for everything but a window-less steady success.
    #[inline(never)]
    fn finish_other(
        &self,
        generation: u32,
        trial: bool,
        since: u64,
        start: Option<Instant>,
        end: End<'_>,
    ) -> Option<Transition> {
        match end {
            End::Cancelled if !trial => {
                // Only half-open trials hold anything to give back; see `Machine::record`.
                cancelled_listeners(|| self.listener.on_cancelled(self.name()));
                None
            }
            End::Unused if !trial => None,
            End::Finished(Outcome::Success, _) if start.is_none() => {
                let m = unpack(self.word.load(Ordering::Acquire), None);
                if !m.success_is_noop() {
                    return self.finish_slow(generation, since, start, end, None);
                }
                match self.window_kind() {
                    WindowKind::None => {}
                    WindowKind::Count { .. }
                        if m.enters_window(generation, Outcome::Success)
                            && self.current(generation, since) == generation =>
                    {
                        let s = self.config().settings();
                        let counts = self.window.record_for(s, Instant::ZERO, Sample::default());
                        if machine::window_trips(counts, s) {
                            return self.finish_slow(generation, since, start, end, Some(counts));
                        }
                    }
                    _ => return self.finish_slow(generation, since, start, end, None),
                }
                self.listener.on_success(self.name(), None);
                None
            }
            _ => self.finish_slow(generation, since, start, end, None),
        }
    }

    #[inline(never)]
    fn finish_slow(
        &self,
        generation: u32,
        since: u64,
        start: Option<Instant>,
        end: End<'_>,
        // The window's counts when the fast path recorded the outcome and found they trip it.
        window_verdict: Option<Counts>,
    ) -> Option<Transition> {
        let s = self.config().settings();
        let mut env = self.env();
        let outcome = match end {
            End::Finished(o, _) => o,
            End::Cancelled | End::Unused => Outcome::Ignored,
        };
        // In integer microseconds, as the machine keeps time: a `Duration` is made only for a
        // listener that asks for one.
        let elapsed = match (start, outcome) {
            (Some(start), Outcome::Success | Outcome::Failure) => {
                Some(env.now().micros_since(start))
            }
            _ => None,
        };
        let slow = matches!((elapsed, s.slow_call_micros()), (Some(e), Some(t)) if e >= t);
        let kind = self.window_kind();
        // Without a window nothing trips one: said so that the compiler drops the window rules
        // (their reasons and rates) from a breaker that has none.
        let mut window_trips = kind != WindowKind::None && window_verdict.is_some();
        let mut window = window_verdict.unwrap_or_default();
        let word = self.word.load(Ordering::Acquire);
        // After the word: a report judged stale against a later count is stale against `word`.
        let generation = self.current(generation, since);
        if window_verdict.is_none() && kind != WindowKind::None {
            let m = unpack(word, None);
            if m.enters_window(generation, outcome) {
                let now = if matches!(kind, WindowKind::Time { .. }) {
                    env.now()
                } else {
                    Instant::ZERO
                };
                let sample = Sample {
                    failure: outcome == Outcome::Failure,
                    slow,
                };
                window = self.window.record_for(s, now, sample);
                window_trips = machine::window_trips(window, s);
            }
        }
        let report = Report {
            generation,
            outcome,
            slow,
            window_trips,
            window,
        };
        let transition =
            if outcome != Outcome::Failure && !window_trips && unpack(word, None).success_is_noop()
            {
                None
            } else {
                let step = self.apply(&mut env, |m, env| m.record(report, s, env));
                step.transition
            };
        // The breaker is consistent from here on: listeners run last.
        self.transitioned(transition, &mut env);
        if matches!(end, End::Cancelled) {
            cancelled_listeners(|| {
                self.listener.on_cancelled(s.name());
                self.notify(transition);
            });
            return transition;
        }
        match end {
            End::Finished(Outcome::Success, _) => self
                .listener
                .on_success(s.name(), elapsed.map(Duration::from_micros)),
            End::Finished(Outcome::Failure, error) => self.listener.on_failure(s.name(), error),
            End::Finished(Outcome::Ignored, _) => self.listener.on_ignored(s.name()),
            End::Cancelled | End::Unused => {} // reported above, or by the caller
        }
        self.notify(transition);
        transition
    }

    /// The state, with time-driven changes that are due applied (an open breaker whose open
    /// duration has passed reads as half-open). Reads the clock only when open or half-open.
    pub fn state(&self) -> State {
        let m = self.machine();
        if m.next_change().is_none() {
            return m.state;
        }
        m.advance(self.config().settings(), &mut Fixed::at(self.clock.now()))
            .next
            .state
    }

    /// [`Breaker::refuses_now`] once the state word says neither closed nor disabled.
    #[cold]
    #[inline(never)]
    fn refuses_by_state(&self) -> bool {
        matches!(self.state(), State::Open | State::ForcedOpen)
    }

    /// Whether a driver applies this breaker's time-driven changes (see
    /// [`crate::runtime::drive`]).
    pub fn is_driven(&self) -> bool {
        self.transitions.load(Ordering::Relaxed) & DRIVEN != 0
    }

    /// When the breaker will next change state with nobody calling (see
    /// [`Machine::next_change`]); a timer-driven adapter sleeps until then.
    pub fn next_change(&self) -> Option<Instant> {
        self.machine().next_change()
    }

    /// A snapshot of the breaker.
    pub fn stats(&self) -> Stats {
        let m = self.machine();
        let s = self.config().settings();
        let now = self.clock.now();
        let view = m.advance(s, &mut Fixed::at(now)).next;
        // Read only while closed (or disabled): the reference model has it so, and a time
        // window's buckets are only claimed on that path. What tripped it is in `last_trip`.
        let window = if m.admits_without_clock() {
            self.window.counts(now, s.bucket_micros())
        } else {
            Default::default()
        };
        let opened = self.opened_at.load(Ordering::Relaxed);
        Stats {
            name: s.name(),
            state: view.state,
            generation: view.generation,
            consecutive_failures: view.failures,
            half_open_successes: view.successes,
            half_open_trials: view.trials,
            window,
            failure_rate_ppm: window.failure_rate_ppm(),
            slow_rate_ppm: window.slow_rate_ppm(),
            opened_at: (opened != NOT_OPENED).then_some(Instant::from_micros(opened >> 12)),
            last_trip: (opened != NOT_OPENED)
                .then(|| crate::stats::trip_decode(opened, s, self.window.evidence())),
            retry_after: match (view.state, view.deadline) {
                (State::Open, Some(d)) => Some(d - now),
                _ => None,
            },
        }
    }

    fn manual(&self, action: Manual) -> Option<Transition> {
        let s = self.config().settings();
        let mut env = self.env();
        let step = self.apply(&mut env, |m, env| m.manual(action, s, env));
        self.transitioned(step.transition, &mut env);
        self.notify(step.transition);
        step.transition
    }

    /// Opens now for the usual open duration (pybreaker's `open()`).
    pub fn open(&self) {
        self.manual(Manual::Open);
    }

    /// Opens until another manual change: calls are refused with no retry time.
    pub fn force_open(&self) {
        self.manual(Manual::ForceOpen);
    }

    /// Closes now and resets the failure counter and backoff (pybreaker's `close()`); also ends
    /// [`CircuitBreaker::force_open`] and [`CircuitBreaker::disable`].
    pub fn force_closed(&self) {
        self.manual(Manual::Close);
    }

    /// Half-opens now: the next calls are trials.
    pub fn half_open(&self) {
        self.manual(Manual::HalfOpen);
    }

    /// Lets every call through and keeps counting, without ever changing state on its own.
    pub fn disable(&self) {
        self.manual(Manual::Disable);
    }

    /// Closes, empties the window and zeroes the statistics: as good as new.
    pub fn reset(&self) {
        self.manual(Manual::Close);
        self.window.reset();
        self.opened_at.store(NOT_OPENED, Ordering::Relaxed);
    }

    /// How long a rejection would ask callers to wait now (`None` when calls are admitted or
    /// the wait is unknown).
    pub fn retry_after(&self) -> Option<Duration> {
        self.stats().retry_after
    }
}

impl<C, K, L> Breaker for CircuitBreaker<C, K, L>
where
    C: Clock,
    K: AsConfig,
    L: Listener,
{
    type Clock = C;

    #[inline]
    fn clock(&self) -> &C {
        &self.clock
    }

    #[inline]
    fn name(&self) -> &'static str {
        self.config().settings().name()
    }

    #[inline]
    fn admit(&self) -> Result<seam::Admitted, Rejected> {
        self.admit_fast()
    }

    #[inline]
    fn admitted(&self, ticket: &Ticket, transition: Option<Transition>) {
        // `before_call` first, so that a cancellation always follows a `before_call`.
        self.listener.before_call(self.name(), ticket.is_trial());
        self.notify(transition);
    }

    #[inline(always)]
    fn report(&self, ticket: &Ticket, end: End<'_>) -> Option<Transition> {
        self.finish(ticket, end)
    }

    #[inline]
    fn trip_error(&self) -> bool {
        self.config().settings().trip_error()
    }

    fn state(&self) -> State {
        CircuitBreaker::state(self)
    }

    #[inline]
    fn refuses_now(&self) -> bool {
        // Closed or disabled (the common case): one load, no clock read. Otherwise `state`
        // decides, with the changes that are due applied, as the default does.
        if unpack(self.word.load(Ordering::Acquire), None).admits_without_clock() {
            return false;
        }
        self.refuses_by_state()
    }

    #[inline]
    fn admit_quick(&self) -> Option<Ticket> {
        // `admit_fast`'s closed path when no call is timed: the same ticket, with nothing else
        // inlined (a timed call reads the clock, and is left to `admit`).
        let m = unpack(self.word.load(Ordering::Acquire), None);
        if m.admits_without_clock() && self.config().settings().slow_call_threshold().is_none() {
            // Read after the word that admitted the call (see `current`).
            let since = self.transitions.load(Ordering::Relaxed);
            return Some(Ticket::new(m.generation, false, None).with_token(since));
        }
        None
    }

    fn next_change(&self) -> Option<Instant> {
        CircuitBreaker::next_change(self)
    }

    fn advance(&self) -> Option<Transition> {
        let s = self.config().settings();
        let mut env = self.env();
        let step = self.apply(&mut env, |m, env| m.advance(s, env));
        self.transitioned(step.transition, &mut env);
        self.notify(step.transition);
        step.transition
    }

    fn changes(&self) -> u64 {
        self.transitions.load(Ordering::Acquire) & COUNT
    }

    fn register_waker(&self, waker: &core::task::Waker) {
        self.waker.register(waker);
    }

    fn attach_driver(&self) -> bool {
        self.transitions.fetch_or(DRIVEN, Ordering::AcqRel) & DRIVEN == 0
    }

    fn detach_driver(&self) {
        self.transitions.fetch_and(COUNT, Ordering::AcqRel);
    }

    fn observe(&self, event: &crate::listener::Event<'_>) {
        if L::ENABLED {
            event.dispatch(self.name(), &self.listener);
        }
    }

    fn wait_hint(&self, now: Instant) -> WaitHint {
        let m = self.machine();
        match m.state {
            State::Closed | State::Disabled => WaitHint::AskNow,
            // The open duration is known: sleep until it ends, then compete for a trial slot.
            State::Open => match m.deadline {
                Some(deadline) if deadline > now => WaitHint::Sleep(deadline - now),
                Some(_) => WaitHint::AskNow,
                None => WaitHint::Poll, // a transition is still publishing its deadline
            },
            State::HalfOpen if m.trials >= self.config().settings().half_open_trials() => {
                match m.deadline {
                    // The trials have outlived the half-open maximum wait: asking for a permit
                    // lets the breaker give up on them (and open again).
                    Some(deadline) if deadline <= now => WaitHint::AskNow,
                    _ => WaitHint::Poll,
                }
            }
            State::HalfOpen => WaitHint::AskNow,
            State::ForcedOpen => WaitHint::Poll,
        }
    }
}

impl<C, K: AsConfig, L> Drop for CircuitBreaker<C, K, L> {
    fn drop(&mut self) {
        // A driver waiting for a change learns that its breaker is gone.
        self.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_HALF_OPEN_COUNT;

    #[test]
    fn packing_round_trips() {
        let cases = [
            Machine::INITIAL,
            Machine {
                failures: u32::MAX,
                generation: limits::GENERATION_MASK,
                ..Machine::INITIAL
            },
            Machine {
                state: State::Open,
                opens: 31,
                failures: 7,
                generation: 5,
                ..Machine::INITIAL
            },
            Machine {
                state: State::HalfOpen,
                trials: MAX_HALF_OPEN_COUNT,
                successes: MAX_HALF_OPEN_COUNT,
                failures: limits::MAX_HALF_OPEN_FAILURES,
                opens: 3,
                generation: 99,
                deadline: None,
            },
            Machine {
                state: State::ForcedOpen,
                ..Machine::INITIAL
            },
            Machine {
                state: State::Disabled,
                failures: 3,
                ..Machine::INITIAL
            },
        ];
        for m in cases {
            assert_eq!(unpack(pack(&m), m.deadline), m);
        }
    }
}
