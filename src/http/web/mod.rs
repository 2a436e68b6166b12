//! Server-rendered HTML pages: login, the service catalogue with its
//! dependency graph, teams, people and the audit log. Templates live in
//! `templates/` and are checked against these structs at compile time.

mod graph;
mod incidents;
mod jobs;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::extract::{SESSION_COOKIE, cookie};
use crate::app::audit::EventQuery;
use crate::app::escalation::Assignee;
use crate::app::{self, App, Caller};
use crate::domain::auth::Role;
use crate::domain::org::{Person, Service, ServiceKind, Team};

pub fn router() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/services") }))
        .route("/login", get(login_page).post(log_in))
        .route("/logout", post(log_out))
        .route("/services", get(services_page))
        .route("/services/{name}", get(service_page))
        .route("/services/{name}/maintenance", post(start_maintenance))
        .route(
            "/services/{name}/maintenance/{id}/cancel",
            post(cancel_maintenance),
        )
        .route("/teams", get(teams_page))
        .route("/teams/{name}", get(team_page))
        .route("/people", get(people_page))
        .route("/people/{handle}", get(person_page))
        .route("/people/{handle}/calendar/rotate", post(rotate_person_feed))
        .route("/audit", get(audit_page))
        .route("/alerts", get(alerts_page))
        .route("/alerts/{id}", get(alert_page))
        .route("/alerts/{id}/acknowledge", post(acknowledge_alert))
        .route("/alerts/{id}/resolve", post(resolve_alert))
        .route("/alerts/{id}/escalate", post(escalate_alert))
        .route("/alerts/{id}/reassign", post(reassign_alert))
        .route("/schedules", get(schedules_page))
        .route("/schedules/{name}", get(schedule_page))
        .route("/schedules/{name}/overrides", post(take_shift))
        .route(
            "/schedules/{name}/calendar/rotate",
            post(rotate_schedule_feed),
        )
        .route(
            "/schedules/{name}/overrides/{id}/delete",
            post(remove_override),
        )
        .route("/ack/{token}", get(ack_page).post(ack_by_link))
        .route("/assets/siaga.css", get(stylesheet))
        .route("/assets/live.js", get(live_script))
        .merge(incidents::router())
        .merge(jobs::router())
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../assets/siaga.css"),
    )
        .into_response()
}

async fn live_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../assets/live.js"),
    )
        .into_response()
}

/// What every page's layout shows about the viewer.
struct Layout {
    user: Option<String>,
    admin: bool,
    csrf_token: String,
    section: &'static str,
}

impl Layout {
    fn for_caller(caller: &Caller, section: &'static str) -> Layout {
        Layout {
            user: Some(caller.user.name.clone()),
            admin: caller.role >= Role::Admin,
            csrf_token: caller.csrf_token.clone().unwrap_or_default(),
            section,
        }
    }

    fn anonymous() -> Layout {
        Layout {
            user: None,
            admin: false,
            csrf_token: String::new(),
            section: "",
        }
    }
}

/// A failure on a page, rendered as HTML rather than JSON.
pub struct PageError(Box<Response>);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    title: String,
    message: String,
    /// Where to go from here: a link and its words.
    back: (String, String),
}

fn error_page(status: StatusCode, title: &str, message: String) -> PageError {
    error_page_back(
        status,
        title,
        message,
        ("/services".into(), "Back to the services".into()),
    )
}

/// An error page that links back to where the person came from (the room
/// whose form was refused), not to the catalogue.
fn error_page_back(
    status: StatusCode,
    title: &str,
    message: String,
    back: (String, String),
) -> PageError {
    let page = ErrorPage {
        layout: Layout::anonymous(),
        title: title.into(),
        message,
        back,
    };
    PageError(Box::new((status, render(&page)).into_response()))
}

/// A form body; one that cannot be read (a field missing, or of the wrong
/// kind) is a page saying which, not axum's plain text.
pub struct Form<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, PageError> {
        let unreadable = |message: String| {
            error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "That form could not be read",
                message,
            )
        };
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| unreadable(rejection.body_text()))?;
        if let Some(field) = super::extract::field_with_nul(form_urlencoded::parse(&body)) {
            return Err(unreadable(format!(
                "The field `{field}` holds a NUL character, which text here may not."
            )));
        }
        serde_urlencoded::from_bytes(&body)
            .map(Form)
            .map_err(|error| unreadable(format!("Failed to deserialize form body: {error}")))
    }
}

/// A path parameter of a page; one that does not parse is a page naming
/// it, not the API's JSON error.
pub struct Path<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, PageError> {
        super::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|super::extract::Path(value)| Path(value))
            .map_err(|error| {
                error_page(
                    StatusCode::NOT_FOUND,
                    "Not found",
                    format!("There is no such page: {}.", error.message),
                )
            })
    }
}

/// A page's query string, read as the API reads it, but a parameter that
/// makes no sense is a page saying which, not the API's JSON.
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, PageError> {
        super::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|super::extract::Query(value)| Query(value))
            .map_err(|error| {
                error_page(
                    StatusCode::BAD_REQUEST,
                    "Not understood",
                    format!(
                        "This address asks for something the page does not know: {}.",
                        error.message
                    ),
                )
            })
    }
}

impl From<app::Error> for PageError {
    fn from(error: app::Error) -> Self {
        match error {
            app::Error::NotFound(what) => error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                format!("There is no {what}."),
            ),
            app::Error::Forbidden(role) => error_page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                format!("This page needs the {role} role."),
            ),
            app::Error::Unauthenticated => {
                PageError(Box::new(Redirect::to("/login").into_response()))
            }
            other => {
                let api = super::error::ApiError::from(other);
                error_page(api.status, "Something went wrong", api.message)
            }
        }
    }
}

/// What every page tells the browser: run only this server's scripts and
/// styles (a runbook's HTML is cleaned, and this is the second line), show
/// no page inside another site's frame, send no address to other sites.
const PAGE_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' https: data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("referrer-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            for (name, value) in PAGE_HEADERS {
                response
                    .headers_mut()
                    .insert(name, HeaderValue::from_static(value));
            }
            response
        }
        Err(error) => {
            super::error::ApiError::internal(anyhow::anyhow!("rendering a page: {error}"))
                .into_response()
        }
    }
}

/// The logged-in viewer of a page; anyone else is sent to the login page
/// and brought back after.
pub struct Viewer(Caller);

impl FromRequestParts<App> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let to_login = || {
            let next = return_to(parts);
            let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            Redirect::to(&format!("/login?next={encoded}")).into_response()
        };
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        match app.authenticate_session(secret).await {
            Ok(caller) => Ok(Viewer(caller)),
            Err(app::Error::Unauthenticated) => Err(to_login()),
            Err(other) => Err(PageError::from(other).into_response()),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    email: String,
    next: String,
}

