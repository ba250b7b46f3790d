#!/usr/bin/env bash
# Offline hunting: `mamori hunt` with SigmaHQ's Windows rules over the
# EVTX-ATTACK-SAMPLES corpus, once and repeated 20 times (symlinked copies),
# reporting wall time, CPU time, peak RSS and detections.
#   bench/hunt.sh            (MAMORI_CORPORA defaults to ../shared/corpora)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPORA=${MAMORI_CORPORA:-../shared/corpora}
RULES="$CORPORA/sigmahq-rules/rules/windows"
SAMPLES="$CORPORA/evtx-attack-samples"
[ -d "$SAMPLES" ] || { echo "skipped: corpora not found"; exit 0; }
cargo build --release -q -p mamori
BIN=$PWD/target/release/mamori
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
for i in $(seq 1 20); do ln -s "$(cd "$SAMPLES" && pwd)" "$WORK/copy$i"; done
run() { # label, paths…
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" hunt --no-builtin -r "$RULES" "$@" --format json >"$WORK/out.json" 2>"$WORK/err"
  read -r wall user sys rss <"$WORK/time"
  printf "%-22s wall %5.2f s, cpu %5.2f s, peak RSS %4d MB, %s detections\n" "$label" "$wall" \
    "$(echo "$user + $sys" | bc -l)" "$((rss / 1024))" "$(wc -l <"$WORK/out.json")"
}
echo "== mamori hunt, $(nproc) cores, rules: $RULES"
run "corpus (221 files)" "$SAMPLES"
run "corpus x20" "$WORK"/copy*
