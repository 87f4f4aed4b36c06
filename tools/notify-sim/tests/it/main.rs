//! Integration tests: each test starts its own simulator on 127.0.0.1:0 and talks HTTP to it.

mod admin;
mod auth;
mod callbacks;
mod common;
mod faults;
mod limits;
mod sending;
mod services;
mod templates;
mod validation;
