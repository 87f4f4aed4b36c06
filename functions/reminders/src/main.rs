//! The reminders function (EventBridge Scheduler, and by hand). The daily run queues what each
//! active campaign has due that day (`sais_shared::schedule`); the hourly run releases the work
//! that has come due: retries of temporary failures 24 hours on, and the status of letters in
//! the post (Notify sends no callbacks for letters; `sais_shared::receipts`). By hand,
//! `{"team", "campaign_id", "date"}` runs one campaign for one day.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use sais_shared::aws::{AwsClients, secret_string};
use sais_shared::config::required_env;
use sais_shared::dispatch::records::Store;
use sais_shared::notify::{ApiKey, NotifyClient};
use sais_shared::receipts::Receipts;
use sais_shared::schedule::RemindersTask;
use sais_shared::schedule::runner::Scheduler;
use sais_shared::uploads::TeamCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sais_shared::telemetry::init_json_logs();
    // Clients, configuration and the API key once per process.
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clients = AwsClients::from_config(&config);
    let key =
        ApiKey::parse(&secret_string(&config, &required_env("NOTIFY_API_KEY_SECRET_ARN")?).await?)?;
    let notify = NotifyClient::new(
        &required_env("NOTIFY_BASE_URL")?,
        key,
        Duration::from_secs(10),
    )?;
    let store = Store::new(clients.dynamodb.clone(), required_env("TABLE_NAME")?);
    let send_queue_url = required_env("SEND_QUEUE_URL")?;
    let receipts = Receipts::new(store.clone(), clients.sqs.clone(), send_queue_url.clone());
    let scheduler = Scheduler::new(store, clients.sqs.clone(), send_queue_url);
    let (receipts, scheduler, notify) = (&receipts, &scheduler, &notify);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        match RemindersTask::from_event(&event.payload)? {
            RemindersTask::Daily { date } => {
                let runs = scheduler.run_all(date).await?;
                Ok::<Value, Error>(json!({ "campaigns": runs }))
            }
            RemindersTask::Campaign {
                team,
                campaign_id,
                date,
            } => {
                let team = TeamCode::parse(&team).ok_or("\"team\" is not a valid team code")?;
                let run = scheduler.run_campaign(&team, &campaign_id, date).await?;
                Ok(json!({ "campaigns": [run] }))
            }
            RemindersTask::DueWork => {
                let now = OffsetDateTime::now_utc();
                let retries = receipts.release_due(now).await?;
                let letters = receipts.poll_letters(notify, now).await?;
                Ok(json!({ "retries_queued": retries, "letters_updated": letters }))
            }
        }
    }))
    .await
}
