//! The webhook: Notify's delivery receipts and inbound texts, behind a Lambda Function URL.
//!
//! Each team's Notify service calls `…/notify/<team>` with the bearer token configured there.
//! The handler is plain (path, authorization header, body) → (status, body), so the Lambda
//! binary and the local runner serve the same code. Bad requests change nothing; valid
//! callbacks are answered 2xx quickly, even for notification ids we do not know, so Notify does
//! not retry them for nothing.

use serde::Deserialize;
use subtle::ConstantTimeEq;

use time::OffsetDateTime;

use crate::dispatch::records::OPTED_OUT;
use crate::domain::PhoneNumber;
use crate::notify::Status;
use crate::receipts::{Applied, ReceiptError, Receipts};
use crate::uploads::TeamCode;

/// The largest callback body accepted (Notify's are a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the handler answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// A short JSON body (never echoes the request).
    pub body: String,
}

fn reply(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: serde_json::json!({ "message": message }).to_string(),
    }
}

/// Notify's delivery receipt (notify.md, "Callbacks").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryReceipt {
    /// Notify's id.
    pub id: uuid::Uuid,
    /// Our message id, sent as `reference`.
    pub reference: Option<String>,
    /// The recipient as submitted (never logged).
    pub to: String,
    /// The status.
    pub status: String,
    /// When Notify created it.
    pub created_at: String,
    /// When it reached a final state.
    pub completed_at: Option<String>,
    /// When it was sent.
    pub sent_at: Option<String>,
    /// `email` or `sms`.
    pub notification_type: String,
    /// The template.
    pub template_id: uuid::Uuid,
    /// The template's version.
    pub template_version: u32,
}

/// Notify's inbound text callback.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundText {
    /// Notify's id.
    pub id: uuid::Uuid,
    /// The sender (a parent's number; never logged).
    pub source_number: String,
    /// The service's number.
    pub destination_number: String,
    /// The text (never logged).
    pub message: String,
    /// When it arrived.
    pub date_received: String,
}

/// A callback body of either kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Callback {
    /// A delivery receipt.
    Receipt(DeliveryReceipt),
    /// An inbound text.
    Inbound(InboundText),
}

/// What the webhook needs, built once per process.
#[derive(Debug, Clone)]
pub struct Webhook {
    receipts: Receipts,
    token: String,
}

/// Whether a text asks to stop texts: "STOP" or "UNSUBSCRIBE", any case, spaces around.
pub fn is_stop(message: &str) -> bool {
    let m = message.trim();
    m.eq_ignore_ascii_case("stop") || m.eq_ignore_ascii_case("unsubscribe")
}

impl Webhook {
    /// A webhook checking callbacks against `token` (the secret configured in Notify).
    pub fn new(receipts: Receipts, token: impl Into<String>) -> Self {
        Self {
            receipts,
            token: token.into(),
        }
    }

    /// Handles one request: `path` is the URL path, `authorization` the header's value.
    pub async fn handle(&self, path: &str, authorization: Option<&str>, body: &[u8]) -> Reply {
        let Some(team) = path
            .trim_end_matches('/')
            .strip_prefix("/notify/")
            .and_then(TeamCode::parse)
        else {
            return reply(404, "callbacks go to /notify/<team>");
        };
        let Some(authorization) = authorization else {
            return reply(401, "a bearer token is required");
        };
        let presented = authorization
            .strip_prefix("Bearer ")
            .unwrap_or("")
            .as_bytes();
        // Constant time, so the token cannot be guessed byte by byte from response times.
        if self.token.is_empty() || !bool::from(presented.ct_eq(self.token.as_bytes())) {
            return reply(403, "the bearer token is not valid");
        }
        if body.len() > MAX_BODY_BYTES {
            return reply(413, "the body is too large");
        }
        let callback: Callback = match serde_json::from_slice(body) {
            Ok(c) => c,
            Err(_) => return reply(400, "not a Notify delivery receipt or inbound text"),
        };
        let result = match callback {
            Callback::Receipt(receipt) => self.receipt(&team, &receipt).await,
            Callback::Inbound(inbound) => self.inbound(&team, &inbound).await,
        };
        match result {
            Ok(()) => reply(200, "ok"),
            Err(e) => {
                // Notify retries 5xx: the callback is not lost.
                tracing::error!(error = %e, "callback could not be recorded");
                reply(500, "try again")
            }
        }
    }

    async fn receipt(
        &self,
        team: &TeamCode,
        receipt: &DeliveryReceipt,
    ) -> Result<(), ReceiptError> {
        let Some(message_id) = receipt.reference.as_deref() else {
            tracing::warn!(notify_id = %receipt.id, metric = "unknown_notification", "receipt without a reference");
            return Ok(());
        };
        let status = Status::parse(&receipt.status);
        let applied = self
            .receipts
            .apply(team, message_id, &status, OffsetDateTime::now_utc())
            .await?;
        if applied == Applied::Unknown {
            // Answered 200 all the same: Notify would otherwise retry it for nothing.
            tracing::warn!(notify_id = %receipt.id, metric = "unknown_notification", "receipt for a message we do not know");
        }
        Ok(())
    }

    async fn inbound(&self, team: &TeamCode, inbound: &InboundText) -> Result<(), ReceiptError> {
        let store = self.receipts.store();
        let number = PhoneNumber::parse(&inbound.source_number).ok();
        if is_stop(&inbound.message) {
            match number {
                Some(number) => {
                    store
                        .set_detail_status(team, &format!("phone:{}", number.e164()), OPTED_OUT)
                        .await?;
                    tracing::info!(inbound_id = %inbound.id, "number opted out of texts");
                }
                None => {
                    tracing::warn!(inbound_id = %inbound.id, "STOP from a number that is not a UK number");
                }
            }
            return Ok(());
        }
        store
            .record_inbound(
                team,
                &inbound.id.to_string(),
                number.as_ref().map(|n| n.e164()),
                &inbound.message,
                &inbound.date_received,
            )
            .await?;
        tracing::info!(inbound_id = %inbound.id, "inbound text recorded for the team");
        Ok(())
    }
}

/// The Function URL adapter: a `lambda_http` request in, the handler's reply out.
pub async fn handle_http(
    webhook: &Webhook,
    request: &lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    let reply = if request.method() != lambda_http::http::Method::POST {
        reply(405, "callbacks are POSTed")
    } else {
        let authorization = request
            .headers()
            .get(lambda_http::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        webhook
            .handle(request.uri().path(), authorization, request.body().as_ref())
            .await
    };
    let mut response = lambda_http::Response::new(lambda_http::Body::from(reply.body));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(reply.status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_unsubscribe_in_any_case_with_spaces_opt_out() {
        for m in ["STOP", "stop", " Stop \n", "UNSUBSCRIBE", "unsubscribe "] {
            assert!(is_stop(m), "{m:?}");
        }
        for m in ["stop please", "STOPP", "don't stop", ""] {
            assert!(!is_stop(m), "{m:?}");
        }
    }
}
