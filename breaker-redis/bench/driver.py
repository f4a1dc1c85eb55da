"""Runs the comparison of bench/run.sh on one private redis-server: see BENCHMARKS.md."""
import json
import os
import socket
import subprocess
import sys
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
RUST = sys.argv[1]  # the redis_bench example binary
N = int(os.environ.get("BENCH_N", "20000"))
PROCS = 8
TASKS = int(os.environ.get("BENCH_TASKS", "8"))
FAIL_MAX = 5
PY = [sys.executable, os.path.join(HERE, "pybreaker_side.py")]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_redis():
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.02)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def storm(side, port, r):
    ns = f"storm-{side}"
    start_at = time.time() + 3.0  # every worker connected and waiting by then
    trial_at = start_at + 2.5     # past both breakers' 1 s open period
    if side == "rust":
        cmd = [RUST, "storm", f"redis://127.0.0.1:{port}/0", ns, str(TASKS), f"{start_at:.6f}", f"{trial_at:.6f}"]
    else:
        cmd = PY + ["storm", str(port), ns, str(TASKS), f"{start_at:.6f}", f"{trial_at:.6f}"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(PROCS)]
    # The shared count once the storm is over, before the open period ends.
    time.sleep(max(0.0, start_at + 0.8 - time.time()))
    if side == "rust":
        h = {k.decode(): int(v) for k, v in r.hgetall("{%s:storm}:state" % ns).items()}
        count, trips = h["fail"], h["gen"]  # each trip is one generation (closed -> open)
    else:
        count = int(r.get(f"{ns}:pybreaker:fail_counter") or 0)
        trips = None
    outs = []
    for p in procs:
        o, _ = p.communicate(timeout=60)
        assert p.returncode == 0, f"{side} worker failed"
        outs.append(json.loads(o.strip().splitlines()[-1]))
    if trips is None:
        trips = sum(o["trips"] for o in outs)
    starts = [s for o in outs for s in o["starts"]]
    ends = [e for o in outs for e in o["ends"]]
    first_end = min(ends) if ends else float("inf")
    trials = sum(1 for s in starts if s < first_end)
    return {
        "failures_sent": sum(o["failures_sent"] for o in outs),
        "count": count,
        "overshoot": count - FAIL_MAX,
        "trips": trips,
        "trials": trials,
        "trial_processes": sum(1 for o in outs if any(s < first_end for s in o["starts"])),
    }


def us(ns):
    return f"{ns / 1000:.2f}"


def main():
    proc, port = start_redis()
    try:
        r = redis.Redis(host="127.0.0.1", port=port)
        res = {"redis": r.info("server")["redis_version"], "n": N, "procs": PROCS, "tasks": TASKS}
        res["rust_latency"] = run_json([RUST, "latency", f"redis://127.0.0.1:{port}/0", "lat-rust", str(N)])
        res["py_latency"] = run_json(PY + ["latency", str(port), "lat-py", str(N)])
        res["rust_storm"] = storm("rust", port, r)
        res["py_storm"] = storm("py", port, r)
    finally:
        proc.terminate()
        proc.wait()
    print(json.dumps(res, indent=1))
    rl, pl = res["rust_latency"], res["py_latency"]
    print()
    print(f"redis-server {res['redis']}, {N} calls per latency row; storm: {PROCS} processes x {TASKS} tasks, fail_max {FAIL_MAX}")
    print()
    print("| event | breaker-redis: commands/call (round trips) | added p50 / p99 µs | pybreaker: commands/call (round trips) | added p50 / p99 µs |")
    print("|---|---|---|---|---|")
    for ev in ("success", "failure", "failure_awaited", "rejection"):
        a = rl[ev]
        ra = f"{a['commands'] / a['calls']:.2f} ({a['round_trips'] / a['calls']:.2f})"
        la = f"{us(a['p50_ns'] - rl['baseline']['p50_ns'])} / {us(a['p99_ns'] - rl['baseline']['p99_ns'])}"
        b = pl.get(ev)
        if b:
            rb = f"{b['commands'] / b['calls']:.2f} ({b['round_trips'] / b['calls']:.2f})"
            lb = f"{us(b['p50_ns'] - pl['baseline']['p50_ns'])} / {us(b['p99_ns'] - pl['baseline']['p99_ns'])}"
        else:
            rb = lb = "(same as failure: always awaited)"
        print(f"| {ev} | {ra} | {la} | {rb} | {lb} |")
    print()
    print("| storm | breaker-redis | pybreaker |")
    print("|---|---|---|")
    for k in ("failures_sent", "count", "overshoot", "trips", "trials", "trial_processes"):
        print(f"| {k} | {res['rust_storm'][k]} | {res['py_storm'][k]} |")


if __name__ == "__main__":
    main()
