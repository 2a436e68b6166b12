//! Ingestion endpoints: each speaks its source's dialect (bodies, status
//! codes, error shapes) so existing clients work unchanged — moving to
//! siaga is a change of URL. Every endpoint authenticates by the
//! integration's key, parses with `crate::formats`, and answers 2xx only
//! after the events are committed. Client mistakes never get a 5xx
//! (Alertmanager retries those forever).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::Path;
use crate::app::alerts::Target;
use crate::app::{self, App};
use crate::domain::alert::Signal;
use crate::domain::org::IntegrationKind;
use crate::formats::{FormatError, alertmanager, generic, grafana, opsgenie, pagerduty};
use crate::store::ChangeEvent;

/// PagerDuty's own limit on an event.
pub const PAGERDUTY_MAX_BODY: usize = 512 * 1024;
/// Webhooks carry many alerts at once.
pub const WEBHOOK_MAX_BODY: usize = 4 * 1024 * 1024;
/// Alertmanager and Grafana send a whole alert group in one notification
/// (with `max_alerts: 0`, as siaga's receiver should): a storm of
/// thousands. They do not retry a 413, so the storm would never arrive.
pub const GROUP_NOTIFICATION_MAX_BODY: usize = 64 * 1024 * 1024;

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(pagerduty_enqueue))
        .route("/v2/enqueue/", post(pagerduty_enqueue))
        .routes(routes!(pagerduty_change))
        .route("/v2/change/enqueue/", post(pagerduty_change))
        .layer(DefaultBodyLimit::max(PAGERDUTY_MAX_BODY))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(alertmanager_webhook))
                .routes(routes!(grafana_webhook))
                .layer(DefaultBodyLimit::max(GROUP_NOTIFICATION_MAX_BODY)),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(opsgenie_create))
                .routes(routes!(opsgenie_close))
                .routes(routes!(opsgenie_update_message))
                .routes(routes!(opsgenie_update_description))
                .routes(routes!(generic_events))
                .layer(DefaultBodyLimit::max(WEBHOOK_MAX_BODY)),
        )
}

/// The key from `Authorization: Bearer KEY` or basic auth (the password,
/// or the user name when the password is empty).
fn bearer_or_basic(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(rest.trim().to_string()).filter(|k| !k.is_empty()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, password) = text.split_once(':')?;
            let key = if password.is_empty() { user } else { password };
            Some(key.to_string()).filter(|k| !k.is_empty())
        }
        _ => None,
    }
}

/// Finds the integration for a bearer/basic key, in siaga's error shape.
async fn webhook_target(
    app: &App,
    headers: &HeaderMap,
    kind: IntegrationKind,
) -> Result<Target, ApiError> {
    let Some(key) = bearer_or_basic(headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_integration_key",
            "send the integration key as `Authorization: Bearer KEY` or as the basic-auth password",
        ));
    };
    target_for(app, &key, kind).await
}

async fn target_for(app: &App, key: &str, kind: IntegrationKind) -> Result<Target, ApiError> {
    match app.integration_for_key(key, kind).await {
        Ok(target) => Ok(target),
        Err(app::Error::Unauthenticated) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_integration_key",
            "no integration has this key; `siaga integrations list` shows the keys",
        )),
        Err(app::Error::Invalid { message, .. }) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_integration_kind",
            message,
        )),
        Err(other) => Err(other.into()),
    }
}

/// Reads the body of a request whose key was checked already. Handlers
/// that find the key in a header take the request whole and read its body
/// only then: as an extractor the body would be read first, so anyone
/// without a key could make siaga hold up to 64 MB per connection.
async fn read_body(request: Request, app: &App) -> Result<Bytes, BytesRejection> {
    Bytes::from_request(request, app).await
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the body is larger than this endpoint accepts",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            rejection.body_text(),
        )
    }
}

