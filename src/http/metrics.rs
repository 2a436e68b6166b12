//! Prometheus metrics: request counts and latencies by route, store latency
//! (recorded by the store), job queue depth and alert groups nobody
//! acknowledged (both read at scrape time).

use std::sync::OnceLock;
use std::time::Instant;

use axum::http::{Method, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::store::QueueDepth;

/// The recorder is process-wide; every router in the process shares it.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests); ours still
        // renders what it records.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Installs the recorder, so that what the process records before its
/// first request or scrape (an ingestion batch's stages) is kept.
pub fn install() {
    handle();
}

pub fn render() -> String {
    handle().render()
}

/// Only known methods become label values; anything else would let
/// clients mint unlimited metric series.
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times one answered request by its method and route template.
pub fn record_request(method: &'static str, route: String, status: StatusCode, started: Instant) {
    handle();
    metrics::counter!("siaga_http_requests_total", "method" => method, "route" => route.clone(), "status" => status.as_u16().to_string())
        .increment(1);
    metrics::histogram!("siaga_http_request_seconds", "method" => method, "route" => route)
        .record(super::elapsed_seconds(started));
}

pub fn record_queue_depth(depth: &QueueDepth) {
    for (state, value) in [
        ("due", depth.due),
        ("scheduled", depth.scheduled),
        ("running", depth.running),
        ("dead", depth.dead),
    ] {
        metrics::gauge!("siaga_job_queue_depth", "state" => state).set(value as f64);
    }
}

/// The gauge of alert groups nobody acknowledged, as exposition text. It is
/// written into this scrape's answer rather than set in the process-wide
/// recorder: the number belongs to the database this app serves, and a
/// value set in the shared recorder could be overwritten by another app in
/// the same process (tests run many) before it is rendered.
pub fn render_unacknowledged_groups(count: i64) -> String {
    format!(
        "# HELP siaga_alert_groups_unacknowledged Alert groups still triggered after every level of their escalation policy was paged.\n\
         # TYPE siaga_alert_groups_unacknowledged gauge\n\
         siaga_alert_groups_unacknowledged {count}\n"
    )
}
