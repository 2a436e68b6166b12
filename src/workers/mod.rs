//! Background loops. Each has a `run_once(&app, now)` that tests call
//! directly, and a thin loop around it that stops when told to.

pub mod checkpoint;
pub mod jobs;

pub use jobs::{JobRunner, Outcome};
