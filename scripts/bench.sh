#!/usr/bin/env bash
# Ingestion benchmark: builds release binaries, starts Tally on a fresh data folder, drives it with
# tally-loadgen (batches of unique events over keep-alive connections) for a fixed time, then prints
# events/s, p50/p99 request latency and each process's peak RSS, and checks that every acknowledged
# event is counted (durable and exact).
#
# Usage: scripts/bench.sh [--duration SECONDS] [--connections N] [--batch EVENTS] [--cluster WORKERS]
#                         [--subjects N] [--random-ids] [--baseline TALLY_BINARY] [--rounds N]
#   --cluster N    also runs the same load through the coordinator of a local N-worker cluster
#                  (`tally local --workers N`, mutual TLS between the processes), after the single node.
#   --subjects N   customers the events are spread over (default 1000).
#   --random-ids   random UUIDv4 event ids, as real clients send (default: ids that grow with each event).
#   --baseline BIN an older `tally` binary (e.g. a release build of the previous commit): each round runs the
#                  single-node load against it and then against this tree's build, in the same run, so the
#                  machine's drift hits both alike.
#   --rounds N     rounds of the single-node load (default 1; with --baseline, each round runs both).
#   --profile P    a workload: friendly (growing ids, 1,000 customers in turn, time = now: the defaults),
#                  realtime (random UUIDv4 ids, 100,000 random customers, time = now) or backfill (random ids,
#                  10,000 random customers, times spread over the last 30 days). Later options override it.
#   --meter-build  instead of a timed load: fills a node with --events back-fill events, waits until the node is
#                  idle (pending aggregates merged), then runs a steady load (8 connections, 30 s) and 5 s into it
#                  creates a new meter; prints how long the create request
#                  took, how long until the meter answered (503 meter-building before), and the load's p99 and
#                  longest request (how long ingestion was held). With --baseline, the older binary first.
#   --sqlite-floor instead of a timed load: what SQLite alone takes for the events file's inserts on real-time traffic
#                  with and without its random-keyed indexes (scripts/sqlite_floor.py, no Tally involved).
#   --add-worker   instead of a timed load: starts a local cluster of --cluster workers (default 3), fills it with
#                  --events back-fill events (default 1,000,000), measures a steady load (8 connections, 15 s), then
#                  runs the same load while a new worker is added (`tally cluster add-worker`); prints the move's
#                  time, events and bytes moved, MB/s, the load's rate and p99 before and during the move, the
#                  failed and slowest of the month totals asked every 0.5 s during it, and the events counted against
#                  those acknowledged. With --baseline, the older binary's cluster first.
#   --replication "F..."  replication factors of the --cluster load, each on a fresh cluster in the same run (default
#                  "2"; e.g. "1 2" compares the cost of the second copy). With --baseline, the older binary's
#                  cluster runs first.
#   --drain        instead of a timed load: a local 3-worker cluster (replication factor 2) filled with --events
#                  back-fill events (default 200,000), a steady load (8 connections, 15 s), then the same load while
#                  w3 is drained (`tally cluster drain-worker`); prints the drain's time, the repairs it ran with the
#                  events and bytes they copied, the load's rate and p99 before and during it, anti-entropy's
#                  counters, and the events counted against those acknowledged.
#   --failover     instead of a timed load: a local 3-worker cluster (replication factor 2) filled with --events
#                  back-fill events (default 200,000), a steady load (8 connections), then worker w2 paused (SIGSTOP)
#                  under it: prints the seconds until the coordinator failed it over and until the first acknowledged
#                  batch touching every slot's copies, the load's rate, p99 and longest request across it, then
#                  resumes w2 and checks every acknowledged event is counted once. With --baseline, the older binary
#                  first.
#   --values       instead of a timed load: entitlement value checks on a node with 1,000 entitled customers, alone
#                  and while ingestion runs (scripts/bench_values.sh); prints checks/s and p50/p99 latency. With
#                  --cluster N, the same through a local N-worker cluster's coordinator afterwards.
#   --queries      instead of a timed load: fills each node (and the --cluster) with --events back-fill events
#                  (default 10,000,000) through the ingest API, then times the query set (median of 5 runs each)
#                  and prints bytes on disk per event and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=20
connections=32
batch=100
cluster=0
subjects=1000
random_ids=""
random_subjects=""
spread_days=0
baseline=""
rounds=1
queries=0
meter_build=0
add_worker=0
events=10000000
replication="2"
failover=0
drain=0
values=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile)
      case "$2" in
        friendly) subjects=1000; random_ids=""; random_subjects=""; spread_days=0 ;;
        realtime) subjects=100000; random_ids="--random-ids"; random_subjects="--random-subjects"; spread_days=0 ;;
        backfill) subjects=10000; random_ids="--random-ids"; random_subjects="--random-subjects"; spread_days=30 ;;
        *) echo "unknown profile $2 (friendly, realtime, backfill)" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --cluster) cluster="$2"; shift 2 ;;
    --subjects) subjects="$2"; shift 2 ;;
    --random-ids) random_ids="--random-ids"; shift ;;
    --baseline) baseline="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --queries) queries=1; subjects=10000; random_ids="--random-ids"; random_subjects="--random-subjects"; spread_days=30
      shift ;;
    --meter-build) meter_build=1; subjects=10000; random_ids="--random-ids"; random_subjects="--random-subjects"
      spread_days=30; shift ;;
    --sqlite-floor) exec python3 scripts/sqlite_floor.py ;;
    --values) values=1; shift ;;
    --add-worker) add_worker=1; subjects=10000; random_ids="--random-ids"; random_subjects="--random-subjects"
      spread_days=30; events=1000000; [ "$cluster" -gt 0 ] || cluster=3; shift ;;
    --events) events="$2"; shift 2 ;;
    --replication) replication="$2"; shift 2 ;;
    --drain) drain=1; subjects=10000; random_ids="--random-ids"; random_subjects="--random-subjects"
      events=200000; [ "$cluster" -gt 0 ] || cluster=3; shift ;;
    --failover) failover=1; subjects=10000; random_ids="--random-ids"; random_subjects="--random-subjects"
      events=200000; [ "$cluster" -gt 0 ] || cluster=3; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

