//! Grafana unified alerting's webhook (version 1): Alertmanager's shape
//! with Grafana's additions (`state`, `title`, dashboard and panel links),
//! optionally signed with HMAC-SHA256.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::auth::{hmac_hex, hmac_matches};

use super::{FormatError, MAX_SUMMARY, parse_typed, signal, truncate};
use crate::domain::alert::{Link, Signal};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    group_key: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, rename = "externalURL")]
    external_url: Option<String>,
    /// Alerts Grafana left out because of its `max_alerts`.
    #[serde(default)]
    truncated_alerts: u64,
    alerts: Vec<GrafanaAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrafanaAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    fingerprint: String,
    #[serde(default, rename = "silenceURL")]
    silence_url: Option<String>,
    #[serde(default, rename = "dashboardURL")]
    dashboard_url: Option<String>,
    #[serde(default, rename = "panelURL")]
    panel_url: Option<String>,
    #[serde(default)]
    value_string: Option<String>,
    #[serde(default, rename = "imageURL")]
    image_url: Option<String>,
}

pub fn parse(body: &[u8]) -> Result<Vec<Signal>, FormatError> {
    let notification: Notification = parse_typed(body)?;
    if let Some(version) = &notification.version
        && version != "1"
    {
        return Err(FormatError::new(
            "version",
            format!("only webhook version 1 is understood, not {version:?}"),
        ));
    }
    if let Some(state) = &notification.state
        && ![
            "alerting", "ok", "pending", "no_data", "nodata", "paused", "error",
        ]
        .contains(&state.as_str())
    {
        return Err(FormatError::new(
            "state",
            format!("unknown state {state:?}"),
        ));
    }
    notification
        .alerts
        .iter()
        .enumerate()
        .map(|(i, alert)| {
            let action = super::webhook_action(i, &alert.status, &alert.fingerprint)?;
            let summary = alert
                .annotations
                .get("summary")
                .or_else(|| alert.annotations.get("description"))
                .cloned()
                .or_else(|| notification.title.clone())
                .or_else(|| alert.labels.get("alertname").cloned())
                .unwrap_or_else(|| "Grafana alert".into());
            let mut signal = signal(
                action,
                alert.fingerprint.clone(),
                truncate(summary.trim(), MAX_SUMMARY),
            );
            signal.source_severity = alert.labels.get("severity").cloned();
            signal.source = alert
                .labels
                .get("instance")
                .or_else(|| alert.labels.get("grafana_folder"))
                .cloned();
            signal.class = alert.labels.get("alertname").cloned();
            signal.labels = alert.labels.clone();
            signal.details = serde_json::json!({
                "annotations": alert.annotations,
                "value": alert.value_string,
                "state": notification.state,
                "truncated_alerts": notification.truncated_alerts,
            });
            signal.occurred_at =
                super::webhook_time(action, alert.starts_at.as_deref(), alert.ends_at.as_deref());
            // Grafana's own field for it is the annotation, as Alertmanager's.
            let runbook = alert.annotations.get("runbook_url").cloned();
            for (url, text) in [
                (&runbook, super::RUNBOOK_LINK),
                (&alert.dashboard_url, "Dashboard"),
                (&alert.panel_url, "Panel"),
                (&alert.generator_url, "Alert rule"),
                (&alert.silence_url, "Silence"),
                (&alert.image_url, "Image"),
                (&notification.external_url, "Grafana"),
            ] {
                if let Some(url) = url.as_deref().filter(|u| !u.is_empty()) {
                    signal.links.push(Link {
                        href: url.to_string(),
                        text: Some(text.into()),
                    });
                }
            }
            signal.source_group = notification.group_key.clone();
            Ok(signal)
        })
        .collect()
}

/// Checks Grafana's HMAC-SHA256 signature: the hex digest of the body, or of
/// `timestamp:body` when Grafana sends a timestamp header.
pub fn signature_is_valid(
    secret: &str,
    body: &[u8],
    timestamp: Option<&str>,
    signature: &str,
) -> bool {
    match timestamp {
        Some(timestamp) => hmac_matches(secret, &[timestamp.as_bytes(), b":", body], signature),
        None => hmac_matches(secret, &[body], signature),
    }
}

/// How far a signed timestamp may be from now, either way.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// Whether a signed timestamp (Unix seconds, or milliseconds) is within
/// [`TIMESTAMP_TOLERANCE_SECS`] of `now`: an older request is a replay.
pub fn timestamp_is_fresh(stamp: &str, now: jiff::Timestamp) -> bool {
    let Ok(value) = stamp.trim().parse::<i64>() else {
        return false;
    };
    // Seconds until the year 33658; milliseconds after 2001.
    let seconds = if value > 1_000_000_000_000 {
        value / 1000
    } else {
        value
    };
    seconds
        .checked_sub(now.as_second())
        .is_some_and(|skew| skew.unsigned_abs() <= TIMESTAMP_TOLERANCE_SECS.unsigned_abs())
}

