//! `sais up` (`make up`): the local stack kept running for trying the service by hand. Files
//! put in the bucket are ingested as they arrive; the daily schedule runs every minute for
//! today's date, with the hourly due work; send jobs go through the real dispatcher to the
//! Notify simulator, whose receipts reach the real webhook. Ctrl-C stops everything.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sais_local::{LocalStack, shared_moto_endpoint};

use crate::demo::{CALLBACK_TOKEN, Service, drain};

/// Arguments of `sais up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The team code to show in the examples.
    #[arg(long, default_value = "DEMO-sais")]
    team: String,
}

/// How to run this `sais` from the current folder: its path, relative when it is below it.
fn sais_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "sais".to_owned();
    };
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(std::path::Path::to_path_buf));
    match relative {
        Some(path) => path.display().to_string(),
        None => exe.display().to_string(),
    }
}

/// Runs `sais up` until Ctrl-C.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sais up: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(up(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sais up: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn up(args: &Args) -> Result<()> {
    let endpoint = shared_moto_endpoint().context("starting moto")?;
    let stack = LocalStack::create(&endpoint, "sais")
        .await
        .context("creating the template's resources on moto")?;
    let team = &args.team;
    let team_code = sais_shared::uploads::TeamCode::parse(team).context("the team code")?;
    let service = Service::start(
        &stack,
        &team_code,
        Duration::from_millis(200),
        sais_shared::receipts::TECHNICAL_BACKOFF_SECONDS,
    )
    .await?;
    let Service {
        receipts,
        webhook,
        notify,
        notify_client,
        dispatcher,
        scheduler,
    } = &service;
    let ingest = stack.ingest();
    let bucket = stack.bucket();

    println!("The local stack is up (Ctrl-C stops it):");
    println!("  S3, SQS, DynamoDB (moto)  {endpoint}");
    println!("  uploads bucket            {bucket}");
    println!("  contacts table            {}", stack.table());
    println!("  webhook (Notify calls it) {webhook}  (Bearer {CALLBACK_TOKEN})");
    println!("  Notify simulator          {}", notify.sim.base_url());
    println!();
    let sais = sais_command();
    println!("In another shell, the `sais` commands reach this stack with these settings:");
    println!(
        "  export AWS_ENDPOINT_URL={endpoint} AWS_REGION={} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        sais_local::REGION
    );
    println!(
        "  export UPLOADS_BUCKET={bucket} TABLE_NAME={}",
        stack.table()
    );
    println!(
        "Upload a file: checked as `sais validate` checks it, then its report awaited and printed"
    );
    println!("(the folder it goes to comes from its path, or --kind and --school-urn):");
    println!("  {sais} upload --team {team} events/demo/cohort/cohort.csv");
    println!("  {sais} upload --team {team} 'events/demo/class-list/123456/Class 9X.csv'");
    println!(
        "Fetch every report of the team (file reports, errors, campaign reports) into reports-{team}/:"
    );
    println!("  {sais} reports --team {team}");
    println!("Upload a campaign (campaigns/<id>.json) whose send_requests_on is today, and the");
    println!("daily schedule, run here every minute, sends its consent requests at once; then");
    println!("  {sais} report --team {team} --campaign <id>");
    println!("makes its report now. Any AWS SDK or the AWS CLI works with the settings above.");

    // Listening from now on: a Ctrl-C pressed while the loop is busy is not lost.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("listening for Ctrl-C")?;
    let mut last_schedule: Option<Instant> = None;
    loop {
        let ingested = drain(&stack, &stack.ingest_queue_url, None, |event| {
            let ingest = &ingest;
            async move { Ok(ingest.handle_batch(event).await?) }
        })
        .await?
        .handled;
        if ingested > 0 {
            println!("ingested {ingested} upload(s); reports are under {team}/reports/");
        }
        if last_schedule.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            last_schedule = Some(Instant::now());
            let now = time::OffsetDateTime::now_utc();
            for run in scheduler.run_all(now.date()).await? {
                let queued: u64 = run.occasions.iter().map(|o| o.queued).sum();
                if queued > 0 {
                    println!("{}: queued {queued} send jobs", run.campaign_id);
                }
            }
            receipts.release_due(now).await?;
            receipts.poll_letters(notify_client, now).await?;
        }
        let sent = drain(
            &stack,
            &stack.send_queue_url,
            Some(notify),
            |event| async move { Ok(dispatcher.handle_batch(event).await?) },
        )
        .await?
        .handled;
        if sent > 0 {
            println!("dispatched {sent} send job(s)");
        }
        tokio::select! {
            _ = interrupt.recv() => {
                println!("stopping");
                return Ok(());
            }
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