./scripts/setup.sh >/dev/null
for product in tally tally-loadgen tally-microbench; do
  swift build -c release --product "$product" >/dev/null 2>&1 || { echo "release build of $product failed" >&2; exit 1; }
done
bin="$(swift build -c release --show-bin-path 2>/dev/null)"

work="$(mktemp -d /tmp/tally-bench.XXXXXX)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
meters='[
  {"slug":"tokens_total","aggregation":"SUM","eventType":"request","valueProperty":"$.tokens","groupBy":{"model":"$.model"}},
  {"slug":"requests","aggregation":"COUNT","eventType":"request"},
  {"slug":"duration_max","aggregation":"MAX","eventType":"request","valueProperty":"$.duration_ms"},
  {"slug":"active_users","aggregation":"UNIQUE_COUNT","eventType":"request","valueProperty":"$.user"}]'

# wait_for LOG: waits until LOG holds "listening on", then prints the API URL.
wait_for() {
  for _ in $(seq 1 300); do
    grep -q "Tally API listening on" "$1" && break
    sleep 0.1
  done
  grep -o 'http://127.0.0.1:[0-9]*' "$1" | head -n 1
}

peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
# cpu_seconds PID: user + system CPU time the process used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# load NAME URL PID...: drives URL, prints the numbers, checks every acknowledged event is counted.
load() {
  local name="$1" url="$2"; shift 2
  echo "== $name: ${duration}s, ${connections} connections, ${batch} events per request, ${subjects} subjects" \
    "${random_subjects:-in turn}, ${random_ids:-growing ids}, times over ${spread_days} days, 4 meters"
  "$bin/tally-loadgen" --url "$url" --duration-seconds "$duration" --connections "$connections" --batch-events "$batch" \
    --subjects "$subjects" --spread-days "$spread_days" $random_ids $random_subjects | tee "$work/$name.txt"
  local acknowledged counted query
  acknowledged="$(grep -o 'acknowledged_events=[0-9]*' "$work/$name.txt" | cut -d= -f2)"
  counted="$(curl -s "$url/api/v1/meters/requests/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" | grep -o '"value":[0-9]*' | cut -d: -f2)"
  for entry in "$@"; do
    local cpu
    cpu="$(cpu_seconds "${entry#*=}")"
    echo "${entry%%=*}_peak_rss_mb=$(peak_rss_mb "${entry#*=}") ${entry%%=*}_cpu_s=$cpu ${entry%%=*}_cpu_us_per_event=$(awk -v c="$cpu" -v n="$acknowledged" 'BEGIN {printf "%.1f", c * 1e6 / n}')"
  done
  # Events are stamped "now": the MINUTE windows of the last day and the next (within maxQueryWindows).
  query="$url/api/v1/meters/tokens_total/query?from=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)"
  query+="&to=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)&windowSize=MINUTE&groupBy=model"
  echo "query_minutes_by_model_ms=$(curl -s -o /dev/null -w '%{time_total}' "$query" | awk '{printf "%.1f", $1*1000}')"
  query="$url/api/v1/meters/tokens_total/query?from=$(date -u -d '-31 days' +%Y-%m-%dT%H:%M:%SZ)"
  query+="&to=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)&windowSize=DAY&groupBy=model"
  echo "query_month_days_by_model_ms=$(curl -s -o /dev/null -w '%{time_total}' "$query" | awk '{printf "%.1f", $1*1000}')"
  query="$url/api/v1/meters/active_users/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&subject=customer-7"
  echo "query_unique_count_one_subject_ms=$(curl -s -o /dev/null -w '%{time_total}' "$query" | awk '{printf "%.1f", $1*1000}')"
  echo "counted_events=${counted:-0} (acknowledged ${acknowledged})"
  if [ "${counted:-0}" != "$acknowledged" ]; then
    echo "MISMATCH: acknowledged events were not all counted" >&2
    exit 1
  fi
}

create_meters() {
  python3 -c 'import json,sys; [print(json.dumps(m)) for m in json.loads(sys.argv[1])]' "$meters" | while read -r meter; do
    curl -s -o /dev/null -X POST "$1/api/v1/meters" -H 'Content-Type: application/json' -d "$meter"
  done
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
echo "cpu per event of the pure ingestion stages (tally-microbench):"
"$bin/tally-microbench"

# start_node NAME BINARY: a fresh node of BINARY on $work/NAME with the 4 meters; sets pid and url.
start_node() {
  "$2" serve --port 0 --data "$work/$1" > "$work/$1.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  url="$(wait_for "$work/$1.log")"
  create_meters "$url"
}

# single NAME BINARY: the single-node load against a fresh node of BINARY.
single() {
  start_node "$1" "$2"
  load "$1" "$url" "node=$pid"
  kill -TERM "$pid"; wait "$pid" || true
}

# median_ms URL: the median of 5 timed GETs of URL, in milliseconds (the body must be a 200).
median_ms() {
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$1"
  done | awk '$1 != 200 {print "HTTP " $1 > "/dev/stderr"} {print $2 * 1000}' | sort -n | sed -n 3p
}

# query_set URL: times the month queries of one SUM meter (and a UNIQUE_COUNT) over back-filled events.
query_set() {
  local url="$1" from to
  from="$(date -u -d '-31 days' +%Y-%m-%dT00:00:00Z)"
  to="$(date -u -d '+1 day' +%Y-%m-%dT00:00:00Z)"
  local base="$url/api/v1/meters/tokens_total/query?from=$from&to=$to"
  local odd_from odd_to
  odd_from="$(date -u -d '-20 days' +%Y-%m-%dT%H:17:13Z)"
  odd_to="$(date -u -d '-3 days' +%Y-%m-%dT%H:05:07Z)"
  echo "query_month_total_ms=$(median_ms "$base")"
  echo "query_month_days_by_model_ms=$(median_ms "$base&windowSize=DAY&groupBy=model")"
  echo "query_month_days_new_york_ms=$(median_ms "$base&windowSize=DAY&windowTimeZone=America/New_York")"
  echo "query_month_days_kolkata_ms=$(median_ms "$base&windowSize=DAY&windowTimeZone=Asia/Kolkata")"
  echo "query_month_by_customer_ms=$(median_ms "$base&groupBy=subject")"
  echo "query_one_customer_month_hours_ms=$(median_ms "$base&windowSize=HOUR&subject=customer-7")"
  echo "query_one_customer_month_total_ms=$(median_ms "$base&subject=customer-7")"
  echo "query_unaligned_range_by_model_ms=$(median_ms "$url/api/v1/meters/tokens_total/query?from=$odd_from&to=$odd_to&groupBy=model")"
  echo "query_month_unique_count_ms=$(median_ms "$url/api/v1/meters/active_users/query?from=$from&to=$to")"
}

# fill_and_query NAME URL DATA_DIR PID...: ingests the back-fill events, then times the query set.
fill_and_query() {
  local name="$1" url="$2" data="$3"; shift 3
  echo "== $name: $events back-fill events (${subjects} random customers, random ids, times over ${spread_days} days)"
  "$bin/tally-loadgen" --url "$url" --duration-seconds 86400 --max-events "$events" --connections 16 \
    --batch-events "$batch" --subjects "$subjects" --spread-days "$spread_days" $random_ids $random_subjects \
    | tee "$work/$name.txt"
  sleep 3
  query_set "$url"
  local acknowledged bytes
  acknowledged="$(grep -o 'acknowledged_events=[0-9]*' "$work/$name.txt" | cut -d= -f2)"
  bytes="$(du -sb "$data" | cut -f1)"
  echo "bytes_on_disk=$bytes bytes_per_event=$(awk -v b="$bytes" -v n="$acknowledged" 'BEGIN {printf "%.0f", b / n}')"
  for entry in "$@"; do echo "${entry%%=*}_peak_rss_mb=$(peak_rss_mb "${entry#*=}")"; done
}

# wait_idle PID: waits (at most 10 minutes) until PID used under 0.1 s of CPU in 2 s: the aggregates writer has
# merged what the fill left pending, so the load that follows measures the meter change, not that backlog.
wait_idle() {
  local before after
  for _ in $(seq 1 300); do
    before="$(cpu_seconds "$1")"
    sleep 2
    after="$(cpu_seconds "$1")"
    awk -v b="$before" -v a="$after" 'BEGIN {exit !(a - b < 0.1)}' && return 0
  done
}

# build_during_load NAME URL: a steady load, and 5 s into it a new meter back-filled over the stored events.
build_during_load() {
  local name="$1" url="$2"
  "$bin/tally-loadgen" --url "$url" --duration-seconds 30 --connections 8 --batch-events "$batch" \
    --subjects "$subjects" --spread-days "$spread_days" $random_ids $random_subjects > "$work/$name-steady.txt" &
  local load_pid=$!
  sleep 5
  local created started status
  started="$(date +%s.%N)"
  created="$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST "$url/api/v1/meters" \
    -H 'Content-Type: application/json' \
    -d '{"slug":"tokens_by_user","aggregation":"SUM","eventType":"request","valueProperty":"$.tokens","groupBy":{"user":"$.user"}}')"
  echo "create_meter_status=${created% *} create_meter_ms=$(awk -v s="${created#* }" 'BEGIN {printf "%.0f", s * 1000}')"
  for _ in $(seq 1 6000); do
    status="$(curl -s -o /dev/null -w '%{http_code}' \
      "$url/api/v1/meters/tokens_by_user/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z")"
    [ "$status" = 200 ] && break
    sleep 0.1
  done
  echo "meter_answering_after_ms=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.0f", (e - s) * 1000}')" \
    "(last status $status)"
  if wait "$load_pid"; then
    echo "steady_load: $(grep events_per_second "$work/$name-steady.txt")"
  else
    echo "steady_load: FAILED ($(tail -n 1 "$work/$name-steady.txt"); a request outlived the load generator's deadline)"
  fi
}

if [ "$meter_build" = 1 ]; then
  for candidate in ${baseline:+baseline=$baseline} "single=$bin/tally"; do
    name="${candidate%%=*}"
    start_node "$name" "${candidate#*=}"
    echo "== $name: $events back-fill events, then a meter created under a steady load"
    "$bin/tally-loadgen" --url "$url" --duration-seconds 86400 --max-events "$events" --connections 16 \
      --batch-events "$batch" --subjects "$subjects" --spread-days "$spread_days" $random_ids $random_subjects \
      | grep events_per_second
    idle_from="$(date +%s)"
    wait_idle "$pid"
    echo "pending_merged_after_s=$(( $(date +%s) - idle_from ))"
    build_during_load "$name" "$url"
    kill -TERM "$pid"; wait "$pid" || true
  done
  rounds=0
fi

# steady NAME URL SECONDS: 8 connections of the workload for SECONDS (or until $work/NAME.stop exists), in the
# background; sets load_pid.
steady() {
  "$bin/tally-loadgen" --url "$2" --duration-seconds "$3" --stop-file "$work/$1.stop" --connections 8 \
    --batch-events "$batch" \
    --subjects "$subjects" --spread-days "$spread_days" $random_ids $random_subjects > "$work/$1.txt" &
  load_pid=$!
}

# start_cluster SPARE_PORTS [TALLY] [FACTOR]: `tally local --workers $cluster` (of the TALLY binary, default this
# build's; with `--replication-factor FACTOR` when given) in $cluster_dir on free loopback ports (the API port, the
# workers' and SPARE_PORTS more after them) with the 4 meters; sets port, local_pid and url.
cluster_dir="$work/cluster"
start_cluster() {
  local tally="${2:-$bin/tally}" factor=()
  [ -z "${3:-}" ] || factor=(--replication-factor "$3")
  port="$(python3 -c '
import socket, sys
n = int(sys.argv[1])
for base in range(20000, 60000, 97):
    try:
        socks = [socket.socket() for _ in range(n + 1)]
        for i, s in enumerate(socks): s.bind(("127.0.0.1", base + i))
        for s in socks: s.close()
        print(base); break
    except OSError:
        for s in socks: s.close()' "$((cluster + $1))")"
  "$tally" local --workers "$cluster" --port "$port" --dir "$cluster_dir" "${factor[@]}" > "$cluster_dir.log" 2>&1 &
  local_pid=$!
  pids+=("$local_pid")
  url="$(wait_for "$cluster_dir.log")"
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break
    sleep 0.1
  done
  create_meters "$url"
}

# query_prober NAME URL: asks a month total every 0.5 s until $work/NAME.stop exists; one "status seconds" line each.
query_prober() {
  while [ ! -e "$work/$1.stop" ]; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 120 \
      "$2/api/v1/meters/requests/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" >> "$work/$1.txt" || true
    sleep 0.5
  done
}

# fill_cluster NAME: sends --events back-fill events to the cluster at $url, prints the fill's rate, and waits until
# every worker of $cluster_dir is idle (pending aggregates merged).
fill_cluster() {
  "$bin/tally-loadgen" --url "$url" --duration-seconds 86400 --max-events "$events" --connections 16 \
    --batch-events "$batch" --subjects "$subjects" --spread-days "$spread_days" $random_ids $random_subjects \
    > "$work/$1-fill.txt"
  echo "$1 fill: $(grep events_per_second "$work/$1-fill.txt")"
  for i in $(seq 1 "$cluster"); do wait_idle "$(pgrep -f -- "worker --name w$i .*$cluster_dir" | head -n 1)"; done
}

# acknowledged_sum NAME PART...: the events acknowledged by the loads $work/NAME-PART.txt that finished, added up.
acknowledged_sum() {
  local name="$1" part value total=0
  shift
  for part in "$@"; do
    value="$(grep -o 'acknowledged_events=[0-9]*' "$work/$name-$part.txt" | cut -d= -f2 || true)"
    total=$((total + ${value:-0}))
  done
  echo "$total"
}

# add_worker_run NAME TALLY: fills a cluster of TALLY, measures a steady load, then adds a worker under the same load
# with queries asked beside it; prints the move's numbers and checks every acknowledged event is counted once.
add_worker_run() {
  local name="$1" tally="$2" new new_port started seconds status last moved_bytes moved_events acknowledged counted
  cluster_dir="$work/$name"
  start_cluster 1 "$tally"
  new="w$((cluster + 1))"
  new_port=$((port + cluster + 1))
  "$tally" certs issue "$new" --dir "$cluster_dir/certs" --host 127.0.0.1 > /dev/null
  "$tally" worker --name "$new" --port "$new_port" --data "$cluster_dir/$new" --certs "$cluster_dir/certs" \
    > "$work/$name-$new.log" 2>&1 &
  pids+=("$!")
  echo "== $name add-worker: $cluster workers, $events back-fill events (${subjects} random customers), then $new joins"
  fill_cluster "$name"
  steady "$name-before" "$url" 15
  wait "$load_pid"
  echo "$name before_move: $(grep events_per_second "$work/$name-before.txt")"
  steady "$name-during" "$url" 900
  local during_pid=$load_pid
  query_prober "$name-queries" "$url" &
  local prober_pid=$!
  sleep 3
  started="$(date +%s.%N)"
  "$tally" cluster add-worker "$new" "https://127.0.0.1:$new_port" --coordinator "$url" --no-wait
  last=""
  for _ in $(seq 1 60000); do
    status="$(curl -s "$url/api/v1/cluster")"
    echo "$status" | grep -q '"move":null' && break
    last="$status"
    sleep 0.1
  done
  seconds="$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')"
  moved_bytes="$(echo "$last" | python3 -c 'import json,sys; print(json.load(sys.stdin)["move"]["bytes"])')"
  moved_events="$(echo "$last" | python3 -c 'import json,sys; print(json.load(sys.stdin)["move"]["events"])')"
  echo "$name move_seconds=$seconds moved_events>=$moved_events moved_bytes>=$moved_bytes" \
    "mb_per_s=$(awk -v b="$moved_bytes" -v s="$seconds" 'BEGIN {printf "%.1f", b / s / 1e6}')"
  sleep 10
  touch "$work/$name-during.stop" "$work/$name-queries.stop"
  wait "$during_pid" || true
  wait "$prober_pid" || true
  awk -v n="$name" '{total++; if ($1 != 200) failed++; if ($2 > max) max = $2}
    END {printf "%s queries_during_move=%d failed=%d slowest_s=%.1f\n", n, total, failed, max}' "$work/$name-queries.txt"
  if grep -q acknowledged_events "$work/$name-during.txt"; then
    echo "$name during_move: $(grep events_per_second "$work/$name-during.txt")"
  else
    echo "$name during_move: FAILED ($(tail -n 1 "$work/$name-during.txt"))"
  fi
  acknowledged="$(acknowledged_sum "$name" fill before during)"
  local waited=0
  for waited in $(seq 0 600); do
    counted="$(curl -s "$url/api/v1/meters/requests/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" \
      | grep -o '"value":[0-9]*' | cut -d: -f2 || true)"
    [ -n "$counted" ] && break
    sleep 1
  done
  echo "$name counted_events=${counted:-0} (acknowledged $acknowledged, in the runs that finished;" \
    "queries answered again ${waited} s after the move)"
  kill -INT "$local_pid"; wait "$local_pid" || true
}

# failover_run NAME TALLY: fills a replicated 3-worker cluster of TALLY, then pauses w2 under a steady load; prints how
# long until it was failed over and until a batch touching every slot was acknowledged again, and checks the count.
failover_run() {
  local name="$1" tally="$2" paused started failed_over first_ack status counted acknowledged
  cluster_dir="$work/$name"
  start_cluster 0 "$tally"
  echo "== $name failover: $cluster workers, $events back-fill events (${subjects} random customers), then w2 paused"
  fill_cluster "$name"
  python3 -c 'import json
print(json.dumps([{"specversion": "1.0", "id": f"probe-{i}", "source": "bench", "type": "request",
  "subject": f"probe-customer-{i}", "data": {"tokens": 1}} for i in range(400)]))' > "$work/$name-probe.json"
  steady "$name-load" "$url" 900
  local load=$load_pid
  sleep 10
  paused="$(pgrep -f -- "worker --name w2 .*$cluster_dir" | head -n 1)"
  started="$(date +%s.%N)"
  kill -STOP "$paused"
  failed_over=""
  first_ack=""
  for _ in $(seq 1 6000); do
    if [ -z "$first_ack" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -X POST "$url/api/v1/events" \
      -H 'Content-Type: application/cloudevents-batch+json' --data-binary "@$work/$name-probe.json")" = 204 ]; then
      first_ack="$(date +%s.%N)"
    fi
    if [ -z "$failed_over" ]; then
      status="$(curl -s "$url/api/v1/cluster")"
      echo "$status" | python3 -c 'import json,sys
w = [x for x in json.load(sys.stdin)["workers"] if x["name"] == "w2"][0]
sys.exit(0 if w.get("lost") else 1)' && failed_over="$(date +%s.%N)"
    fi
    [ -n "$first_ack" ] && [ -n "$failed_over" ] && break
    sleep 0.05
  done
  echo "$name failover_s=$(awk -v s="$started" -v e="${failed_over:-0}" 'BEGIN {printf "%.2f", e - s}')" \
    "first_acknowledged_batch_s=$(awk -v s="$started" -v e="${first_ack:-0}" 'BEGIN {printf "%.2f", e - s}')"
  sleep 20
  kill -CONT "$paused"
  for _ in $(seq 1 600); do
    status="$(curl -s "$url/api/v1/cluster")"
    echo "$status" | grep -q '"move":null' && echo "$status" | grep -q '"minimumCopies":2' && break
    sleep 0.1
  done
  touch "$work/$name-load.stop"
  wait "$load" || true
  echo "$name load_across_failover: $(grep events_per_second "$work/$name-load.txt")"
  echo "$name $(echo "$status" | python3 -c 'import json,sys
s = json.load(sys.stdin)
print("epoch=%s minimumCopies=%s " % (s["epoch"], s["minimumCopies"]) + " ".join(
  "%s:slots=%s,replicas=%s,lost=%s" % (w["name"], w["slots"], w["replicas"], w["lost"]) for w in s["workers"]))')"
  acknowledged=$((400 + $(acknowledged_sum "$name" fill load)))
  counted="$(curl -s "$url/api/v1/meters/requests/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" \
    | grep -o '"value":[0-9]*' | cut -d: -f2 || true)"
  echo "$name counted_events=${counted:-0} (acknowledged $acknowledged)"
  kill -INT "$local_pid"; wait "$local_pid" || true
}

# drain_run NAME TALLY: fills a replicated 3-worker cluster of TALLY, measures a steady load, then drains w3 under the
# same load; prints the drain's numbers and checks every acknowledged event is counted once.
drain_run() {
  local name="$1" tally="$2" counted acknowledged
  cluster_dir="$work/$name"
  start_cluster 0 "$tally"
  echo "== $name drain: $cluster workers, $events back-fill events (${subjects} random customers), then w3 drained"
  fill_cluster "$name"
  steady "$name-before" "$url" 15
  wait "$load_pid"
  echo "$name before_drain: $(grep events_per_second "$work/$name-before.txt")"
  steady "$name-during" "$url" 900
  local during_pid=$load_pid
  sleep 3
  "$tally" cluster drain-worker w3 --coordinator "$url" --no-wait > /dev/null
  python3 - "$url" "$name" <<'PY'
import json, sys, time, urllib.request
url, name = sys.argv[1], sys.argv[2]
started, moves = time.time(), {}
while True:
    status = json.load(urllib.request.urlopen(url + "/api/v1/cluster"))
    move = status["move"]
    if move:
        moves[move["id"]] = (move["kind"], move["worker"], move["events"], move["bytes"])
    if all(w["name"] != "w3" for w in status["workers"]):
        break
    time.sleep(0.1)
seconds = time.time() - started
copied = sum(m[3] for m in moves.values())
print(f"{name} drain_seconds={seconds:.1f} moves=" + ",".join(f"{k}:{w}:{e}events" for k, w, e, _ in moves.values())
      + f" copied_events>={sum(m[2] for m in moves.values())} copied_bytes>={copied}"
      + f" mb_per_s={copied / seconds / 1e6:.2f}")
PY
  sleep 10
  touch "$work/$name-during.stop"
  wait "$during_pid" || true
  echo "$name during_drain: $(grep events_per_second "$work/$name-during.txt")"
  echo "$name $(curl -s "$url/api/v1/cluster" | python3 -c 'import json,sys
s = json.load(sys.stdin)
a = s["antiEntropy"]
print("epoch=%s minimumCopies=%s antiEntropy: rounds=%s slotsCompared=%s mismatches=%s " % (
  s["epoch"], s["minimumCopies"], a["rounds"], a["slotsCompared"], a["mismatches"]) + " ".join(
  "%s:slots=%s,replicas=%s" % (w["name"], w["slots"], w["replicas"]) for w in s["workers"]))')"
  acknowledged="$(acknowledged_sum "$name" fill before during)"
  for _ in $(seq 0 600); do
    counted="$(curl -s "$url/api/v1/meters/requests/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" \
      | grep -o '"value":[0-9]*' | cut -d: -f2 || true)"
    [ -n "$counted" ] && break
    sleep 1
  done
  echo "$name counted_events=${counted:-0} (acknowledged $acknowledged)"
  kill -INT "$local_pid"; wait "$local_pid" || true
}

if [ "$values" = 1 ]; then
  source scripts/bench_values.sh
  values_bench
  exit 0
fi

if [ "$drain" = 1 ]; then
  if [ -n "$baseline" ]; then echo "--drain has no baseline: older binaries cannot drain" >&2; fi
  drain_run new "$bin/tally"
  exit 0
fi

if [ "$failover" = 1 ]; then
  if [ -n "$baseline" ]; then failover_run baseline "$baseline"; fi
  failover_run new "$bin/tally"
  exit 0
fi

if [ "$add_worker" = 1 ]; then
  if [ -n "$baseline" ]; then add_worker_run baseline "$baseline"; fi
  add_worker_run new "$bin/tally"
  exit 0
fi

if [ "$queries" = 1 ]; then
  for candidate in ${baseline:+baseline=$baseline} "single=$bin/tally"; do
    name="${candidate%%=*}"
    start_node "$name" "${candidate#*=}"
    fill_and_query "$name" "$url" "$work/$name" "node=$pid"
    kill -TERM "$pid"; wait "$pid" || true
  done
  rounds=0
fi

for round in $(seq 1 "$rounds"); do
  if [ -n "$baseline" ]; then single "baseline_$round" "$baseline"; fi
  single "single_$round" "$bin/tally"
done

if [ "$cluster" -gt 0 ]; then
  # With --baseline, the older binary's cluster first (its own default replication), then each factor of this build.
  for run in ${baseline:+baseline} $replication; do
    if [ "$run" = baseline ]; then
      factor=baseline
      cluster_dir="$work/cluster-baseline"
      start_cluster 0 "$baseline"
    else
      factor="$run"
      cluster_dir="$work/cluster-rf$factor"
      start_cluster 0 "$bin/tally" "$factor"
    fi
    processes=("coordinator=$local_pid")
    for i in $(seq 1 "$cluster"); do
      processes+=("worker_w$i=$(pgrep -f -- "worker --name w$i .*$cluster_dir" | head -n 1)")
    done
    if [ "$queries" = 1 ]; then
      fill_and_query "cluster_${cluster}_rf$factor" "$url" "$cluster_dir" "${processes[@]}"
    else
      load "cluster_${cluster}_rf$factor" "$url" "${processes[@]}"
    fi
    kill -INT "$local_pid"; wait "$local_pid" || true
  done
fi
