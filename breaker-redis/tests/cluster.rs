//! A small local Redis Cluster (3 masters): every key of a breaker hashes to one slot (the hash
//! tag), so its two-key script runs there without CROSSSLOT; views built with
//! `Options::cluster` and given any node (one that does not own the slot included) share the
//! breaker, pub/sub included, on tokio and on smol; and when the slot moves to another master,
//! the views follow `MOVED` without an outage. A single-node view (`Options::new`) pointed at a
//! node that does not own the slot stays in the outage policy.
//!
//! Skipped, with a message, only when `redis-server` or `redis-cli` is not installed.

mod common;

use core::time::Duration as StdDuration;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Instant as StdInstant;

use breaker_core::machine::{Outcome, Report};
use breaker_core::{Config, Duration, State, StdClock};
use breaker_redis::{Executor, Op, Options, RedisBreaker};
use common::{eventually, eventually_any, leak, Count};
use std::sync::Arc;

struct Cluster {
    nodes: Vec<(u16, Child)>,
    dir: std::path::PathBuf,
}

impl Cluster {
    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|(p, _)| *p).collect()
    }
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

fn config() -> Config {
    Config::builder()
        .name("payments")
        .failure_threshold(3)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The breaker's slot and the port of the master that owns it.
fn slot_owner(any: u16) -> (u16, u16) {
    let key = breaker_redis::Store::new("shop", "payments")
        .key()
        .to_owned();
    let slot: u16 = cli(any, &["CLUSTER", "KEYSLOT", &key])
        .trim()
        .parse()
        .unwrap();
    (slot, owner(any, slot))
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
    // One directory per cluster: the tests of this binary run at once.
    static NEXT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "breaker-redis-cluster-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // Hold all six listeners until the ports are chosen, so they differ: three client ports
    // and three cluster-bus ports (`--cluster-port`; the default, port + 10000, may be past
    // 65535 for an ephemeral port).
    let listeners: Vec<_> = (0..6)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let bus = ports.split_off(3);
    drop(listeners);
    let mut cluster = Cluster {
        nodes: Vec::new(),
        dir: dir.clone(),
    };
    for (&p, &bus) in ports.iter().zip(&bus) {
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
                "--cluster-port",
                &bus.to_string(),
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

/// Views that use the cluster client, each given one node (two that do not own the slot, and
/// the owner) or the whole list, all share the breaker: failures from two of them trip it
/// (K-distinct guard on, so both keys are touched), and the others see the trip through
/// pub/sub alone (polling is set to a minute), whichever node they subscribed on.
async fn any_node_shares_the_breaker(cluster: &Cluster, executor: Executor) {
    let ports = cluster.ports();
    let (_, port) = slot_owner(ports[0]);
    let others: Vec<u16> = ports.iter().copied().filter(|p| *p != port).collect();
    let count = leak(Count::default());
    let view = |id: &str, urls: Vec<String>| {
        let options = Options::cluster(urls)
            .namespace("shop")
            .min_failing_processes(2)
            .process_id(id)
            .poll_interval(StdDuration::from_secs(60))
            .executor(executor.clone());
        assert!(options.is_cluster());
        RedisBreaker::new(config(), options, StdClock, count).unwrap()
    };
    // `a` and `b` know only a node that does not own the slot; `c` only the owner; `d` the
    // whole list, a non-owner first (its subscription is on that one).
    let a = view("a", vec![url(others[0])]);
    let b = view("b", vec![url(others[1])]);
    let c = view("c", vec![url(port)]);
    let d = view("d", vec![url(others[1]), url(others[0]), url(port)]);
    for v in [&a, &b, &c, &d] {
        assert!(v.wait_synced(StdDuration::from_secs(10)).await);
    }
    let fail = Op::Record(Report::new(0, Outcome::Failure));
    for _ in 0..3 {
        let r = a.execute(fail).await.unwrap();
        assert_eq!(r.machine.state, State::Closed, "one process alone");
    }
    let r = b.execute(fail).await.unwrap();
    assert_eq!(
        (r.machine.state, r.machine.failures, r.machine.generation),
        (State::Open, 4, 1)
    );
    // `c` and `d` sent nothing: only a published message can tell them.
    for v in [&a, &c, &d] {
        assert!(eventually_any(StdDuration::from_secs(5), || v.view().state == State::Open).await);
    }
    assert_eq!(
        c.commands_sent(),
        1,
        "c read once (its resync), nothing else"
    );
    assert_eq!(count.outages.load(core::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        count
            .store_errors
            .load(core::sync::atomic::Ordering::SeqCst),
        0
    );
    // The keys are on the owner and nowhere else.
    let probe = breaker_redis::Store::new("shop", "payments");
    for p in &ports {
        let here = cli(*p, &["EXISTS", probe.key()]).trim() == "1";
        assert_eq!(here, *p == port, "node {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_views_given_any_node_share_the_breaker_on_tokio() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    any_node_shares_the_breaker(&cluster, Executor::tokio()).await;
}

#[cfg(feature = "smol")]
#[test]
fn cluster_views_given_any_node_share_the_breaker_on_smol() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    smol::block_on(any_node_shares_the_breaker(&cluster, Executor::smol()));
}

fn node_id(port: u16) -> String {
    cli(port, &["CLUSTER", "MYID"]).trim().to_owned()
}

/// Moves `slot` (and its keys) from the master at `from` to the one at `to`, as
/// `redis-cli --cluster reshard` does for one slot: IMPORTING/MIGRATING, MIGRATE the keys, then
/// every node is told the new owner.
fn move_slot(ports: &[u16], slot: u16, from: u16, to: u16) {
    let slot = slot.to_string();
    let (src, dst) = (node_id(from), node_id(to));
    assert_eq!(
        cli(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &src]).trim(),
        "OK"
    );
    assert_eq!(
        cli(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &dst]).trim(),
        "OK"
    );
    let keys: Vec<String> = cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot, "100"])
        .lines()
        .map(str::to_owned)
        .filter(|k| !k.is_empty())
        .collect();
    assert!(!keys.is_empty(), "the breaker's keys are in the slot");
    let to_port = to.to_string();
    let mut args = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
    args.extend(keys.iter().map(String::as_str));
    assert_eq!(cli(from, &args).trim(), "OK");
    for &p in [to, from]
        .iter()
        .chain(ports.iter().filter(|p| **p != to && **p != from))
    {
        assert_eq!(
            cli(p, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst]).trim(),
            "OK"
        );
    }
    for &p in ports {
        assert_eq!(
            owner(p, slot.parse().unwrap()),
            to,
            "node {p} knows the new owner"
        );
    }
}

