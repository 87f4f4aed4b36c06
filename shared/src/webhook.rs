//! The webhook: Notify's delivery receipts and inbound texts, behind a Lambda Function URL.
//!
//! Each team's Notify service calls `…/notify/<team>` with the bearer token configured there.
//! The handler is plain (path, authorization header, body) → (status, body), so the Lambda
//! binary and the local runner serve the same code. Bad requests change nothing; valid
//! callbacks are answered 2xx quickly, even for notification ids we do not know, so Notify does
//! not retry them for nothing.

use std::sync::Arc;

use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::domain::ContactDetail;
use crate::domain::PhoneNumber;
use crate::notify::Status;
use crate::receipts::{Applied, ReceiptError, Receipts};
use crate::store::OPTED_OUT;
use crate::teams::{TeamDirectory, TeamError};
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

/// Notify's delivery receipt (notify.md, "Callbacks"), as far as the service uses it.
///
/// Read as Notify documents it and tolerant of additions: Notify has added callback fields before
/// (`template_id`, `template_version`) and never retries a 4xx, so a field it adds tomorrow must
/// not lose today's receipts. Unknown fields, and documented fields the service does not use
/// (`to`, `created_at`, `completed_at`, `sent_at`, `notification_type`, `template_id`,
/// `template_version`), are ignored. The fields it uses are required: `id`, `status`, and
/// `reference`, which must be present but may be `null`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryReceipt {
    /// Notify's id.
    pub id: uuid::Uuid,
    /// Our message id, sent as `reference`; `null` for a notification we did not send.
    #[serde(deserialize_with = "present_or_null")]
    pub reference: Option<String>,
    /// The status, as Notify names it (a name Notify adds later is [`Status::Unknown`]).
    pub status: Status,
}

/// Notify's inbound text callback, as far as the service uses it: `id`, `source_number`,
/// `message` and `date_received` are required; `destination_number` and anything Notify adds
/// later are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundText {
    /// Notify's id.
    pub id: uuid::Uuid,
    /// The sender (a parent's number; never logged).
    pub source_number: String,
    /// The text (never logged).
    pub message: String,
    /// When it arrived.
    pub date_received: String,
}

/// A required field whose value may be `null` (serde treats a missing `Option` as `None`).
fn present_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// A callback body of either kind. A receipt has a `status`; an inbound text has a
/// `source_number` and a `message`. A body with neither shape is not a callback (400).
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
    teams: Option<Arc<TeamDirectory>>,
    /// The stack's teams (the template's `Teams`): where a callback of a Notify service that
    /// several teams share is looked for when it is not the path's team's.
    stack_teams: Vec<TeamCode>,
}

/// The words that opt a number out of texts, as parents write them (compared without case,
/// after the white space and punctuation around them are dropped).
pub const OPT_OUT_WORDS: [&str; 7] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPT OUT",
];

/// Whether a text asks to stop texts: one of [`OPT_OUT_WORDS`], in any case, with white space
/// and punctuation around it ignored ("Stop.", " STOP! ", "opt-out"). Any other text — "stop
/// texting me about flu", "Wrong number" — is a reply for staff to read, not an opt-out.
pub fn is_stop(message: &str) -> bool {
    let word = message.trim_matches(|c: char| !c.is_alphanumeric());
    if word.len() > 16 {
        return false;
    }
    // "opt out", "opt-out", "opt  out" and "optout" are the same words.
    let mut normalised = String::with_capacity(word.len());
    for part in word.split(|c: char| c.is_whitespace() || c == '-' || c == '_') {
        if part.is_empty() {
            continue;
        }
        if !normalised.is_empty() {
            normalised.push(' ');
        }
        normalised.push_str(part);
    }
    normalised.eq_ignore_ascii_case("optout")
        || OPT_OUT_WORDS
            .iter()
            .any(|w| normalised.eq_ignore_ascii_case(w))
}

/// The longest status name logged as it is; Notify's are at most 17 characters.
const MAX_LOGGED_STATUS: usize = 40;

/// A status name fit for a log line: only the characters Notify's names use, bounded in length
/// (whoever holds the token could otherwise write anything into our logs).
fn loggable_status(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(MAX_LOGGED_STATUS)
        .collect()
}

impl Webhook {
    /// A webhook checking every team's callbacks against `token` (the secret configured in
    /// Notify; one token per line while it is being rotated).
    pub fn new(receipts: Receipts, token: impl Into<String>) -> Self {
        Self {
            receipts,
            token: token.into(),
            teams: None,
            stack_teams: Vec::new(),
        }
    }

    /// The stack's teams (`TEAMS`). Notify calls one URL per service: when teams share a
    /// service (the deployment's default, or one named in several `team.json`s), its callbacks
    /// all arrive on one team's path, and a receipt or STOP belongs to whichever of the teams
    /// accepting the same token holds the message or number.
    pub fn with_stack_teams(mut self, teams: Vec<TeamCode>) -> Self {
        self.stack_teams = teams;
        self
    }

