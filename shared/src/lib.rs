//! The SAIS parent contact service: domain types, file formats, channel policy, the ports the
//! functions talk through, and their AWS implementations.
//!
//! The Lambda binaries in `functions/` are thin: they build clients once, then call into here.
//! Nothing in the domain modules knows about Lambda.

pub mod aws;
pub mod campaign;
pub mod campaign_report;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod erasure;
pub mod facts;
#[cfg(test)]
mod fakes;
pub mod files;
pub mod generate;
pub mod ingest;
pub mod jobs;
pub mod notify;
pub mod policy;
pub mod receipts;
pub mod sar;
pub mod schedule;
pub mod sqs_batch;
pub mod store;
pub mod teams;
pub mod telemetry;
pub mod uploads;
pub mod webhook;
