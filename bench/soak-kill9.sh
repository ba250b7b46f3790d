#!/usr/bin/env bash
# Longer soak of the kill -9 durability test: CYCLES (default 200) cycles of
# HTTP ingest killed with SIGKILL at varying moments; fails if any
# acknowledged event is missing or `mamori verify` finds a problem.
set -euo pipefail
cd "$(dirname "$0")/.."
MAMORI_KILL9_CYCLES=${1:-200} cargo test --release -p mamori --test durability -- --nocapture
