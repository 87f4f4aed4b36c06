//! One helper for every SQS-fed function: run each record, collect the failures into a partial
//! batch response so only those are retried (and, after the redrive count, dead-lettered).

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use tracing::Instrument;

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
            // Every line logged while handling the record carries its SQS message id, so one
            // record's story can be read out of a batch's interleaved lines.
            let span =
                tracing::info_span!("sqs_record", sqs_message_id = id.as_deref().unwrap_or(""));
            let fut = handle(record).instrument(span);
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

    /// A writer the JSON log lines go to, for reading back.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn every_line_logged_while_a_record_is_handled_names_its_sqs_message_id() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        process_batch(event(&["m-1", "m-2"]), 2, |m| async move {
            tracing::info!(body_chars = m.body.map_or(0, |b| b.len()), "handled");
            Ok::<(), &str>(())
        })
        .await
        .expect("batch");
        let text = String::from_utf8(lines.0.lock().expect("lock").clone()).expect("utf-8");
        let ids: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == "handled")
            .map(|v| {
                v["span"]["sqs_message_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 2, "{text}");
        assert!(
            ids.contains(&"m-1".to_owned()) && ids.contains(&"m-2".to_owned()),
            "{text}"
        );
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
