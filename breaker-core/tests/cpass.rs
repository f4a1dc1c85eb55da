//! Compile-time checks that the public types can cross threads as their parts allow: a breaker
//! shared by many threads (`Sync`) or moved into one (`Send`), a permit or an async call moved to
//! another thread or executor. Most of this file is checked by compiling it; the tests only run
//! what was built.
#![cfg(not(loom))]

use core::cell::Cell;
use core::future::{Future, Ready};
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use breaker_core::classify::{Errors, Exclude};
use breaker_core::machine::Machine;
use breaker_core::{
    Call, CircuitBreaker, Config, ConfigError, CountWindow, Duration, Error, Instant, Listener,
    ManualClock, Outcome, Permit, Rejected, State, Stats, TimeWindow, Transition, XorShift32,
};

fn assert_send<T: Send + ?Sized>() {}
fn assert_sync<T: Sync + ?Sized>() {}
fn assert_send_sync<T: Send + Sync + ?Sized>() {}
fn assert_static<T: Send + 'static>() {}

/// Fails to compile if `$t` implements `$tr` (two candidate impls make the call ambiguous).
macro_rules! assert_not_impl {
    ($t:ty: $tr:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            #[allow(dead_code)]
            struct Invalid;
            impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$t as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

/// A listener that is `Send + Sync`.
#[derive(Default)]
struct Counting(core::sync::atomic::AtomicUsize);

impl Listener for Counting {
    fn on_state_change(&self, _: &'static str, _: &Transition, _: &Stats) {
        self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }
}

/// A listener that is `Send` but not `Sync`: a breaker holding it can move to one thread, but not
/// be shared.
#[derive(Default)]
struct NotSync(Cell<usize>);

impl Listener for NotSync {
    fn on_state_change(&self, _: &'static str, _: &Transition, _: &Stats) {
        self.0.set(self.0.get() + 1);
    }
}

/// A future that is not `Send` (like one holding an `Rc` across an await).
struct LocalFuture(PhantomData<*const ()>);

impl Future for LocalFuture {
    type Output = Result<u8, ()>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(1))
    }
}

type Clock<'a> = &'a ManualClock;
type Exclusion = Exclude<fn(&()) -> bool>;

// The breaker, with a borrowed or owned clock, each window, listeners, and the configuration by
// value or by `&'static` reference.
const _: fn() = || {
    assert_send_sync::<CircuitBreaker<Clock<'static>>>();
    assert_send_sync::<CircuitBreaker<ManualClock>>();
    assert_send_sync::<CircuitBreaker<Clock<'static>, Config<CountWindow<8>>>>();
    assert_send_sync::<CircuitBreaker<Clock<'static>, Config<TimeWindow<4>>>>();
    assert_send_sync::<CircuitBreaker<Clock<'static>, Config, Counting>>();
    assert_send_sync::<CircuitBreaker<Clock<'static>, Config, &'static Counting>>();
    assert_send_sync::<CircuitBreaker<Clock<'static>, Config<CountWindow<8>>, (Counting, ())>>();
    assert_send_sync::<CircuitBreaker<Clock<'static>, &'static Config<TimeWindow<4>>, Counting>>();
    assert_send::<CircuitBreaker<ManualClock, Config, NotSync>>();
};
assert_not_impl!(CircuitBreaker<ManualClock, Config, NotSync>: Sync);
assert_not_impl!(CircuitBreaker<Clock<'static>, Config, &'static NotSync>: Send);

type Shared<K = Config, L = ()> = std::sync::Arc<CircuitBreaker<ManualClock, K, L>>;