/// The slot moves to another master after the views have read the slot map: their next
/// commands go to the old owner, which answers `MOVED`; the cluster client follows it, the
/// state moved with the slot (same generation and count), no outage, and a view that was
/// subscribed on the old owner still hears of changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_views_follow_moved_when_the_slot_moves() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    let ports = cluster.ports();
    let (slot, port) = slot_owner(ports[0]);
    let to = ports.iter().copied().find(|p| *p != port).unwrap();
    let count = leak(Count::default());
    let view = |first: u16| {
        let options = Options::cluster([url(first)])
            .namespace("shop")
            .poll_interval(StdDuration::from_secs(60));
        RedisBreaker::new(config(), options, StdClock, count).unwrap()
    };
    let a = view(to);
    let b = view(port); // subscribed on the owner, which will lose the slot
    assert!(a.wait_synced(StdDuration::from_secs(10)).await);
    assert!(b.wait_synced(StdDuration::from_secs(10)).await);
    let fail = Op::Record(Report::new(0, Outcome::Failure));
    let r = a.execute(fail).await.unwrap();
    assert_eq!((r.machine.failures, r.machine.generation), (1, 0));
    move_slot(&ports, slot, port, to);
    let probe = breaker_redis::Store::new("shop", "payments");
    assert_eq!(cli(to, &["EXISTS", probe.key()]).trim(), "1");
    // What the views' next command meets at the old owner.
    let moved = cli(port, &["EXISTS", probe.key()]);
    assert!(
        moved.starts_with(&format!("MOVED {slot} 127.0.0.1:{to}")),
        "{moved}"
    );
    // Both views' slot maps still name the old owner.
    let r = a.execute(fail).await.expect("MOVED is followed");
    assert_eq!((r.machine.state, r.machine.failures), (State::Closed, 2));
    let r = b.execute(fail).await.expect("MOVED is followed");
    assert_eq!(
        (r.machine.state, r.machine.failures, r.machine.generation),
        (State::Open, 3, 1)
    );
    assert!(eventually(StdDuration::from_secs(5), || a.view().state == State::Open).await);
    assert!(a.is_synced() && b.is_synced());
    assert_eq!(count.outages.load(core::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        count
            .store_errors
            .load(core::sync::atomic::Ordering::SeqCst),
        0
    );
}
