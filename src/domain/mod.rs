//! The nouns and rules of siaga. Pure: no IO, no async, no clock reads
//! (time is passed in), nothing of SQL or HTTP.

pub mod alert;
pub mod auth;
pub mod escalation;
pub mod event;
pub mod incident;
pub mod ingest;
pub mod job;
pub mod org;
pub mod page;
pub mod schedule;
