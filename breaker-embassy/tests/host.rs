//! The adapter on the host: embassy-executor's std platform runs the tasks, embassy-time's mock
//! driver is the clock, advanced by the harness whenever every task is waiting for time to pass
//! (so time is virtual: a 10 s open duration takes no real time).
//!
//! The mock driver is one clock for the whole process, so the tests take turns (`SERIAL`).

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use breaker_embassy::{CircuitBreaker, Config, Duration, Error, Limit, Policy, State};
use embassy_executor::raw::TaskStorage;
use embassy_executor::{Executor, Spawner};
use embassy_time::MockDriver;

static SERIAL: Mutex<()> = Mutex::new(());

/// Marks that something was woken, then wakes the task.
struct Flag {
    inner: Waker,
    woken: Arc<AtomicBool>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.inner.wake_by_ref();
    }
}

/// A task's future, polled with a waker that raises `woken` (one waker per task, so the timer
/// queue recognises it), and that raises `done` when it finishes.
struct Tracked<F> {
    future: Pin<Box<F>>,
    woken: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    waker: Option<(Waker, Waker)>,
}

impl<F: Future<Output = ()>> Future for Tracked<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let flagged = match &self.waker {
            Some((inner, flagged)) if inner.will_wake(cx.waker()) => flagged.clone(),
            _ => {
                let flagged = Waker::from(Arc::new(Flag {
                    inner: cx.waker().clone(),
                    woken: self.woken.clone(),
                }));
                self.waker = Some((cx.waker().clone(), flagged.clone()));
                flagged
            }
        };
        let poll = self
            .future
            .as_mut()
            .poll(&mut Context::from_waker(&flagged));
        if poll.is_ready() {
            self.done.fetch_add(1, Ordering::SeqCst);
        }
        poll
    }
}

/// Spawns each of `tasks` on a fresh embassy executor and runs them all to completion on virtual
/// time, advancing the mock clock in 100 µs steps while every task waits.
fn run<F: Future<Output = ()> + 'static>(tasks: Vec<F>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    MockDriver::get().reset();
    let woken = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let count = tasks.len();
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    let spawn = |spawner: Spawner| {
        for task in tasks {
            let storage: &'static TaskStorage<Tracked<F>> = Box::leak(Box::new(TaskStorage::new()));
            let tracked = Tracked {
                future: Box::pin(task),
                woken: woken.clone(),
                done: done.clone(),
                waker: None,
            };
            spawner.spawn(storage.spawn(|| tracked).expect("a fresh task storage"));
        }
    };
    let (woken2, done2) = (woken.clone(), done.clone());
    executor.run_until(spawn, move || {
        if done2.load(Ordering::SeqCst) == count {
            return true;
        }
        if woken2.swap(false, Ordering::SeqCst) {
            return false; // a task is ready: the executor polls it without time passing
        }
        for _ in 0..600_000 {
            MockDriver::get().advance(embassy_time::Duration::from_micros(100));
            if woken2.swap(false, Ordering::SeqCst) {
                return false;
            }
        }
        panic!("every task is waiting and no timer fires within 60 s of virtual time");
    });
}

fn now_ms() -> u64 {
    embassy_time::Instant::now().as_millis()
}

static CONFIG: Config = match Config::builder()
    .failure_threshold(2)
    .open_for(Duration::from_secs(10))
    .build()
{
    Ok(c) => c,
    Err(_) => panic!("invalid configuration"),
};

static TIMEOUT: Policy = match Policy::builder().timeout(Duration::from_millis(50)).build() {
    Ok(p) => p,
    Err(_) => panic!("invalid policy"),
};

#[test]
fn timeouts_and_the_open_duration_run_on_the_mock_clock() {
    static BREAKER: CircuitBreaker<&Config> = CircuitBreaker::new(&CONFIG);
    run(vec![async {
        for _ in 0..2 {
            let hang = async {
                embassy_time::Timer::after_secs(3600).await;
                Ok::<(), ()>(())
            };
            let r = BREAKER.call_with(&TIMEOUT, hang).await;
            assert_eq!(
                r,
                Err(Error::Timeout {
                    after: Duration::from_millis(50)
                })
            );
        }
        assert_eq!(now_ms(), 100);
        assert_eq!(BREAKER.state(), State::Open);
        // Wait mode: admitted (as the trial) when the 10 s open duration ends, within one poll
        // interval (10 ms by default) after it: waiters spread out past the deadline.
        let patient = Policy::builder()
            .wait(Duration::from_secs(60))
            .build()
            .unwrap();
        let r = BREAKER
            .call_with(&patient, async { Ok::<_, ()>(now_ms()) })
            .await;
        let at = r.unwrap();
        assert!((10_100..=10_110).contains(&at), "admitted at {at} ms");
        assert_eq!(BREAKER.state(), State::Closed);
    }]);
}

#[test]
fn a_static_limit_is_shared_by_tasks_in_order() {
    static A: CircuitBreaker = CircuitBreaker::new(Config::default_config());
    static B: CircuitBreaker = CircuitBreaker::new(Config::default_config());
    static BUS: Limit = Limit::new(1).named("bus");
    static QUEUE: Policy<&Limit> = match Policy::builder()
        .limit_wait(Duration::from_millis(100))
        .build()
    {
        Ok(p) => p.limit(&BUS),
        Err(_) => panic!("invalid policy"),
    };
    static ASKED: Mutex<Vec<char>> = Mutex::new(Vec::new());
    static ORDER: Mutex<Vec<(char, u64)>> = Mutex::new(Vec::new());
    async fn task(name: char, breaker: &'static CircuitBreaker) {
        ASKED.lock().unwrap().push(name);
        let r = breaker
            .call_with(&QUEUE, async {
                ORDER.lock().unwrap().push((name, now_ms()));
                embassy_time::Timer::after_millis(30).await;
                Ok::<_, ()>(())
            })
            .await;
        assert_eq!(r, Ok(()));
    }
    let tasks: Vec<Pin<Box<dyn Future<Output = ()>>>> = vec![
        Box::pin(task('a', &A)),
        Box::pin(task('b', &B)),
        Box::pin(task('c', &A)),
    ];
    run(tasks);
    // One at a time on the shared bus, in the order they asked (the executor picks that order).
    let asked = ASKED.lock().unwrap().clone();
    let order = ORDER.lock().unwrap().clone();
    let expected: Vec<_> = asked.into_iter().zip([0, 30, 60]).collect();
    assert_eq!(order, expected);
}
