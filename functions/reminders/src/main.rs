//! The reminders function (EventBridge Scheduler, and by hand). The daily run queues what each
//! active campaign has due that day (`sais_shared::schedule`); the hourly run releases the work
//! that has come due: retries of temporary failures 24 hours on, and the status of letters in
//! the post (Notify sends no callbacks for letters; `sais_shared::receipts`). By hand,
//! `{"team", "campaign_id", "date"}` runs one campaign for one day.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use sais_shared::aws::{AwsClients, team_services};
use sais_shared::campaign_report::ReportPublisher;
use sais_shared::config::required_env;
use sais_shared::receipts::Receipts;
use sais_shared::schedule::RemindersTask;
use sais_shared::schedule::runner::Scheduler;
use sais_shared::store::Store;
use sais_shared::uploads::TeamCode;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    sais_shared::telemetry::init_json_logs();
    sais_shared::telemetry::log_exit(run().await)
}

/// Start-up (configuration, clients and secrets once per process), then the runtime's loop.
async fn run() -> Result<(), Error> {
    let config = sais_shared::aws::lambda_sdk_config()?;
    let clients = AwsClients::from_config(&config);
    let table = required_env("TABLE_NAME")?;
    // Letters are followed with each team's own key.
    let notify = team_services(&config, &clients, &table).await?;
    let store = Store::new(clients.dynamodb.clone(), &table);
    let send_queue_url = required_env("SEND_QUEUE_URL")?;
    let receipts = Receipts::new(store.clone(), clients.sqs.clone(), send_queue_url.clone());
    let scheduler = Scheduler::new(store, clients.sqs.clone(), send_queue_url);
    let bucket = required_env("UPLOADS_BUCKET")?;
    // After each run, the campaigns' reports and every other team's replies files.
    let reporter = ReportPublisher::new(
        Store::new(clients.dynamodb.clone(), &table),
        clients.s3.clone(),
        bucket,
    );
    let (receipts, scheduler, notify, reporter) = (&receipts, &scheduler, &notify, &reporter);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        match RemindersTask::from_event(&event.payload)? {
            RemindersTask::Daily { date } => {
                let runs = scheduler.run_all(date).await?;
                let ran: Vec<(String, String)> = runs
                    .iter()
                    .map(|r| (r.team.clone(), r.campaign_id.clone()))
                    .collect();
                let reports = reporter.after_daily_run(&ran).await;
                Ok::<Value, Error>(json!({ "campaigns": runs, "reports": reports }))
            }
            RemindersTask::Campaign {
                team,
                campaign_id,
                date,
            } => {
                let team = TeamCode::parse(&team).ok_or("\"team\" is not a valid team code")?;
                let run = scheduler.run_campaign(&team, &campaign_id, date).await?;
                let written = reporter.report_campaign(&team, &run.campaign_id).await;
                Ok(json!({ "campaigns": [run], "report_written": written }))
            }
            RemindersTask::DueWork => {
                let now = receipts.clock().now();
                let retries = receipts.release_due(now).await?;
                let letters = receipts.poll_letters(notify, now).await?;
                Ok(json!({ "retries_queued": retries, "letters_updated": letters }))
            }
        }
    }))
    .await
}
