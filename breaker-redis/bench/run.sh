#!/usr/bin/env bash
# breaker-redis against pybreaker's CircuitRedisStorage, on one private redis-server.
# Not part of CI (it installs pybreaker from PyPI and takes about a minute): run it by hand,
#   breaker-redis/bench/run.sh
# and copy its tables into breaker-redis/BENCHMARKS.md. Needs redis-server, python3, cargo.
# BENCH_N (calls per latency row, default 20000) and BENCH_TASKS (tasks per storm process,
# default 8) change the sizes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
venv="${BENCH_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet pybreaker redis
fi
(cd "$root" && cargo build --quiet --release -p breaker-redis --example redis_bench)
target="${CARGO_TARGET_DIR:-$root/target}"
"$venv/bin/pip" show pybreaker | sed -n 's/^Version: /pybreaker /p'
exec "$venv/bin/python" "$here/driver.py" "$target/release/examples/redis_bench"