/// A parse failure in siaga's shape: unreadable JSON is a 400, a body that
/// does not fit the format a 422 naming the field.
fn format_error(error: FormatError) -> ApiError {
    if error.field.is_empty() && error.message.starts_with("the body is not valid JSON") {
        return ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", error.message);
    }
    let message = error.to_string();
    let api = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", message);
    if error.field.is_empty() {
        api
    } else {
        api.with_field(error.field)
    }
}

fn text_of(body: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body is not UTF-8 text",
        )
    })
}

/// The answer to an Alertmanager, Grafana or generic webhook whose alerts
/// are committed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WebhookAccepted {
    /// `ok`.
    status: &'static str,
    /// What became of each alert, in the order sent.
    results: Vec<app::alerts::Ingested>,
}

/// PagerDuty's answer to an event it accepted, as PagerDuty words it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PagerdutyAccepted {
    /// `success`.
    status: &'static str,
    message: &'static str,
    /// The alert's key: the event's own, or the one made for a trigger
    /// without one. Absent for change events.
    #[serde(skip_serializing_if = "Option::is_none")]
    dedup_key: Option<String>,
}

/// PagerDuty's answer to an event it refused, as PagerDuty words it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PagerdutyRefused {
    /// `invalid event`, `unauthorized`, `throttle event` or `server error`.
    status: &'static str,
    message: String,
    /// What is wrong, field by field.
    errors: Vec<String>,
}

/// Opsgenie's answer, as Opsgenie words it: `result` when accepted,
/// `message` when refused.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OpsgenieReply {
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// For a request that cannot be processed: what is wrong, by field.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<std::collections::BTreeMap<String, String>>,
    took: f64,
    #[serde(rename = "requestId")]
    request_id: String,
}

async fn ingest_webhook(
    app: &App,
    target: &Target,
    format: &'static str,
    body: &Bytes,
    signals: Vec<Signal>,
) -> Result<Response, ApiError> {
    let text = text_of(body)?;
    let results = app
        .ingest(target, format, text.to_string(), signals)
        .await?;
    Ok((
        StatusCode::OK,
        Json(WebhookAccepted {
            status: "ok",
            results,
        }),
    )
        .into_response())
}

// ---- PagerDuty Events API v2 ----------------------------------------------

/// PagerDuty's error body: `{status, message, errors[]}`.
fn pagerduty_error(status: StatusCode, message: &str, errors: Vec<String>) -> Response {
    let label = match status {
        StatusCode::TOO_MANY_REQUESTS => "throttle event",
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "unauthorized",
        status if status.is_server_error() => "server error",
        _ => "invalid event",
    };
    (
        status,
        Json(PagerdutyRefused {
            status: label,
            message: message.to_string(),
            errors,
        }),
    )
        .into_response()
}

fn pagerduty_failure(error: ApiError) -> Response {
    let mut response = pagerduty_error(error.status, &error.message, vec![error.message.clone()]);
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
    }
    response
}

/// The body and integration of a PagerDuty request, or the answer that
/// refuses it.
async fn pagerduty_request(
    app: &App,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Target, Bytes), Response> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(pagerduty_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
                vec![format!("events may be at most {PAGERDUTY_MAX_BODY} bytes")],
            ));
        }
        Err(rejection) => {
            return Err(pagerduty_error(
                StatusCode::BAD_REQUEST,
                "Event object is invalid",
                vec![rejection.body_text()],
            ));
        }
    };
    let target = pagerduty_target(app, &body).await?;
    Ok((target, body))
}

async fn pagerduty_target(app: &App, body: &[u8]) -> Result<Target, Response> {
    let key = pagerduty::routing_key(body).map_err(|error| {
        pagerduty_error(
            StatusCode::BAD_REQUEST,
            "Event object is invalid",
            vec![error.to_string()],
        )
    })?;
    let Some(key) = key else {
        return Err(pagerduty_error(
            StatusCode::UNAUTHORIZED,
            "Event object is invalid",
            vec!["'routing_key' is missing or blank".into()],
        ));
    };
    target_for(app, &key, IntegrationKind::Pagerduty)
        .await
        .map_err(|e| pagerduty_error(e.status, "Invalid routing key", vec![e.message]))
}

