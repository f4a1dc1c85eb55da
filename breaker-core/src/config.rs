//! Configuration, validated once when it is built.
//!
//! Everything that could make the breaker misbehave (a zero threshold, a rate outside (0, 1], an
//! empty window, zero trials, a duration the clock cannot hold) is refused here with a
//! [`ConfigError`] that names the breaker and the setting, so the call path never has to check,
//! and never panics.
//!
//! Durations are [`core::time::Duration`] (which `std::time::Duration` is), kept internally as
//! whole microseconds. The builder is `const`, so a firmware can keep its configuration in flash:
//!
//! ```
//! use breaker_core::{Config, Duration};
//!
//! static CONFIG: Config = match Config::builder()
//!     .failure_threshold(3)
//!     .open_for(Duration::from_secs(10))
//!     .build()
//! {
//!     Ok(config) => config,
//!     Err(_) => panic!("invalid breaker configuration"), // a compile-time error
//! };
//! assert_eq!(CONFIG.settings().failure_threshold(), Some(3));
//! ```

use core::fmt;
use core::marker::PhantomData;

use crate::backoff::{Backoff, Random};
use crate::clock::{from_micros_or_max, micros, Duration, MAX_DURATION, MAX_DURATION_MICROS};
use crate::window::{NoWindow, PackedKind, Window, WindowKind};

#[cfg(all(feature = "serde", feature = "std", not(loom)))]
pub mod file;
#[cfg(feature = "alloc")]
mod intern;

/// The process's one copy of a name given at run time, for the `&'static str`s that names are
/// everywhere (a breaker's, a concurrency limit's): each distinct name is copied once and kept
/// for the life of the process, so memory grows with the distinct names, not with the
/// configurations built or reloaded. Lock-free, with `alloc` alone.
///
/// ```
/// let a = breaker_core::config::intern(&String::from("payments"));
/// let b = breaker_core::config::intern("payments");
/// assert!(std::ptr::eq(a, b));
/// ```
#[cfg(feature = "alloc")]
pub fn intern(name: &str) -> &'static str {
    intern::intern(name)
}

/// Rates in parts per million and the largest trial limit, defined with the machine's other
/// limits (see [`crate::limits`]).
pub use crate::limits::{MAX_TRIALS, PPM};

/// A configuration, validated: build it with [`Config::builder`].
///
/// `W` is the sliding window the breaker keeps ([`NoWindow`] for the consecutive-failures rule
/// alone); it is part of the type so that its storage is sized at compile time.
pub struct Config<W = NoWindow> {
    settings: Settings,
    _window: PhantomData<fn() -> W>,
}

impl<W> Clone for Config<W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W> Copy for Config<W> {}

impl<W> fmt::Debug for Config<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("window", &core::any::type_name::<W>())
            .field("settings", &self.settings)
            .finish()
    }
}

impl Config<NoWindow> {
    /// A builder, starting from pybreaker's defaults.
    ///
    /// # Rules on by default
    ///
    /// - **Without a window** (the builder as it comes): the consecutive-failures rule alone,
    ///   as in pybreaker: open after 5 consecutive failures
    ///   ([`failure_threshold`](ConfigBuilder::failure_threshold)).
    /// - **With a rate rule** ([`failure_rate`](ConfigBuilder::failure_rate) or
    ///   [`slow_calls`](ConfigBuilder::slow_calls) over a
    ///   [`count_window`](ConfigBuilder::count_window) or
    ///   [`time_window`](ConfigBuilder::time_window)): only the rate rules asked for. The
    ///   consecutive-failures rule is then off unless `failure_threshold` is set explicitly, so
    ///   a rule the configuration does not mention never opens the breaker first. A rate rule
    ///   waits for [`minimum_calls`](ConfigBuilder::minimum_calls) (default 10) in the window.
    ///
    /// Either way: stay open 30 s, admit one trial call in half-open, close after 1 successful
    /// trial, give up on trials that have not reported after the open duration, and report the
    /// call that trips the breaker as [`crate::Error::Tripped`].
    ///
    /// ```
    /// use breaker_core::Config;
    ///
    /// let plain = Config::builder().build()?;
    /// assert_eq!(plain.settings().failure_threshold(), Some(5));
    ///
    /// let rate = Config::builder().count_window::<20>().failure_rate(0.5).build()?;
    /// assert_eq!(rate.settings().failure_threshold(), None);
    ///
    /// let both = Config::builder()
    ///     .count_window::<20>()
    ///     .failure_rate(0.5)
    ///     .failure_threshold(5)
    ///     .build()?;
    /// assert_eq!(both.settings().failure_threshold(), Some(5));
    /// # Ok::<(), breaker_core::ConfigError>(())
    /// ```
    pub const fn builder() -> ConfigBuilder<NoWindow> {
        ConfigBuilder {
            settings: Settings::DEFAULT,
            max_wait_set: false,
            threshold_set: false,
            minimum_calls_set: false,
            error: None,
            _window: PhantomData,
        }
    }

    /// The default configuration (see [`Config::builder`]).
    pub const fn default_config() -> Self {
        Config {
            settings: Settings::DEFAULT,
            _window: PhantomData,
        }
    }
}

impl Default for Config<NoWindow> {
    fn default() -> Self {
        Config::default_config()
    }
}

