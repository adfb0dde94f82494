#!/usr/bin/env bash
# One-off HTTP comparison (the benchmark issue makes this permanent): motia vs a raw ASGI app, same run.
# Server pinned to cpu0, wrk pinned to cpu1; 3 s warm-up, then 10 s measured, -t1 -c64.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-../.venv/bin/python}
DURATION=${DURATION:-10s}
measure() {  # name url [lua]
  local name=$1 url=$2 lua=${3:-}
  local args=(-t1 -c64 --latency)
  [ -n "$lua" ] && args+=(-s "$lua")
  taskset -c 1 wrk "${args[@]}" -d3s "$url" >/dev/null
  local out; out=$(taskset -c 1 wrk "${args[@]}" -d"$DURATION" "$url")
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf "| %-28s | %10s | %8s | %8s | %s |\n" "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
}
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.1; done; }

echo "| app | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
taskset -c 0 $PY -m uvicorn apps.raw_asgi:app --port 8001 --http httptools --loop uvloop --no-access-log --log-level warning &
RAW=$!
wait_port 8001
measure "raw ASGI GET /hello/:name" http://127.0.0.1:8001/hello/world
measure "raw ASGI POST /users" http://127.0.0.1:8001/users post.lua
kill $RAW; wait $RAW 2>/dev/null || true

(cd apps/motia_hello && exec taskset -c 0 ../../$PY -m motia.cli run --port 8002 --stream-port 0 --memory --log-level warning 2>/dev/null) &
MOTIA=$!
wait_port 8002
measure "motia GET /hello/:name" http://127.0.0.1:8002/hello/world
measure "motia POST /users" http://127.0.0.1:8002/users post.lua
kill $MOTIA; wait $MOTIA 2>/dev/null || true
