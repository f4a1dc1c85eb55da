//! Two processes share one breaker; their timelines are printed side by side.
//!
//! `cargo run -p breaker-redis --example two_processes -- redis://127.0.0.1:6379/0`
//! starts itself a second time (as process B) and prints both timelines in two columns:
//! A's failures trip the shared breaker, and B, which never failed, is refused from then on,
//! until the trial (taken by whichever process asks first) closes it again.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use breaker_core::{Breaker, Config, Duration, Handle, StdClock};
use breaker_redis::{Options, RedisBreaker};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn core::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".into());
    let role = std::env::args().nth(2).unwrap_or_else(|| "A".into());
    if role == "A" {
        let mut b = Command::new(std::env::current_exe()?)
            .args([&url, "B"])
            .stdout(Stdio::piped())
            .spawn()?;
        let out = b.stdout.take().expect("piped");
        let printer = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("{:38}| {line}", "");
            }
        });
        println!("{:38}| process B", "process A");
        run("A", &url).await?;
        b.wait()?;
        printer.join().ok();
    } else {
        run("B", &url).await?;
    }
    Ok(())
}

async fn run(role: &str, url: &str) -> Result<(), Box<dyn core::error::Error>> {
    let config = Config::builder()
        .name("example")
        .failure_threshold(3)
        .open_for(Duration::from_millis(600))
        .build()?;
    let breaker = Arc::new(RedisBreaker::new(
        config,
        Options::new(url).namespace("two-processes"),
        StdClock,
        (),
    )?);
    breaker
        .wait_synced(core::time::Duration::from_secs(3))
        .await;
    if role == "A" {
        breaker.manual(breaker_core::machine::Manual::Close).await?;
    }
    let start = Instant::now();
    if role == "B" {
        tokio::time::sleep(core::time::Duration::from_millis(550)).await;
    }
    for step in 0..14 {
        let step = if role == "B" { step + 6 } else { step };
        tokio::time::sleep(core::time::Duration::from_millis(100)).await;
        // A's upstream fails three times in a row; B's never does (B starts calling later, so
        // its successes do not break A's run of consecutive failures).
        let fail = role == "A" && (2..5).contains(&step);
        let outcome = match Arc::clone(&breaker).try_acquire() {
            Ok(p) if fail => {
                p.failure();
                "call failed"
            }
            Ok(p) => {
                let trial = p.is_trial();
                p.success();
                if trial {
                    "trial ok"
                } else {
                    "call ok"
                }
            }
            Err(_) => "rejected",
        };
        let line = format!(
            "{:4} ms {:10} {}",
            start.elapsed().as_millis(),
            Breaker::state(&*breaker).as_str(),
            outcome
        );
        // B's lines go to A through the pipe, which prints them in the right-hand column.
        println!("{line}");
    }
    Ok(())
}