/// PagerDuty Events API v2: trigger, acknowledge or resolve an alert.
/// Also at `/v2/enqueue/`.
#[utoipa::path(post, path = "/v2/enqueue", tag = "ingestion",
    request_body(content = Object, description = "A PagerDuty Events API v2 event; `routing_key` is the integration key"),
    responses(
        (status = 202, body = PagerdutyAccepted, description = "Committed"),
        (status = 400, body = PagerdutyRefused), (status = 401, body = PagerdutyRefused), (status = 403, body = PagerdutyRefused),
        (status = 413, body = PagerdutyRefused), (status = 429, body = PagerdutyRefused),
        (status = 503, body = PagerdutyRefused, description = "the database is unavailable; retry")),
    security(()))]
async fn pagerduty_enqueue(
    State(app): State<App>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (target, body) = match pagerduty_request(&app, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let event = match pagerduty::parse_event(&body, generate_dedup_key) {
        Ok(event) => event,
        Err(errors) => {
            let errors = errors.into_iter().map(|e| e.message).collect();
            return pagerduty_error(StatusCode::BAD_REQUEST, "Event object is invalid", errors);
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return pagerduty_error(
            StatusCode::BAD_REQUEST,
            "Event object is invalid",
            vec!["the body is not UTF-8".into()],
        );
    };
    let dedup_key = event.signal.dedup_key.clone();
    match app
        .ingest(&target, "pagerduty", text.to_string(), vec![event.signal])
        .await
    {
        Ok(_) => (
            StatusCode::ACCEPTED,
            Json(PagerdutyAccepted {
                status: "success",
                message: "Event processed",
                dedup_key: Some(dedup_key),
            }),
        )
            .into_response(),
        Err(error) => pagerduty_failure(error.into()),
    }
}

fn generate_dedup_key() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

/// PagerDuty change events: deploys and other changes, recorded for the
/// service. Also at `/v2/change/enqueue/`.
#[utoipa::path(post, path = "/v2/change/enqueue", tag = "ingestion",
    request_body(content = Object, description = "A PagerDuty change event"),
    responses((status = 202, body = PagerdutyAccepted, description = "Committed"), (status = 400, body = PagerdutyRefused),
        (status = 401, body = PagerdutyRefused), (status = 403, body = PagerdutyRefused), (status = 413, body = PagerdutyRefused),
        (status = 429, body = PagerdutyRefused), (status = 503, body = PagerdutyRefused, description = "the database is unavailable; retry")),
    security(()))]
