"""The pybreaker side of bench/run.sh: CircuitRedisStorage on the same redis-server.

Modes print one JSON object, in the same shape as `cargo run --example redis_bench`:
  latency PORT NS N
  storm PORT NS THREADS START_AT TRIAL_AT
"""
import json
import sys
import threading
import time

import pybreaker
import redis

FAIL_MAX = 5


def commandstats(r):
    out = {}
    for name, st in r.info("commandstats").items():
        name = name.removeprefix("cmdstat_")
        if name != "info":
            out[name] = st["calls"]
    return out


def delta(a, b):
    d = sum(v - a.get(k, 0) for k, v in b.items())
    return d, d  # pybreaker runs no Lua: every command is a round trip


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * p))]


def timed(n, f):
    ns = []
    for _ in range(n):
        t = time.perf_counter_ns()
        f()
        ns.append(time.perf_counter_ns() - t)
    return pct(ns, 0.5), pct(ns, 0.99)


class Boom(Exception):
    pass


def noop():
    return None


def boom():
    raise Boom()


def breaker(port, ns, fail_max, reset_timeout):
    r = redis.Redis(host="127.0.0.1", port=port)
    storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, r, namespace=ns)
    return pybreaker.CircuitBreaker(
        fail_max=fail_max, reset_timeout=reset_timeout, state_storage=storage, name=ns
    )


def row(n, all_, top, lat):
    return {"calls": n, "commands": all_, "round_trips": top, "p50_ns": lat[0], "p99_ns": lat[1]}


def latency(port, ns, n):
    cb = breaker(port, ns, 10**12, 3600)
    mon = redis.Redis(host="127.0.0.1", port=port)
    out = {"baseline": dict(zip(("p50_ns", "p99_ns"), timed(n, noop)))}
    for _ in range(200):
        cb.call(noop)
    s0 = commandstats(mon)
    lat = timed(n, lambda: cb.call(noop))
    out["success"] = row(n, *delta(s0, commandstats(mon)), lat)

    def fail():
        try:
            cb.call(boom)
        except Boom:
            pass

    nf = min(n, 5000)
    s0 = commandstats(mon)
    lat = timed(nf, fail)
    out["failure"] = row(nf, *delta(s0, commandstats(mon)), lat)

    cb.open()

    def reject():
        try:
            cb.call(noop)
        except pybreaker.CircuitBreakerError:
            return
        raise AssertionError("admitted while open")

    s0 = commandstats(mon)
    lat = timed(n, reject)
    out["rejection"] = row(n, *delta(s0, commandstats(mon)), lat)
    print(json.dumps(out))


class Counting(pybreaker.CircuitBreaker):
    """Counts this process's trips: each `open()` from a closed or half-open call."""

    opens = 0

    def open(self):
        Counting.opens += 1
        return super().open()


def sleep_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


def storm(port, ns, threads, start_at, trial_at):
    r = redis.Redis(host="127.0.0.1", port=port)
    storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, r, namespace=ns)
    cb = Counting(fail_max=FAIL_MAX, reset_timeout=1, state_storage=storage, name=ns)
    failed = [0]
    lock = threading.Lock()

    def failing():
        time.sleep(0.001)
        raise Boom()

    def storm_thread():
        sleep_until(start_at)
        for _ in range(200):
            try:
                cb.call(failing)
            except Boom:
                with lock:
                    failed[0] += 1
            except pybreaker.CircuitBreakerError as e:
                # The call that trips also fails ("Failures threshold reached").
                if "threshold" in str(e):
                    with lock:
                        failed[0] += 1
                break

    ts = [threading.Thread(target=storm_thread) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    opens_in_storm = Counting.opens

    calls = []

    def trial():
        start = time.time()
        time.sleep(0.2)
        with lock:
            calls.append((start, time.time()))

    def trial_thread():
        sleep_until(trial_at)
        end = trial_at + 0.6
        while time.time() < end:
            try:
                cb.call(trial)
            except pybreaker.CircuitBreakerError:
                time.sleep(0.005)
                continue

    ts = [threading.Thread(target=trial_thread) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(
        json.dumps(
            {
                "failures_sent": failed[0],
                "trips": opens_in_storm,
                "starts": [c[0] for c in calls],
                "ends": [c[1] for c in calls],
            }
        )
    )


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "latency":
        latency(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif mode == "storm":
        storm(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))
    else:
        sys.exit(__doc__)
