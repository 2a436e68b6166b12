//! The event log, for admins.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::audit::EventQuery;
use crate::app::{App, Caller};
use crate::domain::auth::Role;
use crate::domain::event::Event;
use crate::domain::page::Page;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::Query;

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(list_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Only events about this kind of subject (`service`, `user`, …).
    pub subject_kind: Option<String>,
    /// Only events about the subject with this id (with `subject_kind`).
    pub subject_id: Option<String>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The event log, newest first (admin).
#[utoipa::path(get, path = "/api/v1/events", tag = "audit", params(EventParams),
    responses((status = 200, body = Page<Event>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_events(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<EventParams>,
) -> ApiResult<axum::Json<Page<Event>>> {
    caller.require(Role::Admin)?;
    let page = app
        .events(EventQuery {
            subject_kind: params.subject_kind,
            subject_id: params.subject_id,
            cursor: params.cursor,
            limit: params.limit,
        })
        .await?;
    Ok(axum::Json(page))
}
