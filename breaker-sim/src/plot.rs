//! Pictures: a stacked timeline per configuration and the sweep's trade-off, as SVG or PNG.
//!
//! Text is drawn with DejaVu Sans, shipped in `assets/` (Bitstream Vera licence, see
//! `assets/DejaVuSans-LICENSE.txt`) and registered with plotters' `ab_glyph` renderer, so
//! neither the PNG nor the SVG backend needs a system font or fontconfig.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::breaker::SimState;
use crate::engine::Run;
use crate::error::SimError;
use crate::scenario::Health;
use crate::sweep::{detect_cost, SweepResult};

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() -> Result<(), SimError> {
    static ONCE: Once = Once::new();
    let mut ok = true;
    ONCE.call_once(|| {
        ok = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok();
    });
    if ok {
        Ok(())
    } else {
        Err(SimError::Plot("the bundled font could not be read".into()))
    }
}

/// What part of the timeline to draw, and how big.
#[derive(Clone, Copy, Debug)]
pub struct PlotOptions {
    /// First second shown (relative to the run's start; default 0).
    pub from: Option<f64>,
    /// Last second shown (default: the end).
    pub to: Option<f64>,
    /// Picture width in pixels.
    pub width: u32,
    /// Height of one configuration's panel.
    pub panel_height: u32,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            from: None,
            to: None,
            width: 1400,
            panel_height: 300,
        }
    }
}

fn plot_err<E: core::fmt::Debug>(e: E) -> SimError {
    SimError::Plot(format!("{e:?}"))
}

fn state_color(s: SimState) -> RGBColor {
    match s {
        SimState::Closed => RGBColor(120, 190, 120),
        SimState::Open => RGBColor(220, 60, 50),
        SimState::HalfOpen => RGBColor(240, 190, 50),
        SimState::ForcedOpen => RGBColor(130, 30, 30),
        SimState::Disabled => RGBColor(150, 150, 150),
    }
}

fn health_color(h: Health) -> RGBColor {
    match h {
        Health::Healthy => RGBColor(200, 225, 200),
        Health::Degraded => RGBColor(240, 160, 60),
        Health::Down => RGBColor(120, 20, 20),
    }
}

/// Draws the stacked timeline of `runs` to `path` (`.svg` or `.png`).
///
/// # Errors
///
/// [`SimError::Plot`] for another extension or a drawing failure, [`SimError::Io`] when the
/// file cannot be written.
pub fn timeline(runs: &[Run], opts: &PlotOptions, path: &Path) -> Result<(), SimError> {
    register_font()?;
    let h = opts.panel_height * runs.len().max(1) as u32;
    let size = (opts.width, h);
    match extension(path)? {
        Ext::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw_timeline(&root, runs, opts)?;
            root.present().map_err(|e| SimError::Io(format!("{e}")))
        }
        Ext::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw_timeline(&root, runs, opts)?;
            root.present().map_err(|e| SimError::Io(format!("{e}")))
        }
    }
}

/// Draws a sweep's trade-off (detection time against wrongly refused calls) to `path`.
///
/// # Errors
///
/// As [`timeline`].
pub fn trade_off(result: &SweepResult, path: &Path) -> Result<(), SimError> {
    register_font()?;
    let size = (1000, 700);
    match extension(path)? {
        Ext::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw_trade_off(&root, result)?;
            root.present().map_err(|e| SimError::Io(format!("{e}")))
        }
        Ext::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw_trade_off(&root, result)?;
            root.present().map_err(|e| SimError::Io(format!("{e}")))
        }
    }
}

enum Ext {
    Svg,
    Png,
}

