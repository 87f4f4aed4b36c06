//! Every end-to-end test, in one binary, a module per area: the real functions' code through
//! the real AWS SDK against moto (`sais_local`), Notify's part played by the simulator. The
//! shared test support is the `e2e` library (`lib.rs`).
//!
//! `cargo test -p e2e` runs them all; `cargo test -p e2e webhook::` one area.

mod dispatch;
mod events;
mod iam;
mod ingest;
mod local_stack;
mod notify_client;
mod reports;
mod schedule;
mod teams;
mod webhook;
