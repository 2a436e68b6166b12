//! Alerts, their integrations and maintenance windows.

use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::alerts::{AlertDetail, AlertQuery, IntegrationView};
use crate::app::escalation::{Assignee, EscalationState};
use crate::app::{App, Caller};
use crate::domain::alert::{Alert, AlertStatus, MaintenanceWindow, Severity};
use crate::domain::page::Page;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Json, JsonOrEmpty, Path, Query};
use crate::store::ChangeEvent;

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(show_alert))
        .routes(routes!(acknowledge_alert))
        .routes(routes!(resolve_alert))
        .routes(routes!(escalate_alert))
        .routes(routes!(reassign_alert))
        .routes(routes!(list_integrations))
        .routes(routes!(list_maintenance_windows, create_maintenance_window))
        .routes(routes!(cancel_maintenance_window))
        .routes(routes!(list_changes))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// Only alerts of this service.
    pub service: Option<String>,
    /// `triggered`, `acknowledged` or `resolved`; open alerts when absent.
    pub status: Option<AlertStatus>,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: Option<Severity>,
    /// Only alerts seen at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<Timestamp>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Alerts, newest first; open ones unless `status` says otherwise.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertParams),
    responses((status = 200, body = Page<Alert>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_alerts(
    State(app): State<App>,
    _caller: Caller,
    Query(params): Query<AlertParams>,
) -> ApiResult<axum::Json<Page<Alert>>> {
    let page = app
        .alerts(AlertQuery {
            service: params.service,
            status: params.status,
            severity: params.severity,
            since: params.since,
            cursor: params.cursor,
            limit: params.limit,
        })
        .await?;
    Ok(axum::Json(page))
}

/// One alert with its group and the events it came from.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, body = AlertDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_alert(
    State(app): State<App>,
    _caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<AlertDetail>> {
    Ok(axum::Json(app.alert_detail(id).await?))
}

/// Acknowledges an alert (responder). Acknowledging twice changes nothing;
/// a resolved alert cannot be acknowledged (409).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, body = Alert), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn acknowledge_alert(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Alert>> {
    Ok(axum::Json(app.acknowledge_alert(&caller, id).await?))
}

/// Resolves an alert (responder).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, body = Alert), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn resolve_alert(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Alert>> {
    Ok(axum::Json(app.resolve_alert(&caller, id).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// The level (1-based) to notify now; the level after the one last
    /// notified when absent.
    #[schema(minimum = 1)]
    pub level: Option<usize>,
}

/// Escalates an alert's group now, without waiting for the level's timeout
/// (responder); no body means `{}`, the next level. An acknowledged alert
/// triggers again. 409 when the alert is resolved or its service has no
/// policy.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/escalate", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")), request_body = EscalateRequest,
    responses((status = 200, body = EscalationState), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn escalate_alert(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonOrEmpty(request): JsonOrEmpty<EscalateRequest>,
) -> ApiResult<axum::Json<EscalationState>> {
    Ok(axum::Json(
        app.escalate_alert(&caller, id, request.level).await?,
    ))
}

/// Reassigns an alert's group (responder): `{"person": "budi"}` pages that
/// person now, and the policy carries on if they stay silent;
/// `{"policy": "payments"}` escalates along another policy from its first
/// level. An acknowledged alert triggers again.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/reassign", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")), request_body = ReassignRequest,
    responses((status = 200, body = EscalationState), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody, description = "neither or both of `person` and `policy`, or one the config does not have")))]
async fn reassign_alert(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(to): Json<ReassignRequest>,
) -> ApiResult<axum::Json<EscalationState>> {
    let to = match (to.person, to.policy) {
        (Some(person), None) => Assignee::Person(person),
        (None, Some(policy)) => Assignee::Policy(policy),
        (person, _) => {
            let field = if person.is_some() { "policy" } else { "person" };
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "give a `person` to page or a `policy` to escalate along, not both",
            )
            .with_field(field));
        }
    };
    Ok(axum::Json(app.reassign_alert(&caller, id, &to).await?))
}

/// Where to reassign an alert: exactly one of the two.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReassignRequest {
    /// A person's handle: paged now.
    person: Option<String>,
    /// A policy's name: escalated along from its first level.
    policy: Option<String>,
}

/// Every integration with its service, kind, key and endpoint (admin).
#[utoipa::path(get, path = "/api/v1/integrations", tag = "alerts",
    responses((status = 200, body = Vec<IntegrationView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_integrations(
    State(app): State<App>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<IntegrationView>>> {
    Ok(axum::Json(app.integrations(&caller).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ServiceParams {
    /// Only this service.
    pub service: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Maintenance windows that have not ended, from config and from the API,
/// soonest first; all of them unless `limit` says how many.
#[utoipa::path(get, path = "/api/v1/maintenance-windows", tag = "alerts", params(ServiceParams),
    responses((status = 200, body = Vec<MaintenanceWindow>), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn list_maintenance_windows(
    State(app): State<App>,
    _caller: Caller,
    Query(params): Query<ServiceParams>,
) -> ApiResult<axum::Json<Vec<MaintenanceWindow>>> {
    let limit = params
        .limit
        .map(|limit| crate::app::audit::page_limit(Some(limit)))
        .transpose()?;
    let mut windows = app.maintenance_windows(params.service.as_deref()).await?;
    if let Some(limit) = limit {
        windows.truncate(limit as usize);
    }
    Ok(axum::Json(windows))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenanceWindow {
    pub service: String,
    /// When it starts (RFC 3339); now when absent.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    /// When it ends (RFC 3339). Give this or `duration`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    /// How long it lasts, e.g. `2h` or `90m`. Give this or `ends_at`.
    pub duration: Option<String>,
    pub reason: String,
}

/// Starts a maintenance window, now or ahead of time (responder): the
/// service's alerts are recorded but do not page.
#[utoipa::path(post, path = "/api/v1/maintenance-windows", tag = "alerts", request_body = NewMaintenanceWindow,
    responses((status = 201, body = MaintenanceWindow), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_maintenance_window(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<NewMaintenanceWindow>,
) -> ApiResult<(StatusCode, axum::Json<MaintenanceWindow>)> {
    let starts_at = body.starts_at.unwrap_or_else(|| app.clock.now());
    let ends_at = match (body.ends_at, body.duration.as_deref()) {
        (Some(ends_at), None) => ends_at,
        (None, Some(duration)) => crate::app::alerts::window_end(starts_at, duration)?,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_range",
                "give either `ends_at` or `duration`",
            )
            .with_field("ends_at"));
        }
    };
    let window = app
        .create_maintenance_window(
            &caller,
            &body.service,
            Some(starts_at),
            ends_at,
            &body.reason,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(window)))
}

/// Ends a maintenance window created through the API (responder).
#[utoipa::path(delete, path = "/api/v1/maintenance-windows/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Window id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn cancel_maintenance_window(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    app.cancel_maintenance_window(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes announced by deploy tools (PagerDuty change events), newest first.
#[utoipa::path(get, path = "/api/v1/changes", tag = "alerts", params(ServiceParams),
    responses((status = 200, body = Vec<ChangeEvent>), (status = 401, body = ErrorBody)))]
async fn list_changes(
    State(app): State<App>,
    _caller: Caller,
    Query(params): Query<ServiceParams>,
) -> ApiResult<axum::Json<Vec<ChangeEvent>>> {
    Ok(axum::Json(
        app.change_events(params.service.as_deref(), params.limit)
            .await?,
    ))
}
