//! `ingest`: a load generator for alert ingestion.
//!
//! Posts alert events over N keep-alive HTTP/1.1 connections for a fixed
//! time and reports throughput and latency from an HDR histogram:
//!
//! * `--mode closed`: every connection sends its next request as soon as
//!   the previous answer is in (peak throughput).
//! * `--mode open --rate R`: requests are due on a fixed schedule (R per
//!   second, whatever the server does); latency is measured from the time a
//!   request was *due*, not from when a connection got round to sending it,
//!   so a server that falls behind shows it (no coordinated omission).
//!
//! Targets: siaga's PagerDuty Events API v2 (`/v2/enqueue`), siaga's
//! Alertmanager webhook (`/api/v1/integrations/alertmanager`, version 4,
//! `--batch` alerts per notification) and Prometheus Alertmanager's own
//! `POST /api/v2/alerts` (`--batch` alerts per request).
//!
//! The HTTP client is a deliberately small hand-written one (Content-Length
//! and chunked bodies, keep-alive, reconnect on close) so that the tool
//! builds in seconds and adds little CPU of its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::json;
use siaga_bench::{Buf, Conn, Rng, mix, parse_duration, rfc3339, split_url};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Each connection sends back-to-back.
    Closed,
    /// A fixed arrival rate (`--rate` requests per second).
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// siaga `POST /v2/enqueue` (PagerDuty Events API v2 trigger events).
    SiagaPagerduty,
    /// siaga `POST /api/v1/integrations/alertmanager` (webhook version 4).
    SiagaAlertmanager,
    /// Prometheus Alertmanager `POST /api/v2/alerts`.
    Alertmanager,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::SiagaPagerduty => "siaga-pagerduty",
            Target::SiagaAlertmanager => "siaga-alertmanager",
            Target::Alertmanager => "alertmanager",
        }
    }
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "ingest",
    about = "Load generator for siaga's ingestion endpoints and Alertmanager's /api/v2/alerts"
)]
struct Args {
    /// What to post to.
    #[arg(long, value_enum)]
    target: Target,
    /// Base URL of the server, e.g. http://127.0.0.1:8080 (plain HTTP only).
    #[arg(long)]
    url: String,
    #[arg(long, value_enum, default_value = "closed")]
    mode: Mode,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Open mode: requests per second (events per second = rate × batch).
    #[arg(long)]
    rate: Option<f64>,
    /// How long to measure (after the warm-up), e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before measuring starts; not counted.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// siaga-pagerduty: the integration's routing key.
    #[arg(long)]
    routing_key: Option<String>,
    /// siaga-alertmanager: the integration key (sent as a bearer token).
    #[arg(long)]
    key: Option<String>,
    /// Alerts per request (siaga-alertmanager, alertmanager). Always 1 for
    /// siaga-pagerduty.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Share of alerts with a new dedup key; the rest repeat a key from a
    /// pool of `--pool` keys.
    #[arg(long, default_value_t = 0.3)]
    new_ratio: f64,
    /// Size of the pool of repeated keys.
    #[arg(long, default_value_t = 1000)]
    pool: u64,
    /// Stop after this many events have been sent (e.g. to load N distinct
    /// alerts with --new-ratio 1 --warmup 0s); the duration still bounds it.
    #[arg(long)]
    max_events: Option<u64>,
    /// Give up on one request after this long (counted as an error).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Open mode: after the schedule ends, how long to wait for requests
    /// still due; those never sent count as `unsent` with their waiting
    /// time so far as latency.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    grace: Duration,
    /// Prefix of the generated keys; default: random per run, so runs do
    /// not repeat each other's alerts.
    #[arg(long)]
    run_id: Option<String>,
    /// A name for this run in the output.
    #[arg(long)]
    label: Option<String>,
    /// Worker threads of the generator (keep it small on a small machine:
    /// the server needs the cores).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON object on stdout (the human line goes to stderr).
    #[arg(long)]
    json: bool,
}

// ---- request bodies --------------------------------------------------------

/// Everything needed to build requests; shared by the connections.
struct Workload {
    target: Target,
    host_header: String,
    path: String,
    auth_header: String,
    secret: String,
    batch: usize,
    new_ratio: f64,
    pool: u64,
    run_id: String,
    salt: u64,
    starts_at: String,
    /// Source of new keys (ids below 2^62; pool keys are 2^62 + n).
    next_new: AtomicU64,
}

