//! Messages: one record per message, written as an intent (with a lease) before Notify is
//! called and completed after, so each is sent exactly once; its statuses as Notify reports
//! them. The audit trail a subject access request returns.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Store, StoreError, conditional, err, keys, s, sdk_err};
use crate::domain::Clock;
use crate::jobs::{JobKind, SendJob};
use crate::notify::Personalisation;
use crate::policy::{Channel, PlannedSend, Purpose};
use crate::uploads::TeamCode;

/// Message records and decisions are kept this long unless the team says otherwise.
pub const MESSAGE_RECORDS_DAYS: i64 = 400;

/// How long an attempt owns a message's intent: more than the dispatcher's 60-second timeout,
/// so a live attempt is never taken over; a dead one is, once this has passed.
pub const LEASE_SECONDS: i64 = 120;

const MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x2f6b_8e1a_5c3d_4e9f_a0b1_c2d3_e4f5_0617);

/// The deterministic id of one message: (campaign, child, recipient, purpose, channel).
pub fn message_id(job: &SendJob, send: &PlannedSend) -> String {
    let mut name = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        job.team,
        job.campaign_id,
        job.child_id,
        send.recipient,
        job.purpose.as_str(),
        send.channel.as_str()
    );
    if let Some(occasion) = &job.occasion {
        // A second reminder is a new message; a consent request keeps the id it always had.
        name.push_str(&format!("\non {occasion}"));
    }
    if job.attempt > 0 {
        // A retry is a new message; first attempts keep the ids they always had.
        name.push_str(&format!("\nretry {}", job.attempt));
    }
    Uuid::new_v5(&MESSAGE_NAMESPACE, name.as_bytes()).to_string()
}

/// Where a message record is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Recorded before the Notify call; the lease says which attempt owns it.
    Intent,
    /// Notify accepted it.
    Sent,
    /// Notify refused it for its recipient.
    Failed,
}

impl MessageState {
    /// As stored: `intent`, `sent` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intent => "intent",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for MessageState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for MessageState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One status a message passed through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Notify's status (or ours: `intent`, `validation-failed`).
    pub status: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The record of one message: written before Notify is called, completed after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// `T#<team>#M#<message id>`.
    pub pk: String,
    /// `MSG`.
    pub sk: String,
    /// The child's partition: messages by child.
    pub gsi1pk: String,
    /// `MSG#<created at>#<message id>`.
    pub gsi1sk: String,
    /// `message`.
    pub item_type: String,
    /// The team.
    pub team: String,
    /// The deterministic message id (also Notify's `reference`).
    pub message_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The child.
    pub child_id: String,
    /// Why it was sent.
    pub purpose: Purpose,
    /// `email`, `sms` or `letter`.
    pub channel: Channel,
    /// The email address, phone number, or `letter`.
    pub recipient: String,
    /// Which parents it reaches.
    pub parent_slots: Vec<u8>,
    /// The Notify template.
    pub template_id: String,
    /// The template's version, once Notify has said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version: Option<u32>,
    /// What was filled into the template.
    pub personalisation: BTreeMap<String, String>,
    /// The policy's reason for this channel.
    pub reason: String,
    /// The recorded grounds, when this message overrode an objection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounds: Option<String>,
    /// Where the record is in its life: intent, sent or failed.
    pub state: MessageState,
    /// Notify's id, once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_id: Option<String>,
    /// The latest status.
    pub status: String,
    /// Every status, in order.
    pub status_history: Vec<StatusChange>,
    /// The job kind that sent it (`campaign`, `fallback`, `retry`).
    pub job_kind: JobKind,
    /// 0 for a first attempt, n for the n-th retry.
    #[serde(default)]
    pub attempt: u32,
    /// The job's occasion (a reminder's date, a session's date), carried to fallbacks and retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
    /// For a text: the fragments Notify bills for it, counted from the body it sent back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_fragments: Option<u32>,
    /// Until when (epoch seconds) the attempt that wrote or took over the intent owns it: no
    /// other attempt may reconcile or send before then. Longer than a dispatcher can live.
    #[serde(default)]
    pub lease_until: i64,
    /// When the intent was recorded.
    pub created_at: String,
    /// TTL.
    pub expires_at: i64,
}

impl MessageRecord {
    /// The intent to send `send` for `job`, made at `clock`'s now.
    pub fn intent(
        team: &TeamCode,
        job: &SendJob,
        send: &PlannedSend,
        template_id: Uuid,
        personalisation: &Personalisation,
        clock: &Clock,
    ) -> Self {
        let id = message_id(job, send);
        let now = clock.rfc3339();
        Self {
            pk: keys::message_pk(team, &id),
            sk: keys::MESSAGE_SK.into(),
            gsi1pk: keys::child_pk(team, &job.child_id),
            gsi1sk: keys::message_by_child_sk(&now, &id),
            item_type: "message".into(),
            team: team.to_string(),
            campaign_id: job.campaign_id.clone(),
            child_id: job.child_id.clone(),
            purpose: job.purpose,
            channel: send.channel,
            recipient: send.recipient.clone(),
            parent_slots: send.parent_slots.clone(),
            template_id: template_id.to_string(),
            template_version: None,
            personalisation: personalisation.clone(),
            reason: send.reason.into(),
            grounds: send.grounds.clone(),
            state: MessageState::Intent,
            notify_id: None,
            status: "intent".into(),
            status_history: vec![StatusChange {
                status: "intent".into(),
                at: now.clone(),
            }],
            job_kind: job.kind,
            attempt: job.attempt,
            occasion: job.occasion.clone(),
            sms_fragments: None,
            lease_until: clock.epoch() + LEASE_SECONDS,
            created_at: now,
            expires_at: clock.epoch() + MESSAGE_RECORDS_DAYS * 86_400,
            message_id: id,
        }
    }
}