fn extension(path: &Path) -> Result<Ext, SimError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(Ext::Svg),
        Some(e) if e.eq_ignore_ascii_case("png") => Ok(Ext::Png),
        _ => Err(SimError::Plot(format!(
            "{}: the picture's name must end in .svg or .png",
            path.display()
        ))),
    }
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    runs: &[Run],
    opts: &PlotOptions,
) -> Result<(), SimError> {
    root.fill(&WHITE).map_err(plot_err)?;
    let panels = root.split_evenly((runs.len().max(1), 1));
    for (run, panel) in runs.iter().zip(panels.iter()) {
        draw_panel(panel, run, opts)?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    run: &Run,
    opts: &PlotOptions,
) -> Result<(), SimError> {
    let secs = |us: u64| (us.saturating_sub(run.start)) as f64 / 1e6;
    let total = secs(run.end);
    let x0 = opts.from.unwrap_or(0.0).clamp(0.0, total);
    let x1 = opts
        .to
        .unwrap_or(total)
        .clamp(x0 + 1e-3, total.max(x0 + 1e-3));
    let bin_s = run.bin as f64 / 1e6;
    let visible = |i: usize| {
        let t = i as f64 * bin_s;
        t + bin_s >= x0 && t <= x1
    };
    let ymax = run
        .bins
        .iter()
        .enumerate()
        .filter(|(i, _)| visible(*i))
        .map(|(_, b)| (b.arrived.max(b.admitted + b.rejected)) as f64 / bin_s)
        .fold(1.0f64, f64::max)
        * 1.05;
    let (health_lo, health_hi) = (ymax * 1.04, ymax * 1.14);
    let (state_lo, state_hi) = (ymax * 1.17, ymax * 1.30);
    let title = format!("{}  ({})", run.spec, run.spec.summary());
    let mut chart = ChartBuilder::on(panel)
        .caption(title, (FONT, 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, 0f64..ymax * 1.32)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .x_desc("simulated time (s)")
        .y_desc("calls/s")
        .label_style((FONT, 12))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(plot_err)?;

    // Upstream health band: runs of equal health.
    let mut i = 0;
    while i < run.health.len() {
        let h = run.health[i];
        let mut j = i;
        while j < run.health.len() && run.health[j] == h {
            j += 1;
        }
        let (a, b) = ((i as f64 * bin_s).max(x0), (j as f64 * bin_s).min(x1));
        if a < b {
            chart
                .draw_series(core::iter::once(Rectangle::new(
                    [(a, health_lo), (b, health_hi)],
                    health_color(h).filled(),
                )))
                .map_err(plot_err)?;
        }
        i = j;
    }
    // State band: from the state changes.
    let mut spans = Vec::new();
    let mut state = SimState::Closed;
    let mut since = 0.0;
    for c in &run.changes {
        let t = secs(c.at);
        spans.push((since, t, state));
        state = c.to;
        since = t;
    }
    spans.push((since, total, state));
    chart
        .draw_series(spans.iter().filter_map(|&(a, b, s)| {
            let (a, b) = (a.max(x0), b.min(x1));
            // A span thinner than a pixel still shows, as a sliver.
            (a <= b).then(|| {
                Rectangle::new(
                    [(a, state_lo), (b.max(a + (x1 - x0) / 2000.0), state_hi)],
                    state_color(s).filled(),
                )
            })
        }))
        .map_err(plot_err)?;
    let band_label = |y: f64, text: &str| {
        Text::new(
            text.to_string(),
            (x0 + (x1 - x0) * 0.003, y),
            TextStyle::from((FONT, 11).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        )
    };
    chart
        .draw_series([
            band_label((state_lo + state_hi) / 2.0, "breaker"),
            band_label((health_lo + health_hi) / 2.0, "upstream"),
        ])
        .map_err(plot_err)?;

    // Rates.
    let series = |pick: fn(&crate::engine::Bin) -> u32| {
        run.bins
            .iter()
            .enumerate()
            .filter(|(i, _)| visible(*i))
            .map(move |(i, b)| ((i as f64 + 0.5) * bin_s, pick(b) as f64 / bin_s))
            .collect::<Vec<_>>()
    };
    type Pick = fn(&crate::engine::Bin) -> u32;
    let lines: [(&str, RGBColor, Pick); 3] = [
        ("admitted/s", RGBColor(40, 90, 200), |b| b.admitted),
        ("failed/s", RGBColor(200, 30, 30), |b| b.failed),
        ("rejected/s", RGBColor(120, 120, 120), |b| {
            b.rejected + b.limited
        }),
    ];
    for (name, color, pick) in lines {
        chart
            .draw_series(LineSeries::new(series(pick), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }

    // Trips, with the rule that fired (derived by the simulator; see `TripReason`).
    let shown: Vec<_> = run
        .trips
        .iter()
        .filter(|t| (x0..=x1).contains(&secs(t.at)))
        .collect();
    chart
        .draw_series(shown.iter().map(|t| {
            let x = secs(t.at);
            PathElement::new([(x, 0.0), (x, state_hi)], BLACK.mix(0.6).stroke_width(1))
        }))
        .map_err(plot_err)?;
    let max_labels = 24;
    chart
        .draw_series(shown.iter().take(max_labels).enumerate().map(|(k, t)| {
            let x = secs(t.at);
            let y = ymax * (0.95 - 0.09 * (k % 4) as f64);
            Text::new(
                format!("trip: {}", t.reason.label()),
                (x, y),
                TextStyle::from((FONT, 11).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))
        .map_err(plot_err)?;
    if shown.len() > max_labels {
        chart
            .draw_series(core::iter::once(Text::new(
                format!("(+{} more trips)", shown.len() - max_labels),
                (x1 - (x1 - x0) * 0.12, ymax * 0.6),
                (FONT, 11).into_font(),
            )))
            .map_err(plot_err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 11))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

fn draw_trade_off<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    result: &SweepResult,
) -> Result<(), SimError> {
    root.fill(&WHITE).map_err(plot_err)?;
    // Wrong refusals span orders of magnitude (a breaker that keeps opening refuses hundreds of
    // thousands): a log axis, over refusals + 1 so that zero has a place.
    let pts: Vec<(f64, f64)> = result
        .points
        .iter()
        .map(|r| (detect_cost(r), r.wrongly_refused as f64 + 1.0))
        .collect();
    let xmax = pts.iter().map(|p| p.0).fold(1e-3, f64::max) * 1.1;
    let ymax = pts.iter().map(|p| p.1).fold(10.0, f64::max) * 3.0;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "detection time vs healthy calls refused (Pareto front in red, * recommended)",
            (FONT, 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..xmax, (1f64..ymax).log_scale())
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("mean time to detect an incident (s)")
        .y_desc("healthy calls refused + 1 (log)")
        .label_style((FONT, 12))
        .y_label_formatter(&|y| format!("{:.0}", y))
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series(
            pts.iter()
                .map(|&p| Circle::new(p, 4, RGBColor(120, 120, 120).filled())),
        )
        .map_err(plot_err)?;
    let mut front: Vec<(f64, f64, usize)> = result
        .pareto
        .iter()
        .map(|&i| (pts[i].0, pts[i].1, i))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart
        .draw_series(LineSeries::new(
            front.iter().map(|p| (p.0, p.1)),
            RGBColor(200, 30, 30).stroke_width(2),
        ))
        .map_err(plot_err)?;
    chart
        .draw_series(
            front
                .iter()
                .map(|p| Circle::new((p.0, p.1), 6, RGBColor(200, 30, 30).filled())),
        )
        .map_err(plot_err)?;
    chart
        .draw_series(front.iter().take(16).enumerate().map(|(k, p)| {
            let star = if Some(p.2) == result.recommended {
                "* "
            } else {
                ""
            };
            // Alternate above and below the point, so that neighbours do not overprint.
            let v = if k % 2 == 0 { VPos::Bottom } else { VPos::Top };
            Text::new(
                format!(" {star}{}", result.points[p.2].name),
                (p.0, p.1),
                TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, v)),
            )
        }))
        .map_err(plot_err)?;
    if let Some(r) = result.recommended {
        chart
            .draw_series(core::iter::once(Circle::new(
                pts[r],
                11,
                BLACK.stroke_width(2),
            )))
            .map_err(plot_err)?;
    }
    Ok(())
}
