//! `siaga incident …`: declare, work and resolve incidents as a client of
//! `/api/v1/incidents`. Knows the API's shapes, not its rules: every refusal
//! comes from the server and is shown as it explains it.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::{
    Api, ApiFailure, facts_table, filter_query, list_table, print_json, short_time, text,
};
use crate::domain::incident::{display_id, parse_display_id};

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// List incidents, newest first.
    List {
        /// active, closed, all, investigating, identified, monitoring,
        /// resolved or merged; all when absent.
        #[arg(long)]
        status: Option<String>,
        /// SEV1, … as configured.
        #[arg(long)]
        severity: Option<String>,
        /// Only incidents naming this service as impacted.
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one incident: roles, checklists, impact, recovery, updates,
    /// linked alerts and the timeline.
    Show {
        /// INC-42 or 42.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Declare an incident; prints its id (INC-42).
    Declare {
        #[arg(long)]
        title: String,
        /// SEV1, … as configured.
        #[arg(long)]
        severity: String,
        /// An impacted service; repeat for several.
        #[arg(long = "service")]
        services: Vec<String>,
        /// What customers notice, in words.
        #[arg(long)]
        impact: Option<String>,
        /// What customers can do meanwhile.
        #[arg(long)]
        workaround: Option<String>,
        /// The id of an alert to link at once (`siaga alerts list`); repeat
        /// for several.
        #[arg(long = "alert-id")]
        alerts: Vec<i64>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change the title, the impacted services, the impact or the
    /// workaround; an empty value clears the impact or the workaround.
    Edit {
        id: String,
        #[arg(long)]
        title: Option<String>,
        /// Replaces the impacted services; repeat for several.
        #[arg(long = "service")]
        services: Vec<String>,
        #[arg(long)]
        impact: Option<String>,
        #[arg(long)]
        workaround: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Post an update: internal unless --public (customer-facing, which
    /// restarts the update cadence).
    Update {
        id: String,
        #[arg(long, short)]
        message: String,
        #[arg(long)]
        public: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Post an internal note.
    Note {
        id: String,
        text: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Hand ROLE (incident_owner, comms_lead, …) to PERSON (a handle).
    Role {
        id: String,
        role: String,
        person: String,
        /// Only if this person still holds it: refused if someone else
        /// handed it over meanwhile.
        #[arg(long)]
        expected: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Move the status: investigating, identified or monitoring (resolve has
    /// its own verb).
    Status {
        id: String,
        status: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Raise or lower the severity; raising runs the higher severity's steps.
    Severity {
        id: String,
        severity: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Link an alert by its dedup key (the newest alert with it).
    Link {
        id: String,
        /// The alert's dedup key.
        #[arg(long = "alert")]
        dedup_key: String,
        /// The alert's service, when the key is used on several.
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Unlink the linked alerts with this dedup key.
    Unlink {
        id: String,
        #[arg(long = "alert")]
        dedup_key: String,
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Merge this incident, a duplicate, into another.
    Merge {
        id: String,
        /// The incident it duplicates: INC-41 or 41.
        #[arg(long)]
        into: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Resolve, if the impacted services have recovered; the incident
    /// owner may --override the check with a written reason.
    Resolve {
        id: String,
        #[arg(long = "override", value_name = "REASON")]
        override_reason: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Open a resolved incident again.
    Reopen {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `INC-42` or `42` as the API path's id; anything else is refused here
/// with a hint instead of a 404 from the server.
fn incident_path(id: &str) -> anyhow::Result<(i64, String)> {
    match parse_display_id(id) {
        Some(n) => Ok((n, format!("/api/v1/incidents/{n}"))),
        None => bail!("`{id}` is not an incident id: use INC-42 or 42"),
    }
}

pub async fn run(command: IncidentCommand) -> anyhow::Result<ExitCode> {
    match command {
        IncidentCommand::List {
            status,
            severity,
            service,
            client,
        } => {
            let filters = [
                ("status", status),
                ("severity", severity),
                ("service", service),
            ];
            list(&client, &filters).await
        }
        IncidentCommand::Show { id, client } => show(&client, &id).await,
        IncidentCommand::Declare {
            title,
            severity,
            services,
            impact,
            workaround,
            alerts,
            client,
        } => {
            let body = json!({
                "title": title, "severity": severity, "services": services, "alerts": alerts,
                "customer_impact": impact.unwrap_or_default(), "workaround": workaround.unwrap_or_default(),
            });
            declare(&client, &body).await
        }
        IncidentCommand::Edit {
            id,
            title,
            services,
            impact,
            workaround,
            client,
        } => {
            let mut body = json!({
                "title": title, "customer_impact": impact, "workaround": workaround,
                "services": (!services.is_empty()).then_some(services),
            });
            if let Some(map) = body.as_object_mut() {
                map.retain(|_, v| !v.is_null());
            }
            if body.as_object().is_some_and(|m| m.is_empty()) {
                bail!("nothing to change: pass --title, --service, --impact or --workaround");
            }
            let (n, path) = incident_path(&id)?;
            let api = Api::new(&client)?;
            let incident = api.patch(&path, &body).await?;
            said(&client, &incident, format!("{} edited", display_id(n)))
        }
        IncidentCommand::Update {
            id,
            message,
            public,
            client,
        } => post_update(&client, &id, &message, public).await,
        IncidentCommand::Note { id, text, client } => post_update(&client, &id, &text, false).await,
        IncidentCommand::Role {
            id,
            role,
            person,
            expected,
            client,
        } => {
            let body = json!({ "role": role, "person": person, "expected": expected });
            change(&client, &id, "roles", Some(body), |n, _| {
                format!("{}: {role} is now {person}", display_id(n))
            })
            .await
        }
        IncidentCommand::Status { id, status, client } => {
            let body = json!({ "status": status });
            change(&client, &id, "status", Some(body), |n, incident| {
                format!("{} is {}", display_id(n), text(&incident["status"]))
            })
            .await
        }
        IncidentCommand::Severity {
            id,
            severity,
            client,
        } => {
            let body = json!({ "severity": severity });
            change(&client, &id, "severity", Some(body), |n, incident| {
                format!("{} is {}", display_id(n), text(&incident["severity"]))
            })
            .await
        }
        IncidentCommand::Link {
            id,
            dedup_key,
            service,
            client,
        } => link(&client, &id, &dedup_key, service.as_deref()).await,
        IncidentCommand::Unlink {
            id,
            dedup_key,
            service,
            client,
        } => unlink(&client, &id, &dedup_key, service.as_deref()).await,
        IncidentCommand::Merge { id, into, client } => {
            let (into, _) = incident_path(&into)?;
            let body = json!({ "into": into.to_string() });
            change(&client, &id, "merge", Some(body), |n, _| {
                format!("{} merged into {}", display_id(n), display_id(into))
            })
            .await
        }
        IncidentCommand::Resolve {
            id,
            override_reason,
            client,
        } => resolve(&client, &id, override_reason.as_deref()).await,
        IncidentCommand::Reopen { id, client } => {
            change(&client, &id, "reopen", None, |n, _| {
                format!("{} reopened", display_id(n))
            })
            .await
        }
    }
}

/// POSTs `body` to the incident's `verb` route; says `line` of the answer.
async fn change(
    args: &ClientArgs,
    id: &str,
    verb: &str,
    body: Option<Value>,
    line: impl FnOnce(i64, &Value) -> String,
) -> anyhow::Result<ExitCode> {
    let (n, path) = incident_path(id)?;
    let api = Api::new(args)?;
    let answer = api.post(&format!("{path}/{verb}"), body.as_ref()).await?;
    let line = line(n, &answer);
    said(args, &answer, line)
}

/// The API's answer with --json, else one line for people.
fn said(args: &ClientArgs, answer: &Value, line: String) -> anyhow::Result<ExitCode> {
    if args.json {
        return print_json(answer);
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

async fn list(args: &ClientArgs, filters: &[(&str, Option<String>)]) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let query = filter_query(filters);
    let page = api
        .get(&format!("/api/v1/incidents?limit=200{query}"))
        .await?;
    let incidents = page["items"].as_array().cloned().unwrap_or_default();
    if args.json {
        return print_json(&incidents);
    }
    if incidents.is_empty() {
        println!("no incidents match");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = list_table([
        "ID",
        "SEVERITY",
        "STATUS",
        "TITLE",
        "SERVICES",
        "OWNER",
        "DECLARED (UTC)",
        "NEXT UPDATE (UTC)",
    ]);
    for i in &incidents {
        let owner = i["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["role"] == crate::domain::incident::OWNER_ROLE)
            .map_or_else(|| "—".to_string(), |r| text(&r["person"]));
        table.add_row([
            display_id(i["id"].as_i64().unwrap_or_default()),
            text(&i["severity"]),
            text(&i["status"]),
            text(&i["title"]),
            text(&i["services"]),
            owner,
            short_time(&i["milestones"]["declared_at"]),
            short_time(&i["next_update_due_at"]),
        ]);
    }
    println!("{table}");
    if page["next_cursor"].is_string() {
        println!("(more incidents; narrow with --status, --severity or --service)");
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(args: &ClientArgs, id: &str) -> anyhow::Result<ExitCode> {
    let (_, path) = incident_path(id)?;
    let api = Api::new(args)?;
    let view = api.get(&path).await?;
    let timeline = api.get(&format!("{path}/timeline")).await?;
    if args.json {
        return print_json(&json!({ "incident": view, "timeline": timeline }));
    }
    let status = match view["merged_into"].as_i64() {
        Some(into) => format!("merged into {}", display_id(into)),
        None => text(&view["status"]),
    };
    println!(
        "{} [{}] {} — {status}",
        text(&view["reference"]),
        text(&view["severity"]),
        text(&view["title"])
    );
    let milestones = &view["milestones"];
    let mut facts = facts_table();
    let or = |value: &Value, missing: &str| match value.as_str() {
        Some("") | None => missing.to_string(),
        Some(text) => text.to_string(),
    };
    let possibly: Vec<String> = view["possibly_affected"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{} (via {})", text(&p["service"]), text(&p["via"])))
        .collect();
    for (label, value) in [
        ("impacted", or(&Value::String(text(&view["services"])), "—")),
        ("possibly affected", possibly.join(", ")),
        (
            "customer impact",
            or(&view["customer_impact"], "being assessed"),
        ),
        ("workaround", or(&view["workaround"], "none yet")),
        ("next update due", short_time(&view["next_update_due_at"])),
        ("detected", short_time(&milestones["detected_at"])),
        ("acknowledged", short_time(&milestones["acknowledged_at"])),
        ("declared", short_time(&milestones["declared_at"])),
        ("identified", short_time(&milestones["identified_at"])),
        ("mitigated", short_time(&milestones["mitigated_at"])),
        ("resolved", short_time(&milestones["resolved_at"])),
    ] {
        facts.add_row([label.to_string(), value]);
    }
    println!("{facts}");
    println!("(times in UTC)");
    if let Some(reason) = view["resolve_override"].as_str() {
        println!("resolved without the evidence: {reason}");
    }
    let blockers: Vec<String> = view["recovery_blockers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if view["status"] != "resolved" && view["status"] != "merged" {
        if blockers.is_empty() {
            println!("recovery: the impacted services have recovered");
        } else {
            println!("recovery: not yet");
            for blocker in &blockers {
                println!("  - {blocker}");
            }
        }
    }
    println!("\nroles:");
    for role in view["roles"].as_array().into_iter().flatten() {
        println!("  {:<16} {}", text(&role["role"]), text(&role["person"]));
    }
    println!("\nchecklists:");
    for item in view["checklist"].as_array().into_iter().flatten() {
        let done = match item["done_by"].as_str() {
            Some(by) => format!("[x] {} ({by})", text(&item["text"])),
            None => format!("[ ] {}", text(&item["text"])),
        };
        println!(
            "  {:<16} #{} {done}",
            text(&item["role"]),
            text(&item["id"])
        );
    }
    let alerts = view["linked_alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !alerts.is_empty() {
        println!("\nlinked alerts:");
        for alert in &alerts {
            let regression = if alert["possible_regression"] == true {
                " — possible regression"
            } else {
                ""
            };
            println!(
                "  #{} {} ({}, {}, key {}){regression}",
                text(&alert["id"]),
                text(&alert["summary"]),
                text(&alert["service"]),
                text(&alert["status"]),
                text(&alert["dedup_key"])
            );
        }
    }
    for script in view["talk_scripts"].as_array().into_iter().flatten() {
        println!(
            "\ntalk script {} (for {}):\n  {}",
            text(&script["name"]),
            text(&script["audience"]),
            text(&script["text"])
        );
    }
    println!("\ntimeline (UTC):");
    for entry in timeline.as_array().into_iter().flatten() {
        println!("  {}  {}", short_time(&entry["at"]), text(&entry["text"]));
    }
    Ok(ExitCode::SUCCESS)
}

async fn declare(args: &ClientArgs, body: &Value) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let view = api.post("/api/v1/incidents", Some(body)).await?;
    if args.json {
        return print_json(&view);
    }
    // The id alone on stdout, for scripts: `id=$(siaga incident declare …)`.
    println!("{}", text(&view["reference"]));
    let owner = view["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["role"] == crate::domain::incident::OWNER_ROLE)
        .map_or_else(|| "nobody".to_string(), |r| text(&r["person"]));
    eprintln!(
        "declared {} {}: {}; incident owner {owner}",
        text(&view["severity"]),
        text(&view["reference"]),
        text(&view["title"])
    );
    Ok(ExitCode::SUCCESS)
}

async fn post_update(
    args: &ClientArgs,
    id: &str,
    body: &str,
    public: bool,
) -> anyhow::Result<ExitCode> {
    let (n, path) = incident_path(id)?;
    let api = Api::new(args)?;
    let kind = if public { "public" } else { "internal" };
    let incident = api
        .post(
            &format!("{path}/updates"),
            Some(&json!({ "kind": kind, "body": body })),
        )
        .await?;
    let line = if public {
        match incident["next_update_due_at"].as_str() {
            Some(_) => format!(
                "{}: customer-facing update posted; the next is due {} UTC",
                display_id(n),
                short_time(&incident["next_update_due_at"])
            ),
            None => format!("{}: customer-facing update posted", display_id(n)),
        }
    } else {
        format!("{}: internal note posted", display_id(n))
    };
    said(args, &incident, line)
}

async fn link(
    args: &ClientArgs,
    id: &str,
    dedup_key: &str,
    service: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let (n, path) = incident_path(id)?;
    let api = Api::new(args)?;
    let before = api.get(&path).await?;
    let incident = api
        .post(
            &format!("{path}/alerts"),
            Some(&json!({ "dedup_key": dedup_key, "service": service })),
        )
        .await?;
    let linked: Vec<i64> = incident["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .filter(|a| {
            !before["alerts"]
                .as_array()
                .is_some_and(|b| b.contains(&json!(a)))
        })
        .collect();
    let line = match linked.as_slice() {
        [alert] => format!(
            "{}: linked alert #{alert} ({dedup_key}); impacted: {}",
            display_id(n),
            text(&incident["services"])
        ),
        _ => format!(
            "{}: the alert {dedup_key} was linked already",
            display_id(n)
        ),
    };
    said(args, &incident, line)
}

async fn unlink(
    args: &ClientArgs,
    id: &str,
    dedup_key: &str,
    service: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let (n, path) = incident_path(id)?;
    let api = Api::new(args)?;
    // The API unlinks by alert id; the room's view says which linked alerts
    // carry this key (a key can open a new alert after each resolve).
    let view = api.get(&path).await?;
    let matching: Vec<i64> = view["linked_alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["dedup_key"] == dedup_key)
        .filter(|a| service.is_none_or(|s| a["service"] == s))
        .filter_map(|a| a["id"].as_i64())
        .collect();
    if matching.is_empty() {
        bail!(
            "no alert with dedup key `{dedup_key}`{} is linked to {}",
            service.map(|s| format!(" on {s}")).unwrap_or_default(),
            display_id(n)
        );
    }
    let mut incident = Value::Null;
    for alert in &matching {
        incident = api.delete(&format!("{path}/alerts/{alert}")).await?;
    }
    let ids: Vec<String> = matching.iter().map(|a| format!("#{a}")).collect();
    said(
        args,
        &incident,
        format!(
            "{}: unlinked alert {} ({dedup_key})",
            display_id(n),
            ids.join(", ")
        ),
    )
}

async fn resolve(
    args: &ClientArgs,
    id: &str,
    override_reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let (n, path) = incident_path(id)?;
    let api = Api::new(args)?;
    let body = json!({ "override": override_reason });
    let incident = match api.post(&format!("{path}/resolve"), Some(&body)).await {
        Ok(incident) => incident,
        Err(error) => {
            // The one refusal worth more than its message: say every reason
            // and what to do about it.
            if let Some(refused) = error.downcast_ref::<ApiFailure>()
                && refused.status == 409
                && refused.body["error"]["code"] == "not_recovered"
            {
                eprintln!("{} was not resolved:", display_id(n));
                for reason in refused.body["error"]["details"]["unmet"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    eprintln!("  - {}", text(reason));
                }
                eprintln!(
                    "resolve once the services have recovered, or, as the incident owner, pass --override REASON"
                );
                return Ok(ExitCode::FAILURE);
            }
            return Err(error);
        }
    };
    let line = match incident["resolve_override"].as_str() {
        Some(reason) => format!("{} resolved without the evidence: {reason}", display_id(n)),
        None => format!("{} resolved: the services have recovered", display_id(n)),
    };
    said(args, &incident, line)
}
