//! Integration tests: one binary, a module per area. Tests marked with
//! `both_backends!` run once on SQLite and once on PostgreSQL.

mod process;
mod support;

mod browser;
mod cli;
mod conformance;
mod email;
mod escalation;
mod http_api;
mod http_web;
mod incidents;
mod ingest;
mod jobs;
mod oncall;
mod replicas;
mod smtp_sink;
mod store;
