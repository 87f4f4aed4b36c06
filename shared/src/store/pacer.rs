//! Pacing one Notify service across every running dispatcher: a token bucket shared through one
//! DynamoDB item, modelled on Notify's own (refill limit/60 a second, capacity
//! min(ceil(limit/3)+1, 1000)) with a safety margin. See `docs/pacing.md`.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;

/// Fraction of Notify's sustained rate we use: clocks and network jitter need some room.
pub const RATE_MARGIN: f64 = 0.99;
/// Fraction of Notify's burst we use.
pub const BURST_MARGIN: f64 = 0.9;

/// Most tokens an instance takes from the shared bucket at once: fewer round trips and less
/// contention, at the cost of a small local burst (well inside the burst margin).
pub const BLOCK: i64 = 5;

/// The shared token bucket.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Tokens this instance holds, taken from the shared bucket and not yet used. One task at a
    /// time talks to the table; the others queue here instead of racing on the item.
    local: std::sync::Arc<tokio::sync::Mutex<i64>>,
    client: Client,
    table: String,
    pk: String,
    /// Milli-tokens added per millisecond (= tokens per second).
    rate_per_s: f64,
    /// Most milli-tokens the bucket holds.
    capacity_milli: i64,
    /// The service's limit this pacer was made for (requests a minute).
    limit_per_min: u32,
}

/// Pacing could not talk to the table: our own infrastructure failed, never the recipient's
/// fault. The job fails and SQS delivers it again.
#[derive(Debug, thiserror::Error)]
#[error("pacer: {0}")]
pub struct PacerError(#[source] pub StoreError);

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

impl Pacer {
    /// A pacer for the Notify service whose key has this limit (requests a minute), storing its
    /// bucket at `pk` in `table`.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        pk: impl Into<String>,
        limit_per_min: u32,
    ) -> Self {
        let limit = f64::from(limit_per_min.max(1));
        // Notify's capacity, less the one token it keeps back, less our margin.
        let notify_capacity = ((limit / 3.0).ceil() + 1.0).min(1000.0);
        let capacity = ((notify_capacity - 1.0) * BURST_MARGIN).floor().max(1.0);
        Self {
            local: std::sync::Arc::default(),
            client,
            table: table.into(),
            pk: pk.into(),
            rate_per_s: limit / 60.0 * RATE_MARGIN,
            capacity_milli: (capacity * 1000.0) as i64,
            limit_per_min,
        }
    }

    /// The service's limit this pacer was made for (requests a minute).
    pub fn limit_per_min(&self) -> u32 {
        self.limit_per_min
    }

    /// Tokens a second this pacer allows.
    pub fn rate_per_s(&self) -> f64 {
        self.rate_per_s
    }

    /// Waits until one send is allowed, then takes it.
    pub async fn acquire(&self) -> Result<(), PacerError> {
        let mut held = self.local.lock().await;
        if *held > 0 {
            *held -= 1;
            return Ok(());
        }
        let taken = self.take_from_shared().await?;
        *held = taken - 1;
        Ok(())
    }

    /// Takes between one and [`BLOCK`] tokens from the shared bucket, waiting for at least one.
    async fn take_from_shared(&self) -> Result<i64, PacerError> {
        loop {
            let now = now_ms();
            let current = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(self.pk.clone()))
                .key("sk", AttributeValue::S("PACER".into()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| PacerError(StoreError::sdk(e)))?
                .item;
            let number = |name: &str| {
                current
                    .as_ref()
                    .and_then(|i| i.get(name))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
            };
            let (tokens, at) = match (number("tokens_milli"), number("at_ms")) {
                (Some(t), Some(a)) => (t, a),
                _ => (self.capacity_milli, now),
            };
            let elapsed_ms = (now - at).max(0);
            let available =
                (tokens + (elapsed_ms as f64 * self.rate_per_s) as i64).min(self.capacity_milli);
            if available < 1000 {
                let wait_ms = ((1000 - available) as f64 / self.rate_per_s).ceil() as u64;
                tokio::time::sleep(Duration::from_millis(wait_ms.clamp(1, 1000))).await;
                continue;
            }
            let take = (available / 1000).min(BLOCK);
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(self.pk.clone()))
                .item("sk", AttributeValue::S("PACER".into()))
                .item(
                    "tokens_milli",
                    AttributeValue::N((available - take * 1000).to_string()),
                )
                .item("at_ms", AttributeValue::N(now.max(at).to_string()));
            put = if current.is_some() {
                put.condition_expression("tokens_milli = :t AND at_ms = :a")
                    .expression_attribute_values(":t", AttributeValue::N(tokens.to_string()))
                    .expression_attribute_values(":a", AttributeValue::N(at.to_string()))
            } else {
                put.condition_expression("attribute_not_exists(pk)")
            };
            match put.send().await {
                Ok(_) => return Ok(take),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    // Another dispatcher took a token first: read again.
                    continue;
                }
                Err(e) => return Err(PacerError(StoreError::sdk(e))),
            }
        }
    }

    /// Empties the bucket after Notify said we went too fast, so every dispatcher backs off.
    pub async fn drain(&self) -> Result<(), PacerError> {
        *self.local.lock().await = 0;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(self.pk.clone()))
            .item("sk", AttributeValue::S("PACER".into()))
            .item("tokens_milli", AttributeValue::N("0".into()))
            .item("at_ms", AttributeValue::N(now_ms().to_string()))
            .send()
            .await
            .map_err(|e| PacerError(StoreError::sdk(e)))?;
        Ok(())
    }
}
