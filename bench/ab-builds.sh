#!/usr/bin/env bash
# Two builds of Hangar against each other on one machine: `hangar dev --no-watch bench/app`
# from OLD (e.g. a worktree of main, built) and from NEW (default: this checkout), both
# running, wrk rounds alternating old/new and new/old. Separate `npm run bench` runs drift by
# ±8 % between runs on 2 cores; this pairs the builds instead (docs/benchmarks.md, "A/B").
#
#   git worktree add /tmp/hangar-old main && (cd /tmp/hangar-old && ln -s "$PWD/node_modules" . && npx tsc)
#   bench/ab-builds.sh /tmp/hangar-old
#
# Loopback only; each round is bounded by -d; both platforms are stopped by their pids.
set -euo pipefail
OLD=${1:?usage: bench/ab-builds.sh OLD_CHECKOUT [NEW_CHECKOUT]}
NEW=${2:-$(cd "$(dirname "$0")/.." && pwd)}
ROUNDS=${AB_ROUNDS:-5}
SECS=${AB_SECONDS:-5}
PORTS=(${AB_PORTS:-18081 18082})
command -v wrk >/dev/null || { echo "ab-builds: needs wrk (apt install wrk)" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
start() { # checkout port
  node "$1/dist/cli/main.js" dev --no-watch --port "$2" --admin-port 0 --data-dir "$work/data-$2" \
    "$1/bench/app" >/dev/null 2>&1 &
  pids+=($!)
}
start "$OLD" "${PORTS[0]}"
start "$NEW" "${PORTS[1]}"
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
done
head -c 1048576 /dev/zero | tr '\0' x >"$work/body"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$work/body", "rb"); wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
LUA
rate() { # url [wrk args]
  local url=$1; shift
  wrk -t1 -c50 -d"${SECS}s" --timeout 5s "$@" "$url" | awk '/Requests\/sec/ {print $2}'
}
for scenario in hello logging post-1mib; do
  case $scenario in
    hello) path=/; args=() ;;
    logging) path=/log; args=() ;;
    post-1mib) path=/upload; args=(-s "$work/post.lua") ;;
  esac
  old="http://127.0.0.1:${PORTS[0]}$path"
  new="http://127.0.0.1:${PORTS[1]}$path"
  rate "$old" "${args[@]}" >/dev/null
  rate "$new" "${args[@]}" >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then a=$(rate "$old" "${args[@]}"); b=$(rate "$new" "${args[@]}")
    else b=$(rate "$new" "${args[@]}"); a=$(rate "$old" "${args[@]}"); fi
    echo "$scenario round $round: old $a req/s, new $b req/s, new/old $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
  done
done
