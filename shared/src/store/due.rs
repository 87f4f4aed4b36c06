//! Work the service owes later: retries due at a time, letters whose status must be polled
//! (Notify sends no callbacks for letters), and the manual follow-up list.
//!
//! Items (see docs/data-model.md):
//! - `DUE#<shard>` / `<due epoch, 10 digits>#<team>#<message id>`: a send job to queue at that
//!   time.
//! - `LETTERS_OPEN#<shard>` / `<team>#<message id>`: a letter not yet in a final status.
//! - `T#<team>#FOLLOWUP` / `<campaign>#<child>#<purpose>`: a family to contact by hand.
//!
//! The two work queues are spread over [`WORK_SHARDS`] partitions by [`work_shard`] of the
//! message id, so no one partition carries a national campaign's retries or letters. Items a
//! stack wrote before sharding (under the bare `DUE` / `LETTERS_OPEN`) are still read, and
//! deleted where they are.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, TTL_ATTRIBUTE, err, keys, s, sdk_err};
use crate::jobs::SendJob;

use crate::uploads::TeamCode;

/// The due jobs' partitions are `DUE#<shard>`; `DUE` alone is where they were before sharding.
const DUE_PK: &str = "DUE";
/// The open letters' partitions are `LETTERS_OPEN#<shard>`; `LETTERS_OPEN` alone is the old one.
const LETTERS_PK: &str = "LETTERS_OPEN";

/// How many partitions each work queue (`DUE`, `LETTERS_OPEN`) is spread over. The arithmetic is
/// in docs/data-model.md: for a 1,000,000-child campaign one hourly read is at most about
/// 42,500 read units (letters open to their 60-day expiry; due jobs about 15,600), so 16 shards
/// keep each partition's whole read under the 3,000 read units DynamoDB serves a partition in a
/// second; writes stay under 150 a second even unsharded (the limit is 1,000).
pub const WORK_SHARDS: u32 = 16;

/// How many of a queue's partitions (its shards and the old unsharded one) are read at once.
const SHARD_READS: usize = 8;

/// Which shard of a work queue a message's item lives in: the first four bytes of the SHA-256
/// of the message id (big-endian) modulo [`WORK_SHARDS`]. Fixed by definition, so every process
/// and every build agrees on it (never `std`'s randomly seeded hasher): deletes find what puts
/// wrote. (FNV-1a, used for the `gsi2` child shards, was not enough here: its high bits hardly
/// depend on an id's last bytes, and its low bits only on the low bits of each byte.)
pub fn work_shard(message_id: &str) -> u32 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(message_id.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % WORK_SHARDS
}

