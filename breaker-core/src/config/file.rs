//! Configuration files (features `serde` and `std`): breakers, their policies and named
//! concurrency limits, in any serde format (TOML, YAML, JSON: the parsing crate is the
//! application's; this crate depends on none).
//!
//! ```toml
//! [limits]
//! db = 10                                  # a named concurrency limit and its permits
//!
//! [breakers.payments]
//! window = { kind = "count", size = 50 }   # or { kind = "time", buckets = 10, bucket = "1s" }
//! failure_rate = 0.5
//! slow_calls = { threshold = "250ms", rate = 0.5 }
//! minimum_calls = 20
//! open_for = "30s"                         # or open_exponential = { base = "1s", multiplier = 2, max = "1m" }
//! policy = { timeout = "2s", limit = "db" }
//! ```
//!
//! Every key is optional and defaults as [`crate::Config::builder`] does. Durations are strings of
//! a number and a unit (`ns`, `us`, `ms`, `s`, `m`, `h`; `1.5s` allowed), or `"forever"` where a
//! duration may be unbounded (`half_open_max_wait`). Loading checks everything into typed
//! [`Config<DynWindow>`]s and [`Policy`]s; every [`FileError`] names the key path
//! (`breakers.payments.slow_calls.threshold`), the breaker and the field, and for a file that does
//! not parse, the format's own message (with its line and column where the format gives them).
//!
//! Files round-trip: a [`ConfigFile`] serializes to what it was read from (durations in the
//! largest exact unit).
//!
//! # Reloading
//!
//! A breaker's configuration is fixed for its life. A reloaded file builds new breakers, and
//! [`Loaded::register`] with `replace` swaps them into the registry: the new breaker starts
//! closed with an empty window (counts, window and last trip of the old one are not carried
//! over); holders of the old `Arc` keep using the old breaker until they fetch the new one.

use core::fmt;
use core::str::FromStr;
use std::boxed::Box;
use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;
use std::{format, vec};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::breaker::CircuitBreaker;
use crate::clock::{Duration, GlobalClock};
use crate::config::{Config, ConfigBuilder, ConfigError};
use crate::policy::Policy;
use crate::registry::Registry;
use crate::window::DynWindow;

/// A whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Named concurrency limits and their permits, for a breaker's `policy.limit`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, usize>,
    /// Breakers by name.
    #[serde(default)]
    pub breakers: BTreeMap<String, BreakerSpec>,
}

/// One breaker: each key is the [`ConfigBuilder`] method of the same name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field is documented by its builder method
pub struct BreakerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// `false`: the consecutive-failures rule off ([`ConfigBuilder::no_failure_threshold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_calls: Option<SlowCalls>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_calls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_for: Option<FileDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_exponential: Option<Exponential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_trials: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_max_wait: Option<FileDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip_error: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySpec>,
}

/// A window: `{ kind = "count", size = 50 }` or `{ kind = "time", buckets = 10, bucket = "1s" }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum WindowSpec {
    /// [`ConfigBuilder::count_window_sized`].
    Count {
        /// Calls held.
        size: u32,
    },
    /// [`ConfigBuilder::time_window_sized`].
    Time {
        /// Buckets held.
        buckets: u32,
        /// Width of a bucket.
        bucket: FileDuration,
    },
}

/// [`ConfigBuilder::slow_calls`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SlowCalls {
    pub threshold: FileDuration,
    pub rate: f32,
}

/// [`ConfigBuilder::open_exponential`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Exponential {
    pub base: FileDuration,
    pub multiplier: u32,
    pub max: FileDuration,
}

/// A breaker's [`Policy`]: each key is the [`crate::policy::PolicyBuilder`] method of the same
/// name; `limit` names one of the file's `limits`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<FileDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<FileDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_wait: Option<FileDuration>,
}

/// A duration as a file writes it: `"30s"`, `"250ms"`, `"1.5s"`, `"forever"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileDuration(pub Duration);

/// Units, largest first (the order `Display` tries them in).
const UNITS: [(&str, u128); 6] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

impl FromStr for FileDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "forever" {
            return Ok(FileDuration(Duration::MAX));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {text:?} has no unit (ns, us, ms, s, m, h)"))?;
        let (number, unit) = t.split_at(split);
        let unit = if unit == "µs" { "us" } else { unit };
        let scale = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                format!("duration {text:?}: unknown unit {unit:?} (ns, us, ms, s, m, h)")
            })?;
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let bad = || format!("duration {text:?} is not a number and a unit");
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        // The fraction in whole nanoseconds, exactly (digits past a nanosecond are refused).
        let mut nanos = whole.checked_mul(scale).ok_or_else(bad)?;
        let mut place = scale;
        for d in frac.chars() {
            place /= 10;
            let digit = d.to_digit(10).ok_or_else(bad)? as u128;
            if digit != 0 && place == 0 {
                return Err(format!("duration {text:?} is finer than a nanosecond"));
            }
            nanos += digit * place;
        }
        let secs = u64::try_from(nanos / 1_000_000_000)
            .map_err(|_| format!("duration {text:?} is too long"))?;
        Ok(FileDuration(Duration::new(
            secs,
            (nanos % 1_000_000_000) as u32,
        )))
    }
}

