#!/usr/bin/env bash
# Ingestion benchmark: builds release binaries, starts a node with 4 meters on a fresh data folder,
# drives it with tally-loadgen (batches of unique events over keep-alive connections) for a fixed
# time, then prints events/s, p50/p99 request latency and the node's peak RSS, and checks that every
# acknowledged event is counted (durable and exact).
#
# Usage: scripts/bench.sh [--duration SECONDS] [--connections N] [--batch EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=20
connections=32
batch=100
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

./scripts/setup.sh >/dev/null
swift build -c release --product tally >/dev/null 2>&1 || { echo "release build of tally failed" >&2; exit 1; }
swift build -c release --product tally-loadgen >/dev/null 2>&1 || { echo "release build of tally-loadgen failed" >&2; exit 1; }
swift build -c release --product tally-microbench >/dev/null 2>&1 || { echo "release build of tally-microbench failed" >&2; exit 1; }
bin="$(swift build -c release --show-bin-path 2>/dev/null)"

work="$(mktemp -d /tmp/tally-bench.XXXXXX)"
cat > "$work/tally.yaml" <<YAML
host: 127.0.0.1
port: 0
dataDir: $work/data
meters:
  - { slug: tokens_total, aggregation: SUM, eventType: request, valueProperty: $.tokens, groupBy: { model: $.model } }
  - { slug: requests, aggregation: COUNT, eventType: request }
  - { slug: duration_max, aggregation: MAX, eventType: request, valueProperty: $.duration_ms }
  - { slug: active_users, aggregation: UNIQUE_COUNT, eventType: request, valueProperty: $.user }
YAML

"$bin/tally" serve --config "$work/tally.yaml" > "$work/node.log" 2>&1 &
node_pid=$!
trap 'kill $node_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/node.log" && break
  sleep 0.1
done
url="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/node.log" | head -n 1)"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
echo "cpu per event of the pure ingestion stages (tally-microbench):"
"$bin/tally-microbench"
echo "load: ${duration}s, ${connections} connections, ${batch} events per request, 1000 subjects, 4 meters"
"$bin/tally-loadgen" --url "$url" --duration-seconds "$duration" --connections "$connections" --batch-events "$batch" | tee "$work/load.txt"

acknowledged="$(grep -o 'acknowledged_events=[0-9]*' "$work/load.txt" | cut -d= -f2)"
counted="$(curl -s "$url/api/v1/meters/requests/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" | grep -o '"value":[0-9]*' | cut -d: -f2)"
echo "node_peak_rss_mb=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$node_pid/status)"
query="$url/api/v1/meters/tokens_total/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&windowSize=MINUTE&groupBy=model"
echo "query_all_minutes_by_model_ms=$(curl -s -o /dev/null -w '%{time_total}' "$query" | awk '{printf "%.1f", $1*1000}')"
query="$url/api/v1/meters/active_users/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&subject=customer-7"
echo "query_unique_count_one_subject_ms=$(curl -s -o /dev/null -w '%{time_total}' "$query" | awk '{printf "%.1f", $1*1000}')"
echo "counted_events=${counted:-0} (acknowledged ${acknowledged})"
kill -TERM $node_pid
wait $node_pid || true
if [ "${counted:-0}" != "$acknowledged" ]; then
  echo "MISMATCH: acknowledged events were not all counted" >&2
  exit 1
fi
