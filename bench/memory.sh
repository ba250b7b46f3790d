#!/usr/bin/env bash
# Memory under steady load: mamori receiving RATE events/s (default 5,000) of
# syslog over TCP for SECONDS (default 120); prints RSS every 10 s and the peak.
#   bench/memory.sh [RATE] [SECONDS] [KIND]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-5000}; SECS=${2:-120}; KIND=${3:-fortigate}
cargo build --release -q -p mamori -p mamori-loadgen
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh
start_mamori "$WORK"
target/release/mamori-loadgen --to 127.0.0.1:$MP --kind "$KIND" --rate "$RATE" --count $((RATE * SECS)) >/dev/null &
GPID=$!
for i in $(seq 1 $((SECS / 10))); do
  sleep 10
  echo "t=$((i*10))s rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$MPID/status) MB"
done
wait $GPID || true
echo "steady ${RATE}/s for ${SECS}s ($KIND): peak RSS $(awk '/VmHWM/ {print int($2/1024)}' /proc/$MPID/status) MB"
kill -TERM $MPID; wait $MPID 2>/dev/null || true