#[derive(Deserialize)]
struct LoginParams {
    next: Option<String>,
}

async fn login_page(Query(params): Query<LoginParams>) -> Response {
    render(&LoginPage {
        layout: Layout::anonymous(),
        error: None,
        email: String::new(),
        next: params.next.unwrap_or_default(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Where to come back to after logging in: the page asked for; for a
/// form's button pressed after the session ended (a POST, whose body the
/// log-in cannot carry), the page the form was on, so the person lands
/// where they can press it again rather than on an address that only takes
/// a button.
fn return_to(parts: &Parts) -> String {
    if parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD {
        return parts
            .uri
            .path_and_query()
            .map_or("/services", |p| p.as_str())
            .to_string();
    }
    // Only a page of this server's: its host is the request's.
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let from_referer = parts
        .headers
        .get(header::REFERER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<axum::http::Uri>().ok())
        .filter(|uri| uri.authority().map(|a| a.as_str()) == host)
        .and_then(|uri| uri.path_and_query().map(|p| p.as_str().to_string()));
    match from_referer {
        Some(page) => page,
        // The action's own page: `/alerts/5/acknowledge` is on `/alerts/5`.
        None => parts
            .uri
            .path()
            .rsplit_once('/')
            .map(|(page, _)| page)
            .filter(|page| !page.is_empty())
            .unwrap_or("/services")
            .to_string(),
    }
}

/// The page error for a method a route does not take: a visit to an
/// address that takes a form's button.
pub(super) fn method_not_allowed_page() -> Response {
    error_page(
        StatusCode::METHOD_NOT_ALLOWED,
        "Not a page",
        "This address takes a form's button, not a visit.".into(),
    )
    .into_response()
}

/// Only local paths are followed after login, so a crafted link cannot send
/// someone to another site.
fn local_path(next: &str) -> &str {
    let bytes = next.as_bytes();
    // Printable ASCII only: browsers drop tabs and newlines from URLs, so
    // `/\t/evil.example` would become `//evil.example`.
    let local = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes.iter().all(|b| b.is_ascii_graphic());
    if local { next } else { "/services" }
}

async fn log_in(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    match app
        .log_in(&form.email, &form.password, &peer.ip().to_string())
        .await
    {
        Ok(secret) => {
            let lifetime = crate::app::auth::SESSION_LIFETIME.as_secs();
            let cookie = format!(
                "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age={lifetime}"
            );
            let mut response = Redirect::to(local_path(&form.next)).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(app::Error::Unauthenticated) => {
            let page = LoginPage {
                layout: Layout::anonymous(),
                error: Some("That email and password do not match an account.".into()),
                email: form.email,
                next: form.next,
            };
            (StatusCode::UNAUTHORIZED, render(&page)).into_response()
        }
        Err(app::Error::RateLimited(wait)) => {
            let page = LoginPage {
                layout: Layout::anonymous(),
                error: Some(format!(
                    "Too many failed attempts from here. Try again in {} minutes.",
                    (wait.as_secs().max(1) + 59) / 60
                )),
                email: form.email,
                next: form.next,
            };
            let mut response = (StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
            response
        }
        Err(other) => PageError::from(other).into_response(),
    }
}

async fn log_out(
    State(app): State<App>,
    Viewer(caller): Viewer,
    headers: axum::http::HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form)?;
    let secret = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    app.log_out(&caller, secret).await?;
    let mut response = Redirect::to("/login").into_response();
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn form_times_the_clocks_skip_or_repeat_are_refused() {
        let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let time = |text: &str| super::form_time(text, &tz, "starts_at");
        assert_eq!(
            time("2027-03-14T03:30").unwrap(),
            "2027-03-14T07:30:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        let message = |text: &str| match time(text) {
            Err(crate::app::Error::Invalid { message, .. }) => message,
            other => panic!("{text}: {other:?}"),
        };
        assert!(message("2027-03-14T02:30").contains("the clocks skip that hour"));
        assert!(message("2027-11-07T01:30").contains("happens twice"));
        assert!(message("soon").contains("is not a date and time"));
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path("/teams?x=1"), "/teams?x=1");
        for hostile in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil.example",
            "/a\nb",
            "",
            "teams",
        ] {
            assert_eq!(local_path(hostile), "/services", "{hostile:?}");
        }
    }
}

struct ServiceRow {
    name: String,
    display_name: String,
    owner: Option<String>,
    tier: Option<u8>,
    external: bool,
    depends_on: String,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage {
    layout: Layout,
    services: Vec<ServiceRow>,
    graph: String,
}

async fn services_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
) -> Result<Response, PageError> {
    let org = app.org().await?;
    let services = org
        .services
        .iter()
        .map(|s: &Service| ServiceRow {
            name: s.name.clone(),
            display_name: s.display_name.clone(),
            owner: s.owner.clone(),
            tier: s.tier,
            external: s.kind == ServiceKind::External,
            depends_on: s.depends_on.join(", "),
        })
        .collect();
    Ok(render(&ServicesPage {
        layout: Layout::for_caller(&caller, "services"),
        services,
        graph: graph::render_svg(&org),
    }))
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    layout: Layout,
    service: Service,
    external: bool,
    owner_name: String,
    dependents: Vec<String>,
    possibly_affected: String,
    runbook_url: Option<String>,
    runbook_html: Option<String>,
    integrations: Vec<IntegrationRow>,
    maintenance: Vec<MaintenanceRow>,
    /// The organisation's zone, in which windows are shown and entered.
    time_zone: String,
    can_maintain: bool,
}

/// Where a source of the service sends its alerts.
struct IntegrationRow {
    name: String,
    kind: &'static str,
    /// The whole URL when the organisation has a `base_url`, else the path.
    url: String,
    /// Admins only: whoever holds it can raise alerts.
    key: Option<String>,
}

/// A maintenance window that has not ended.
struct MaintenanceRow {
    /// Only windows made at run time can be cancelled here.
    id: Option<i64>,
    from: String,
    until: String,
    in_effect: bool,
    reason: String,
    by: String,
}

async fn service_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let org = app.org().await?;
    let service = org
        .service(&name)
        .ok_or_else(|| app::Error::NotFound(format!("service named {name}")))?
        .redacted();
    let owner_name = service
        .owner
        .as_deref()
        .map(|o| {
            org.team(o)
                .map_or(o.to_string(), |t| t.display_name.clone())
        })
        .unwrap_or_default();
    let direct: Vec<String> = org
        .dependents(&name)
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let indirect: Vec<String> = org
        .transitive_dependents(&name)
        .iter()
        .map(|s| s.name.clone())
        .filter(|n| !direct.contains(n))
        .collect();
    let keys_shown = caller.role >= Role::Admin;
    let base = org.settings.base_url.as_deref().unwrap_or_default();
    let integrations = org
        .service(&name)
        .map(|s| s.integrations.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|i| IntegrationRow {
            name: i.name.clone(),
            kind: i.kind.as_str(),
            url: format!(
                "{}{}",
                base.trim_end_matches('/'),
                app::alerts::endpoint_of(i.kind)
            ),
            key: i.key.clone().filter(|_| keys_shown),
        })
        .collect();
    let tz = zone(&org.settings.time_zone);
    let now = app.clock.now();
    let shown = |at| local(at, &tz, "%Y-%m-%d %H:%M %Z");
    let maintenance = app
        .maintenance_windows(Some(&name))
        .await?
        .into_iter()
        .filter(|w| w.cancelled_at.is_none())
        .map(|w| MaintenanceRow {
            id: w.id,
            from: shown(w.starts_at),
            until: shown(w.ends_at),
            in_effect: w.starts_at <= now,
            reason: w.reason,
            by: w.created_by,
        })
        .collect();
    Ok(render(&ServicePage {
        layout: Layout::for_caller(&caller, "services"),
        external: service.kind == ServiceKind::External,
        owner_name,
        dependents: direct,
        possibly_affected: indirect.join(", "),
        runbook_url: service.runbook.as_ref().and_then(|r| r.url.clone()),
        runbook_html: service.runbook.as_ref().and_then(|r| r.markdown_html()),
        service,
        integrations,
        maintenance,
        time_zone: org.settings.time_zone.clone(),
        can_maintain: caller.role >= Role::Responder,
    }))
}

#[derive(Deserialize)]
struct MaintenanceForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    /// Local to the organisation's zone; empty for now.
    #[serde(default)]
    from: String,
    duration: String,
    #[serde(default)]
    reason: String,
}

/// The maintenance form on a service's page (responder): a window from
/// now or a set time, for a duration.
async fn start_maintenance(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(name): Path<String>,
    Form(form): Form<MaintenanceForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form.csrf)?;
    let org = app.org_snapshot().await?;
    let starts_at = match form.from.trim() {
        "" => app.clock.now(),
        text => form_time(text, &zone(&org.settings.time_zone), "from")?,
    };
    let ends_at = app::alerts::window_end(starts_at, &form.duration)?;
    app.create_maintenance_window(&caller, &name, Some(starts_at), ends_at, &form.reason)
        .await?;
    Ok(Redirect::to(&format!("/services/{}#maintenance", path_segment(&name))).into_response())
}

