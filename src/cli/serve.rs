//! `siaga serve`: the server process. Connects and migrates the store,
//! bootstraps the first admin, loads the config, then runs the HTTP server
//! and the job runner until SIGINT/SIGTERM, reloading the config on SIGHUP.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use jiff::SignedDuration;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{DEFAULT_LISTEN, DatabaseArgs, read_config};
use crate::app::App;
use crate::clock::Clock;
use crate::domain::event::Actor;
use crate::mail::{MailSettings, Mailer};
use crate::store::Store;
use crate::workers::JobRunner;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SIAGA_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The organisation config (YAML); reloaded on SIGHUP.
    #[arg(long, env = "SIAGA_CONFIG")]
    pub config: Option<PathBuf>,
    /// How long a claim on a job lasts (a duration such as `30s` or `2m`;
    /// at least 2s). A live replica renews its claims every third of this,
    /// so a job may run longer than the lease (a delivery waits up to 10s
    /// for its receiver); a replica that dies loses its claims after this
    /// long and the others take its jobs over.
    #[arg(long, env = "SIAGA_JOB_LEASE", default_value = "60s", value_parser = parse_job_lease)]
    pub job_lease: SignedDuration,
    /// How many jobs (escalation steps, deliveries, reminders) this process
    /// runs at once, so that slow receivers do not hold up the pages
    /// behind them.
    #[arg(long, env = "SIAGA_JOB_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub job_concurrency: u32,
    /// How long finished jobs (deliveries sent, steps taken) stay listed in
    /// `GET /api/v1/jobs` before an hourly purge deletes them (a duration
    /// such as `168h`). Dead jobs stay until retried; the event log keeps
    /// what every job did.
    #[arg(long, env = "SIAGA_KEEP_FINISHED_JOBS", default_value = "168h", value_parser = parse_retention)]
    pub keep_finished_jobs: SignedDuration,
    /// How long each message received from an alert source is kept as it
    /// was received, listed on its alert's page, before an hourly purge
    /// deletes it (a duration such as `720h`). Alerts keep their state,
    /// counts and times, and the event log keeps every change.
    #[arg(long, env = "SIAGA_KEEP_RECEIVED_MESSAGES", default_value = "720h", value_parser = parse_retention)]
    pub keep_received_messages: SignedDuration,
    /// Send email notifications through this SMTP server:
    /// `smtp://USER:PASSWORD@HOST:587` (STARTTLS required),
    /// `smtp://HOST:25?starttls=opportunistic` or `smtps://HOST:465`.
    #[arg(long, env = "SIAGA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of email notifications, as `siaga@example.com` or
    /// `Siaga <siaga@example.com>`; required with --smtp-url.
    #[arg(long, env = "SIAGA_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// CA certificates (PEM) to trust for the SMTP server, besides the
    /// system's.
    #[arg(long, env = "SIAGA_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
}

/// Below this, a renewal every third of the lease leaves too little room
/// for a slow database round trip, and a live replica could lose its jobs.
const MIN_JOB_LEASE: SignedDuration = SignedDuration::from_secs(2);

fn parse_job_lease(text: &str) -> Result<SignedDuration, String> {
    let lease: SignedDuration = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as `30s` or `2m`"))?;
    if lease < MIN_JOB_LEASE {
        return Err(format!(
            "the job lease must be at least {MIN_JOB_LEASE:#}: claims are renewed every third of it, and a shorter one lets a busy replica lose jobs it is still running"
        ));
    }
    Ok(lease)
}

fn parse_retention(text: &str) -> Result<SignedDuration, String> {
    let keep: SignedDuration = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as `168h` or `30m`"))?;
    if keep.is_negative() {
        return Err(format!("`{text}` is negative: keep them for 0s or longer"));
    }
    Ok(keep)
}

