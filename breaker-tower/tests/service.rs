//! The tower service with tower-test's mock as the inner service: admission, refusal, half-open
//! trials across tasks, cancellation, response classification, readiness and `Clone`.

mod support;

use core::task::Poll;
use std::sync::Arc;

use breaker_core::{Handle, State};
use breaker_tower::error::{BoxError, Rejected};
use breaker_tower::http::ServerErrors;
use breaker_tower::{CircuitBreaker, CircuitBreakerLayer};
use http::{Response, StatusCode};
use support::{breaker, trip, Breaker, OPEN_FOR};
use tower::Layer;
use tower_test::mock;

type Mock = mock::Mock<&'static str, &'static str>;
type Svc = CircuitBreaker<Mock, Breaker>;

fn service(b: &Breaker) -> (mock::Spawn<Svc>, mock::Handle<&'static str, &'static str>) {
    mock::spawn_layer(CircuitBreakerLayer::new(Arc::clone(b)))
}

fn rejected(e: &BoxError) -> Rejected {
    *e.downcast_ref::<Rejected>()
        .unwrap_or_else(|| panic!("not a refusal: {e}"))
}

fn ready<S: tower::Service<R, Error = BoxError>, R>(s: &mut mock::Spawn<S>) {
    match s.poll_ready() {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => panic!("poll_ready failed: {e}"),
        Poll::Pending => panic!("poll_ready pending"),
    }
}

