//! Validating and applying the organisation config over the API, as
//! `siaga config apply` does.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, Caller, ConfigApplied};
use crate::config::ConfigIssue;
use crate::domain::auth::Role;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::Json;
use crate::store::ConfigRevision;

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(show_config, apply_config))
        .routes(routes!(validate_config))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigSource {
    /// The file's name, used in error messages and the revision history.
    pub file_name: String,
    /// The YAML text.
    pub source: String,
}

/// The config revision in force.
#[utoipa::path(get, path = "/api/v1/config", tag = "config",
    responses((status = 200, body = Option<ConfigRevision>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn show_config(
    State(app): State<App>,
    caller: Caller,
) -> ApiResult<axum::Json<Option<ConfigRevision>>> {
    caller.require(Role::Admin)?;
    Ok(axum::Json(app.latest_config_revision().await?))
}

/// Validates the config and makes it live. On any error nothing changes and
/// the response lists every problem in `error.details`.
#[utoipa::path(post, path = "/api/v1/config", tag = "config", request_body = ConfigSource,
    responses((status = 200, body = ConfigApplied), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, description = "The config has errors, listed in `error.details`", body = ErrorBody)))]
async fn apply_config(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<ConfigSource>,
) -> ApiResult<axum::Json<ConfigApplied>> {
    caller.require(Role::Admin)?;
    let applied = app
        .apply_config(&caller.actor(), &body.file_name, &body.source)
        .await?;
    Ok(axum::Json(applied))
}

#[derive(Serialize, ToSchema)]
pub struct Validation {
    pub valid: bool,
    pub issues: Vec<ConfigIssue>,
}

/// Checks a config without applying it.
#[utoipa::path(post, path = "/api/v1/config/validate", tag = "config", request_body = ConfigSource,
    responses((status = 200, body = Validation), (status = 401, body = ErrorBody)))]
async fn validate_config(
    _caller: Caller,
    Json(body): Json<ConfigSource>,
) -> ApiResult<axum::Json<Validation>> {
    let issues = match crate::app::parse_config(&body.file_name, &body.source).await {
        Ok(_) => Vec::new(),
        Err(crate::app::Error::Config(errors)) => errors.issues,
        Err(other) => return Err(other.into()),
    };
    Ok(axum::Json(Validation {
        valid: issues.is_empty(),
        issues,
    }))
}