impl Workload {
    /// A new key, or one of this connection's pool. Each connection plays
    /// one source (for webhooks: one Alertmanager aggregation group, which
    /// Alertmanager never notifies twice at once), so concurrent requests
    /// never repeat each other's alerts.
    fn key_id(&self, conn: u64, rng: &mut Rng) -> u64 {
        if self.pool == 0 || rng.unit() < self.new_ratio {
            self.next_new.fetch_add(1, Ordering::Relaxed)
        } else {
            (1u64 << 62) | (conn << 32) | (rng.next_u64() % self.pool)
        }
    }

    /// One request, head and body, for connection `conn`.
    fn request(&self, conn: u64, rng: &mut Rng, out: &mut Vec<u8>) {
        let mut body = String::with_capacity(256 * self.batch.max(1));
        match self.target {
            Target::SiagaPagerduty => {
                let id = self.key_id(conn, rng);
                let key = format!("{}-{id}", self.run_id);
                let host = mix(id ^ self.salt) % 50;
                let _ = write!(
                    body,
                    r#"{{"routing_key":"{}","event_action":"trigger","dedup_key":"{key}","payload":{{"summary":"Gateway latency above 2s on gw-{host} ({key})","source":"gw-{host}.payments.internal","severity":"error","component":"gateway","group":"payments","class":"latency","custom_details":{{"p95_ms":"2140","region":"ap-southeast-1","bench":"ingest"}}}},"client":"bench","client_url":"https://monitoring.example/checks/{key}"}}"#,
                    self.secret
                );
            }
            Target::SiagaAlertmanager => {
                body.push_str(r#"{"receiver":"siaga","status":"firing","alerts":["#);
                for n in 0..self.batch {
                    let id = self.key_id(conn, rng);
                    if n > 0 {
                        body.push(',');
                    }
                    let _ = write!(
                        body,
                        r#"{{"status":"firing","labels":{{"alertname":"BenchHighErrorRate","instance":"{run}-{id}:8080","job":"checkout","service":"checkout","severity":"critical","shard":"c{conn}"}},"annotations":{{"summary":"Checkout error rate above 5%","description":"5xx ratio is 12% on {run}-{id}"}},"startsAt":"{starts}","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example:9090/graph?g0.expr=rate%28http_errors%5B5m%5D%29","fingerprint":"{fp:016x}"}}"#,
                        run = self.run_id,
                        starts = self.starts_at,
                        fp = mix(id ^ self.salt),
                    );
                }
                let _ = write!(
                    body,
                    r#"],"groupLabels":{{"alertname":"BenchHighErrorRate","shard":"c{conn}"}},"commonLabels":{{"alertname":"BenchHighErrorRate","job":"checkout","service":"checkout","severity":"critical","shard":"c{conn}"}},"commonAnnotations":{{"summary":"Checkout error rate above 5%"}},"externalURL":"http://alertmanager.example:9093","version":"4","groupKey":"{{}}:{{alertname=\"BenchHighErrorRate\", shard=\"c{conn}\", run=\"{run}\"}}","truncatedAlerts":0}}"#,
                    run = self.run_id,
                );
            }
            Target::Alertmanager => {
                body.push('[');
                for n in 0..self.batch {
                    let id = self.key_id(conn, rng);
                    if n > 0 {
                        body.push(',');
                    }
                    let _ = write!(
                        body,
                        r#"{{"labels":{{"alertname":"BenchHighErrorRate","instance":"{run}-{id}:8080","job":"checkout","service":"checkout","severity":"critical","shard":"c{conn}"}},"annotations":{{"summary":"Checkout error rate above 5%","description":"5xx ratio is 12% on {run}-{id}"}},"startsAt":"{starts}","generatorURL":"http://prometheus.example:9090/graph?g0.expr=rate%28http_errors%5B5m%5D%29"}}"#,
                        run = self.run_id,
                        starts = self.starts_at,
                    );
                }
                body.push(']');
            }
        }
        out.clear();
        let _ = write!(
            Buf(out),
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: siaga-bench-ingest\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
            self.path,
            self.host_header,
            body.len(),
            self.auth_header
        );
        out.extend_from_slice(body.as_bytes());
    }
}

// ---- running -----------------------------------------------------------------

/// What one connection saw.
struct Tally {
    latency_us: Histogram<u64>,
    ok_requests: u64,
    ok_events: u64,
    /// Including the warm-up (to set against counters read around the
    /// whole run, like fsyncs).
    ok_events_all: u64,
    errors: BTreeMap<String, u64>,
    unsent: u64,
    last_done: Option<Instant>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            ok_requests: 0,
            ok_events: 0,
            ok_events_all: 0,
            errors: BTreeMap::new(),
            unsent: 0,
            last_done: None,
        }
    }

    fn record(&mut self, latency: Duration) {
        let us = (latency.as_micros() as u64).max(1);
        self.latency_us.saturating_record(us);
    }

    fn merge(&mut self, other: Tally) {
        self.latency_us.add(&other.latency_us).expect("same bounds");
        self.ok_requests += other.ok_requests;
        self.ok_events += other.ok_events;
        self.ok_events_all += other.ok_events_all;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.unsent += other.unsent;
        self.last_done = self.last_done.max(other.last_done);
    }
}