/// Partition `shard` of a work queue (`DUE` or `LETTERS_OPEN`).
fn shard_pk(queue: &str, shard: u32) -> String {
    format!("{queue}#{shard}")
}

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
                    .filter(|i| !self.expired(i)),
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
            .item("pk", s(shard_pk(DUE_PK, work_shard(message_id))))
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

    /// Every item of a work queue (`DUE` or `LETTERS_OPEN`), with a sort key at most `upto` when
    /// given: its shards and the partition items were written to before sharding, read
    /// [`SHARD_READS`] at a time, each paginated and without expired items.
    async fn work_queue(
        &self,
        queue: &str,
        upto: Option<String>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let partitions: Vec<String> = (0..WORK_SHARDS)
            .map(|shard| shard_pk(queue, shard))
            .chain(std::iter::once(queue.to_owned()))
            .collect();
        // Owned keys: a future over a borrowed key could not be proved `Send` for every
        // lifetime, and the receipts' port needs it to be.
        let parts: Vec<_> = futures::stream::iter(partitions)
            .map(|pk| {
                let upto = upto.clone();
                async move { self.partition(&pk, upto).await }
            })
            .buffer_unordered(SHARD_READS)
            .try_collect()
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Deletes a work queue's item with this sort key from the message's shard or, when it is
    /// not there, from the partition items were written to before sharding. The second delete
    /// happens only for such an old item (or one already deleted), so the old partition sees
    /// almost no traffic.
    async fn delete_work(&self, queue: &str, message_id: &str, sk: &str) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(shard_pk(queue, work_shard(message_id))))
            .key("sk", s(sk))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        if deleted.attributes.is_some_and(|a| !a.is_empty()) {
            return Ok(());
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(queue))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Every job due at or before `now` (epoch seconds), oldest first (by due time, then key).
    pub async fn due_jobs(&self, now: i64) -> Result<Vec<DueJob>, StoreError> {
        // '~' sorts after every character of a team code or message id.
        let items = self
            .work_queue(DUE_PK, Some(format!("{now:010}#~")))
            .await?;
        let mut jobs = items
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
            .collect::<Result<Vec<_>, StoreError>>()?;
        jobs.sort_by(|a, b| (a.due, &a.key).cmp(&(b.due, &b.key)));
        Ok(jobs)
    }

    /// Removes a due job once it is on the send queue. `key` is its [`DueJob::key`].
    pub async fn delete_due(&self, key: &str) -> Result<(), StoreError> {
        // `<due>#<team>#<message id>`: neither the due time nor a team code holds a '#'.
        let message_id = key
            .splitn(3, '#')
            .nth(2)
            .ok_or_else(|| err("due job key without a message id"))?;
        self.delete_work(DUE_PK, message_id, key).await
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
            .item("pk", s(shard_pk(LETTERS_PK, work_shard(message_id))))
            .item("sk", s(format!("{team}#{message_id}")))
            .item("item_type", s("open_letter"))
            .item("notify_id", s(notify_id.to_string()))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N((self.now_epoch() + 60 * 86_400).to_string()),
            )
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Letters still in progress, by team and message id.
    pub async fn open_letters(&self) -> Result<Vec<OpenLetter>, StoreError> {
        let mut items = self
            .work_queue(LETTERS_PK, None)
            .await?
            .into_iter()
            .map(|item| Ok((text(&item, "sk")?, item)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // The order one partition's query gave before sharding: by sort key.
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
            .iter()
            .map(|(sk, item)| {
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
        self.delete_work(LETTERS_PK, message_id, &format!("{team}#{message_id}"))
            .await
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
            .item("pk", s(keys::follow_up_pk(team)))
            .item("sk", s(format!("{campaign_id}#{child_id}#{purpose}")))
            .item("item_type", s("follow_up"))
            .item("campaign_id", s(campaign_id))
            .item("child_id", s(child_id))
            .item("purpose", s(purpose))
            .item("reason", s(reason))
            .item("listed_at", s(self.clock.rfc3339()))
            .item(TTL_ATTRIBUTE, self.records_ttl())
            .send()
            .await
            .map_err(sdk_err)?;
        tracing::info!(child_id, campaign_id, reason, "listed for manual follow-up");
        Ok(())
    }

    /// The team's manual follow-up list, by campaign and child.
    pub async fn follow_ups(&self, team: &TeamCode) -> Result<Vec<FollowUp>, StoreError> {
        let items = self.partition(&keys::follow_up_pk(team), None).await?;
        items
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(err))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_always_falls_in_the_same_shard() {
        // Pinned (checked against Python's hashlib): items already in a table are found by these
        // values, so they must never change.
        let pinned = [
            ("0b7e2a1c-9b0f-5c4e-8a55-3f1d2c4b6a70", 3),
            ("d2f1c0e4-7a6b-5d3c-9e8f-0a1b2c3d4e5f", 10),
            ("5e1a7c3b-2d4f-5a6b-8c9d-e0f1a2b3c4d5", 2),
            ("9a3c1f6e-4b2d-5e8a-b7c0-d1e2f3a4b5c6", 13),
            ("", 2),
        ];
        for (id, shard) in pinned {
            assert_eq!(work_shard(id), shard, "{id:?}");
        }
        assert_eq!(shard_pk(DUE_PK, work_shard(pinned[0].0)), "DUE#3");
        assert_eq!(
            shard_pk(LETTERS_PK, work_shard(pinned[1].0)),
            "LETTERS_OPEN#10"
        );
    }

    #[test]
    fn ten_thousand_message_ids_spread_over_every_shard() {
        let team = TeamCode::parse("RYG-sais").unwrap();
        let mut counts = [0u32; WORK_SHARDS as usize];
        for n in 0..10_000 {
            // Message ids are UUIDv5s; these are made the same way.
            let id = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("{team}\n{n}").as_bytes(),
            );
            let shard = work_shard(&id.to_string());
            assert!(shard < WORK_SHARDS);
            counts[shard as usize] += 1;
        }
        let mean = 10_000 / WORK_SHARDS;
        assert!(
            counts.iter().all(|&c| c > 0),
            "every shard used: {counts:?}"
        );
        assert!(
            counts.iter().all(|&c| c * 2 <= mean * 3),
            "no shard above 1.5 × the mean ({mean}): {counts:?}"
        );
    }
}
