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

    pub fn now(&self) -> Timestamp {
        match &self.0 {
            ClockKind::System => Timestamp::now(),
            ClockKind::Manual(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
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
