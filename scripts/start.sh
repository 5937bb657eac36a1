#!/usr/bin/env bash
# Starts Tally locally: installs what is missing, builds release, and runs `tally local`
# (API on http://127.0.0.1:8080, data under ./.tally/). Extra arguments go to `tally local`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec swift run -c release tally local "$@"
