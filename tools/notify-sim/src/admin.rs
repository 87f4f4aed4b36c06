//! `/_sim/…`: the simulator's own control API (no auth), for tests and demos.
//!
//! Every route acts on one service: the default (first) one, or the one named by a
//! `?service_id=<uuid>` query parameter (400 if it is not a UUID, 404 if there is no such
//! service). `POST /_sim/reset` without `service_id` resets every service.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::parse_python_uuid;
use crate::callbacks::CallbackTarget;
use crate::sim::{Service, Sim};
use crate::state::{Fault, FaultMode, FaultOn, Notification};
use crate::templates;

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
        .route("/_sim/services", get(services))
        .route(
            "/_sim/templates",
            get(list_templates)
                .post(put_template)
                .delete(clear_templates),
        )
        .route("/_sim/templates/{id}", delete(delete_template))
        .with_state(sim)
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(bad_request(format!("invalid request body: {e}"))))
}

/// `?service_id=`: which service an admin call is about.
#[derive(Deserialize, Default)]
struct Which {
    service_id: Option<String>,
}

impl Which {
    /// The named service, or the default one.
    fn service(&self, sim: &Sim) -> Result<Arc<Service>, Box<Response>> {
        let Some(raw) = &self.service_id else {
            return Ok(Arc::clone(sim.default_service()));
        };
        let id = parse_python_uuid(raw)
            .ok_or_else(|| Box::new(bad_request("service_id is not a valid UUID")))?;
        sim.service(id).cloned().ok_or_else(|| {
            Box::new(error(
                StatusCode::NOT_FOUND,
                format!("no service {id} in this simulator"),
            ))
        })
    }
}

/// Unwraps a `Result<T, Box<Response>>` or answers with the error.
macro_rules! or_answer {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return *response,
        }
    };
}

/// Every notification the default service accepted, oldest first, with its personalisation.
pub fn all_notifications(sim: &Sim) -> Vec<Notification> {
    sim.default_service().notifications()
}

async fn notifications(State(sim): State<Arc<Sim>>, Query(which): Query<Which>) -> Response {
    let service = or_answer!(which.service(&sim));
    Json(service.notifications()).into_response()
}

async fn callbacks(State(sim): State<Arc<Sim>>, Query(which): Query<Which>) -> Response {
    let service = or_answer!(which.service(&sim));
    Json(service.callback_log()).into_response()
}

#[derive(Deserialize)]
struct InboundRequest {
    source_number: String,
    message: String,
    destination_number: Option<String>,
    /// When the text was received (RFC 3339; default now): a rehearsal sends it on its day.
    #[serde(default, with = "time::serde::rfc3339::option")]
    received_at: Option<time::OffsetDateTime>,
}

async fn inbound(State(sim): State<Arc<Sim>>, Query(which): Query<Which>, body: Bytes) -> Response {
    let service = or_answer!(which.service(&sim));
    let request: InboundRequest = or_answer!(parse(&body));
    let destination = request
        .destination_number
        .as_deref()
        .unwrap_or(DEFAULT_INBOUND_NUMBER);
    let (id, scheduled) = sim.receive_text(
        &service,
        &request.source_number,
        destination,
        &request.message,
        request.received_at,
    );
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

async fn faults(State(sim): State<Arc<Sim>>, Query(which): Query<Which>, body: Bytes) -> Response {
    let service = or_answer!(which.service(&sim));
    let request: FaultRequest = or_answer!(parse(&body));
    let stats = match request.fault() {
        Err(message) => return bad_request(message),
        Ok(None) => {
            service.clear_faults();
            service.fault_stats()
        }
        Ok(Some(fault)) => service.inject(fault),
    };
    Json(json!({ "queued": stats.queued, "windows_active": stats.windows_active })).into_response()
}

#[derive(Deserialize)]
struct CallbackConfigRequest {
    url: Option<String>,
    bearer_token: Option<String>,
}

async fn callback_config(
    State(sim): State<Arc<Sim>>,
    Query(which): Query<Which>,
    body: Bytes,
) -> Response {
    let service = or_answer!(which.service(&sim));
    let request: CallbackConfigRequest = or_answer!(parse(&body));
    let enabled = request.url.is_some();
    service.set_callback_target(request.url.map(|url| CallbackTarget {
        url,
        bearer_token: request.bearer_token,
    }));
    Json(json!({ "callbacks_enabled": enabled })).into_response()
}

async fn stats(State(sim): State<Arc<Sim>>, Query(which): Query<Which>) -> Response {
    let service = or_answer!(which.service(&sim));
    Json(service.stats()).into_response()
}

async fn reset(State(sim): State<Arc<Sim>>, Query(which): Query<Which>) -> Response {
    if which.service_id.is_none() {
        sim.reset_all();
        return Json(json!({ "reset": true })).into_response();
    }
    let service = or_answer!(which.service(&sim));
    service.reset();
    Json(json!({ "reset": true, "service_id": service.id })).into_response()
}

/// `GET /_sim/services`: every service, the default first (no keys or tokens).
async fn services(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let services: Vec<Value> = sim
        .services()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "service_id": s.id,
                "default": i == 0,
                "rate_limit_per_min": s.rate_limit_per_min,
                "daily_limits": {
                    "email": s.daily_limits.email,
                    "sms": s.daily_limits.sms,
                    "letter": s.daily_limits.letter,
                },
                "callbacks_enabled": s.callback_target().is_some(),
                "templates": s.templates().len(),
            })
        })
        .collect();
    Json(json!({ "services": services }))
}

/// `GET /_sim/templates`: the service's templates as `GET /v2/template/{id}` shows them.
async fn list_templates(State(sim): State<Arc<Sim>>, Query(which): Query<Which>) -> Response {
    let service = or_answer!(which.service(&sim));
    let templates: Vec<Value> = service.templates().iter().map(|t| t.to_v2_json()).collect();
    Json(json!({ "templates": templates })).into_response()
}

/// `POST /_sim/templates` `{"id", "type", "name", "body", "subject"?, "version"?}`: creates
/// (201) or replaces (200) a template; answers with Notify's view of it.
async fn put_template(
    State(sim): State<Arc<Sim>>,
    Query(which): Query<Which>,
    body: Bytes,
) -> Response {
    let service = or_answer!(which.service(&sim));
    let value: Value = or_answer!(parse(&body));
    let template = match templates::from_admin_json(&value) {
        Ok(t) => t,
        Err(message) => return bad_request(message),
    };
    let (stored, replaced) = service.put_template(template);
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, Json(stored.to_v2_json())).into_response()
}

/// `DELETE /_sim/templates`: forgets every template, so sends are no longer checked.
async fn clear_templates(State(sim): State<Arc<Sim>>, Query(which): Query<Which>) -> Response {
    let service = or_answer!(which.service(&sim));
    service.clear_templates();
    Json(json!({ "templates": 0 })).into_response()
}

/// `DELETE /_sim/templates/{id}`.
async fn delete_template(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Query(which): Query<Which>,
) -> Response {
    let service = or_answer!(which.service(&sim));
    let Some(id) = parse_python_uuid(&id) else {
        return bad_request("template id is not a valid UUID");
    };
    if service.remove_template(id) {
        Json(json!({ "deleted": id })).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no template {id}"))
    }
}
