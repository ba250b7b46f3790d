# Shared by the benchmark scripts (sourced, not run).
# MAMORI_BIN=/path/to/mamori runs another build (for example an earlier
# commit's, to compare two builds on the same machine and day).
MAMORI_BIN=${MAMORI_BIN:-target/release/mamori}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_mamori DIR: starts `mamori serve` with data in DIR/data, syslog TCP on
# $MP and plain HTTP on $HP (both chosen here), and waits until it answers.
# Sets MP, HP, MPID; logs to DIR/serve.log.
start_mamori() {
  local dir=$1
  MP=$(free_port); HP=$(free_port)
  cat > "$dir/mamori.toml" <<CONF
data_dir = "$dir/data"
[listen]
syslog_udp = ""
syslog_tcp = "127.0.0.1:$MP"
syslog_tls = ""
http = "127.0.0.1:$HP"
http_tls = false
metrics_public = true
CONF
  MAMORI_LANG=en "$MAMORI_BIN" serve --config "$dir/mamori.toml" >/dev/null 2>"$dir/serve.log" &
  MPID=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$HP/healthz" >/dev/null && break; sleep 0.1; done
}

# metric NAME: the value of one metric of the running mamori.
metric() { curl -fs "http://127.0.0.1:$HP/metrics" | awk -v m="$1" '$1==m {print $2}'; }

# wait_for COUNT [detected [READY]]: returns once the running mamori holds
# COUNT events, all indexed (with "detected": also all evaluated by live
# detection); fails if mamori exits. With READY, creates that file once it
# has polled once, so that a caller can start it in the background and
# start its clock after the poller's own start-up. One process polls
# /metrics every 50 ms over one kept-alive connection: a curl and an awk
# per poll cost about 9 ms of CPU, which in a 4-second run took some 5% of
# the two cores from the server being measured.
wait_for() {
  python3 - "$HP" "$MPID" "$1" "${2:-}" "${3:-}" <<'PY'
import http.client, sys, time
port, pid, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
detected, ready = sys.argv[4] == "detected", sys.argv[5]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
def alive():
    try:  # an exited child stays a zombie ("Z") until the shell reaps it
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
while True:
    if not alive():
        sys.exit(f"mamori (pid {pid}) exited before holding {count} events")
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        conn.close()
        time.sleep(0.05)
        continue
    if ready:
        open(ready, "w").close()
        ready = ""
    pairs = (line.split(None, 1) for line in body.splitlines() if not line.startswith("#"))
    m = {p[0]: p[1] for p in pairs if len(p) == 2}
    num = lambda name, missing: float(m.get(name, missing))
    if (num("mamori_store_events", 0) >= count and num("mamori_index_lag_events", 1) == 0
            and (not detected or num("mamori_detect_events_total", 0) >= count)):
        break
    time.sleep(0.05)
PY
}

# fill_store COUNT: sends FortiGate-like lines to the running mamori until it
# holds COUNT events, all indexed (continues a kept data dir where it ended,
# and waits for an index that serve is rebuilding, as after an upgrade).
fill_store() {
  local count=$1 have
  have=$(metric mamori_store_events)
  if [ "${have:-0}" -lt "$count" ]; then
    target/release/mamori-loadgen --to "127.0.0.1:$MP" --count $((count - have)) --connections 4 --seed "$have"
  fi
  while :; do
    S=$(metric mamori_store_events); L=$(metric mamori_index_lag_events)
    [ "${S:-0}" -ge "$count" ] && [ "${L:-1}" -eq 0 ] && break; sleep 1
  done
}

# settle_merges: waits until the index's segment count has stayed the same
# for 3 s (at most 2 min), for the merges that serve holds back while a
# flood is indexed; sets SEG0 (the count before) and SEG (after).
settle_merges() {
  local n same=0
  SEG0=$(metric mamori_index_segments); SEG=$SEG0
  for _ in $(seq 120); do
    sleep 1; n=$(metric mamori_index_segments)
    if [ "$n" = "$SEG" ]; then same=$((same + 1)); [ "$same" -ge 3 ] && break; else same=0; SEG=$n; fi
  done
}
