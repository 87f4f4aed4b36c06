//! One helper for every SQS-fed function: run each record, collect the failures into a partial
//! batch response so only those are retried (and, after the redrive count, dead-lettered).

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};

/// Processes every record of an SQS batch with at most `concurrency` in flight and reports the
/// message ids of the records that failed. A record without a message id cannot be reported, so
/// its failure fails the whole invocation (Lambda then retries the whole batch) rather than be lost.
pub async fn process_batch<F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    handle: F,
) -> Result<SqsBatchResponse, BatchError>
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let results: Vec<(Option<String>, Result<(), E>)> = stream::iter(event.records)
        .map(|record| {
            let id = record.message_id.clone();
            let fut = handle(record);
            async move { (id, fut.await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;

    let mut response = SqsBatchResponse::default();
    for (id, result) in results {
        if let Err(error) = result {
            match id {
                Some(id) => {
                    tracing::warn!(message_id = %id, %error, "record failed; SQS will retry it");
                    response.add_failure(id);
                }
                None => return Err(BatchError::RecordWithoutId(error.to_string())),
            }
        }
    }
    Ok(response)
}

/// The batch could not be answered with a partial response.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A record had no message id, so its failure could not be reported alone.
    #[error("a record without a message id failed: {0}")]
    RecordWithoutId(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ids: &[&str]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = ids
            .iter()
            .map(|id| {
                let mut m = SqsMessage::default();
                m.message_id = Some((*id).to_owned());
                m.body = Some(format!("body-{id}"));
                m
            })
            .collect();
        event
    }

    #[tokio::test]
    async fn only_failed_records_are_reported_for_retry() {
        let response = process_batch(event(&["a", "b", "c"]), 4, |m| async move {
            if m.body.as_deref() == Some("body-b") {
                Err("boom")
            } else {
                Ok(())
            }
        })
        .await
        .unwrap();
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["b"]);
    }

    #[tokio::test]
    async fn a_failed_record_without_an_id_fails_the_whole_batch() {
        let mut e = event(&["a"]);
        e.records[0].message_id = None;
        let result = process_batch(e, 1, |_| async { Err::<(), _>("boom") }).await;
        assert!(result.is_err());
    }
}
