//! The job queue, for admins: what is waiting, what failed for good.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, Caller};
use crate::domain::auth::Role;
use crate::domain::job::{Job, JobState};
use crate::domain::page::Page;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Path, Query};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// Only jobs in this state; `dead` lists the dead letters.
    pub state: Option<JobState>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Jobs, newest first (admin). Finished jobs (done, cancelled) are listed
/// for `siaga serve --keep-finished-jobs` (a week by default), then purged;
/// dead jobs stay until retried.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobParams),
    responses((status = 200, body = Page<Job>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_jobs(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<JobParams>,
) -> ApiResult<axum::Json<Page<Job>>> {
    caller.require(Role::Admin)?;
    Ok(axum::Json(
        app.jobs(params.state, params.cursor.as_deref(), params.limit)
            .await?,
    ))
}

/// Puts a dead job back in the queue with fresh attempts (admin).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = Job), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_job(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Job>> {
    caller.require(Role::Admin)?;
    Ok(axum::Json(app.retry_dead_job(&caller.actor(), id).await?))
}
