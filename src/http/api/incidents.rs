//! Incidents: declare, work, resolve; the room's timeline and its live
//! stream. Incident ids are `INC-42` or `42` in paths.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::incidents::{IncidentQuery, IncidentView, TimelineEntry};
use crate::app::{App, Caller};
use crate::domain::incident::{
    Declaration, Incident, IncidentEdit, IncidentStatus, UpdateKind, parse_display_id,
};
use crate::domain::page::Page;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_incidents, declare_incident))
        .routes(routes!(show_incident, edit_incident))
        .routes(routes!(set_status))
        .routes(routes!(set_severity))
        .routes(routes!(assign_role))
        .routes(routes!(tick_item))
        .routes(routes!(post_update))
        .routes(routes!(link_alert))
        .routes(routes!(unlink_alert))
        .routes(routes!(merge_incident))
        .routes(routes!(resolve_incident))
        .routes(routes!(reopen_incident))
        .routes(routes!(incident_timeline))
        .routes(routes!(incident_stream))
}

/// `INC-42` or `42`; anything else is an incident that does not exist.
pub fn incident_id(text: &str) -> Result<i64, ApiError> {
    parse_display_id(text).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("incident {text} not found"),
        )
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentParams {
    /// `active` (investigating, identified or monitoring), `closed`
    /// (resolved or merged), `all`, or one status; all when absent.
    pub status: Option<String>,
    /// `SEV1`, … as configured.
    pub severity: Option<String>,
    /// Only incidents naming this service as impacted.
    pub service: Option<String>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentParams),
    responses((status = 200, body = Page<Incident>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_incidents(
    State(app): State<App>,
    _caller: Caller,
    Query(params): Query<IncidentParams>,
) -> ApiResult<axum::Json<Page<Incident>>> {
    Ok(axum::Json(
        app.incidents(IncidentQuery {
            status: params.status,
            severity: params.severity,
            service: params.service,
            cursor: params.cursor,
            limit: params.limit,
        })
        .await?,
    ))
}

/// Declares an incident (responder): roles filled, checklists drawn,
/// stakeholders of the severity notified, the update cadence started,
/// alerts linked. 201 with the incident room's contents.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = Declaration,
    responses((status = 201, body = IncidentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn declare_incident(
    State(app): State<App>,
    caller: Caller,
    Json(declaration): Json<Declaration>,
) -> ApiResult<(StatusCode, axum::Json<IncidentView>)> {
    let incident = app.declare_incident(&caller, &declaration).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(app.incident(incident.id).await?),
    ))
}

/// The incident room: the incident, possibly affected services, open
/// alerts, what blocks resolving, rendered talk scripts.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_incident(
    State(app): State<App>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<IncidentView>> {
    Ok(axum::Json(app.incident(incident_id(&id)?).await?))
}

/// Changes the title, impacted services, customer impact or workaround.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = IncidentEdit,
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_incident(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    Json(edit): Json<IncidentEdit>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.edit_incident(&caller, incident_id(&id)?, &edit).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `investigating`, `identified` or `monitoring`; resolve has its own route.
    pub status: IncidentStatus,
}

/// Moves the status: investigating → identified → monitoring.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/status", tag = "incidents", request_body = StatusRequest,
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_status(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<StatusRequest>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.set_incident_status(&caller, incident_id(&id)?, request.status)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityRequest {
    pub severity: String,
}

/// Raises or lowers the severity. Raising runs the higher severity's extra
/// steps (stakeholders, checklist items, cadence); lowering records it.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/severity", tag = "incidents", request_body = SeverityRequest,
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_severity(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<SeverityRequest>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.change_incident_severity(&caller, incident_id(&id)?, &request.severity)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// `incident_owner`, `comms_lead`, `support_lead`, or a configured role.
    pub role: String,
    /// The person's handle.
    pub person: String,
    /// Who the caller believes holds the role now; when someone else does,
    /// the handover is refused (409) instead of overwriting theirs.
    pub expected: Option<String>,
}

/// Hands a role over; every handover is in the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/roles", tag = "incidents", request_body = RoleRequest,
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn assign_role(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<RoleRequest>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.assign_incident_role(
            &caller,
            incident_id(&id)?,
            &request.role,
            &request.person,
            request.expected.as_deref(),
        )
        .await?,
    ))
}

/// Ticks a checklist item. Ticking one already ticked keeps who ticked it
/// first and changes nothing.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/checklist/{item}", tag = "incidents",
    params(("id" = String, Path, description = "INC-42 or 42"), ("item" = u32, Path, description = "Checklist item id")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn tick_item(
    State(app): State<App>,
    caller: Caller,
    Path((id, item)): Path<(String, u32)>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.tick_incident_item(&caller, incident_id(&id)?, item)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// `internal` (for responders) or `public` (for customers; restarts the
    /// update cadence).
    pub kind: UpdateKind,
    pub body: String,
}

/// Posts an internal note or a customer-facing update.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", tag = "incidents", request_body = UpdateRequest,
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 201, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_update(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<UpdateRequest>,
) -> ApiResult<(StatusCode, axum::Json<Incident>)> {
    let incident = app
        .post_incident_update(&caller, incident_id(&id)?, request.kind, &request.body)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(incident)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The alert's id…
    pub alert: Option<i64>,
    /// …or its dedup key (the newest alert with it; `service` narrows).
    pub dedup_key: Option<String>,
    pub service: Option<String>,
}

/// Links an alert; its service becomes impacted and its events join the
/// timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/alerts", tag = "incidents", request_body = LinkRequest,
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn link_alert(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<LinkRequest>,
) -> ApiResult<axum::Json<Incident>> {
    let alert = match (request.alert, request.dedup_key) {
        (Some(alert), None) => alert,
        (None, Some(key)) => {
            app.alert_by_dedup_key(&key, request.service.as_deref())
                .await?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "name the alert by `alert` (its id) or by `dedup_key`, not both",
            )
            .with_field("alert"));
        }
    };
    Ok(axum::Json(
        app.link_incident_alert(&caller, incident_id(&id)?, alert)
            .await?,
    ))
}

