//! The CLI as a client of the HTTP API.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

use super::ClientArgs;

struct Api<'a> {
    args: &'a ClientArgs,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(args: &'a ClientArgs) -> anyhow::Result<Api<'a>> {
        if args.token.is_none() {
            bail!(
                "no API token: pass --token or set SIAGA_TOKEN (siaga admin create-token makes one)"
            );
        }
        Ok(Api {
            args,
            client: crate::outbound::http_client()?,
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
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"].as_str().unwrap_or("no details");
        match status.as_u16() {
            401 => {
                bail!("the server refused the token: it is wrong, expired or revoked ({message})")
            }
            403 => bail!("the token may not do this: {message}"),
            _ => bail!("{message} (HTTP {status})"),
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.client.get(self.url(path))).await
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

fn text(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

pub async fn list_services(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let services = api.get_all("/api/v1/services").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&services)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "NAME",
        "KIND",
        "OWNER",
        "TIER",
        "DEPENDS ON",
    ]);
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
        println!("{}", serde_json::to_string_pretty(&service)?);
        return Ok(ExitCode::SUCCESS);
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
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
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
    let reply: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&reply)?);
        } else {
            let changes = reply["changes"].as_array().cloned().unwrap_or_default();
            println!(
                "applied {} as revision {} ({} change(s))",
                file.display(),
                text(&reply["revision"]["id"]),
                changes.len()
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
