//! `notify-sim`: a local stand-in for GOV.UK Notify's API v2, faithful enough to test a sender
//! against: JWT auth, request validation with Notify's messages, the token-bucket rate limit and
//! daily limits, templates (get, list, preview, and sends checked against them), simulated
//! recipients, delivery-receipt and inbound-text callbacks with Notify's retry rules, fault
//! injection, and several services in one simulator. See the crate README for what is and is
//! not simulated.

#![warn(missing_docs)]

mod admin;
mod api;
mod auth;
mod callbacks;
mod config;
mod errors;
mod rate_limit;
mod server;
mod sim;
mod state;
mod templates;
mod validation;
mod vocab;

pub use auth::{ApiKey, make_api_key, make_jwt};
pub use config::{Config, DailyLimits, ServiceConfig};
pub use server::{ServiceHandle, SimHandle, spawn};
pub use state::{
    CallbackAttempt, CallbackKind, Fault, FaultMode, FaultOn, FaultSpan, FaultStats, FaultsFired,
    Notification,
};
pub use templates::Template;
pub use vocab::NotificationType;
