//! The dispatcher function: send jobs from SQS, the channel policy at send time, Notify exactly
//! once within the service's rate limit. All the work is in `sais_shared::dispatch`.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sais_shared::aws::{AwsClients, erasure_key, notify_api_key};
use sais_shared::config::{parsed_env, required_env};
use sais_shared::dispatch::Dispatcher;
use sais_shared::notify::NotifyClient;
use sais_shared::store::Store;
use sais_shared::store::pacer::Pacer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sais_shared::telemetry::init_json_logs();
    sais_shared::telemetry::log_exit(run().await)
}

/// Start-up (configuration, clients and secrets once per process), then the runtime's loop.
async fn run() -> Result<(), Error> {
    // Clients, configuration and the API key once per process.
    let config = sais_shared::aws::lambda_sdk_config()?;
    let clients = AwsClients::from_config(&config);
    let table = required_env("TABLE_NAME")?;
    let key = notify_api_key(&config, "NOTIFY_API_KEY_SECRET_ARN").await?;
    let limit: u32 = parsed_env("NOTIFY_RATE_LIMIT_PER_MIN")?;
    let notify = NotifyClient::new(
        &required_env("NOTIFY_BASE_URL")?,
        key.clone(),
        Duration::from_secs(10),
    )?;
    let pacer = Pacer::new(
        clients.dynamodb.clone(),
        &table,
        format!("NOTIFY#{}", key.service_id()),
        limit,
    );
    let dispatcher = Dispatcher::new(
        Store::new(clients.dynamodb.clone(), &table).with_erasure_key(erasure_key(&config).await?),
        clients.sqs.clone(),
        required_env("SEND_QUEUE_URL")?,
        notify,
        pacer,
    );
    let dispatcher = &dispatcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        dispatcher
            .handle_batch(event.payload)
            .await
            .map_err(|e| -> Error { Box::new(e) })
    }))
    .await
}
