//! The JSON API under `/api/v1`. Every route is registered through
//! [`utoipa_axum`], so the OpenAPI document at `/api/v1/openapi.json` lists
//! exactly the routes that exist.

mod alerts;
mod audit;
mod auth;
mod catalogue;
mod config;
mod incidents;
mod jobs;
mod schedules;
mod webhooks;

use serde::Deserialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "siaga",
        description = "Incident response: service catalogue, alerts, on-call, escalation, incidents. Errors always have the shape {\"error\": {\"code\", \"message\", \"field\"}}. Lists are paginated with `cursor` and `limit`; follow `next_cursor` until it is absent.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "catalogue", description = "Services, teams and people from the organisation config"),
        (name = "config", description = "Validating and applying the organisation config"),
        (name = "auth", description = "Users and API tokens"),
        (name = "audit", description = "The event log"),
        (name = "jobs", description = "The durable job queue"),
        (name = "alerts", description = "Alerts, maintenance windows and integrations"),
        (name = "on-call", description = "Schedules, who is on call, overrides and calendar feeds"),
        (name = "notifications", description = "Outgoing notifications: the webhook signing secret"),
        (name = "incidents", description = "Declaring and working incidents; the room's live timeline"),
        (name = "ingestion", description = "Where sources send events; each authenticates with its integration key"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Opsgenie's clients send `Authorization: GenieKey KEY`.
        components.add_security_scheme(
            "genie_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`GenieKey KEY`, the integration key",
            ))),
        );
    }
}

/// Answers any operation may give, said once rather than on each route:
/// `500 internal`, and `503 store_unavailable`, since every route reads or
/// writes the store; and what the shared extractors answer, from the
/// operation's shape: one that takes a body, `400 malformed_json`, `413`,
/// `415` and `422 invalid_field`; path parameters, `400 invalid_path`;
/// query parameters, `400 invalid_query` and `422` (a limit or cursor out
/// of range). Not for the ingestion endpoints: they answer in their
/// source's formats and document their errors themselves.
pub fn add_shared_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, ResponseBuilder, Type,
    };
    let error_body = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build()
    };
    let components = openapi.components.get_or_insert_with(Default::default);
    components.responses.insert(
        "Internal".into(),
        ResponseBuilder::new()
            .description("`internal`: something failed on the server; it is logged")
            .content("application/json", error_body())
            .into(),
    );
    components.responses.insert(
        "StoreUnavailable".into(),
        ResponseBuilder::new()
            .description(
                "`store_unavailable`: the database cannot be reached (down, restarting, \
                 out of connections, busy with other writes for more than 10 s, or the \
                 server is shutting down); nothing was stored: retry after `Retry-After` seconds",
            )
            .content("application/json", error_body())
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("seconds to wait before retrying"))
                    .build(),
            )
            .into(),
    );
    let shared = [
        (
            "BadRequest",
            "`malformed_json`, `invalid_path` or `invalid_query`: the request cannot be read; `field` names the parameter",
        ),
        ("TooLarge", "`body_too_large`: the body is over 1 MiB"),
        (
            "NotJson",
            "`unsupported_media_type`: the body must be JSON, with `Content-Type: application/json`",
        ),
        (
            "Unprocessable",
            "`invalid_field` or another code: the request is readable but breaks a rule; `field` names what",
        ),
    ];
    for (name, description) in shared {
        components.responses.insert(
            name.into(),
            ResponseBuilder::new()
                .description(description)
                .content("application/json", error_body())
                .into(),
        );
    }
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if operation
                .tags
                .as_ref()
                .is_some_and(|tags| tags.iter().any(|tag| tag == "ingestion"))
            {
                continue;
            }
            let parameters = operation.parameters.as_deref().unwrap_or_default();
            let takes = |place: utoipa::openapi::path::ParameterIn| {
                parameters.iter().any(|p| p.parameter_in == place)
            };
            let mut answers = vec![("500", "Internal"), ("503", "StoreUnavailable")];
            if operation.request_body.is_some() {
                answers.extend([
                    ("400", "BadRequest"),
                    ("413", "TooLarge"),
                    ("415", "NotJson"),
                    ("422", "Unprocessable"),
                ]);
            }
            if takes(utoipa::openapi::path::ParameterIn::Path) {
                answers.push(("400", "BadRequest"));
            }
            if takes(utoipa::openapi::path::ParameterIn::Query) {
                answers.extend([("400", "BadRequest"), ("422", "Unprocessable")]);
            }
            for (status, name) in answers {
                operation
                    .responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| Ref::from_response_name(name).into());
            }
        }
    }
}

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(catalogue::router())
        .merge(config::router())
        .merge(auth::router())
        .merge(audit::router())
        .merge(jobs::router())
        .merge(alerts::router())
        .merge(schedules::router())
        .merge(incidents::router())
        .merge(webhooks::router())
}

/// Pagination parameters shared by list routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}
