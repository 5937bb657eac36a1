# Sourced by scripts/bench.sh for --values: entitlement value checks on a node while ingestion runs.
# A fresh node with the 4 meters, the feature `tokens` and 1,000 customers each with a metered entitlement and a grant;
# then 15 s of ingestion alone (8 connections, 1,000 random customers, events stamped now), 15 s of value checks
# alone (8 connections asking random customers' values), and both at once; then the events counted against those
# acknowledged. Then the same ingestion on a fresh node whose feature has `enforcement: reject` (every event judged,
# none refused: the grants are large), to compare with ingestion alone.
# With --cluster N, then the same on a local N-worker cluster: value checks through the coordinator alone and during
# ingestion, and ingestion with and without an enforcing feature (each on a fresh cluster).
# warm_up: 5 s of the same ingestion, not measured (an enforcing node loads each entitlement's live balance on its
# first event; both nodes get the same warm-up so they are compared with the same history).
warm_up() {
  echo "== warm-up (5 s, not measured)"
  local warm=("${load[@]}")
  warm[4]=5
  "${warm[@]}" > "$work/values-warm-$1.txt"
  grep -o 'events_per_second=[0-9.]*' "$work/values-warm-$1.txt" | sed 's/^/warm_up_/'
}

values_bench() {
  start_node values "$bin/tally"
  python3 scripts/value_checks.py setup --url "$url" --customers 1000
  local load=("$bin/tally-loadgen" --url "$url" --duration-seconds 15 --connections 8 --batch-events "$batch"
    --subjects 1000 --random-subjects)
  warm_up plain
  echo "== ingestion alone"
  "${load[@]}" | tee "$work/values-ingest.txt"
  echo "== value checks alone"
  python3 scripts/value_checks.py run --url "$url" --customers 1000 --seconds 15 --label alone
  echo "== value checks during ingestion"
  "${load[@]}" > "$work/values-both.txt" &
  local generator=$!
  sleep 1
  python3 scripts/value_checks.py run --url "$url" --customers 1000 --seconds 12 --label during_ingest
  wait "$generator"
  grep -o 'events_per_second=[0-9.]*\|p99_ms=[0-9.]*' "$work/values-both.txt" | sed 's/^/ingest_during_checks_/'
  local acknowledged counted
  acknowledged="$(cat "$work/values-warm-plain.txt" "$work/values-ingest.txt" "$work/values-both.txt" | grep -o 'acknowledged_events=[0-9]*' \
    | cut -d= -f2 | awk '{sum += $1} END {print sum}')"
  counted="$(curl -s "$url/api/v1/meters/requests/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" \
    | grep -o '"value":[0-9]*' | cut -d: -f2)"
  echo "counted_events=${counted:-0} (acknowledged ${acknowledged})"
  echo "node_peak_rss_mb=$(peak_rss_mb "$pid")"
  kill -TERM "$pid"; wait "$pid" || true
  start_node values-enforced "$bin/tally"
  python3 scripts/value_checks.py setup --url "$url" --customers 1000 --enforcement reject
  load[2]="$url"
  warm_up enforced
  echo "== ingestion alone, feature with enforcement: reject"
  "${load[@]}" | tee "$work/values-enforced.txt"
  local plain enforced
  plain="$(grep -o 'events_per_second=[0-9.]*' "$work/values-ingest.txt" | cut -d= -f2)"
  enforced="$(grep -o 'events_per_second=[0-9.]*' "$work/values-enforced.txt" | cut -d= -f2)"
  echo "enforced_vs_plain_ingest=$(awk -v a="$enforced" -v b="$plain" 'BEGIN {printf "%.3f", a / b}')"
  kill -TERM "$pid"; wait "$pid" || true
  [ "$cluster" -eq 0 ] || values_cluster_bench
}

# values_cluster_bench: the value checks and the enforced ingestion through a local cluster's coordinator.
values_cluster_bench() {
  echo "== cluster of $cluster workers: value checks through the coordinator"
  rm -rf "$cluster_dir"
  start_cluster 0
  python3 scripts/value_checks.py setup --url "$url" --customers 1000
  local load=("$bin/tally-loadgen" --url "$url" --duration-seconds 15 --connections 8 --batch-events "$batch"
    --subjects 1000 --random-subjects)
  warm_up cluster-plain
  echo "== cluster: ingestion alone"
  "${load[@]}" | tee "$work/values-cluster-ingest.txt"
  echo "== cluster: value checks alone"
  python3 scripts/value_checks.py run --url "$url" --customers 1000 --seconds 15 --label cluster_alone
  echo "== cluster: value checks during ingestion"
  "${load[@]}" > "$work/values-cluster-both.txt" &
  local generator=$!
  sleep 1
  python3 scripts/value_checks.py run --url "$url" --customers 1000 --seconds 12 --label cluster_during_ingest
  wait "$generator"
  grep -o 'events_per_second=[0-9.]*\|p99_ms=[0-9.]*' "$work/values-cluster-both.txt" \
    | sed 's/^/cluster_ingest_during_checks_/'
  kill -INT "$local_pid"; wait "$local_pid" || true
  rm -rf "$cluster_dir"
  start_cluster 0
  python3 scripts/value_checks.py setup --url "$url" --customers 1000 --enforcement reject
  load[2]="$url"
  warm_up cluster-enforced
  echo "== cluster: ingestion alone, feature with enforcement: reject"
  "${load[@]}" | tee "$work/values-cluster-enforced.txt"
  local plain enforced
  plain="$(grep -o 'events_per_second=[0-9.]*' "$work/values-cluster-ingest.txt" | cut -d= -f2)"
  enforced="$(grep -o 'events_per_second=[0-9.]*' "$work/values-cluster-enforced.txt" | cut -d= -f2)"
  echo "cluster_enforced_vs_plain_ingest=$(awk -v a="$enforced" -v b="$plain" 'BEGIN {printf "%.3f", a / b}')"
  kill -INT "$local_pid"; wait "$local_pid" || true
}
