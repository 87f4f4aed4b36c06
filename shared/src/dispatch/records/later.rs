//! Work the service owes later: retries due at a time, letters whose status must be polled
//! (Notify sends no callbacks for letters), and the manual follow-up list.
//!
//! Items (see docs/data-model.md):
//! - `DUE` / `<due epoch, 10 digits>#<team>#<message id>`: a send job to queue at that time.
//! - `LETTERS_OPEN` / `<team>#<message id>`: a letter not yet in a final status.
//! - `T#<team>#FOLLOWUP` / `<campaign>#<child>#<purpose>`: a family to contact by hand.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{MESSAGE_RECORDS_DAYS, Store, StoreError, err, now_epoch, s, sdk_err};
use crate::dispatch::SendJob;
use crate::files::now_rfc3339;
use crate::store::TTL_ATTRIBUTE;
use crate::uploads::TeamCode;

const DUE_PK: &str = "DUE";
const LETTERS_PK: &str = "LETTERS_OPEN";

/// A send job waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueJob {
    /// The item's sort key (to delete it once queued).
    pub key: String,
    /// When it is due (epoch seconds).
    pub due: i64,
    /// The job.
    pub job: SendJob,
}

/// A letter still in progress at Notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLetter {
    /// The team.
    pub team: TeamCode,
    /// Our message id.
    pub message_id: String,
    /// Notify's id.
    pub notify_id: uuid::Uuid,
}

/// A family the service could not reach: the team follows up by phone or through the school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// The campaign.
    pub campaign_id: String,
    /// The child's opaque id.
    pub child_id: String,
    /// The purpose that could not be delivered.
    pub purpose: String,
    /// Why (`restricted_no_letter`, `letters_off`, `letter_validation-failed`, …).
    pub reason: String,
    /// When it was listed.
    pub listed_at: String,
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| err(format!("item without {name}")))
}

impl Store {
    /// Every item of partition `pk` (with a sort key at most `upto`, when given), in key order.
    pub(super) async fn partition(
        &self,
        pk: &str,
        upto: Option<String>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start);
            query = match &upto {
                Some(upto) => query
                    .key_condition_expression("pk = :pk AND sk <= :upto")
                    .expression_attribute_values(":upto", s(upto)),
                None => query.key_condition_expression("pk = :pk"),
            };
            let page = query.send().await.map_err(sdk_err)?;
            // DynamoDB deletes expired items late: treat them as gone.
            items.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|i| !super::expired(i)),
            );
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Keeps `job` until `due` (epoch seconds). Idempotent: the same message's retry is one item.
    pub async fn schedule_job(
        &self,
        due: i64,
        message_id: &str,
        job: &SendJob,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(job).map_err(err)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(DUE_PK))
            .item("sk", s(format!("{due:010}#{}#{message_id}", job.team)))
            .item("item_type", s("due_job"))
            .item("job", s(body))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N((due + 30 * 86_400).to_string()),
            )
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Every job due at or before `now` (epoch seconds), oldest first.
    pub async fn due_jobs(&self, now: i64) -> Result<Vec<DueJob>, StoreError> {
        // '~' sorts after every character of a team code or message id.
        let items = self.partition(DUE_PK, Some(format!("{now:010}#~"))).await?;
        items
            .iter()
            .map(|item| {
                let key = text(item, "sk")?;
                let due = key
                    .split('#')
                    .next()
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| err("due item with a bad key"))?;
                let job = serde_json::from_str(&text(item, "job")?).map_err(err)?;
                Ok(DueJob { key, due, job })
            })
            .collect()
    }

    /// Removes a due job once it is on the send queue.
    pub async fn delete_due(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(DUE_PK))
            .key("sk", s(key))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Notes a letter Notify accepted, so its status is polled until final.
    pub async fn open_letter(
        &self,
        team: &TeamCode,
        message_id: &str,
        notify_id: uuid::Uuid,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(LETTERS_PK))
            .item("sk", s(format!("{team}#{message_id}")))
            .item("item_type", s("open_letter"))
            .item("notify_id", s(notify_id.to_string()))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N((now_epoch() + 60 * 86_400).to_string()),
            )
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Letters still in progress.
    pub async fn open_letters(&self) -> Result<Vec<OpenLetter>, StoreError> {
        let items = self.partition(LETTERS_PK, None).await?;
        items
            .iter()
            .map(|item| {
                let sk = text(item, "sk")?;
                let (team, message_id) = sk
                    .split_once('#')
                    .ok_or_else(|| err("open letter with a bad key"))?;
                Ok(OpenLetter {
                    team: TeamCode::parse(team).ok_or_else(|| err("open letter's team"))?,
                    message_id: message_id.to_owned(),
                    notify_id: text(item, "notify_id")?.parse().map_err(err)?,
                })
            })
            .collect()
    }

    /// Stops polling a letter (it reached a final status).
    pub async fn close_letter(&self, team: &TeamCode, message_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(LETTERS_PK))
            .key("sk", s(format!("{team}#{message_id}")))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Puts a (child, purpose) on the team's manual follow-up list (idempotent).
    pub async fn add_follow_up(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        child_id: &str,
        purpose: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("T#{team}#FOLLOWUP")))
            .item("sk", s(format!("{campaign_id}#{child_id}#{purpose}")))
            .item("item_type", s("follow_up"))
            .item("campaign_id", s(campaign_id))
            .item("child_id", s(child_id))
            .item("purpose", s(purpose))
            .item("reason", s(reason))
            .item("listed_at", s(now_rfc3339()))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N((now_epoch() + MESSAGE_RECORDS_DAYS * 86_400).to_string()),
            )
            .send()
            .await
            .map_err(sdk_err)?;
        tracing::info!(child_id, campaign_id, reason, "listed for manual follow-up");
        Ok(())
    }

    /// The team's manual follow-up list, by campaign and child.
    pub async fn follow_ups(&self, team: &TeamCode) -> Result<Vec<FollowUp>, StoreError> {
        let items = self.partition(&format!("T#{team}#FOLLOWUP"), None).await?;
        items
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(err))
            .collect()
    }
}
