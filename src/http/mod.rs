//! HTTP: routing, extractors, the one error type, the JSON API under
//! `/api/v1` and the server-rendered web pages. Nothing outside this module
//! names axum. Handlers are named after their action and call `app` use
//! cases; they hold no business rules.

pub mod api;
pub mod error;
pub mod extract;
mod ingest;
mod metrics;
pub mod web;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use error::ApiError;

/// The largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole HTTP surface of siaga.
pub fn router(app: App) -> Router {
    metrics::install();
    let (api, mut openapi) = api::router().merge(ingest::router()).split_for_parts();
    api::add_shared_responses(&mut openapi);
    let openapi_json = serde_json::to_value(&openapi).unwrap_or_default();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .route("/calendar/{file}", get(calendar_feed))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi_json.clone();
                async move { Json(doc) }
            }),
        )
        .merge(api)
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower::layer::layer_fn(|inner| Gate { inner }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .with_state(app)
}

/// Serves until `shutdown` turns true, then stops accepting and waits for
/// in-flight requests to finish.
pub async fn serve(
    app: App,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let service = router(app)
        .layer(axum::Extension(Shutdown(shutdown.clone())))
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// Tells long-lived responses (live streams) that the server is stopping,
/// so a graceful shutdown does not wait for them forever.
#[derive(Clone)]
pub(crate) struct Shutdown(pub watch::Receiver<bool>);

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<App>) -> Response {
    match app.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(error) => {
            tracing::warn!("readiness check failed: {error:#}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unreachable",
                "the database does not answer",
            )
            .into_response()
        }
    }
}

async fn render_metrics(State(app): State<App>) -> Response {
    match app.queue_depth().await {
        Ok(depth) => metrics::record_queue_depth(&depth),
        Err(error) => tracing::warn!("reading queue depth for /metrics: {error}"),
    }
    let mut body = metrics::render();
    match app.unacknowledged_group_count().await {
        Ok(count) => body.push_str(&metrics::render_unacknowledged_groups(count)),
        // Left out rather than reported as 0: a missing series is not
        // mistaken for "everything was acknowledged".
        Err(error) => tracing::warn!("counting unacknowledged alert groups for /metrics: {error}"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// A calendar feed: the unguessable token in the path is the credential,
/// so calendar apps can subscribe without logging in.
async fn calendar_feed(
    State(app): State<App>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let token = file.strip_suffix(".ics").unwrap_or(&file);
    match app.calendar(token).await {
        Ok(Some(ics)) => (
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            ics,
        )
            .into_response(),
        Ok(None) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no calendar at this address",
        )
        .into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route for {method} {}", uri.path()),
    )
}

/// A route that does not take this method: siaga's error shape for the
/// API and the alert sources, a page for the pages.
async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") || path.starts_with("/v2/") {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
        .into_response();
    }
    web::method_not_allowed_page()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on the server; the details are in its log",
    )
    .into_response()
}

/// What every request passes through, after routing: a state-changing
/// request sent by a browser from another site (login CSRF and the like)
/// is refused, and every request is counted and timed by its route
/// template. Requests from programs carry no `Origin` and no
/// `Sec-Fetch-Site`, and authenticate with tokens, so they pass. One tower
/// service rather than two `from_fn` middlewares, which cloned the rest of
/// the route's stack for every request.
#[derive(Clone)]
struct Gate<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Gate<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = metrics::method_label(request.method());
        let route = route_of(&request);
        let refused = !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        ) && is_cross_site(request.headers());
        let answered = (!refused).then(|| self.inner.call(request));
        Box::pin(async move {
            let response = match answered {
                Some(answered) => answered.await?,
                None => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "cross_site_request",
                    "requests from other sites may not change anything here",
                )
                .into_response(),
            };
            metrics::record_request(method, route, response.status(), started);
            Ok(response)
        })
    }
}

fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin == "null" || origin_host != host
}

/// For handlers that time themselves; kept here so `metrics` stays private.
pub(crate) fn elapsed_seconds(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// The route template of a request (`/api/v1/services/{name}`), so metrics
/// are not split by every id.
pub(crate) fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (key, value) in pairs {
            map.insert(*key, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn cross_site_detection() {
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "http://evil"),
            ("host", "a:1")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "a:1")
        ])));
    }
}
