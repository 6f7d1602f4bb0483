#!/usr/bin/env bash
# Two builds of Hangar against each other on one machine: `hangar dev --no-watch bench/app`
# from OLD (e.g. a worktree of main, built) and from NEW (default: this checkout), both
# running, wrk rounds alternating old/new and new/old. Separate `npm run bench` runs drift by
# ±8 % between runs on 2 cores; this pairs the builds instead (docs/benchmarks.md, "A/B").
#
# A pair of processes started side by side is not symmetric: one build against itself gave
# new/old medians from 0.94 to 0.98 in one pass, the same way round for the whole pass. So each
# scenario runs AB_PASSES passes (default 2) on fresh processes, and every other pass swaps
# which build starts first and on which port; the summary is the median over all rounds.
#
#   git worktree add /tmp/hangar-old main && (cd /tmp/hangar-old && ln -s "$PWD/node_modules" . && npx tsc)
#   bench/ab-builds.sh /tmp/hangar-old
#
# Loopback only; each round is bounded by -d; every platform is stopped by its pid.
set -euo pipefail
OLD=${1:?usage: bench/ab-builds.sh OLD_CHECKOUT [NEW_CHECKOUT]}
NEW=${2:-$(cd "$(dirname "$0")/.." && pwd)}
ROUNDS=${AB_ROUNDS:-5}
PASSES=${AB_PASSES:-2}
SECS=${AB_SECONDS:-5}
PORTS=(${AB_PORTS:-18081 18082})
SCENARIOS=${AB_SCENARIOS:-hello logging json-gzip post-1mib}
command -v wrk >/dev/null || { echo "ab-builds: needs wrk (apt install wrk)" >&2; exit 2; }
work=$(mktemp -d)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
start() { # checkout port
  rm -rf "$work/data-$2"
  node "$1/dist/cli/main.js" dev --no-watch --port "$2" --admin-port 0 --data-dir "$work/data-$2" \
    "$1/bench/app" >/dev/null 2>&1 &
  pids+=($!)
}
ready() { # port
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$1/" >/dev/null && return; sleep 0.2; done
  echo "ab-builds: nothing answers on port $1" >&2
  exit 1
}
instances() { # platform pid → its instance processes now
  local n=0 child
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    grep -q instance/main.js /proc/"$child"/cmdline 2>/dev/null && n=$((n + 1))
  done
  echo "$n"
}
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
for scenario in $SCENARIOS; do
  case $scenario in
    hello) path=/; args=() ;;
    logging) path=/log; args=() ;;
    json-gzip) path=/json; args=(-H 'Accept-Encoding: gzip') ;;
    post-1mib) path=/upload; args=(-s "$work/post.lua") ;;
    *) echo "ab-builds: unknown scenario $scenario (hello, logging, json-gzip, post-1mib)" >&2; exit 2 ;;
  esac
  ratios=()
  for pass in $(seq 1 "$PASSES"); do
    # Odd passes: OLD first, on the first port; even passes: NEW first, on the first port.
    if ((pass % 2)); then oldPort=${PORTS[0]}; newPort=${PORTS[1]}; start "$OLD" "$oldPort"; start "$NEW" "$newPort"; oldPid=${pids[0]}; newPid=${pids[1]}
    else oldPort=${PORTS[1]}; newPort=${PORTS[0]}; start "$NEW" "$newPort"; start "$OLD" "$oldPort"; oldPid=${pids[1]}; newPid=${pids[0]}; fi
    ready "$oldPort"
    ready "$newPort"
    old="http://127.0.0.1:$oldPort$path"
    new="http://127.0.0.1:$newPort$path"
    rate "$old" "${args[@]}" >/dev/null
    rate "$new" "${args[@]}" >/dev/null
    for round in $(seq 1 "$ROUNDS"); do
      if ((round % 2)); then a=$(rate "$old" "${args[@]}"); b=$(rate "$new" "${args[@]}")
      else b=$(rate "$new" "${args[@]}"); a=$(rate "$old" "${args[@]}"); fi
      ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
      ratios+=("$ratio")
      echo "$scenario pass $pass round $round: old $a req/s, new $b req/s, new/old $ratio (instances: old $(instances "$oldPid"), new $(instances "$newPid"))"
    done
    stop_all
  done
  printf '%s\n' "${ratios[@]}" | sort -n | awk -v s="$scenario" '{ r[NR] = $1 } END {
    m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
    printf "%s: new/old median %.3f over %d rounds (min %.3f, max %.3f)\n", s, m, NR, r[1], r[NR] }'
done