    /// The other teams of the stack that accept `presented` too: they share the path team's
    /// Notify service. A team whose token cannot be read now is left out (logged).
    async fn sharing(&self, team: &TeamCode, presented: &[u8]) -> Vec<TeamCode> {
        let mut sharing = Vec::new();
        for other in self.stack_teams.iter().filter(|t| *t != team) {
            match self.expected_tokens(other).await {
                Ok(tokens) if accepts(&tokens, presented) => sharing.push(other.clone()),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "a team's callback token could not be read"),
            }
        }
        sharing
    }

    /// Checks each team's callbacks against the token its own Notify service sends (the secret
    /// its settings name); `token` stays the one for teams that name none.
    pub fn with_team_tokens(mut self, teams: Arc<TeamDirectory>) -> Self {
        self.teams = Some(teams);
        self
    }

    /// The tokens that may sign a callback for `team`.
    async fn expected_tokens(&self, team: &TeamCode) -> Result<Vec<String>, TeamError> {
        match &self.teams {
            Some(teams) => teams.callback_tokens(team, &self.token).await,
            None => Ok(crate::teams::tokens(&self.token)),
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
        // Only the team's own token is good on the team's path.
        let expected = match self.expected_tokens(&team).await {
            Ok(expected) => expected,
            Err(e) => {
                // Our own failure (the table or Secrets Manager): Notify retries a 5xx.
                tracing::error!(error = %e, metric = "callback_failed", "the team's callback token could not be read");
                return reply(500, "try again");
            }
        };
        if !accepts(&expected, presented) {
            // Notify never retries a 4xx: a token changed on one side only loses every
            // callback until it is fixed, so each refusal is counted (alarm).
            tracing::warn!(
                team = team.as_str(),
                metric = "callback_refused",
                "callback refused: the bearer token is not this team's"
            );
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
            Callback::Receipt(receipt) => self.receipt(&team, presented, &receipt).await,
            Callback::Inbound(inbound) => self.inbound(&team, presented, &inbound).await,
        };
        match result {
            Ok(()) => reply(200, "ok"),
            Err(e) => {
                // Notify retries 5xx: the callback is not lost.
                tracing::error!(error = %e, metric = "callback_failed", "callback could not be recorded");
                reply(500, "try again")
            }
        }
    }

    async fn receipt(
        &self,
        team: &TeamCode,
        presented: &[u8],
        receipt: &DeliveryReceipt,
    ) -> Result<(), ReceiptError> {
        let Some(message_id) = receipt.reference.as_deref() else {
            tracing::warn!(notify_id = %receipt.id, metric = "unknown_notification", "receipt without a reference");
            return Ok(());
        };
        let now = self.receipts.clock().now();
        let mut applied = self
            .receipts
            .apply_receipt(team, message_id, Some(receipt.id), &receipt.status, now)
            .await?;
        if applied == Applied::Unknown {
            // Another team's message, sent through the Notify service the teams share.
            for other in self.sharing(team, presented).await {
                applied = self
                    .receipts
                    .apply_receipt(&other, message_id, Some(receipt.id), &receipt.status, now)
                    .await?;
                if applied != Applied::Unknown {
                    break;
                }
            }
        }
        match applied {
            // Answered 200 all the same: Notify would otherwise retry it for nothing.
            Applied::Unknown => {
                tracing::warn!(notify_id = %receipt.id, metric = "unknown_notification", "receipt for a message we do not know");
            }
            // A status Notify added after this code was written: answered 200 (Notify never
            // retries a 4xx, and a 5xx would only be retried for nothing), counted and alarmed
            // on; nothing changed until the code knows what it means.
            Applied::UnknownStatus => {
                tracing::warn!(
                    notify_id = %receipt.id,
                    message_id,
                    status = loggable_status(receipt.status.as_str()).as_str(),
                    metric = "unknown_status",
                    "receipt with a status this service does not know; nothing changed"
                );
            }
            Applied::Recorded | Applied::Stale => {}
        }
        Ok(())
    }

    async fn inbound(
        &self,
        team: &TeamCode,
        presented: &[u8],
        inbound: &InboundText,
    ) -> Result<(), ReceiptError> {
        let store = self.receipts.store();
        let number = PhoneNumber::parse(&inbound.source_number).ok();
        if is_stop(&inbound.message) {
            match number {
                Some(number) => {
                    // The parent asked the service's number to stop: every team texting from
                    // it stops.
                    let detail = ContactDetail::phone(&number).key();
                    store.set_detail_status(team, &detail, OPTED_OUT).await?;
                    for other in self.sharing(team, presented).await {
                        store.set_detail_status(&other, &detail, OPTED_OUT).await?;
                    }
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

/// Whether `presented` is one of `expected`: in constant time, so a token cannot be guessed byte
/// by byte from response times; every expected token is compared.
fn accepts(expected: &[String], presented: &[u8]) -> bool {
    let mut valid = subtle::Choice::from(0);
    for token in expected {
        valid |= presented.ct_eq(token.as_bytes());
    }
    bool::from(valid)
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
    fn every_opt_out_word_in_any_case_with_spaces_and_punctuation_opts_out() {
        for m in [
            "STOP",
            "stop",
            " Stop \n",
            "Stop.",
            " STOP! ",
            "stop!!!",
            "\"STOP\"",
            "STOPALL",
            "StopAll",
            "UNSUBSCRIBE",
            "unsubscribe ",
            "Cancel",
            "END.",
            "quit",
            "OPT OUT",
            "opt out",
            "Opt-out",
            "optout",
            "opt  out!",
            "STOP 🙏",
        ] {
            assert!(is_stop(m), "{m:?}");
        }
    }

    #[test]
    fn a_reply_in_a_parents_own_words_is_not_an_opt_out() {
        for m in [
            "stop please",
            "Please stop",
            "STOPP",
            "don't stop",
            "He's scared of needles, can we talk?",
            "Wrong number",
            "stop texting me about flu",
            "The end of term",
            "opt in",
            "",
            "...",
        ] {
            assert!(!is_stop(m), "{m:?}");
        }
    }

    fn parse(body: serde_json::Value) -> Result<Callback, serde_json::Error> {
        serde_json::from_value(body)
    }

    fn documented_receipt() -> serde_json::Value {
        // notify.md: every field of today's delivery receipt.
        serde_json::json!({
            "id": "740e5834-3a29-46b4-9a6f-16142fde533a",
            "reference": "12345678",
            "to": "07700900123",
            "status": "delivered",
            "created_at": "2017-05-14T12:15:30.000000Z",
            "completed_at": "2017-05-14T12:15:30.000000Z",
            "sent_at": "2017-05-14T12:15:30.000000Z",
            "notification_type": "sms",
            "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
            "template_version": 1
        })
    }

    fn documented_inbound() -> serde_json::Value {
        serde_json::json!({
            "id": "df3b1d43-2a2b-4a1e-9d19-2a8c6e0a1f4e",
            "source_number": "447700900111",
            "destination_number": "07700900000",
            "message": "Stop.",
            "date_received": "2017-05-14T12:15:30.000000Z"
        })
    }

    fn with_extra(mut body: serde_json::Value) -> serde_json::Value {
        body["cost_in_pounds"] = serde_json::json!(0.0227);
        body["is_international"] = serde_json::json!(false);
        body["new_field_next_year"] = serde_json::json!({"nested": [1, 2]});
        body
    }

    #[test]
    fn a_documented_receipt_is_read_with_or_without_fields_notify_adds_later() {
        for body in [documented_receipt(), with_extra(documented_receipt())] {
            let Ok(Callback::Receipt(r)) = parse(body) else {
                panic!("a receipt");
            };
            assert_eq!(r.reference.as_deref(), Some("12345678"));
            assert_eq!(r.status, Status::Delivered);
        }
    }

    #[test]
    fn a_receipt_with_a_null_reference_is_still_a_receipt() {
        let mut body = with_extra(documented_receipt());
        body["reference"] = serde_json::Value::Null;
        let Ok(Callback::Receipt(r)) = parse(body) else {
            panic!("a receipt");
        };
        assert_eq!(r.reference, None);
    }

    #[test]
    fn a_documented_inbound_text_is_read_with_or_without_fields_notify_adds_later() {
        for body in [documented_inbound(), with_extra(documented_inbound())] {
            let Ok(Callback::Inbound(t)) = parse(body) else {
                panic!("an inbound text");
            };
            assert_eq!(t.message, "Stop.");
        }
    }

    #[test]
    fn a_status_notify_adds_later_is_read_as_unknown_not_refused() {
        let mut body = documented_receipt();
        body["status"] = serde_json::json!("pending-virus-check");
        let Ok(Callback::Receipt(r)) = parse(body) else {
            panic!("a receipt");
        };
        assert_eq!(r.status, Status::Unknown("pending-virus-check".into()));
    }

    #[test]
    fn a_body_missing_a_field_the_service_uses_is_not_a_callback() {
        for field in ["id", "status", "reference"] {
            let mut body = documented_receipt();
            body.as_object_mut().unwrap().remove(field);
            assert!(parse(body).is_err(), "receipt without {field}");
        }
        for field in ["id", "source_number", "message", "date_received"] {
            let mut body = documented_inbound();
            body.as_object_mut().unwrap().remove(field);
            assert!(parse(body).is_err(), "inbound text without {field}");
        }
        for body in [
            serde_json::json!({}),
            serde_json::json!({"hello": "world"}),
            serde_json::json!([1, 2]),
            serde_json::json!("delivered"),
        ] {
            assert!(parse(body).is_err());
        }
    }

    #[test]
    fn a_status_name_is_logged_only_in_notifys_alphabet_and_bounded() {
        assert_eq!(
            loggable_status("pending-virus-check"),
            "pending-virus-check"
        );
        assert_eq!(loggable_status("a b\n\"c\"{}"), "abc");
        assert_eq!(loggable_status(&"x".repeat(500)).len(), MAX_LOGGED_STATUS);
    }
}
