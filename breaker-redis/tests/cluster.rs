//! A small local Redis Cluster (3 masters): every key of a breaker hashes to one slot (the hash
//! tag), so its two-key script runs there without CROSSSLOT, and two views share the breaker
//! through the node that owns the slot, pub/sub included.
//!
//! Skipped, with a message, only when `redis-server` or `redis-cli` is not installed.

mod common;

use core::time::Duration as StdDuration;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Instant as StdInstant;

use breaker_core::machine::{Outcome, Report};
use breaker_core::{Config, Duration, State, StdClock};
use breaker_redis::{Op, Options, RedisBreaker};
use common::{eventually, leak, Count};
use std::sync::Arc;

struct Cluster {
    nodes: Vec<(u16, Child)>,
    dir: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, c) in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn installed(bin: &str) -> bool {
    Command::new(bin).arg("--version").output().is_ok()
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_cluster() -> Option<Cluster> {
    if !installed("redis-server") || !installed("redis-cli") {
        eprintln!(
            "SKIPPED: redis-server or redis-cli is not installed (apt-get install -y redis-server)"
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("breaker-redis-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Hold all three listeners until the ports are chosen, so they differ.
    let listeners: Vec<_> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(listeners);
    let mut cluster = Cluster {
        nodes: Vec::new(),
        dir: dir.clone(),
    };
    for &p in &ports {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &p.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &format!("nodes-{p}.conf"),
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        cluster.nodes.push((p, child));
    }
    let end = StdInstant::now() + StdDuration::from_secs(10);
    for &p in &ports {
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(
                StdInstant::now() < end,
                "a cluster node did not listen within 10 s"
            );
            std::thread::sleep(StdDuration::from_millis(10));
        }
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let status = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "redis-cli --cluster create failed");
    let end = StdInstant::now() + StdDuration::from_secs(15);
    for &p in &ports {
        while !cli(p, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
            assert!(
                StdInstant::now() < end,
                "the cluster did not become ok within 15 s"
            );
            std::thread::sleep(StdDuration::from_millis(50));
        }
    }
    Some(cluster)
}

/// The port of the master serving `slot`, from `CLUSTER SHARDS`-free parsing of
/// `CLUSTER NODES` (`... 127.0.0.1:port@bus ... master ... connected 0-5460`).
fn owner(port: u16, slot: u16) -> u16 {
    for line in cli(port, &["CLUSTER", "NODES"]).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 9 || !f[2].contains("master") {
            continue;
        }
        let node_port: u16 = f[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
        for range in &f[8..] {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (a, b): (u16, u16) = (a.parse().unwrap(), b.parse().unwrap());
            if (a..=b).contains(&slot) {
                return node_port;
            }
        }
    }
    panic!("no master serves slot {slot}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_breaker_lives_in_one_cluster_slot() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    let any = cluster.nodes[0].0;
    let config = Config::builder()
        .name("payments")
        .failure_threshold(3)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap();
    let probe = breaker_redis::Store::new("shop", "payments");
    let slot_of = |k: &str| -> u16 { cli(any, &["CLUSTER", "KEYSLOT", k]).trim().parse().unwrap() };
    let slot = slot_of(probe.key());
    assert_eq!(slot_of(probe.procs_key()), slot);
    assert_eq!(slot_of(probe.channel()), slot);
    let port = owner(any, slot);
    let url = format!("redis://127.0.0.1:{port}/0");
    // Two processes' views, the K-distinct guard on so that the script touches both keys.
    let opts = |id: &str| {
        Options::new(url.clone())
            .namespace("shop")
            .min_failing_processes(2)
            .process_id(id)
    };
    let a = RedisBreaker::new(config, opts("a"), StdClock, ()).unwrap();
    let b = RedisBreaker::new(config, opts("b"), StdClock, ()).unwrap();
    assert!(a.wait_synced(StdDuration::from_secs(5)).await);
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    for _ in 0..3 {
        a.execute(Op::Record(Report::new(0, Outcome::Failure)))
            .await
            .unwrap();
    }
    assert_eq!(a.view().state, State::Closed, "one process alone");
    let r = b
        .execute(Op::Record(Report::new(0, Outcome::Failure)))
        .await
        .unwrap();
    assert_eq!(
        (r.machine.state, r.machine.failures, r.machine.generation),
        (State::Open, 4, 1)
    );
    assert!(eventually(StdDuration::from_secs(2), || a.view().state == State::Open).await);
    // A breaker pointed at a node that does not own the slot: its reads fail with MOVED (it
    // never syncs, the outage policy answers), and a background report's error is reported
    // through `Events::on_store_error`, not dropped silently.
    let other = cluster
        .nodes
        .iter()
        .map(|(p, _)| *p)
        .find(|p| *p != port)
        .unwrap();
    let count = leak(Count::default());
    let wrong = Arc::new(
        RedisBreaker::new(
            config,
            Options::new(format!("redis://127.0.0.1:{other}/0")).namespace("shop"),
            StdClock,
            count,
        )
        .unwrap(),
    );
    assert!(!wrong.wait_synced(StdDuration::from_millis(500)).await);
    assert!(count.outages.load(core::sync::atomic::Ordering::SeqCst) >= 1);
    // The keys are on the owner and nowhere else.
    for (p, _) in &cluster.nodes {
        let here = cli(*p, &["EXISTS", probe.key()]).trim() == "1";
        assert_eq!(here, *p == port, "node {p}");
    }
}