// A permit is `Send` and `Sync` when the breaker it holds is `Sync`; an owned one (through an
// `Arc`) is also `'static`.
const _: fn() = || {
    assert_send_sync::<Permit<&'static CircuitBreaker<Clock<'static>>>>();
    assert_send_sync::<
        Permit<&'static CircuitBreaker<Clock<'static>, Config<CountWindow<8>>, Counting>>,
    >();
    assert_send_sync::<
        Permit<
            &'static CircuitBreaker<ManualClock, &'static Config<TimeWindow<4>>, &'static Counting>,
        >,
    >();
    assert_send_sync::<Permit<Shared>>();
    assert_static::<Permit<Shared<Config<CountWindow<8>>, Counting>>>();
};
assert_not_impl!(Permit<&'static CircuitBreaker<ManualClock, Config, NotSync>>: Send);
assert_not_impl!(Permit<&'static CircuitBreaker<ManualClock, Config, NotSync>>: Sync);
assert_not_impl!(Permit<Shared<Config, NotSync>>: Send);

// An async call is `Send` when its inner future (and classifier) is, and the breaker is `Sync`.
type ReadyCall<K, L, F> = Call<&'static CircuitBreaker<Clock<'static>, K, L>, F, Errors>;
const _: fn() = || {
    assert_send::<ReadyCall<Config, (), Ready<Result<u8, ()>>>>();
    assert_send::<ReadyCall<Config<CountWindow<8>>, Counting, Ready<Result<u8, ()>>>>();
    assert_send::<Call<&'static CircuitBreaker<ManualClock>, Ready<Result<u8, ()>>, Exclusion>>();
    assert_sync::<ReadyCall<Config, (), Ready<Result<u8, ()>>>>();
    assert_send::<Call<Shared, Ready<Result<u8, ()>>, Errors>>();
    assert_static::<Call<Shared, Ready<Result<u8, ()>>, Errors>>();
};
assert_not_impl!(ReadyCall<Config, (), LocalFuture>: Send);
assert_not_impl!(ReadyCall<Config, NotSync, Ready<Result<u8, ()>>>: Send);

// Plain values.
const _: fn() = || {
    assert_send_sync::<Config>();
    assert_send_sync::<Config<CountWindow<8>>>();
    assert_send_sync::<Config<TimeWindow<4>>>();
    assert_send_sync::<ConfigError>();
    assert_send_sync::<Error<std::io::Error>>();
    assert_send_sync::<Error<&'static str>>();
    assert_send_sync::<Rejected>();
    assert_send_sync::<Stats>();
    assert_send_sync::<State>();
    assert_send_sync::<Outcome>();
    assert_send_sync::<Transition>();
    assert_send_sync::<Machine>();
    assert_send_sync::<Duration>();
    assert_send_sync::<Instant>();
    assert_send_sync::<ManualClock>();
    assert_send_sync::<XorShift32>();
    assert_send_sync::<CountWindow<8>>();
    assert_send_sync::<TimeWindow<4>>();
};
assert_not_impl!(Error<std::rc::Rc<u8>>: Send);

// Errors carry `core::error::Error` with the inner error as their source, and `Rejected` is one.
const _: fn() = || {
    fn assert_error<T: core::error::Error + Send + Sync + 'static>() {}
    assert_error::<Rejected>();
    assert_error::<ConfigError>();
    assert_error::<Error<std::io::Error>>();
};

/// A breaker in a `static` (its constructors are `const`), shared by threads, with the async call
/// of one moved to another thread as an executor would.
static CLOCK: ManualClock = ManualClock::new();
static CONFIG: Config = match Config::builder().failure_threshold(2).build() {
    Ok(config) => config,
    Err(_) => panic!("invalid configuration"),
};
static BREAKER: CircuitBreaker<&ManualClock, &Config> = CircuitBreaker::with_clock(&CLOCK, &CONFIG);

#[test]
fn a_static_breaker_is_shared_and_its_calls_moved_across_threads() {
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| BREAKER.call(|| Err::<(), _>("down")).unwrap_err());
        }
    });
    assert_eq!(BREAKER.state(), State::Open);

    let local = CircuitBreaker::with_clock(&CLOCK, Config::default());
    let permit = local.try_acquire().unwrap();
    let call = local.call_async(async { Ok::<_, ()>(7) });
    std::thread::scope(|s| {
        s.spawn(move || permit.success());
        let reply = s
            .spawn(move || futures_executor::block_on(call))
            .join()
            .unwrap();
        assert_eq!(reply, Ok(7));
    });
}

/// The sizes the README and BENCHMARKS.md state (64-bit targets).
#[test]
#[cfg(target_pointer_width = "64")]
fn breaker_sizes() {
    use breaker_core::{CircuitBreaker, Config, ManualClock};
    type ByRef = CircuitBreaker<&'static ManualClock, &'static Config>;
    type ZstClockByRef = CircuitBreaker<(), &'static Config>;
    type ByValue = CircuitBreaker<(), Config>;
    // The state word, the deadline, when it last opened, the transition count (and driver flag),
    // the driver's waker (3 words), the configuration reference: within the 64-byte budget.
    assert_eq!(core::mem::size_of::<ZstClockByRef>(), 64);
    assert_eq!(core::mem::size_of::<ByRef>(), 72);
    println!(
        "config held by value: {} bytes",
        core::mem::size_of::<ByValue>()
    );
    assert!(core::mem::size_of::<ByValue>() <= 176);
}
