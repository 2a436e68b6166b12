//! The one error type of the HTTP layer, and the only place that picks
//! status codes. Every failure has the shape
//! `{"error": {"code": "stable_snake_case", "message": "...", "field": "..."}}`.
//! Internal failures are logged with their cause chain; the client only
//! learns that something went wrong on our side.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Extra machine-readable detail, such as every config problem.
    pub details: Option<serde_json::Value>,
    /// Seconds, for `Retry-After` on 429 and 503.
    pub retry_after: Option<u64>,
}

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `not_found`, `invalid_field`, `unauthenticated`, …
    pub code: String,
    /// For people.
    pub message: String,
    /// The offending input, as a path (`limit`, `items[2].name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// What a `503 store_unavailable` suggests waiting, in seconds.
const STORE_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            details: None,
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn internal(error: anyhow::Error) -> ApiError {
        tracing::error!("internal error: {error:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on the server; the details are in its log",
        )
    }
}

impl From<app::Error> for ApiError {
    fn from(error: app::Error) -> Self {
        match error {
            app::Error::Invalid {
                code,
                message,
                field,
            } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code,
                message,
                field,
                details: None,
                retry_after: None,
            },
            app::Error::NotFound(what) => ApiError::not_found(what),
            app::Error::Conflict(message) | app::Error::Contended(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            app::Error::NotRecovered(reasons) => {
                let mut error = ApiError::new(
                    StatusCode::CONFLICT,
                    "not_recovered",
                    format!("not resolved: {}", reasons.join("; ")),
                );
                error.details = Some(serde_json::json!({ "unmet": reasons }));
                error
            }
            app::Error::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "credentials are missing, wrong, expired or revoked",
            ),
            app::Error::Forbidden(role) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs the {role} role"),
            ),
            app::Error::RateLimited(wait) => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "too many attempts; try again in {} seconds",
                        wait.as_secs().max(1)
                    ),
                );
                error.retry_after = Some(wait.as_secs().max(1) as u64);
                error
            }
            app::Error::Config(errors) => {
                let first = errors.issues.first();
                ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "invalid_config",
                    message: format!(
                        "the config has {}:\n{errors}",
                        crate::domain::counted(errors.issues.len(), "error")
                    ),
                    field: first.map(|i| i.field.clone()).filter(|f| !f.is_empty()),
                    details: serde_json::to_value(&errors.issues).ok(),
                    retry_after: None,
                }
            }
            app::Error::Unavailable(error) => {
                tracing::error!("{error:#}");
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; nothing was stored, try again shortly",
                );
                error.retry_after = Some(STORE_RETRY_AFTER_SECS);
                error
            }
            app::Error::Internal(error) => ApiError::internal(error),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        app::Error::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
                details: self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"siaga\""),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
