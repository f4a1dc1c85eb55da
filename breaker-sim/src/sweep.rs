//! A grid of configurations, and the trade-off between detecting outages fast and refusing
//! healthy calls.

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::metrics::Report;
use crate::scenario::Dur;
use crate::spec::{ConfigSpec, WindowSpec};

/// The `[sweep]` table: a base configuration and lists of values; every combination is run.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// The `[[config]]` the grid starts from (by name; default: a configuration with core
    /// defaults).
    #[serde(default)]
    pub base: Option<String>,
    /// Consecutive-failure thresholds (0: rule off).
    #[serde(default)]
    pub failure_threshold: Vec<u32>,
    /// Open durations.
    #[serde(default)]
    pub open: Vec<Dur>,
    /// Count-window sizes (sets a count window).
    #[serde(default)]
    pub window_size: Vec<u32>,
    /// Failure rates.
    #[serde(default)]
    pub failure_rate: Vec<f64>,
    /// Minimum calls.
    #[serde(default)]
    pub minimum_calls: Vec<u32>,
    /// Slow-call rates.
    #[serde(default)]
    pub slow_rate: Vec<f64>,
}

impl Sweep {
    /// Every configuration of the grid, named after the values that vary.
    ///
    /// # Errors
    ///
    /// [`SimError::Scenario`] if `base` names no configuration, or the grid is empty or larger
    /// than 10,000 points.
    pub fn expand(&self, configs: &[ConfigSpec]) -> Result<Vec<ConfigSpec>, SimError> {
        let base = match &self.base {
            Some(name) => configs
                .iter()
                .find(|c| &c.name == name)
                .cloned()
                .ok_or_else(|| {
                    SimError::Scenario(format!("sweep.base `{name}` is no [[config]]"))
                })?,
            None => ConfigSpec::default(),
        };
        let mut grid = vec![(base, Vec::<String>::new())];
        fn axis<T: Clone>(
            grid: Vec<(ConfigSpec, Vec<String>)>,
            values: &[T],
            set: impl Fn(&mut ConfigSpec, &T) -> String,
        ) -> Vec<(ConfigSpec, Vec<String>)> {
            if values.is_empty() {
                return grid;
            }
            let set = &set;
            grid.into_iter()
                .flat_map(|(c, names)| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        let mut names = names.clone();
                        names.push(set(&mut c, v));
                        (c, names)
                    })
                })
                .collect()
        }
        grid = axis(grid, &self.failure_threshold, |c, v| {
            c.failure_threshold = Some(*v);
            format!("ft={v}")
        });
        grid = axis(grid, &self.window_size, |c, v| {
            c.window = Some(WindowSpec::Count { size: *v });
            format!("win={v}")
        });
        grid = axis(grid, &self.failure_rate, |c, v| {
            c.failure_rate = Some(*v);
            format!("rate={v}")
        });
        grid = axis(grid, &self.minimum_calls, |c, v| {
            c.minimum_calls = Some(*v);
            format!("min={v}")
        });
        grid = axis(grid, &self.slow_rate, |c, v| {
            c.slow_rate = Some(*v);
            format!("slow={v}")
        });
        grid = axis(grid, &self.open, |c, v| {
            c.open = Some(*v);
            format!("open={v}")
        });
        if grid.len() > 10_000 {
            return Err(SimError::Scenario(format!(
                "the sweep has {} points; at most 10,000",
                grid.len()
            )));
        }
        if grid.len() == 1 && grid[0].1.is_empty() {
            return Err(SimError::Scenario("the sweep lists no values".into()));
        }
        Ok(grid
            .into_iter()
            .map(|(mut c, names)| {
                c.name = names.join(" ");
                c
            })
            .collect())
    }
}

/// A sweep's outcome: every point, the Pareto front of (detection time, wrongly refused calls),
/// and the point recommended.
#[derive(Clone, Debug, Serialize)]
pub struct SweepResult {
    /// Every point's report.
    pub points: Vec<Report>,
    /// Indexes into `points` of the Pareto-optimal configurations: no other point detects at
    /// least as fast while refusing at most as many healthy calls, and is better in one (of
    /// several configurations with the very same numbers, the first).
    pub pareto: Vec<usize>,
    /// The front's point with the fewest bad calls (leaked into incidents plus wrongly
    /// refused), faster detection breaking ties.
    pub recommended: Option<usize>,
}

/// Detection cost used for the trade-off (an undetected incident counts its whole length).
pub fn detect_cost(r: &Report) -> f64 {
    r.detect_s.unwrap_or(0.0)
}

/// Marks the Pareto front and the recommendation.
pub fn trade_off(points: Vec<Report>) -> SweepResult {
    let key = |r: &Report| (detect_cost(r), r.wrongly_refused as f64);
    // Configurations that behave identically (say, a consecutive threshold no run reaches) share
    // a point: the front keeps the first of them.
    let pareto: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let (d, w) = key(&points[i]);
            let dominated = points.iter().any(|o| {
                let (od, ow) = key(o);
                od <= d && ow <= w && (od < d || ow < w)
            });
            let repeated = points[..i].iter().any(|o| key(o) == (d, w));
            !dominated && !repeated
        })
        .collect();
    let recommended = pareto.iter().copied().min_by(|&a, &b| {
        let bad = |r: &Report| r.leaked + r.wrongly_refused;
        bad(&points[a])
            .cmp(&bad(&points[b]))
            .then(detect_cost(&points[a]).total_cmp(&detect_cost(&points[b])))
    });
    SweepResult {
        points,
        pareto,
        recommended,
    }
}
