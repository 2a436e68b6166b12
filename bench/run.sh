#!/usr/bin/env bash
# Ingestion benchmark: siaga on SQLite, siaga on PostgreSQL and Prometheus
# Alertmanager 0.25, interleaved in one run. See bench/README.md.
#
#   bench/run.sh                       # 10 s per load run, 2 rounds
#   BENCH_SECONDS=5 bench/run.sh       # shorter
#
# Environment (all optional):
#   BENCH_SECONDS       measured seconds per load run (default 10)
#   BENCH_WARMUP        warm-up seconds before each run, not measured (1)
#   BENCH_ROUNDS        interleaved rounds (2)
#   BENCH_CONNECTIONS   keep-alive connections, closed loop (16)
#   BENCH_OPEN_CONNECTIONS  connections available to the open loop (64)
#   BENCH_MEM_ALERTS    distinct active alerts for the memory test (100000; 0 skips it)
#   BENCH_SWEEP         e.g. "1 4 16": after the rounds, one event per request,
#                       closed loop, at each of these connection counts (round 0)
#   BENCH_PG            PostgreSQL server URL without a database
#                       (postgres://postgres@127.0.0.1:5432)
#   SIAGA_BIN           use this siaga binary instead of `cargo build --release`
#   BENCH_CONFIG        the organisation config to start from (examples/shop.yaml;
#                       with SIAGA_BIN, the one of the binary's commit)
#   AM_BIN              Alertmanager binary (/usr/bin/prometheus-alertmanager)
#   BENCH_PORT_BASE     first of the three loopback ports used (18181)
#   BENCH_OUT           where results go (bench/results/TIMESTAMP)
#
# Everything listens on and talks to 127.0.0.1 only; every process started
# here is stopped on exit, and the PostgreSQL databases created are dropped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-2}
CONNS=${BENCH_CONNECTIONS:-16}
OPEN_CONNS=${BENCH_OPEN_CONNECTIONS:-64}
MEM_ALERTS=${BENCH_MEM_ALERTS:-100000}
PG_SERVER=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
AM_BIN=${AM_BIN:-/usr/bin/prometheus-alertmanager}
PORT_BASE=${BENCH_PORT_BASE:-18181}
PORT_SQLITE=$PORT_BASE
PORT_PG=$((PORT_BASE + 1))
PORT_AM=$((PORT_BASE + 2))
OUT=${BENCH_OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
TOKEN=siaga_bench_bootstrap_token_0123456789

BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_need curl jq psql python3
PERF=$(command -v perf || true)
bench_start
bench_before_cleanup() {
    if [ -n "${SYNC_PERF:-}" ]; then
        kill -INT "$SYNC_PERF" 2>/dev/null || true
    fi
}

# ---- build -------------------------------------------------------------------

bench_binaries
INGEST=$BENCH_TOOLS/ingest
bench_ports_free "$PORT_SQLITE" "$PORT_PG" "$PORT_AM"

# ---- config ------------------------------------------------------------------

# The shop example, with the two integrations under test allowed far more
# than any bench sends (gateway-monitors is limited to 12000/min there), and,
# like Alertmanager's null receiver, nobody paged and no incident declared:
# this measures ingestion; bench/page-latency.sh measures paging.
CONFIG=$WORK/shop-bench.yaml
sed -e 's/^\(          \)events: 12000$/\1events: 100000000/' \
    -e '/^        kind: alertmanager$/a\        rate_limit:\n          events: 100000000\n          per: 1m' \
    -e '/^    escalation_policy: /d' \
    -e '/^  auto_declare:$/,/^      declare: SEV2$/d' \
    "${BENCH_CONFIG:-$ROOT/examples/shop.yaml}" >"$CONFIG"
grep -q 'escalation_policy:\|auto_declare:' "$CONFIG" && die "the bench config still pages or declares"
[ "$(grep -c 'events: 100000000' "$CONFIG")" = 2 ] || die "could not raise the rate limits in $CONFIG"
"$SIAGA" config validate "$CONFIG" >/dev/null || die "the bench config does not validate"

cat >"$WORK/alertmanager.yml" <<'EOF'
route:
  receiver: "null"
receivers:
  - name: "null"
EOF

# ---- servers -----------------------------------------------------------------

# start_siaga NAME DATABASE_URL PORT: sets SPID, PD_KEY, AM_KEY
start_siaga() {
    local name=$1 url=$2 port=$3
    SIAGA_BOOTSTRAP_TOKEN=$TOKEN SIAGA_LOG=${SIAGA_LOG:-warn} \
        "$SIAGA" serve --listen "127.0.0.1:$port" --database-url "$url" --config "$CONFIG" \
        >>"$OUT/$name.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    wait_http "http://127.0.0.1:$port/readyz" "$SPID" "$name"
    local integrations
    integrations=$(curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/v1/integrations")
    PD_KEY=$(jq -r '.[] | select(.service=="payments" and .name=="gateway-monitors") | .key' <<<"$integrations")
    AM_KEY=$(jq -r '.[] | select(.kind=="alertmanager") | .key' <<<"$integrations" | head -1)
    [ -n "$PD_KEY" ] && [ -n "$AM_KEY" ] || die "no integration keys from $name"
}

# start_am NAME PORT: sets APID
start_am() {
    local name=$1 port=$2
    mkdir -p "$WORK/$name-data"
    "$AM_BIN" --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/$name-data" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
        --log.level=warn >>"$OUT/$name.log" 2>&1 &
    APID=$!
    PIDS+=("$APID")
    wait_http "http://127.0.0.1:$port/-/ready" "$APID" "$name"
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

new_database() { # sets DB_URL to a fresh database (not in a subshell: cleanup drops it)
    local db
    db=siaga_bench_$$_${#DATABASES[@]}
    psql "$PG_SERVER/postgres" -qAtc "CREATE DATABASE $db" >/dev/null
    DATABASES+=("$db")
    DB_URL=$PG_SERVER/$db
}

status_kb() { # PID FIELD -> kB
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# ---- fsync counting -------------------------------------------------------------

# SQLite: fsync/fdatasync calls of the siaga process (perf tracepoints).
# PostgreSQL: pg_stat_wal.wal_sync (cluster-wide: other databases' commits
# on the same server would count too).
sync_begin() { # KIND PID
    SYNC_KIND=$1
    SYNC_PERF=
    case $1 in
    sqlite)
        if [ -n "$PERF" ]; then
            "$PERF" stat -x, -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync \
                -p "$2" -o "$WORK/perf.out" 2>/dev/null &
            SYNC_PERF=$!
            sleep 0.2
        fi
        ;;
    pg) SYNC_START=$(psql "$PG_SERVER/postgres" -qAtc "SELECT wal_sync FROM pg_stat_wal") ;;
    esac
}

sync_end() { # sets SYNCS to the count, or null (not in a subshell: it waits for perf)
    SYNCS=null
    case $SYNC_KIND in
    sqlite)
        if [ -n "$SYNC_PERF" ]; then
            kill -INT "$SYNC_PERF" 2>/dev/null || true
            wait "$SYNC_PERF" 2>/dev/null || true
            SYNCS=$(awk -F, '/sys_enter_f/ {n += $1} END {print n + 0}' "$WORK/perf.out")
        fi
        ;;
    pg) SYNCS=$(($(psql "$PG_SERVER/postgres" -qAtc "SELECT wal_sync FROM pg_stat_wal") - SYNC_START)) ;;
    esac
}

# ---- CPU accounting ---------------------------------------------------------------

# The machine is shared (2 cores): each run records how busy it was and who
# used the CPU, so contention from anything else shows in the results.
NCPU=$(nproc)
cpu_snapshot() { # PID -> "machine_busy machine_total server postgres" in ticks, "sectors_written flushes" of the disks
    local machine server pg disk
    machine=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat)
    server=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat")
    pg=0
    for p in $(pgrep -u postgres 2>/dev/null); do
        pg=$((pg + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    disk=$(awk '$3 ~ /^(vd|sd|xvd)[a-z]+$|^nvme[0-9]+n[0-9]+$/ { w += $10; f += $19 } END { print w + 0, f + 0 }' /proc/diskstats)
    echo "$machine $server $pg $disk"
}

# ---- load runs -------------------------------------------------------------------

# load SERVER ROUND LABEL PID SYNCKIND INGEST-ARGS...: one run, appended to results.jsonl
load() {
    local server=$1 round=$2 label=$3 pid=$4 synckind=$5
    shift 5
    sync_begin "$synckind" "$pid"
    local line cpu0 cpu1 hwm cpu
    cpu0=$(cpu_snapshot "$pid")
    line=$("$INGEST" --json --label "$label" --duration "${SECONDS_PER_RUN}s" --warmup "${WARMUP}s" "$@" 2>>"$OUT/ingest.log")
    cpu1=$(cpu_snapshot "$pid")
    sync_end
    hwm=$(status_kb "$pid" VmHWM)
    # Cores in use on average over the run (warm-up included).
    # Disk: MB written and cache flushes on the machine's disks (everyone's).
    cpu=$(echo "$cpu0 $cpu1 $NCPU $(jq '.generator_cpu_s // 0' <<<"$line")" | awk '{
        wall = ($8 - $2) / 100 / $13; if (wall <= 0) wall = 1e-9
        busy = ($7 - $1) / 100 / wall; server = ($9 - $3) / 100 / wall
        pg = ($10 - $4) / 100 / wall; gen = $14 / wall; other = busy - server - pg - gen
        if (other < 0) other = 0
        printf "{\"machine_busy_cores\": %.2f, \"server_cores\": %.2f, \"postgres_cores\": %.2f, \"generator_cores\": %.2f, \"other_cores\": %.2f, \"disk_written_mb\": %.1f, \"disk_flushes\": %d}", busy, server, pg, gen, other, ($11 - $5) * 512 / 1048576, $12 - $6 }')
    line=$(jq -c --arg server "$server" --argjson round "$round" --argjson syncs "$SYNCS" \
        --argjson hwm_kb "$hwm" --argjson cpu "$cpu" \
        '. + {server: $server, round: $round, syncs: $syncs, server_vmhwm_kb: $hwm_kb, cpu: $cpu}' <<<"$line")
    echo "$line" >>"$RESULTS"
    jq -r '"  \(.server) r\(.round) \(.label) \(.mode)\(if .mode == "open" then " @\(.rate_requests_per_s|floor) req/s" else "" end): \(.events_per_s|floor) events/s, p50 \(.p50_ms) p99 \(.p99_ms) max \(.max_ms) ms, errors \(.errors_total)\(if .syncs != null and .syncs > 0 then ", \(((.events_ok_with_warmup // .events_ok) / .syncs * 10 | floor) / 10) events/sync" else "" end); CPU cores: server \(.cpu.server_cores), pg \(.cpu.postgres_cores), generator \(.cpu.generator_cores), other \(.cpu.other_cores); disk \(.cpu.disk_written_mb) MB written, \(.cpu.disk_flushes) flushes"' <<<"$line" >&2
    LAST_RPS=$(jq -r '.requests_per_s' <<<"$line")
}

half() { awk -v r="$1" 'BEGIN { h = r / 2; if (h < 1) h = 1; printf "%.0f", h }'; }

log "results go to $OUT; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
log "$("$SIAGA" --version 2>/dev/null || echo 'siaga ?'); $("$AM_BIN" --version 2>&1 | head -1)"

log "starting Alertmanager, siaga on SQLite and siaga on PostgreSQL"
start_am am "$PORT_AM"
AM_PID=$APID
start_siaga siaga-sqlite "sqlite://$WORK/sqlite/siaga.db" "$PORT_SQLITE"
SQ_PID=$SPID SQ_PD=$PD_KEY SQ_AM=$AM_KEY
new_database
start_siaga siaga-pg "$DB_URL" "$PORT_PG"
PG_PID=$SPID PG_PD=$PD_KEY PG_AM=$AM_KEY

AM_URL=http://127.0.0.1:$PORT_AM
SQ_URL=http://127.0.0.1:$PORT_SQLITE
PG_URL=http://127.0.0.1:$PORT_PG

for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS"
    # Alertmanager: one alert per request, 64 per request, then the open
    # loop at half its own one-per-request peak.
    load alertmanager "$round" am-1 "$AM_PID" none --target alertmanager --url "$AM_URL" --batch 1 --connections "$CONNS"
    peak=$LAST_RPS
    load alertmanager "$round" am-64 "$AM_PID" none --target alertmanager --url "$AM_URL" --batch 64 --connections "$CONNS"
    load alertmanager "$round" am-1-half "$AM_PID" none --target alertmanager --url "$AM_URL" --batch 1 \
        --mode open --rate "$(half "$peak")" --connections "$OPEN_CONNS"

    for backend in sqlite pg; do
        if [ $backend = sqlite ]; then
            server=siaga-sqlite pid=$SQ_PID url=$SQ_URL pd=$SQ_PD am=$SQ_AM
        else
            server=siaga-pg pid=$PG_PID url=$PG_URL pd=$PG_PD am=$PG_AM
        fi
        load "$server" "$round" pd-1 "$pid" $backend --target siaga-pagerduty --url "$url" --routing-key "$pd" --connections "$CONNS"
        peak=$LAST_RPS
        load "$server" "$round" am-64 "$pid" $backend --target siaga-alertmanager --url "$url" --key "$am" --batch 64 --connections "$CONNS"
        load "$server" "$round" pd-1-half "$pid" $backend --target siaga-pagerduty --url "$url" --routing-key "$pd" \
            --mode open --rate "$(half "$peak")" --connections "$OPEN_CONNS"
    done
done

for conns in ${BENCH_SWEEP:-}; do
    log "sweep: $conns connections"
    load alertmanager 0 "am-1-c$conns" "$AM_PID" none --target alertmanager --url "$AM_URL" --batch 1 --connections "$conns"
    load siaga-sqlite 0 "pd-1-c$conns" "$SQ_PID" sqlite --target siaga-pagerduty --url "$SQ_URL" --routing-key "$SQ_PD" --connections "$conns"
    load siaga-pg 0 "pd-1-c$conns" "$PG_PID" pg --target siaga-pagerduty --url "$PG_URL" --routing-key "$PG_PD" --connections "$conns"
done

# Peak RSS over all the load runs.
for pair in "alertmanager:$AM_PID" "siaga-sqlite:$SQ_PID" "siaga-pg:$PG_PID"; do
    name=${pair%%:*} pid=${pair##*:}
    jq -cn --arg server "$name" --argjson hwm "$(status_kb "$pid" VmHWM)" --argjson rss "$(status_kb "$pid" VmRSS)" \
        '{kind: "peak_rss", server: $server, vmhwm_kb: $hwm, vmrss_kb: $rss}' >>"$RESULTS"
done
stop_pid "$AM_PID"
stop_pid "$SQ_PID"
stop_pid "$PG_PID"

# ---- memory per active alert --------------------------------------------------

# Fresh servers; a warm-up load of distinct alerts, then N more distinct
# active alerts, 64 per request; (RSS after - RSS before) / N, measured
# SETTLE seconds after the load. EXTRA is a function printing JSON about
# the stored state (or null).
memory() { # SERVER PID SETTLE EXTRA INGEST-ARGS...
    local server=$1 pid=$2 settle=$3 extra_fn=$4
    shift 4
    "$INGEST" --json --label warmup --warmup 0s --duration 120s --new-ratio 1 --batch 64 \
        --max-events 6400 --connections 4 "$@" >/dev/null 2>>"$OUT/ingest.log"
    sleep 2
    local before line after hwm extra
    before=$(status_kb "$pid" VmRSS)
    line=$("$INGEST" --json --label memory --warmup 0s --duration 600s --new-ratio 1 --batch 64 \
        --max-events "$MEM_ALERTS" --connections 4 "$@" 2>>"$OUT/ingest.log")
    sleep "$settle"
    after=$(status_kb "$pid" VmRSS)
    hwm=$(status_kb "$pid" VmHWM)
    extra=$("$extra_fn" 2>/dev/null || true)
    jq -c --arg server "$server" --argjson before "$before" --argjson after "$after" --argjson hwm "$hwm" \
        --argjson n "$MEM_ALERTS" --argjson extra "${extra:-null}" \
        '{kind: "memory", server: $server, alerts: $n, events_ok: .events_ok, errors_total: .errors_total,
          load_events_per_s: .events_per_s, rss_before_kb: $before, rss_after_kb: $after, vmhwm_kb: $hwm,
          bytes_per_alert: ((($after - $before) * 1024 / $n) | floor), stored: $extra}' <<<"$line" >>"$RESULTS"
    tail -1 "$RESULTS" | jq -r '"  memory \(.server): \(.events_ok) alerts loaded (\(.load_events_per_s|floor)/s, errors \(.errors_total)), RSS \(.rss_before_kb) -> \(.rss_after_kb) kB = \(.bytes_per_alert) bytes/alert; \(.stored)"' >&2
}

stored_am() {
    # Alerts it holds, whatever their state (with group_wait 30s new ones
    # stay "unprocessed" until their group is first flushed).
    curl -fsS "$AM_URL/metrics" | awk '
        $1 ~ /^alertmanager_alerts\{state=/ { n += $2 }
        $1 == "go_memstats_heap_inuse_bytes" { heap = $2 }
        END { printf "{\"alerts\": %d, \"go_heap_inuse_kb\": %d}\n", n, heap / 1024 }'
}
stored_sqlite() {
    jq -cn --argjson kb "$(du -sk "$WORK/sqlite-mem" | cut -f1)" '{database_kb: $kb}'
}
stored_pg() {
    psql "$PG_MEM_URL" -qAtc "SELECT json_build_object('database_kb', pg_database_size(current_database()) / 1024,
        'alerts', (SELECT count(*) FROM alerts))"
}

if [ "$MEM_ALERTS" -gt 0 ]; then
    log "memory per active alert ($MEM_ALERTS alerts each, fresh servers)"
    start_am am-mem "$PORT_AM"
    # 35 s: past the default group_wait (30 s), so the alerts have been
    # through their group's first flush.
    memory alertmanager "$APID" 35 stored_am --target alertmanager --url "$AM_URL"
    stop_pid "$APID"

    start_siaga siaga-sqlite-mem "sqlite://$WORK/sqlite-mem/siaga.db" "$PORT_SQLITE"
    memory siaga-sqlite "$SPID" 5 stored_sqlite --target siaga-alertmanager --url "$SQ_URL" --key "$AM_KEY"
    stop_pid "$SPID"

    new_database
    PG_MEM_URL=$DB_URL
    start_siaga siaga-pg-mem "$PG_MEM_URL" "$PORT_PG"
    memory siaga-pg "$SPID" 5 stored_pg --target siaga-alertmanager --url "$PG_URL" --key "$AM_KEY"
    stop_pid "$SPID"
fi

# ---- summary -----------------------------------------------------------------------

python3 "$ROOT/bench/summary.py" "$RESULTS" | tee "$OUT/summary.md"
log "results: $OUT (results.jsonl, summary.md, server logs)"
