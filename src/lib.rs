//! siaga: self-hosted incident response in one binary.
//!
//! Data flows one way: `http` / `workers` / `cli` → `app` → `store` → `domain`.
//! See ARCHITECTURE.md for the map and the invariants each layer keeps.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod formats;
pub mod http;
pub mod mail;
pub mod outbound;
pub mod store;
pub mod workers;
