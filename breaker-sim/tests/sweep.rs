//! The sweep's grid and its Pareto front.

use breaker_sim::sweep::trade_off;
use breaker_sim::{report, run, ConfigSpec, Dur, Scenario, Sweep, Workload};

#[test]
fn the_grid_is_the_product_of_the_lists() {
    let s = Sweep {
        failure_threshold: vec![3, 5, 10],
        open: vec![Dur::secs(5), Dur::secs(30)],
        ..Sweep::default()
    };
    let grid = s.expand(&[]).unwrap();
    assert_eq!(grid.len(), 6);
    assert_eq!(grid[0].name, "ft=3 open=5s");
    assert_eq!(grid[5].failure_threshold, Some(10));
    assert_eq!(grid[5].open, Some(Dur::secs(30)));
    assert!(Sweep::default().expand(&[]).is_err());
    let missing = Sweep {
        base: Some("nope".into()),
        open: vec![Dur::secs(1)],
        ..Sweep::default()
    };
    assert!(missing.expand(&[]).is_err());
}

/// Reports with made-up numbers: (detect, wrongly refused, leaked). The front is the points no
/// other beats on both axes; the recommendation is the front's point with the fewest bad calls.
#[test]
fn the_pareto_front_is_the_non_dominated_points() {
    let s = Scenario::from_toml("duration = 1\nload = { rps = 1 }").unwrap();
    let base = report(&run(&ConfigSpec::default(), Workload::Scenario(&s)).unwrap());
    let point = |name: &str, detect: f64, wrong: u64, leaked: u64| {
        let mut r = base.clone();
        r.name = name.into();
        r.detect_s = Some(detect);
        r.wrongly_refused = wrong;
        r.leaked = leaked;
        r
    };
    let result = trade_off(vec![
        point("fast, refuses a lot", 0.1, 500, 10),
        point("dominated", 2.0, 600, 5),
        point("balanced", 1.0, 100, 80),
        point("slow, refuses nothing", 5.0, 0, 400),
        point(
            "equal to balanced on one axis, worse on the other",
            1.0,
            150,
            1,
        ),
        point("the same numbers as balanced", 1.0, 100, 80),
    ]);
    assert_eq!(result.pareto, [0, 2, 3]);
    assert_eq!(result.recommended, Some(2)); // 180 bad calls against 510 and 400
}

/// On a real run: a lower threshold detects sooner and, with errors in healthy traffic, opens
/// falsely more often.
#[test]
fn a_lower_threshold_trades_wrong_refusals_for_detection() {
    let s = Scenario::from_toml(
        r#"
        seed = 2
        duration = "5m"
        load = { rps = 200 }
        [upstream]
        error_rate = 0.15
        [[upstream.phase]]
        kind = "outage"
        start = "2m"
        duration = "30s"
        [sweep]
        failure_threshold = [2, 10]
        open = ["10s"]
        "#,
    )
    .unwrap();
    let result = breaker_sim::sweep(&s).unwrap();
    let (low, high) = (&result.points[0], &result.points[1]);
    assert!(low.detect_s.unwrap() < high.detect_s.unwrap());
    assert!(low.false_opens > high.false_opens);
    assert!(low.wrongly_refused > high.wrongly_refused);
}
