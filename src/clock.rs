//! The only code that reads the wall clock, so tests can move time.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

/// A source of "now". Production uses the system clock; tests use a manual one.
#[derive(Clone)]
pub struct Clock(ClockKind);

#[derive(Clone)]
enum ClockKind {
    System,
    Manual(Arc<Mutex<Timestamp>>),
}

impl Clock {
    pub fn system() -> Self {
        Self(ClockKind::System)
    }

    /// A clock that stands still until moved with [`Clock::advance`] or [`Clock::set`].
    pub fn manual(start: Timestamp) -> Self {
        Self(ClockKind::Manual(Arc::new(Mutex::new(start))))
    }

    /// Now, to the millisecond: as the store keeps times, so that what an
    /// answer says was written (`ends_at`, `acknowledged_at`) is what a
    /// later read gives back.
    pub fn now(&self) -> Timestamp {
        let now = match &self.0 {
            ClockKind::System => Timestamp::now(),
            ClockKind::Manual(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        };
        Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
    }

    /// Moves a manual clock forward; a system clock cannot be moved.
    pub fn advance(&self, by: SignedDuration) {
        if let ClockKind::Manual(at) = &self.0 {
            let mut at = at.lock().unwrap_or_else(|e| e.into_inner());
            *at = at
                .saturating_add(by)
                .expect("clock moved past the end of time");
        }
    }

    pub fn set(&self, to: Timestamp) {
        if let ClockKind::Manual(at) = &self.0 {
            *at.lock().unwrap_or_else(|e| e.into_inner()) = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_to_the_millisecond_as_stored() {
        let clock = Clock::manual("2026-11-02T09:00:00.123456789Z".parse().unwrap());
        assert_eq!(
            clock.now(),
            "2026-11-02T09:00:00.123Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(Clock::system().now().subsec_nanosecond() % 1_000_000, 0);
    }
}