impl Store {
    /// Records the intent to send; false when a record with that id already exists.
    pub async fn put_intent(&self, record: &MessageRecord) -> Result<bool, StoreError> {
        let mut record = record.clone();
        record.lease_until = self.now_epoch() + self.lease_seconds;
        let item = serde_dynamo::to_item(&record).map_err(err)?;
        conditional(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await,
        )
    }

    /// Takes over an intent whose lease has run out (its attempt died); false when the lease
    /// is still held or another attempt took it over first.
    pub async fn take_over(
        &self,
        team: &TeamCode,
        message_id: &str,
        expired_lease: i64,
    ) -> Result<bool, StoreError> {
        if expired_lease > self.now_epoch() {
            return Ok(false);
        }
        conditional(
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(keys::message_pk(team, message_id)))
                .key("sk", s(keys::MESSAGE_SK))
                .update_expression("SET lease_until = :new")
                .condition_expression("#state = :intent AND lease_until = :old")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":intent", s("intent"))
                .expression_attribute_values(":old", AttributeValue::N(expired_lease.to_string()))
                .expression_attribute_values(
                    ":new",
                    AttributeValue::N((self.now_epoch() + self.lease_seconds).to_string()),
                )
                .send()
                .await,
        )
    }

    /// A message record by id.
    pub async fn message(
        &self,
        team: &TeamCode,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, StoreError> {
        match self
            .get(keys::message_pk(team, message_id), keys::MESSAGE_SK)
            .await?
        {
            Some(item) => serde_dynamo::from_item(item).map(Some).map_err(err),
            None => Ok(None),
        }
    }

    /// Completes a record after Notify accepted the message. A receipt that raced ahead of
    /// this update keeps its (later) status.
    pub async fn mark_sent(
        &self,
        team: &TeamCode,
        message_id: &str,
        notify_id: Uuid,
        template_version: u32,
        status: &str,
        sms_fragments: Option<u32>,
    ) -> Result<(), StoreError> {
        let change = self.status_change(status)?;
        let update = |with_status: bool| {
            let mut u = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(keys::message_pk(team, message_id)))
                .key("sk", s(keys::MESSAGE_SK))
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":sent", s("sent"))
                .expression_attribute_values(":nid", s(notify_id.to_string()))
                .expression_attribute_values(":v", AttributeValue::N(template_version.to_string()))
                .expression_attribute_values(":g2", s(keys::notify_id_pk(team, &notify_id)))
                .expression_attribute_values(":msg", s(keys::MESSAGE_SK));
            let mut base = "SET #state = :sent, notify_id = :nid, template_version = :v, gsi2pk = :g2, gsi2sk = :msg".to_owned();
            if let Some(n) = sms_fragments {
                // What the text cost (Notify bills per fragment); the body itself is not kept.
                base.push_str(", sms_fragments = :frags");
                u = u.expression_attribute_values(":frags", AttributeValue::N(n.to_string()));
            }
            if with_status {
                u = u
                    .update_expression(format!(
                        "{base}, #status = :st, status_history = list_append(status_history, :change)"
                    ))
                    .condition_expression("#status = :intent")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":st", s(status))
                    .expression_attribute_values(":intent", s("intent"))
                    .expression_attribute_values(":change", change.clone());
            } else {
                u = u
                    .update_expression(base.clone())
                    .condition_expression("attribute_exists(pk)");
            }
            u
        };
        if !conditional(update(true).send().await)? {
            update(false).send().await.map_err(sdk_err)?;
        }
        Ok(())
    }

    /// Moves a message's status from `expected` to `new`, appending to its history; false when
    /// the status was no longer `expected` (another callback got there first).
    ///
    /// `completes` is Notify's id when the record is still an intent: a receipt proves Notify
    /// created the message, so the record is completed as the dispatcher's own update would
    /// have (its attempt may have died before it could, and the retried job may no longer plan
    /// that message: the family answered, or the detail just failed).
    pub async fn apply_status(
        &self,
        team: &TeamCode,
        message_id: &str,
        expected: &str,
        new: &str,
        completes: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let mut update =
            "SET #status = :new, status_history = list_append(status_history, :change)".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::message_pk(team, message_id)))
            .key("sk", s(keys::MESSAGE_SK))
            .condition_expression("#status = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":new", s(new))
            .expression_attribute_values(":expected", s(expected))
            .expression_attribute_values(":change", self.status_change(new)?);
        if let Some(notify_id) = completes {
            update.push_str(", #state = :sent, notify_id = :nid, gsi2pk = :g2, gsi2sk = :msg");
            request = request
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":sent", s("sent"))
                .expression_attribute_values(":nid", s(notify_id.to_string()))
                .expression_attribute_values(":g2", s(keys::notify_id_pk(team, &notify_id)))
                .expression_attribute_values(":msg", s(keys::MESSAGE_SK));
        }
        conditional(request.update_expression(update).send().await)
    }

    /// Completes a record Notify refused for its recipient.
    pub async fn mark_failed(
        &self,
        team: &TeamCode,
        message_id: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        let change = self.status_change(status)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::message_pk(team, message_id)))
            .key("sk", s(keys::MESSAGE_SK))
            .update_expression("SET #state = :failed, #status = :st, status_history = list_append(status_history, :change)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":change", change)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}

impl Store {
    /// One entry for a record's `status_history`, as a one-element list to append.
    fn status_change(&self, status: &str) -> Result<AttributeValue, StoreError> {
        let change = serde_dynamo::to_attribute_value(StatusChange {
            status: status.to_owned(),
            at: self.clock.rfc3339(),
        })
        .map_err(err)?;
        Ok(AttributeValue::L(vec![change]))
    }
}
