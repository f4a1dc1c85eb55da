//! Configuration, validated once when it is built.
//!
//! Everything that could make the breaker misbehave (a zero threshold, a rate outside (0, 1], an
//! empty window, zero trials, a duration the clock cannot hold) is refused here with a
//! [`ConfigError`], so the call path never has to check, and never panics.
//!
//! The builder is `const`, so a firmware can keep its configuration in flash:
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
use crate::clock::{Duration, MAX_DURATION_MICROS};
use crate::window::{NoWindow, Window, WindowKind};

/// Parts per million: rates are kept as integers so that every mirror of the transitions (a Lua
/// script, a simulator) computes exactly the same trip decision.
pub const PPM: u32 = 1_000_000;

/// The most trials a half-open breaker may run at once, and the largest success threshold
/// (10 bits each in the packed state word).
pub const MAX_TRIALS: u16 = crate::machine::MAX_HALF_OPEN_COUNT;

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
    /// A builder with pybreaker's defaults: open after 5 consecutive failures, stay open 30 s,
    /// one trial call in half-open, close after 1 successful trial.
    pub const fn builder() -> ConfigBuilder<NoWindow> {
        ConfigBuilder {
            settings: Settings::DEFAULT,
            max_wait_set: false,
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
/// [`crate::machine`] read.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub(crate) name: &'static str,
    /// Consecutive failures that open the breaker; 0 turns the rule off.
    pub(crate) failure_threshold: u32,
    /// Failure rate over the window that opens the breaker, in ppm; 0 turns the rule off.
    pub(crate) failure_rate_ppm: u32,
    /// Calls slower than this count as slow; `None` turns the slow-call rule off.
    pub(crate) slow_call: Option<Duration>,
    /// Slow-call rate over the window that opens the breaker, in ppm; 0 turns the rule off.
    pub(crate) slow_rate_ppm: u32,
    /// Calls the window must hold before a rate may open the breaker.
    pub(crate) minimum_calls: u32,
    /// Width of one bucket of a time window.
    pub(crate) bucket: Duration,
    pub(crate) open: Backoff,
    pub(crate) half_open_trials: u16,
    pub(crate) success_threshold: u16,
    /// Trials still unreported this long after half-open began are abandoned (re-open).
    pub(crate) half_open_max_wait: Duration,
    pub(crate) trip_error: bool,
}

impl Settings {
    const DEFAULT: Settings = Settings {
        name: "",
        failure_threshold: 5,
        failure_rate_ppm: 0,
        slow_call: None,
        slow_rate_ppm: 0,
        minimum_calls: 10,
        bucket: Duration::from_secs(1),
        open: Backoff::fixed(Duration::from_secs(30)),
        half_open_trials: 1,
        success_threshold: 1,
        half_open_max_wait: Duration::from_secs(30),
        trip_error: true,
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
        match self.slow_call {
            Some(d) => Some((d, self.slow_rate_ppm)),
            None => None,
        }
    }
    /// The slow-call threshold, if calls are timed at all.
    pub const fn slow_call_threshold(&self) -> Option<Duration> {
        self.slow_call
    }
    /// Calls the window must hold before a rate may open the breaker.
    pub const fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }
    /// Width of one time-window bucket.
    pub const fn bucket(&self) -> Duration {
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
        self.half_open_max_wait
    }
    /// Whether the call that trips the breaker reports [`crate::Error::Tripped`].
    pub const fn trip_error(&self) -> bool {
        self.trip_error
    }
}