impl<W> Config<W> {
    /// The plain values the pure transitions read.
    pub const fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// The window-independent part of a configuration: the plain data that the pure transitions in
/// [`crate::machine`] read. Spans are kept in whole microseconds, so the transitions (and any
/// mirror of them) stay in integer arithmetic; the accessors give [`Duration`]s.
#[derive(Clone, Copy)]
pub struct Settings {
    pub(crate) name: &'static str,
    /// Consecutive failures that open the breaker; 0 turns the rule off.
    pub(crate) failure_threshold: u32,
    /// Failure rate over the window that opens the breaker, in ppm; 0 turns the rule off.
    pub(crate) failure_rate_ppm: u32,
    /// Calls slower than this many microseconds count as slow; 0 turns the slow-call rule off.
    pub(crate) slow_call: u64,
    /// Slow-call rate over the window that opens the breaker, in ppm; 0 turns the rule off.
    pub(crate) slow_rate_ppm: u32,
    /// Calls the window must hold before a rate may open the breaker.
    pub(crate) minimum_calls: u32,
    /// Width of one bucket of a time window, in microseconds.
    pub(crate) bucket: u64,
    pub(crate) open: Backoff,
    pub(crate) half_open_trials: u16,
    pub(crate) success_threshold: u16,
    /// Trials still unreported this many microseconds after half-open began are abandoned
    /// (re-open); `u64::MAX`: never.
    pub(crate) half_open_max_wait: u64,
    pub(crate) trip_error: bool,
    /// The window asked for (read by a window sized at run time; in `Settings`'s padding).
    pub(crate) window: PackedKind,
}

impl Settings {
    const DEFAULT: Settings = Settings {
        name: "",
        failure_threshold: 5,
        failure_rate_ppm: 0,
        slow_call: 0,
        slow_rate_ppm: 0,
        minimum_calls: 10,
        bucket: 1_000_000,
        open: Backoff::fixed(Duration::from_secs(30)),
        half_open_trials: 1,
        success_threshold: 1,
        half_open_max_wait: 30_000_000,
        trip_error: true,
        window: PackedKind::NONE,
    };

    /// The breaker's name, for diagnostics.
    pub const fn name(&self) -> &'static str {
        self.name
    }
    /// Consecutive failures that open the breaker, if that rule is on.
    pub const fn failure_threshold(&self) -> Option<u32> {
        if self.failure_threshold == 0 {
            None
        } else {
            Some(self.failure_threshold)
        }
    }
    /// The failure rate (ppm) that opens the breaker, if that rule is on.
    pub const fn failure_rate_ppm(&self) -> Option<u32> {
        if self.failure_rate_ppm == 0 {
            None
        } else {
            Some(self.failure_rate_ppm)
        }
    }
    /// The slow-call threshold and rate (ppm), if that rule is on.
    pub const fn slow_call(&self) -> Option<(Duration, u32)> {
        match self.slow_call_threshold() {
            Some(d) => Some((d, self.slow_rate_ppm)),
            None => None,
        }
    }
    /// The slow-call threshold, if calls are timed at all.
    pub const fn slow_call_threshold(&self) -> Option<Duration> {
        match self.slow_call_micros() {
            Some(us) => Some(Duration::from_micros(us)),
            None => None,
        }
    }
    /// The slow-call threshold in microseconds, if calls are timed at all.
    pub const fn slow_call_micros(&self) -> Option<u64> {
        if self.slow_call == 0 {
            None
        } else {
            Some(self.slow_call)
        }
    }
    /// Calls the window must hold before a rate may open the breaker.
    pub const fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }
    /// Width of one time-window bucket.
    pub const fn bucket(&self) -> Duration {
        Duration::from_micros(self.bucket)
    }
    /// Width of one time-window bucket in microseconds (what [`Window`]s take).
    pub const fn bucket_micros(&self) -> u64 {
        self.bucket
    }
    /// The open-duration policy.
    pub const fn open(&self) -> &Backoff {
        &self.open
    }
    /// Trial calls admitted at once in half-open.
    pub const fn half_open_trials(&self) -> u16 {
        self.half_open_trials
    }
    /// Successful trials that close the breaker.
    pub const fn success_threshold(&self) -> u16 {
        self.success_threshold
    }
    /// How long half-open waits for unreported trials before re-opening ([`Duration::MAX`]: forever).
    pub const fn half_open_max_wait(&self) -> Duration {
        from_micros_or_max(self.half_open_max_wait)
    }
    /// [`Settings::half_open_max_wait`] in microseconds (`u64::MAX`: forever).
    pub const fn half_open_max_wait_micros(&self) -> u64 {
        self.half_open_max_wait
    }
    /// Whether the call that trips the breaker reports [`crate::Error::Tripped`].
    pub const fn trip_error(&self) -> bool {
        self.trip_error
    }
    /// The window asked for: its kind and size, whether fixed by the type
    /// ([`ConfigBuilder::count_window`]) or given at run time
    /// (`ConfigBuilder::count_window_sized`, with `alloc`).
    pub const fn window(&self) -> WindowKind {
        self.window.get()
    }
}

// The run-time window's three bytes sit in padding `Settings` already had: a firmware's
// configurations in flash keep their size.
#[cfg(all(target_arch = "arm", target_pointer_width = "32"))]
const _: () = assert!(core::mem::size_of::<Settings>() == 88);

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.name)
            .field("failure_threshold", &self.failure_threshold())
            .field("failure_rate_ppm", &self.failure_rate_ppm())
            .field("slow_call", &self.slow_call())
            .field("minimum_calls", &self.minimum_calls)
            .field("bucket", &self.bucket())
            .field("open", &self.open)
            .field("half_open_trials", &self.half_open_trials)
            .field("success_threshold", &self.success_threshold)
            .field("half_open_max_wait", &self.half_open_max_wait())
            .field("trip_error", &self.trip_error)
            .finish()
    }
}

/// Why a configuration was refused: which breaker, which setting, what is wrong with it, and
/// whether the value at fault was a default the user never set.
///
/// Its `Display` reads as one lowercase sentence without a trailing period, durations printed as
/// durations:
///
/// ```
/// use breaker_core::{Config, ConfigErrorKind};
///
/// let err = Config::builder()
///     .count_window::<5>()
///     .failure_rate(0.5)
///     .name("payments")
///     .build()
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"breaker "payments": minimum_calls (10, the default) exceeds what the count window holds (5)"#
/// );
/// assert_eq!((err.breaker(), err.field(), err.is_default()), ("payments", "minimum_calls", true));
/// assert!(matches!(err.kind(), ConfigErrorKind::MinimumCallsAboveWindow { minimum_calls: 10, .. }));
/// ```
///
/// It is built in `const` code (the builders are `const`), so it carries only `&'static str`s
/// and plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    breaker: &'static str,
    field: &'static str,
    kind: ConfigErrorKind,
    default: bool,
}

