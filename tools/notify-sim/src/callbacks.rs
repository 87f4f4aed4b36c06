//! Callbacks from "Notify" to the service: the payloads of delivery receipts and inbound texts
//! and the retry rules of notifications-api's `app/celery/service_callback_tasks.py` (the
//! simulator delivers them: `Sim`'s callback loop).

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::state::Record;
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
