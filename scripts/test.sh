#!/usr/bin/env bash
# Runs Tally's whole test suite: Swift unit, store, HTTP and cluster tests (real SQLite files, live servers
# and processes on loopback, a tmpfs filled until commits fail), the request fuzzer against a live node and a
# live cluster, the official OpenMeter Python client against a live node and a live cluster, then a short chaos
# schedule against a local cluster (scripts/chaos.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r Tests/compat/requirements.txt
swift build --build-tests
# The fuzz tests drive a node and a 3-worker cluster flat out, the notification tests wait for webhook retries
# in the test process itself, and the cluster entitlement tests run a cluster beside a node and concurrent enforced
# batches; they run on their own so their load and their timing never compete with the other multi-process tests
# on a small machine.
separate="FuzzTests|NotificationAPITests|ClusterEntitlementTests"
swift test --skip-build --skip "$separate"
swift test --skip-build --filter "$separate"
python3 -m pytest -q Tests/compat
# A short chaos schedule (faults under load against a local cluster, then the counted-vs-acknowledged verdict).
./scripts/chaos.sh --minutes 1 --seed 20261128