/// How long in-flight requests get to finish after SIGINT/SIGTERM.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    // Take over the signals first: a SIGHUP or SIGTERM during start-up must
    // not kill the process with the default action.
    let signals = Signals::register()?;
    // Checked before the store: a bad SMTP setting is a typo to fix now,
    // not a surprise at the first page.
    let mailer = mailer(&args)?;
    let store = Store::connect(&args.database.database_url).await?;
    let clock = Clock::system();
    let _sole_server = store.claim_sole_server()?;
    if _sole_server.is_some() {
        // The only server of this database: claims left in it are from a
        // run that stopped mid-job, and can be run again now.
        let mut tx = store.write().await?;
        let released = tx.release_all_claims(clock.now()).await?;
        tx.commit().await?;
        if released > 0 {
            tracing::warn!(
                released,
                "jobs claimed by a previous run that stopped are due again"
            );
        }
    }
    tracing::info!(database = store.url(), "store ready");
    let mut app = App::new(store, clock);
    if let Some(mailer) = mailer {
        tracing::info!(
            server = mailer.settings().server(),
            from = mailer.sender(),
            "email notifications on"
        );
        app = app.with_mailer(mailer);
    }

    let given = std::env::var("SIAGA_BOOTSTRAP_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let bootstrap = app
        .bootstrap_admin(given.as_deref())
        .await
        .map_err(super::app_error)?;
    if let Some(bootstrap) = bootstrap {
        match bootstrap.generated_secret {
            Some(secret) => {
                println!(
                    "First start: created the admin user {} with this API token (shown once, keep it safe):",
                    bootstrap.email
                );
                println!("\n    {secret}\n");
                println!(
                    "Use it with the CLI (export SIAGA_TOKEN=...) or the API (Authorization: Bearer ...)."
                );
                println!(
                    "For the web UI, create a user with a password: siaga admin create-user --role admin ..."
                );
            }
            None => println!(
                "First start: created the admin user {} with the token from SIAGA_BOOTSTRAP_TOKEN.",
                bootstrap.email
            ),
        }
    }

    if let Some(path) = &args.config {
        let text = read_config(path)?;
        app.apply_config(
            &Actor::system("config-file"),
            &path.display().to_string(),
            &text,
        )
        .await
        .map_err(super::app_error)
        .with_context(|| format!("the config {} was not applied", path.display()))?;
        tracing::info!(config = %path.display(), "config applied");
    }

    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    println!("siaga is listening on http://{address}");

    let (stop, stopped) = watch::channel(false);
    tokio::spawn(watch_signals(
        signals,
        app.clone(),
        args.config.clone(),
        stop,
    ));
    let runner = tokio::spawn({
        let app = app.clone();
        let stopped = stopped.clone();
        let runner = JobRunner {
            lease: args.job_lease,
            concurrency: args.job_concurrency,
            keep_finished: args.keep_finished_jobs,
            keep_received: args.keep_received_messages,
            ..JobRunner::default()
        };
        async move { runner.run(app, stopped).await }
    });
    tokio::spawn(crate::workers::checkpoint::run(
        app.clone(),
        stopped.clone(),
    ));
    let server = crate::http::serve(app.clone(), listener, stopped.clone());
    let mut stopping = stopped.clone();
    let deadline = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
        tokio::time::sleep(DRAIN_DEADLINE).await;
    };
    tokio::select! {
        served = server => served.context("serving HTTP")?,
        () = deadline => tracing::warn!("in-flight requests did not finish within {DRAIN_DEADLINE:?}; stopping anyway"),
    }
    // In-flight requests are done; let the job runner finish its round.
    let _ = runner.await;
    app.store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The mailer the SMTP flags describe; `None` when there is no SMTP URL.
fn mailer(args: &ServeArgs) -> anyhow::Result<Option<Mailer>> {
    let Some(url) = &args.smtp_url else {
        if args.smtp_from.is_some() || args.smtp_ca_file.is_some() {
            bail!("--smtp-from and --smtp-ca-file need --smtp-url (SIAGA_SMTP_URL)");
        }
        return Ok(None);
    };
    let settings = MailSettings::parse(url)?;
    let Some(from) = &args.smtp_from else {
        bail!(
            "--smtp-url needs --smtp-from (SIAGA_SMTP_FROM), the sender of email notifications, \
             e.g. siaga@example.com"
        );
    };
    Ok(Some(Mailer::new(
        settings,
        from,
        args.smtp_ca_file.as_deref(),
    )?))
}

struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            hangup: signal(SignalKind::hangup()).context("listening for SIGHUP")?,
        })
    }
}

async fn watch_signals(
    signals: Signals,
    app: App,
    config: Option<PathBuf>,
    stop: watch::Sender<bool>,
) {
    let Signals {
        mut interrupt,
        mut terminate,
        mut hangup,
    } = signals;
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => reload_config(&app, config.as_ref()).await,
        }
    }
    tracing::info!("stopping: finishing in-flight requests and jobs");
    let _ = stop.send(true);
}

/// Applies the config file again. A bad file is refused with its errors and
/// the config in force stays live.
async fn reload_config(app: &App, config: Option<&PathBuf>) {
    let Some(path) = config else {
        tracing::warn!("SIGHUP received but siaga was started without --config; nothing to reload");
        return;
    };
    let text = match read_config(path) {
        Ok(text) => text,
        Err(error) => {
            tracing::error!("config reload refused: {error:#}");
            return;
        }
    };
    match app
        .apply_config(
            &Actor::system("config-file"),
            &path.display().to_string(),
            &text,
        )
        .await
    {
        Ok(applied) => tracing::info!(
            changes = applied.changes.len(),
            revision = applied.revision.id,
            "config reloaded"
        ),
        Err(crate::app::Error::Config(errors)) => {
            tracing::error!("config reload refused; the last good config stays live:\n{errors}")
        }
        Err(error) => {
            tracing::error!("config reload failed; the last good config stays live: {error:#}")
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIAGA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colour only for a terminal: in a file or a log collector the
    // escape codes are noise.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_lease_is_a_duration_of_at_least_two_seconds() {
        assert_eq!(parse_job_lease("10s"), Ok(SignedDuration::from_secs(10)));
        assert_eq!(parse_job_lease("2m"), Ok(SignedDuration::from_mins(2)));
        let short = parse_job_lease("1500ms").unwrap_err();
        assert!(short.contains("at least 2s"), "{short}");
        let garbage = parse_job_lease("soon").unwrap_err();
        assert!(garbage.contains("`soon` is not a duration"), "{garbage}");
    }

    #[test]
    fn retentions_are_durations_of_zero_or_more() {
        assert_eq!(parse_retention("168h"), Ok(SignedDuration::from_hours(168)));
        assert_eq!(parse_retention("0s"), Ok(SignedDuration::ZERO));
        let negative = parse_retention("-1h").unwrap_err();
        assert!(negative.contains("is negative"), "{negative}");
        let days = parse_retention("7d").unwrap_err();
        assert!(
            days.contains("`7d` is not a duration such as `168h`"),
            "{days}"
        );
    }
}
