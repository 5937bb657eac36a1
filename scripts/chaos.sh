#!/usr/bin/env bash
# A chaos run: a random schedule of faults (kill -9, SIGSTOP past the failure timeout, a wiped data folder, a drain
# and re-addition) against a local 3-worker cluster under continuous ingest, then a verdict that compares what was
# counted with what was acknowledged, per customer (scripts/chaos.py). Exits 1 when the verdict fails.
#
# Usage: scripts/chaos.sh [--minutes M] [--seed S]   (default 5 minutes, a random seed printed for a replay)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .build/debug/tally ]]; then
    ./scripts/setup.sh
    swift build --product tally
fi
exec python3 scripts/chaos.py --binary .build/debug/tally "$@"
