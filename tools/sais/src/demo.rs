//! `sais demo`: the service on the local stack, end to end, on a folder that mirrors a team's
//! S3 prefix: ingest, then a consent request to every child through the dispatcher, the Notify
//! simulator and the webhook. It says plainly what is not built yet.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use sais_shared::dispatch::SendJob;
use sais_shared::ingest::Ingest;
use sais_shared::local::{
    LocalNotify, LocalStack, example_campaign, serve_webhook, shared_moto_endpoint,
    start_notify_sim,
};
use sais_shared::policy::Purpose;
use sais_shared::receipts::Receipts;
use sais_shared::uploads::TeamCode;
use sais_shared::webhook::Webhook;

/// Arguments of `sais demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder laid out like a team's prefix: `cohort/`, `class-list/<URN>/`, ….
    #[arg(long)]
    input: PathBuf,
    /// The team code the files are uploaded under.
    #[arg(long, default_value = "DEMO-sais")]
    team: String,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `sais demo`.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sais demo: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(demo(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sais demo: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

async fn demo(args: &Args) -> Result<()> {
    let endpoint = shared_moto_endpoint().context("starting moto")?;
    let stack = LocalStack::create(&endpoint, "sais")
        .await
        .context("creating the template's resources on moto")?;
    println!("Local stack: moto at {endpoint}");
    println!("  bucket {}  table {}", stack.bucket(), stack.table());

    let files = files_under(&args.input)?;
    for path in &files {
        let relative = path
            .strip_prefix(&args.input)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let key = format!("{}/{relative}", args.team);
        let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        stack
            .clients
            .s3
            .put_object()
            .bucket(stack.bucket())
            .key(&key)
            .body(body.into())
            .send()
            .await
            .with_context(|| format!("uploading {key}"))?;
        println!("  uploaded {key}");
    }

    let ingest = Ingest::new(stack.clients.clone(), stack.table());
    let handled = drain(&stack, &stack.ingest_queue_url, None, |event| {
        let ingest = &ingest;
        async move { Ok(ingest.handle_batch(event).await?) }
    })
    .await?;
    println!("Ingest handled {handled} notifications.");

    let listed = stack
        .clients
        .s3
        .list_objects_v2()
        .bucket(stack.bucket())
        .prefix(format!("{}/reports/", args.team))
        .send()
        .await?;
    let mut summary = Vec::new();
    for object in listed.contents() {
        let Some(key) = object.key() else { continue };
        if !key.ends_with(".report.json") {
            continue;
        }
        let body = stack
            .clients
            .s3
            .get_object()
            .bucket(stack.bucket())
            .key(key)
            .send()
            .await?
            .body
            .collect()
            .await?
            .into_bytes();
        let report: serde_json::Value = serde_json::from_slice(&body)?;
        println!(
            "  {:<45} {:<10} {:>6} rows  {:>4} errors  {:>5} warnings",
            report["file"].as_str().unwrap_or(""),
            report["status"].as_str().unwrap_or(""),
            report["rows"],
            report["errors"].as_array().map_or(0, Vec::len)
                + report["file_errors"].as_array().map_or(0, Vec::len),
            report["warnings"].as_array().map_or(0, Vec::len),
        );
        summary.push(
            serde_json::json!({"report": key, "status": report["status"], "rows": report["rows"]}),
        );
    }
    let children = stack.items_of_type("child").await?.len();
    println!(
        "Children in the table: {children} ({} DynamoDB write requests).",
        ingest.write_stats().requests
    );
    println!(
        "Reports are in s3://{}/{}/reports/",
        stack.bucket(),
        args.team
    );
    let sending = send_consent_requests(&stack, &args.team).await?;
    println!();
    println!("Not built yet: the reminders schedule (above, every child was queued a consent");
    println!("request at once, as the schedule will on the send date) and campaign reports.");
    if args.json {
        println!(
            "{}",
            serde_json::json!({"reports": summary, "messages": sending})
        );
    }
    Ok(())
}

/// The local poller, as Lambda's SQS event source mapping: receives batches, hands them to
/// `handle`, deletes what succeeded. Stops after three empty receives in a row (and, with a
/// simulator, once its callbacks are done). Returns how many messages succeeded.
async fn drain<F, Fut>(
    stack: &LocalStack,
    queue_url: &str,
    notify: Option<&LocalNotify>,
    handle: F,
) -> Result<usize>
where
    F: Fn(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = Result<SqsBatchResponse>>,
{
    let mut handled = 0;
    let mut idle = 0;
    while idle < 3 {
        if let Some(notify) = notify {
            notify
                .sim
                .wait_callbacks_idle(Duration::from_secs(30))
                .await;
        }
        let received = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .context("receiving from a queue")?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        let mut event = SqsEvent::default();
        let mut receipts = Vec::new();
        for m in messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.body = m.body;
            receipts.push((
                m.message_id.unwrap_or_default(),
                m.receipt_handle.unwrap_or_default(),
            ));
            event.records.push(record);
        }
        let response = handle(event).await?;
        for (id, receipt) in receipts {
            if response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
            {
                continue;
            }
            stack
                .clients
                .sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(receipt)
                .send()
                .await?;
            handled += 1;
        }
    }
    Ok(handled)
}

/// Sends a consent request to every child through the real dispatcher and the Notify
/// simulator, whose delivery receipts go to the real webhook (fallbacks included). Prints and
/// returns the messages by channel and status.
async fn send_consent_requests(stack: &LocalStack, team_code: &str) -> Result<serde_json::Value> {
    let team = TeamCode::parse(team_code).context("the team code")?;
    let token = "local-demo-callback-token";
    let receipts = Receipts::new(
        stack.store(),
        stack.clients.sqs.clone(),
        stack.send_queue_url.clone(),
    );
    let base = serve_webhook(Webhook::new(receipts, token)).await?;
    let notify = start_notify_sim(|c| {
        c.callback_url = Some(format!("{base}/notify/{team}"));
        c.callback_bearer_token = Some(token.into());
        c.callback_delay = Duration::from_millis(50);
    })
    .await?;
    println!();
    println!(
        "Notify simulator at {}; its callbacks go to the webhook at {base}/notify/{team}",
        notify.sim.base_url()
    );

    let children = stack.items_of_type("child").await?;
    let mut schools: Vec<String> = children
        .iter()
        .filter_map(|c| c.get("school_urn").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    schools.sort();
    schools.dedup();
    let today = time::OffsetDateTime::now_utc().date();
    let mut campaign = example_campaign("demo-hpv", "hpv", today + time::Duration::days(21));
    campaign.schools = schools;
    stack.store().put_campaign(&team, &campaign).await?;

    let ids: Vec<String> = children
        .iter()
        .filter_map(|c| c.get("child_id").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    for chunk in ids.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let job =
                    SendJob::new(&team, &campaign.id, id, Purpose::ConsentRequest, "campaign");
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(serde_json::to_string(&job).expect("a job serialises"))
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        stack
            .clients
            .sqs
            .send_message_batch()
            .queue_url(&stack.send_queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .context("queueing send jobs")?;
    }
    println!(
        "Queued {} consent requests (campaign {}).",
        ids.len(),
        campaign.id
    );

    let dispatcher = stack.dispatcher(
        &notify.sim.base_url(),
        &notify.api_key,
        3000,
        Duration::from_secs(10),
    )?;
    let jobs = drain(stack, &stack.send_queue_url, Some(&notify), |event| {
        let dispatcher = &dispatcher;
        async move { Ok(dispatcher.handle_batch(event).await?) }
    })
    .await?;

    let mut by_channel: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for m in stack.items_of_type("message").await? {
        let text = |k: &str| {
            m.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        *by_channel
            .entry((text("channel"), text("status")))
            .or_default() += 1;
    }
    let mut callbacks: std::collections::BTreeMap<String, usize> = Default::default();
    for attempt in notify.sim.callback_log() {
        let answer = attempt.status_code.map_or_else(
            || attempt.error.clone().unwrap_or_default(),
            |c| c.to_string(),
        );
        *callbacks.entry(answer).or_default() += 1;
    }
    println!("Callbacks from Notify to the webhook, by answer: {callbacks:?}");
    let follow_ups = stack.store().follow_ups(&team).await?.len();
    let skipped = stack.items_of_type("decision").await?.len();
    println!("Dispatcher ran {jobs} jobs (campaign and fallback). Messages by channel and status:");
    for ((channel, status), n) in &by_channel {
        println!("  {channel:<7} {status:<20} {n:>5}");
    }
    println!("Children with something skipped (reason recorded): {skipped}");
    println!("Children on the manual follow-up list: {follow_ups}");
    Ok(serde_json::json!({
        "jobs": jobs,
        "messages": by_channel
            .iter()
            .map(|((c, s), n)| serde_json::json!({"channel": c, "status": s, "count": n}))
            .collect::<Vec<_>>(),
        "follow_ups": follow_ups,
        "decisions_with_skips": skipped,
    }))
}
