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
use crate::state::{Fault, FaultMode, Notification};

/// How long timeout faults hold a request by default (longer than most clients wait).
pub const DEFAULT_FAULT_HOLD: Duration = Duration::from_millis(30_000);
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

#[derive(Deserialize)]
struct FaultRequest {
    mode: String,
    #[serde(default = "one")]
    count: u32,
    hold_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

async fn faults(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let request: FaultRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let mut state = sim.lock();
    if request.mode == "clear" {
        state.faults.clear();
        return Json(json!({ "queued": 0 })).into_response();
    }
    let Ok(mode) = serde_json::from_value::<FaultMode>(Value::String(request.mode.clone())) else {
        return bad_request(format!(
            "unknown mode {:?}: use error_500, timeout, timeout_after_create or clear",
            request.mode
        ));
    };
    let hold = request
        .hold_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_FAULT_HOLD);
    for _ in 0..request.count.min(100_000) {
        state.faults.push_back(Fault { mode, hold });
    }
    Json(json!({ "queued": state.faults.len() })).into_response()
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
