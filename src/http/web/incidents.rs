//! The incidents list, the declare form and the incident room, whose
//! timeline is live over server-sent events (`assets/incident.js`).

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::{
    CsrfForm, Layout, PageError, Path, Query, Viewer, check_csrf, error_page, error_page_back,
    render, utc_minute,
};
use crate::app::incidents::{IncidentQuery, IncidentView, describe};
use crate::app::{App, Caller};
use crate::domain::auth::Role;
use crate::domain::incident::{
    Declaration, Incident, IncidentEdit, IncidentStatus, UpdateKind, display_id, parse_display_id,
};
use crate::domain::page::Page;

pub fn router() -> Router<App> {
    Router::new()
        .route("/incidents", get(incidents_page).post(declare))
        .route("/incidents/new", get(declare_page))
        .route("/incidents/{id}", get(room_page))
        .route("/incidents/{id}/{action}", post(act))
        .route("/incidents/{id}/checklist/{item}", post(tick))
        .route("/assets/incident.js", get(script))
}

async fn script() -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../assets/incident.js"),
    )
        .into_response()
}

/// Form fields in order, repeated names kept (a multiple select sends one
/// `services` per choice, which `Form` cannot read into a list).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Result<Fields, PageError> {
        if let Some(field) = crate::http::extract::field_with_nul(form_urlencoded::parse(body)) {
            return Err(super::error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "That form could not be read",
                format!("The field `{field}` holds a NUL character, which text here may not."),
            ));
        }
        Ok(Fields(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.one(name).unwrap_or_default().trim().to_string()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    fn check_csrf(&self, caller: &Caller) -> Result<(), PageError> {
        check_csrf(
            caller,
            &CsrfForm {
                csrf_token: self.text("csrf_token"),
            },
        )
    }
}

fn incident_id(text: &str) -> Result<i64, PageError> {
    parse_display_id(text).ok_or_else(|| {
        error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("There is no incident {text}."),
        )
    })
}

struct Row {
    id: i64,
    reference: String,
    title: String,
    severity: String,
    status: &'static str,
    merged_into: Option<String>,
    owner: String,
    declared_at: String,
    next_update: String,
    overdue: bool,
}

impl Row {
    fn of(incident: &Incident, now: jiff::Timestamp) -> Row {
        Row {
            id: incident.id,
            reference: display_id(incident.id),
            title: incident.title.clone(),
            severity: incident.severity.clone(),
            status: incident.status.as_str(),
            merged_into: incident.merged_into.map(display_id),
            owner: incident
                .holder(crate::domain::incident::OWNER_ROLE)
                .unwrap_or("—")
                .to_string(),
            declared_at: incident
                .milestones
                .declared_at
                .map(utc_minute)
                .unwrap_or_default(),
            next_update: incident
                .next_update_due_at
                .map(utc_minute)
                .unwrap_or_default(),
            overdue: incident.next_update_due_at.is_some_and(|due| due <= now),
        }
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    layout: Layout,
    can_declare: bool,
    /// `None` when the status filter rules the section out.
    active: Option<Vec<Row>>,
    closed: Option<Vec<Row>>,
    severities: Vec<(String, String)>,
    statuses: Vec<&'static str>,
    services: Vec<String>,
    severity: String,
    status: String,
    service: String,
}

#[derive(serde::Deserialize)]
struct ListParams {
    severity: Option<String>,
    /// `active`, `closed` or one status; both sections when absent.
    status: Option<String>,
    service: Option<String>,
}

async fn incidents_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    let org = app.org_snapshot().await?;
    let now = app.clock.now();
    let given = |value: Option<String>| value.filter(|s| !s.is_empty());
    let severity = given(params.severity);
    let service = given(params.service);
    let status = given(params.status);
    // Each section lists what the status filter leaves of it; a section the
    // filter rules out is not shown.
    let (active_status, closed_status) = match status.as_deref() {
        None | Some("all") => (Some("active"), Some("closed")),
        Some(s @ ("active" | "investigating" | "identified" | "monitoring")) => (Some(s), None),
        Some(s) => (None, Some(s)),
    };
    let list = |status: &str| IncidentQuery {
        status: Some(status.into()),
        severity: severity.clone(),
        service: service.clone(),
        limit: Some(100),
        ..IncidentQuery::default()
    };
    let rows = |page: Page<Incident>| page.items.iter().map(|i| Row::of(i, now)).collect();
    let active = match active_status {
        Some(status) => Some(rows(app.incidents(list(status)).await?)),
        None => None,
    };
    let closed = match closed_status {
        Some(status) => Some(rows(app.incidents(list(status)).await?)),
        None => None,
    };
    Ok(render(&IncidentsPage {
        layout: Layout::for_caller(&caller, "incidents"),
        can_declare: caller.role >= Role::Responder,
        active,
        closed,
        severities: org
            .incidents
            .severities
            .iter()
            .map(|s| (s.name.clone(), s.description.clone()))
            .collect(),
        statuses: ["active", "closed"]
            .into_iter()
            .chain(IncidentStatus::ALL.iter().map(|s| s.as_str()))
            .collect(),
        services: org.services.iter().map(|s| s.name.clone()).collect(),
        severity: severity.unwrap_or_default(),
        status: status.unwrap_or_default(),
        service: service.unwrap_or_default(),
    }))
}

