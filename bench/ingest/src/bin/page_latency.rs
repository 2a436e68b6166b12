//! `page-latency`: how long from an alert sent to the first notification a
//! webhook receiver gets, for siaga and for Prometheus Alertmanager.
//!
//! It runs the receiver itself (`--receiver`), sends `--alerts` probes at a
//! fixed `--rate` (open loop: each probe has a due time, and its latency
//! counts from then, so a server that falls behind cannot hide it), and
//! matches each notification to its probe by the probe's key in the body.
//!
//! * `/first` gets each probe's first notification: page latency.
//! * `/second` (siaga, `--second-level WAIT`) gets the next level's, `WAIT`
//!   after the first: how late an escalation timer fires.
//! * `/backlog` gets the pages of `--backlog N` alerts sent before the
//!   probes, which leave N escalation timers pending while they run.
//! * With `--pause-file`/`--resume-file` it stops after the first level and
//!   writes the pause file, so the caller can kill the server and restart
//!   it; the caller writes the Unix time (ms) of the restart into the
//!   resume file, and the second level is measured from then: how soon
//!   timers that fell due while the server was down fire.
//!
//! `--target disk --dir DIR` sends no alerts: at the same rate, each probe
//! writes two 4 KiB pages to a file in DIR and fsyncs it, as a SQLite commit
//! does. Its latency is the floor that a durable page on that disk cannot
//! go below, measured under the same schedule and timer slack as the pages.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use siaga_bench::receiver::{self, Arrival};
use siaga_bench::{Conn, Rng, parse_duration, rfc3339, split_url};
use tokio::sync::mpsc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// siaga's PagerDuty Events API v2 (`/v2/enqueue`).
    Siaga,
    /// Prometheus Alertmanager's `POST /api/v2/alerts`.
    Alertmanager,
    /// No server: a write and an fsync per probe in `--dir`.
    Disk,
}

#[derive(Parser, Debug)]
#[command(
    name = "page-latency",
    about = "Alert sent → first notification received, for siaga and Alertmanager"
)]
struct Args {
    #[arg(long, value_enum)]
    target: Target,
    /// The server's base URL (plain HTTP).
    #[arg(long, required_unless_present = "dir")]
    url: Option<String>,
    /// `--target disk`: the directory whose file system is measured.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// siaga: the routing key of the probes' integration.
    #[arg(long)]
    routing_key: Option<String>,
    /// Where the receiver listens; the server's config points its webhooks
    /// at `http://ADDR/first`, `/second` and `/backlog`.
    #[arg(long, required_unless_present = "dir")]
    receiver: Option<String>,
    #[arg(long, default_value_t = 1000)]
    alerts: u64,
    /// Probes per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Connections the probes are sent over.
    #[arg(long, default_value_t = 4)]
    connections: u64,
    /// siaga: also wait for each probe's second level, this long after the
    /// first, and report how late it came.
    #[arg(long, value_parser = parse_duration)]
    second_level: Option<Duration>,
    /// siaga: send this many alerts to the backlog integration first and
    /// wait for their pages, leaving as many escalation timers pending.
    #[arg(long, default_value_t = 0)]
    backlog: u64,
    #[arg(long)]
    backlog_key: Option<String>,
    /// Crash mode: written once every first level arrived.
    #[arg(long)]
    pause_file: Option<PathBuf>,
    /// Crash mode: holds the Unix time (ms) at which the restarted server
    /// was ready; waited for after the pause file.
    #[arg(long)]
    resume_file: Option<PathBuf>,
    /// How long to wait for notifications after the last is expected.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    timeout: Duration,
    #[arg(long)]
    label: Option<String>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    if let Err(message) = runtime.block_on(run(args)) {
        eprintln!("page-latency: {message}");
        std::process::exit(2);
    }
}

