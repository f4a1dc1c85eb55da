#![doc = include_str!("../README.md")]

pub mod breaker;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod plot;
pub mod rng;
pub mod scenario;
pub mod spec;
pub mod sweep;
pub mod trace;

pub use breaker::{Change, SimState, TraceRecorder};
pub use engine::{Run, Trip, TripReason, Workload};
pub use error::SimError;
pub use metrics::{report, Report};
pub use scenario::{Dur, Scenario};
pub use spec::{ConfigSpec, WindowSpec};
pub use sweep::{Sweep, SweepResult};
pub use trace::Trace;

/// Runs one configuration against a workload, on the real breaker with a manual clock.
///
/// A scenario runs from time 0 with its seed; a trace runs on its own timeline (the breaker's
/// clock starts at the trace's first instant) with seed 0 (a trace replay draws no random
/// numbers, except jitter if the configuration asks for it).
///
/// # Errors
///
/// [`SimError::Config`] when the core refuses the configuration, [`SimError::Unsupported`] for
/// a window size the simulator cannot build.
///
/// # Examples
///
/// ```
/// use breaker_sim::{run, ConfigSpec, Scenario, Workload};
///
/// let scenario = Scenario::from_toml(r#"
///     seed = 1
///     duration = "60s"
///     load = { rps = 100 }
///     [[upstream.phase]]
///     kind = "outage"
///     start = "20s"
///     duration = "10s"
/// "#)?;
/// let spec = ConfigSpec { failure_threshold: Some(5), open: Some("5s".parse()?), ..Default::default() };
/// let run = run(&spec, Workload::Scenario(&scenario))?;
/// let report = breaker_sim::report(&run);
/// assert!(report.incidents[0].detect_s.unwrap() < 0.5); // 5 failures at ~100/s
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(spec: &ConfigSpec, workload: Workload<'_>) -> Result<Run, SimError> {
    let (start, seed) = match workload {
        Workload::Scenario(s) => (0, s.seed),
        Workload::Trace(t, _) => (engine::trace_start(t), 0),
    };
    breaker::with_subject(spec, start, seed, &mut |subject| {
        engine::simulate(subject, spec, workload)
    })
}

/// Runs every `[[config]]` of a scenario.
///
/// # Errors
///
/// As [`run`], for the first configuration that fails; [`SimError::Scenario`] if there is none.
pub fn compare(scenario: &Scenario) -> Result<Vec<Run>, SimError> {
    if scenario.configs.is_empty() {
        return Err(SimError::Scenario("no [[config]] to run".into()));
    }
    scenario
        .configs
        .iter()
        .map(|c| run(c, Workload::Scenario(scenario)))
        .collect()
}

/// Runs a scenario's sweep grid and marks the trade-off.
///
/// # Errors
///
/// [`SimError::Scenario`] without a `[sweep]`, or as [`sweep::Sweep::expand`] and [`run`].
pub fn sweep(scenario: &Scenario) -> Result<SweepResult, SimError> {
    let grid = scenario
        .sweep
        .as_ref()
        .ok_or_else(|| SimError::Scenario("no [sweep] table".into()))?
        .expand(&scenario.configs)?;
    let reports = grid
        .iter()
        .map(|c| run(c, Workload::Scenario(scenario)).map(|r| report(&r)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sweep::trade_off(reports))
}

impl core::str::FromStr for Dur {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dur::parse(s).map_err(SimError::Usage)
    }
}