/// The cancel button next to a window made at run time (responder).
async fn cancel_maintenance(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path((name, id)): Path<(String, i64)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form)?;
    app.cancel_maintenance_window(&caller, id).await?;
    Ok(Redirect::to(&format!("/services/{}#maintenance", path_segment(&name))).into_response())
}

struct TeamRow {
    name: String,
    display_name: String,
    lead: String,
    head: String,
    members: usize,
    services: String,
}

#[derive(Template)]
#[template(path = "teams.html")]
struct TeamsPage {
    layout: Layout,
    teams: Vec<TeamRow>,
}

async fn teams_page(State(app): State<App>, Viewer(caller): Viewer) -> Result<Response, PageError> {
    let org = app.org().await?;
    let name_of = |handle: &str| {
        org.person(handle)
            .map_or(handle.to_string(), |p| p.name.clone())
    };
    let teams = org
        .teams
        .iter()
        .map(|t| TeamRow {
            name: t.name.clone(),
            display_name: t.display_name.clone(),
            lead: name_of(&t.lead),
            head: name_of(&t.head),
            members: t.members.len(),
            services: org
                .services_owned_by(&t.name)
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    Ok(render(&TeamsPage {
        layout: Layout::for_caller(&caller, "teams"),
        teams,
    }))
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    layout: Layout,
    team: Team,
    lead_name: String,
    head_name: String,
    members: Vec<Person>,
    services: Vec<String>,
}

async fn team_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let org = app.org().await?;
    let team = org
        .team(&name)
        .ok_or_else(|| app::Error::NotFound(format!("team named {name}")))?
        .clone();
    let name_of = |handle: &str| {
        org.person(handle)
            .map_or(handle.to_string(), |p| p.name.clone())
    };
    Ok(render(&TeamPage {
        layout: Layout::for_caller(&caller, "teams"),
        lead_name: name_of(&team.lead),
        head_name: name_of(&team.head),
        members: team
            .members
            .iter()
            .filter_map(|h| org.person(h))
            .cloned()
            .collect(),
        services: org
            .services_owned_by(&name)
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        team,
    }))
}

struct PersonRow {
    handle: String,
    name: String,
    email: String,
    teams: String,
    time_zone: String,
    executive: bool,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    layout: Layout,
    people: Vec<PersonRow>,
}

async fn people_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
) -> Result<Response, PageError> {
    let org = app.org().await?;
    let people = org
        .people
        .iter()
        .map(|p| PersonRow {
            handle: p.handle.clone(),
            name: p.name.clone(),
            email: p.email.clone(),
            teams: org
                .teams_of(&p.handle)
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            time_zone: p.time_zone.clone(),
            executive: org.settings.executives.contains(&p.handle),
        })
        .collect();
    Ok(render(&PeoplePage {
        layout: Layout::for_caller(&caller, "people"),
        people,
    }))
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    layout: Layout,
    person: Person,
    teams: Vec<String>,
    /// The person's own calendar feed, shown to them and to admins.
    feed_url: Option<String>,
}

async fn person_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(handle): Path<String>,
) -> Result<Response, PageError> {
    let org = app.org().await?;
    let person = org
        .person(&handle)
        .ok_or_else(|| app::Error::NotFound(format!("person with handle {handle}")))?;
    let person = caller.person_as_seen(person);
    Ok(render(&PersonPage {
        layout: Layout::for_caller(&caller, "people"),
        teams: org
            .teams_of(&handle)
            .iter()
            .map(|t| t.name.clone())
            .collect(),
        feed_url: app.person_feed_url_if_allowed(&caller, &person).await?,
        person,
    }))
}

/// A new secret address for a person's own calendar feed; back to their page.
async fn rotate_person_feed(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(handle): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form)?;
    app.rotate_person_feed(&caller, &handle).await?;
    Ok(Redirect::to(&format!("/people/{}#feed", path_segment(&handle))).into_response())
}

/// A new secret address for a schedule's calendar feed; back to its page.
async fn rotate_schedule_feed(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form)?;
    app.rotate_schedule_feed(&caller, &name).await?;
    Ok(Redirect::to(&format!("/schedules/{}#feed", path_segment(&name))).into_response())
}

