//! Blind batch writes: `BatchWriteItem` in chunks of 25 (DynamoDB's limit, which moto does not
//! enforce), with `UnprocessedItems` and throttling retried with backoff until every item is
//! written — or an error the caller turns into a failed SQS message, so nothing is dropped.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use super::{ChildItem, Store};

/// DynamoDB's maximum items per `BatchWriteItem`.
pub const MAX_BATCH_ITEMS: usize = 25;

/// One item as the SDK takes it.
type Item = HashMap<String, AttributeValue>;

/// Why a batch of writes did not complete.
#[derive(Debug, thiserror::Error)]
pub enum BatchWriteError {
    /// DynamoDB kept returning unprocessed items (or throttling) past the retry budget.
    #[error("{remaining} items were still unprocessed after {attempts} attempts")]
    GaveUp {
        /// Items not written.
        remaining: usize,
        /// Attempts made.
        attempts: u32,
    },
    /// A call failed with an error that retrying will not fix.
    #[error("BatchWriteItem failed: {context}")]
    Sdk {
        /// DynamoDB's error code and message.
        context: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// How hard to try before giving up on unprocessed items.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per chunk, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles each attempt (with jitter), capped at `max_delay`.
    pub base_delay: Duration,
    /// Longest single wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // About 25 s of waiting in all: well inside ingest's 5-minute timeout, and long enough
        // to ride out an on-demand table's scaling.
        Self {
            max_attempts: 12,
            base_delay: Duration::from_millis(25),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Counts what a writer did (the request count is what AWS bills).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    /// `BatchWriteItem` requests sent.
    pub requests: u64,
    /// Items written.
    pub items: u64,
    /// Items DynamoDB returned unprocessed and we sent again.
    pub unprocessed_retried: u64,
}

/// One child item, ready for a batch write (made on the thread that reads the file, so the
/// writer only sends).
#[derive(Debug, Clone)]
pub struct ChildPut(WriteRequest);

impl ChildPut {
    /// The put of `item`.
    pub fn of(item: &ChildItem) -> Result<Self, BatchWriteError> {
        let item: Item = serde_dynamo::to_item(item).map_err(|e| BatchWriteError::Sdk {
            context: "a child item could not be converted".into(),
            source: Box::new(e),
        })?;
        Ok(Self(put_request(item)?))
    }
}

impl WriteStats {
    /// Adds another writer's counts to these.
    pub fn add(&mut self, other: WriteStats) {
        self.requests += other.requests;
        self.items += other.items;
        self.unprocessed_retried += other.unprocessed_retried;
    }
}

/// Writes one chunk of at most 25 requests, sending `UnprocessedItems` again with backoff until
/// none are left. Independent chunks may run concurrently.
pub async fn write_chunk(
    store: &Store,
    chunk: Vec<ChildPut>,
    policy: RetryPolicy,
) -> Result<WriteStats, BatchWriteError> {
    let (client, table) = (&store.client, store.table.as_str());
    assert!(
        chunk.len() <= MAX_BATCH_ITEMS,
        "BatchWriteItem takes at most {MAX_BATCH_ITEMS} items"
    );
    let mut stats = WriteStats {
        items: chunk.len() as u64,
        ..WriteStats::default()
    };
    let mut pending: Vec<WriteRequest> = chunk.into_iter().map(|p| p.0).collect();
    let mut attempt = 0;
    while !pending.is_empty() {
        attempt += 1;
        if attempt > policy.max_attempts {
            return Err(BatchWriteError::GaveUp {
                remaining: pending.len(),
                attempts: attempt - 1,
            });
        }
        if attempt > 1 {
            tokio::time::sleep(backoff(&policy, attempt - 1)).await;
        }
        stats.requests += 1;
        let sent = pending.len();
        let result = client
            .batch_write_item()
            .request_items(table, pending.clone())
            .send()
            .await;
        match result {
            Ok(output) => {
                pending = output
                    .unprocessed_items
                    .and_then(|mut m| m.remove(table))
                    .unwrap_or_default();
                stats.unprocessed_retried += pending.len() as u64;
            }
            Err(e) if is_retryable(&e) => {
                tracing::warn!(
                    attempt,
                    items = sent,
                    "BatchWriteItem throttled; backing off"
                );
            }
            Err(e) => {
                return Err(BatchWriteError::Sdk {
                    context: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
                    source: Box::new(e),
                });
            }
        }
    }
    Ok(stats)
}

/// Wraps an item as a put request.
fn put_request(item: Item) -> Result<WriteRequest, BatchWriteError> {
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| BatchWriteError::Sdk {
            context: e.to_string(),
            source: Box::new(e),
        })?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn is_retryable(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError as E;
    match e.as_service_error() {
        Some(E::ProvisionedThroughputExceededException(_))
        | Some(E::RequestLimitExceeded(_))
        | Some(E::InternalServerError(_)) => true,
        Some(other) => matches!(
            aws_sdk_dynamodb::error::ProvideErrorMetadata::code(other),
            Some("ThrottlingException")
        ),
        // Timeouts, dispatch and response errors: the request may or may not have landed;
        // puts are idempotent, so sending again is safe.
        None => true,
    }
}

/// Exponential backoff with full jitter.
fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << retry.min(16))
        .min(policy.max_delay);
    let jitter = rand_fraction();
    exp.mul_f64(0.5 + jitter / 2.0)
}

fn rand_fraction() -> f64 {
    // A cheap, dependency-free jitter source: the low bits of the clock.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert!(backoff(&p, 1) <= Duration::from_millis(50));
        assert!(backoff(&p, 30) <= p.max_delay);
        assert!(backoff(&p, 30) >= p.max_delay / 2);
    }
}