impl fmt::Display for FileDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == Duration::MAX {
            return f.write_str("forever");
        }
        let nanos = self.0.as_nanos();
        let (unit, scale) = UNITS
            .iter()
            .find(|(_, s)| nanos % s == 0)
            .copied()
            .unwrap_or(("ns", 1));
        write!(f, "{}{unit}", nanos / scale)
    }
}

impl Serialize for FileDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FileDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a configuration file was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct FileError {
    path: String,
    breaker: Option<String>,
    /// Boxed: a `ConfigError` and a message make the error large, and it is the cold path.
    kind: Box<FileErrorKind>,
}

/// What is wrong, in a [`FileError`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FileErrorKind {
    /// The file does not parse into the expected shape (an unknown key, a wrong type, a bad
    /// duration): the format's message, with its line and column where it gives them.
    Parse(String),
    /// A value was refused by the configuration's checks.
    Invalid(ConfigError),
    /// `policy.limit` names a limit the file does not declare.
    UnknownLimit(String),
    /// A limit with 0 permits.
    ZeroPermits,
    /// The registry refused the breaker (a name already registered, see [`Loaded::register`];
    /// an empty name).
    Registry(crate::registry::RegistryError),
}

impl FileError {
    /// The key path at fault, as written in the file (`breakers.payments.open_for`).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The breaker whose settings were refused, if the error is about one.
    pub fn breaker(&self) -> Option<&str> {
        self.breaker.as_deref()
    }
    /// The field: the last part of the path (`open_for`, `threshold`).
    pub fn field(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or("")
    }
    /// What is wrong.
    pub fn kind(&self) -> &FileErrorKind {
        &self.kind
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: ",
            if self.path.is_empty() {
                "."
            } else {
                &self.path
            }
        )?;
        match &*self.kind {
            FileErrorKind::Parse(m) => f.write_str(m),
            // The breaker and the field are in the path already: the rest of the sentence.
            FileErrorKind::Invalid(e) => write!(f, "{}", e.with_breaker("")),
            FileErrorKind::UnknownLimit(name) => write!(f, "no limit named {name:?} in `limits`"),
            FileErrorKind::ZeroPermits => f.write_str("a limit needs at least 1 permit"),
            FileErrorKind::Registry(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for FileError {}

impl ConfigFile {
    /// Reads a file through any serde deserializer (`toml::Deserializer::new(text)`,
    /// `&mut serde_json::Deserializer::from_str(text)`), an error naming the key path.
    ///
    /// # Errors
    ///
    /// [`FileErrorKind::Parse`] with the path of the value at fault.
    pub fn from_deserializer<'de, D: Deserializer<'de>>(d: D) -> Result<Self, FileError>
    where
        D::Error: fmt::Display,
    {
        serde_path_to_error::deserialize(d).map_err(|e| {
            let path = e.path().to_string();
            let breaker = path
                .strip_prefix("breakers.")
                .map(|rest| rest.split('.').next().unwrap_or(rest).to_string());
            FileError {
                path: if path == "." { String::new() } else { path },
                breaker,
                kind: Box::new(FileErrorKind::Parse(e.into_inner().to_string())),
            }
        })
    }

    /// Checks every breaker, policy and limit into typed configurations.
    ///
    /// # Errors
    ///
    /// The first refusal, in key order, naming its path, breaker and field.
    pub fn load(&self) -> Result<Loaded, FileError> {
        let mut limits = Vec::new();
        for (name, &permits) in &self.limits {
            if permits == 0 {
                return Err(FileError {
                    path: format!("limits.{name}"),
                    breaker: None,
                    kind: Box::new(FileErrorKind::ZeroPermits),
                });
            }
            limits.push((crate::config::intern(name), permits));
        }
        let mut breakers = Vec::new();
        for (name, spec) in &self.breakers {
            let fail = |key: &str, kind| FileError {
                path: format!("breakers.{name}.{key}"),
                breaker: Some(name.clone()),
                kind: Box::new(kind),
            };
            let config = spec
                .config(name)
                .map_err(|e| fail(&key_of(e.field(), spec), FileErrorKind::Invalid(e)))?;
            let mut policy = Policy::builder();
            let mut limit = None;
            if let Some(p) = &spec.policy {
                if let Some(d) = p.timeout {
                    policy = policy.timeout(d.0);
                }
                if let Some(d) = p.wait {
                    policy = policy.wait(d.0);
                }
                if let Some(d) = p.limit_wait {
                    policy = policy.limit_wait(d.0);
                }
                if let Some(l) = &p.limit {
                    limit = Some(limits.iter().find(|(n, _)| n == l).copied().ok_or_else(
                        || fail("policy.limit", FileErrorKind::UnknownLimit(l.clone())),
                    )?);
                }
            }
            let policy = policy
                .build()
                .map_err(|e| fail(&format!("policy.{}", e.field()), FileErrorKind::Invalid(e)))?;
            breakers.push(Entry {
                config,
                policy,
                limit,
            });
        }
        Ok(Loaded { breakers, limits })
    }
}

/// The file key of a [`ConfigError::field`] (a builder method, with its argument).
fn key_of(field: &str, spec: &BreakerSpec) -> String {
    match field {
        "count_window_sized" => "window.size".into(),
        "time_window_sized" => match spec.window {
            // A span too long is about the width as much as the count: the window names both.
            Some(WindowSpec::Time { buckets, .. })
                if (1..=crate::window::MAX_TIME_BUCKETS).contains(&buckets) =>
            {
                "window".into()
            }
            _ => "window.buckets".into(),
        },
        "time_window_sized(bucket)" => "window.bucket".into(),
        "failure_threshold" if spec.consecutive_failures == Some(false) => {
            "consecutive_failures".into()
        }
        f => match f.split_once('(') {
            Some((method, arg)) => format!("{method}.{}", arg.trim_end_matches(')')),
            None => f.into(),
        },
    }
}

impl BreakerSpec {
    /// The typed configuration of the breaker `name`.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`], its field named as the builder method.
    pub fn config(&self, name: &str) -> Result<Config<DynWindow>, ConfigError> {
        let b = Config::builder().name_str(name);
        let mut b: ConfigBuilder<DynWindow> = match self.window {
            None => b.no_window_sized(),
            Some(WindowSpec::Count { size }) => b.count_window_sized(size),
            Some(WindowSpec::Time { buckets, bucket }) => b.time_window_sized(buckets, bucket.0),
        };
        if let Some(n) = self.failure_threshold {
            b = b.failure_threshold(n);
        }
        if self.consecutive_failures == Some(false) {
            b = b.no_failure_threshold();
        }
        if let Some(r) = self.failure_rate {
            b = b.failure_rate(r);
        }
        if let Some(s) = self.slow_calls {
            b = b.slow_calls(s.threshold.0, s.rate);
        }
        if let Some(n) = self.minimum_calls {
            b = b.minimum_calls(n);
        }
        if let Some(d) = self.open_for {
            b = b.open_for(d.0);
        }
        if let Some(e) = self.open_exponential {
            b = b.open_exponential(e.base.0, e.multiplier, e.max.0);
        }
        if let Some(n) = self.half_open_trials {
            b = b.half_open_trials(n);
        }
        if let Some(n) = self.success_threshold {
            b = b.success_threshold(n);
        }
        if let Some(d) = self.half_open_max_wait {
            b = b.half_open_max_wait(d.0);
        }
        if let Some(on) = self.trip_error {
            b = b.trip_error(on);
        }
        b.build()
    }
}

/// A breaker built from a file, on the clock `C`.
pub type FileBreaker<C> = CircuitBreaker<C, Config<DynWindow>>;

/// A checked file: typed configurations and policies, ready to build breakers.
#[derive(Debug)]
pub struct Loaded {
    breakers: Vec<Entry>,
    limits: Vec<(&'static str, usize)>,
}

/// One checked breaker of a [`Loaded`] file.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Its configuration (its name is [`crate::Settings::name`]).
    pub config: Config<DynWindow>,
    /// Its policy (the concurrency limit, if any, is [`Entry::limit`]: attach the runtime
    /// adapter's limit of that name, `Limit::named`, to it).
    pub policy: Policy,
    /// The named limit and its permits, if the policy names one.
    pub limit: Option<(&'static str, usize)>,
}

impl Loaded {
    /// The checked breakers, in name order.
    pub fn breakers(&self) -> &[Entry] {
        &self.breakers
    }

    /// The named limits and their permits, in name order.
    pub fn limits(&self) -> &[(&'static str, usize)] {
        &self.limits
    }

    /// Builds every breaker on the clock `C` and registers it in `registry`; with `replace`, a
    /// breaker already registered under the name is swapped for the new one (a reload: see the
    /// [module documentation](self)).
    ///
    /// # Errors
    ///
    /// [`FileErrorKind::Registry`]: without `replace`, for a name already registered; for an
    /// empty name. The breakers before it in name order stay registered.
    pub fn register<C>(
        &self,
        registry: &Registry,
        replace: bool,
    ) -> Result<Vec<Arc<FileBreaker<C>>>, FileError>
    where
        C: GlobalClock + Send + Sync + 'static,
    {
        let mut built = vec![];
        for e in &self.breakers {
            let b = Arc::new(CircuitBreaker::<C, _>::new(e.config));
            let name = e.config.settings().name();
            let done = if replace {
                registry.replace(b.clone()).map(drop)
            } else {
                registry.register(b.clone())
            };
            done.map_err(|e| FileError {
                path: format!("breakers.{name}"),
                breaker: Some(name.into()),
                kind: Box::new(FileErrorKind::Registry(e)),
            })?;
            built.push(b);
        }
        Ok(built)
    }
}

#[cfg(test)]
mod tests;
