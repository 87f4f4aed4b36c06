//! Shared helpers for the end-to-end tests (the local stack itself lives in
//! `sais_shared::local`, so the demo and the benchmarks use the same code).

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use sais_shared::local::LocalStack;

/// Receives messages from a queue until `want` have arrived or `timeout` passes, and wraps them
/// in the SQS event Lambda would deliver.
pub async fn receive_event(
    stack: &LocalStack,
    queue_url: &str,
    want: usize,
    timeout: Duration,
) -> SqsEvent {
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < want && Instant::now() < deadline {
        let out = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive_message");
        for m in out.messages.unwrap_or_default() {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id;
            record.receipt_handle = m.receipt_handle;
            record.body = m.body;
            record.md5_of_body = m.md5_of_body;
            record.event_source = Some("aws:sqs".into());
            record.aws_region = Some(sais_shared::local::REGION.into());
            records.push(record);
        }
    }
    let mut event = SqsEvent::default();
    event.records = records;
    event
}
