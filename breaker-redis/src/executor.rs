//! Where the background driver runs: a spawner and a timer, so that the driver is written once
//! for tokio, smol, async-std or any other executor.

use core::future::Future;
use core::pin::Pin;
use std::sync::Arc;

use breaker_core::runtime::Timer;
use breaker_core::Duration;

/// A task handed to an [`Executor`]'s spawner.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

type Spawn = dyn Fn(Task) + Send + Sync;

/// The boxed form of a [`Timer`], so that `RedisBreaker` needs no runtime type parameter.
trait DynTimer: Send + Sync {
    fn sleep(&self, d: Duration) -> Task;
}

impl<T> DynTimer for T
where
    T: Timer + Send + Sync,
    T::Sleep: Send + 'static,
{
    fn sleep(&self, d: Duration) -> Task {
        Box::pin(Timer::sleep(self, d))
    }
}

/// tokio's timer on a given runtime: usable from a thread outside it.
#[cfg(feature = "tokio")]
struct TokioIn(tokio::runtime::Handle);

#[cfg(feature = "tokio")]
impl DynTimer for TokioIn {
    fn sleep(&self, d: Duration) -> Task {
        let _in = self.0.enter();
        Box::pin(tokio::time::sleep(d))
    }
}

/// How a [`crate::RedisBreaker`] runs its background driver (the connection, pub/sub, polling,
/// the queue of reports) and its timers (the Redis timeout, the poll and flush intervals, trial
/// reservations): a spawner and a [`breaker_core::runtime::Timer`], the trait every runtime
/// adapter implements (`breaker_tokio::Tokio`, `breaker_async_io::AsyncIo`).
///
/// The redis connections themselves run on the redis crate's integration for the runtime
/// (`tokio-comp` or `smol-comp`, chosen by this crate's `tokio` and `smol` features), which spawns
/// its own connection tasks: with only `tokio`, the driver must run inside a tokio runtime; with
/// `smol`, redis spawns on smol's global executor, which any executor (async-std's included)
/// can sit beside.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "smol")]
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use breaker_core::{Config, StdClock};
/// use breaker_redis::{Executor, Options, RedisBreaker};
///
/// let options = Options::new("redis://127.0.0.1:6379").executor(Executor::smol());
/// let breaker = RedisBreaker::new(Config::default(), options, StdClock, ())?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Executor {
    spawn: Arc<Spawn>,
    timer: Arc<dyn DynTimer>,
    name: &'static str,
    /// Whether a task can be spawned from here (tokio's spawn panics outside a runtime).
    here: fn() -> bool,
}

impl core::fmt::Debug for Executor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Executor").field(&self.name).finish()
    }
}

impl Executor {
    /// An executor of your own: `spawn` starts a task (it must poll it to completion, or drop it
    /// when the executor shuts down), `timer` sleeps on the same executor's timers.
    pub fn new<S, T>(spawn: S, timer: T) -> Self
    where
        S: Fn(Task) + Send + Sync + 'static,
        T: Timer + Send + Sync + 'static,
        T::Sleep: Send + 'static,
    {
        Executor {
            spawn: Arc::new(spawn),
            timer: Arc::new(timer),
            name: "custom",
            here: || true,
        }
    }

    /// tokio: `tokio::spawn` and `tokio::time::sleep` (through `breaker_tokio::Tokio`). The
    /// breaker must be built inside a tokio runtime with time and I/O enabled (outside one,
    /// `RedisBreaker::new` returns [`crate::BuildError::NoExecutor`]).
    #[cfg(feature = "tokio")]
    pub fn tokio() -> Self {
        // The runtime found here: the driver is spawned on it, and the timers of calls waiting
        // for Redis's answer are its timers, whichever executor polls those calls.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => Executor {
                spawn: Arc::new({
                    let rt = rt.clone();
                    move |task| drop(rt.spawn(task))
                }),
                timer: Arc::new(TokioIn(rt)),
                name: "tokio",
                here: || true,
            },
            Err(_) => Executor {
                spawn: Arc::new(|task| drop(tokio::spawn(task))),
                timer: Arc::new(breaker_tokio::Tokio),
                name: "tokio",
                here: || tokio::runtime::Handle::try_current().is_ok(),
            },
        }
    }

    /// smol: tasks detached on smol's global executor (which runs on threads of its own) and
    /// `async_io::Timer` (through `breaker_async_io::AsyncIo`). Works from any thread, inside
    /// `smol::block_on`, an async-std program or none at all.
    #[cfg(feature = "smol")]
    pub fn smol() -> Self {
        Executor {
            spawn: Arc::new(|task| smol::spawn(task).detach()),
            timer: Arc::new(breaker_async_io::AsyncIo),
            name: "smol",
            here: || true,
        }
    }

    /// The executor a breaker built here should use when none is given: tokio inside a tokio
    /// runtime (with the `tokio` feature), otherwise smol (with the `smol` feature), otherwise
    /// none. The same rule the redis crate follows when both of its integrations are compiled.
    pub fn detect() -> Option<Self> {
        #[cfg(feature = "tokio")]
        if tokio::runtime::Handle::try_current().is_ok() {
            return Some(Executor::tokio());
        }
        #[cfg(feature = "smol")]
        return Some(Executor::smol());
        #[allow(unreachable_code)]
        None
    }

    /// Whether [`Executor::spawn`] may be called from this thread.
    pub(crate) fn available(&self) -> bool {
        (self.here)()
    }

    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        (self.spawn)(Box::pin(task));
    }

    pub(crate) fn sleep(&self, d: Duration) -> Task {
        self.timer.sleep(d)
    }

    /// `fut`, or `None` once `d` has passed.
    pub(crate) async fn timeout<F: Future>(&self, d: Duration, fut: F) -> Option<F::Output> {
        use futures_util::future::{select, Either};
        let fut = core::pin::pin!(fut);
        match select(fut, self.sleep(d)).await {
            Either::Left((out, _)) => Some(out),
            Either::Right(((), _)) => None,
        }
    }
}
