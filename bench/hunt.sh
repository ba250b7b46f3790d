#!/usr/bin/env bash
# Offline hunting: `mamori hunt` with SigmaHQ's Windows rules over the
# EVTX-ATTACK-SAMPLES corpus, once and repeated 20 times (symlinked copies),
# reporting wall time, CPU time, peak RSS and detections.
#
# With CHAINSAW set to a Chainsaw checkout that has been built
# (`cargo build --release` in it; built outside this repository, never
# committed), Chainsaw runs the same hunts with the same rules and its own
# mapping file, and bench/hunt-compare.py compares the hits record by record.
#
# With HAYABUSA set to a built Hayabusa checkout whose rules/ holds the
# hayabusa-rules repository, Hayabusa runs the same hunts with its own
# conversion of SigmaHQ's rules (rules/sigma; Hayabusa reads Sigma rules only
# after its converter has written the logsource into each rule).
#
#   bench/hunt.sh
#   CHAINSAW=/tmp/peers/chainsaw HAYABUSA=/tmp/peers/hayabusa-src bench/hunt.sh
# (MAMORI_CORPORA defaults to ../shared/corpora; RUNS=3 repeats each run.)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPORA=${MAMORI_CORPORA:-../shared/corpora}
RULES="$(cd "$CORPORA" 2>/dev/null && pwd)/sigmahq-rules/rules/windows"
SAMPLES="$CORPORA/evtx-attack-samples"
RUNS=${RUNS:-1}
[ -d "$SAMPLES" ] || { echo "skipped: corpora not found"; exit 0; }
SAMPLES=$(cd "$SAMPLES" && pwd)
cargo build --release -q -p mamori
BIN=$PWD/target/release/mamori
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
for i in $(seq 1 20); do ln -s "$SAMPLES" "$WORK/copy$i"; done
mkdir "$WORK/x20"; for i in $(seq 1 20); do ln -s "$SAMPLES" "$WORK/x20/copy$i"; done

report() { # label, output file
  read -r wall user sys rss <"$WORK/time"
  printf "%-34s wall %6.2f s, cpu %6.2f s, peak RSS %4d MB, %s hits\n" "$1" "$wall" \
    "$(echo "$user + $sys" | bc -l)" "$((rss / 1024))" "$(wc -l <"$2")"
}
mamori_run() { # label, out, paths…
  local label=$1 out=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" hunt --no-builtin -r "$RULES" "$@" --format json >"$out" 2>"$WORK/err"
  report "mamori    $label" "$out"
}
chainsaw_run() { # label, out, dir
  local label=$1 out=$2 dir=$3
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$CHAINSAW/target/release/chainsaw" hunt "$dir" \
    -s "$RULES" --mapping "$CHAINSAW/mappings/sigma-event-logs-all.yml" --jsonl -o "$out" -q 2>"$WORK/err" >/dev/null
  report "chainsaw  $label" "$out"
}
hayabusa_run() { # label, out, dir
  local label=$1 out=$2 dir=$3
  (cd "$HAYABUSA" && /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" ./target/release/hayabusa json-timeline \
    -d "$dir" -r rules/sigma -w -L -o "$out" -C -q -N -Q -K -U >/dev/null 2>"$WORK/err")
  report "hayabusa  $label" "$out"
}

echo "== hunt, $(nproc) cores, rules: $RULES"
for _ in $(seq 1 "$RUNS"); do
  mamori_run "corpus (221 files)" "$WORK/m1.jsonl" "$SAMPLES"
  [ -n "${CHAINSAW:-}" ] && chainsaw_run "corpus (221 files)" "$WORK/c1.jsonl" "$SAMPLES"
  [ -n "${HAYABUSA:-}" ] && hayabusa_run "corpus (221 files)" "$WORK/h1.jsonl" "$SAMPLES"
  mamori_run "corpus x20 (4,420 files)" "$WORK/m20.jsonl" "$WORK"/copy*
  [ -n "${CHAINSAW:-}" ] && chainsaw_run "corpus x20 (4,420 files)" "$WORK/c20.jsonl" "$WORK/x20"
  [ -n "${HAYABUSA:-}" ] && hayabusa_run "corpus x20 (4,420 files)" "$WORK/h20.jsonl" "$WORK/x20"
done
if [ -n "${CHAINSAW:-}" ]; then
  echo "== agreement per record (file, EventRecordID, rule id), corpus once"
  python3 bench/hunt-compare.py "$WORK/m1.jsonl" "$WORK/c1.jsonl"
fi
