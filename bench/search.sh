#!/usr/bin/env bash
# Search latency over a large store: fills a data dir with COUNT events
# (default 10,000,000 FortiGate-like lines over TCP), then times a one-word
# query and a field query through the API, REPEAT times each (p50, p90).
#   bench/search.sh [COUNT] [REPEAT]
# Keep the data between runs with KEEP=/path/to/dir.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-10000000}; REPEAT=${2:-21}
cargo build --release -q -p mamori -p mamori-loadgen
WORK=${KEEP:-$(mktemp -d)}
[ -n "${KEEP:-}" ] || trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh
start_mamori "$WORK"
fill_store "$COUNT"
# Searches are timed once the merges held back during the fill have run.
settle_merges
echo "index segments: $SEG0 after the fill, $SEG once merged"
TOKEN=$(target/release/mamori token add --api "bench-$$" --config "$WORK/mamori.toml" 2>/dev/null)
echo "events: $(metric mamori_store_events), index docs: $(metric mamori_index_docs)"
time_query() {
  for _ in $(seq "$REPEAT"); do
    curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" -G \
      --data-urlencode "q=$1" --data-urlencode "limit=100" --data-urlencode "buckets=60" \
      "http://127.0.0.1:$HP/api/v1/search"
  done | sort -n | awk '{a[NR]=$1} END {printf "p50 %.0f ms, p90 %.0f ms, max %.0f ms\n", a[int(NR*0.5)+1]*1000, a[int(NR*0.9)]*1000, a[NR]*1000}'
}
echo "one term   'yamada':                      $(time_query 'yamada')"
echo "field      'user.name:yamada':            $(time_query 'user.name:yamada')"
echo "field+cidr 'action:deny AND source.ip:10.1.0.0/16': $(time_query 'event.action:deny AND source.ip:10.1.0.0/16')"
# Other kinds of query (not in the goal): a phrase, prefixes, a number range.
echo "phrase     '\"vpn login\"':                   $(time_query '"vpn login"')"
echo "prefix     'user.name:yam*':              $(time_query 'user.name:yam*')"
echo "prefix     'yam*':                        $(time_query 'yam*')"
echo "range      'destination.port:>=1000 AND destination.port:<2000': $(time_query 'destination.port:>=1000 AND destination.port:<2000')"
target/release/mamori token remove "bench-$$" --config "$WORK/mamori.toml" >/dev/null 2>&1 || true
kill -TERM $MPID; wait $MPID 2>/dev/null || true
