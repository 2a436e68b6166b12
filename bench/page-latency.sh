#!/usr/bin/env bash
# Page latency: from an alert sent to the first notification a webhook
# receiver gets, for siaga on SQLite, siaga on PostgreSQL and Prometheus
# Alertmanager 0.25 (group_wait: 0s) in one run; then, for siaga, how late
# escalation timers fire with 10,000 of them pending, and how soon the
# timers that fell due while siaga was killed fire after its restart.
# Each round also times the disk alone (a write and an fsync per probe in
# siaga's data directory, on the same schedule): the floor of a durable page.
# See bench/README.md.
#
#   bench/page-latency.sh
#
# Environment (all optional):
#   BENCH_ROUNDS        interleaved rounds of the latency runs (2)
#   BENCH_ALERTS        probes per run (1000)
#   BENCH_RATE          probes per second (100)
#   BENCH_WARMUP        probes sent to each server before each measured run, not counted (200; 0 skips it)
#   BENCH_BACKLOG       pending escalation timers for the timer run (10000; 0 skips it)
#   BENCH_CRASH_ALERTS  probes whose next level falls due while siaga is down (200; 0 skips it)
#   BENCH_PG            PostgreSQL server URL without a database (postgres://postgres@127.0.0.1:5432)
#   BENCH_BACKENDS      siaga's backends to measure ("sqlite pg")
#   SIAGA_BIN           use this siaga binary instead of `cargo build --release`
#   AM_BIN              Alertmanager binary (/usr/bin/prometheus-alertmanager)
#   BENCH_PORT_BASE     first of the three loopback ports used (18191)
#   BENCH_OUT           where results go (bench/results/page-latency-TIMESTAMP)
#
# Everything listens on and talks to 127.0.0.1 only; every process started
# here is stopped on exit, and the PostgreSQL databases created are dropped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${BENCH_ROUNDS:-2}
ALERTS=${BENCH_ALERTS:-1000}
RATE=${BENCH_RATE:-100}
WARMUP=${BENCH_WARMUP:-200}
BACKLOG=${BENCH_BACKLOG:-10000}
CRASH_ALERTS=${BENCH_CRASH_ALERTS:-200}
PG_SERVER=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
BACKENDS=${BENCH_BACKENDS:-sqlite pg}
AM_BIN=${AM_BIN:-/usr/bin/prometheus-alertmanager}
PORT_BASE=${BENCH_PORT_BASE:-18191}
PORT_SIAGA=$PORT_BASE
PORT_AM=$((PORT_BASE + 1))
PORT_RECEIVER=$((PORT_BASE + 2))
OUT=${BENCH_OUT:-$ROOT/bench/results/page-latency-$(date -u +%Y%m%dT%H%M%SZ)}
TOKEN=siaga_bench_bootstrap_token_0123456789
PROBE_KEY=bench-probe-key-0123456789abcdef
BACKLOG_KEY=bench-backlog-key-0123456789abcd

BENCH_NAME=page-latency
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_need curl jq psql
bench_start
bench_binaries
PROBE=$BENCH_TOOLS/page-latency
RECEIVER=127.0.0.1:$PORT_RECEIVER
HOOKS=http://$RECEIVER

bench_ports_free "$PORT_SIAGA" "$PORT_AM" "$PORT_RECEIVER"

# ---- configs -----------------------------------------------------------------

# Probes page `first` at once and `second` a minute later (the shortest
# wait siaga allows); backlog alerts page `backlog` and then wait an hour,
# so each leaves an escalation timer pending.
cat >"$WORK/siaga.yaml" <<EOF
organisation: {name: Bench}
people:
  - {handle: first, name: First, email: first@bench.example, contact_methods: [{type: webhook, address: "$HOOKS/first"}]}
  - {handle: second, name: Second, email: second@bench.example, contact_methods: [{type: webhook, address: "$HOOKS/second"}]}
  - {handle: backlog, name: Backlog, email: backlog@bench.example, contact_methods: [{type: webhook, address: "$HOOKS/backlog"}]}
teams:
  - {name: bench, lead: second, head: second, members: [first, backlog]}
escalation_policies:
  - name: probe
    levels:
      - {notify: ["person:first"], wait: 1m}
      - {notify: ["person:second"], wait: 60m}
  - name: backlog
    levels:
      - {notify: ["person:backlog"], wait: 60m}
      - {notify: ["person:backlog"], wait: 60m}
services:
  - name: probe
    owner: bench
    tier: 2
    escalation_policy: probe
    integrations:
      - {name: probes, kind: pagerduty, key: $PROBE_KEY, rate_limit: {events: 100000000, per: 1m}}
  - name: backlog
    owner: bench
    tier: 2
    escalation_policy: backlog
    integrations:
      - {name: backlog, kind: pagerduty, key: $BACKLOG_KEY, rate_limit: {events: 100000000, per: 1m}}
