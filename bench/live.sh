#!/usr/bin/env bash
# Live detection: Windows JSON events over syslog/TCP into `mamori serve`
# with SigmaHQ's Windows rules plus the built-in pack, timed until every event
# is received, stored, indexed AND evaluated. Side by side, when RSIGMA names
# an rsigma binary (built outside this repository, never committed), its
# streaming daemon evaluates the same events with the same rules and nothing
# else (events on stdin, detections to stdout, until the input ends). The
# daemon's time includes loading its rules, while mamori's clock starts once
# serve is up; a second daemon line takes away the start-up, measured by
# running the same daemon with no input.
#
#   bench/live.sh [COUNT]
#   RSIGMA=/tmp/peers/rsigma-0.23/bin/rsigma bench/live.sh 200000
#   PERF_OUT=/tmp/serve.perf bench/live.sh   # also sample serve with `perf record`
#   MAMORI_BIN=/tmp/mamori-before bench/live.sh   # another build of mamori
#   THREADS=1 bench/live.sh   # also serve's CPU by thread name (threads that
#                             # ended, such as tantivy's indexing workers, are
#                             # only in the total)
#   ROUNDS=6 RSIGMA=… bench/live.sh   # six rounds, mamori and the daemon in
#                             # turn, then the best and the median of each:
#                             # the machine's speed drifts between minutes,
#                             # so one round says little
# (MAMORI_CORPORA defaults to ../shared/corpora.) Sends only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-200000}
CONNS=${CONNS:-4}
CORPORA=${MAMORI_CORPORA:-../shared/corpora}
[ -d "$CORPORA/sigmahq-rules/rules/windows" ] || { echo "skipped: corpora not found"; exit 0; }
RULES="$(cd "$CORPORA" && pwd)/sigmahq-rules/rules/windows"
cargo build --release -q -p mamori -p mamori-loadgen
GEN=target/release/mamori-loadgen
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"; }

echo "== $COUNT Windows JSON events, rules: $RULES + built-in pack, $(nproc) cores"

# --- mamori: receive, store, index, evaluate ------------------------------
# mamori_round N: one run of serve with a new data directory; appends
# "mamori WALL" to $WORK/walls.
mamori_round() {
  local dir="$WORK/round$1"
  mkdir -p "$dir"
  start_mamori "$dir"
  kill -TERM "$MPID"; wait "$MPID" 2>/dev/null || true
  cat >> "$dir/mamori.toml" <<CONF
[detect]
rules = ["$RULES"]
CONF
  MAMORI_LANG=en "$MAMORI_BIN" serve --config "$dir/mamori.toml" >/dev/null 2>"$dir/serve.log" &
  MPID=$!
  for _ in $(seq 600); do curl -fs "http://127.0.0.1:$HP/healthz" >/dev/null && break; sleep 0.1; done
  # CPU ticks by thread name (digits dropped), for THREADS=1.
  threads() { for t in /proc/"$MPID"/task/*; do
    printf '%s|%s|%s\n' "$(tr -d '0-9' <"$t/comm")" "${t##*/}" "$(awk '{print $14+$15}' "$t/stat")"; done; }
  [ -z "${THREADS:-}" ] || threads >"$WORK/threads0"
  # The poller starts before the clock: its start-up (a Python process)
  # would otherwise take CPU from serve mid-run, and the daemon has none.
  wait_for "$COUNT" detected "$dir/polling" & POLLER=$!
  while [ ! -e "$dir/polling" ] && kill -0 "$POLLER" 2>/dev/null; do sleep 0.01; done
  T0=$(date +%s.%N); C0=$(cpu_secs "$MPID")
  if [ -n "${PERF_OUT:-}" ]; then
    perf record -q ${PERF_ARGS:-} -F 999 -p "$MPID" -o "$PERF_OUT" 2>/dev/null & PERFPID=$!
  fi
  "$GEN" --to "127.0.0.1:$MP" --from "$WORK/events.syslog" --connections "$CONNS" >/dev/null
  wait "$POLLER"
  T1=$(date +%s.%N); C1=$(cpu_secs "$MPID")
  [ -z "${THREADS:-}" ] || threads >"$WORK/threads1"
  if [ -n "${PERF_OUT:-}" ]; then kill -INT "$PERFPID"; wait "$PERFPID" || true; fi
  RSS=$(awk '/VmHWM/ {print $2}' "/proc/$MPID/status")
  WALL=$(echo "$T1 - $T0" | bc -l); CPU=$(echo "$C1 - $C0" | bc -l)
  printf "mamori serve (received+stored+indexed+evaluated): wall %.2f s, cpu %.2f s, %.0f events/s, %.0f events per CPU-second, peak RSS %d MB, %s matches, %s alerts\n" \
    "$WALL" "$CPU" "$(echo "$COUNT / $WALL" | bc -l)" "$(echo "$COUNT / $CPU" | bc -l)" "$((RSS / 1024))" \
    "$(metric mamori_detect_matches_total)" "$(metric mamori_alerts_raised_total)"
  grep -o 'Detection: .*' "$dir/serve.log" || true
  if [ -n "${THREADS:-}" ]; then
    awk -F'|' -v hz="$(getconf CLK_TCK)" -v total="$(echo "$C1 - $C0" | bc -l)" '
      NR==FNR {before[$2]=$3; next}
      {cpu[$1]+=($3-before[$2])/hz; sum+=($3-before[$2])/hz}
      END {printf "  cpu by thread:"; for (n in cpu) if (cpu[n] >= 0.05) printf " %s %.1f s,", n, cpu[n];
           printf " threads that ended %.1f s\n", total-sum}' "$WORK/threads0" "$WORK/threads1"
  fi
  # What was left for later: the index merges held back during the flood.
  settle_merges
  C2=$(cpu_secs "$MPID")
  printf "  then, merging the index: cpu %.2f s, segments %s -> %s\n" "$(echo "$C2 - $C1" | bc -l)" "$SEG0" "$SEG"
  kill -TERM "$MPID"; wait "$MPID" 2>/dev/null || true
  echo "mamori $WALL" >>"$WORK/walls"
  rm -rf "$dir"
}

