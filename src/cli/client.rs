//! The CLI as a client of the HTTP API.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

use super::ClientArgs;

pub(super) struct Api<'a> {
    args: &'a ClientArgs,
    client: reqwest::Client,
}

/// A request the API refused, kept whole so that a verb can explain it
/// better than the generic message (a refused resolve lists its reasons).
#[derive(Debug)]
pub(super) struct ApiFailure {
    pub status: u16,
    /// The `{"error": …}` body.
    pub body: Value,
    message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}

impl<'a> Api<'a> {
    pub(super) fn new(args: &'a ClientArgs) -> anyhow::Result<Api<'a>> {
        if args.token.is_none() {
            bail!(
                "no API token: pass --token or set SIAGA_TOKEN (siaga admin create-token makes one)"
            );
        }
        Ok(Api {
            args,
            client: crate::outbound::client_builder()
                .build()
                .context("building the HTTP client")?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.args.server.trim_end_matches('/'))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let request = request.bearer_auth(self.args.token.as_deref().unwrap_or_default());
        let response = request.send().await.map_err(|error| {
            if error.is_connect() || error.is_timeout() {
                anyhow::anyhow!("cannot reach the siaga server at {}: is it running? (--server or SIAGA_SERVER)", self.args.server)
            } else {
                anyhow::anyhow!("request to {} failed: {error}", self.args.server)
            }
        })?;
        let status = response.status();
        let body = reply_json(response, &self.args.server).await?;
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"].as_str().unwrap_or("no details");
        let message = match (status.as_u16(), body["error"]["field"].as_str()) {
            (400 | 422, Some(field)) => format!("{field}: {message}"),
            (401, _) => {
                format!("the server refused the token: it is wrong, expired or revoked ({message})")
            }
            (403, _) => format!("the token may not do this: {message}"),
            _ => format!("{message} (HTTP {status})"),
        };
        Err(ApiFailure {
            status: status.as_u16(),
            body,
            message,
        }
        .into())
    }

    pub(super) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.client.get(self.url(path))).await
    }

    pub(super) async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.client.patch(self.url(path)).json(body))
            .await
    }

    pub(super) async fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let request = self.client.post(self.url(path));
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        self.send(request).await
    }

    pub(super) async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.client.delete(self.url(path))).await
    }

    /// Every item of a paginated list.
    async fn get_all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{path}?limit=500");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&url).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok(items),
            }
        }
    }
}

/// A value as the terminal shows it. Text from sources can hold control
/// characters (an escape sequence could rewrite the screen or the window
/// title): each becomes U+FFFD, except line breaks and tabs.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => printable(s),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `text` without its control characters but line breaks and tabs.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

