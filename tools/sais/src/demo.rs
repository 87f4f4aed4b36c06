//! `sais demo`: the service on the local stack, end to end, on a folder that mirrors a team's
//! S3 prefix. It runs what is built so far and says plainly what is not.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use sais_shared::ingest::Ingest;
use sais_shared::local::{LocalStack, shared_moto_endpoint};

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

    // The local poller: what Lambda's SQS event source mapping does on AWS.
    let ingest = Ingest::new(stack.clients.clone(), stack.table());
    let mut handled = 0;
    let mut idle = 0;
    while idle < 3 {
        let received = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&stack.ingest_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .context("receiving from the ingest queue")?;
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
        let response = ingest.handle_batch(event).await?;
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
                .queue_url(&stack.ingest_queue_url)
                .receipt_handle(receipt)
                .send()
                .await?;
            handled += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    println!();
    println!("Not built yet: the reminders schedule, the dispatcher (sending through Notify),");
    println!("the webhook (receipts, fallback to text and letter) and campaign reports.");
    if args.json {
        println!("{}", serde_json::json!({"reports": summary}));
    }
    Ok(())
}