async fn pagerduty_change(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> Response {
    let (target, body) = match pagerduty_request(&app, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let change = match pagerduty::parse_change(&body) {
        Ok(change) => change,
        Err(errors) => {
            let errors = errors.into_iter().map(|e| e.message).collect();
            return pagerduty_error(StatusCode::BAD_REQUEST, "Event object is invalid", errors);
        }
    };
    let record = ChangeEvent {
        id: 0,
        service: target.service().name.clone(),
        integration: target.integration().name.clone(),
        summary: change.summary,
        source: change.source,
        occurred_at: change.occurred_at.unwrap_or_else(|| app.clock.now()),
        details: change.details,
        links: change.links,
    };
    match app.record_change(&target, record).await {
        Ok(_) => (
            StatusCode::ACCEPTED,
            Json(PagerdutyAccepted {
                status: "success",
                message: "Change event processed",
                dedup_key: None,
            }),
        )
            .into_response(),
        Err(error) => pagerduty_failure(error.into()),
    }
}

// ---- Alertmanager, Grafana, generic ----------------------------------------

/// Prometheus Alertmanager webhook (version 4). The key comes as a bearer
/// token (`http_config.authorization`) or the basic-auth password.
#[utoipa::path(post, path = "/api/v1/integrations/alertmanager", tag = "ingestion",
    request_body(content = Object, description = "Alertmanager webhook payload, version 4"),
    responses((status = 200, body = WebhookAccepted, description = "Committed; one result per alert"), (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
        (status = 413, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody),
        (status = 503, body = super::error::ErrorBody, description = "the database is unavailable, or the key is over its rate limit (`rate_limited`); retry after `Retry-After`")),
    security(("bearer" = [])))]
async fn alertmanager_webhook(
    State(app): State<App>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let target = webhook_target(&app, &headers, IntegrationKind::Alertmanager).await?;
    let body = read_body(request, &app).await.map_err(body_error)?;
    let parsed = alertmanager::parse(&body).map_err(format_error)?;
    if parsed.truncated_alerts > 0 {
        tracing::warn!(
            integration = %target.integration().name,
            truncated = parsed.truncated_alerts,
            "Alertmanager left alerts out of a notification (max_alerts): they never reach siaga while their group stays that large; set max_alerts to 0 for siaga's receiver"
        );
    }
    ingest_webhook(&app, &target, "alertmanager", &body, parsed.signals)
        .await
        .map_err(|mut error| {
            // Alertmanager's webhook receiver retries only 5xx: a 429 would
            // drop the notification until the group's next one, minutes or
            // hours away. A 503 with `Retry-After` is retried with backoff.
            if error.status == StatusCode::TOO_MANY_REQUESTS {
                error.status = StatusCode::SERVICE_UNAVAILABLE;
            }
            error
        })
}

/// Grafana unified alerting webhook (version 1), `POST` or `PUT`. When the
/// integration has a `signing_secret`, the HMAC-SHA256 in its
/// `signature_header` (by default `X-Grafana-Alerting-Signature`, or
/// `X-Grafana-Alert-Signature`) must match, and its
/// `timestamp_header`, when named, must be signed and fresh.
#[utoipa::path(method(post, put), path = "/api/v1/integrations/grafana", tag = "ingestion",
    request_body(content = Object, description = "Grafana webhook payload, version 1"),
    responses((status = 200, body = WebhookAccepted, description = "Committed; one result per alert"), (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn grafana_webhook(
    State(app): State<App>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let target = webhook_target(&app, &headers, IntegrationKind::Grafana).await?;
    let body = read_body(request, &app).await.map_err(body_error)?;
    let integration = target.integration();
    if let Some(secret) = &integration.signing_secret {
        let header_value = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        };
        let (signature, signature_name) = match &integration.signature_header {
            Some(name) => (header_value(&[name.as_str()]), name.as_str()),
            None => (
                header_value(&["x-grafana-alert-signature", "x-grafana-alerting-signature"]),
                "X-Grafana-Alerting-Signature",
            ),
        };
        let timestamp = match &integration.timestamp_header {
            Some(name) => {
                let stamp = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
                let fresh = stamp.is_some_and(|s| grafana::timestamp_is_fresh(s, app.clock.now()));
                if !fresh {
                    return Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_signature",
                        format!("the {name} header is missing, not a Unix time, or more than five minutes away from now"),
                    )
                    .with_field(name.clone()));
                }
                stamp
            }
            None => header_value(&[
                "x-grafana-alert-timestamp",
                "x-grafana-alerting-timestamp",
                "x-grafana-alerting-signature-timestamp",
            ]),
        };
        let valid =
            signature.is_some_and(|s| grafana::signature_is_valid(secret, &body, timestamp, s));
        if !valid {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                format!("the {signature_name} header is missing or does not match the body"),
            )
            .with_field(signature_name));
        }
    }
    let signals = grafana::parse(&body).map_err(format_error)?;
    ingest_webhook(&app, &target, "grafana", &body, signals).await
}