fn unix_ms(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// Where each probe's notifications arrived, by level.
#[derive(Default)]
struct Seen {
    first: HashMap<u64, SystemTime>,
    second: HashMap<u64, SystemTime>,
    backlog: u64,
}

/// Reads the receiver's arrivals into `seen`, matching each to its probe
/// by the key in its body (`plk-RUN-N`).
async fn collect(
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
    run: String,
    seen: Arc<std::sync::Mutex<Seen>>,
) {
    let probe = format!("plk-{run}-");
    let backlog = format!("blk-{run}-");
    while let Some(arrival) = arrivals.recv().await {
        let body = String::from_utf8_lossy(&arrival.body);
        let mut seen = seen.lock().unwrap();
        if arrival.path.starts_with("/backlog") {
            if body.contains(&backlog) {
                seen.backlog += 1;
            }
            continue;
        }
        for (at, _) in body.match_indices(&probe) {
            let digits: String = body[at + probe.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let Ok(n) = digits.parse::<u64>() else {
                continue;
            };
            let level = if arrival.path.starts_with("/second") {
                &mut seen.second
            } else {
                &mut seen.first
            };
            level.entry(n).or_insert(arrival.at);
        }
    }
}

/// A probe's request.
fn request(
    target: Target,
    host: &str,
    path: &str,
    key: &str,
    routing_key: &str,
    out: &mut Vec<u8>,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let body = match target {
        Target::Siaga => json!({
            "routing_key": routing_key, "event_action": "trigger", "dedup_key": key,
            "payload": {"summary": format!("page-latency probe {key}"), "source": "bench", "severity": "critical"},
        }),
        Target::Disk => unreachable!("the disk probe sends no alerts"),
        Target::Alertmanager => json!([{
            "labels": {"alertname": "PageLatencyProbe", "probe": key},
            "annotations": {"summary": format!("page-latency probe {key}")},
            "startsAt": rfc3339(now),
        }]),
    }
    .to_string();
    out.clear();
    out.extend_from_slice(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
}

fn summary(latencies_ms: &[f64], expected: u64) -> Value {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
    for ms in latencies_ms {
        histogram.saturating_record((ms * 1000.0).max(1.0) as u64);
    }
    let at = |q: f64| (histogram.value_at_quantile(q) as f64 / 1000.0 * 100.0).round() / 100.0;
    json!({
        "received": latencies_ms.len(),
        "missing": expected.saturating_sub(latencies_ms.len() as u64),
        "p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99),
        "max_ms": (histogram.max() as f64 / 1000.0 * 100.0).round() / 100.0,
    })
}

async fn run(args: Args) -> Result<(), String> {
    if args.target == Target::Disk {
        return run_disk(&args).await;
    }
    let url = args.url.as_deref().ok_or("--url is needed")?;
    let receiver_addr = args.receiver.as_deref().ok_or("--receiver is needed")?;
    let (addr, host, prefix) = split_url(url)?;
    let listener = tokio::net::TcpListener::bind(receiver_addr)
        .await
        .map_err(|e| format!("receiver on {receiver_addr}: {e}"))?;
    let (send, arrivals) = mpsc::unbounded_channel();
    tokio::spawn(receiver::serve(listener, send));
    let run = format!(
        "{:x}",
        Rng(unix_ms(SystemTime::now()) as u64).next_u64() & 0xffff_ffff
    );
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    tokio::spawn(collect(arrivals, run.clone(), seen.clone()));
    let routing_key = args.routing_key.clone().unwrap_or_default();
    let path = match args.target {
        Target::Siaga => format!("{prefix}/v2/enqueue"),
        Target::Alertmanager => format!("{prefix}/api/v2/alerts"),
        Target::Disk => unreachable!("the disk probe sends no alerts"),
    };
    if args.target == Target::Siaga && routing_key.is_empty() {
        return Err("--target siaga needs --routing-key".into());
    }

    // The backlog: alerts whose escalations stay pending while the probes run.
    let mut backlog = Value::Null;
    if args.backlog > 0 {
        let key = args
            .backlog_key
            .clone()
            .ok_or("--backlog needs --backlog-key")?;
        let started = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let mut senders = Vec::new();
        for _ in 0..8 {
            let (addr, host, path, key, run, next) = (
                addr.clone(),
                host.clone(),
                path.clone(),
                key.clone(),
                run.clone(),
                next.clone(),
            );
            let total = args.backlog;
            senders.push(tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut out = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return Ok::<_, String>(());
                    }
                    request(
                        Target::Siaga,
                        &host,
                        &path,
                        &format!("blk-{run}-{n}"),
                        &key,
                        &mut out,
                    );
                    let status = conn.send(&out).await?;
                    if !(200..300).contains(&status) {
                        return Err(format!("backlog alert {n}: HTTP {status}"));
                    }
                }
            }));
        }
        for sender in senders {
            sender.await.map_err(|e| e.to_string())??;
        }
        let sent_in = started.elapsed();
        let deadline = Instant::now() + args.timeout + Duration::from_secs(args.backlog / 100);
        while seen.lock().unwrap().backlog < args.backlog && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let paged = seen.lock().unwrap().backlog;
        eprintln!(
            "page-latency: backlog of {} alerts sent in {:.1}s, {paged} paged after {:.1}s",
            args.backlog,
            sent_in.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        backlog = json!({"alerts": args.backlog, "sent_s": sent_in.as_secs_f64(), "paged": paged, "paged_after_s": started.elapsed().as_secs_f64()});
    }

    // The probes, on a fixed schedule.
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let start = Instant::now() + Duration::from_millis(50);
    let start_wall = SystemTime::now() + Duration::from_millis(50);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..args.connections.max(1) {
        let (addr, host, path, routing_key, run, next, errors) = (
            addr.clone(),
            host.clone(),
            path.clone(),
            routing_key.clone(),
            run.clone(),
            next.clone(),
            errors.clone(),
        );
        let (target, total) = (args.target, args.alerts);
        senders.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut out = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return;
                }
                tokio::time::sleep_until((start + interval.mul_f64(n as f64)).into()).await;
                request(
                    target,
                    &host,
                    &path,
                    &format!("plk-{run}-{n}"),
                    &routing_key,
                    &mut out,
                );
                match conn.send(&out).await {
                    Ok(status) if (200..300).contains(&status) => {}
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for sender in senders {
        sender.await.map_err(|e| e.to_string())?;
    }
    let due = |n: u64| start_wall + interval.mul_f64(n as f64);
    let wait_for = |level: fn(&Seen) -> usize, deadline: Instant| {
        let seen = seen.clone();
        let expected = args.alerts as usize;
        async move {
            while level(&seen.lock().unwrap()) < expected && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(|s| s.first.len(), Instant::now() + args.timeout).await;
    let first: Vec<f64> = {
        let seen = seen.lock().unwrap();
        (0..args.alerts)
            .filter_map(|n| seen.first.get(&n).map(|at| unix_ms(*at) - unix_ms(due(n))))
            .collect()
    };

    let mut restarted_at = None;
    if let (Some(pause), Some(resume)) = (&args.pause_file, &args.resume_file) {
        std::fs::write(pause, "first level done\n")
            .map_err(|e| format!("{}: {e}", pause.display()))?;
        eprintln!(
            "page-latency: first level done; waiting for {}",
            resume.display()
        );
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if let Ok(text) = std::fs::read_to_string(resume)
                && let Ok(ms) = text.trim().parse::<f64>()
            {
                restarted_at = Some(ms);
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{} never appeared", resume.display()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let mut second = Value::Null;
    if let Some(wait) = args.second_level {
        let last_due = Instant::now() + wait;
        wait_for(|s| s.second.len(), last_due + args.timeout).await;
        let seen = seen.lock().unwrap();
        let wait_ms = wait.as_secs_f64() * 1000.0;
        // Lateness: the second page's arrival after the first's plus the
        // wait; after a restart, after whichever of that and the restart
        // came later.
        let late: Vec<f64> = (0..args.alerts)
            .filter_map(|n| {
                let first = unix_ms(*seen.first.get(&n)?);
                let arrived = unix_ms(*seen.second.get(&n)?);
                let expected = (first + wait_ms).max(restarted_at.unwrap_or(0.0));
                Some((arrived - expected).max(0.0))
            })
            .collect();
        second = summary(&late, args.alerts);
        second["wait_s"] = json!(wait.as_secs_f64());
        if restarted_at.is_some() {
            second["measured_from"] = json!("the later of due time and restart");
        }
    }

    let result = json!({
        "label": args.label, "target": format!("{:?}", args.target).to_lowercase(),
        "alerts": args.alerts, "rate": args.rate, "send_errors": errors.load(Ordering::Relaxed),
        "first": summary(&first, args.alerts), "second": second, "backlog": backlog,
    });
    report(&args, &result);
    Ok(())
}

/// The disk's own part of a durable page: on the probes' schedule, two
/// pages written at the next place of a ring in a preallocated file (as
/// SQLite reuses its log), then an fsync; latency counts from the due time.
async fn run_disk(args: &Args) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    const PAGES: u64 = 2;
    const RING: u64 = 1024;
    let dir = args.dir.as_ref().ok_or("--target disk needs --dir")?;
    let path = dir.join(format!("page-latency-disk-{}.bin", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let _remove = RemoveOnDrop(path.clone());
    let page = vec![0x5au8; 4096 * PAGES as usize];
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    for slot in 0..RING {
        file.write_all_at(&page, slot * page.len() as u64)
            .map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let start = Instant::now() + Duration::from_millis(50);
    let mut latencies = Vec::with_capacity(args.alerts as usize);
    for n in 0..args.alerts {
        let due = start + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        file.write_all_at(&page, (n % RING) * page.len() as u64)
            .map_err(io)?;
        // fsync, not fdatasync: SQLite as built here (no HAVE_FDATASYNC) calls fsync.
        file.sync_all().map_err(io)?;
        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
    }
    let result = json!({
        "label": args.label, "target": "disk", "alerts": args.alerts, "rate": args.rate,
        "send_errors": 0, "first": summary(&latencies, args.alerts), "second": Value::Null,
        "backlog": Value::Null,
    });
    report(args, &result);
    Ok(())
}

/// Removes the file at its path when dropped, error or not.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn report(args: &Args, result: &Value) {
    let second = &result["second"];
    let line = |v: &Value| {
        format!(
            "{} received, p50 {} p90 {} p99 {} max {} ms",
            v["received"], v["p50_ms"], v["p90_ms"], v["p99_ms"], v["max_ms"]
        )
    };
    eprintln!(
        "page-latency {} {}: first page {}{}",
        result["target"],
        args.label.as_deref().unwrap_or(""),
        line(&result["first"]),
        if second.is_null() {
            String::new()
        } else {
            format!("; second level late by {}", line(second))
        }
    );
    if args.json {
        println!("{result}");
    }
}