/// Why a configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count that must be at least 1 was 0.
    Zero(&'static str),
    /// A count was above what the breaker can hold (the limit is the second field).
    TooMany(&'static str, u16),
    /// A rate was not in (0, 1].
    RateOutOfRange(&'static str),
    /// A duration was zero where that makes no sense.
    ZeroDuration(&'static str),
    /// A duration is longer than the clock can hold ([`MAX_DURATION_MICROS`]).
    DurationTooLong(&'static str),
    /// A rate rule was asked for, but the breaker keeps no window to compute it over.
    RateWithoutWindow,
    /// The window holds fewer calls than `minimum_calls`, so its rates could never open the breaker.
    MinimumCallsAboveWindow {
        /// The configured minimum.
        minimum_calls: u32,
        /// What the window can hold.
        capacity: u32,
    },
    /// The window is empty or larger than the breaker can count.
    WindowSize(&'static str),
    /// No rule could ever open the breaker.
    NoTripRule,
    /// The exponential multiplier was 0.
    BadBackoff(&'static str),
    /// Something with this name already exists with different settings (a named concurrency
    /// limit asked for again with another size).
    Conflict(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Zero(what) => write!(f, "{what} must be at least 1"),
            ConfigError::TooMany(what, max) => write!(f, "{what} must be at most {max}"),
            ConfigError::RateOutOfRange(what) => write!(f, "{what} must be in (0, 1]"),
            ConfigError::ZeroDuration(what) => write!(f, "{what} must be longer than zero"),
            ConfigError::DurationTooLong(what) => {
                write!(
                    f,
                    "{what} is longer than the clock can hold ({MAX_DURATION_MICROS} us)"
                )
            }
            ConfigError::RateWithoutWindow => {
                write!(
                    f,
                    "a rate rule needs a window: use count_window or time_window"
                )
            }
            ConfigError::MinimumCallsAboveWindow {
                minimum_calls,
                capacity,
            } => write!(
                f,
                "minimum_calls ({minimum_calls}) exceeds what the window holds ({capacity})"
            ),
            ConfigError::WindowSize(why) => write!(f, "bad window size: {why}"),
            ConfigError::NoTripRule => write!(f, "no rule could ever open the breaker"),
            ConfigError::BadBackoff(why) => write!(f, "bad open-duration backoff: {why}"),
            ConfigError::Conflict(name) => {
                write!(f, "`{name}` already exists with different settings")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// Builds a [`Config`]; every method is `const`.
///
/// Errors are kept until [`ConfigBuilder::build`], so a chain reads top to bottom and reports the
/// first problem.
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder<W> {
    settings: Settings,
    max_wait_set: bool,
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

const fn rate_ppm(rate: f32, what: &'static str) -> Result<u32, ConfigError> {
    if rate.is_nan() || rate <= 0.0 || rate > 1.0 {
        return Err(ConfigError::RateOutOfRange(what));
    }
    let ppm = (rate * PPM as f32 + 0.5) as u32;
    Ok(if ppm == 0 { 1 } else { ppm })
}

const fn check_duration(d: Duration, what: &'static str) -> Result<Duration, ConfigError> {
    if d.as_micros() == 0 {
        Err(ConfigError::ZeroDuration(what))
    } else if d.as_micros() > MAX_DURATION_MICROS {
        Err(ConfigError::DurationTooLong(what))
    } else {
        Ok(d)
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
            error: self.error,
            _window: PhantomData,
        }
    }

    /// The breaker's name, shown in errors, stats and listener events.
    pub const fn name(mut self, name: &'static str) -> Self {
        self.settings.name = name;
        self
    }

    /// Opens after `n` consecutive failures (pybreaker's `fail_max`; default 5).
    pub const fn failure_threshold(mut self, n: u32) -> Self {
        if n == 0 {
            return self.fail(ConfigError::Zero("failure_threshold"));
        }
        self.settings.failure_threshold = n;
        self
    }

    /// Turns the consecutive-failures rule off (leaving the rate rules to open the breaker).
    pub const fn no_failure_threshold(mut self) -> Self {
        self.settings.failure_threshold = 0;
        self
    }

    /// Keeps a count-based sliding window of the last `N` calls.
    pub const fn count_window<const N: usize>(
        self,
    ) -> ConfigBuilder<crate::window::CountWindow<N>> {
        self.with_window()
    }

    /// Keeps a time-based sliding window of `B` buckets, each `bucket` wide.
    pub const fn time_window<const B: usize>(
        mut self,
        bucket: Duration,
    ) -> ConfigBuilder<crate::window::TimeWindow<B>> {
        match check_duration(bucket, "time window bucket") {
            Ok(d) => self.settings.bucket = d,
            Err(e) => self = self.fail(e),
        }
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
        match check_duration(threshold, "slow-call threshold") {
            Ok(d) => self.settings.slow_call = Some(d),
            Err(e) => return self.fail(e),
        }
        match rate_ppm(rate, "slow-call rate") {
            Ok(ppm) => self.settings.slow_rate_ppm = ppm,
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// Calls the window must hold before a rate may open the breaker (default 10).
    pub const fn minimum_calls(mut self, n: u32) -> Self {
        if n == 0 {
            return self.fail(ConfigError::Zero("minimum_calls"));
        }
        self.settings.minimum_calls = n;
        self
    }

    /// A fixed open duration (pybreaker's `reset_timeout`; default 30 s).
    pub const fn open_for(mut self, d: Duration) -> Self {
        match check_duration(d, "open duration") {
            Ok(d) => {
                self.settings.open.base = d;
                self.settings.open.max = d;
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
            return self.fail(ConfigError::BadBackoff("multiplier must be at least 1"));
        }
        match (
            check_duration(base, "open duration"),
            check_duration(max, "maximum open duration"),
        ) {
            (Ok(b), Ok(m)) => {
                if m.as_micros() < b.as_micros() {
                    return self.fail(ConfigError::BadBackoff("maximum is shorter than base"));
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
        match rate_ppm(fraction, "jitter fraction") {
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
        if n == 0 {
            return self.fail(ConfigError::Zero("half_open_trials"));
        }
        if n > MAX_TRIALS {
            return self.fail(ConfigError::TooMany("half_open_trials", MAX_TRIALS));
        }
        self.settings.half_open_trials = n;
        self
    }

    /// Successful trials needed to close (pybreaker's `success_threshold`; default 1).
    pub const fn success_threshold(mut self, n: u16) -> Self {
        if n == 0 {
            return self.fail(ConfigError::Zero("success_threshold"));
        }
        if n > MAX_TRIALS {
            return self.fail(ConfigError::TooMany("success_threshold", MAX_TRIALS));
        }
        self.settings.success_threshold = n;
        self
    }

    /// How long half-open waits for trials that never report (hung, leaked) before it gives up
    /// on them and re-opens. Default: the base open duration. [`Duration::MAX`] waits forever,
    /// relying on dropped permits alone.
    pub const fn half_open_max_wait(mut self, d: Duration) -> Self {
        self.max_wait_set = true;
        if d.as_micros() == u64::MAX {
            self.settings.half_open_max_wait = d;
            return self;
        }
        match check_duration(d, "half-open maximum wait") {
            Ok(d) => self.settings.half_open_max_wait = d,
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

impl<W: Window> ConfigBuilder<W> {
    /// Checks the whole configuration.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] met while building, or one about how the rules fit together.
    pub const fn build(self) -> Result<Config<W>, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut s = self.settings;
        let rate_rule = s.failure_rate_ppm != 0 || s.slow_rate_ppm != 0;
        match W::KIND {
            WindowKind::None => {
                if rate_rule {
                    return Err(ConfigError::RateWithoutWindow);
                }
            }
            WindowKind::Count { size } => {
                if size == 0 {
                    return Err(ConfigError::WindowSize(
                        "a count window must hold at least 1 call",
                    ));
                }
                if size > crate::window::MAX_COUNT_WINDOW {
                    return Err(ConfigError::WindowSize(
                        "a count window holds at most 2^20 - 1 calls",
                    ));
                }
                if rate_rule && s.minimum_calls > size {
                    return Err(ConfigError::MinimumCallsAboveWindow {
                        minimum_calls: s.minimum_calls,
                        capacity: size,
                    });
                }
            }
            WindowKind::Time { buckets } => {
                if buckets == 0 {
                    return Err(ConfigError::WindowSize(
                        "a time window needs at least 1 bucket",
                    ));
                }
                if buckets > crate::window::MAX_TIME_BUCKETS {
                    return Err(ConfigError::WindowSize(
                        "a time window has at most 4096 buckets",
                    ));
                }
                if s.bucket.as_micros().saturating_mul(buckets as u64) > MAX_DURATION_MICROS {
                    return Err(ConfigError::DurationTooLong("time window"));
                }
                // Each bucket counts at most `TIME_BUCKET_CAPACITY` calls, however many come in
                // its width; a minimum above what all buckets together can hold is never met.
                let capacity = buckets * crate::window::TIME_BUCKET_CAPACITY;
                if rate_rule && s.minimum_calls > capacity {
                    return Err(ConfigError::MinimumCallsAboveWindow {
                        minimum_calls: s.minimum_calls,
                        capacity,
                    });
                }
            }
        }
        if s.failure_threshold == 0 && !rate_rule {
            return Err(ConfigError::NoTripRule);
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
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let e = |r: Result<Config<_>, ConfigError>| r.unwrap_err();
        assert_eq!(
            e(Config::builder().failure_threshold(0).build()),
            ConfigError::Zero("failure_threshold")
        );
        assert_eq!(
            e(Config::builder().half_open_trials(0).build()),
            ConfigError::Zero("half_open_trials")
        );
        assert_eq!(
            e(Config::builder().success_threshold(0).build()),
            ConfigError::Zero("success_threshold")
        );
        assert_eq!(
            e(Config::builder().failure_rate(0.5).build()),
            ConfigError::RateWithoutWindow
        );
        for bad in [0.0, -0.1, 1.01, f32::NAN] {
            assert_eq!(
                Config::builder()
                    .count_window::<10>()
                    .failure_rate(bad)
                    .build()
                    .unwrap_err(),
                ConfigError::RateOutOfRange("failure_rate")
            );
        }
        assert_eq!(
            Config::builder().count_window::<0>().build().unwrap_err(),
            ConfigError::WindowSize("a count window must hold at least 1 call")
        );
        assert_eq!(
            Config::builder()
                .count_window::<5>()
                .failure_rate(0.5)
                .minimum_calls(6)
                .build()
                .unwrap_err(),
            ConfigError::MinimumCallsAboveWindow {
                minimum_calls: 6,
                capacity: 5
            }
        );
        assert_eq!(
            Config::builder()
                .open_for(Duration::ZERO)
                .build()
                .unwrap_err(),
            ConfigError::ZeroDuration("open duration")
        );
        assert_eq!(
            Config::builder()
                .open_for(Duration::MAX)
                .build()
                .unwrap_err(),
            ConfigError::DurationTooLong("open duration")
        );
        assert_eq!(
            Config::builder()
                .time_window::<0>(Duration::from_secs(1))
                .failure_rate(0.5)
                .build()
                .unwrap_err(),
            ConfigError::WindowSize("a time window needs at least 1 bucket")
        );
        assert_eq!(
            Config::builder()
                .time_window::<4>(Duration::ZERO)
                .build()
                .unwrap_err(),
            ConfigError::ZeroDuration("time window bucket")
        );
        assert_eq!(
            Config::builder()
                .no_failure_threshold()
                .build()
                .unwrap_err(),
            ConfigError::NoTripRule
        );
        assert_eq!(
            Config::builder()
                .open_exponential(Duration::from_secs(2), 2, Duration::from_secs(1))
                .build()
                .unwrap_err(),
            ConfigError::BadBackoff("maximum is shorter than base")
        );
        // The first error wins, and the message is lowercase without a trailing period.
        let err = Config::builder()
            .failure_threshold(0)
            .half_open_trials(0)
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::Zero("failure_threshold"));
        let mut text = heapless_display(&err);
        assert_eq!(text.as_str(), "failure_threshold must be at least 1");
        text.clear();
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
        let t: Config<TimeWindow<10>> = Config::builder()
            .time_window::<10>(Duration::from_secs(1))
            .no_failure_threshold()
            .failure_rate(1.0)
            .build()
            .unwrap();
        assert_eq!(t.settings().failure_threshold(), None);
        let _: Config<CountWindow<3>> = Config::builder().count_window::<3>().build().unwrap();
    }

    fn heapless_display(e: &ConfigError) -> std::string::String {
        std::format!("{e}")
    }
}
