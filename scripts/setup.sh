#!/usr/bin/env bash
# Installs what building and testing Tally needs on a fresh Debian machine: SQLite headers and
# the Python packages of the compatibility test (the official OpenMeter client). Safe to re-run.
set -euo pipefail

need_apt=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need_apt+=(libsqlite3-dev)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if ! python3 -c "import openmeter" >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check -r "$(dirname "$0")/../Tests/compat/requirements.txt"
fi
