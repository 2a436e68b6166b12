//! Outgoing webhooks: the secret their signatures are made with (admin).

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::secrets::SigningSecret;
use crate::app::{App, Caller};
use crate::http::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(show_signing_secret))
        .routes(routes!(rotate_signing_secret))
}

/// The secret webhook deliveries are signed with (admin): `X-Siaga-Signature:
/// v1=HEX` is the HMAC-SHA256 of `X-Siaga-Timestamp`, a dot and the body.
#[utoipa::path(get, path = "/api/v1/webhooks/signing-secret", tag = "notifications",
    responses((status = 200, body = SigningSecret), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn show_signing_secret(
    State(app): State<App>,
    caller: Caller,
) -> ApiResult<axum::Json<SigningSecret>> {
    Ok(axum::Json(app.webhook_signing_secret(&caller).await?))
}

/// Replaces the signing secret (admin); the next delivery is signed with the
/// new one, and the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/webhooks/signing-secret/rotate", tag = "notifications",
    responses((status = 200, body = SigningSecret), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn rotate_signing_secret(
    State(app): State<App>,
    caller: Caller,
) -> ApiResult<axum::Json<SigningSecret>> {
    Ok(axum::Json(
        app.rotate_webhook_signing_secret(&caller).await?,
    ))
}