#[derive(Template)]
#[template(path = "incident_new.html")]
struct DeclarePage {
    layout: Layout,
    severities: Vec<(String, String)>,
    services: Vec<(String, String)>,
    alert: Option<crate::domain::alert::Alert>,
}

#[derive(serde::Deserialize)]
struct DeclareParams {
    alert: Option<i64>,
}

async fn declare_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Query(params): Query<DeclareParams>,
) -> Result<Response, PageError> {
    caller.require(Role::Responder)?;
    let org = app.org_snapshot().await?;
    let alert = match params.alert {
        Some(id) => Some(app.alert_detail(id).await?.alert),
        None => None,
    };
    Ok(render(&DeclarePage {
        layout: Layout::for_caller(&caller, "incidents"),
        severities: org
            .incidents
            .severities
            .iter()
            .map(|s| (s.name.clone(), s.description.clone()))
            .collect(),
        services: org
            .services
            .iter()
            .map(|s| (s.name.clone(), s.display_name.clone()))
            .collect(),
        alert,
    }))
}

async fn declare(
    State(app): State<App>,
    Viewer(caller): Viewer,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body)?;
    fields.check_csrf(&caller)?;
    let declaration = Declaration {
        title: fields.text("title"),
        severity: fields.text("severity"),
        services: fields.all("services"),
        customer_impact: fields.text("customer_impact"),
        workaround: fields.text("workaround"),
        alerts: fields
            .all("alert")
            .iter()
            .map(|a| {
                a.parse().map_err(|_| {
                    crate::app::Error::invalid(
                        "invalid_alert",
                        "alert",
                        format!("`{a}` is not an alert id"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let incident = app.declare_incident(&caller, &declaration).await?;
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}

struct Entry {
    id: i64,
    at: String,
    text: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct RoomPage {
    layout: Layout,
    view: IncidentView,
    can_act: bool,
    open: bool,
    overdue: bool,
    next_update: String,
    roles: Vec<(String, String, String)>,
    checklist: Vec<(String, Vec<crate::domain::incident::ChecklistItem>)>,
    severities: Vec<String>,
    people: Vec<(String, String)>,
    updates: Vec<(String, String, &'static str, String)>,
    timeline: Vec<Entry>,
    last_event: i64,
    milestones: Vec<(&'static str, String)>,
    /// Impacted services with their open alert counts.
    impacted: Vec<(String, i64)>,
}

async fn room_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = incident_id(&id)?;
    let view = app.incident(id).await?;
    let org = app.org_snapshot().await?;
    let now = app.clock.now();
    let timeline: Vec<Entry> = app
        .incident_timeline(id, 0)
        .await?
        .iter()
        .map(|e| Entry {
            id: e.id,
            at: utc_minute(e.at),
            text: describe(e),
        })
        .collect();
    let incident = &view.incident;
    let roles = incident
        .roles
        .iter()
        .map(|holder| {
            let title = org
                .incidents
                .role(&holder.role)
                .map(|r| r.title.clone())
                .unwrap_or_else(|| holder.role.clone());
            (holder.role.clone(), title, holder.person.clone())
        })
        .collect();
    let mut checklist: Vec<(String, Vec<crate::domain::incident::ChecklistItem>)> = Vec::new();
    for item in &incident.checklist {
        match checklist.iter_mut().find(|(role, _)| *role == item.role) {
            Some((_, items)) => items.push(item.clone()),
            None => checklist.push((item.role.clone(), vec![item.clone()])),
        }
    }
    let milestones = [
        ("Detected", incident.milestones.detected_at),
        ("Acknowledged", incident.milestones.acknowledged_at),
        ("Declared", incident.milestones.declared_at),
        ("Identified", incident.milestones.identified_at),
        ("Mitigated", incident.milestones.mitigated_at),
        ("Resolved", incident.milestones.resolved_at),
    ]
    .into_iter()
    .filter_map(|(name, at)| Some((name, utc_minute(at?))))
    .collect();
    let updates = incident
        .updates
        .iter()
        .rev()
        .map(|u| {
            (
                utc_minute(u.at),
                u.author.clone(),
                if u.kind == UpdateKind::Public {
                    "customer update"
                } else {
                    "internal note"
                },
                u.body.clone(),
            )
        })
        .collect();
    Ok(render(&RoomPage {
        layout: Layout::for_caller(&caller, "incidents"),
        can_act: caller.role >= Role::Responder,
        open: !incident.is_closed(),
        overdue: incident.next_update_due_at.is_some_and(|due| due <= now),
        next_update: incident
            .next_update_due_at
            .map(utc_minute)
            .unwrap_or_default(),
        roles,
        checklist,
        severities: org
            .incidents
            .severities
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        people: org
            .people
            .iter()
            .map(|p| (p.handle.clone(), p.name.clone()))
            .collect(),
        updates,
        impacted: incident
            .services
            .iter()
            .map(|s| (s.clone(), view.open_alerts.get(s).copied().unwrap_or(0)))
            .collect(),
        last_event: timeline.last().map_or(0, |e| e.id),
        timeline,
        milestones,
        view,
    }))
}

/// Every button and form of the room posts here; `action` says which.
async fn act(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let id = incident_id(&id)?;
    let fields = Fields::parse(&body)?;
    fields.check_csrf(&caller)?;
    let optional = |name: &str| Some(fields.text(name)).filter(|v| !v.is_empty());
    let room = format!("/incidents/{id}");
    let mut next = room.clone();
    let refused = |error: crate::app::Error| -> PageError {
        let back = (room.clone(), format!("Back to {}", display_id(id)));
        match error {
            crate::app::Error::NotRecovered(reasons) => error_page_back(
                StatusCode::CONFLICT,
                "Not resolved",
                format!(
                    "Not resolved: {}. Resolve once the services have recovered, or as the incident owner give a reason to override.",
                    reasons.join("; ")
                ),
                back,
            ),
            crate::app::Error::Conflict(message) | crate::app::Error::Contended(message) => {
                error_page_back(
                    StatusCode::CONFLICT,
                    "Not changed",
                    format!(
                        "{message}. Nothing was changed; the incident room shows how things stand now."
                    ),
                    back,
                )
            }
            crate::app::Error::Invalid { message, .. } => error_page_back(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not changed",
                format!("{message}. Nothing was changed."),
                back,
            ),
            other => other.into(),
        }
    };
    let done = match action.as_str() {
        "status" => {
            let status = IncidentStatus::parse(&fields.text("status")).ok_or_else(|| {
                error_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Unknown status",
                    "Pick investigating, identified or monitoring.".into(),
                )
            })?;
            app.set_incident_status(&caller, id, status).await.map(drop)
        }
        "severity" => app
            .change_incident_severity(&caller, id, &fields.text("severity"))
            .await
            .map(drop),
        "roles" => app
            .assign_incident_role(
                &caller,
                id,
                &fields.text("role"),
                &fields.text("person"),
                optional("expected").as_deref(),
            )
            .await
            .map(drop),
        "updates" => {
            let kind = if fields.text("kind") == "public" {
                UpdateKind::Public
            } else {
                UpdateKind::Internal
            };
            app.post_incident_update(&caller, id, kind, &fields.text("body"))
                .await
                .map(drop)
        }
        "edit" => {
            // A field the form sent, even empty, is set: empty clears it.
            let sent = |name: &str| fields.one(name).map(|v| v.trim().to_string());
            let edit = IncidentEdit {
                customer_impact: sent("customer_impact"),
                workaround: sent("workaround"),
                services: Some(fields.all("services")).filter(|s| !s.is_empty()),
                ..IncidentEdit::default()
            };
            app.edit_incident(&caller, id, &edit).await.map(drop)
        }
        "alerts" => {
            let service = optional("service");
            match app
                .alert_by_dedup_key(&fields.text("dedup_key"), service.as_deref())
                .await
            {
                Ok(alert) => app.link_incident_alert(&caller, id, alert).await.map(drop),
                Err(error) => Err(error),
            }
        }
        "unlink" => match fields.text("alert").parse::<i64>() {
            Ok(alert) => app
                .unlink_incident_alert(&caller, id, alert)
                .await
                .map(drop),
            Err(_) => Err(crate::app::Error::invalid(
                "invalid_field",
                "alert",
                "name the alert to unlink by its id",
            )),
        },
        "merge" => {
            let into = parse_display_id(&fields.text("into")).ok_or_else(|| {
                error_page_back(
                    StatusCode::NOT_FOUND,
                    "Not merged",
                    format!("There is no incident {}.", fields.text("into")),
                    (room.clone(), format!("Back to {}", display_id(id))),
                )
            })?;
            next = format!("/incidents/{into}");
            app.merge_incident(&caller, id, into).await.map(drop)
        }
        "resolve" => app
            .resolve_incident(&caller, id, optional("override").as_deref())
            .await
            .map(drop),
        "reopen" => app.reopen_incident(&caller, id).await.map(drop),
        _ => {
            return Err(error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.".into(),
            ));
        }
    };
    done.map_err(refused)?;
    Ok(Redirect::to(&next).into_response())
}

async fn tick(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path((id, item)): Path<(String, u32)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let id = incident_id(&id)?;
    Fields::parse(&body)?.check_csrf(&caller)?;
    app.tick_incident_item(&caller, id, item).await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}
