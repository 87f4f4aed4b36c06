//! `/_sim/…`: the simulator's own control API (no auth), for tests and demos.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::callbacks::CallbackTarget;
use crate::sim::Sim;
use crate::state::{Fault, FaultMode, FaultOn, Notification};

/// The service's inbound number when `/_sim/inbound` does not name one.
pub const DEFAULT_INBOUND_NUMBER: &str = "447700900000";

/// The admin routes.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/_sim/notifications", get(notifications))
        .route("/_sim/callbacks", get(callbacks))
        .route("/_sim/inbound", post(inbound))
        .route("/_sim/faults", post(faults))
        .route("/_sim/callback-config", post(callback_config))
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
        .with_state(sim)
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(bad_request(format!("invalid request body: {e}"))))
}

/// Every notification accepted, oldest first, with its personalisation.
pub fn all_notifications(sim: &Sim) -> Vec<Notification> {
    sim.lock().records.iter().map(|r| r.snapshot()).collect()
}

async fn notifications(State(sim): State<Arc<Sim>>) -> Json<Vec<Notification>> {
    Json(all_notifications(&sim))
}

async fn callbacks(State(sim): State<Arc<Sim>>) -> Response {
    Json(sim.lock().callback_log.clone()).into_response()
}

#[derive(Deserialize)]
struct InboundRequest {
    source_number: String,
    message: String,
    destination_number: Option<String>,
}

async fn inbound(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let request: InboundRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let destination = request
        .destination_number
        .as_deref()
        .unwrap_or(DEFAULT_INBOUND_NUMBER);
    let (id, scheduled) = sim.receive_text(&request.source_number, destination, &request.message);
    (
        StatusCode::CREATED,
        Json(json!({ "id": id, "callback_scheduled": scheduled })),
    )
        .into_response()
}

/// `POST /_sim/faults`: `{"mode", "count"? | "for_ms"?, "hold_ms"?, "on"?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    mode: String,
    count: Option<u32>,
    for_ms: Option<u64>,
    hold_ms: Option<u64>,
    on: Option<String>,
}

const MODES: &str = "error_500, error_429, timeout, timeout_after_create, latency or clear";

impl FaultRequest {
    /// The fault asked for; `Ok(None)` for `clear`.
    fn fault(&self) -> Result<Option<Fault>, String> {
        if self.mode == "clear" {
            return Ok(None);
        }
        let mode = serde_json::from_value::<FaultMode>(Value::String(self.mode.clone()))
            .map_err(|_| format!("unknown mode {:?}: use {MODES}", self.mode))?;
        let mut fault = Fault::new(mode);
        match (self.count, self.for_ms) {
            (Some(_), Some(_)) => return Err("give count or for_ms, not both".into()),
            (Some(n), None) => fault = fault.count(n),
            (None, Some(0)) => return Err("for_ms must be more than 0".into()),
            (None, Some(ms)) => fault = fault.for_duration(Duration::from_millis(ms)),
            (None, None) => {}
        }
        if let Some(on) = &self.on {
            let on = serde_json::from_value::<FaultOn>(Value::String(on.clone()))
                .map_err(|_| format!("unknown on {on:?}: use send, get or any"))?;
            fault = fault.on(on);
        }
        if let Some(ms) = self.hold_ms {
            fault = fault.hold(Duration::from_millis(ms));
        }
        Ok(Some(fault))
    }
}

async fn faults(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let request: FaultRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let stats = match request.fault() {
        Err(message) => return bad_request(message),
        Ok(None) => {
            sim.clear_faults();
            sim.fault_stats()
        }
        Ok(Some(fault)) => sim.inject(fault),
    };
    Json(json!({ "queued": stats.queued, "windows_active": stats.windows_active })).into_response()
}

#[derive(Deserialize)]
struct CallbackConfigRequest {
    url: Option<String>,
    bearer_token: Option<String>,
}

async fn callback_config(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let request: CallbackConfigRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let enabled = request.url.is_some();
    sim.set_callback_target(request.url.map(|url| CallbackTarget {
        url,
        bearer_token: request.bearer_token,
    }));
    Json(json!({ "callbacks_enabled": enabled })).into_response()
}

async fn stats(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(sim.stats())
}

async fn reset(State(sim): State<Arc<Sim>>) -> Json<Value> {
    sim.reset();
    Json(json!({ "reset": true }))
}
