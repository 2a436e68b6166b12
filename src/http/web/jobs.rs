//! The dead letters page (admin): jobs that failed on every attempt, what
//! they belonged to, and a button that puts one back in the queue.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{
    CsrfForm, Form, Layout, PageError, Path, Query, Viewer, check_csrf, render, utc_minute,
};
use crate::app::App;
use crate::app::jobs::Belonging;
use crate::domain::auth::Role;

pub fn router() -> Router<App> {
    Router::new()
        .route("/jobs", get(dead_letters_page))
        .route("/jobs/{id}/retry", post(retry_job))
}

struct DeadRow {
    id: i64,
    kind: String,
    attempts: u32,
    error: String,
    died_at: String,
    /// Who a delivery was for, and by which channel ("zul by webhook").
    recipient: String,
    /// What it belonged to, as text and a link when there is a page.
    belongs_to: String,
    link: Option<String>,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct DeadLettersPage {
    layout: Layout,
    jobs: Vec<DeadRow>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct PageParams {
    cursor: Option<String>,
}

async fn dead_letters_page(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Query(params): Query<PageParams>,
) -> Result<Response, PageError> {
    caller.require(Role::Admin)?;
    let page = app
        .dead_letters(params.cursor.as_deref(), Some(100))
        .await?;
    let jobs = page
        .items
        .into_iter()
        .map(|dead| {
            let (belongs_to, link) = match dead.belongs_to {
                Some(Belonging::Incident(id)) => (
                    crate::domain::incident::display_id(id),
                    Some(format!("/incidents/{id}")),
                ),
                Some(Belonging::AlertGroup { group, alert }) => (
                    format!("alert group #{group}"),
                    alert.map(|a| format!("/alerts/{a}")),
                ),
                None => (String::new(), None),
            };
            let recipient = match (
                dead.job.payload["person"].as_str(),
                dead.job.payload["channel"].as_str(),
            ) {
                (Some("chat"), Some(channel)) => format!("the incident's chat by {channel}"),
                (Some(person), Some(channel)) => format!("{person} by {channel}"),
                _ => String::new(),
            };
            DeadRow {
                id: dead.job.id,
                recipient,
                kind: dead.job.kind,
                attempts: dead.job.attempts,
                error: dead.job.last_error.unwrap_or_default(),
                died_at: dead.died_at.map(utc_minute).unwrap_or_default(),
                belongs_to,
                link,
            }
        })
        .collect();
    Ok(render(&DeadLettersPage {
        layout: Layout::for_caller(&caller, "jobs"),
        jobs,
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize)]
struct RetryForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    /// Where to go back to (the alert page retries from there too).
    next: Option<String>,
}

async fn retry_job(
    State(app): State<App>,
    Viewer(caller): Viewer,
    Path(id): Path<i64>,
    Form(form): Form<RetryForm>,
) -> Result<Response, PageError> {
    check_csrf(&caller, &form.csrf)?;
    caller.require(Role::Admin)?;
    app.retry_dead_job(&caller.actor(), id).await?;
    let next = form.next.as_deref().map_or("/jobs", super::local_path);
    Ok(Redirect::to(next).into_response())
}
