//! `sais bench dispatch`: N queued send jobs drained by D dispatchers running the real
//! dispatcher code against moto and the Notify simulator; what the simulator actually received
//! decides the duplicates and the losses.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use sais_local::{LocalStack, example_campaign, start_notify_sim};
use sais_shared::dispatch::{JobKind, SendJob};
use sais_shared::generate::TestNhsNumbers;
use sais_shared::policy::Purpose;
use sais_shared::uploads::TeamCode;
use serde_json::json;

const TEAM: &str = "BENCH-sais";
const CAMPAIGN: &str = "bench";

/// A cohort of `n` children, each with one parent who prefers email.
fn cohort(n: u64) -> Vec<u8> {
    let mut csv = String::from(
        "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_CONTACT_PREFERENCE\n",
    );
    for (i, nhs) in TestNhsNumbers::default().take(n as usize).enumerate() {
        csv.push_str(&format!(
            "Child,Bench,2014-01-01,SW1A 1AA,123456,{nhs},Parent Bench,parent{i}@example.com,email\n"
        ));
    }
    csv.into_bytes()
}

/// Runs the benchmark.
pub fn run(
    messages: u64,
    rate_limit: u32,
    latency_ms: u64,
    dispatchers: u32,
) -> Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(bench(messages, rate_limit, latency_ms, dispatchers))
}

async fn bench(
    messages: u64,
    rate_limit: u32,
    latency_ms: u64,
    dispatchers: u32,
) -> Result<serde_json::Value> {
    let stack = LocalStack::isolated().await.context("local stack (moto)")?;
    let notify = start_notify_sim(|c| {
        c.rate_limit_per_min = rate_limit;
        c.latency = Duration::from_millis(latency_ms);
    })
    .await
    .context("Notify simulator")?;
    let team = TeamCode::parse(TEAM).expect("valid team code");

    // The children, through the real ingest.
    stack
        .put_and_ingest(
            &stack.ingest(),
            &format!("{TEAM}/cohort/bench.csv"),
            cohort(messages),
        )
        .await
        .context("ingesting the bench cohort")?;
    let first_session = time::OffsetDateTime::now_utc().date() + time::Duration::days(21);
    stack
        .store()
        .put_campaign(&team, &example_campaign(CAMPAIGN, "flu", first_session))
        .await?;

    // One job per child on the send queue.
    let child_ids: Vec<String> = stack
        .items_of_type("child")
        .await?
        .into_iter()
        .filter_map(|item| item.get("child_id").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    if child_ids.len() as u64 != messages {
        bail!("expected {messages} children, found {}", child_ids.len());
    }
    for chunk in child_ids.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let job = SendJob {
                    version: 1,
                    team: TeamCode::parse(TEAM).expect("team code"),
                    campaign_id: CAMPAIGN.into(),
                    child_id: id.clone(),
                    purpose: Purpose::ConsentRequest,
                    kind: JobKind::Campaign,
                    failed_channels: vec![],
                    retry_of: None,
                    attempt: 0,
                    occasion: None,
                };
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(serde_json::to_string(&job).expect("job serialises"))
                    .build()
                    .expect("entry")
            })
            .collect::<Vec<_>>();
        stack
            .clients
            .sqs
            .send_message_batch()
            .queue_url(&stack.send_queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }

    // D dispatchers, each its own instance (own clients), as Lambda would run them.
    let done = Arc::new(AtomicU64::new(0));
    // When the last job finished (not when the idle pollers noticed).
    let finished = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let deadline = Instant::now()
        + Duration::from_secs_f64(messages as f64 / (f64::from(rate_limit) / 60.0) * 3.0 + 60.0);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..dispatchers {
        let dispatcher = stack.dispatcher(
            &notify.sim.base_url(),
            &notify.api_key,
            rate_limit,
            Duration::from_secs(10),
        )?;
        let sqs = stack.clients.sqs.clone();
        let queue = stack.send_queue_url.clone();
        let done = done.clone();
        let finished = finished.clone();
        workers.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < messages && Instant::now() < deadline {
                let Ok(out) = sqs
                    .receive_message()
                    .queue_url(&queue)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .visibility_timeout(360)
                    .send()
                    .await
                else {
                    continue;
                };
                let received = out.messages.unwrap_or_default();
                if received.is_empty() {
                    continue;
                }
                let mut event = SqsEvent::default();
                event.records = received
                    .iter()
                    .map(|m| {
                        let mut r = SqsMessage::default();
                        r.message_id = m.message_id.clone();
                        r.body = m.body.clone();
                        r
                    })
                    .collect();
                let Ok(response) = dispatcher.handle_batch(event).await else {
                    continue;
                };
                // As Lambda does after a partial batch response: delete what succeeded, in one call.
                let entries: Vec<_> = received
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| {
                        let id = m.message_id.clone().unwrap_or_default();
                        !response
                            .batch_item_failures
                            .iter()
                            .any(|f| f.item_identifier == id)
                    })
                    .map(|(i, m)| {
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                            .build()
                            .expect("entry")
                    })
                    .collect();
                if entries.is_empty() {
                    continue;
                }
                let Ok(deleted) = sqs
                    .delete_message_batch()
                    .queue_url(&queue)
                    .set_entries(Some(entries))
                    .send()
                    .await
                else {
                    continue;
                };
                let now_done = done.fetch_add(deleted.successful.len() as u64, Ordering::SeqCst)
                    + deleted.successful.len() as u64;
                if now_done >= messages {
                    let mut f = finished.lock().expect("not poisoned");
                    if f.is_none() {
                        *f = Some(Instant::now());
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.context("a dispatcher task failed")?;
    }
    let ended = finished
        .lock()
        .expect("not poisoned")
        .unwrap_or_else(Instant::now);
    let elapsed = ended.duration_since(started).as_secs_f64();

    let received = notify.sim.received();
    let mut by_reference: HashMap<String, u32> = HashMap::new();
    for n in &received {
        *by_reference
            .entry(n.reference.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let duplicates: u32 = by_reference.values().map(|c| c.saturating_sub(1)).sum();
    let lost = messages.saturating_sub(by_reference.len() as u64);
    let stats: serde_json::Value = reqwest::get(format!("{}/_sim/stats", notify.sim.base_url()))
        .await?
        .json()
        .await?;
    let ideal = messages as f64 / (f64::from(rate_limit) / 60.0);
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    Ok(json!({
        "messages": messages,
        "dispatchers": dispatchers,
        "elapsed_s": round(elapsed),
        "ideal_s": round(ideal),
        "ratio_to_ideal": round(ideal / elapsed),
        "rate_limited_429": stats["responses_429"]["rate_limit"],
        "duplicates": duplicates,
        "lost": lost,
    }))
}