/// siaga's own event schema: one event, or `{"events": [...]}`. See
/// docs/ingestion.md.
#[utoipa::path(post, path = "/api/v1/integrations/generic", tag = "ingestion",
    request_body(content = generic::GenericEvent, description = "One event, or {\"events\": [...]} with up to 1,000"),
    responses((status = 200, body = WebhookAccepted, description = "Committed; one result per alert"), (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn generic_events(
    State(app): State<App>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let target = webhook_target(&app, &headers, IntegrationKind::Generic).await?;
    let body = read_body(request, &app).await.map_err(body_error)?;
    let signals = generic::parse(&body, &target.integration().mapping).map_err(format_error)?;
    ingest_webhook(&app, &target, "generic", &body, signals).await
}

// ---- Opsgenie --------------------------------------------------------------

fn opsgenie_reply(status: StatusCode, message: &str) -> Response {
    opsgenie_answer(status, message, None)
}

/// Opsgenie's answer to a request it cannot process: a message, and the
/// problem under its field.
fn opsgenie_unprocessable(error: &FormatError) -> Response {
    opsgenie_answer(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Request body is not processable. Please check the errors.",
        Some([(error.field.clone(), error.message.clone())].into()),
    )
}

fn opsgenie_answer(
    status: StatusCode,
    message: &str,
    errors: Option<std::collections::BTreeMap<String, String>>,
) -> Response {
    let (result, message) = if status.is_success() {
        (Some(message.to_string()), None)
    } else {
        (None, Some(message.to_string()))
    };
    let body = OpsgenieReply {
        result,
        message,
        errors,
        took: 0.0,
        request_id: generate_dedup_key(),
    };
    (status, Json(body)).into_response()
}

fn opsgenie_failure(error: ApiError) -> Response {
    let mut response = opsgenie_reply(error.status, &error.message);
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
    }
    response
}

async fn opsgenie_target(app: &App, headers: &HeaderMap) -> Result<Target, Response> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("GenieKey "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return Err(opsgenie_reply(
            StatusCode::UNAUTHORIZED,
            "Authorization: GenieKey <integration key> is missing",
        ));
    };
    target_for(app, key, IntegrationKind::Opsgenie)
        .await
        .map_err(opsgenie_failure)
}

async fn opsgenie_ingest(app: &App, target: &Target, body: &Bytes, signal: Signal) -> Response {
    let text = String::from_utf8_lossy(body).into_owned();
    match app.ingest(target, "opsgenie", text, vec![signal]).await {
        Ok(_) => opsgenie_reply(StatusCode::ACCEPTED, "Request will be processed"),
        Err(error) => opsgenie_failure(error.into()),
    }
}

/// Opsgenie: create an alert (`Authorization: GenieKey KEY`).
#[utoipa::path(post, path = "/v2/alerts", tag = "ingestion",
    request_body(content = Object, description = "An Opsgenie create-alert request"),
    responses((status = 202, body = OpsgenieReply), (status = 401, body = OpsgenieReply), (status = 403, body = OpsgenieReply),
        (status = 413, body = OpsgenieReply), (status = 422, body = OpsgenieReply), (status = 429, body = OpsgenieReply), (status = 503, body = OpsgenieReply)),
    security(("genie_key" = [])))]
async fn opsgenie_create(State(app): State<App>, headers: HeaderMap, request: Request) -> Response {
    let target = match opsgenie_target(&app, &headers).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    let body = match read_body(request, &app).await {
        Ok(body) => body,
        Err(rejection) => return opsgenie_failure(body_error(rejection)),
    };
    match opsgenie::parse_create(&body, generate_dedup_key) {
        Ok(signal) => opsgenie_ingest(&app, &target, &body, signal).await,
        Err(error) => opsgenie_unprocessable(&error),
    }
}

#[derive(Deserialize)]
struct IdentifierParams {
    #[serde(rename = "identifierType")]
    identifier_type: Option<String>,
}