/// Unlinks an alert.
#[utoipa::path(delete, path = "/api/v1/incidents/{id}/alerts/{alert}", tag = "incidents",
    params(("id" = String, Path, description = "INC-42 or 42"), ("alert" = i64, Path, description = "Alert id")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn unlink_alert(
    State(app): State<App>,
    caller: Caller,
    Path((id, alert)): Path<(String, i64)>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.unlink_incident_alert(&caller, incident_id(&id)?, alert)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The incident this one duplicates: `INC-41` or `41`.
    pub into: String,
}

/// Merges a duplicate into another incident, which takes its alerts and
/// services; the duplicate is closed.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/merge", tag = "incidents", request_body = MergeRequest,
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn merge_incident(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<MergeRequest>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.merge_incident(&caller, incident_id(&id)?, incident_id(&request.into)?)
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// Resolve without the evidence (incident owner or admin), for this
    /// written reason.
    #[serde(rename = "override")]
    pub override_reason: Option<String>,
}

/// Resolves when every impacted service has no open alert and has been
/// quiet for the severity's settle time; otherwise 409 `not_recovered` with
/// the reasons in `details.unmet`, unless the incident owner (or an admin)
/// overrides with a reason. An incident naming no impacted service and no
/// alert has no evidence of recovery and needs the override.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents", request_body = ResolveRequest,
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn resolve_incident(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<ResolveRequest>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.resolve_incident(
            &caller,
            incident_id(&id)?,
            request.override_reason.as_deref(),
        )
        .await?,
    ))
}

/// Opens a resolved incident again.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/reopen", tag = "incidents",
    params(("id" = String, Path, description = "INC-42 or 42")),
    responses((status = 200, body = Incident), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reopen_incident(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        app.reopen_incident(&caller, incident_id(&id)?).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// Only events after this event id.
    pub after: Option<i64>,
}

/// The timeline, oldest first: the incident's events, its linked alerts'
/// and those of alerts on its impacted services, from the event log; each
/// event with the line the room shows for it (`text`).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", params(("id" = String, Path, description = "INC-42 or 42"), TimelineParams),
    responses((status = 200, body = Vec<TimelineEntry>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn incident_timeline(
    State(app): State<App>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<TimelineParams>,
) -> ApiResult<axum::Json<Vec<TimelineEntry>>> {
    let events = app
        .incident_timeline(incident_id(&id)?, params.after.unwrap_or(0))
        .await?;
    Ok(axum::Json(
        events.into_iter().map(TimelineEntry::from).collect(),
    ))
}

/// The timeline live, as server-sent events: every event as it is
/// committed (JSON with a `text` line to show; the SSE `id` is the event
/// id), the ones after `after` first. A reconnecting client's
/// `Last-Event-ID` header resumes after that event.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/stream", tag = "incidents",
    params(("id" = String, Path, description = "INC-42 or 42"), TimelineParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id (sent by EventSource when it reconnects)")),
    responses((status = 200, description = "text/event-stream of timeline events"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn incident_stream(
    State(app): State<App>,
    shutdown: Option<axum::Extension<crate::http::Shutdown>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<TimelineParams>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Sse<impl futures_core::Stream<Item = Result<SseEvent, Infallible>>>> {
    let id = incident_id(&id)?;
    // Fails here, with a 404, for an incident that does not exist.
    app.incident(id).await?;
    // EventSource reconnects to the same URL, whose `after` is as old as
    // the page, and says in Last-Event-ID what it saw last: the later of
    // the two wins. Only ids this stream gave out are meaningful, so
    // anything else is ignored rather than refused.
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = params.after.unwrap_or(0).max(last_seen.unwrap_or(0));
    let mut follower = crate::app::incidents::TimelineFollower::new(id, after);
    let mut shutdown = shutdown.map(|s| s.0.0);
    let stream = async_stream(move |sender| async move {
        for poll in 1u64.. {
            // A stream outlives the request that opened it: a token revoked,
            // a session ended or a user disabled since ends it too.
            if poll % STREAM_REAUTHENTICATE_EVERY == 0
                && crate::http::extract::authenticate(&headers, &app)
                    .await
                    .is_err()
            {
                return;
            }
            match follower.poll(&app).await {
                Ok(events) => {
                    for event in events {
                        let id = event.id.to_string();
                        let entry = TimelineEntry::from(event);
                        let data = serde_json::to_string(&entry).unwrap_or_default();
                        let sse = SseEvent::default().id(id).data(data);
                        if sender.send(Ok(sse)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, incident = id, "timeline stream could not read")
                }
            }
            let stopping = async {
                match shutdown.as_mut() {
                    Some(shutdown) => {
                        let _ = shutdown.wait_for(|stop| *stop).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = sender.closed() => return,
                _ = stopping => return,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// How many of a timeline stream's polls (every 500 ms) go by between
/// checks that its caller's credentials are still good.
const STREAM_REAUTHENTICATE_EVERY: u64 = 4;

/// A stream fed by a task through a small channel; the task ends when the
/// client goes away.
fn async_stream<F, Fut>(task: F) -> impl futures_core::Stream<Item = Result<SseEvent, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<SseEvent, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(task(sender));
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}
