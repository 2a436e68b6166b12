//! How a notification is written for chat tools' incoming webhooks: Slack
//! and Microsoft Teams. Pure: a delivery in, the JSON body out.

use serde_json::{Value, json};

use super::escalation::Delivery;
use crate::domain::alert::Severity;

/// Slack's control characters in message text, as Slack asks them to be
/// escaped: an alert summary such as `p99 > 2s & <rising>` would otherwise
/// be read as a link or a mention.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack-compatible incoming-webhook body: the title in bold, then the text.
pub fn slack_body(delivery: &Delivery) -> Value {
    json!({
        "text": format!("*{}*\n{}", slack_escape(&delivery.title), slack_escape(&delivery.text)),
    })
}

/// A Microsoft Teams incoming-webhook body: an Office 365 connector
/// MessageCard (what Teams' incoming webhooks accept), with buttons that
/// open the alert, acknowledge it and open the runbook. `title` and `text`
/// are also where the older siaga body had them, so receivers that read
/// only those keep working.
pub fn teams_body(delivery: &Delivery) -> Value {
    // Teams renders the text as Markdown with some HTML: escape what HTML
    // would read, then keep the line breaks.
    let text = slack_escape(&delivery.text).replace('\n', "<br>");
    let actions: Vec<Value> = [
        ("Open the alert", delivery.alert_url.as_deref()),
        ("Open the incident", delivery.incident_url.as_deref()),
        ("Acknowledge", delivery.acknowledge_url.as_deref()),
        ("Runbook", delivery.runbook_url.as_deref()),
    ]
    .into_iter()
    // Teams refuses relative links; without a base URL there are none to give.
    .filter_map(|(name, url)| {
        url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(|u| (name, u))
    })
    .map(|(name, uri)| {
        json!({
            "@type": "OpenUri",
            "name": name,
            "targets": [{ "os": "default", "uri": uri }],
        })
    })
    .collect();
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": delivery.title,
        "themeColor": theme_color(delivery.severity),
        "title": delivery.title,
        "text": text,
        "potentialAction": actions,
    })
}

/// The card's accent colour by severity, as hex without `#`.
fn theme_color(severity: Option<Severity>) -> &'static str {
    match severity {
        Some(Severity::Critical) => "B3261E",
        Some(Severity::Error) => "E8710A",
        Some(Severity::Warning) => "F9AB00",
        Some(Severity::Info) | None => "0B57D0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::org::ContactKind;

    fn delivery() -> Delivery {
        Delivery {
            id: "1-0-0-zul-0-teams0".into(),
            topic: "alert.escalated".into(),
            group_id: Some(1),
            alert_id: Some(7),
            incident_id: None,
            person: "zul".into(),
            channel: ContactKind::Teams,
            address: "https://example.invalid/hook".into(),
            method: None,
            methods: None,
            title: "[CRITICAL] checkout: p99 > 2s & <rising>".into(),
            text: "p99 > 2s & <rising>\nService: checkout".into(),
            severity: Some(Severity::Critical),
            service: Some("checkout".into()),
            alert_url: Some("https://siaga.example/alerts/7".into()),
            runbook_url: None,
            acknowledge_url: Some("/ack/7.zul.1.sig".into()),
            incident_url: None,
        }
    }

    #[test]
    fn slack_text_escapes_its_control_characters() {
        let body = slack_body(&delivery());
        assert_eq!(
            body["text"],
            "*[CRITICAL] checkout: p99 &gt; 2s &amp; &lt;rising&gt;*\np99 &gt; 2s &amp; &lt;rising&gt;\nService: checkout"
        );
    }

    #[test]
    fn teams_gets_a_message_card_with_absolute_links_only() {
        let body = teams_body(&delivery());
        assert_eq!(body["@type"], "MessageCard");
        assert_eq!(body["title"], "[CRITICAL] checkout: p99 > 2s & <rising>");
        assert_eq!(
            body["text"],
            "p99 &gt; 2s &amp; &lt;rising&gt;<br>Service: checkout"
        );
        let actions = body["potentialAction"].as_array().unwrap();
        assert_eq!(
            actions.len(),
            1,
            "the relative acknowledge path is left out: {actions:?}"
        );
        assert_eq!(
            actions[0]["targets"][0]["uri"],
            "https://siaga.example/alerts/7"
        );
    }
}
