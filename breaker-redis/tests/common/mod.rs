//! A private redis-server per test, on a free loopback port.
#![allow(dead_code, unreachable_pub)]

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use breaker_core::{Listener, State, Stats, Transition};
use breaker_redis::{Events, StoreError};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one; `None` (with a message) only when `redis-server` is not installed.
    pub fn start() -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = RedisServer { port, child: None };
        s.spawn();
        Some(s)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < end,
                "redis-server did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Counts events.
#[derive(Default, Debug)]
pub struct Count {
    pub outages: AtomicUsize,
    pub resyncs: AtomicUsize,
    pub corrupt: AtomicUsize,
    pub opened: AtomicUsize,
    pub store_errors: AtomicUsize,
    /// Every state change heard, in order.
    pub changes: std::sync::Mutex<Vec<Transition>>,
}

impl Listener for &'static Count {
    fn on_state_change(&self, _: &'static str, t: &Transition, _: &Stats) {
        if t.to == State::Open {
            self.opened.fetch_add(1, Ordering::SeqCst);
        }
        self.changes.lock().unwrap().push(*t);
    }
}

impl Events for &'static Count {
    fn on_outage(&self, _: &'static str, _: &StoreError) {
        self.outages.fetch_add(1, Ordering::SeqCst);
    }
    fn on_resync(&self, _: &'static str, _: State) {
        self.resyncs.fetch_add(1, Ordering::SeqCst);
    }
    fn on_corrupt(&self, _: &'static str) {
        self.corrupt.fetch_add(1, Ordering::SeqCst);
    }
    fn on_store_error(&self, _: &'static str, _: &StoreError) {
        self.store_errors.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

/// Polls `f` every 5 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// As [`eventually`], on any executor (`async_io::Timer`, through smol).
pub async fn eventually_any(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        smol::Timer::after(Duration::from_millis(5)).await;
    }
}