struct EventRow {
    at: String,
    at_text: String,
    actor: String,
    action: String,
    subject: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<EventRow>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct AuditParams {
    cursor: Option<String>,
}

async fn audit_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Query(params): Query<AuditParams>,
) -> Result<Response, PageError> {
    caller.require(Role::Admin)?;
    let page = app
        .events(EventQuery {
            cursor: params.cursor,
            limit: Some(100),
            ..EventQuery::default()
        })
        .await?;
    let events = page
        .items
        .iter()
        .map(|e| EventRow {
            at: e.at.to_string(),
            at_text: e.at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            actor: format!("{} {}", e.actor.kind, e.actor.name),
            action: e.action.clone(),
            subject: format!("{} {}", e.subject.kind, e.subject.id),
        })
        .collect();
    Ok(render(&AuditPage {
        layout: Layout::for_caller(&caller, "audit"),
        events,
        next_cursor: page.next_cursor,
    }))
}

fn utc_minute(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

struct AlertRow {
    id: i64,
    summary: String,
    service: String,
    severity: &'static str,
    urgency: &'static str,
    status: &'static str,
    event_count: i64,
    last_seen: String,
    in_maintenance: bool,
    /// Its group's escalation ran out without an acknowledgement.
    unacknowledged: bool,
}

/// An alert group nobody acknowledged, on the alerts page.
struct UnacknowledgedRow {
    alert_id: i64,
    summary: String,
    service: String,
    severity: &'static str,
    since: String,
}

struct SelectOption {
    value: String,
    text: String,
    selected: bool,
}

struct Select {
    label: &'static str,
    name: &'static str,
    options: Vec<SelectOption>,
}

fn select(
    label: &'static str,
    name: &'static str,
    any: &str,
    values: &[String],
    chosen: Option<&str>,
) -> Select {
    let mut options = vec![SelectOption {
        value: String::new(),
        text: any.into(),
        selected: chosen.is_none(),
    }];
    options.extend(values.iter().map(|v| SelectOption {
        value: v.clone(),
        text: v.clone(),
        selected: chosen == Some(v.as_str()),
    }));
    Select {
        label,
        name,
        options,
    }
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    layout: Layout,
    filters: Vec<Select>,
    alerts: Vec<AlertRow>,
    /// More match than the page shows (the newest first).
    more: bool,
    unacknowledged: Vec<UnacknowledgedRow>,
}

#[derive(Deserialize)]
struct AlertsParams {
    #[serde(default)]
    service: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    /// How far back: `1h`, `24h` or `7d`.
    #[serde(default)]
    since: String,
}

/// The alerts page's choices of how far back to look.
const ALERTS_SINCE: [(&str, jiff::SignedDuration); 3] = [
    ("1h", jiff::SignedDuration::from_hours(1)),
    ("24h", jiff::SignedDuration::from_hours(24)),
    ("7d", jiff::SignedDuration::from_hours(24 * 7)),
];

async fn alerts_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Query(params): Query<AlertsParams>,
) -> Result<Response, PageError> {
    use crate::domain::alert::{AlertStatus, Severity};
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    let status = nonempty(&params.status)
        .map(|s| {
            AlertStatus::parse(&s).ok_or_else(|| {
                app::Error::invalid("invalid_status", "status", format!("unknown status `{s}`"))
            })
        })
        .transpose()?;
    let severity = nonempty(&params.severity)
        .map(|s| {
            Severity::parse(&s).ok_or_else(|| {
                app::Error::invalid(
                    "invalid_severity",
                    "severity",
                    format!("unknown severity `{s}`"),
                )
            })
        })
        .transpose()?;
    let since = nonempty(&params.since)
        .map(|s| {
            ALERTS_SINCE
                .iter()
                .find(|(name, _)| *name == s)
                .map(|(_, back)| app.clock.now().saturating_sub(*back).unwrap_or_default())
                .ok_or_else(|| {
                    app::Error::invalid(
                        "invalid_since",
                        "since",
                        format!("`{s}` is not one of 1h, 24h or 7d"),
                    )
                })
        })
        .transpose()?;
    let page = app
        .alerts(crate::app::alerts::AlertQuery {
            service: nonempty(&params.service),
            status,
            severity,
            since,
            limit: Some(200),
            ..Default::default()
        })
        .await?;
    let org = app.org_snapshot().await?;
    let mut services: Vec<String> = org.services.iter().map(|s| s.name.clone()).collect();
    // A service asked for that the config no longer has (its alerts stay)
    // is a choice too: else the form would show "all" and drop it.
    if let Some(asked) = nonempty(&params.service)
        && !services.contains(&asked)
    {
        services.push(asked);
    }
    let statuses: Vec<String> = ["triggered", "acknowledged", "resolved"]
        .map(String::from)
        .to_vec();
    let severities: Vec<String> = Severity::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    let filters = vec![
        select(
            "Service",
            "service",
            "all",
            &services,
            nonempty(&params.service).as_deref(),
        ),
        select(
            "Status",
            "status",
            "open",
            &statuses,
            status.map(|s| s.as_str()),
        ),
        select(
            "Severity",
            "severity",
            "any",
            &severities,
            severity.map(|s| s.as_str()),
        ),
        select(
            "Since",
            "since",
            "any time",
            &ALERTS_SINCE.map(|(name, _)| name.to_string()),
            since.and(Some(params.since.as_str())),
        ),
    ];
    let unacknowledged = app.unacknowledged_groups().await?;
    let nobody_answered: std::collections::BTreeSet<i64> =
        unacknowledged.iter().map(|g| g.group_id).collect();
    let more = page.next_cursor.is_some();
    let alerts = page
        .items
        .into_iter()
        .map(|a| AlertRow {
            unacknowledged: nobody_answered.contains(&a.group_id),
            id: a.id,
            summary: a.summary,
            service: a.service,
            severity: a.severity.as_str(),
            urgency: a.urgency.as_str(),
            status: a.status.as_str(),
            event_count: a.event_count,
            last_seen: utc_minute(a.last_seen_at),
            in_maintenance: a.in_maintenance,
        })
        .collect();
    Ok(render(&AlertsPage {
        layout: Layout::for_caller(&caller, "alerts"),
        filters,
        alerts,
        more,
        unacknowledged: unacknowledged
            .into_iter()
            .map(|g| UnacknowledgedRow {
                alert_id: g.alert_id,
                summary: g.summary,
                service: g.service,
                severity: g.severity.as_str(),
                since: utc_minute(g.opened_at),
            })
            .collect(),
    }))
}

