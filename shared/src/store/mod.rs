//! The contacts table, and the only code that talks to DynamoDB: one table holding children
//! (with their parents), contact-detail statuses, uploads, campaigns, messages and the work the
//! service owes later. `docs/data-model.md` lays out every item and access pattern; every key
//! shape is built in [`keys`].
//!
//! One module per aggregate:
//! - [`children`](children): the child item, its state item (responses, objections) and the
//!   lookups ingest makes;
//! - [`loading`](loading): everything a send job reads, in two round trips;
//! - [`messages`](messages): message records, their intents and leases, their statuses;
//! - [`contacts`](contacts): contact-detail statuses and inbound texts;
//! - [`campaigns`](campaigns): campaigns, their index, runs, decisions and team settings;
//! - [`due`](due): retries due later, letters to poll, the follow-up list;
//! - [`erasure`](erasure): erasing a contact detail;
//! - [`uploads`](uploads): the uploads ledger and the latest upload per source;
//! - [`batch`]: batched writes (ingest); [`pacer`]: the shared token bucket.

pub mod batch;
mod campaigns;
mod children;
mod contacts;
mod due;
mod erasure;
pub mod keys;
mod loading;
mod messages;
pub mod pacer;
mod uploads;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use crate::domain::Clock;

/// The DynamoDB client the store is built with.
pub use aws_sdk_dynamodb::Client;
pub use campaigns::{CampaignRef, Decision, RunRecord};
pub use children::{
    ChildItem, OBJECTION_PREFIX, OUTCOME_AT_PREFIX, ObjectionAudit, Provenance, STATE_SK,
    StoredParent, child_id, child_id_for_nhs, shard_of,
};
pub use contacts::{OPTED_OUT, ReceivedText};
pub use due::{DueJob, FollowUp, OpenLetter, WORK_SHARDS, work_shard};
pub use erasure::{ERASED_TEXT, Erasure, ErasureKey, ErasureReason, ErasureRecord};
pub use loading::{Facts, Loaded, TeamSendSettings};
pub use messages::{
    LEASE_SECONDS, MESSAGE_RECORDS_DAYS, MessageRecord, MessageState, StatusChange, message_id,
};
pub use uploads::UploadDone;

/// Name of the TTL attribute (epoch seconds); DynamoDB deletes late, so reads filter on it too.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// How many shards spread a team's children over the `gsi2` "all children of a team" index,
/// so one busy team cannot exceed a single index partition's write rate during a big ingest.
pub const TEAM_SHARDS: u32 = 16;

/// The table could not be read or written.
///
/// `Display` says what failed (DynamoDB's error code and message, or which stored item could not
/// be read), never a stored value; the SDK's error, when there is one, is the `source`.
#[derive(Debug, thiserror::Error)]
#[error("table: {context}")]
pub struct StoreError {
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// An error with this description (never personal data).
    pub fn new(e: impl std::fmt::Display) -> Self {
        Self {
            context: e.to_string(),
            source: None,
        }
    }

    /// A DynamoDB request that failed, carrying the SDK's error as its source.
    pub fn sdk<E: std::error::Error + Send + Sync + 'static>(
        e: aws_sdk_dynamodb::error::SdkError<E>,
    ) -> Self {
        Self {
            context: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
            source: Some(Box::new(e)),
        }
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::new(e)
}

fn sdk_err<E: std::error::Error + Send + Sync + 'static>(
    e: aws_sdk_dynamodb::error::SdkError<E>,
) -> StoreError {
    StoreError::sdk(e)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The table, as the dispatcher and webhook use it.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    lease_seconds: i64,
    /// The one clock every "now" of the table is read from.
    clock: Clock,
    /// The key erased details are remembered by (see [`ErasureKey`]).
    erasure_key: Option<ErasureKey>,
}

impl Store {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            lease_seconds: LEASE_SECONDS,
            clock: Clock::system(),
            erasure_key: None,
        }
    }

    /// Reads every "now" from `clock` (a local run that rehearses days moves it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock the store judges leases, TTLs and holds by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Now, in Unix seconds.
    fn now_epoch(&self) -> i64 {
        self.clock.epoch()
    }

    /// The TTL of an item kept as long as message records are (decisions, follow-ups,
    /// contact statuses), from now on the clock.
    fn records_ttl(&self) -> AttributeValue {
        AttributeValue::N((self.now_epoch() + MESSAGE_RECORDS_DAYS * 86_400).to_string())
    }

    /// Whether an item's TTL has passed (DynamoDB deletes expired items late).
    fn expired(&self, item: &Item) -> bool {
        item.get(TTL_ATTRIBUTE)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|t| t < self.now_epoch())
    }

    /// Changes how long an attempt owns an intent (tests that simulate a dead attempt use 0).
    pub fn with_lease_seconds(mut self, seconds: i64) -> Self {
        self.lease_seconds = seconds;
        self
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        // DynamoDB deletes expired items late: treat them as gone.
        Ok(out.item.filter(|item| !self.expired(item)))
    }

    /// Reads items by key in as few `BatchGetItem` calls as possible (strongly consistent,
    /// unprocessed keys retried), dropping expired items.
    async fn batch_get(
        &self,
        wanted: &[(String, String)],
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut found = HashMap::new();
        for chunk in wanted.chunks(100) {
            let mut keys_and_attrs = KeysAndAttributes::builder().consistent_read(true);
            for (pk, sk) in chunk {
                keys_and_attrs = keys_and_attrs.keys(HashMap::from([
                    ("pk".to_owned(), s(pk)),
                    ("sk".to_owned(), s(sk)),
                ]));
            }
            let mut request = Some(HashMap::from([(
                self.table.clone(),
                keys_and_attrs.build().map_err(err)?,
            )]));
            let mut attempt = 0u32;
            while let Some(items) = request.take().filter(|m| !m.is_empty()) {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(20 << attempt.min(6))).await;
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .map_err(sdk_err)?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if self.expired(&item) {
                        continue;
                    }
                    if let (Some(pk), Some(sk)) = (str_attr(&item, "pk"), str_attr(&item, "sk")) {
                        found.insert((pk, sk), item);
                    }
                }
                request = out.unprocessed_keys;
            }
        }
        Ok(found)
    }
}

/// An item as DynamoDB returns it.
type Item = HashMap<String, AttributeValue>;

fn str_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A write made on a condition: `Ok(true)` when it was made, `Ok(false)` when DynamoDB refused
/// it because the condition did not hold, the SDK's error otherwise. The one place a
/// `ConditionalCheckFailedException` is told apart from a failure.
fn conditional<O, E>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<E>>,
) -> Result<bool, StoreError>
where
    E: ConditionFailed + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(ConditionFailed::condition_failed) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::sdk(e)),
    }
}

/// The errors of the operations that take a condition.
trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

impl ConditionFailed for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for aws_sdk_dynamodb::operation::delete_item::DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}
