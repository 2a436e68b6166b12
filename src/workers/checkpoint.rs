//! Takes SQLite's write-ahead log checkpoints off the commit path (see
//! [`crate::store::Store::checkpoint`]).

use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;

/// How often the log is checkpointed: a 64-alert webhook stream writes
/// ~20,000 log pages a second, and each pass should stay well below the
/// writer's backstop of 10,000.
pub const EVERY: Duration = Duration::from_millis(250);

/// Checkpoints every [`EVERY`] until told to stop; returns at once on
/// PostgreSQL, which has no such log to keep short.
pub async fn run(app: App, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        match app.store.checkpoint().await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(error) => tracing::warn!("checkpointing the SQLite log failed: {error}"),
        }
    }
}
