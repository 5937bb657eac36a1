#!/usr/bin/env bash
# Runs Tally's whole test suite: Swift unit, store and HTTP tests (real SQLite files, live servers
# and processes on loopback), then the official OpenMeter Python client against a live node.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r Tests/compat/requirements.txt
swift build --build-tests
swift test --skip-build
python3 -m pytest -q Tests/compat
