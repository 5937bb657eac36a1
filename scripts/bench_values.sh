# Sourced by scripts/bench.sh for --values: entitlement value checks on a node while ingestion runs.
# A fresh node with the 4 meters, the feature `tokens` and 1,000 customers each with a metered entitlement and a grant;
# then 15 s of ingestion alone (8 connections, 1,000 random customers, events stamped now), 15 s of value checks
# alone (8 connections asking random customers' values), and both at once; then the events counted against those
# acknowledged. Then the same ingestion on a fresh node whose feature has `enforcement: reject` (every event judged,
# none refused: the grants are large), to compare with ingestion alone.
# With --cluster N, then the same on a local N-worker cluster: value checks through the coordinator alone and during
# ingestion, and ingestion with and without an enforcing feature (each on a fresh cluster).
# warm_up NAME: 5 s of the ingestion in `load`, not measured (an enforcing node loads each entitlement's live balance
# on its first event; every target gets the same warm-up so they are compared with the same history).
warm_up() {
  echo "== warm-up (5 s, not measured)"
  local warm=("${load[@]}")
  warm[4]=5
  "${warm[@]}" > "$work/values-warm-$1.txt"
  grep -o 'events_per_second=[0-9.]*' "$work/values-warm-$1.txt" | sed 's/^/warm_up_/'
}

# set_load: the ingestion load against $url (8 connections, 1,000 random customers, events stamped now).
set_load() {
  load=("$bin/tally-loadgen" --url "$url" --duration-seconds 15 --connections 8 --batch-events "$batch"
    --subjects 1000 --random-subjects)
}

# value_rounds PREFIX: against the set-up target at $url, the warm-up, ingestion alone, value checks alone and both at
# once; files $work/values-PREFIXingest.txt and values-PREFIXboth.txt, printed names start with PREFIX.
value_rounds() {
  local prefix="$1"
  set_load
  warm_up "${prefix}plain"
  echo "== ${prefix}ingestion alone"
  "${load[@]}" | tee "$work/values-${prefix}ingest.txt"
  echo "== ${prefix}value checks alone"
  python3 scripts/value_checks.py run --url "$url" --customers 1000 --seconds 15 --label "${prefix}alone"
  echo "== ${prefix}value checks during ingestion"
  "${load[@]}" > "$work/values-${prefix}both.txt" &
  local generator=$!
  sleep 1
  python3 scripts/value_checks.py run --url "$url" --customers 1000 --seconds 12 --label "${prefix}during_ingest"
  wait "$generator"
  grep -o 'events_per_second=[0-9.]*\|p99_ms=[0-9.]*' "$work/values-${prefix}both.txt" \
    | sed "s/^/${prefix}ingest_during_checks_/"
}

# enforced_round PREFIX: against a fresh target at $url whose feature rejects usage without access, the warm-up and
# ingestion alone, compared with value_rounds' ingestion alone of the same PREFIX.
enforced_round() {
  local prefix="$1" plain enforced
  python3 scripts/value_checks.py setup --url "$url" --customers 1000 --enforcement reject
  set_load
  warm_up "${prefix}enforced"
  echo "== ${prefix}ingestion alone, feature with enforcement: reject"
  "${load[@]}" | tee "$work/values-${prefix}enforced.txt"
  plain="$(grep -o 'events_per_second=[0-9.]*' "$work/values-${prefix}ingest.txt" | cut -d= -f2)"
  enforced="$(grep -o 'events_per_second=[0-9.]*' "$work/values-${prefix}enforced.txt" | cut -d= -f2)"
  echo "${prefix}enforced_vs_plain_ingest=$(awk -v a="$enforced" -v b="$plain" 'BEGIN {printf "%.3f", a / b}')"
}

values_bench() {
  start_node values "$bin/tally"
  python3 scripts/value_checks.py setup --url "$url" --customers 1000
  value_rounds ""
  local acknowledged counted
  acknowledged="$(cat "$work/values-warm-plain.txt" "$work/values-ingest.txt" "$work/values-both.txt" \
    | grep -o 'acknowledged_events=[0-9]*' | cut -d= -f2 | awk '{sum += $1} END {print sum}')"
  counted="$(curl -s "$url/api/v1/meters/requests/query?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" \
    | grep -o '"value":[0-9]*' | cut -d: -f2)"
  echo "counted_events=${counted:-0} (acknowledged ${acknowledged})"
  echo "node_peak_rss_mb=$(peak_rss_mb "$pid")"
  kill -TERM "$pid"; wait "$pid" || true
  start_node values-enforced "$bin/tally"
  enforced_round ""
  kill -TERM "$pid"; wait "$pid" || true
  [ "$cluster" -eq 0 ] || values_cluster_bench
}

# values_cluster_bench: the same rounds through the coordinator of a local cluster, each part on a fresh cluster.
values_cluster_bench() {
  echo "== cluster of $cluster workers: value checks through the coordinator"
  rm -rf "$cluster_dir"
  start_cluster 0
  python3 scripts/value_checks.py setup --url "$url" --customers 1000
  value_rounds cluster_
  kill -INT "$local_pid"; wait "$local_pid" || true
  rm -rf "$cluster_dir"
  start_cluster 0
  enforced_round cluster_
  kill -INT "$local_pid"; wait "$local_pid" || true
}
