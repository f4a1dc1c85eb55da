//! The background driver, written once for every executor: connect, resync, follow pub/sub and
//! polls, run this process's commands one at a time; on an outage, report it once and
//! reconnect with backoff. Timers come from the breaker's [`crate::Executor`], channels are
//! `futures-channel`'s, and the choice between what is ready is a `poll_fn` that takes the
//! sources in turn (fair, as `tokio::select!`'s random order is).

use core::task::Poll;
use std::sync::{Arc, Weak};

use breaker_core::window::Window;
use breaker_core::Clock;
use futures_channel::mpsc;
use futures_util::future::{poll_fn, select, Either};
use futures_util::StreamExt;

use super::{Cmd, Events, Inner};
use crate::store::{parse_event, Op, StoreError};

/// The shortest window flush interval (a zero one would spin the driver).
const MIN_FLUSH: core::time::Duration = core::time::Duration::from_millis(1);

/// Whether an error means Redis is away (rather than one bad reply).
fn is_outage(e: &StoreError) -> bool {
    match e {
        StoreError::Timeout(_) | StoreError::Unavailable => true,
        StoreError::Redis(e) => {
            e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_unrecoverable_error()
        }
        StoreError::BadReply(_) => false,
    }
}

/// The background driver: connect, resync, follow pub/sub and polls, run commands; on an
/// outage, report it once and reconnect with backoff.
pub(super) async fn drive<
    C: Clock + Send + Sync + 'static,
    L: Events + Send + Sync + 'static,
    W: Window + Send + 'static,
>(
    weak: Weak<Inner<C, L, W>>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) {
    let mut backoff: Option<core::time::Duration> = None;
    // Sessions that failed: a cluster's pub/sub starts with the next node after each.
    let mut attempt = 0usize;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let (min, max) = (inner.options.reconnect_min, inner.options.reconnect_max);
        let (connected, err) = session(&inner, &mut rx, attempt).await;
        let Some(err) = err else { return };
        attempt = attempt.wrapping_add(1);
        inner.went_down(&err);
        backoff = Some(match backoff {
            Some(b) if !connected => (b * 2).min(max),
            _ => min,
        });
        let mut sleep = inner.executor.sleep(backoff.unwrap_or(min));
        drop(inner);
        loop {
            match select(&mut sleep, rx.next()).await {
                Either::Left(((), _)) => break,
                Either::Right((cmd, _)) => match (cmd, weak.upgrade()) {
                    // Redis is away: answer at once rather than queue behind the outage.
                    (Some(cmd), Some(inner)) => inner.discard(cmd),
                    _ => return,
                },
            }
        }
    }
}

/// What woke a connected session.
enum Wake {
    Cmd(Option<Cmd>),
    Event(Option<redis::Msg>),
    Flush,
    Poll,
}

/// One connected session; returns whether it got connected, and the error that ended it
/// (`None`: the breaker was dropped).
async fn session<
    C: Clock + Send + Sync + 'static,
    L: Events + Send + Sync + 'static,
    W: Window + Send + 'static,
>(
    inner: &Arc<Inner<C, L, W>>,
    rx: &mut mpsc::UnboundedReceiver<Cmd>,
    attempt: usize,
) -> (bool, Option<StoreError>) {
    let t = inner.options.redis_timeout;
    let exec = &inner.executor;
    let connect = async {
        let con = inner.client.connect(t).await?;
        let pubsub = inner
            .client
            .subscribe(exec, inner.store.channel(), attempt, t * 2)
            .await?;
        Ok::<_, redis::RedisError>((con, pubsub))
    };
    // Twice the timeout for a connection and a subscription; in a cluster, that for each node
    // the subscription may have to try.
    let limit = t * 2 * inner.client.nodes().max(1);
    let (mut con, pubsub) = match exec.timeout(limit, connect).await {
        Some(Ok(c)) => c,
        Some(Err(e)) => return (false, Some(StoreError::Redis(e))),
        None => return (false, Some(StoreError::Timeout(t))),
    };
    // The sink must live as long as the stream: dropping it ends the subscription.
    let (_sink, mut events) = pubsub.split();
    // Resynchronise: the shared state as it is now, not as it was before the outage.
    match inner.run(&mut con, Op::Read).await {
        Ok(r) => inner.came_up(&r),
        Err(e) => return (false, Some(e)),
    }
    let poll_every = inner.options.poll_interval;
    let flush_every = inner.options.window_flush.max(MIN_FLUSH);
    // Re-armed when they fire, so a late tick delays the next one (no burst of missed ticks).
    let mut poll = exec.sleep(poll_every);
    let mut flush = exec.sleep(flush_every);
    let mut turn = 0usize;
    loop {
        let wake = poll_fn(|cx| {
            // Each source in turn first, so a busy one does not starve the others.
            for i in 0..4 {
                match (turn + i) % 4 {
                    0 => {
                        if let Poll::Ready(cmd) = rx.poll_next_unpin(cx) {
                            return Poll::Ready(Wake::Cmd(cmd));
                        }
                    }
                    1 => {
                        if let Poll::Ready(msg) = events.poll_next_unpin(cx) {
                            return Poll::Ready(Wake::Event(msg));
                        }
                    }
                    2 => {
                        if inner.windowed && flush.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Wake::Flush);
                        }
                    }
                    _ => {
                        if poll.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Wake::Poll);
                        }
                    }
                }
            }
            Poll::Pending
        })
        .await;
        turn = turn.wrapping_add(1);
        match wake {
            // One command at a time, in order (see `Cmd`); commands sent meanwhile queue.
            Wake::Cmd(cmd) => {
                let Some(cmd) = cmd else { return (true, None) };
                if let Err(e) = inner.handle(&mut con, cmd).await {
                    if is_outage(&e) {
                        return (true, Some(e));
                    }
                    inner.listener.on_store_error(inner.name, &e);
                }
            }
            Wake::Event(msg) => {
                let Some(msg) = msg else {
                    return (
                        true,
                        Some(StoreError::BadReply("pub/sub connection closed")),
                    );
                };
                if let Ok(payload) = msg.get_payload::<String>() {
                    if let Some(e) = parse_event(&payload, inner.config.settings()) {
                        inner.observe(e.seq, e.machine, e.now, false, e.cause);
                    }
                }
            }
            Wake::Flush => {
                flush = exec.sleep(flush_every);
                if let Some(op) = inner.take_batch() {
                    if let Err(e) = inner.exec(&mut con, Cmd::Run(op, None)).await {
                        if is_outage(&e) {
                            return (true, Some(e));
                        }
                        inner.listener.on_store_error(inner.name, &e);
                    }
                }
            }
            Wake::Poll => {
                poll = exec.sleep(poll_every);
                match inner.run(&mut con, Op::Read).await {
                    Ok(r) => inner.observe_reply(&r, true),
                    Err(e) => return (true, Some(e)),
                }
            }
        }
    }
}
