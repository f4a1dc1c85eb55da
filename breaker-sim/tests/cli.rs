//! The command: a scenario runs and reports; bad input is an error message and a failing exit
//! status, never a panic.

use std::process::Command;

fn sim(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_breaker-sim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_scenario_runs_and_reports() {
    let json = std::env::temp_dir().join(format!("breaker-sim-cli-{}.json", std::process::id()));
    let (ok, out, err) = sim(&[
        "run",
        "scenarios/compare.toml",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("consecutive 5, open 10s"), "{out}");
    assert!(out.contains("calls/s"), "{out}");
    assert!(out.contains("trip at 60."), "{out}");
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 3);
    assert!(reports[0]["incidents"][0]["detect_s"].as_f64().unwrap() < 1.0);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let missing = sim(&["run", "no-such-file.toml"]);
    let no_command = sim(&[]);
    let unknown = sim(&["launch", "scenarios/compare.toml"]);
    let bad_flag = sim(&["run", "scenarios/compare.toml", "--plot"]);
    let bad_ext = sim(&[
        "run",
        "scenarios/compare.toml",
        "--plot",
        "/tmp/x.gif",
        "--quiet",
    ]);
    let replay_without_configs = sim(&["replay", "scenarios/compare.toml"]);
    for (ok, _, err) in [
        missing,
        no_command,
        unknown,
        bad_flag,
        bad_ext,
        replay_without_configs,
    ] {
        assert!(!ok);
        assert!(err.starts_with("breaker-sim: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