EOF
"$SIAGA" config validate "$WORK/siaga.yaml" >/dev/null || die "the bench config does not validate"

# Every alert its own group, notified as soon as it arrives.
cat >"$WORK/alertmanager.yml" <<EOF
route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: $HOOKS/first
        send_resolved: false
EOF

# ---- servers -----------------------------------------------------------------

start_siaga() { # NAME DATABASE_URL: sets SPID
    SIAGA_BOOTSTRAP_TOKEN=$TOKEN SIAGA_LOG=${SIAGA_LOG:-warn} \
        "$SIAGA" serve --listen "127.0.0.1:$PORT_SIAGA" --database-url "$2" --config "$WORK/siaga.yaml" \
        >>"$OUT/$1.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    wait_http "http://127.0.0.1:$PORT_SIAGA/readyz" "$SPID" "$1"
}

start_am() {
    rm -rf "$WORK/am-data"
    "$AM_BIN" --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am-data" \
        --web.listen-address="127.0.0.1:$PORT_AM" --cluster.listen-address= \
        --log.level=warn >>"$OUT/alertmanager.log" 2>&1 &
    APID=$!
    PIDS+=("$APID")
    wait_http "http://127.0.0.1:$PORT_AM/-/ready" "$APID" alertmanager
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

new_database_url() { # BACKEND NAME: sets DB_URL to a fresh database
    if [ "$1" = sqlite ]; then
        rm -rf "$WORK/$2"
        DB_URL=sqlite://$WORK/$2/siaga.db
    else
        local db=siaga_page_latency_$$_${#DATABASES[@]}
        psql "$PG_SERVER/postgres" -qAtc "CREATE DATABASE $db" >/dev/null
        DATABASES+=("$db")
        DB_URL=$PG_SERVER/$db
    fi
}

probe() { # SERVER ROUND LABEL ARGS...: one page-latency run, appended to the results
    local server=$1 round=$2 label=$3 line
    shift 3
    line=$("$PROBE" --json --label "$label" --receiver "$RECEIVER" "$@" 2>>"$OUT/page-latency.log")
    jq -c --arg server "$server" --argjson round "$round" '. + {server: $server, round: $round}' <<<"$line" >>"$RESULTS"
    tail -1 "$RESULTS" | jq -r '"  \(.server) r\(.round) \(.label): first page p50 \(.first.p50_ms) p99 \(.first.p99_ms) max \(.first.max_ms) ms (\(.first.received) received, \(.first.missing) missing)\(if .second != null then "; next level late by p50 \(.second.p50_ms) p99 \(.second.p99_ms) max \(.second.max_ms) ms (\(.second.received) received)" else "" end)"' >&2
}

stages() { # SERVER ROUND: the mean of each ingestion stage over the run (warm-up
    # included), from siaga's /metrics, kept with the results and logged
    local metrics="$OUT/$1-r$2.metrics"
    curl -fsS "http://127.0.0.1:$PORT_SIAGA/metrics" >"$metrics" || return 0
    awk -v server="$1" -v round="$2" '
        /^siaga_ingest_stage_seconds_(sum|count)\{/ {
            match($1, /stage="[^"]*"/); stage = substr($1, RSTART + 7, RLENGTH - 8)
            if ($1 ~ /_sum/) sum[stage] = $2; else count[stage] = $2
        }
        END {
            n = split("begin read plan page write follow-up commit", order, " ")
            line = ""
            for (i = 1; i <= n; i++) if (count[order[i]] > 0)
                line = line sprintf("%s %.2f, ", order[i], sum[order[i]] / count[order[i]] * 1000)
            if (line != "") printf "  %s r%s stages, ms a batch: %s\n", server, round, substr(line, 1, length(line) - 2)
        }' "$metrics" >&2
}

warm_up() { # ARGS...: a run whose figures are thrown away, so that the measured
    # one does not pay for a fresh process's first touches of its memory
    [ "$WARMUP" -gt 0 ] || return 0
    "$PROBE" --json --label warm-up --receiver "$RECEIVER" --alerts "$WARMUP" --rate "$RATE" "$@" \
        >/dev/null 2>>"$OUT/page-latency.log" || die "the warm-up run failed; see $OUT/page-latency.log"
}

log "results go to $OUT; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
log "$("$SIAGA" --version 2>/dev/null || echo 'siaga ?'); $("$AM_BIN" --version 2>&1 | head -1)"

# ---- page latency, interleaved ----------------------------------------------------

for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS: $ALERTS alerts at $RATE/s each"
    start_am
    warm_up --target alertmanager --url "http://127.0.0.1:$PORT_AM"
    probe alertmanager "$round" page --target alertmanager --url "http://127.0.0.1:$PORT_AM" \
        --alerts "$ALERTS" --rate "$RATE"
    stop_pid "$APID"
    probe disk-fsync "$round" page --target disk --dir "$WORK" --alerts "$ALERTS" --rate "$RATE"
    for backend in $BACKENDS; do
        new_database_url $backend "data-$round"
        start_siaga "siaga-$backend" "$DB_URL"
        warm_up --target siaga --url "http://127.0.0.1:$PORT_SIAGA" --routing-key "$PROBE_KEY"
        probe "siaga-$backend" "$round" page --target siaga --url "http://127.0.0.1:$PORT_SIAGA" \
            --routing-key "$PROBE_KEY" --alerts "$ALERTS" --rate "$RATE"
        stages "siaga-$backend" "$round"
        stop_pid "$SPID"
    done
done

# ---- timers with a backlog -------------------------------------------------------

if [ "$BACKLOG" -gt 0 ]; then
    for backend in $BACKENDS; do
        log "timers: siaga-$backend with $BACKLOG escalation timers pending"
        new_database_url $backend data-timers
        start_siaga "siaga-$backend" "$DB_URL"
        probe "siaga-$backend" 0 timers --target siaga --url "http://127.0.0.1:$PORT_SIAGA" \
            --routing-key "$PROBE_KEY" --alerts "$ALERTS" --rate "$RATE" --second-level 1m \
            --backlog "$BACKLOG" --backlog-key "$BACKLOG_KEY"
        stop_pid "$SPID"
    done
fi

# ---- timers that fell due while siaga was down --------------------------------------

if [ "$CRASH_ALERTS" -gt 0 ]; then
    for backend in sqlite pg; do
        log "crash: siaga-$backend killed once $CRASH_ALERTS first pages are out, restarted after their next level fell due"
        new_database_url $backend data-crash
        start_siaga "siaga-$backend" "$DB_URL"
        rm -f "$WORK/paused" "$WORK/resumed"
        "$PROBE" --json --label crash --receiver "$RECEIVER" --target siaga --url "http://127.0.0.1:$PORT_SIAGA" \
            --routing-key "$PROBE_KEY" --alerts "$CRASH_ALERTS" --rate "$RATE" --second-level 1m \
            --pause-file "$WORK/paused" --resume-file "$WORK/resumed" \
            >"$WORK/crash.json" 2>>"$OUT/page-latency.log" &
        probe_pid=$!
        while [ ! -e "$WORK/paused" ]; do
            kill -0 "$probe_pid" 2>/dev/null || die "page-latency stopped before the first level was done"
            sleep 0.1
        done
        kill -9 "$SPID"
        wait "$SPID" 2>/dev/null || true
        log "  killed; waiting for the next level to fall due"
        sleep 62
        # Measured from the restart itself, start-up included.
        restarted=$(date +%s%3N)
        start_siaga "siaga-$backend" "$DB_URL"
        echo "$restarted" >"$WORK/resumed"
        wait "$probe_pid" || die "page-latency failed in the crash run"
        jq -c --arg server "siaga-$backend" '. + {server: $server, round: 0}' "$WORK/crash.json" >>"$RESULTS"
        tail -1 "$RESULTS" | jq -r '"  \(.server) crash: timers due while down fired after the restart within p50 \(.second.p50_ms) p99 \(.second.p99_ms) max \(.second.max_ms) ms (\(.second.received) of \(.alerts))"' >&2
        stop_pid "$SPID"
    done
fi

# ---- summary -----------------------------------------------------------------------

{
    echo "| server | round | run | first page p50 | p99 | max | next level late by p99 | max | received |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
    jq -r '"| \(.server) | \(.round) | \(.label) | \(.first.p50_ms) ms | \(.first.p99_ms) ms | \(.first.max_ms) ms | \(if .second != null then "\(.second.p99_ms) ms" else "–" end) | \(if .second != null then "\(.second.max_ms) ms" else "–" end) | \(.first.received)/\(.alerts) |"' "$RESULTS"
    echo
    echo "Ratio of p99 first-page latency, siaga / Alertmanager, per round"
    echo "(disk-fsync: one fsync in siaga's data directory per probe, the floor of a durable page):"
    jq -rs 'group_by(.round) | map(select(.[0].round > 0)) | .[] |
        (map(select(.server == "alertmanager"))[0].first.p99_ms) as $am |
        map(select(.server != "alertmanager")) | .[] |
        "- round \(.round) \(.server): \(.first.p99_ms) / \($am) = \((.first.p99_ms / $am * 100 | round) / 100)x"' "$RESULTS"
} | tee "$OUT/summary.md"
log "results: $OUT (results.jsonl, summary.md, server logs)"
