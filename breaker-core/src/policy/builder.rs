//! [`Policy`]: what a call does beyond admission, validated once when it is built.

use core::fmt;

use crate::backoff::Random;
use crate::clock::Duration;
use crate::config::{check_duration, ConfigError};
use crate::policy::{ConcurrencyLimit, NoLimit};

/// The default interval at which a waiting caller looks again when it cannot know when it will
/// be admitted (half-open with every trial slot taken, forced open).
const DEFAULT_POLL: Duration = Duration::from_millis(10);

/// What a call does beyond admission: a timeout, a wait mode, a concurrency limit.
///
/// Built and checked once with [`Policy::builder`] (every method is `const`, so a firmware can
/// keep its policies in `static`s), given a concurrency limit with [`Policy::limit`], then used for any number of calls with
/// [`crate::CircuitBreaker::call_with`] or [`crate::CircuitBreaker::protect`].
///
/// `S` is the concurrency limit ([`NoLimit`] for none): a handle to the runtime adapter's limit,
/// or a reference to one.
///
/// # Examples
///
/// ```
/// use breaker_core::{ConfigError, ConfigErrorKind, Duration, Policy};
///
/// let policy = Policy::builder()
///     .timeout(Duration::from_millis(250))
///     .wait(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(policy.timeout(), Some(Duration::from_millis(250)));
///
/// // Invalid durations are refused when the policy is built.
/// assert_eq!(
///     Policy::builder().timeout(Duration::ZERO).build().unwrap_err(),
///     ConfigError::new("timeout", ConfigErrorKind::ZeroDuration)
/// );
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Policy<S = NoLimit> {
    pub(crate) timeout: Option<Duration>,
    pub(crate) wait: Option<Duration>,
    pub(crate) poll: Duration,
    pub(crate) limit: Option<S>,
    pub(crate) limit_wait: Option<Duration>,
    /// The random source of the wait mode's jitter; `None`: one shared by the process.
    pub(crate) random: Option<&'static dyn Random>,
}

impl Policy<NoLimit> {
    /// No timeout, no waiting, no limit: a call through this policy behaves as a plain call.
    pub const NONE: Policy<NoLimit> = Policy {
        timeout: None,
        wait: None,
        poll: DEFAULT_POLL,
        limit: None,
        limit_wait: None,
        random: None,
    };

    /// A builder for a policy that starts as [`Policy::NONE`].
    pub const fn builder() -> PolicyBuilder {
        PolicyBuilder {
            policy: Policy::NONE,
            error: None,
        }
    }
}

impl Default for Policy<NoLimit> {
    fn default() -> Self {
        Policy::NONE
    }
}

impl<S> Policy<S> {
    /// The per-call timeout, if any.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// How long a call waits to be admitted by the breaker (wait mode), if it waits at all;
    /// [`Duration::MAX`] waits without limit.
    pub const fn wait(&self) -> Option<Duration> {
        self.wait
    }

    /// The base interval at which a waiting caller looks again when it cannot know when it will
    /// be admitted (each wait adds a random part of up to the same again); also the most a
    /// waiter wakes after the end of the open duration (a random part of it, so that waiters
    /// spread out).
    pub const fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// The concurrency limit, if any.
    pub const fn concurrency_limit(&self) -> Option<&S> {
        self.limit.as_ref()
    }

    /// How long a call waits for a slot of the concurrency limit, if it waits at all.
    pub const fn limit_wait(&self) -> Option<Duration> {
        self.limit_wait
    }
}

impl<S: ConcurrencyLimit> fmt::Debug for Policy<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("timeout", &self.timeout)
            .field("wait", &self.wait)
            .field("poll", &self.poll)
            .field("limit", &self.limit.as_ref().map(|l| l.name()))
            .field("limit_wait", &self.limit_wait)
            .field("random", &self.random.map(|_| "dyn Random"))
            .finish()
    }
}

/// Builds a [`Policy`]; every method is `const`.
///
/// Errors are kept until [`PolicyBuilder::build`], which reports the first one, as
/// [`crate::ConfigBuilder`] does. The concurrency limit itself is attached to the built policy
/// with [`Policy::limit`].
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone, Copy, Debug)]
pub struct PolicyBuilder {
    policy: Policy<NoLimit>,
    error: Option<ConfigError>,
}

/// `d`, if neither zero nor longer than the clock can hold; with `forever`, any span of
/// `u64::MAX` microseconds or more is [`Duration::MAX`] (no limit).
const fn check(d: Duration, field: &'static str, forever: bool) -> Result<Duration, ConfigError> {
    if forever && crate::clock::micros(d) == u64::MAX {
        return Ok(Duration::MAX);
    }
    match check_duration(d, field) {
        Ok(_) => Ok(d),
        Err(e) => Err(e),
    }
}

impl PolicyBuilder {
    const fn fail(mut self, e: ConfigError) -> Self {
        if self.error.is_none() {
            self.error = Some(e);
        }
        self
    }