/// What is wrong with the setting a [`ConfigError`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A count that must be at least 1 was 0.
    Zero,
    /// A count was above what the breaker can hold.
    TooMany {
        /// The value given.
        value: u64,
        /// The most allowed.
        max: u64,
    },
    /// A rate or fraction was not in (0, 1].
    RateOutOfRange,
    /// A duration was zero where that makes no sense.
    ZeroDuration,
    /// A duration is longer than the breaker's clock can hold ([`MAX_DURATION`]).
    DurationTooLong {
        /// The duration given (or, for a time window, its whole span).
        value: Duration,
        /// The longest allowed.
        max: Duration,
    },
    /// A rate rule was asked for, but the breaker keeps no window to compute it over.
    RateWithoutWindow,
    /// The window holds fewer calls than `minimum_calls`, so its rates could never open the
    /// breaker.
    MinimumCallsAboveWindow {
        /// The minimum in effect.
        minimum_calls: u32,
        /// The most calls the window can hold.
        capacity: u32,
        /// The window.
        window: WindowKind,
    },
    /// The window is empty or larger than the breaker can count.
    WindowSize {
        /// The window asked for.
        window: WindowKind,
        /// Its largest size (calls of a count window, buckets of a time window).
        max: u32,
    },
    /// No rule could ever open the breaker: the consecutive-failures rule is off and no rate
    /// rule is set.
    NoTripRule,
    /// The longest open duration of an exponential backoff is shorter than its first.
    MaxBelowBase {
        /// The first open duration.
        base: Duration,
        /// The longest open duration given.
        max: Duration,
    },
    /// Something with this name already exists with a different setting (a named concurrency
    /// limit asked for again with another number of permits).
    Conflict {
        /// The name.
        name: &'static str,
    },
}

impl ConfigError {
    /// A refusal of the setting `field` (see [`ConfigError::field`]), for no breaker in
    /// particular; [`ConfigBuilder::build`] adds the breaker's name.
    pub const fn new(field: &'static str, kind: ConfigErrorKind) -> Self {
        ConfigError {
            breaker: "",
            field,
            kind,
            default: false,
        }
    }

    /// The same error, about the breaker `name`.
    pub const fn with_breaker(mut self, name: &'static str) -> Self {
        self.breaker = name;
        self
    }

    /// The same error, marked as being about a default value the user did not set.
    pub const fn with_default(mut self) -> Self {
        self.default = true;
        self
    }

