//! The reminders function (EventBridge Scheduler, and by hand). Each run releases the work that
//! has come due: retries of temporary failures 24 hours on, and the status of letters in the
//! post (Notify sends no callbacks for letters). The work is in `sais_shared::receipts`.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use sais_shared::aws::{AwsClients, secret_string};
use sais_shared::config::required_env;
use sais_shared::dispatch::records::Store;
use sais_shared::notify::{ApiKey, NotifyClient};
use sais_shared::receipts::Receipts;
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
    let receipts = Receipts::new(
        Store::new(clients.dynamodb.clone(), required_env("TABLE_NAME")?),
        clients.sqs.clone(),
        required_env("SEND_QUEUE_URL")?,
    );
    let (receipts, notify) = (&receipts, &notify);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let now = OffsetDateTime::now_utc();
        let retries = receipts.release_due(now).await?;
        let letters = receipts.poll_letters(notify, now).await?;
        Ok::<Value, Error>(json!({ "retries_queued": retries, "letters_updated": letters }))
    }))
    .await
}