/// One line of an alert's escalation history.
struct EscalationRow {
    at: String,
    action: String,
    what: String,
    /// A delivery that failed: shown so it cannot be missed.
    failed: bool,
}

/// A dead escalation timer of the alert's group.
struct DeadTimer {
    id: i64,
    kind: String,
    attempts: u32,
    error: String,
}

struct TimelineRow {
    /// The received event's id: keeps it open across live updates.
    id: i64,
    at: String,
    outcome: String,
    action: String,
    format: String,
    body: String,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    layout: Layout,
    alert: crate::domain::alert::Alert,
    can_act: bool,
    first_seen: String,
    last_seen: String,
    acknowledged_at: String,
    resolved_at: String,
    group_id: i64,
    group_size: i64,
    group_status: &'static str,
    members: Vec<crate::domain::alert::Alert>,
    events: Vec<TimelineRow>,
    escalation: Vec<EscalationRow>,
    /// Why nobody is being paged for a triggered alert, if so.
    unacknowledged: Option<String>,
    /// The group's escalation timers that died: escalation has stopped.
    dead_timers: Vec<DeadTimer>,
    runbook_url: Option<String>,
    runbook_html: Option<String>,
    /// For the reassign form.
    people: Vec<(String, String)>,
    policies: Vec<String>,
    /// For the escalate form: the levels of the policy the group escalates
    /// along, numbered from 1, with whom each reaches.
    levels: Vec<(usize, String)>,
}

async fn alert_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let detail = app.alert_detail(id).await?;
    let org = app.org_snapshot().await?;
    let runbook = org
        .service(&detail.alert.service)
        .and_then(|s| s.runbook.clone());
    // As `/metrics` counts it: the newest event that moves the escalation
    // says its policy ran out (an escalate-now or reassign since ends it).
    let last_move = detail
        .escalation
        .iter()
        .rev()
        .find(|e| crate::store::ESCALATION_MOVES.contains(&e.action.as_str()))
        .filter(|_| detail.alert.status == crate::domain::alert::AlertStatus::Triggered);
    let unacknowledged = match last_move {
        Some(e) if e.action == crate::app::escalation::ESCALATION_EXHAUSTED => {
            Some("Nobody acknowledged: every level of the escalation policy was paged.".to_string())
        }
        Some(e) if e.action == crate::app::escalation::ESCALATION_STOPPED => Some(format!(
            "Nobody is being paged: {}. Escalate or reassign it by hand.",
            e.after
                .as_ref()
                .and_then(|a| a["reason"].as_str())
                .unwrap_or("escalation stopped")
        )),
        _ => None,
    };
    let escalation = detail
        .escalation
        .iter()
        .map(|e| {
            let after = e.after.clone().unwrap_or_default();
            let what = match e.action.as_str() {
                "escalation.started" => match after["reason"].as_str() {
                    Some(reason) => format!(
                        "escalation started ({}): {reason}",
                        after["policy"].as_str().unwrap_or("")
                    ),
                    None => format!(
                        "escalation started ({})",
                        after["policy"].as_str().unwrap_or("")
                    ),
                },
                "escalation.stopped" => format!(
                    "escalation stopped: {}",
                    after["reason"].as_str().unwrap_or("")
                ),
                "escalation.notified" => {
                    let recipients: Vec<&str> = after["recipients"]
                        .as_array()
                        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    format!(
                        "level {} (round {}): paged {}",
                        after["level"].as_u64().unwrap_or(0) + 1,
                        after["round"].as_u64().unwrap_or(0) + 1,
                        if recipients.is_empty() {
                            "nobody (no one on call)".to_string()
                        } else {
                            recipients.join(", ")
                        }
                    )
                }
                "notification.delivered" => format!(
                    "delivered to {} by {}",
                    after["person"].as_str().unwrap_or(""),
                    after["channel"].as_str().unwrap_or("")
                ),
                "escalation.exhausted" => "nobody acknowledged".to_string(),
                "notification.failed" => failed_delivery(&org, &after),
                "notification.skipped" => format!(
                    "not sent to {} by {}: {}",
                    after["person"].as_str().unwrap_or(""),
                    after["channel"].as_str().unwrap_or(""),
                    after["reason"].as_str().unwrap_or("")
                ),
                "escalation.escalated" => format!(
                    "escalated by {} to level {}",
                    e.actor.name,
                    after["level"].as_u64().unwrap_or(0) + 1
                ),
                "alert.reassigned" => match after["person"].as_str() {
                    Some(person) => format!("reassigned by {} to {person}", e.actor.name),
                    None => format!(
                        "reassigned by {} to the policy {}",
                        e.actor.name,
                        after["policy"].as_str().unwrap_or("")
                    ),
                },
                other => other.to_string(),
            };
            EscalationRow {
                at: utc_minute(e.at),
                action: e.action.clone(),
                what,
                failed: e.action == "notification.failed",
            }
        })
        .collect();
    let dead_timers = app
        .dead_escalation_jobs(detail.group.id)
        .await?
        .into_iter()
        .map(|job| DeadTimer {
            id: job.id,
            kind: job.kind,
            attempts: job.attempts,
            error: job.last_error.unwrap_or_default(),
        })
        .collect();
    let alert = detail.alert;
    let events = detail
        .events
        .into_iter()
        .map(|e| TimelineRow {
            id: e.id,
            at: utc_minute(e.received_at),
            outcome: e.outcome,
            action: e.action,
            format: e.format,
            body: pretty_json(&e.body),
        })
        .collect();
    Ok(render(&AlertPage {
        layout: Layout::for_caller(&caller, "alerts"),
        can_act: caller.role >= Role::Responder,
        first_seen: utc_minute(alert.first_seen_at),
        last_seen: utc_minute(alert.last_seen_at),
        acknowledged_at: alert.acknowledged_at.map(utc_minute).unwrap_or_default(),
        resolved_at: alert.resolved_at.map(utc_minute).unwrap_or_default(),
        group_id: detail.group.id,
        group_size: detail.group.alert_count,
        group_status: detail.group.status.as_str(),
        members: detail.group_members,
        events,
        escalation,
        unacknowledged,
        dead_timers,
        runbook_url: runbook.as_ref().and_then(|r| r.url.clone()),
        runbook_html: runbook.as_ref().and_then(|r| r.markdown_html()),
        people: org
            .people
            .iter()
            .map(|p| (p.handle.clone(), p.name.clone()))
            .collect(),
        policies: org
            .escalation_policies
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        levels: detail
            .policy
            .as_deref()
            .and_then(|name| org.escalation_policy(name))
            .map(|policy| {
                policy
                    .levels
                    .iter()
                    .enumerate()
                    .map(|(i, level)| {
                        let whom: Vec<String> =
                            level.targets.iter().map(|t| t.describe()).collect();
                        (i + 1, whom.join(", "))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        alert,
    }))
}

/// A failed delivery as people read it: who, on which channel, why, and
/// whether siaga tries again. Events without `final` come from before
/// every attempt was recorded, when only the last one was.
fn failed_delivery(org: &crate::domain::org::Org, after: &serde_json::Value) -> String {
    let handle = after["person"].as_str().unwrap_or("someone");
    let who = match org.person(handle) {
        Some(person) => format!("{} ({handle})", person.name),
        None => handle.to_string(),
    };
    let channel = after["channel"].as_str().unwrap_or("an unknown channel");
    let error = after["error"].as_str().unwrap_or("no reason recorded");
    let outcome = match (
        after["final"].as_bool().unwrap_or(true),
        after["attempt"].as_u64(),
    ) {
        (true, Some(attempt)) => format!("gave up after attempt {attempt}"),
        (true, None) => "gave up".to_string(),
        (false, Some(attempt)) => format!("attempt {attempt}, will retry"),
        (false, None) => "will retry".to_string(),
    };
    format!("could not reach {who} by {channel}: {error} ({outcome})")
}

/// Received bodies shown indented when they are JSON, as they came otherwise.
fn pretty_json(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_string())
}

/// `text` escaped for one segment of a redirect's path.
fn path_segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: String,
}

fn check_csrf(caller: &Caller, form: &CsrfForm) -> Result<(), PageError> {
    if caller
        .csrf_token
        .as_deref()
        .is_some_and(|token| crate::domain::auth::secrets_equal(token, &form.csrf_token))
    {
        Ok(())
    } else {
        Err(error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "The form has expired; reload the page and try again.".into(),
        ))
    }
}