struct Plan {
    mode: Mode,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    hard_stop: Instant,
    interval: Duration,
    /// Open mode: requests due before `end`.
    scheduled: u64,
    max_requests: Option<u64>,
    timeout: Duration,
}

impl Plan {
    fn due(&self, i: u64) -> Instant {
        self.start + self.interval.mul_f64(i as f64)
    }
}

async fn connection(
    workload: Arc<Workload>,
    plan: Arc<Plan>,
    next: Arc<AtomicU64>,
    addr: String,
    index: u64,
    seed: u64,
) -> Tally {
    let mut tally = Tally::new();
    let mut conn = Conn::new(addr);
    let mut rng = Rng(seed);
    let mut request = Vec::with_capacity(32 * 1024);
    let events_per_request = match workload.target {
        Target::SiagaPagerduty => 1,
        _ => workload.batch as u64,
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if plan.max_requests.is_some_and(|max| i >= max) {
            break;
        }
        let began = match plan.mode {
            Mode::Closed => {
                let now = Instant::now();
                if now >= plan.end {
                    break;
                }
                now
            }
            Mode::Open => {
                if i >= plan.scheduled {
                    break;
                }
                let due = plan.due(i);
                if Instant::now() >= plan.hard_stop {
                    // Due, never sent: its wait so far is a lower bound.
                    if due >= plan.measure_from {
                        tally.unsent += 1;
                        tally.record(plan.hard_stop.saturating_duration_since(due));
                    }
                    continue;
                }
                tokio::time::sleep_until(due.into()).await;
                due
            }
        };
        workload.request(index, &mut rng, &mut request);
        let outcome = tokio::time::timeout(plan.timeout, conn.send(&request)).await;
        let done = Instant::now();
        if matches!(outcome, Ok(Ok(status)) if (200..300).contains(&status)) {
            tally.ok_events_all += events_per_request;
        }
        if began < plan.measure_from {
            continue;
        }
        tally.record(done - began);
        tally.last_done = Some(done);
        match outcome {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                tally.ok_requests += 1;
                tally.ok_events += events_per_request;
            }
            Ok(Ok(status)) => *tally.errors.entry(status.to_string()).or_default() += 1,
            Ok(Err(e)) => {
                let kind = if e.starts_with("connect") {
                    "connect"
                } else {
                    "io"
                };
                *tally.errors.entry(kind.into()).or_default() += 1;
            }
            Err(_) => {
                conn.stream = None;
                *tally.errors.entry("timeout".into()).or_default() += 1;
            }
        }
    }
    tally
}