pub async fn list_services(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let services = api.get_all("/api/v1/services").await?;
    if args.json {
        return print_json(&services);
    }
    let mut table = list_table(["NAME", "KIND", "OWNER", "TIER", "DEPENDS ON"]);
    for s in &services {
        table.add_row([
            text(&s["name"]),
            text(&s["kind"]),
            text(&s["owner"]),
            text(&s["tier"]),
            text(&s["depends_on"]),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

pub async fn show_service(args: &ClientArgs, name: &str) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let service = api.get(&format!("/api/v1/services/{encoded}")).await?;
    if args.json {
        return print_json(&service);
    }
    println!(
        "{} ({})",
        text(&service["display_name"]),
        text(&service["name"])
    );
    if let Some(description) = service["description"].as_str() {
        println!("{description}");
    }
    println!();
    let mut table = facts_table();
    table.add_row(["kind", &text(&service["kind"])]);
    table.add_row(["owner", &text(&service["owner"])]);
    table.add_row(["tier", &text(&service["tier"])]);
    if !service["provider"].is_null() {
        table.add_row(["provider", &text(&service["provider"])]);
    }
    table.add_row(["depends on", &text(&service["depends_on"])]);
    table.add_row(["depended on by", &text(&service["dependents"])]);
    table.add_row(["possibly affected", &text(&service["possibly_affected"])]);
    table.add_row(["runbook", &text(&service["runbook"]["url"])]);
    println!("{table}");
    if let Some(markdown) = service["runbook"]["markdown"].as_str() {
        println!("\nRunbook:\n\n{markdown}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A reply's JSON: `null` for an empty answer (204) or an error that is
/// not siaga's (a proxy's page); an error for a success that is not JSON,
/// which is no siaga answer at all (`--server` points elsewhere, a login
/// page of a proxy): read as empty, it would say "nothing is firing".
async fn reply_json(response: reqwest::Response, server: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|error| anyhow::anyhow!("reading the answer of {server} failed: {error}"))?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok(value),
        Err(_) if !status.is_success() => Ok(Value::Null),
        Err(_) => anyhow::bail!(
            "{server} answered HTTP {status} with something that is not siaga's JSON: is --server (SIAGA_SERVER) the address of siaga itself?"
        ),
    }
}

pub async fn apply_config(args: &ClientArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let source = super::read_config(&file.to_path_buf())?;
    let body = serde_json::json!({ "file_name": file.display().to_string(), "source": source });
    let request = api.client.post(api.url("/api/v1/config")).json(&body);
    let request = request.bearer_auth(args.token.as_deref().unwrap_or_default());
    let response = request.send().await.map_err(|_| {
        anyhow::anyhow!(
            "cannot reach the siaga server at {}: is it running?",
            args.server
        )
    })?;
    let status = response.status();
    let reply = reply_json(response, &args.server).await?;
    if status.is_success() {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&reply)?);
        } else {
            let changes = reply["changes"].as_array().cloned().unwrap_or_default();
            println!(
                "applied {} as revision {} ({})",
                file.display(),
                text(&reply["revision"]["id"]),
                crate::domain::counted(changes.len(), "change")
            );
            for change in changes {
                println!(
                    "  {} {} {}",
                    text(&change["change"]),
                    text(&change["kind"]),
                    text(&change["name"])
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    match status.as_u16() {
        401 => bail!("the server refused the token: it is wrong, expired or revoked"),
        403 => bail!("applying config needs an admin token"),
        422 if reply["error"]["code"] == "invalid_config" => {
            eprintln!("{}", text(&reply["error"]["message"]));
            eprintln!("the server kept its current config");
            Ok(ExitCode::FAILURE)
        }
        _ => bail!("{} (HTTP {status})", text(&reply["error"]["message"])),
    }
}

/// A table for a list: `header` over a row per item.
pub(super) fn list_table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = facts_table();
    table.set_header(header);
    table
}

/// A table of labels and values, in the CLI's style.
pub(super) fn facts_table() -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table
}

pub(super) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

/// Times as the API gives them, shortened for tables.
pub(super) fn short_time(value: &Value) -> String {
    value.as_str().map_or_else(
        || "—".into(),
        |t| t.get(..16).unwrap_or(t).replace('T', " "),
    )
}

pub async fn list_alerts(
    args: &ClientArgs,
    filters: &[(&str, Option<String>)],
) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let query = filter_query(filters);
    let page = api.get(&format!("/api/v1/alerts?limit=200{query}")).await?;
    let alerts = page["items"].as_array().cloned().unwrap_or_default();
    if args.json {
        return print_json(&alerts);
    }
    if alerts.is_empty() {
        println!("no alerts match");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = list_table([
        "ID",
        "STATUS",
        "SEVERITY",
        "SERVICE",
        "SUMMARY",
        "EVENTS",
        "LAST SEEN",
    ]);
    for a in &alerts {
        table.add_row([
            text(&a["id"]),
            text(&a["status"]),
            text(&a["severity"]),
            text(&a["service"]),
            text(&a["summary"]),
            text(&a["event_count"]),
            short_time(&a["last_seen_at"]),
        ]);
    }
    println!("{table}");
    if page["next_cursor"].is_string() {
        println!("(more alerts; narrow with --service, --status, --severity or --since)");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show_alert(args: &ClientArgs, id: i64) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let detail = api.get(&format!("/api/v1/alerts/{id}")).await?;
    if args.json {
        return print_json(&detail);
    }
    let alert = &detail["alert"];
    println!(
        "#{} {} — {}",
        text(&alert["id"]),
        text(&alert["summary"]),
        text(&alert["status"])
    );
    let mut table = facts_table();
    for (label, value) in [
        ("service", text(&alert["service"])),
        (
            "severity / urgency",
            format!("{} / {}", text(&alert["severity"]), text(&alert["urgency"])),
        ),
        ("dedup key", text(&alert["dedup_key"])),
        ("source", text(&alert["source"])),
        ("first seen", short_time(&alert["first_seen_at"])),
        ("last seen", short_time(&alert["last_seen_at"])),
        ("events", text(&alert["event_count"])),
        (
            "group",
            format!(
                "#{} ({} alerts)",
                text(&detail["group"]["id"]),
                text(&detail["group"]["alert_count"])
            ),
        ),
        ("in maintenance", text(&alert["in_maintenance"])),
        (
            "acknowledged",
            format!(
                "{} {}",
                short_time(&alert["acknowledged_at"]),
                text(&alert["acknowledged_by"])
            ),
        ),
        (
            "resolved",
            format!(
                "{} {}",
                short_time(&alert["resolved_at"]),
                text(&alert["resolved_by"])
            ),
        ),
    ] {
        table.add_row([label.to_string(), value]);
    }
    println!("{table}");
    if let Some(labels) = alert["labels"].as_object().filter(|l| !l.is_empty()) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{}={}", printable(k), text(v)))
            .collect();
        println!("labels: {}", labels.join(" "));
    }
    for link in alert["links"].as_array().cloned().unwrap_or_default() {
        println!("link: {} {}", text(&link["text"]), text(&link["href"]));
    }
    println!("\nevents:");
    for event in detail["events"].as_array().cloned().unwrap_or_default() {
        println!(
            "  {}  {:<12} {:<12} via {}",
            short_time(&event["received_at"]),
            text(&event["action"]),
            text(&event["outcome"]),
            text(&event["format"])
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn change_alert(args: &ClientArgs, id: i64, verb: &str) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let alert = api
        .post(&format!("/api/v1/alerts/{id}/{verb}"), None)
        .await?;
    if args.json {
        return print_json(&alert);
    }
    println!("alert #{id} is {}", text(&alert["status"]));
    Ok(ExitCode::SUCCESS)
}

pub async fn escalate_alert(
    args: &ClientArgs,
    id: i64,
    body: serde_json::Value,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let state = api
        .post(&format!("/api/v1/alerts/{id}/escalate"), Some(&body))
        .await?;
    if args.json {
        return print_json(&state);
    }
    println!(
        "alert #{id} escalated to level {} of {}",
        text(&state["level"]),
        text(&state["policy"])
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn reassign_alert(
    args: &ClientArgs,
    id: i64,
    body: serde_json::Value,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let state = api
        .post(&format!("/api/v1/alerts/{id}/reassign"), Some(&body))
        .await?;
    if args.json {
        return print_json(&state);
    }
    let paged: Vec<String> = state["paged"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if paged.is_empty() {
        println!("alert #{id} reassigned to {}", text(&state["policy"]));
    } else {
        println!("alert #{id} reassigned: paging {}", paged.join(", "));
    }
    if !state["level"].is_null() {
        println!(
            "if nobody acknowledges, level {} of {} follows",
            text(&state["level"]),
            text(&state["policy"])
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn list_integrations(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let integrations = api.get("/api/v1/integrations").await?;
    if args.json {
        return print_json(&integrations);
    }
    let mut table = list_table(["SERVICE", "NAME", "KIND", "ENDPOINT", "KEY"]);
    for i in integrations.as_array().cloned().unwrap_or_default() {
        table.add_row([
            text(&i["service"]),
            text(&i["name"]),
            text(&i["kind"]),
            text(&i["endpoint"]),
            text(&i["key"]),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

pub async fn list_tokens(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let tokens = api.get("/api/v1/tokens").await?;
    if args.json {
        return print_json(&tokens);
    }
    let mut table = list_table([
        "ID",
        "NAME",
        "USER",
        "ROLE",
        "CREATED",
        "LAST USED",
        "REVOKED",
    ]);
    for t in tokens.as_array().cloned().unwrap_or_default() {
        table.add_row([
            text(&t["id"]),
            text(&t["name"]),
            text(&t["user_id"]),
            text(&t["role"]),
            short_time(&t["created_at"]),
            short_time(&t["last_used_at"]),
            short_time(&t["revoked_at"]),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

pub async fn revoke_token(args: &ClientArgs, id: i64) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let token = api.delete(&format!("/api/v1/tokens/{id}")).await?;
    if args.json {
        return print_json(&token);
    }
    println!("token #{id} ({}) revoked", text(&token["name"]));
    Ok(ExitCode::SUCCESS)
}

pub async fn list_changes(
    args: &ClientArgs,
    service: Option<&str>,
    limit: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let filters = filter_query(&[
        ("service", service.map(str::to_string)),
        ("limit", limit.map(|l| l.to_string())),
    ]);
    let changes = api
        .get(&format!(
            "/api/v1/changes?{}",
            filters.trim_start_matches('&')
        ))
        .await?;
    if args.json {
        return print_json(&changes);
    }
    let mut table = list_table(["ID", "SERVICE", "WHEN", "SUMMARY", "SOURCE"]);
    for c in changes.as_array().cloned().unwrap_or_default() {
        table.add_row([
            text(&c["id"]),
            text(&c["service"]),
            short_time(&c["occurred_at"]),
            text(&c["summary"]),
            text(&c["source"]),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

pub async fn list_maintenance(
    args: &ClientArgs,
    service: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let path = match service {
        Some(service) => format!(
            "/api/v1/maintenance-windows?service={}",
            form_urlencoded::byte_serialize(service.as_bytes()).collect::<String>()
        ),
        None => "/api/v1/maintenance-windows".into(),
    };
    let windows = api.get(&path).await?;
    if args.json {
        return print_json(&windows);
    }
    let mut table = list_table([
        "ID",
        "SERVICE",
        "STARTS",
        "ENDS",
        "REASON",
        "FROM",
        "CANCELLED",
    ]);
    for w in windows.as_array().cloned().unwrap_or_default() {
        table.add_row([
            text(&w["id"]),
            text(&w["service"]),
            short_time(&w["starts_at"]),
            short_time(&w["ends_at"]),
            text(&w["reason"]),
            text(&w["origin"]),
            short_time(&w["cancelled_at"]),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

pub async fn start_maintenance(args: &ClientArgs, mut body: Value) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    if let Some(map) = body.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    let window = api.post("/api/v1/maintenance-windows", Some(&body)).await?;
    if args.json {
        return print_json(&window);
    }
    println!(
        "maintenance window #{} for {} from {} to {}",
        text(&window["id"]),
        text(&window["service"]),
        short_time(&window["starts_at"]),
        short_time(&window["ends_at"])
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel_maintenance(args: &ClientArgs, id: i64) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    api.delete(&format!("/api/v1/maintenance-windows/{id}"))
        .await?;
    println!("maintenance window #{id} ended");
    Ok(ExitCode::SUCCESS)
}

pub(super) fn query_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `&name=value` for each filter given, values encoded.
pub(super) fn filter_query(filters: &[(&str, Option<String>)]) -> String {
    filters
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_ref()
                .map(|v| format!("&{name}={}", query_value(v)))
        })
        .collect()
}

pub async fn on_call_now(args: &ClientArgs, at: Option<&str>) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let path = match at {
        Some(at) => format!("/api/v1/oncall?at={}", query_value(at)),
        None => "/api/v1/oncall".into(),
    };
    let on_call = api.get(&path).await?;
    if args.json {
        return print_json(&on_call);
    }
    let mut table = list_table(["SCHEDULE", "ON CALL", "UNTIL (UTC)"]);
    for entry in on_call.as_array().cloned().unwrap_or_default() {
        let shift = &entry["shift"];
        let (person, until) = if shift.is_null() {
            ("NOBODY".to_string(), "—".to_string())
        } else {
            let until = if shift["end"].is_null() {
                "further notice".to_string()
            } else {
                short_time(&shift["end"])
            };
            (text(&shift["person"]), until)
        };
        table.add_row([text(&entry["schedule"]), person, until]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

pub async fn show_schedule(
    args: &ClientArgs,
    schedule: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let mut path = format!("/api/v1/schedules/{}?", query_value(schedule));
    if let Some(from) = from {
        path.push_str(&format!("from={}&", query_value(from)));
    }
    if let Some(to) = to {
        path.push_str(&format!("to={}", query_value(to)));
    }
    let detail = api.get(path.trim_end_matches(['?', '&'])).await?;
    if args.json {
        return print_json(&detail);
    }
    println!(
        "{} ({}) from {} to {} UTC",
        text(&detail["name"]),
        text(&detail["time_zone"]),
        short_time(&detail["from"]),
        short_time(&detail["to"])
    );
    let mut table = list_table(["FROM (UTC)", "TO (UTC)", "ON CALL", "VIA"]);
    for shift in detail["shifts"].as_array().cloned().unwrap_or_default() {
        let via = if shift["override_id"].is_null() {
            "rotation".to_string()
        } else {
            format!("override {}", text(&shift["override_id"]))
        };
        table.add_row([
            short_time(&shift["start"]),
            short_time(&shift["end"]),
            text(&shift["person"]),
            via,
        ]);
    }
    println!("{table}");
    for gap in detail["gaps"].as_array().cloned().unwrap_or_default() {
        println!(
            "GAP: nobody on call from {} to {} UTC",
            short_time(&gap["start"]),
            short_time(&gap["end"])
        );
    }
    let load: Vec<String> = detail["load"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|l| format!("{} {} h", text(&l["person"]), text(&l["hours"])))
        .collect();
    if !load.is_empty() {
        println!("load: {}", load.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn create_override(
    args: &ClientArgs,
    schedule: &str,
    body: Value,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let created = api
        .post(
            &format!("/api/v1/schedules/{}/overrides", query_value(schedule)),
            Some(&body),
        )
        .await?;
    if args.json {
        return print_json(&created);
    }
    println!(
        "override {}: {} is on call on {schedule} from {} to {} UTC",
        text(&created["id"]),
        text(&created["person"]),
        short_time(&created["starts_at"]),
        short_time(&created["ends_at"])
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn remove_override(
    args: &ClientArgs,
    schedule: &str,
    id: i64,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    api.delete(&format!(
        "/api/v1/schedules/{}/overrides/{id}",
        query_value(schedule)
    ))
    .await?;
    println!("override {id} removed (one under way ends now)");
    Ok(ExitCode::SUCCESS)
}

/// Prints the webhook signing secret, after replacing it when `rotate`.
pub async fn signing_secret(args: &ClientArgs, rotate: bool) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let path = "/api/v1/webhooks/signing-secret";
    let secret = if rotate {
        api.post(&format!("{path}/rotate"), None).await?
    } else {
        api.get(path).await?
    };
    if args.json {
        return print_json(&secret);
    }
    if rotate {
        eprintln!(
            "rotated: deliveries from now on are signed with this secret; update your receivers"
        );
    }
    // Alone on stdout, so scripts can capture it.
    println!("{}", text(&secret["secret"]));
    Ok(ExitCode::SUCCESS)
}

/// What a job worked for, from its payload, for tables.
fn belonging(job: &Value) -> String {
    let payload = &job["payload"];
    match (
        payload["incident_id"].as_i64(),
        payload["group_id"].as_i64(),
    ) {
        (Some(incident), _) => format!("incident INC-{incident}"),
        (None, Some(group)) => match payload["alert_id"].as_i64() {
            Some(alert) => format!("alert group #{group} (alert #{alert})"),
            None => format!("alert group #{group}"),
        },
        (None, None) => "—".into(),
    }
}

pub async fn list_jobs(args: &ClientArgs, state: Option<&str>) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let path = match state {
        Some(state) => format!("/api/v1/jobs?state={}&limit=200", query_value(state)),
        None => "/api/v1/jobs?limit=200".into(),
    };
    let page = api.get(&path).await?;
    let jobs = page["items"].as_array().cloned().unwrap_or_default();
    if args.json {
        return print_json(&jobs);
    }
    if jobs.is_empty() {
        println!("no jobs match");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = list_table([
        "ID",
        "KIND",
        "STATE",
        "ATTEMPTS",
        "DUE (UTC)",
        "BELONGS TO",
        "LAST ERROR",
    ]);
    for job in &jobs {
        table.add_row([
            text(&job["id"]),
            text(&job["kind"]),
            text(&job["state"]),
            format!("{}/{}", text(&job["attempts"]), text(&job["max_attempts"])),
            short_time(&job["run_at"]),
            belonging(job),
            text(&job["last_error"]),
        ]);
    }
    println!("{table}");
    if page["next_cursor"].is_string() {
        println!("(more jobs; the newest 200 are shown)");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn retry_job(args: &ClientArgs, id: i64) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let job = api.post(&format!("/api/v1/jobs/{id}/retry"), None).await?;
    if args.json {
        return print_json(&job);
    }
    println!(
        "job #{id} ({}) is back in the queue, due now",
        text(&job["kind"])
    );
    Ok(ExitCode::SUCCESS)
}

/// Whose calendar feed a command is about.
pub enum FeedOwner<'a> {
    Schedule(&'a str),
    Person(&'a str),
}

pub async fn rotate_feed(args: &ClientArgs, owner: FeedOwner<'_>) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let (path, name) = match owner {
        FeedOwner::Schedule(name) => (
            format!("/api/v1/schedules/{}/feed/rotate", query_value(name)),
            name,
        ),
        FeedOwner::Person(handle) => (
            format!("/api/v1/people/{}/calendar/rotate", query_value(handle)),
            handle,
        ),
    };
    let feed = api.post(&path, None).await?;
    if args.json {
        return print_json(&feed);
    }
    eprintln!("the old calendar feed URL of {name} no longer works; subscribe to this one:");
    // A full URL when the server has a base_url, else a path on it.
    let url = text(&feed["feed_url"]);
    if url.starts_with('/') {
        println!("{}{url}", args.server.trim_end_matches('/'));
    } else {
        println!("{url}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::text;
    use serde_json::json;

    #[test]
    fn control_characters_from_sources_do_not_reach_the_terminal() {
        assert_eq!(
            text(&json!("disk \u{1b}]0;pwned\u{7}full\u{9b}2J")),
            "disk \u{FFFD}]0;pwned\u{FFFD}full\u{FFFD}2J"
        );
        assert_eq!(
            text(&json!("two\nlines\tand a tab")),
            "two\nlines\tand a tab"
        );
        assert_eq!(text(&json!(["a\u{1b}", "b"])), "a\u{FFFD}, b");
    }
}
