//! The `siaga` command: the server (`serve`), local administration that
//! works on the database directly (`migrate`, `admin`, `config validate`),
//! and a client of the HTTP API for everything else.

mod client;
mod incidents;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::domain::auth::Role;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://siaga-data/siaga.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Parser)]
#[command(
    name = "siaga",
    version,
    about = "Self-hosted incident response: alerts, on-call, escalation, incidents."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the API is and how to authenticate, for client commands.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// The siaga server's base URL.
    #[arg(
        long,
        env = "SIAGA_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// An API token (`siaga admin create-token` makes one).
    #[arg(long, env = "SIAGA_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print JSON instead of a table, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Args, Clone)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "SIAGA_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(DatabaseArgs),
    /// Check or apply the organisation config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Users and tokens, working on the database directly.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The service catalogue.
    #[command(subcommand)]
    Services(ServicesCommand),
    /// Alerts: list, show, acknowledge, resolve.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Where sources send events, with their keys (admin).
    #[command(subcommand)]
    Integrations(IntegrationsCommand),
    /// Maintenance windows: alerts are recorded but do not page.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Changes deploy tools announced (PagerDuty change events).
    #[command(subcommand)]
    Changes(ChangesCommand),
    /// API tokens: yours, or everyone's for an admin; revoke a leaked one.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Who is on call; overrides.
    #[command(subcommand)]
    Oncall(OncallCommand),
    /// Outgoing webhooks: the secret their signatures are made with (admin).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// The job queue: dead letters and retries (admin).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Incidents: declare, work and resolve them.
    #[command(subcommand, visible_alias = "incidents")]
    Incident(incidents::IncidentCommand),
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Jobs, newest first; `--state dead` lists the dead letters.
    List {
        /// pending, running, done, dead or cancelled.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Put a dead job back in the queue with fresh attempts, due now.
    Retry {
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Print the signing secret, for receivers that check X-Siaga-Signature.
    Secret {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Replace the signing secret; the next delivery is signed with the new one.
    RotateSecret {
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum OncallCommand {
    /// Who is on call on every schedule, now or --at a time.
    Now {
        /// RFC 3339, e.g. 2026-12-24T22:00:00+08:00.
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A schedule's shifts, gaps and load over a range (default: the next 7 days).
    Show {
        schedule: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Take a shift for someone: PERSON is on call on SCHEDULE from --from to --to.
    Override {
        schedule: String,
        #[arg(long)]
        person: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Give a schedule's calendar feed, or a person's own (--person), a new
    /// secret URL; the old one stops working.
    RotateFeed {
        #[arg(required_unless_present = "person")]
        schedule: Option<String>,
        /// The person (handle) whose own feed of their shifts to rotate.
        #[arg(long, conflicts_with = "schedule")]
        person: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove an override.
    RemoveOverride {
        schedule: String,
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// List alerts, newest first (open ones unless --status says otherwise).
    List {
        #[arg(long)]
        service: Option<String>,
        /// triggered, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
        /// critical, error, warning or info.
        #[arg(long)]
        severity: Option<String>,
        /// Only alerts seen since this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one alert with its events.
    Show {
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Acknowledge an alert.
    Ack {
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Resolve an alert.
    Resolve {
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Escalate an alert now instead of waiting for the level's timeout.
    Escalate {
        id: i64,
        /// The level (from 1) to notify; the next level when absent.
        #[arg(long)]
        level: Option<usize>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Reassign an alert to a person (paged now) or to another policy.
    Reassign {
        id: i64,
        /// Handle of the person to page.
        #[arg(long, conflicts_with = "policy", required_unless_present = "policy")]
        person: Option<String>,
        /// Name of the escalation policy to escalate along from its first level.
        #[arg(long)]
        policy: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum IntegrationsCommand {
    /// Every integration: service, kind, endpoint and key.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Tokens with their user, role and last use (never their secrets).
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a token at once: it stops working on the next request.
    Revoke {
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum ChangesCommand {
    /// Changes, newest first.
    List {
        #[arg(long)]
        service: Option<String>,
        /// How many (1 to 500; 50 when absent).
        #[arg(long)]
        limit: Option<u32>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum MaintenanceCommand {
    /// Windows that have not ended.
    List {
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Start a window now (or at --starts-at) for --duration or until --ends-at.
    Start {
        #[arg(long)]
        service: String,
        /// e.g. 2h, 90m.
        #[arg(long, conflicts_with = "ends_at")]
        duration: Option<String>,
        /// RFC 3339, e.g. 2026-12-06T03:00:00+08:00.
        #[arg(long)]
        ends_at: Option<String>,
        #[arg(long)]
        starts_at: Option<String>,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// End a window created through the API.
    Cancel {
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a config file and list every problem; exits 1 if there are any.
    Validate { file: PathBuf },
    /// Upload a config file to the server and make it live.
    Apply {
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user. The password is read from SIAGA_PASSWORD, or from the
    /// first line of standard input with --password-stdin.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role, default_value = "responder")]
        role: Role,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Create an API token for a user; the secret is printed once.
    CreateToken {
        #[arg(long)]
        email: String,
        /// What will use the token, e.g. `ci-pipeline`.
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role, default_value = "viewer")]
        role: Role,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Subcommand)]
enum ServicesCommand {
    /// List services.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one service: owner, tier, dependencies, runbook.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| format!("unknown role `{text}`; use viewer, responder or admin"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Migrate(database) => {
            let store = crate::store::Store::connect(&database.database_url).await?;
            println!("database at {} is up to date", store.url());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Validate { file }) => validate_config(&file),
        Command::Config(ConfigCommand::Apply { file, client }) => {
            client::apply_config(&client, &file).await
        }
        Command::Admin(command) => admin(command).await,
        Command::Services(ServicesCommand::List { client }) => client::list_services(&client).await,
        Command::Services(ServicesCommand::Show { name, client }) => {
            client::show_service(&client, &name).await
        }
        Command::Alerts(command) => alerts(command).await,
        Command::Integrations(IntegrationsCommand::List { client }) => {
            client::list_integrations(&client).await
        }
        Command::Maintenance(command) => maintenance(command).await,
        Command::Tokens(TokensCommand::List { client }) => client::list_tokens(&client).await,
        Command::Tokens(TokensCommand::Revoke { id, client }) => {
            client::revoke_token(&client, id).await
        }
        Command::Changes(ChangesCommand::List {
            service,
            limit,
            client,
        }) => client::list_changes(&client, service.as_deref(), limit).await,
        Command::Oncall(command) => oncall(command).await,
        Command::Jobs(JobsCommand::List { state, client }) => {
            client::list_jobs(&client, state.as_deref()).await
        }
        Command::Jobs(JobsCommand::Retry { id, client }) => client::retry_job(&client, id).await,
        Command::Webhooks(WebhooksCommand::Secret { client }) => {
            client::signing_secret(&client, false).await
        }
        Command::Webhooks(WebhooksCommand::RotateSecret { client }) => {
            client::signing_secret(&client, true).await
        }
        Command::Incident(command) => incidents::run(command).await,
    }
}

async fn oncall(command: OncallCommand) -> anyhow::Result<ExitCode> {
    match command {
        OncallCommand::Now { at, client } => client::on_call_now(&client, at.as_deref()).await,
        OncallCommand::Show {
            schedule,
            from,
            to,
            client,
        } => client::show_schedule(&client, &schedule, from.as_deref(), to.as_deref()).await,
        OncallCommand::Override {
            schedule,
            person,
            from,
            to,
            reason,
            client,
        } => {
            let body = serde_json::json!({"person": person, "starts_at": from, "ends_at": to, "reason": reason});
            client::create_override(&client, &schedule, body).await
        }
        OncallCommand::RotateFeed {
            schedule,
            person,
            client,
        } => {
            let feed = match (&schedule, &person) {
                (_, Some(person)) => client::FeedOwner::Person(person),
                (Some(schedule), None) => client::FeedOwner::Schedule(schedule),
                (None, None) => anyhow::bail!("name a schedule, or a person with --person"),
            };
            client::rotate_feed(&client, feed).await
        }
        OncallCommand::RemoveOverride {
            schedule,
            id,
            client,
        } => client::remove_override(&client, &schedule, id).await,
    }
}

async fn alerts(command: AlertsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AlertsCommand::List {
            service,
            status,
            severity,
            since,
            client,
        } => {
            let filters = [
                ("service", service),
                ("status", status),
                ("severity", severity),
                ("since", since),
            ];
            client::list_alerts(&client, &filters).await
        }
        AlertsCommand::Show { id, client } => client::show_alert(&client, id).await,
        AlertsCommand::Ack { id, client } => client::change_alert(&client, id, "acknowledge").await,
        AlertsCommand::Resolve { id, client } => client::change_alert(&client, id, "resolve").await,
        AlertsCommand::Escalate { id, level, client } => {
            client::escalate_alert(&client, id, serde_json::json!({ "level": level })).await
        }
        AlertsCommand::Reassign {
            id,
            person,
            policy,
            client,
        } => {
            let to = match (person, policy) {
                (Some(person), _) => serde_json::json!({ "person": person }),
                (None, policy) => serde_json::json!({ "policy": policy }),
            };
            client::reassign_alert(&client, id, to).await
        }
    }
}

async fn maintenance(command: MaintenanceCommand) -> anyhow::Result<ExitCode> {
    match command {
        MaintenanceCommand::List { service, client } => {
            client::list_maintenance(&client, service.as_deref()).await
        }
        MaintenanceCommand::Start {
            service,
            duration,
            ends_at,
            starts_at,
            reason,
            client,
        } => {
            let body = serde_json::json!({
                "service": service, "duration": duration, "ends_at": ends_at, "starts_at": starts_at, "reason": reason,
            });
            client::start_maintenance(&client, body).await
        }
        MaintenanceCommand::Cancel { id, client } => client::cancel_maintenance(&client, id).await,
    }
}

fn validate_config(file: &PathBuf) -> anyhow::Result<ExitCode> {
    let text = read_config(file)?;
    match crate::config::parse(&file.display().to_string(), &text) {
        Ok(org) => {
            println!(
                "{}: valid ({} people, {} teams, {} services, {} schedules)",
                file.display(),
                org.people.len(),
                org.teams.len(),
                org.services.len(),
                org.schedules.len()
            );
            if org.settings.base_url.is_none() && !org.escalation_policies.is_empty() {
                eprintln!(
                    "warning: organisation.base_url is not set: pages carry their acknowledge links as paths (/ack/…), which email and chat cannot open; set it to the address people reach siaga at"
                );
            }
            let now = crate::clock::Clock::system().now();
            for warning in crate::app::schedules::quality_warnings(&org, now) {
                eprintln!(
                    "warning: schedule {}: {}",
                    warning.schedule, warning.message
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprint!("{errors}");
            eprintln!(
                "{} in {}",
                crate::domain::counted(errors.issues.len(), "error"),
                file.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(crate) fn read_config(file: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", file.display()))
}

async fn admin(command: AdminCommand) -> anyhow::Result<ExitCode> {
    use crate::domain::event::Actor;
    let actor = Actor {
        kind: "cli".into(),
        name: std::env::var("USER").unwrap_or_else(|_| "admin".into()),
    };
    match command {
        AdminCommand::CreateUser {
            email,
            name,
            role,
            password_stdin,
            database,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                std::env::var("SIAGA_PASSWORD").ok()
            };
            let app = local_app(&database).await?;
            let user = app
                .create_user(&actor, &email, &name, role, password.as_deref())
                .await
                .map_err(app_error)?;
            println!(
                "created {} user {} (id {})",
                user.role.as_str(),
                user.email,
                user.id
            );
            if password.is_none() {
                println!(
                    "no password set (SIAGA_PASSWORD or --password-stdin): this user can only use API tokens"
                );
            }
        }
        AdminCommand::CreateToken {
            email,
            name,
            role,
            database,
        } => {
            let app = local_app(&database).await?;
            let created = app
                .create_api_token(&actor, Role::Admin, &email, &name, role)
                .await
                .map_err(app_error)?;
            eprintln!(
                "created {} token {} (id {}) for {email}; it is shown only now:",
                role.as_str(),
                name,
                created.token.id
            );
            println!("{}", created.secret);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn local_app(database: &DatabaseArgs) -> anyhow::Result<crate::app::App> {
    let store = crate::store::Store::connect(&database.database_url).await?;
    Ok(crate::app::App::new(store, crate::clock::Clock::system()))
}

/// Use-case errors as the CLI shows them.
fn app_error(error: crate::app::Error) -> anyhow::Error {
    match error {
        crate::app::Error::Invalid {
            message,
            field: Some(field),
            ..
        } => anyhow::anyhow!("{field}: {message}"),
        crate::app::Error::Config(errors) => anyhow::anyhow!("{errors}"),
        crate::app::Error::Internal(error) => error,
        other => anyhow::anyhow!("{other}"),
    }
}
