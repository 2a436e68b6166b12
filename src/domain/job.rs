//! Durable jobs: work that must happen later or again until it succeeds
//! (escalation timers, notification deliveries, reminders).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its due time, or for a retry.
    Pending,
    /// Claimed by a worker whose lease has not run out.
    Running,
    Done,
    /// Failed on every allowed attempt; kept for people to see and retry.
    Dead,
    /// Superseded before it ran (an escalation moved on by hand).
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        [
            JobState::Pending,
            JobState::Running,
            JobState::Done,
            JobState::Dead,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub run_at: Timestamp,
    pub max_attempts: u32,
    /// At most one job that is not done or dead holds a given key, so the
    /// same timer is never scheduled twice.
    pub unique_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: &str, payload: Value, run_at: Timestamp) -> Self {
        Self {
            kind: kind.into(),
            payload,
            run_at,
            max_attempts: 10,
            unique_key: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: Value,
    pub state: JobState,
    #[schema(value_type = String, format = DateTime)]
    pub run_at: Timestamp,
    /// Attempts started so far, the running one included.
    pub attempts: u32,
    pub max_attempts: u32,
    pub locked_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub locked_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub unique_key: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// When a failed attempt is retried: exponential from `base`, capped at
/// `max`, with up to `jitter` of the delay added at random so that many jobs
/// failing together do not retry together.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: SignedDuration,
    pub max: SignedDuration,
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: SignedDuration::from_secs(2),
            max: SignedDuration::from_secs(30 * 60),
            jitter: 0.2,
        }
    }
}

/// A failed attempt that knows better than the backoff whether, or when,
/// to try again: a receiver that refused for good (an HTTP 404, an SMTP
/// 550) is not asked again and again for an hour, and one that named a
/// time (`Retry-After`) is not asked before it. A job returns it as its
/// error (context may be added around it).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    pub retry: Retry,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Trying again cannot help until someone changes something: the job
    /// goes to the dead letters at once, where it can be retried by hand.
    Never,
    /// Not before this long from now.
    NotBefore(SignedDuration),
}

impl Backoff {
    /// How long to wait after failed attempt number `attempt` (1-based)
    /// as `retry` advises, if at all: `None` when the job must not be
    /// retried. A wait asked for is kept within `max`.
    pub fn wait(&self, attempt: u32, random: f64, retry: Option<Retry>) -> Option<SignedDuration> {
        let backoff = self.delay(attempt, random);
        match retry {
            None => Some(backoff),
            Some(Retry::Never) => None,
            Some(Retry::NotBefore(asked)) => Some(backoff.max(asked.min(self.max))),
        }
    }

    /// The delay after failed attempt number `attempt` (1-based).
    /// `random` is a number in `[0, 1)` supplied by the caller.
    pub fn delay(&self, attempt: u32, random: f64) -> SignedDuration {
        let exponent = attempt.saturating_sub(1).min(30);
        let factor = 2f64.powi(exponent as i32);
        let raw = (self.base.as_secs_f64() * factor).min(self.max.as_secs_f64());
        let jittered = raw * (1.0 + self.jitter * random.clamp(0.0, 1.0));
        SignedDuration::from_secs_f64(jittered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_retries_double() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        assert_eq!(b.delay(1, 0.5), SignedDuration::from_secs(2));
        assert_eq!(b.delay(2, 0.5), SignedDuration::from_secs(4));
        assert_eq!(b.delay(3, 0.5), SignedDuration::from_secs(8));
    }

    #[test]
    fn a_refusal_for_good_is_not_retried_and_a_named_time_is_kept() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        assert_eq!(b.wait(1, 0.0, Some(Retry::Never)), None);
        assert_eq!(b.wait(1, 0.0, None), Some(SignedDuration::from_secs(2)));
        let asked = SignedDuration::from_secs(120);
        assert_eq!(b.wait(1, 0.0, Some(Retry::NotBefore(asked))), Some(asked));
        // Never sooner than the backoff, never later than its cap.
        let soon = SignedDuration::from_secs(1);
        assert_eq!(
            b.wait(3, 0.0, Some(Retry::NotBefore(soon))),
            Some(SignedDuration::from_secs(8))
        );
        let day = SignedDuration::from_hours(24);
        assert_eq!(b.wait(1, 0.0, Some(Retry::NotBefore(day))), Some(b.max));
    }

    proptest! {
        #[test]
        fn delay_grows_and_stays_within_cap_plus_jitter(attempt in 1u32..100, random in 0.0f64..1.0) {
            let b = Backoff::default();
            let delay = b.delay(attempt, random);
            let cap = b.max.as_secs_f64() * (1.0 + b.jitter);
            prop_assert!(delay.as_secs_f64() <= cap + 1e-6);
            prop_assert!(delay >= b.base);
            // Without jitter the next delay is never shorter.
            prop_assert!(b.delay(attempt + 1, 0.0) >= b.delay(attempt, 0.0));
        }
    }
}