    /// The name of the breaker whose configuration was refused (`""`: unnamed, or not a
    /// breaker's, like a [`crate::Policy`] or a concurrency limit).
    pub const fn breaker(&self) -> &'static str {
        self.breaker
    }

    /// The setting at fault, named as the builder method that sets it (`"minimum_calls"`,
    /// `"open_for"`), with the argument where a method takes several
    /// (`"slow_calls(threshold)"`, `"open_exponential(max)"`).
    pub const fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub const fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// Whether the value at fault is a default the user never set (so the fix may be to set it).
    pub const fn is_default(&self) -> bool {
        self.default
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.breaker.is_empty() {
            write!(f, "breaker {:?}: ", self.breaker)?;
        }
        let field = self.field;
        let default = if self.default { ", the default" } else { "" };
        let bare_default = if self.default { " (the default)" } else { "" };
        match self.kind {
            ConfigErrorKind::Zero => write!(f, "{field}{bare_default} must be at least 1"),
            ConfigErrorKind::TooMany { value, max } => {
                write!(f, "{field} ({value}{default}) must be at most {max}")
            }
            ConfigErrorKind::RateOutOfRange => {
                write!(f, "{field}{bare_default} must be in (0, 1]")
            }
            ConfigErrorKind::ZeroDuration => {
                write!(f, "{field}{bare_default} must be longer than zero")
            }
            ConfigErrorKind::DurationTooLong { value, max } => write!(
                f,
                "{field} ({value:?}{default}) is longer than the clock can hold ({max:?})"
            ),
            ConfigErrorKind::RateWithoutWindow => {
                write!(f, "{field} needs a window: use count_window or time_window")
            }
            ConfigErrorKind::MinimumCallsAboveWindow {
                minimum_calls,
                capacity,
                window,
            } => {
                let kind = match window {
                    WindowKind::Time { .. } => "time",
                    _ => "count",
                };
                write!(
                    f,
                    "{field} ({minimum_calls}{default}) exceeds what the {kind} window holds ({capacity})"
                )
            }
            ConfigErrorKind::WindowSize { window, max } => match window {
                WindowKind::Time { buckets } => write!(
                    f,
                    "{field} ({buckets} buckets) must have 1 to {max} buckets"
                ),
                WindowKind::Count { size } => {
                    write!(f, "{field} ({size} calls) must hold 1 to {max} calls")
                }
                WindowKind::None => write!(f, "{field} is not a window"),
            },
            ConfigErrorKind::NoTripRule => write!(
                f,
                "no rule could ever open the breaker: {field} is off and no rate rule is set"
            ),
            ConfigErrorKind::MaxBelowBase { base, max } => write!(
                f,
                "{field} ({max:?}) is shorter than the first open duration ({base:?})"
            ),
            ConfigErrorKind::Conflict { name } => {
                write!(f, "{name:?} already exists with different {field}")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// Builds a [`Config`]; every method is `const`, and every duration is a [`Duration`] (`core`'s,
/// which `std::time::Duration` is).
///
/// Errors are kept until [`ConfigBuilder::build`], so a chain reads top to bottom and reports the
/// first problem.
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder<W> {
    settings: Settings,
    max_wait_set: bool,
    /// `failure_threshold` (or `no_failure_threshold`) was called: the rule stays as set even
    /// with a rate rule.
    threshold_set: bool,
    /// `minimum_calls` was called: an error about it is not about a default.
    minimum_calls_set: bool,
    error: Option<ConfigError>,
    _window: PhantomData<fn() -> W>,
}

impl<W> fmt::Debug for ConfigBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("settings", &self.settings)
            .field("error", &self.error)
            .finish()
    }
}

const fn rate_ppm(rate: f32, field: &'static str) -> Result<u32, ConfigError> {
    if rate.is_nan() || rate <= 0.0 || rate > 1.0 {
        return Err(ConfigError::new(field, ConfigErrorKind::RateOutOfRange));
    }
    let ppm = (rate * PPM as f32 + 0.5) as u32;
    Ok(if ppm == 0 { 1 } else { ppm })
}

/// `d` in whole microseconds, if it is neither zero nor longer than [`MAX_DURATION`].
pub(crate) const fn check_duration(d: Duration, field: &'static str) -> Result<u64, ConfigError> {
    let us = micros(d);
    if us == 0 {
        Err(ConfigError::new(field, ConfigErrorKind::ZeroDuration))
    } else if us > MAX_DURATION_MICROS {
        Err(ConfigError::new(
            field,
            ConfigErrorKind::DurationTooLong {
                value: d,
                max: MAX_DURATION,
            },
        ))
    } else {
        Ok(us)
    }
}

impl<W> ConfigBuilder<W> {
    const fn fail(mut self, e: ConfigError) -> Self {
        if self.error.is_none() {
            self.error = Some(e);
        }
        self
    }

    const fn with_window<V>(self) -> ConfigBuilder<V> {
        ConfigBuilder {
            settings: self.settings,
            max_wait_set: self.max_wait_set,
            threshold_set: self.threshold_set,
            minimum_calls_set: self.minimum_calls_set,
            error: self.error,
            _window: PhantomData,
        }
    }

    /// The breaker's name, shown in errors (a [`ConfigError`] from [`ConfigBuilder::build`]
    /// carries it, wherever in the chain this is called), stats and listener events.
    pub const fn name(mut self, name: &'static str) -> Self {
        self.settings.name = name;
        self
    }

    /// The breaker's name given at run time (read from a file or the environment): as
    /// [`ConfigBuilder::name`], the name kept once per distinct name for the life of the process
    /// ([`intern`]), so configurations rebuilt from a reloaded file reuse it.
    ///
    /// ```
    /// use breaker_core::Config;
    ///
    /// let from_file = String::from("payments");
    /// let a = Config::builder().name_str(&from_file).build()?;
    /// let b = Config::builder().name_str("payments").build()?;
    /// assert!(std::ptr::eq(a.settings().name(), b.settings().name()));
    /// # Ok::<(), breaker_core::ConfigError>(())
    /// ```
    #[cfg(feature = "alloc")]
    pub fn name_str(self, name: &str) -> Self {
        self.name(intern::intern(name))
    }

    /// Opens after `n` consecutive failures (pybreaker's `fail_max`).
    ///
    /// Default 5 when no rate rule is set; with a rate rule, off unless set here (see
    /// [`Config::builder`]).
    pub const fn failure_threshold(mut self, n: u32) -> Self {
        if n == 0 {
            return self.fail(ConfigError::new("failure_threshold", ConfigErrorKind::Zero));
        }
        self.settings.failure_threshold = n;
        self.threshold_set = true;
        self
    }

    /// Turns the consecutive-failures rule off (leaving the rate rules to open the breaker).
    pub const fn no_failure_threshold(mut self) -> Self {
        self.settings.failure_threshold = 0;
        self.threshold_set = true;
        self
    }

    /// Keeps a count-based sliding window of the last `N` calls.
    pub const fn count_window<const N: usize>(
        mut self,
    ) -> ConfigBuilder<crate::window::CountWindow<N>> {
        self.settings.window = PackedKind::pack(crate::window::CountWindow::<N>::KIND);
        self.with_window()
    }

    /// Keeps a time-based sliding window of `B` buckets, each `bucket` wide.
    pub const fn time_window<const B: usize>(
        mut self,
        bucket: Duration,
    ) -> ConfigBuilder<crate::window::TimeWindow<B>> {
        match check_duration(bucket, "time_window(bucket)") {
            Ok(us) => self.settings.bucket = us,
            Err(e) => self = self.fail(e),
        }
        self.settings.window = PackedKind::pack(crate::window::TimeWindow::<B>::KIND);
        self.with_window()
    }

    /// No window, as a [`DynWindow`](crate::window::DynWindow) configuration (a file's breaker
    /// without a window): only the consecutive-failures rule.
    #[cfg(all(feature = "serde", feature = "std", not(loom)))]
    pub(crate) const fn no_window_sized(mut self) -> ConfigBuilder<crate::window::DynWindow> {
        self.settings.window = PackedKind::NONE;
        self.with_window()
    }

    /// Keeps a count-based sliding window of the last `size` calls, its size given at run time
    /// (from a file, say): the window is a [`DynWindow`](crate::window::DynWindow), so the
    /// breaker's type is the same for every size. Checked as [`ConfigBuilder::count_window`]:
    /// 1 to [`MAX_COUNT_WINDOW`](crate::window::MAX_COUNT_WINDOW) calls.
    ///
    /// ```
    /// use breaker_core::{CircuitBreaker, Config, StdClock};
    /// use breaker_core::window::DynWindow;
    ///
    /// let size: u32 = "50".parse().unwrap(); // read at run time
    /// let config: Config<DynWindow> = Config::builder()
    ///     .name_str("payments")
    ///     .count_window_sized(size)
    ///     .failure_rate(0.5)
    ///     .build()?;
    /// let breaker: CircuitBreaker<StdClock, Config<DynWindow>> = CircuitBreaker::new(config);
    /// # let _ = breaker;
    /// # Ok::<(), breaker_core::ConfigError>(())
    /// ```
    #[cfg(all(feature = "alloc", not(loom)))]
    pub const fn count_window_sized(
        mut self,
        size: u32,
    ) -> ConfigBuilder<crate::window::DynWindow> {
        let window = WindowKind::Count { size };
        let max = crate::window::MAX_COUNT_WINDOW;
        if size == 0 || size > max {
            self = self.fail(ConfigError::new(
                "count_window_sized",
                ConfigErrorKind::WindowSize { window, max },
            ));
        }
        self.settings.window = PackedKind::pack(window);
        self.with_window()
    }

    /// Keeps a time-based sliding window of `buckets` buckets, each `bucket` wide, its size
    /// given at run time (see [`ConfigBuilder::count_window_sized`]). Checked as
    /// [`ConfigBuilder::time_window`]: 1 to [`MAX_TIME_BUCKETS`](crate::window::MAX_TIME_BUCKETS)
    /// buckets, a whole span the clock can hold.
    #[cfg(all(feature = "alloc", not(loom)))]
    pub const fn time_window_sized(
        mut self,
        buckets: u32,
        bucket: Duration,
    ) -> ConfigBuilder<crate::window::DynWindow> {
        match check_duration(bucket, "time_window_sized(bucket)") {
            Ok(us) => self.settings.bucket = us,
            Err(e) => self = self.fail(e),
        }
        let window = WindowKind::Time { buckets };
        let max = crate::window::MAX_TIME_BUCKETS;
        if buckets == 0 || buckets > max {
            self = self.fail(ConfigError::new(
                "time_window_sized",
                ConfigErrorKind::WindowSize { window, max },
            ));
        }
        self.settings.window = PackedKind::pack(window);
        self.with_window()
    }

    /// Opens when the failure rate over the window reaches `rate` (in (0, 1]).
    pub const fn failure_rate(mut self, rate: f32) -> Self {
        match rate_ppm(rate, "failure_rate") {
            Ok(ppm) => self.settings.failure_rate_ppm = ppm,
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// Counts calls slower than `threshold` as slow, and opens when the slow-call rate over the
    /// window reaches `rate` (in (0, 1]).
    pub const fn slow_calls(mut self, threshold: Duration, rate: f32) -> Self {
        match check_duration(threshold, "slow_calls(threshold)") {
            Ok(us) => self.settings.slow_call = us,
            Err(e) => return self.fail(e),
        }
        match rate_ppm(rate, "slow_calls(rate)") {
            Ok(ppm) => self.settings.slow_rate_ppm = ppm,
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// Calls the window must hold before a rate may open the breaker (default 10).
    pub const fn minimum_calls(mut self, n: u32) -> Self {
        if n == 0 {
            return self.fail(ConfigError::new("minimum_calls", ConfigErrorKind::Zero));
        }
        self.settings.minimum_calls = n;
        self.minimum_calls_set = true;
        self
    }

    /// A fixed open duration (pybreaker's `reset_timeout`; default 30 s).
    pub const fn open_for(mut self, d: Duration) -> Self {
        match check_duration(d, "open_for") {
            Ok(us) => {
                self.settings.open.base = us;
                self.settings.open.max = us;
                self.settings.open.multiplier = 1;
            }
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// An exponential open duration: `base`, then `base * multiplier^k` after `k` re-opens
    /// without closing in between, never more than `max`.
    pub const fn open_exponential(
        mut self,
        base: Duration,
        multiplier: u32,
        max: Duration,
    ) -> Self {
        if multiplier == 0 {
            return self.fail(ConfigError::new(
                "open_exponential(multiplier)",
                ConfigErrorKind::Zero,
            ));
        }
        match (
            check_duration(base, "open_exponential(base)"),
            check_duration(max, "open_exponential(max)"),
        ) {
            (Ok(b), Ok(m)) => {
                if m < b {
                    return self.fail(ConfigError::new(
                        "open_exponential(max)",
                        ConfigErrorKind::MaxBelowBase { base, max },
                    ));
                }
                self.settings.open.base = b;
                self.settings.open.max = m;
                self.settings.open.multiplier = multiplier;
            }
            (Err(e), _) | (_, Err(e)) => self = self.fail(e),
        }
        self
    }

    /// Shortens each open duration by a random part of up to `fraction` of it (in (0, 1]),
    /// drawn from `random`, so that breakers that opened together do not retry together.
    pub const fn jitter(mut self, fraction: f32, random: &'static dyn Random) -> Self {
        match rate_ppm(fraction, "jitter") {
            Ok(ppm) => {
                self.settings.open.jitter_ppm = ppm;
                self.settings.open.random = Some(random);
            }
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// Trial calls admitted at once in half-open (default 1).
    pub const fn half_open_trials(mut self, n: u16) -> Self {
        match check_trials(n, "half_open_trials") {
            Ok(n) => self.settings.half_open_trials = n,
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// Successful trials needed to close (pybreaker's `success_threshold`; default 1).
    pub const fn success_threshold(mut self, n: u16) -> Self {
        match check_trials(n, "success_threshold") {
            Ok(n) => self.settings.success_threshold = n,
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// How long half-open waits for trials that never report (hung, leaked) before it gives up
    /// on them and re-opens. Default: the base open duration. [`Duration::MAX`] (or any span of
    /// `u64::MAX` microseconds or more) waits forever, relying on dropped permits alone.
    pub const fn half_open_max_wait(mut self, d: Duration) -> Self {
        self.max_wait_set = true;
        if micros(d) == u64::MAX {
            self.settings.half_open_max_wait = u64::MAX;
            return self;
        }
        match check_duration(d, "half_open_max_wait") {
            Ok(us) => self.settings.half_open_max_wait = us,
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// Whether the call whose failure opens the breaker reports [`crate::Error::Tripped`]
    /// (default, like pybreaker's `throw_new_error_on_trip`) or its plain error.
    /// The original error is carried either way.
    pub const fn trip_error(mut self, on: bool) -> Self {
        self.settings.trip_error = on;
        self
    }
}

const fn check_trials(n: u16, field: &'static str) -> Result<u16, ConfigError> {
    if n == 0 {
        Err(ConfigError::new(field, ConfigErrorKind::Zero))
    } else if n > MAX_TRIALS {
        Err(ConfigError::new(
            field,
            ConfigErrorKind::TooMany {
                value: n as u64,
                max: MAX_TRIALS as u64,
            },
        ))
    } else {
        Ok(n)
    }
}

/// `minimum_calls` is more than the window can hold (checked only when a rate rule needs it).
const fn minimum_above(s: &Settings, capacity: u32, window: WindowKind, set: bool) -> ConfigError {
    let e = ConfigError::new(
        "minimum_calls",
        ConfigErrorKind::MinimumCallsAboveWindow {
            minimum_calls: s.minimum_calls,
            capacity,
            window,
        },
    );
    if set {
        e
    } else {
        e.with_default()
    }
}

impl<W: Window> ConfigBuilder<W> {
    /// Checks the whole configuration.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] met while building, or one about how the rules fit together;
    /// either way it carries the breaker's [`name`](ConfigBuilder::name).
    pub const fn build(self) -> Result<Config<W>, ConfigError> {
        let name = self.settings.name;
        match self.check() {
            Ok(config) => Ok(config),
            Err(e) => Err(e.with_breaker(name)),
        }
    }

    const fn check(self) -> Result<Config<W>, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut s = self.settings;
        let rate_field = if s.failure_rate_ppm != 0 {
            Some("failure_rate")
        } else if s.slow_rate_ppm != 0 {
            Some("slow_calls(rate)")
        } else {
            None
        };
        let rate_rule = rate_field.is_some();
        // A window sized at run time says what it is in the settings; for the others the type does.
        let kind = if W::SIZED_AT_RUN_TIME {
            s.window.get()
        } else {
            W::KIND
        };
        let (count_field, time_field) = if W::SIZED_AT_RUN_TIME {
            ("count_window_sized", "time_window_sized")
        } else {
            ("count_window", "time_window")
        };
        match kind {
            WindowKind::None => {
                if let Some(field) = rate_field {
                    return Err(ConfigError::new(field, ConfigErrorKind::RateWithoutWindow));
                }
            }
            WindowKind::Count { size } => {
                if size == 0 || size > crate::window::MAX_COUNT_WINDOW {
                    return Err(ConfigError::new(
                        count_field,
                        ConfigErrorKind::WindowSize {
                            window: kind,
                            max: crate::window::MAX_COUNT_WINDOW,
                        },
                    ));
                }
                if rate_rule && s.minimum_calls > size {
                    return Err(minimum_above(&s, size, kind, self.minimum_calls_set));
                }
            }
            WindowKind::Time { buckets } => {
                if buckets == 0 || buckets > crate::window::MAX_TIME_BUCKETS {
                    return Err(ConfigError::new(
                        time_field,
                        ConfigErrorKind::WindowSize {
                            window: kind,
                            max: crate::window::MAX_TIME_BUCKETS,
                        },
                    ));
                }
                let span = s.bucket.saturating_mul(buckets as u64);
                if span > MAX_DURATION_MICROS {
                    return Err(ConfigError::new(
                        time_field,
                        ConfigErrorKind::DurationTooLong {
                            value: from_micros_or_max(span),
                            max: MAX_DURATION,
                        },
                    ));
                }
                // Each bucket counts at most `TIME_BUCKET_CAPACITY` calls, however many come in
                // its width; a minimum above what all buckets together can hold is never met.
                let capacity = buckets * crate::window::TIME_BUCKET_CAPACITY;
                if rate_rule && s.minimum_calls > capacity {
                    return Err(minimum_above(&s, capacity, kind, self.minimum_calls_set));
                }
            }
        }
        // A rule the user did not ask for never trips the breaker: with a rate rule, the
        // consecutive-failures rule is on only if set explicitly.
        if rate_rule && !self.threshold_set {
            s.failure_threshold = 0;
        }
        if s.failure_threshold == 0 && !rate_rule {
            return Err(ConfigError::new(
                "failure_threshold",
                ConfigErrorKind::NoTripRule,
            ));
        }
        if !self.max_wait_set {
            s.half_open_max_wait = s.open.base;
        }
        Ok(Config {
            settings: s,
            _window: PhantomData,
        })
    }
}

/// How a breaker holds its configuration: by value, by reference (`&'static Config` keeps a
/// breaker small and its configuration in flash), or shared (`Arc<Config>`, with `alloc`). The
/// configuration's window type decides the window the breaker keeps, so a breaker's type names
/// its window once: `CircuitBreaker<Clock, Config<CountWindow<100>>>`.
pub trait AsConfig {
    /// The sliding window the configuration asks for.
    type Window: Window;
    /// The configuration.
    fn as_config(&self) -> &Config<Self::Window>;
}

impl<W: Window> AsConfig for Config<W> {
    type Window = W;
    #[inline]
    fn as_config(&self) -> &Config<W> {
        self
    }
}

impl<W: Window> AsConfig for &Config<W> {
    type Window = W;
    #[inline]
    fn as_config(&self) -> &Config<W> {
        self
    }
}

#[cfg(feature = "alloc")]
impl<W: Window> AsConfig for alloc::sync::Arc<Config<W>> {
    type Window = W;
    #[inline]
    fn as_config(&self) -> &Config<W> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{CountWindow, TimeWindow};

    fn err(field: &'static str, kind: ConfigErrorKind) -> ConfigError {
        ConfigError::new(field, kind)
    }

    #[test]
    fn defaults_match_pybreaker() {
        let c = Config::builder().build().unwrap();
        let s = c.settings();
        assert_eq!(s.failure_threshold(), Some(5));
        assert_eq!(s.open().base(), Duration::from_secs(30));
        assert_eq!(s.half_open_trials(), 1);
        assert_eq!(s.success_threshold(), 1);
        assert!(s.trip_error());
        assert_eq!(s.half_open_max_wait(), Duration::from_secs(30));
        assert_eq!(s.slow_call_threshold(), None);
    }

    #[test]
    fn a_rate_rule_turns_the_default_consecutive_rule_off() {
        let rate = Config::builder()
            .count_window::<20>()
            .failure_rate(0.5)
            .build()
            .unwrap();
        assert_eq!(rate.settings().failure_threshold(), None);
        let slow = Config::builder()
            .time_window::<4>(Duration::from_secs(1))
            .slow_calls(Duration::from_millis(100), 0.5)
            .build()
            .unwrap();
        assert_eq!(slow.settings().failure_threshold(), None);
        // Asked for explicitly, before or after the rate rule: kept.
        for c in [
            Config::builder()
                .failure_threshold(5)
                .count_window::<20>()
                .failure_rate(0.5)
                .build()
                .unwrap(),
            Config::builder()
                .count_window::<20>()
                .failure_rate(0.5)
                .failure_threshold(5)
                .build()
                .unwrap(),
        ] {
            assert_eq!(c.settings().failure_threshold(), Some(5));
        }
        // A window without a rate rule changes nothing.
        let plain = Config::builder().count_window::<20>().build().unwrap();
        assert_eq!(plain.settings().failure_threshold(), Some(5));
    }

    #[test]
    #[allow(clippy::std_instead_of_core)] // the point: std durations are taken as they are
    fn std_and_core_durations_are_accepted_and_kept_in_micros() {
        const C: Config = match Config::builder()
            .open_for(std::time::Duration::from_millis(1_500))
            .half_open_max_wait(core::time::Duration::from_nanos(2_000_999))
            .build()
        {
            Ok(c) => c,
            Err(_) => panic!(),
        };
        assert_eq!(C.settings().open().base_micros(), 1_500_000);
        assert_eq!(C.settings().open().base(), Duration::from_millis(1_500));
        assert_eq!(C.settings().half_open_max_wait_micros(), 2_000);
        // Forever stays forever, however it is spelled.
        for forever in [Duration::MAX, Duration::from_secs(u64::MAX)] {
            let c = Config::builder()
                .half_open_max_wait(forever)
                .build()
                .unwrap();
            assert_eq!(c.settings().half_open_max_wait(), Duration::MAX);
            assert_eq!(c.settings().half_open_max_wait_micros(), u64::MAX);
        }
        // Below a microsecond is nothing.
        assert_eq!(
            Config::builder()
                .open_for(Duration::from_nanos(999))
                .build()
                .unwrap_err(),
            err("open_for", ConfigErrorKind::ZeroDuration)
        );
        let debug = std::format!("{:?}", C.settings());
        assert!(debug.contains("base: 1.5s"), "{debug}");
        assert!(debug.contains("half_open_max_wait: 2ms"), "{debug}");
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let e = |r: Result<Config<_>, ConfigError>| r.unwrap_err();
        assert_eq!(
            e(Config::builder().failure_threshold(0).build()),
            err("failure_threshold", ConfigErrorKind::Zero)
        );
        assert_eq!(
            e(Config::builder().half_open_trials(0).build()),
            err("half_open_trials", ConfigErrorKind::Zero)
        );
        assert_eq!(
            e(Config::builder().success_threshold(0).build()),
            err("success_threshold", ConfigErrorKind::Zero)
        );
        assert_eq!(
            e(Config::builder().failure_rate(0.5).build()),
            err("failure_rate", ConfigErrorKind::RateWithoutWindow)
        );
        assert_eq!(
            e(Config::builder()
                .slow_calls(Duration::from_secs(1), 0.5)
                .build()),
            err("slow_calls(rate)", ConfigErrorKind::RateWithoutWindow)
        );
        for bad in [0.0, -0.1, 1.01, f32::NAN] {
            assert_eq!(
                Config::builder()
                    .count_window::<10>()
                    .failure_rate(bad)
                    .build()
                    .unwrap_err(),
                err("failure_rate", ConfigErrorKind::RateOutOfRange)
            );
        }
        assert_eq!(
            Config::builder().count_window::<0>().build().unwrap_err(),
            err(
                "count_window",
                ConfigErrorKind::WindowSize {
                    window: WindowKind::Count { size: 0 },
                    max: crate::window::MAX_COUNT_WINDOW
                }
            )
        );
        assert_eq!(
            Config::builder()
                .count_window::<5>()
                .failure_rate(0.5)
                .minimum_calls(6)
                .build()
                .unwrap_err(),
            err(
                "minimum_calls",
                ConfigErrorKind::MinimumCallsAboveWindow {
                    minimum_calls: 6,
                    capacity: 5,
                    window: WindowKind::Count { size: 5 }
                }
            )
        );
        assert_eq!(
            Config::builder()
                .open_for(Duration::ZERO)
                .build()
                .unwrap_err(),
            err("open_for", ConfigErrorKind::ZeroDuration)
        );
        assert_eq!(
            Config::builder()
                .open_for(Duration::MAX)
                .build()
                .unwrap_err(),
            err(
                "open_for",
                ConfigErrorKind::DurationTooLong {
                    value: Duration::MAX,
                    max: MAX_DURATION
                }
            )
        );
        assert_eq!(
            Config::builder()
                .time_window::<0>(Duration::from_secs(1))
                .failure_rate(0.5)
                .build()
                .unwrap_err(),
            err(
                "time_window",
                ConfigErrorKind::WindowSize {
                    window: WindowKind::Time { buckets: 0 },
                    max: crate::window::MAX_TIME_BUCKETS
                }
            )
        );
        assert_eq!(
            Config::builder()
                .time_window::<4>(Duration::ZERO)
                .build()
                .unwrap_err(),
            err("time_window(bucket)", ConfigErrorKind::ZeroDuration)
        );
        assert_eq!(
            Config::builder()
                .no_failure_threshold()
                .build()
                .unwrap_err(),
            err("failure_threshold", ConfigErrorKind::NoTripRule)
        );
        assert_eq!(
            Config::builder()
                .open_exponential(Duration::from_secs(2), 2, Duration::from_secs(1))
                .build()
                .unwrap_err(),
            err(
                "open_exponential(max)",
                ConfigErrorKind::MaxBelowBase {
                    base: Duration::from_secs(2),
                    max: Duration::from_secs(1)
                }
            )
        );
        assert_eq!(
            Config::builder()
                .half_open_trials(MAX_TRIALS + 1)
                .build()
                .unwrap_err(),
            err(
                "half_open_trials",
                ConfigErrorKind::TooMany {
                    value: MAX_TRIALS as u64 + 1,
                    max: MAX_TRIALS as u64
                }
            )
        );
        // The first error wins.
        let err = Config::builder()
            .failure_threshold(0)
            .half_open_trials(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "failure_threshold");
    }

    #[test]
    fn errors_name_the_breaker_and_field_and_say_when_a_value_is_a_default() {
        let text = |e: ConfigError| std::format!("{e}");
        // The name is filled in by `build`, even when given after the failing call.
        let e = Config::builder()
            .failure_threshold(0)
            .name("payments")
            .build()
            .unwrap_err();
        assert_eq!(e.breaker(), "payments");
        assert_eq!(
            text(e),
            r#"breaker "payments": failure_threshold must be at least 1"#
        );
        let e = Config::builder()
            .name("payments")
            .count_window::<5>()
            .failure_rate(0.5)
            .build()
            .unwrap_err();
        assert!(e.is_default());
        assert_eq!(
            text(e),
            r#"breaker "payments": minimum_calls (10, the default) exceeds what the count window holds (5)"#
        );
        let e = Config::builder()
            .count_window::<5>()
            .failure_rate(0.5)
            .minimum_calls(6)
            .build()
            .unwrap_err();
        assert!(!e.is_default());
        assert_eq!(
            text(e),
            "minimum_calls (6) exceeds what the count window holds (5)"
        );
        let e = Config::builder()
            .time_window::<2>(Duration::from_secs(1))
            .failure_rate(0.5)
            .minimum_calls(200_000)
            .build()
            .unwrap_err();
        assert_eq!(
            text(e),
            "minimum_calls (200000) exceeds what the time window holds (131070)"
        );
        // Durations print as durations.
        let e = Config::builder()
            .name("db")
            .open_exponential(Duration::from_secs(2), 2, Duration::from_millis(1_500))
            .build()
            .unwrap_err();
        assert_eq!(
            text(e),
            r#"breaker "db": open_exponential(max) (1.5s) is shorter than the first open duration (2s)"#
        );
        let e = Config::builder()
            .open_for(Duration::from_secs(1 << 40))
            .build()
            .unwrap_err();
        assert_eq!(
            text(e),
            "open_for (1099511627776s) is longer than the clock can hold (1125899906.842624s)"
        );
        let e = Config::builder()
            .time_window::<4096>(Duration::from_secs(1 << 30))
            .build()
            .unwrap_err();
        assert_eq!(
            text(e),
            "time_window (4398046511104s) is longer than the clock can hold (1125899906.842624s)"
        );
        assert_eq!(
            text(Config::builder().count_window::<0>().build().unwrap_err()),
            "count_window (0 calls) must hold 1 to 1048575 calls"
        );
        assert_eq!(
            text(
                Config::builder()
                    .half_open_trials(2_000)
                    .build()
                    .unwrap_err()
            ),
            "half_open_trials (2000) must be at most 1023"
        );
        assert_eq!(
            text(
                Config::builder()
                    .no_failure_threshold()
                    .build()
                    .unwrap_err()
            ),
            "no rule could ever open the breaker: failure_threshold is off and no rate rule is set"
        );
        assert_eq!(
            text(
                Config::builder()
                    .count_window::<5>()
                    .failure_rate(2.0)
                    .build()
                    .unwrap_err()
            ),
            "failure_rate must be in (0, 1]"
        );
    }

    #[test]
    fn errors_are_built_in_const_code() {
        const E: ConfigError = match Config::builder().name("fw").half_open_trials(0).build() {
            Ok(_) => panic!(),
            Err(e) => e,
        };
        assert_eq!(
            E,
            err("half_open_trials", ConfigErrorKind::Zero).with_breaker("fw")
        );
        assert_eq!(E.kind(), ConfigErrorKind::Zero);
    }

    #[test]
    fn rates_are_kept_in_ppm() {
        let c = Config::builder()
            .count_window::<100>()
            .failure_rate(0.5)
            .slow_calls(Duration::from_millis(100), 0.25)
            .build()
            .unwrap();
        assert_eq!(c.settings().failure_rate_ppm(), Some(500_000));
        assert_eq!(
            c.settings().slow_call(),
            Some((Duration::from_millis(100), 250_000))
        );
        assert_eq!(c.settings().slow_call_micros(), Some(100_000));
        let t: Config<TimeWindow<10>> = Config::builder()
            .time_window::<10>(Duration::from_secs(1))
            .no_failure_threshold()
            .failure_rate(1.0)
            .build()
            .unwrap();
        assert_eq!(t.settings().failure_threshold(), None);
        assert_eq!(t.settings().bucket_micros(), 1_000_000);
        let _: Config<CountWindow<3>> = Config::builder().count_window::<3>().build().unwrap();
    }
}