# --- rsigma daemon: evaluate only -----------------------------------------
# daemon_round: one run of the daemon over the lines mamori was sent;
# appends "daemon WALL" (without its start-up) to $WORK/walls.
daemon_round() {
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$RSIGMA" engine daemon -r "$RULES" --input stdin \
    --api-addr "127.0.0.1:$(free_port)" <"$WORK/events.ndjson" >"$WORK/rsigma.out" 2>"$WORK/rsigma.err" || true
  read -r wall user sys rss <"$WORK/time"
  cpu=$(echo "$user + $sys" | bc -l)
  printf "rsigma daemon (evaluated only):                   wall %.2f s, cpu %.2f s, %.0f events/s, %.0f events per CPU-second, peak RSS %d MB, %s detections\n" \
    "$wall" "$cpu" "$(echo "$COUNT / $wall" | bc -l)" "$(echo "$COUNT / $cpu" | bc -l)" "$((rss / 1024))" "$(wc -l <"$WORK/rsigma.out")"
  grep -i "error" "$WORK/rsigma.err" | head -3 || true
  # The daemon's time above includes loading the rules; mamori's clock
  # starts once they are loaded. The same daemon with no input gives the
  # start-up to take away, for a like-for-like figure.
  /usr/bin/time -f "%e %U %S" -o "$WORK/time0" "$RSIGMA" engine daemon -r "$RULES" --input stdin \
    --api-addr "127.0.0.1:$(free_port)" </dev/null >/dev/null 2>&1 || true
  read -r wall0 user0 sys0 <"$WORK/time0"
  wall1=$(echo "$wall - $wall0" | bc -l); cpu1=$(echo "$cpu - $user0 - $sys0" | bc -l)
  printf "rsigma daemon without its start-up (%.2f s):       wall %.2f s, cpu %.2f s, %.0f events/s\n" \
    "$wall0" "$wall1" "$cpu1" "$(echo "$COUNT / $wall1" | bc -l)"
  echo "daemon $wall1" >>"$WORK/walls"
}

# The lines are made once, before any clock starts: mamori's connections
# send them from this file, and the daemon reads the same lines (without
# their syslog priority) from a file too, so neither run pays for making
# them.
"$GEN" --kind windows-json --count "$COUNT" --connections "$CONNS" --dump "$WORK/events.syslog" >/dev/null
if [ -n "${RSIGMA:-}" ]; then
  sed 's/^<[0-9]*>//' "$WORK/events.syslog" > "$WORK/events.ndjson"
fi
for round in $(seq "${ROUNDS:-1}"); do
  mamori_round "$round"
  [ -z "${RSIGMA:-}" ] || daemon_round
done
if [ "${ROUNDS:-1}" -gt 1 ]; then
  python3 - "$WORK/walls" <<'PY'
import statistics, sys
walls = {"mamori": [], "daemon": []}
for line in open(sys.argv[1]):
    who, wall = line.split()
    walls[who].append(float(wall))
m, d = walls["mamori"], walls["daemon"]
print(f"over {len(m)} rounds: mamori best {min(m):.2f} s, median {statistics.median(m):.2f} s")
if d:
    ratios = [b / a for a, b in zip(m, d)]
    print(f"  daemon without its start-up: best {min(d):.2f} s, median {statistics.median(d):.2f} s")
    print(f"  like for like (daemon's time / mamori's): best against best {min(d) / min(m):.2f}x, "
          f"median of the rounds {statistics.median(ratios):.2f}x, rounds {min(ratios):.2f}-{max(ratios):.2f}x")
PY
fi