/// Opsgenie: close the alert with this alias (`?identifierType=alias`).
#[utoipa::path(post, path = "/v2/alerts/{identifier}/close", tag = "ingestion",
    params(("identifier" = String, Path, description = "The alert's alias"), ("identifierType" = String, Query, description = "Must be `alias`")),
    request_body(content = Object, description = "Opsgenie close request (`source`, `note`); optional"),
    responses((status = 202, body = OpsgenieReply), (status = 401, body = OpsgenieReply), (status = 403, body = OpsgenieReply),
        (status = 422, body = OpsgenieReply), (status = 429, body = OpsgenieReply), (status = 503, body = OpsgenieReply)),
    security(("genie_key" = [])))]
async fn opsgenie_close(
    State(app): State<App>,
    headers: HeaderMap,
    Path(identifier): Path<String>,
    params: Result<Query<IdentifierParams>, QueryRejection>,
    request: Request,
) -> Response {
    let target = match opsgenie_target(&app, &headers).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    // Refusals in Opsgenie's shape, as its clients read them.
    let Ok(Query(params)) = params else {
        return opsgenie_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            "identifierType must be given once, as text",
        );
    };
    let body = match read_body(request, &app).await {
        Ok(body) => body,
        Err(rejection) => return opsgenie_failure(body_error(rejection)),
    };
    match opsgenie::close(&identifier, params.identifier_type.as_deref()) {
        Ok(signal) => opsgenie_ingest(&app, &target, &body, signal).await,
        Err(error) => opsgenie_unprocessable(&error),
    }
}

/// Opsgenie: Alertmanager's `update_alerts` sends these after a create;
/// the create already carried the same message, so they are acknowledged.
#[utoipa::path(put, path = "/v2/alerts/{identifier}/message", tag = "ingestion",
    params(("identifier" = String, Path, description = "The alert's alias")),
    responses((status = 202, body = OpsgenieReply), (status = 401, body = OpsgenieReply), (status = 403, body = OpsgenieReply),
        (status = 503, body = OpsgenieReply)), security(("genie_key" = [])))]
async fn opsgenie_update_message(
    State(app): State<App>,
    headers: HeaderMap,
    Path(_identifier): Path<String>,
) -> Response {
    match opsgenie_target(&app, &headers).await {
        Ok(_) => opsgenie_reply(StatusCode::ACCEPTED, "Request will be processed"),
        Err(response) => response,
    }
}

/// Opsgenie: see the message update.
#[utoipa::path(put, path = "/v2/alerts/{identifier}/description", tag = "ingestion",
    params(("identifier" = String, Path, description = "The alert's alias")),
    responses((status = 202, body = OpsgenieReply), (status = 401, body = OpsgenieReply), (status = 403, body = OpsgenieReply),
        (status = 503, body = OpsgenieReply)), security(("genie_key" = [])))]
async fn opsgenie_update_description(
    State(app): State<App>,
    headers: HeaderMap,
    Path(_identifier): Path<String>,
) -> Response {
    match opsgenie_target(&app, &headers).await {
        Ok(_) => opsgenie_reply(StatusCode::ACCEPTED, "Request will be processed"),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_bearer_or_basic_auth() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_or_basic(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc123".parse().unwrap());
        assert_eq!(bearer_or_basic(&headers).as_deref(), Some("abc123"));
        let basic = base64::engine::general_purpose::STANDARD.encode("siaga:s3cret");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {basic}").parse().unwrap(),
        );
        assert_eq!(bearer_or_basic(&headers).as_deref(), Some("s3cret"));
        let user_only = base64::engine::general_purpose::STANDARD.encode("onlykey:");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {user_only}").parse().unwrap(),
        );
        assert_eq!(bearer_or_basic(&headers).as_deref(), Some("onlykey"));
        headers.insert(header::AUTHORIZATION, "GenieKey x".parse().unwrap());
        assert_eq!(bearer_or_basic(&headers), None);
    }
}