/// Signs like Grafana does (for tests and tools that send to siaga).
pub fn sign(secret: &str, body: &[u8], timestamp: Option<&str>) -> String {
    match timestamp {
        Some(timestamp) => hmac_hex(secret, &[timestamp.as_bytes(), b":", body]),
        None => hmac_hex(secret, &[body]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Action;

    #[test]
    fn signed_timestamps_older_than_five_minutes_are_replays() {
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        for fresh in [
            "1800000000",
            "1799999700",
            "1800000300",
            "1800000000123",
            " 1800000000",
        ] {
            assert!(timestamp_is_fresh(fresh, now), "{fresh}");
        }
        for stale in [
            "1799999699",
            "1800000301",
            "1799999000000",
            "",
            "soon",
            "2027-01-01T00:00:00Z",
            "-9223372036854775808",
            // Exactly i64::MIN seconds before now.
            "-9223372035054775808",
        ] {
            assert!(!timestamp_is_fresh(stale, now), "{stale}");
        }
    }

    const BODY: &str = r#"{"receiver":"siaga","status":"firing","orgId":1,"version":"1","state":"alerting","title":"[FIRING:1] Disk full",
      "groupKey":"{}:{alertname=\"DiskFull\"}","externalURL":"http://grafana:3000/",
      "alerts":[{"status":"firing","labels":{"alertname":"DiskFull","severity":"warning","instance":"db-1"},
        "annotations":{"summary":"Disk 95% full on db-1"},"startsAt":"2026-11-02T09:00:00.123456789Z","endsAt":"0001-01-01T00:00:00Z",
        "generatorURL":"http://grafana:3000/alerting/1/edit","fingerprint":"abc123","dashboardURL":"http://grafana:3000/d/x","valueString":"[ var='A' value=95 ]"}]}"#;

    #[test]
    fn grafana_notifications_parse() {
        let signals = parse(BODY.as_bytes()).unwrap();
        assert_eq!(signals.len(), 1);
        let s = &signals[0];
        assert_eq!(
            (s.action, s.dedup_key.as_str(), s.summary.as_str()),
            (Action::Trigger, "abc123", "Disk 95% full on db-1")
        );
        assert!(s.occurred_at.is_some(), "fractional seconds parse");
        assert!(
            s.links
                .iter()
                .any(|l| l.text.as_deref() == Some("Dashboard"))
        );
        assert_eq!(
            parse(br#"{"version":"1","alerts":[{"status":"bad","fingerprint":"x"}]}"#)
                .unwrap_err()
                .field,
            "alerts[0].status"
        );
        let cut = parse(br#"{"version":"1","truncatedAlerts":7,"alerts":[{"status":"firing","fingerprint":"x","imageURL":"https://grafana.example/img.png"}]}"#).unwrap();
        assert_eq!(cut[0].details["truncated_alerts"], 7);
        assert!(
            cut[0]
                .links
                .iter()
                .any(|l| l.text.as_deref() == Some("Image") && l.href.ends_with("img.png"))
        );
        let with_runbook = parse(br#"{"version":"1","alerts":[{"status":"firing","fingerprint":"x","annotations":{"runbook_url":"https://wiki.example/disk"}}]}"#).unwrap();
        assert!(
            with_runbook[0]
                .links
                .iter()
                .any(|l| l.text.as_deref() == Some(crate::formats::RUNBOOK_LINK)
                    && l.href == "https://wiki.example/disk"),
            "{:?}",
            with_runbook[0].links
        );
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let signature = sign("s3cret-s3cret-s3cret", BODY.as_bytes(), None);
        assert!(signature_is_valid(
            "s3cret-s3cret-s3cret",
            BODY.as_bytes(),
            None,
            &signature
        ));
        assert!(!signature_is_valid(
            "other-secret-value",
            BODY.as_bytes(),
            None,
            &signature
        ));
        assert!(!signature_is_valid(
            "s3cret-s3cret-s3cret",
            b"{}",
            None,
            &signature
        ));
        assert!(!signature_is_valid(
            "s3cret-s3cret-s3cret",
            BODY.as_bytes(),
            None,
            "zz"
        ));
        let stamped = sign("s3cret-s3cret-s3cret", BODY.as_bytes(), Some("1700000000"));
        assert!(signature_is_valid(
            "s3cret-s3cret-s3cret",
            BODY.as_bytes(),
            Some("1700000000"),
            &stamped
        ));
        assert!(!signature_is_valid(
            "s3cret-s3cret-s3cret",
            BODY.as_bytes(),
            Some("1700000001"),
            &stamped
        ));
    }
}
