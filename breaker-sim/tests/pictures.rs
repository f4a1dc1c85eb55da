//! The pictures exist and are valid: SVG well-formed (a small XML checker below), PNG decoded
//! with the `png` crate at the size asked for.

use std::path::PathBuf;

use breaker_sim::plot::{self, PlotOptions};
use breaker_sim::{compare, sweep, Scenario};

fn scenario() -> Scenario {
    Scenario::from_toml(
        r#"
        seed = 11
        duration = "90s"
        load = { rps = 150 }
        [upstream]
        error_rate = 0.02
        [[upstream.phase]]
        kind = "outage"
        start = "20s"
        duration = "15s"
        [[upstream.phase]]
        kind = "brownout"
        start = "55s"
        duration = "20s"
        error_rate = 0.5
        ramp = "5s"
        [[config]]
        name = "a <consecutive> & friends"
        failure_threshold = 5
        open = "5s"
        [[config]]
        name = "rate"
        window = { kind = "count", size = 50 }
        failure_rate = 0.4
        open = "5s"
        [sweep]
        base = "rate"
        failure_rate = [0.2, 0.5]
        open = ["2s", "10s"]
        "#,
    )
    .unwrap()
}

fn out(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("breaker-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Checks that `text` is one well-formed XML element named `svg`: tags nest and close, attribute
/// values are quoted, and text holds no bare `<` or unknown entity.
fn check_xml(text: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                let rest = &text[i..];
                if rest.starts_with("<?") || rest.starts_with("<!") {
                    i += rest.find('>').ok_or("unclosed declaration")? + 1;
                    continue;
                }
                // Find the tag's end, skipping quoted attribute values.
                let mut j = i + 1;
                let mut quote = None;
                while j < b.len() {
                    match (quote, b[j]) {
                        (None, b'"' | b'\'') => quote = Some(b[j]),
                        (Some(q), c) if c == q => quote = None,
                        (None, b'>') => break,
                        (None, b'<') => return Err(format!("`<` inside a tag at {j}")),
                        _ => {}
                    }
                    j += 1;
                }
                if j == b.len() {
                    return Err("unclosed tag".into());
                }
                let tag = &text[i + 1..j];
                if let Some(name) = tag.strip_prefix('/') {
                    let open = stack.pop().ok_or(format!("stray </{name}>"))?;
                    if open != name.trim() {
                        return Err(format!("<{open}> closed by </{name}>"));
                    }
                } else {
                    let name = tag
                        .split(|c: char| c.is_whitespace() || c == '/')
                        .next()
                        .unwrap_or("");
                    if name.is_empty() {
                        return Err(format!("empty tag name at {i}"));
                    }
                    if stack.is_empty() {
                        roots += 1;
                        if name != "svg" {
                            return Err(format!("root element <{name}>"));
                        }
                    }
                    if !tag.ends_with('/') {
                        stack.push(name);
                    }
                }
                i = j + 1;
            }
            b'&' => {
                let rest = &text[i..];
                let end = rest.find(';').ok_or("bare &")?;
                let entity = &rest[1..end];
                let known = ["lt", "gt", "amp", "quot", "apos"].contains(&entity)
                    || entity.starts_with('#');
                if !known {
                    return Err(format!("unknown entity &{entity};"));
                }
                i += end + 1;
            }
            _ => i += 1,
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed <{}>", stack.join("> <")));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(())
}

fn check_png(path: &PathBuf, width: u32, height: u32) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (width, height));
    // Something was drawn: not a blank page.
    let first = &buf[..3];
    assert!(buf.chunks(3).any(|px| px != first));
}

#[test]
fn the_xml_checker_rejects_broken_svg() {
    assert!(check_xml(r#"<svg a="1"><g><text>x &amp; y</text></g><rect/></svg>"#).is_ok());
    for bad in [
        "<svg><g></svg>",
        "<svg></svg><svg></svg>",
        "<svg>a & b</svg>",
        "<svg><text>1 < 2</text></svg>",
        "<html></html>",
        "<svg",
    ] {
        assert!(check_xml(bad).is_err(), "{bad}");
    }
}

#[test]
fn timelines_are_valid_svg_and_png() {
    let runs = compare(&scenario()).unwrap();
    assert!(runs.iter().all(|r| !r.trips.is_empty()));
    let opts = PlotOptions {
        width: 500,
        panel_height: 160,
        ..PlotOptions::default()
    };
    let svg = out("timeline.svg");
    plot::timeline(&runs, &opts, &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    check_xml(&text).unwrap();
    // The trips are marked with their rule, and names are escaped.
    assert!(text.contains("trip: 5 consecutive"), "trip labels");
    assert!(text.contains("&lt;consecutive&gt; &amp; friends"));
    let png = out("timeline.png");
    plot::timeline(&runs, &opts, &png).unwrap();
    check_png(&png, 500, 320);
    // A zoomed window draws too.
    let zoom = PlotOptions {
        from: Some(15.0),
        to: Some(40.0),
        ..opts
    };
    plot::timeline(&runs[..1], &zoom, &out("zoom.svg")).unwrap();
    assert!(plot::timeline(&runs, &opts, &out("timeline.gif")).is_err());
}

#[test]
fn the_trade_off_is_valid_svg_and_png() {
    let result = sweep(&scenario()).unwrap();
    assert_eq!(result.points.len(), 4);
    let svg = out("sweep.svg");
    plot::trade_off(&result, &svg).unwrap();
    check_xml(&std::fs::read_to_string(&svg).unwrap()).unwrap();
    let png = out("sweep.png");
    plot::trade_off(&result, &png).unwrap();
    check_png(&png, 1000, 700);
}
