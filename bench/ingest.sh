#!/usr/bin/env bash
# Ingest benchmark: syslog over TCP on loopback into mamori (stored AND
# indexed), side by side with rsyslog writing the same stream to a file.
# Also reports storage ((segments + index) / raw bytes).
#
#   bench/ingest.sh [COUNT] [KIND]      KIND: fortigate | windows-json
#
# Needs: a release build (done here), rsyslog (installed with apt-get if
# missing and running as root). Sends only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-2000000}
KIND=${2:-fortigate}
CONNS=${CONNS:-4}
cargo build --release -q -p mamori -p mamori-loadgen
BIN=target/release/mamori
GEN=target/release/mamori-loadgen
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# shellcheck source=bench/lib.sh
. bench/lib.sh
cpu_secs() { # utime+stime of a pid, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"; }

echo "== $COUNT $KIND lines, $CONNS TCP connections, $(nproc) cores"

# Raw size of the stream.
"$GEN" --kind "$KIND" --count "$COUNT" --dump "$WORK/raw.log" >/dev/null
RAW=$(stat -c %s "$WORK/raw.log")
rm -f "$WORK/raw.log"

# --- rsyslog -------------------------------------------------------------
if ! command -v rsyslogd >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq rsyslog >/dev/null; fi
fi
RS_RATE=""
if command -v rsyslogd >/dev/null; then
  RP=$(free_port)
  mkdir -p "$WORK/rs"
  cat > "$WORK/rs/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rs")
module(load="imtcp" MaxSessions="100")
input(type="imtcp" port="$RP" address="127.0.0.1")
template(name="raw" type="string" string="%rawmsg%\n")
*.* action(type="omfile" file="$WORK/rs/out.log" template="raw" asyncWriting="on" ioBufferSize="256k" flushOnTXEnd="off")
CONF
  rsyslogd -n -f "$WORK/rs/rsyslog.conf" -i "$WORK/rs/pid" &
  RSPID=$!
  sleep 1
  T0=$(date +%s.%N); C0=$(cpu_secs $RSPID)
  "$GEN" --to 127.0.0.1:$RP --kind "$KIND" --count "$COUNT" --connections "$CONNS" >/dev/null
  while [ "$(wc -l < "$WORK/rs/out.log" 2>/dev/null || echo 0)" -lt "$COUNT" ]; do sleep 0.2; done
  T1=$(date +%s.%N); C1=$(cpu_secs $RSPID)
  kill $RSPID; wait $RSPID 2>/dev/null || true
  RS_WALL=$(echo "$T1 - $T0" | bc -l); RS_CPU=$(echo "$C1 - $C0" | bc -l)
  RS_RATE=$(echo "$COUNT / $RS_WALL" | bc -l)
  printf "rsyslog: wall %.2f s, cpu %.2f s, %.0f lines/s, %.0f lines/s per CPU-second\n" \
    "$RS_WALL" "$RS_CPU" "$RS_RATE" "$(echo "$COUNT / $RS_CPU" | bc -l)"
else
  echo "rsyslog: not installed (apt-get install rsyslog), comparison skipped"
fi

# --- mamori --------------------------------------------------------------
start_mamori "$WORK"
T0=$(date +%s.%N); C0=$(cpu_secs $MPID)
"$GEN" --to 127.0.0.1:$MP --kind "$KIND" --count "$COUNT" --connections "$CONNS" >/dev/null
wait_for "$COUNT"
T1=$(date +%s.%N); C1=$(cpu_secs $MPID)
RSS=$(awk '/VmHWM/ {print $2}' /proc/$MPID/status)
M_WALL=$(echo "$T1 - $T0" | bc -l); M_CPU=$(echo "$C1 - $C0" | bc -l)
M_RATE=$(echo "$COUNT / $M_WALL" | bc -l)
printf "mamori:  wall %.2f s, cpu %.2f s, %.0f events/s stored+indexed, %.0f events/s per CPU-second, peak RSS %d MB\n" \
  "$M_WALL" "$M_CPU" "$M_RATE" "$(echo "$COUNT / $M_CPU" | bc -l)" "$((RSS / 1024))"
kill -TERM $MPID; wait $MPID 2>/dev/null || true
SEG=$(du -sb "$WORK/data/segments" | cut -f1); IDX=$(du -sb "$WORK/data/index" | cut -f1)
printf "storage: raw %d B, segments %d B, index %d B, (segments+index)/raw = 1/%.1f\n" \
  "$RAW" "$SEG" "$IDX" "$(echo "$RAW / ($SEG + $IDX)" | bc -l)"
if [ -n "$RS_RATE" ]; then
  printf "ratio:   mamori/rsyslog wall-clock throughput = %.2f\n" "$(echo "$M_RATE / $RS_RATE" | bc -l)"
fi