fn main() {
    let args = Args::parse();
    if let Err(message) = run(args) {
        eprintln!("ingest: {message}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), String> {
    let (addr, host_header, prefix) = split_url(&args.url)?;
    let (path, auth_header, secret, batch) = match args.target {
        Target::SiagaPagerduty => {
            let key = args
                .routing_key
                .clone()
                .ok_or("--target siaga-pagerduty needs --routing-key")?;
            (format!("{prefix}/v2/enqueue"), String::new(), key, 1)
        }
        Target::SiagaAlertmanager => {
            let key = args
                .key
                .clone()
                .ok_or("--target siaga-alertmanager needs --key")?;
            (
                format!("{prefix}/api/v1/integrations/alertmanager"),
                format!("Authorization: Bearer {key}\r\n"),
                String::new(),
                args.batch.max(1),
            )
        }
        Target::Alertmanager => (
            format!("{prefix}/api/v2/alerts"),
            String::new(),
            String::new(),
            args.batch.max(1),
        ),
    };
    if args.mode == Mode::Open && !args.rate.is_some_and(|r| r > 0.0) {
        return Err("--mode open needs --rate R (requests per second, R > 0)".into());
    }
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&args.new_ratio) {
        return Err("--new-ratio must be between 0 and 1".into());
    }
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let entropy = mix(now_unix
        ^ u64::from(std::process::id()).rotate_left(32)
        ^ SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0));
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("b{:08x}", entropy as u32));
    let workload = Arc::new(Workload {
        target: args.target,
        host_header,
        path,
        auth_header,
        secret,
        batch,
        new_ratio: args.new_ratio,
        pool: args.pool,
        salt: mix(run_id.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        })),
        run_id,
        starts_at: rfc3339(now_unix),
        next_new: AtomicU64::new(0),
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let events_per_request = batch as u64;
    let tally = runtime.block_on(async {
        let start = Instant::now() + Duration::from_millis(20);
        let measure_from = start + args.warmup;
        let end = measure_from + args.duration;
        let (interval, scheduled) = match args.mode {
            Mode::Closed => (Duration::ZERO, u64::MAX),
            Mode::Open => {
                let rate = args.rate.unwrap_or(1.0);
                let total = (args.warmup + args.duration).as_secs_f64() * rate;
                (Duration::from_secs_f64(1.0 / rate), total.ceil() as u64)
            }
        };
        let plan = Arc::new(Plan {
            mode: args.mode,
            start,
            measure_from,
            end,
            hard_stop: end + args.grace,
            interval,
            scheduled,
            max_requests: args.max_events.map(|e| e.div_ceil(events_per_request)),
            timeout: args.timeout,
        });
        let next = Arc::new(AtomicU64::new(0));
        tokio::time::sleep_until(start.into()).await;
        let mut handles = Vec::new();
        for c in 0..args.connections {
            handles.push(tokio::spawn(connection(
                workload.clone(),
                plan.clone(),
                next.clone(),
                addr.clone(),
                c as u64,
                entropy ^ mix(c as u64 + 1),
            )));
        }
        let mut total = Tally::new();
        for handle in handles {
            if let Ok(tally) = handle.await {
                total.merge(tally);
            }
        }
        // Open mode: requests due that no connection ever took.
        if args.mode == Mode::Open {
            let taken = next.load(Ordering::Relaxed).min(plan.scheduled);
            for i in taken..plan.scheduled {
                let due = plan.due(i);
                if due >= plan.measure_from {
                    total.unsent += 1;
                    total.record(plan.hard_stop.saturating_duration_since(due));
                }
            }
        }
        // The measured window: from the end of the warm-up to the end of the
        // schedule, or to the last answer if that came later.
        let until = match (args.mode, total.last_done) {
            (Mode::Closed, Some(last)) => last,
            (Mode::Open, Some(last)) => last.max(end),
            (_, None) => end,
        };
        (total, until.saturating_duration_since(measure_from))
    });
    let (tally, window) = tally;
    let seconds = window.as_secs_f64().max(1e-9);
    let h = &tally.latency_us;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let error_total: u64 = tally.errors.values().sum();
    let label = args
        .label
        .clone()
        .unwrap_or_else(|| args.target.name().to_string());
    let report = json!({
        "label": label,
        "target": args.target.name(),
        "url": args.url,
        "mode": match args.mode { Mode::Closed => "closed", Mode::Open => "open" },
        "connections": args.connections,
        "rate_requests_per_s": args.rate,
        "batch": batch,
        "new_ratio": args.new_ratio,
        "seconds": round(seconds, 3),
        "requests_ok": tally.ok_requests,
        "events_ok": tally.ok_events,
        "events_ok_with_warmup": tally.ok_events_all,
        "events_per_s": round(tally.ok_events as f64 / seconds, 1),
        "requests_per_s": round(tally.ok_requests as f64 / seconds, 1),
        "latency_samples": h.len(),
        "p50_ms": round(ms(0.50), 3),
        "p90_ms": round(ms(0.90), 3),
        "p99_ms": round(ms(0.99), 3),
        "p999_ms": round(ms(0.999), 3),
        "max_ms": round(h.max() as f64 / 1000.0, 3),
        "mean_ms": round(h.mean() / 1000.0, 3),
        "errors": tally.errors,
        "errors_total": error_total,
        "unsent": tally.unsent,
        "generator_cpu_s": own_cpu_seconds(),
    });
    let rate = match args.rate {
        Some(r) if args.mode == Mode::Open => format!(" rate={r:.0}/s"),
        _ => String::new(),
    };
    let errors = if tally.errors.is_empty() {
        "none".to_string()
    } else {
        tally
            .errors
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let line = format!(
        "{label:<22} {mode:<6} conns={conns:<3} batch={batch:<3}{rate} {eps:>9.0} events/s {rps:>8.0} req/s  p50={p50:.2} p90={p90:.2} p99={p99:.2} max={max:.2} ms  errors={errors}{unsent}",
        mode = report["mode"].as_str().unwrap_or(""),
        conns = args.connections,
        eps = tally.ok_events as f64 / seconds,
        rps = tally.ok_requests as f64 / seconds,
        p50 = ms(0.50),
        p90 = ms(0.90),
        p99 = ms(0.99),
        max = h.max() as f64 / 1000.0,
        unsent = if tally.unsent > 0 {
            format!(" unsent={}", tally.unsent)
        } else {
            String::new()
        },
    );
    if args.json {
        eprintln!("{line}");
        println!("{report}");
    } else {
        println!("{line}");
    }
    Ok(())
}

