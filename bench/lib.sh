# Shared by bench/run.sh and bench/page-latency.sh, which source it after
# setting ROOT, OUT and PG_SERVER: logging, the work directory and its
# cleanup, the binaries under test and readiness checks.

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# bench_need TOOL...: fails early, naming what is missing.
bench_need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is needed"
    done
    [ -x "$AM_BIN" ] || die "no Alertmanager at $AM_BIN (apt-get install prometheus-alertmanager)"
}

# bench_start: the work directory, the results file and the cleanup on exit,
# which kills every process in PIDS, drops every database in DATABASES and
# removes WORK; a caller's bench_before_cleanup, if defined, runs first.
bench_start() {
    mkdir -p "$OUT"
    WORK=$(mktemp -d "/tmp/siaga-$BENCH_NAME.XXXXXX")
    RESULTS=$OUT/results.jsonl
    : >"$RESULTS"
    PIDS=()
    DATABASES=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local status=$? pid db
    if declare -F bench_before_cleanup >/dev/null; then bench_before_cleanup; fi
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for db in "${DATABASES[@]}"; do
        psql "$PG_SERVER/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $db"
    done
    rm -rf "$WORK"
    exit "$status"
}

# bench_binaries: SIAGA (a private copy of SIAGA_BIN, or of a fresh release
# build, so that a rebuild during the run cannot swap it) and the load
# generators' directory, BENCH_TOOLS. Ends with everything the builds and
# the copy wrote flushed to disk: left to the kernel, it is written back
# about 30 s later (vm.dirty_expire_centisecs), in the middle of the first
# measured runs, whose fsyncs then queue behind hundreds of MB.
bench_binaries() {
    if [ -z "${SIAGA_BIN:-}" ]; then
        log "building siaga (cargo build --release)"
        (cd "$ROOT" && cargo build --release --quiet)
        SIAGA_BIN=$ROOT/target/release/siaga
    fi
    [ -x "$SIAGA_BIN" ] || die "no siaga binary at $SIAGA_BIN"
    cp "$SIAGA_BIN" "$WORK/siaga"
    SIAGA=$WORK/siaga
    log "building the load generators"
    cargo build --release --quiet --manifest-path "$ROOT/bench/ingest/Cargo.toml"
    BENCH_TOOLS=$ROOT/bench/ingest/target/release
    log "flushing what the builds wrote (sync)"
    sync
}

# bench_ports_free PORT...
bench_ports_free() {
    local port
    for port in "$@"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "port $port is taken; set BENCH_PORT_BASE"
        fi
    done
}

# wait_http URL PID NAME: until URL answers 2xx; fails if the process exits.
wait_http() {
    for _ in $(seq 1 600); do
        kill -0 "$2" 2>/dev/null || die "$3 exited while starting; see $OUT/$3.log"
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    die "$3 did not become ready at $1"
}