    /// Drops the call, and counts it as a failure, when it has not finished after `timeout`
    /// (kompoz's `with_timeout`). The timeout starts when the call is admitted: time spent
    /// waiting for the breaker or for a slot is not part of it.
    ///
    /// Refused by `build` when zero or longer than the clock can hold.
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        match check(timeout, "timeout", false) {
            Ok(d) => self.policy.timeout = Some(d),
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// Wait mode (escudeiro's freezing breaker): while the breaker refuses calls, wait up to
    /// `max_wait` to be admitted instead of being rejected at once. [`Duration::MAX`] waits
    /// without limit.
    ///
    /// Refused by `build` when zero.
    pub const fn wait(mut self, max_wait: Duration) -> Self {
        match check(max_wait, "wait", true) {
            Ok(d) => self.policy.wait = Some(d),
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// The base interval at which a waiting caller looks again when it cannot know when it will
    /// be admitted (default 10 ms); each wait adds a random part of up to the same again, so that
    /// waiters spread out. Waiters for the end of an open duration wake a random part of it
    /// after the end, for the same reason.
    ///
    /// Refused by `build` when zero or longer than the clock can hold.
    pub const fn poll_interval(mut self, interval: Duration) -> Self {
        match check(interval, "poll_interval", false) {
            Ok(d) => self.policy.poll = d,
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// A call that finds the concurrency limit full waits up to `max_wait` for a slot
    /// ([`Duration::MAX`]: without limit) before it is refused, instead of being refused at once.
    /// Takes effect once a limit is attached with [`Policy::limit`].
    ///
    /// Refused by `build` when zero.
    pub const fn limit_wait(mut self, max_wait: Duration) -> Self {
        match check(max_wait, "limit_wait", true) {
            Ok(d) => self.policy.limit_wait = Some(d),
            Err(e) => self = self.fail(e),
        }
        self
    }

    /// The random source of the wait mode's jitter (default: one shared by the process, with a
    /// fixed seed). A simulation gives each policy a seeded source of its own, so that a run
    /// is repeated exactly; any [`Random`] works, as for [`crate::ConfigBuilder::jitter`].
    pub const fn random(mut self, random: &'static dyn Random) -> Self {
        self.policy.random = Some(random);
        self
    }

    /// Checks the policy.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] met while building: a zero or too long duration.
    pub const fn build(self) -> Result<Policy<NoLimit>, ConfigError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.policy),
        }
    }
}

impl Policy<NoLimit> {
    /// This policy with at most as many calls in flight as `limit` has permits (kompoz's
    /// `limited`). A call that finds it full is refused with [`crate::Error::LimitReached`], at
    /// once or after the builder's [`PolicyBuilder::limit_wait`].
    ///
    /// Several policies (for several breakers or functions) may share one limit: pass each a
    /// clone of a shared handle, or a reference.
    pub const fn limit<S: ConcurrencyLimit>(self, limit: S) -> Policy<S> {
        Policy {
            timeout: self.timeout,
            wait: self.wait,
            poll: self.poll,
            limit: Some(limit),
            limit_wait: self.limit_wait,
            random: self.random,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::std_instead_of_core)] // std durations are taken as they are
    fn invalid_durations_are_refused() {
        use crate::clock::{MAX_DURATION, MAX_DURATION_MICROS};
        use crate::config::ConfigErrorKind::{DurationTooLong, ZeroDuration};
        let zero = Duration::ZERO;
        let long = Duration::from_micros(MAX_DURATION_MICROS + 1);
        let err = |b: PolicyBuilder| b.build().unwrap_err();
        let too_long = |value| DurationTooLong {
            value,
            max: MAX_DURATION,
        };
        assert_eq!(
            err(Policy::builder().timeout(zero)),
            ConfigError::new("timeout", ZeroDuration)
        );
        assert_eq!(
            err(Policy::builder().timeout(long)),
            ConfigError::new("timeout", too_long(long))
        );
        assert_eq!(
            err(Policy::builder().timeout(Duration::MAX)),
            ConfigError::new("timeout", too_long(Duration::MAX))
        );
        assert_eq!(
            err(Policy::builder().wait(zero)),
            ConfigError::new("wait", ZeroDuration)
        );
        assert_eq!(
            err(Policy::builder().poll_interval(zero)),
            ConfigError::new("poll_interval", ZeroDuration)
        );
        assert_eq!(
            err(Policy::builder().limit_wait(zero)),
            ConfigError::new("limit_wait", ZeroDuration)
        );
        // The first error wins; a policy names no breaker.
        let first = err(Policy::builder().wait(zero).timeout(zero));
        assert_eq!(first, ConfigError::new("wait", ZeroDuration));
        assert_eq!(std::format!("{first}"), "wait must be longer than zero");
        assert_eq!(
            std::format!("{}", err(Policy::builder().timeout(long))),
            "timeout (1125899906.842625s) is longer than the clock can hold (1125899906.842624s)"
        );
        // "Forever" is a valid wait, not a valid timeout, however it is spelled.
        for forever in [Duration::MAX, Duration::from_secs(u64::MAX)] {
            let p = Policy::builder()
                .wait(forever)
                .limit_wait(forever)
                .build()
                .unwrap();
            assert_eq!(p.wait(), Some(Duration::MAX));
            assert_eq!(p.limit_wait(), Some(Duration::MAX));
        }
        // std durations are taken as they are.
        let p = Policy::builder()
            .timeout(std::time::Duration::from_millis(250))
            .build()
            .unwrap();
        assert_eq!(p.timeout(), Some(Duration::from_millis(250)));
    }

    #[test]
    fn policies_build_in_const_context() {
        const P: Policy<&NoLimit> = match Policy::builder()
            .timeout(Duration::from_millis(5))
            .limit_wait(Duration::from_millis(1))
            .build()
        {
            Ok(p) => p.limit(&NoLimit),
            Err(_) => panic!("invalid policy"),
        };
        assert_eq!(P.timeout(), Some(Duration::from_millis(5)));
        assert_eq!(P.limit_wait(), Some(Duration::from_millis(1)));
        assert!(P.concurrency_limit().is_some());
        assert_eq!(Policy::default().timeout(), None);
    }
}