async fn acknowledge_alert(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form)?;
    app.acknowledge_alert(&caller, id).await?;
    Ok(Redirect::to(&format!("/alerts/{id}")).into_response())
}

async fn resolve_alert(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form)?;
    app.resolve_alert(&caller, id).await?;
    Ok(Redirect::to(&format!("/alerts/{id}")).into_response())
}

#[derive(Deserialize)]
struct EscalateForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    /// A level's number, or empty for the next level.
    #[serde(default)]
    level: String,
}

async fn escalate_alert(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(id): Path<i64>,
    Form(form): Form<EscalateForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form.csrf)?;
    let level = match form.level.trim() {
        "" => None,
        text => Some(text.parse::<usize>().map_err(|_| {
            app::Error::invalid(
                "invalid_level",
                "level",
                format!("`{text}` is not a level number"),
            )
        })?),
    };
    app.escalate_alert(&caller, id, level).await?;
    Ok(Redirect::to(&format!("/alerts/{id}")).into_response())
}

#[derive(Deserialize)]
struct ReassignForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    /// `person:HANDLE` or `policy:NAME`, from one select.
    to: String,
}

async fn reassign_alert(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(id): Path<i64>,
    Form(form): Form<ReassignForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form.csrf)?;
    let to = match form.to.split_once(':') {
        Some(("person", handle)) => Assignee::Person(handle.to_string()),
        Some(("policy", name)) => Assignee::Policy(name.to_string()),
        _ => {
            return Err(error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cannot reassign",
                "Pick a person or a policy to reassign the alert to.".into(),
            ));
        }
    };
    app.reassign_alert(&caller, id, &to).await?;
    Ok(Redirect::to(&format!("/alerts/{id}")).into_response())
}

struct ScheduleRow {
    name: String,
    description: Option<String>,
    now: Option<String>,
    until: String,
    next: String,
    /// Nobody on call for this long in the next 4 weeks, from `first_gap`.
    gap_ahead: Option<String>,
    first_gap: String,
}

#[derive(Template)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    layout: Layout,
    schedules: Vec<ScheduleRow>,
}

/// A time shown in a schedule's own zone.
fn local(at: jiff::Timestamp, tz: &jiff::tz::TimeZone, format: &str) -> String {
    at.to_zoned(tz.clone()).strftime(format).to_string()
}

fn zone(name: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC)
}

async fn schedules_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
) -> Result<Response, PageError> {
    let org = app.org_snapshot().await?;
    let name_of = |handle: &str| {
        org.person(handle)
            .map_or(handle.to_string(), |p| p.name.clone())
    };
    let schedules = app
        .schedules(&caller)
        .await?
        .into_iter()
        .map(|s| {
            let tz = zone(&s.time_zone);
            ScheduleRow {
                // Any gap at all, however short its rounded hours.
                gap_ahead: s.first_gap_ahead.is_some().then(|| {
                    if s.gap_hours_ahead > 0.0 {
                        crate::app::schedules::human_hours(jiff::SignedDuration::from_secs_f64(
                            s.gap_hours_ahead * 3600.0,
                        ))
                    } else {
                        "a few minutes".into()
                    }
                }),
                first_gap: s
                    .first_gap_ahead
                    .as_ref()
                    .map(|g| local(g.start, &tz, "%a %d %b %H:%M"))
                    .unwrap_or_default(),
                now: s.on_call.as_ref().map(|shift| name_of(&shift.person)),
                until: s
                    .on_call
                    .as_ref()
                    .map(|shift| match shift.end {
                        Some(end) => local(end, &tz, "%a %d %b %H:%M"),
                        None => "further notice".into(),
                    })
                    .unwrap_or_default(),
                next: s
                    .next
                    .as_ref()
                    .map(|shift| {
                        format!(
                            "{} from {}",
                            name_of(&shift.person),
                            local(shift.start, &tz, "%a %d %b %H:%M")
                        )
                    })
                    .unwrap_or_default(),
                name: s.name,
                description: s.description,
            }
        })
        .collect();
    Ok(render(&SchedulesPage {
        layout: Layout::for_caller(&caller, "schedules"),
        schedules,
    }))
}

struct DayPiece {
    from: String,
    to: String,
    person: String,
    gap: bool,
    overridden: bool,
}

struct Day {
    label: String,
    pieces: Vec<DayPiece>,
}

struct OverrideRow {
    id: i64,
    person: String,
    from: String,
    to: String,
    reason: String,
    by: String,
    /// What removing it does now: `None` once it is over (past shifts
    /// are not rewritten), else "End now" or "Remove".
    remove: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    layout: Layout,
    name: String,
    description: Option<String>,
    time_zone: String,
    week: String,
    previous_week: String,
    next_week: String,
    days: Vec<Day>,
    gap_hours: String,
    load: Vec<(String, String)>,
    /// The next 4 weeks, overrides counted.
    gap_hours_ahead: String,
    gaps_ahead: Vec<(String, String)>,
    more_gaps_ahead: usize,
    load_ahead: Vec<(String, String)>,
    overloaded: Vec<String>,
    overrides: Vec<OverrideRow>,
    people: Vec<(String, String)>,
    /// The viewer's own handle, chosen first in the override form: taking
    /// a shift is most often for oneself, and the first person in the
    /// config is rarely who is asking.
    me: Option<String>,
    can_override: bool,
    /// For responders and admins only; `None` also until the config made one.
    feed_url: Option<String>,
}