/// CPU time this process used (user + system), from /proc/self/stat.
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15, i.e. 12 and 13 after `) `.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(round(ticks as f64 / 100.0, 2))
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use siaga_bench::find;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("ten").is_err());
    }

    #[test]
    fn urls_split() {
        let (addr, host, prefix) = split_url("http://127.0.0.1:9093/").unwrap();
        assert_eq!(
            (addr.as_str(), host.as_str(), prefix.as_str()),
            ("127.0.0.1:9093", "127.0.0.1:9093", "")
        );
        assert!(split_url("https://x").is_err());
    }

    #[tokio::test]
    async fn responses_by_length_and_by_chunks_on_one_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for answer in [
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n3\r\n!!!\r\n0\r\n\r\n"[..],
                &b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno"[..],
                &b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"[..],
            ] {
                let mut request = Vec::new();
                while find(&request, b"\r\n\r\nx", 0).is_none() {
                    let mut byte = [0u8; 1];
                    socket.read_exact(&mut byte).await.unwrap();
                    request.push(byte[0]);
                }
                seen.push(request);
                socket.write_all(answer).await.unwrap();
            }
            seen.len()
        });
        let mut conn = Conn::new(addr);
        let request = b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(conn.send(request).await.unwrap(), 200);
        assert!(conn.stream.is_some());
        assert_eq!(conn.send(request).await.unwrap(), 503);
        assert_eq!(conn.send(request).await.unwrap(), 204);
        assert!(conn.stream.is_none(), "Connection: close is honoured");
        assert_eq!(server.await.unwrap(), 3, "all three on one connection");
    }

    #[test]
    fn bodies_are_json() {
        for (target, batch) in [
            (Target::SiagaPagerduty, 1),
            (Target::SiagaAlertmanager, 64),
            (Target::Alertmanager, 64),
        ] {
            let workload = Workload {
                target,
                host_header: "h".into(),
                path: "/p".into(),
                auth_header: String::new(),
                secret: "k".into(),
                batch,
                new_ratio: 0.3,
                pool: 10,
                run_id: "t".into(),
                salt: 1,
                starts_at: rfc3339(0),
                next_new: AtomicU64::new(0),
            };
            let mut out = Vec::new();
            workload.request(3, &mut Rng(7), &mut out);
            let at = find(&out, b"\r\n\r\n", 0).unwrap() + 4;
            let value: serde_json::Value = serde_json::from_slice(&out[at..]).unwrap();
            match target {
                Target::Alertmanager => assert_eq!(value.as_array().unwrap().len(), 64),
                Target::SiagaAlertmanager => {
                    assert_eq!(value["alerts"].as_array().unwrap().len(), 64)
                }
                Target::SiagaPagerduty => assert_eq!(value["routing_key"], "k"),
            }
        }
    }
}