#[tokio::test]
async fn closed_admits_and_passes_the_response_on() {
    let b = breaker();
    let (mut svc, mut upstream) = service(&b);
    ready(&mut svc);
    let reply = svc.call("hello");
    let (req, send) = upstream.next_request().await.unwrap();
    assert_eq!(req, "hello");
    send.send_response("world");
    assert_eq!(reply.await.unwrap(), "world");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn errors_open_the_breaker_then_calls_are_refused_without_the_upstream() {
    let b = breaker();
    let (mut svc, mut upstream) = service(&b);
    for _ in 0..2 {
        ready(&mut svc);
        let reply = svc.call("x");
        let (_, send) = upstream.next_request().await.unwrap();
        send.send_error("upstream down");
        // The inner error is passed on unchanged (boxed), not wrapped.
        assert_eq!(reply.await.unwrap_err().to_string(), "upstream down");
    }
    assert_eq!(b.state(), State::Open);

    // Open: ready without asking the upstream (which is not ready), and refused from `call`.
    upstream.allow(0);
    ready(&mut svc);
    let e = svc.call("x").await.unwrap_err();
    let r = rejected(&e);
    assert_eq!(r.state, State::Open);
    assert_eq!(r.retry_after(), Some(OPEN_FOR));
    assert!(
        upstream.poll_request().is_pending(),
        "the upstream saw a request"
    );
}

#[tokio::test]
async fn half_open_trial_is_an_owned_permit_in_another_task() {
    let b = breaker();
    trip(&b);
    b.clock().advance(OPEN_FOR);
    let (mut first, mut upstream) = service(&b);
    let mut second = mock::Spawn::new(first.get_ref().clone());

    // The trial's response future owns its permit: it runs in a spawned task.
    ready(&mut first);
    let trial = tokio::spawn(first.call("trial"));
    let (req, send) = upstream.next_request().await.unwrap();
    assert_eq!(req, "trial");
    assert_eq!(b.stats().half_open_trials, 1);

    // While the trial is out, the one trial slot is taken: another request is refused.
    ready(&mut second);
    let e = second.call("other").await.unwrap_err();
    assert_eq!(rejected(&e).state, State::HalfOpen);

    send.send_response("ok");
    assert_eq!(trial.await.unwrap().unwrap(), "ok");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn dropped_response_future_gives_its_trial_slot_back() {
    let b = breaker();
    trip(&b);
    b.clock().advance(OPEN_FOR);
    let (mut svc, mut upstream) = service(&b);

    ready(&mut svc);
    let trial = svc.call("abandoned");
    let (_, _send) = upstream.next_request().await.unwrap();
    assert_eq!(b.stats().half_open_trials, 1);
    drop(trial); // the client went away

    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.stats().half_open_trials, 0);
    ready(&mut svc);
    let next = svc.call("next");
    let (_, send) = upstream.next_request().await.unwrap();
    send.send_response("ok");
    assert_eq!(next.await.unwrap(), "ok");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn server_errors_count_as_failures_and_client_errors_do_not() {
    let b = breaker();
    let layer = CircuitBreakerLayer::new(Arc::clone(&b)).classify(ServerErrors);
    let (mut svc, mut upstream) = mock::spawn_layer::<&'static str, Response<()>, _>(layer);
    let mut answer = |status: u16| {
        ready(&mut svc);
        let reply = svc.call("x");
        let Poll::Ready(Some((_, send))) = upstream.poll_request() else {
            panic!("the upstream saw no request");
        };
        let mut r = Response::new(());
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        send.send_response(r);
        reply
    };
    // Many 4xx in a row: the caller's mistakes, not the upstream's.
    for _ in 0..5 {
        assert_eq!(answer(404).await.unwrap().status(), 404);
    }
    assert_eq!(b.state(), State::Closed);
    // Two 5xx in a row open it; the 503s themselves are passed on as responses.
    for _ in 0..2 {
        assert_eq!(answer(503).await.unwrap().status(), 503);
    }
    assert_eq!(b.state(), State::Open);
    ready(&mut svc);
    assert!(svc.call("x").await.unwrap_err().is::<Rejected>());
}

#[tokio::test]
async fn readiness_of_the_inner_service_is_respected() {
    let b = breaker();
    let (mut svc, mut upstream) = service(&b);
    upstream.allow(0);
    assert!(svc.poll_ready().is_pending());
    upstream.allow(1);
    assert!(svc.is_woken());
    ready(&mut svc);

    // An error from the inner poll_ready is passed on and counts for nothing.
    let (mut svc, mut upstream) = service(&b);
    upstream.send_error("no connection");
    match svc.poll_ready() {
        Poll::Ready(Err(e)) => assert_eq!(e.to_string(), "no connection"),
        other => panic!("expected the inner error, got {other:?}"),
    }
    assert_eq!(b.stats().consecutive_failures, 0);
}

#[tokio::test]
async fn refused_call_does_not_use_up_the_inner_readiness() {
    let b = breaker();
    trip(&b);
    b.clock().advance(OPEN_FOR);
    // Another caller holds the only trial slot.
    let held = Arc::clone(&b).try_acquire().unwrap();

    let (mut svc, mut upstream) = service(&b);
    upstream.allow(1);
    ready(&mut svc); // half-open: the inner service is polled, and takes the one allowance
    assert!(svc.call("refused").await.unwrap_err().is::<Rejected>());

    held.success();
    assert_eq!(b.state(), State::Closed);
    // The refused call did not reach the upstream, so the one allowance is still there: ready
    // without the upstream granting more (the mock panics on a call its poll_ready did not
    // allow, and is pending once its allowance is used).
    ready(&mut svc);
    let reply = svc.call("admitted");
    let (req, send) = upstream.next_request().await.unwrap();
    assert_eq!(req, "admitted");
    send.send_response("ok");
    assert_eq!(reply.await.unwrap(), "ok");
}

#[tokio::test]
async fn clones_share_the_breaker_and_start_not_ready() {
    let b = breaker();
    let (mut svc, mut upstream) = service(&b);
    trip(&b);
    ready(&mut svc); // decides the refusal

    let mut clone = mock::Spawn::new(svc.get_ref().clone());
    assert!(Arc::ptr_eq(clone.get_ref().handle(), &b));
    // The refusal decided for `svc` is not the clone's: once the breaker has closed, the clone
    // is admitted.
    b.force_closed();
    ready(&mut clone);
    let reply = clone.call("clone");
    let (_, send) = upstream.next_request().await.unwrap();
    send.send_response("ok");
    assert_eq!(reply.await.unwrap(), "ok");
    // ... and `svc` delivers the refusal it decided.
    assert!(svc.call("x").await.unwrap_err().is::<Rejected>());
}

#[tokio::test]
async fn a_static_breaker_needs_no_arc() {
    static BREAKER: breaker_core::CircuitBreaker<breaker_core::StdClock> =
        breaker_core::CircuitBreaker::new(breaker_core::Config::default_config());
    let (mut svc, mut upstream) =
        mock::spawn_with(|m: Mock| CircuitBreakerLayer::new(&BREAKER).layer(m));
    ready(&mut svc);
    let reply = svc.call("x");
    let (_, send) = upstream.next_request().await.unwrap();
    send.send_response("y");
    assert_eq!(reply.await.unwrap(), "y");
}

#[test]
fn service_and_future_are_send_sync_static_and_clone() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    fn send_static<T: Send + 'static>() {}
    send_sync_clone::<Svc>();
    send_sync_clone::<CircuitBreakerLayer<Breaker, ServerErrors>>();
    send_static::<<Svc as tower::Service<&'static str>>::Future>();
}
