//! `breaker-sim`: replays a scenario or a recorded trace against breaker configurations in
//! simulated time, with the real breaker-core machine, and reports and draws the result.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use breaker_sim::plot::{self, PlotOptions};
use breaker_sim::{metrics, ConfigSpec, Dur, Run, Scenario, SimError, Trace, Workload};

const USAGE: &str = "\
usage:
  breaker-sim run    SCENARIO.toml [options]   every [[config]] of the scenario, side by side
  breaker-sim sweep  SCENARIO.toml [options]   the [sweep] grid, with its Pareto front
  breaker-sim replay TRACE.csv --configs FILE.toml [--bin 1s] [options]
                                               a recorded trace against FILE's [[config]]s
options:
  --plot FILE.svg|FILE.png   draw (timeline for run/replay, trade-off for sweep); repeatable
  --timeline FILE            sweep: also draw the timeline of the recommended configuration
  --from SECONDS --to SECONDS    the part of the timeline to draw
  --json FILE                write the reports as JSON
  --quiet                    no table";

/// Prints to stdout; a closed stdout (`| head`) ends the program quietly instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        if write!(std::io::stdout().lock(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}
macro_rules! outln {
    ($($t:tt)*) => {{
        if writeln!(std::io::stdout().lock(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

#[derive(Default)]
struct Args {
    command: String,
    input: PathBuf,
    configs: Option<PathBuf>,
    plots: Vec<PathBuf>,
    timeline: Option<PathBuf>,
    json: Option<PathBuf>,
    bin: Option<Dur>,
    from: Option<f64>,
    to: Option<f64>,
    quiet: bool,
}

fn parse_args() -> Result<Args, SimError> {
    let mut it = std::env::args().skip(1);
    let usage = |m: &str| SimError::Usage(format!("{m}\n{USAGE}"));
    let mut a = Args {
        command: it.next().ok_or_else(|| usage("no command"))?,
        ..Args::default()
    };
    if a.command == "--help" || a.command == "-h" || a.command == "help" {
        outln!("{USAGE}");
        std::process::exit(0);
    }
    a.input = it
        .next()
        .map(PathBuf::from)
        .ok_or_else(|| usage("no input file"))?;
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let secs = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| usage(&format!("`{v}` is not a number of seconds")))
        };
        match flag.as_str() {
            "--plot" => a.plots.push(value()?.into()),
            "--timeline" => a.timeline = Some(value()?.into()),
            "--json" => a.json = Some(value()?.into()),
            "--configs" => a.configs = Some(value()?.into()),
            "--bin" => a.bin = Some(value()?.parse()?),
            "--from" => a.from = Some(secs(value()?)?),
            "--to" => a.to = Some(secs(value()?)?),
            "--quiet" => a.quiet = true,
            other => return Err(usage(&format!("unknown option `{other}`"))),
        }
    }
    Ok(a)
}

fn read(path: &PathBuf) -> Result<String, SimError> {
    std::fs::read_to_string(path).map_err(|e| SimError::Io(format!("{}: {e}", path.display())))
}

fn write(path: &PathBuf, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(|e| SimError::Io(format!("{}: {e}", path.display())))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, SimError> {
    serde_json::to_string_pretty(v).map_err(|e| SimError::Io(e.to_string()))
}

#[derive(serde::Deserialize)]
struct ConfigsFile {
    #[serde(default, rename = "config")]
    configs: Vec<ConfigSpec>,
}

fn speed(calls: u64, started: Instant) -> String {
    let s = started.elapsed().as_secs_f64();
    format!(
        "simulated {calls} calls in {s:.3} s: {:.0} calls/s{}",
        calls as f64 / s.max(1e-9),
        if cfg!(debug_assertions) {
            " (debug build; use --release for speed)"
        } else {
            ""
        }
    )
}

fn print_runs(runs: &[Run], args: &Args, started: Instant) -> Result<(), SimError> {
    let reports: Vec<_> = runs.iter().map(metrics::report).collect();
    if !args.quiet {
        out!("{}", metrics::table(&reports));
        out!("{}", metrics::incident_lines(&reports));
        for r in runs {
            for t in &r.trips {
                outln!(
                    "{}: trip at {:.3}s from {}: {}",
                    r.spec,
                    (t.at - r.start) as f64 / 1e6,
                    t.from.as_str(),
                    t.reason.label()
                );
            }
        }
    }
    outln!("{}", speed(reports.iter().map(|r| r.calls).sum(), started));
    let opts = PlotOptions {
        from: args.from,
        to: args.to,
        ..PlotOptions::default()
    };
    for p in &args.plots {
        plot::timeline(runs, &opts, p)?;
        outln!("wrote {}", p.display());
    }
    if let Some(j) = &args.json {
        write(j, &json(&reports)?)?;
        outln!("wrote {}", j.display());
    }
    Ok(())
}

fn main_inner() -> Result<(), SimError> {
    let args = parse_args()?;
    match args.command.as_str() {
        "run" => {
            let scenario = Scenario::from_toml(&read(&args.input)?)?;
            let started = Instant::now();
            let runs = breaker_sim::compare(&scenario)?;
            print_runs(&runs, &args, started)
        }
        "replay" => {
            let trace = Trace::parse(&read(&args.input)?)?;
            let path = args
                .configs
                .as_ref()
                .ok_or_else(|| SimError::Usage(format!("replay needs --configs\n{USAGE}")))?;
            let file: ConfigsFile = toml::from_str(&read(path)?)
                .map_err(|e| SimError::Scenario(format!("{}: {e}", path.display())))?;
            if file.configs.is_empty() {
                return Err(SimError::Scenario(format!(
                    "{}: no [[config]]",
                    path.display()
                )));
            }
            let bin = args.bin.unwrap_or(Dur::secs(1)).0.max(1);
            let started = Instant::now();
            let runs = file
                .configs
                .iter()
                .map(|c| breaker_sim::run(c, Workload::Trace(&trace, bin)))
                .collect::<Result<Vec<_>, _>>()?;
            print_runs(&runs, &args, started)
        }
        "sweep" => {
            let scenario = Scenario::from_toml(&read(&args.input)?)?;
            let started = Instant::now();
            let result = breaker_sim::sweep(&scenario)?;
            let calls: u64 = result.points.iter().map(|r| r.calls).sum();
            let elapsed = speed(calls, started);
            if !args.quiet {
                out!("{}", metrics::table(&result.points));
                outln!("Pareto front (detection time vs healthy calls refused):");
                for &i in &result.pareto {
                    let r = &result.points[i];
                    let mark = if Some(i) == result.recommended {
                        " <- recommended"
                    } else {
                        ""
                    };
                    outln!(
                        "  {}: detect {} s, {} wrongly refused, {} leaked{mark}",
                        r.name,
                        r.detect_s.map_or("-".into(), |d| format!("{d:.2}")),
                        r.wrongly_refused,
                        r.leaked
                    );
                }
            }
            outln!("{elapsed}");
            for p in &args.plots {
                plot::trade_off(&result, p)?;
                outln!("wrote {}", p.display());
            }
            if let (Some(p), Some(i)) = (&args.timeline, result.recommended) {
                let grid = scenario
                    .sweep
                    .as_ref()
                    .map(|s| s.expand(&scenario.configs))
                    .transpose()?
                    .unwrap_or_default();
                let run = breaker_sim::run(&grid[i], Workload::Scenario(&scenario))?;
                let opts = PlotOptions {
                    from: args.from,
                    to: args.to,
                    ..PlotOptions::default()
                };
                plot::timeline(&[run], &opts, p)?;
                outln!("wrote {}", p.display());
            }
            if let Some(j) = &args.json {
                write(j, &json(&result)?)?;
                outln!("wrote {}", j.display());
            }
            Ok(())
        }
        other => Err(SimError::Usage(format!(
            "unknown command `{other}`\n{USAGE}"
        ))),
    }
}

fn main() -> ExitCode {
    match main_inner() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("breaker-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