#[derive(Deserialize)]
struct WeekParams {
    week: Option<String>,
}

async fn schedule_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(name): Path<String>,
    Query(params): Query<WeekParams>,
) -> Result<Response, PageError> {
    let org = app.org_snapshot().await?;
    let schedule = org
        .schedule(&name)
        .ok_or_else(|| app::Error::NotFound(format!("schedule named {name}")))?
        .clone();
    let tz = zone(&schedule.time_zone);
    let now = app.clock.now();
    let today = now.to_zoned(tz.clone()).date();
    let chosen = match params.week.as_deref() {
        // A week, and the next one its link points at, inside the years
        // every time zone's calendar can show.
        Some(text) => text
            .parse::<jiff::civil::Date>()
            .ok()
            .filter(|date| (1970..=9998).contains(&date.year()))
            .ok_or_else(|| {
                app::Error::invalid(
                    "invalid_week",
                    "week",
                    format!("`{text}` is not a date from 1970 to 9998 such as 2026-11-02"),
                )
            })?,
        None => today,
    };
    // Weeks start on Monday.
    let monday = chosen
        .checked_sub(jiff::SignedDuration::from_hours(
            24 * i64::from(chosen.weekday().to_monday_zero_offset()),
        ))
        .unwrap_or(chosen);
    let day_start = |date: jiff::civil::Date| {
        tz.to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .unwrap_or_default()
    };
    let days_of_week: Vec<jiff::civil::Date> = (0..8)
        .filter_map(|i| {
            monday
                .checked_add(jiff::SignedDuration::from_hours(24 * i))
                .ok()
        })
        .collect();
    let (from, to) = (day_start(days_of_week[0]), day_start(days_of_week[7]));
    let detail = app.schedule_detail(&name, Some(from), Some(to)).await?;
    let name_of = |handle: &str| {
        org.person(handle)
            .map_or(handle.to_string(), |p| p.name.clone())
    };

    let mut pieces: Vec<(
        jiff::Timestamp,
        jiff::Timestamp,
        Option<&crate::domain::schedule::Shift>,
    )> = detail
        .shifts
        .iter()
        .map(|s| (s.start, s.end, Some(s)))
        .collect();
    pieces.extend(detail.gaps.iter().map(|g| (g.start, g.end, None)));
    pieces.sort_by_key(|p| p.0);
    let days = days_of_week
        .windows(2)
        .map(|pair| {
            let (start, end) = (day_start(pair[0]), day_start(pair[1]));
            let pieces = pieces
                .iter()
                .filter(|(s, e, _)| *s < end && *e > start)
                .map(|(s, e, shift)| {
                    let to_text = if *e >= end {
                        "24:00".to_string()
                    } else {
                        local(*e, &tz, "%H:%M")
                    };
                    DayPiece {
                        from: local((*s).max(start), &tz, "%H:%M"),
                        to: to_text,
                        person: shift.map(|s| name_of(&s.person)).unwrap_or_default(),
                        gap: shift.is_none(),
                        overridden: shift.is_some_and(|s| s.override_id.is_some()),
                    }
                })
                .collect();
            Day {
                label: pair[0].strftime("%a %d %b").to_string(),
                pieces,
            }
        })
        .collect();
    let gap_total = detail
        .gaps
        .iter()
        .map(|g| g.end.duration_since(g.start))
        .fold(jiff::SignedDuration::ZERO, |a, b| a + b);
    let quality = app.schedule_quality(&name).await?;
    let gap_total_ahead = quality
        .gaps
        .iter()
        .map(|g| g.end.duration_since(g.start))
        .fold(jiff::SignedDuration::ZERO, |a, b| a + b);
    // The first few gaps are worth reading; the total says the rest.
    const GAPS_LISTED: usize = 10;
    let gaps_ahead = quality
        .gaps
        .iter()
        .take(GAPS_LISTED)
        .map(|g| {
            (
                local(g.start, &tz, "%a %d %b %H:%M"),
                local(g.end, &tz, "%a %d %b %H:%M"),
            )
        })
        .collect();
    let week_text = |date: jiff::civil::Date| date.to_string();
    let previous = monday
        .checked_sub(jiff::SignedDuration::from_hours(24 * 7))
        .unwrap_or(monday);
    Ok(render(&SchedulePage {
        layout: Layout::for_caller(&caller, "schedules"),
        description: schedule.description.clone(),
        time_zone: schedule.time_zone.clone(),
        week: week_text(monday),
        previous_week: week_text(previous),
        next_week: week_text(days_of_week[7]),
        days,
        gap_hours: crate::app::schedules::human_hours(gap_total),
        gap_hours_ahead: crate::app::schedules::human_hours(gap_total_ahead),
        gaps_ahead,
        more_gaps_ahead: quality.gaps.len().saturating_sub(GAPS_LISTED),
        load_ahead: quality
            .load
            .iter()
            .map(|l| (name_of(&l.person), format!("{:.1}", l.hours)))
            .collect(),
        overloaded: quality
            .overloaded
            .iter()
            .map(|o| {
                format!(
                    "{} is on call for {:.1} h in the next 4 weeks, more than twice the others' average of {:.1} h.",
                    name_of(&o.person),
                    o.hours,
                    o.others_average_hours
                )
            })
            .collect(),
        load: detail
            .load
            .iter()
            .map(|l| (name_of(&l.person), format!("{:.1}", l.hours)))
            .collect(),
        overrides: detail
            .overrides
            .iter()
            .map(|o| OverrideRow {
                id: o.id,
                person: name_of(&o.person),
                from: local(o.starts_at, &tz, "%a %d %b %H:%M"),
                to: local(o.ends_at, &tz, "%a %d %b %H:%M"),
                reason: o.reason.clone(),
                by: o.created_by.clone(),
                remove: if o.ends_at <= now {
                    None
                } else if o.starts_at < now {
                    Some("End now")
                } else {
                    Some("Remove")
                },
            })
            .collect(),
        people: org
            .people
            .iter()
            .map(|p| (p.handle.clone(), p.name.clone()))
            .collect(),
        me: org
            .people
            .iter()
            .find(|p| p.email.eq_ignore_ascii_case(&caller.user.email))
            .map(|p| p.handle.clone()),
        can_override: caller.role >= Role::Responder,
        feed_url: if caller.role >= Role::Responder {
            app.feed_url(crate::app::schedules::SCHEDULE_FEED, &name)
                .await?
        } else {
            None
        },
        name,
    }))
}

