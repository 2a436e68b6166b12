//! Services, teams and people: the organisation as applied from config.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageParams;
use crate::app::audit::page_limit;
use crate::app::{App, Caller};
use crate::domain::org::{Org, OrgSettings, Person, Service, Team};
use crate::domain::page::{Page, decode_cursor, page_from};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Path, Query};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(show_organisation))
        .routes(routes!(list_services))
        .routes(routes!(show_service))
        .routes(routes!(list_teams))
        .routes(routes!(show_team))
        .routes(routes!(list_people))
        .routes(routes!(show_person))
}

/// A page of an in-memory list sorted by `key`, after the cursor.
fn page_of<T: Clone>(
    items: &[T],
    params: &PageParams,
    key: impl Fn(&T) -> String,
) -> ApiResult<Page<T>> {
    let limit = page_limit(params.limit)?;
    let after = match &params.cursor {
        Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
            ApiError::from(crate::app::Error::invalid(
                "invalid_cursor",
                "cursor",
                "the cursor is not one this server gave out",
            ))
        })?),
        None => None,
    };
    let rest: Vec<T> = items
        .iter()
        .filter(|item| after.as_ref().is_none_or(|after| key(item) > *after))
        .take(limit as usize + 1)
        .cloned()
        .collect();
    Ok(page_from(rest, limit, key))
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationView {
    #[serde(flatten)]
    pub settings: OrgSettings,
    pub people: usize,
    pub teams: usize,
    pub services: usize,
}

/// The organisation's settings and size.
#[utoipa::path(get, path = "/api/v1/organisation", tag = "catalogue",
    responses((status = 200, body = OrganisationView), (status = 401, body = ErrorBody)))]
async fn show_organisation(
    State(app): State<App>,
    _caller: Caller,
) -> ApiResult<Json<OrganisationView>> {
    let org = app.org().await?;
    Ok(Json(OrganisationView {
        people: org.people.len(),
        teams: org.teams.len(),
        services: org.services.len(),
        settings: org.settings,
    }))
}

#[derive(Clone, Serialize, ToSchema)]
pub struct ServiceView {
    #[serde(flatten)]
    pub service: Service,
    /// Services that depend directly on this one.
    pub dependents: Vec<String>,
}

impl ServiceView {
    fn new(org: &Org, service: &Service) -> ServiceView {
        ServiceView {
            dependents: org
                .dependents(&service.name)
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            // Integration keys are for admins, at /api/v1/integrations.
            service: service.redacted(),
        }
    }
}

/// The service catalogue, by name.
#[utoipa::path(get, path = "/api/v1/services", tag = "catalogue", params(PageParams),
    responses((status = 200, body = Page<ServiceView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_services(
    State(app): State<App>,
    _caller: Caller,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<Page<ServiceView>>> {
    let org = app.org().await?;
    let views: Vec<ServiceView> = org
        .services
        .iter()
        .map(|s| ServiceView::new(&org, s))
        .collect();
    Ok(Json(page_of(&views, &params, |v| v.service.name.clone())?))
}

#[derive(Serialize, ToSchema)]
pub struct ServiceDetail {
    #[serde(flatten)]
    pub view: ServiceView,
    /// Everything that can be hurt when this service fails, transitively.
    pub possibly_affected: Vec<String>,
    pub owner_team: Option<Team>,
    /// The runbook's Markdown rendered to sanitised HTML.
    pub runbook_html: Option<String>,
}

/// One service, with its dependents and owner.
#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "catalogue",
    params(("name" = String, Path, description = "Service name")),
    responses((status = 200, body = ServiceDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_service(
    State(app): State<App>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ServiceDetail>> {
    let org = app.org().await?;
    let service = org
        .service(&name)
        .ok_or_else(|| ApiError::not_found(format!("service {name}")))?;
    Ok(Json(ServiceDetail {
        view: ServiceView::new(&org, service),
        possibly_affected: org
            .transitive_dependents(&name)
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        owner_team: service.owner.as_deref().and_then(|t| org.team(t)).cloned(),
        runbook_html: service.runbook.as_ref().and_then(|r| r.markdown_html()),
    }))
}

/// Teams, by name.
#[utoipa::path(get, path = "/api/v1/teams", tag = "catalogue", params(PageParams),
    responses((status = 200, body = Page<Team>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_teams(
    State(app): State<App>,
    _caller: Caller,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<Page<Team>>> {
    let org = app.org().await?;
    Ok(Json(page_of(&org.teams, &params, |t| t.name.clone())?))
}

#[derive(Serialize, ToSchema)]
pub struct TeamDetail {
    #[serde(flatten)]
    pub team: Team,
    pub people: Vec<Person>,
    pub services: Vec<String>,
}

/// One team, with its people and the services it owns.
#[utoipa::path(get, path = "/api/v1/teams/{name}", tag = "catalogue",
    params(("name" = String, Path, description = "Team name")),
    responses((status = 200, body = TeamDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_team(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<TeamDetail>> {
    let org = app.org().await?;
    let team = org
        .team(&name)
        .ok_or_else(|| ApiError::not_found(format!("team {name}")))?;
    Ok(Json(TeamDetail {
        people: team
            .members
            .iter()
            .filter_map(|h| org.person(h))
            .map(|p| caller.person_as_seen(p))
            .collect(),
        services: org
            .services_owned_by(&name)
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        team: team.clone(),
    }))
}

/// People, by handle.
#[utoipa::path(get, path = "/api/v1/people", tag = "catalogue", params(PageParams),
    responses((status = 200, body = Page<Person>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_people(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<Page<Person>>> {
    let org = app.org().await?;
    let people: Vec<Person> = org
        .people
        .iter()
        .map(|p| caller.person_as_seen(p))
        .collect();
    Ok(Json(page_of(&people, &params, |p| p.handle.clone())?))
}

#[derive(Serialize, ToSchema)]
pub struct PersonDetail {
    #[serde(flatten)]
    pub person: Person,
    pub teams: Vec<String>,
    pub executive: bool,
}

/// One person, with their teams.
#[utoipa::path(get, path = "/api/v1/people/{handle}", tag = "catalogue",
    params(("handle" = String, Path, description = "Person handle")),
    responses((status = 200, body = PersonDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_person(
    State(app): State<App>,
    caller: Caller,
    Path(handle): Path<String>,
) -> ApiResult<Json<PersonDetail>> {
    let org = app.org().await?;
    let person = org
        .person(&handle)
        .ok_or_else(|| ApiError::not_found(format!("person {handle}")))?;
    Ok(Json(PersonDetail {
        teams: org
            .teams_of(&handle)
            .iter()
            .map(|t| t.name.clone())
            .collect(),
        executive: org.settings.executives.contains(&handle),
        person: caller.person_as_seen(person),
    }))
}
