//! On-call schedules: who is on call, overrides, calendar feeds.

use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::schedules::{OnCall, ScheduleDetail, ScheduleQuality, ScheduleView};
use crate::app::{App, Caller};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Json, Path, Query};
use crate::store::StoredOverride;

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules))
        .routes(routes!(show_schedule))
        .routes(routes!(schedule_quality))
        .routes(routes!(on_call_now))
        .routes(routes!(create_override))
        .routes(routes!(delete_override))
        .routes(routes!(person_feed))
        .routes(routes!(rotate_schedule_feed))
        .routes(routes!(rotate_person_feed))
}

/// Every schedule with who is on call now and next; its calendar feed URL
/// for responders and admins only.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "on-call",
    responses((status = 200, body = Vec<ScheduleView>), (status = 401, body = ErrorBody)))]
async fn list_schedules(
    State(app): State<App>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<ScheduleView>>> {
    Ok(axum::Json(app.schedules(&caller).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    /// Start (RFC 3339); now when absent.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// End (RFC 3339); a week after `from` when absent; at most 93 days.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// Who is on call over a range: shifts, gaps, load per person, overrides.
#[utoipa::path(get, path = "/api/v1/schedules/{name}", tag = "on-call", params(("name" = String, Path), RangeParams),
    responses((status = 200, body = ScheduleDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn show_schedule(
    State(app): State<App>,
    _caller: Caller,
    Path(name): Path<String>,
    Query(range): Query<RangeParams>,
) -> ApiResult<axum::Json<ScheduleDetail>> {
    Ok(axum::Json(
        app.schedule_detail(&name, range.from, range.to).await?,
    ))
}

/// Gaps, load per person and anyone carrying more than twice the others'
/// average, over the next 4 weeks with overrides counted.
#[utoipa::path(get, path = "/api/v1/schedules/{name}/quality", tag = "on-call", params(("name" = String, Path)),
    responses((status = 200, body = ScheduleQuality), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn schedule_quality(
    State(app): State<App>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<ScheduleQuality>> {
    Ok(axum::Json(app.schedule_quality(&name).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtParams {
    /// The moment (RFC 3339); now when absent.
    #[param(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
}

/// Who is on call on every schedule, now or at `at`.
#[utoipa::path(get, path = "/api/v1/oncall", tag = "on-call", params(AtParams),
    responses((status = 200, body = Vec<OnCall>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn on_call_now(
    State(app): State<App>,
    _caller: Caller,
    Query(params): Query<AtParams>,
) -> ApiResult<axum::Json<Vec<OnCall>>> {
    Ok(axum::Json(app.on_call_at(params.at).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverride {
    /// The handle of who takes the shift.
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    #[serde(default)]
    pub reason: String,
}

/// Someone takes the shift for a time range (responder). Overrides of
/// overrides work: the later one wins.
#[utoipa::path(post, path = "/api/v1/schedules/{name}/overrides", tag = "on-call", params(("name" = String, Path)),
    request_body = NewOverride,
    responses((status = 201, body = StoredOverride), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_override(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<NewOverride>,
) -> ApiResult<(StatusCode, axum::Json<StoredOverride>)> {
    let created = app
        .create_override(
            &caller,
            &name,
            &body.person,
            body.starts_at,
            body.ends_at,
            &body.reason,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Removes an override (responder): one not begun is deleted, one under
/// way ends now, one already over is refused (409).
#[utoipa::path(delete, path = "/api/v1/schedules/{name}/overrides/{id}", tag = "on-call",
    params(("name" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the override is over; past shifts are not rewritten")))]
async fn delete_override(
    State(app): State<App>,
    caller: Caller,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    app.delete_override(&caller, &name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Feed {
    /// A secret iCalendar path: anyone holding it can read the shifts.
    pub feed_url: String,
}

/// A person's own calendar feed of their shifts on every schedule: for the
/// person themselves (matched by email) or an admin.
#[utoipa::path(get, path = "/api/v1/people/{handle}/calendar", tag = "on-call", params(("handle" = String, Path)),
    responses((status = 200, body = Feed), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn person_feed(
    State(app): State<App>,
    caller: Caller,
    Path(handle): Path<String>,
) -> ApiResult<axum::Json<Feed>> {
    Ok(axum::Json(Feed {
        feed_url: app.person_feed_url(&caller, &handle).await?,
    }))
}

/// Gives a schedule's calendar feed a new secret URL (responder); the old
/// URL stops working at once.
#[utoipa::path(post, path = "/api/v1/schedules/{name}/feed/rotate", tag = "on-call", params(("name" = String, Path)),
    responses((status = 200, body = Feed), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn rotate_schedule_feed(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Feed>> {
    Ok(axum::Json(Feed {
        feed_url: app.rotate_schedule_feed(&caller, &name).await?,
    }))
}

/// Gives a person's own calendar feed a new secret URL (the person
/// themselves, matched by email, or an admin); the old URL stops working
/// at once.
#[utoipa::path(post, path = "/api/v1/people/{handle}/calendar/rotate", tag = "on-call", params(("handle" = String, Path)),
    responses((status = 200, body = Feed), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn rotate_person_feed(
    State(app): State<App>,
    caller: Caller,
    Path(handle): Path<String>,
) -> ApiResult<axum::Json<Feed>> {
    Ok(axum::Json(Feed {
        feed_url: app.rotate_person_feed(&caller, &handle).await?,
    }))
}
