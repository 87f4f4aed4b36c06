//! Callbacks from "Notify" to the service: delivery receipts and inbound texts, with the payloads
//! and retry rules of notifications-api's `app/celery/service_callback_tasks.py`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::sim::Sim;
use crate::state::{CallbackAttempt, CallbackKind, Record};
use crate::vocab::format_timestamp;

/// Notify gives the service's endpoint five seconds to answer.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Celery's `max_retries=5`: one attempt plus up to five retries.
pub const MAX_RETRIES: u32 = 5;

/// Where callbacks go and how they are authorised.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    /// The service's endpoint.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
}

impl std::fmt::Debug for CallbackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackTarget")
            .field("url", &self.url)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The delivery-receipt body (`send_delivery_status_to_service`); `status` is the raw status.
pub fn delivery_receipt(record: &Record) -> Value {
    json!({
        "id": record.id,
        "reference": record.reference,
        "to": record.to,
        "status": record.status.as_str(),
        "created_at": format_timestamp(record.created_at),
        "completed_at": record.updated_at.map(format_timestamp),
        "sent_at": record.sent_at.map(format_timestamp),
        "notification_type": record.kind.as_str(),
        "template_id": record.template_id,
        "template_version": record.template_version,
    })
}

/// The inbound-text body (`send_inbound_sms_to_service`).
pub fn inbound_sms(
    id: Uuid,
    source_number: &str,
    destination_number: &str,
    message: &str,
    received: OffsetDateTime,
) -> Value {
    json!({
        "id": id,
        "source_number": source_number,
        "destination_number": destination_number,
        "message": message,
        "date_received": format_timestamp(received),
    })
}

/// How one attempt went.
enum Outcome {
    Delivered(u16),
    Retry(Option<u16>, Option<String>),
    Drop(u16),
}

/// POSTs `payload`, retrying as Notify does: after connection errors, timeouts, 5xx and 429,
/// every `retry_interval`, at most [`MAX_RETRIES`] times; any other 4xx is dropped at once.
/// Gives up silently if the simulator is reset meanwhile.
pub async fn deliver(
    sim: Arc<Sim>,
    target: CallbackTarget,
    kind: CallbackKind,
    id: Uuid,
    notification_status: Option<String>,
    payload: Value,
    generation: u64,
) {
    let body = payload.to_string();
    for attempt in 1..=MAX_RETRIES + 1 {
        let mut request = sim
            .http
            .post(&target.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(token) = &target.bearer_token {
            request = request.bearer_auth(token);
        }
        let sent = tokio::select! {
            result = request.send() => result,
            () = sim.reset_signal(generation) => return,
        };
        let outcome = match sent {
            Ok(response) => {
                let code = response.status();
                if code.is_client_error() && code != http::StatusCode::TOO_MANY_REQUESTS {
                    Outcome::Drop(code.as_u16())
                } else if code.is_server_error() || code == http::StatusCode::TOO_MANY_REQUESTS {
                    Outcome::Retry(Some(code.as_u16()), None)
                } else {
                    Outcome::Delivered(code.as_u16())
                }
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timeout".to_owned()
                } else if e.is_connect() {
                    "connection error".to_owned()
                } else {
                    format!("request error: {e}")
                };
                Outcome::Retry(None, Some(what))
            }
        };
        let last = attempt > MAX_RETRIES;
        let (status_code, error, label) = match &outcome {
            Outcome::Delivered(c) => (Some(*c), None, "delivered"),
            Outcome::Drop(c) => (Some(*c), None, "dropped"),
            Outcome::Retry(c, e) => (*c, e.clone(), if last { "gave_up" } else { "retrying" }),
        };
        tracing::info!(
            callback = ?kind,
            %id,
            attempt,
            status_code,
            outcome = label,
            "callback attempt"
        );
        sim.log_callback(
            generation,
            CallbackAttempt {
                kind,
                id,
                attempt,
                notification_status: notification_status.clone(),
                at: OffsetDateTime::now_utc(),
                status_code,
                error,
                outcome: label,
            },
        );
        match outcome {
            Outcome::Retry(..) if !last => {
                if !sim.sleep_unless_reset(generation, sim.callback_retry).await {
                    return;
                }
            }
            _ => return,
        }
    }
}