#[derive(Deserialize)]
struct TakeShiftForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    person: String,
    from: String,
    to: String,
    #[serde(default)]
    reason: String,
}

/// A form's date and time (`datetime-local`), local to `tz`. A time the
/// clocks skip or pass twice names no one moment: refused, saying so,
/// rather than moved without a word.
fn form_time(
    text: &str,
    tz: &jiff::tz::TimeZone,
    field: &str,
) -> Result<jiff::Timestamp, app::Error> {
    let invalid = |message: String| app::Error::invalid("invalid_time", field, message);
    let local = crate::domain::schedule::local_date_time(text)
        .ok_or_else(|| invalid(format!("`{text}` is not a date and time")))?;
    let zone = tz.iana_name().unwrap_or("this time zone");
    let ambiguous = tz.to_ambiguous_timestamp(local);
    match ambiguous.offset() {
        jiff::tz::AmbiguousOffset::Unambiguous { .. } => ambiguous
            .compatible()
            .map_err(|_| invalid(format!("`{text}` is not a date and time"))),
        jiff::tz::AmbiguousOffset::Gap { .. } => Err(invalid(format!(
            "`{text}` does not exist in {zone}: the clocks skip that hour"
        ))),
        jiff::tz::AmbiguousOffset::Fold { .. } => Err(invalid(format!(
            "`{text}` happens twice in {zone} (the clocks go back): give a time outside that hour"
        ))),
    }
}

/// The override form: times are local to the schedule.
async fn take_shift(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(name): Path<String>,
    Form(form): Form<TakeShiftForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form.csrf)?;
    let org = app.org_snapshot().await?;
    let schedule = org
        .schedule(&name)
        .ok_or_else(|| app::Error::NotFound(format!("schedule named {name}")))?;
    let tz = zone(&schedule.time_zone);
    let starts_at = form_time(&form.from, &tz, "from")?;
    let ends_at = form_time(&form.to, &tz, "to")?;
    app.create_override(
        &caller,
        &name,
        &form.person,
        starts_at,
        ends_at,
        &form.reason,
    )
    .await?;
    let week = starts_at.to_zoned(tz).date();
    Ok(Redirect::to(&format!("/schedules/{name}?week={week}")).into_response())
}

#[derive(Deserialize)]
struct RemoveOverrideForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    /// The week the page showed, to go back to it.
    week: Option<String>,
}

/// The remove button next to an override (responder).
async fn remove_override(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path((name, id)): Path<(String, i64)>,
    Form(form): Form<RemoveOverrideForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form.csrf)?;
    app.delete_override(&caller, &name, id).await?;
    // Only a date goes back into the URL, whatever the form said.
    let week = form
        .week
        .and_then(|w| w.parse::<jiff::civil::Date>().ok())
        .map(|w| format!("?week={w}"))
        .unwrap_or_default();
    Ok(Redirect::to(&format!("/schedules/{}{week}", path_segment(&name))).into_response())
}

#[derive(Template)]
#[template(path = "ack.html")]
struct AckPage {
    layout: Layout,
    problem: Option<String>,
    /// Nothing of the alert's group escalates: no button.
    done: bool,
    heading: String,
    /// Why it is done.
    outcome: String,
    severity: &'static str,
    summary: String,
    service: String,
    status: &'static str,
    person: String,
}

impl AckPage {
    /// The page for a genuine link to `detail`'s alert: a button while its
    /// group escalates (even if this alert was acknowledged or resolved
    /// meanwhile), else what became of it.
    fn for_alert(detail: crate::app::alerts::AlertDetail, person: String) -> AckPage {
        use crate::domain::alert::AlertStatus;
        let (alert, group) = (detail.alert, detail.group);
        let done = group.status != AlertStatus::Triggered;
        let (heading, outcome) = match (alert.status, group.status) {
            (_, AlertStatus::Triggered) => ("Acknowledge this alert?".to_string(), String::new()),
            (_, AlertStatus::Resolved) => (
                "Already resolved".to_string(),
                "Nothing of it is open any more: nothing escalates.".to_string(),
            ),
            (AlertStatus::Resolved, _) => (
                "Already resolved".to_string(),
                "The rest of its group is acknowledged: escalation stops.".to_string(),
            ),
            _ => (
                "Acknowledged".to_string(),
                match &alert.acknowledged_by {
                    Some(by) => {
                        format!("By {by}. Escalation stops. Resolve it in siaga when it is fixed.")
                    }
                    None => "Escalation stops. Resolve it in siaga when it is fixed.".to_string(),
                },
            ),
        };
        AckPage {
            layout: Layout::anonymous(),
            problem: None,
            done,
            heading,
            outcome,
            severity: alert.severity.as_str(),
            summary: alert.summary,
            service: alert.service,
            status: alert.status.as_str(),
            person,
        }
    }
}

fn ack_problem(error: crate::app::escalation::AckLinkError) -> Response {
    use crate::app::escalation::AckLinkError;
    let (status, message) = match error {
        AckLinkError::Expired => (
            StatusCode::GONE,
            "The link has expired. Acknowledge the alert in siaga instead.",
        ),
        AckLinkError::Tampered | AckLinkError::Malformed => (
            StatusCode::FORBIDDEN,
            "The link is not one siaga sent, or it was changed.",
        ),
    };
    let page = AckPage {
        layout: Layout::anonymous(),
        problem: Some(message.into()),
        done: false,
        heading: String::new(),
        outcome: String::new(),
        severity: "info",
        summary: String::new(),
        service: String::new(),
        status: "",
        person: String::new(),
    };
    (status, render(&page)).into_response()
}

/// A one-click acknowledge link opens a confirmation (link scanners in
/// mail and chat follow GETs; only the button acknowledges).
async fn ack_page(
    State(app): State<App>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<Response, PageError> {
    let (alert_id, person) = match app
        .check_ack_link(&token)
        .await
        .map_err(app::Error::Internal)?
    {
        Ok(found) => found,
        Err(error) => return Ok(ack_problem(error)),
    };
    let detail = app.alert_detail(alert_id).await?;
    Ok(render(&AckPage::for_alert(detail, person)))
}

async fn ack_by_link(
    State(app): State<App>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<Response, PageError> {
    let detail = match app.acknowledge_by_link(&token).await? {
        Ok(detail) => detail,
        Err(error) => return Ok(ack_problem(error)),
    };
    let person = detail.alert.acknowledged_by.clone().unwrap_or_default();
    Ok(render(&AckPage::for_alert(detail, person)))
}
