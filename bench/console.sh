#!/usr/bin/env bash
# Console API latency with a large store and many alerts: the dashboard,
# the open-alerts list and one alert's detail, REPEAT times each (p50, p90),
# over COUNT stored events (default 10,000,000, filled as bench/search.sh
# does) and ALERTS alerts (default 10,000) written into alerts.db.
#   KEEP=/tmp/searchdata bench/console.sh [COUNT] [ALERTS] [REPEAT]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-10000000}; ALERTS=${2:-10000}; REPEAT=${3:-21}
cargo build --release -q -p mamori -p mamori-loadgen
WORK=${KEEP:-$(mktemp -d)}
[ -n "${KEEP:-}" ] || trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh
start_mamori "$WORK"
fill_store "$COUNT"
# Alerts: as many as asked, spread over rules, hosts, users, levels and
# states, written next to the running server (SQLite WAL allows it).
python3 - "$WORK/data/alerts.db" "$ALERTS" <<'PY'
import json, random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
want = int(sys.argv[2])
have = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
rnd = random.Random(7)
now = time.time_ns()
levels = ["low", "medium", "medium", "high", "high", "critical"]
ranks = {"low": 2, "medium": 3, "high": 4, "critical": 5}
rows = []
for i in range(have, want):
    lvl = rnd.choice(levels)
    t = now - rnd.randrange(30 * 86400) * 10**9
    rows.append((f"rule-{i % 300}", f"Bench rule {i % 300}", lvl, ranks[lvl], json.dumps(["attack.t1078"]), "sigma",
                 f"pc-{i % 500:03d}", f"user{i % 200}", f"10.0.{i % 250}.{i % 200}", t, t + 60 * 10**9, t, t,
                 rnd.randrange(1, 50), rnd.choice(["open", "open", "acknowledged", "closed"]), "[]"))
db.executemany("""INSERT INTO alerts(rule_key, rule_title, level, level_rank, tags, kind, host, user, ip,
  first_seen, last_seen, created, updated, count, status, summary) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
db.executemany("INSERT OR IGNORE INTO alert_events(alert_id, seq) VALUES (?, ?)",
               [(a, a * 97 % 1000000) for (a,) in db.execute("SELECT id FROM alerts").fetchall()])
db.commit()
print(f"alerts: {db.execute('SELECT COUNT(*) FROM alerts').fetchone()[0]}")
PY
TOKEN=$(target/release/mamori token add --api "bench-$$" --config "$WORK/mamori.toml" 2>/dev/null)
echo "events: $(metric mamori_store_events), index docs: $(metric mamori_index_docs)"
time_get() {
  for _ in $(seq "$REPEAT"); do
    curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HP$1"
  done | sort -n | awk '{a[NR]=$1} END {printf "p50 %.0f ms, p90 %.0f ms, max %.0f ms\n", a[int(NR*0.5)+1]*1000, a[int(NR*0.9)]*1000, a[NR]*1000}'
}
ID=$(curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HP/api/v1/alerts?status=open&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["alerts"][0]["id"])')
echo "dashboard   /api/v1/dashboard:                 $(time_get /api/v1/dashboard)"
echo "alert list  /api/v1/alerts?status=open&limit=100: $(time_get '/api/v1/alerts?status=open&limit=100')"
echo "alert page  /api/v1/alerts/$ID:              $(time_get "/api/v1/alerts/$ID")"
# The dashboard's chart counts the last 24 hours; the generated events may be
# older, so also the same chart over all stored events (the worst case).
echo "chart, all  /api/v1/search?q=&limit=0&buckets=24: $(time_get '/api/v1/search?q=&limit=0&buckets=24')"
echo "page shell  / (HTML):                          $(time_get /)"
target/release/mamori token remove "bench-$$" --config "$WORK/mamori.toml" >/dev/null 2>&1 || true
kill -TERM $MPID; wait $MPID 2>/dev/null || true
