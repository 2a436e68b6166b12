//! Users and API tokens.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, Caller, NewToken};
use crate::domain::auth::Role;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Json, Path};
use crate::store::{ApiToken, User};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(show_me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

#[derive(serde::Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    /// The role in effect for this request.
    pub role: Role,
    /// The token used, when authenticated by one.
    pub token: Option<ApiToken>,
}

/// Who the credentials belong to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn show_me(caller: Caller) -> axum::Json<Me> {
    axum::Json(Me {
        role: caller.role,
        token: caller.token,
        user: caller.user,
    })
}

/// All users (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "auth",
    responses((status = 200, body = Vec<User>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(State(app): State<App>, caller: Caller) -> ApiResult<axum::Json<Vec<User>>> {
    caller.require(Role::Admin)?;
    Ok(axum::Json(app.users().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// For web login; at least 10 characters. Without one the user can only
    /// use API tokens.
    pub password: Option<String>,
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body = NewUser,
    responses((status = 201, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    caller.require(Role::Admin)?;
    let user = app
        .create_user(
            &caller.actor(),
            &body.email,
            &body.name,
            body.role,
            body.password.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

/// API tokens: all of them for an admin, one's own otherwise. Secrets are
/// never shown again after creation.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth",
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorBody)))]
async fn list_tokens(
    State(app): State<App>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<ApiToken>>> {
    Ok(axum::Json(app.api_tokens(&caller).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What uses the token, e.g. `ci-pipeline`.
    pub name: String,
    pub role: Role,
    /// Whose token it is; only admins may name another user. Defaults to the caller.
    pub email: Option<String>,
}

/// Creates an API token. The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = TokenRequest,
    responses((status = 201, body = NewToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_token(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<TokenRequest>,
) -> ApiResult<(StatusCode, axum::Json<NewToken>)> {
    let email = match body.email {
        Some(email) if email != caller.user.email => {
            caller.require(Role::Admin)?;
            email
        }
        _ => caller.user.email.clone(),
    };
    let created = app
        .create_api_token(&caller.actor(), caller.role, &email, &body.name, body.role)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Revokes an API token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 200, body = ApiToken), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke_token(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ApiToken>> {
    Ok(axum::Json(app.revoke_api_token(&caller, id).await?))
}
